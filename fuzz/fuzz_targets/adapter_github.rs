//! Fuzz target `adapter_github`: the body, and what it asserts, is `gatehouse::fuzzing::adapter_github`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatehouse::fuzzing::adapter_github(data));
