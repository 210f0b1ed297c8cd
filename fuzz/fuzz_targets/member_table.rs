#![no_main]
//! Fuzz target `member_table`: see `elv::fuzzing` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| elv::fuzzing::run("member_table", data));
