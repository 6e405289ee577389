//! Fuzz target `retry_after`: the body, and what it asserts, is `gatehouse::fuzzing::retry_after`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatehouse::fuzzing::retry_after(data));
