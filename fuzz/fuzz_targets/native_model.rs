#![no_main]
//! stylespace::fuzzing::native_model under libFuzzer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stylespace::fuzzing::native_model(data));
