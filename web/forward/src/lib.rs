//! The forward passes of the tinymlp wasm module, in a crate of their own.
//!
//! [`Model::predict`] is generic over the scratch buffer, so its body (the forward pass and
//! the int8 kernels it inlines) is compiled in the crate that names the scratch type, at that
//! crate's optimization level. Naming it here, in a crate that the web workspace builds at
//! `opt-level = 3`, gets the kernels vectorized (wasm SIMD), while the module's glue and the
//! runtime's loader build for size. The functions are not generic, so nothing of them is
//! compiled again in the module's crate.
#![no_std]
#![deny(missing_docs)]

#[cfg(feature = "f32")]
use tinymlp::F32Scratch;
use tinymlp::{Int8Scratch, Model, Prediction, Result, MAX_WIDTH};

/// The widest layer, largest input and most classes a model may declare.
pub const MAX: usize = MAX_WIDTH as usize;

/// Scratch for any valid int8 model.
pub type Int8 = Int8Scratch<MAX, MAX>;

/// Scratch for any valid f32 model.
#[cfg(feature = "f32")]
pub type F32 = F32Scratch<MAX, MAX>;

/// [`Model::predict`] with an int8 scratch buffer.
#[inline(never)]
pub fn predict_int8<'s>(
    model: &Model<'_>,
    pixels: &[u8],
    scratch: &'s mut Int8,
) -> Result<Prediction<'s>> {
    model.predict(pixels, scratch)
}

/// [`Model::predict`] with an f32 scratch buffer.
#[cfg(feature = "f32")]
#[inline(never)]
pub fn predict_f32<'s>(
    model: &Model<'_>,
    pixels: &[u8],
    scratch: &'s mut F32,
) -> Result<Prediction<'s>> {
    model.predict(pixels, scratch)
}

/// [`Model::predict_features`] with an int8 scratch buffer.
#[inline(never)]
pub fn predict_features_int8<'s>(
    model: &Model<'_>,
    features: &[f32],
    scratch: &'s mut Int8,
) -> Result<Prediction<'s>> {
    model.predict_features(features, scratch)
}

/// [`Model::predict_features`] with an f32 scratch buffer.
#[cfg(feature = "f32")]
#[inline(never)]
pub fn predict_features_f32<'s>(
    model: &Model<'_>,
    features: &[f32],
    scratch: &'s mut F32,
) -> Result<Prediction<'s>> {
    model.predict_features(features, scratch)
}
