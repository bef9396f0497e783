//! `from_bytes` + `predict` with both scratch kinds on arbitrary bytes. The body
//! (`tinymlp-fuzz-case`) is shared with the stable test `tests/fuzz_corpus.rs`, which replays
//! `corpus/loader/`.
#![no_main]

use tinymlp_fuzz_case::fuzz_one;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_one(data));
