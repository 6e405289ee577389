//! Fuzz target `adapter_slack`: the body, and what it asserts, is `gatehouse::fuzzing::adapter_slack`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatehouse::fuzzing::adapter_slack(data));
