//! Fuzz target `signature_roundtrip`: the body, and what it asserts, is `gatehouse::fuzzing::signature_roundtrip`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatehouse::fuzzing::signature_roundtrip(data));
