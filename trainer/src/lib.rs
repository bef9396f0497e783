//! tinymlp's trainer: the Keras MNIST MLP, trained in Rust, quantized to int8 and exported
//! as tinymlp blobs.
//!
//! The Keras tutorial (load MNIST, build, compile, fit, evaluate), here with the export
//! the microcontroller needs:
//!
//! ```no_run
//! use trainer::{data, Dense, FitOptions, Loss, Metric, Optimizer, Sequential};
//!
//! let (train, test) = data::mnist("data/mnist")?; // downloaded there if missing
//! let mut model = Sequential::new(28 * 28)
//!     .add(Dense::relu(512))
//!     .add(Dense::softmax(10))
//!     .compile(Optimizer::default(), Loss::CategoricalCrossentropy, &[Metric::Accuracy])?;
//! model.fit(&train, &FitOptions { epochs: 5, batch_size: 128, ..Default::default() })?;
//! let result = model.evaluate(&test)?;
//! println!("test accuracy: {:.4}", result.accuracy);
//! model.export_int8("out/mnist-int8.tmlp", &train)?;
//! # Ok::<(), trainer::Error>(())
//! ```
//!
//! The `trainer` binary is a thin layer over this API that also writes the f32 blob,
//! sample digits, a JSON report, the history as CSV and plots (see [`pipeline`]).
//! Training runs on a [`Backend`]: the CPU ([`backend::cpu`]) or, with the default `cuda`
//! feature and a GPU present, CUDA.
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
