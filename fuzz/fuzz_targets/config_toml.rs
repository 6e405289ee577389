//! Fuzz target `config_toml`: the body, and what it asserts, is `gatehouse::fuzzing::config_toml`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatehouse::fuzzing::config_toml(data));
