#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| maillage_fuzz::replay(data));
