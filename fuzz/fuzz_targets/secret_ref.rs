//! Fuzz target `secret_ref`: the body, and what it asserts, is `gatehouse::fuzzing::secret_ref`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gatehouse::fuzzing::secret_ref(data));
