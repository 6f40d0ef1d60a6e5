#![no_main]
//! stylespace::fuzzing::image under libFuzzer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stylespace::fuzzing::image(data));
