//! The CSV reader on arbitrary bytes (the first byte picks the options). The body is
//! shared with the stable test `tests/readers.rs`, which replays `corpus/csv/`.
#![no_main]

include!("readers.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_csv(data));
