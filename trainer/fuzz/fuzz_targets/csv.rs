//! The CSV reader on arbitrary bytes (the first byte picks the options). The body is
//! in `trainer/fuzz-case`, shared with the stable test `tests/reader_corpus.rs`, which replays `corpus/csv/`.
#![no_main]


libfuzzer_sys::fuzz_target!(|data: &[u8]| trainer_fuzz_case::fuzz_csv(data));
