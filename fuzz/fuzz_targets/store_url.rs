//! Fuzz target `store_url`: the body, and what it asserts, is `gatehouse::fuzzing::store_url`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatehouse::fuzzing::store_url(data));
