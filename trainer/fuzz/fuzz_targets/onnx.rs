//! The ONNX reader on arbitrary bytes. The body is in `trainer/fuzz-case`, shared with the
//! stable test `tests/import_fuzz_corpus.rs`, which replays `corpus/onnx/` and bounds the
//! memory each input takes by its size.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| trainer_fuzz_case::fuzz_onnx(data));
