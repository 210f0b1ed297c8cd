#![no_main]
//! Fuzz target `ans`: see `elv::fuzzing` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| elv::fuzzing::run("ans", data));
