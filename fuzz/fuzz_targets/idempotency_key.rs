//! Fuzz target `idempotency_key`: the body, and what it asserts, is `gatehouse::fuzzing::idempotency_key`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatehouse::fuzzing::idempotency_key(data));
