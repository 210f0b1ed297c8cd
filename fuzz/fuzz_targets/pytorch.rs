#![no_main]
//! Fuzz target `pytorch`: see `elv::fuzzing` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| elv::fuzzing::run("pytorch", data));
