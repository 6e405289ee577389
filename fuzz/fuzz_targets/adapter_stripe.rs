//! Fuzz target `adapter_stripe`: the body, and what it asserts, is `gatehouse::fuzzing::adapter_stripe`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatehouse::fuzzing::adapter_stripe(data));
