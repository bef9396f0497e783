//! The NumPy readers (`.npz` archives and `.npy` pairs) on arbitrary bytes (the first byte
//! picks which). The body is shared with the stable test `tests/readers.rs`, which replays
//! `corpus/npy/`.
#![no_main]

include!("readers.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_npy(data));
