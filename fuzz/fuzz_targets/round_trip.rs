#![no_main]
//! Fuzz target `round_trip`: see `elv::fuzzing` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| elv::fuzzing::run("round_trip", data));
