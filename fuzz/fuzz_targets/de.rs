#![no_main]
//! Fuzz target `de`: see `elv::fuzzing` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| elv::fuzzing::run("de", data));
