//! The safetensors reader on arbitrary bytes (the first byte picks the output flag). The
//! body is in `trainer/fuzz-case`, shared with the stable test `tests/import_fuzz_corpus.rs`,
//! which replays `corpus/safetensors/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| trainer_fuzz_case::fuzz_safetensors(data));
