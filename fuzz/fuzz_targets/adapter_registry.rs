//! Fuzz target `adapter_registry`: the body, and what it asserts, is `gatehouse::fuzzing::adapter_registry`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatehouse::fuzzing::adapter_registry(data));
