#![no_main]
//! Fuzz target `delta`: see `elv::fuzzing` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| elv::fuzzing::run("delta", data));
