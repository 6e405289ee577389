//! Fuzz target `prefer`: the body, and what it asserts, is `gatehouse::fuzzing::prefer`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatehouse::fuzzing::prefer(data));
