//! Fuzz target `signature_verify`: the body, and what it asserts, is `gatehouse::fuzzing::signature_verify`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatehouse::fuzzing::signature_verify(data));
