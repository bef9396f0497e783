//! tinymlp: run small multilayer perceptrons anywhere, from a microcontroller's flash to a
//! web page, with no allocator and no panics.
//!
//! A model is a blob (see `FORMAT.md`) written by the tinymlp trainer or any program that
//! follows the format. [`Model::from_bytes`] validates it once, borrowing every weight (and
//! name) from the blob; [`Model::predict`] then classifies raw `u8` pixels in a caller-owned
//! scratch buffer whose size is fixed at compile time; [`Model::predict_batch`] classifies
//! many inputs in one call (bit for bit the same), faster on a host with an
//! [`Int8BatchScratch`]. A model of raw sensor values ([`Input::Features`]) carries its
//! standardization: [`Model::predict_features`] takes the values as they come, and
//! [`Model::class_name`] names the answer.
//!
//! ```
//! use tinymlp::{Activation, DenseLayer, F32Params, Header, Input, InputSpec, Model, ModelDef, Params};
//! use tinymlp::F32Scratch;
//!
//! // A 2-pixel, 2-class model, written here so the example stands alone; a real program
//! // uses `include_bytes!("mnist-int8.tmlp")` or a blob in flash instead.
//! let weights: Vec<u8> = [1.0f32, -1.0, -1.0, 1.0].iter().flat_map(|w| w.to_le_bytes()).collect();
//! let bias = [0u8; 8];
//! let layer = DenseLayer {
//!     inputs: 2,
//!     outputs: 2,
//!     activation: Activation::Softmax,
//!     params: Params::F32(F32Params { weights: &weights, bias: &bias }),
//! };
//! let def = ModelDef {
//!     header: Header::CURRENT,
//!     input: Input::Pixels(InputSpec { width: 2, height: 1, channels: 1, scale: 1.0 / 255.0, zero_point: 0 }),
//!     classes: 2,
//!     name: None,
//!     class_names: &["dark", "bright"],
//!     layers: &[layer],
//! };
//! let mut buf = [0u8; 128];
//! let blob = def.encode_to_slice(&mut buf)?;
//!
//! let model = Model::from_bytes(blob)?;
//! let mut scratch = F32Scratch::<0, 2>::new();
//! let prediction = model.predict(&[10, 200], &mut scratch)?;
//! assert_eq!(prediction.class, 1);
//! assert_eq!(model.class_name(prediction.class), Some("bright"));
//! assert!(prediction.probability > 0.6);
//! # Ok::<(), tinymlp::Error>(())
//! ```
//!
//! # Features
//! - `std`: implements conveniences that need std (implies `alloc`).
//! - `alloc`: `ModelDef::encode_to_vec` (the trainer's writer).
//! - `defmt`: `defmt::Format` for [`Error`] and the public enums.
//! - `fast-math`: the softmax uses micromath's `exp` (relative error below
//!   [`softmax::FAST_EXP_MAX_ERROR`]) instead of libm's; probabilities then differ slightly
//!   between builds, the predicted class and raw outputs do not.
//!
//! # Guarantees
//! No allocation, no panics: clippy denies `unwrap`, `expect`, `panic` and slice indexing in
//! this crate, the loader is fuzzed, and every kind of malformed blob has a test and its own
//! [`Error`]. No `unsafe` outside the target-specific kernels: the Cortex-M DSP kernel's
//! inline assembly and the x86-64 SSE2, AVX2 and AVX-512 VNNI kernels' SIMD intrinsics and
//! calls into their `#[target_feature]` functions (each block with a SAFETY line, run under
//! Miri in CI where Miri implements the instructions).
//!
//! The minimum supported Rust version is 1.89 (AVX-512 intrinsics).
#![cfg_attr(not(any(test, feature = "std")), no_std)]
// Unsafe only in `kernels::cortex_m` (inline assembly) and `kernels::x86` (intrinsics and calls
// into `#[target_feature]` functions), each block with a SAFETY line; see the crate docs.
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

#[cfg(feature = "alloc")]
extern crate alloc;

mod batch;
mod decode;
mod error;
pub mod fixed_point;
mod format;
mod forward;
pub mod kernels;
mod model;
mod prediction;
mod scratch;
pub mod softmax;

pub use batch::{BatchScratch, Int8BatchScratch};
pub use error::{Error, Result};
pub use format::{
    fold_input_zero_point, Activation, DenseLayer, F32Params, FeatureSpec, Header, Input,
    InputKind, InputSpec, Int8Params, ModelDef, ParamKind, Params, Quantization, Requantization,
    CHECKSUM_LEN, CRC, FORMAT_VERSION, MAGIC, MAX_LAYERS, MAX_NAME_LEN, MAX_WIDTH,
    OLDEST_FORMAT_VERSION,
};
pub use model::Model;
pub use prediction::{OutputDigest, Prediction, RawOutputs};
pub use scratch::{F32Scratch, Int8Scratch, Scratch};

/// The README's examples, compiled and run as doctests so they cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
