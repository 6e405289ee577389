//! Fuzz target `adapter_acme_crm`: the body, and what it asserts, is `gatehouse::fuzzing::adapter_acme_crm`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatehouse::fuzzing::adapter_acme_crm(data));
