#![no_main]
//! Fuzz target `ans_simd`: see `elv::fuzzing` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| elv::fuzzing::run("ans_simd", data));
