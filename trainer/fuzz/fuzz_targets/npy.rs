//! The NumPy readers (`.npz` archives and `.npy` pairs) on arbitrary bytes (the first byte
//! picks which). The body is in `trainer/fuzz-case`, shared with the stable test `tests/reader_corpus.rs`, which replays
//! `corpus/npy/`.
#![no_main]


libfuzzer_sys::fuzz_target!(|data: &[u8]| trainer_fuzz_case::fuzz_npy(data));
