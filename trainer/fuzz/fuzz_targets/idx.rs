//! The IDX readers on arbitrary bytes: a sample file and a label file, raw or gzip (the
//! first byte picks, the next two split the files). The body is in `trainer/fuzz-case`,
//! shared with the stable tests `tests/reader_corpus.rs`, which replays `corpus/idx/`, and
//! `tests/idx_fuzz_corpus.rs`, which bounds the memory each input takes by its size.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| trainer_fuzz_case::fuzz_idx(data));
