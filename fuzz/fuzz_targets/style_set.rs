#![no_main]
//! stylespace::fuzzing::style_set under libFuzzer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stylespace::fuzzing::style_set(data));
