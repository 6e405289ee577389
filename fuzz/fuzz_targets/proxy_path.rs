//! Fuzz target `proxy_path`: the body, and what it asserts, is `gatehouse::fuzzing::proxy_path`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatehouse::fuzzing::proxy_path(data));
