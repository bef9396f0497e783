//! `from_bytes` + `predict` with both scratch kinds on arbitrary bytes. The body is shared
//! with the stable test `tests/fuzz_corpus.rs`, which replays `corpus/loader/`.
#![no_main]

include!("../../tests/common/fuzz.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_one(data));
