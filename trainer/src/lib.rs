//! tinymlp's trainer: the Keras MNIST MLP, trained in Rust, quantized to int8 and exported
//! as tinymlp blobs.
#![deny(missing_docs)]

pub mod backend;
pub mod data;
mod error;
pub mod evaluate;
pub mod export;
pub mod fetch;
pub mod model;
pub mod optimizer;
pub mod params;
pub mod pipeline;
pub mod plot;
pub mod quantize;
pub mod report;
pub mod rng;
pub mod show;

pub use backend::{Backend, Device};
pub use data::{Dataset, Mnist};
pub use error::{Error, Result};
pub use model::{Dense, EpochRecord, FitOptions, History, Loss, Metric, Model, Sequential};
pub use optimizer::Optimizer;
pub use params::{DenseParams, Parameters};
