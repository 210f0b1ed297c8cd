#![no_main]
//! Fuzz target `base_table`: see `elv::fuzzing` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| elv::fuzzing::run("base_table", data));
