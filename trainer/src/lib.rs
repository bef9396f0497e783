//! tinymlp's trainer: the Keras MNIST MLP, trained in Rust, quantized to int8 and exported
//! as tinymlp blobs.
#![deny(missing_docs)]

pub mod backend;
pub mod data;
mod error;
pub mod optimizer;
pub mod params;
pub mod rng;

pub use backend::{Backend, Device};
pub use data::{Dataset, Mnist};
pub use error::{Error, Result};
pub use optimizer::Optimizer;
pub use params::{DenseParams, Parameters};
