#![no_main]
//! stylespace::fuzzing::session under libFuzzer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stylespace::fuzzing::session(data));
