//! Fuzz target `adapter_shopify`: the body, and what it asserts, is `gatehouse::fuzzing::adapter_shopify`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatehouse::fuzzing::adapter_shopify(data));
