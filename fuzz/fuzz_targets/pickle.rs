#![no_main]
//! stylespace::fuzzing::pickle_bytes under libFuzzer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stylespace::fuzzing::pickle_bytes(data));
