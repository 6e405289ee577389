//! Fuzz target `generic_locator`: the body, and what it asserts, is `gatehouse::fuzzing::generic_locator`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatehouse::fuzzing::generic_locator(data));
