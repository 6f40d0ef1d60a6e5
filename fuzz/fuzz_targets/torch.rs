#![no_main]
//! stylespace::fuzzing::torch_bytes under libFuzzer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stylespace::fuzzing::torch_bytes(data));
