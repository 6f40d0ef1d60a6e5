#![no_main]
//! stylespace::fuzzing::config under libFuzzer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stylespace::fuzzing::config(data));
