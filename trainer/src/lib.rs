//! tinymlp's trainer: small dense classifiers (the Keras MNIST MLP by default) trained in
//! Rust, quantized to int8 and exported as tinymlp blobs.
//!
//! The Keras tutorial (load MNIST, build, compile, fit, evaluate), here with the export
//! the microcontroller needs:
//!
//! ```no_run
//! use trainer::{data, Dense, ExportOptions, FitOptions, Loss, Metric, Optimizer, Sequential};
//!
//! let (train, test) = data::mnist("data/mnist")?; // downloaded there if missing
//! let mut model = Sequential::new(train.width())
//!     .add(Dense::relu(512))
//!     .add(Dense::softmax(train.classes))
//!     .compile(Optimizer::default(), Loss::CategoricalCrossentropy, &[Metric::Accuracy])?;
//! model.fit(&train, &FitOptions { epochs: 5, batch_size: 128, ..Default::default() })?;
//! let result = model.evaluate(&test)?;
//! println!("test accuracy: {:.4}", result.accuracy);
//! let blobs = model.export(&train, &ExportOptions::default())?;
//! trainer::files::write_atomic("out/mnist-int8.tmlp".as_ref(), &blobs.int8)?;
//! # Ok::<(), trainer::Error>(())
//! ```
//!
//! Any small classifier trains the same way from a CSV file (or NumPy arrays, or IDX
//! files): features are the numeric columns, the label a named column whose strings become
//! classes in sorted order; the model standardizes the features with the training set's
//! mean and deviation, and that transform travels in its blobs:
//!
//! ```no_run
//! use std::sync::Arc;
//! use trainer::data::{train_test, Source, TestData};
//! use trainer::{Dense, ExportOptions, FitOptions, Loss, Metric, Optimizer, Sequential};
//!
//! let source = Source::new("data/iris.csv".as_ref(), None, Some("species"))?;
//! let (train, test) = train_test(&source, &TestData::Split(0.2))?;
//! let (train, test) = (Arc::new(train), Arc::new(test));
//! let mut model = Sequential::new(train.width())
//!     .add(Dense::relu(32))
//!     .add(Dense::softmax(train.classes))
//!     .compile(Optimizer::default(), Loss::CategoricalCrossentropy, &[Metric::Accuracy])?;
//! model.fit(&train, &FitOptions { epochs: 50, batch_size: 16, ..Default::default() })?;
//! println!("test accuracy: {:.4}", model.evaluate(&test)?.accuracy);
//! let options = ExportOptions { name: Some(source.model_name()), ..Default::default() };
//! let blobs = model.export(&train, &options)?; // class names included
//! # Ok::<(), trainer::Error>(())
//! ```
//!
//! The crate is laid out by stage, in the order a run goes through them:
//!
//! | stage | module | what it holds |
//! |---|---|---|
//! | data | [`data`] | datasets (pixels or features), the CSV, NumPy and IDX readers, MNIST (fetched and verified), the input transform |
//! | network | [`network`] | parameters, optimizers, the host reference forward and backward pass |
//! | backend | [`backend`] | the device seam; [`backend::cpu`] and (feature `cuda`) CUDA |
//! | training | [`training`] | the Keras-like `Sequential`, `fit`, history, checks of every input |
//! | export | [`export`] | int8 quantization, blob encoding, scoring blobs through the runtime |
//! | report | [`report`] | `report.json`, CSV, plots, `show`, the command line's run after `fit` |
//!
//! The `trainer` binary (`main.rs`) is a thin layer over this API: it parses options, then
//! calls `Sequential::compile`, `Model::fit` and [`report::run::finish`] (which calls
//! [`Model::export`]).
#![deny(missing_docs)]

pub mod backend;
pub mod data;
mod error;
pub mod export;
pub mod files;
pub mod import;
pub mod network;
pub mod report;
pub mod rng;
pub mod training;

pub use backend::{Backend, Device};
pub use data::{Dataset, Mnist};
pub use error::{Error, Result};
pub use export::{Blobs, ExportOptions};
pub use network::{DenseParams, Optimizer, Parameters};
pub use training::{Dense, EpochRecord, FitOptions, History, Loss, Metric, Model, Sequential};
