#![no_main]
//! Fuzz target `dedup_table`: see `elv::fuzzing` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| elv::fuzzing::run("dedup_table", data));
