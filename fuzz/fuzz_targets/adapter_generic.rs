//! Fuzz target `adapter_generic`: the body, and what it asserts, is `gatehouse::fuzzing::adapter_generic`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatehouse::fuzzing::adapter_generic(data));
