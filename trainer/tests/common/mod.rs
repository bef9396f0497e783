//! Shared helpers for the trainer's tests: synthetic datasets and IDX fixtures.
#![allow(dead_code)]

pub mod numpy;

use std::path::{Path, PathBuf};

use trainer::data::{idx, Dataset, Inputs};
use trainer::rng::Rng;
use trainer::{Dense, FitOptions, Loss, Metric, Model, Optimizer, Parameters, Sequential};

/// A model of `inputs` inputs and `layers` on the CPU, compiled with RMSprop (Keras's
/// defaults) and categorical cross-entropy.
pub fn compile_cpu(inputs: usize, layers: &[Dense], seed: u64) -> Model {
    layers
        .iter()
        .fold(Sequential::new(inputs), |model, &layer| model.add(layer))
        .seed(seed)
        .device(trainer::Device::Cpu)
        .compile(
            Optimizer::default(),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap()
}

/// `fit` options without progress output.
pub fn quiet_fit(epochs: usize, batch_size: usize) -> FitOptions {
    FitOptions {
        epochs,
        batch_size,
        verbose: false,
        ..FitOptions::default()
    }
}

/// Asserts every weight and bias of `got` is within `tolerance` of `want`'s.
pub fn assert_parameters_close(got: &Parameters, want: &Parameters, tolerance: f32, what: &str) {
    for (got, want) in got.layers.iter().zip(&want.layers) {
        let all = got
            .weights
            .iter()
            .chain(&got.bias)
            .zip(want.weights.iter().chain(&want.bias));
        for (g, w) in all {
            assert!((g - w).abs() < tolerance, "{what}: got {g}, want {w}");
        }
    }
}

/// `count` 8x8 images in `classes` classes: class `k` lights a 2x2 patch at a
/// class-specific place, over sparse noise (many exact zeros, as in MNIST).
pub fn synthetic(count: usize, classes: usize, seed: u64) -> Dataset {
    let (rows, cols) = (8, 8);
    let mut rng = Rng::new(seed);
    let mut images = Vec::with_capacity(count * rows * cols);
    let mut labels = Vec::with_capacity(count);
    for _ in 0..count {
        let label = rng.below(classes);
        let mut image = vec![0u8; rows * cols];
        for p in image.iter_mut() {
            if rng.next_f32() < 0.15 {
                *p = (rng.next_f32() * 120.0) as u8;
            }
        }
        let (r, c) = (2 * (label / 4), 2 * (label % 4));
        for (dr, dc) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            image[(r + dr) * cols + c + dc] = 200 + (rng.next_f32() * 55.0) as u8;
        }
        images.extend_from_slice(&image);
        labels.push(label as u8);
    }
    Dataset::new(images, labels, (rows, cols), classes).unwrap()
}

/// A fresh empty folder under the target directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An IDX file of element type `kind` and `shape` holding `data` (big-endian elements).
pub fn idx_file(kind: u8, shape: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, kind, shape.len() as u8];
    for d in shape {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// Writes `train` and `test` as the four MNIST-named IDX files into `dir`.
pub fn write_idx(dir: &Path, train: &Dataset, test: &Dataset) {
    for (prefix, set) in [("train", train), ("t10k", test)] {
        std::fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte")),
            match &set.inputs {
                Inputs::Pixels { images, rows, cols } => idx::encode_images(*rows, *cols, images),
                Inputs::Features { .. } => panic!("IDX fixtures hold images"),
            },
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{prefix}-labels-idx1-ubyte")),
            idx::encode_labels(&set.labels),
        )
        .unwrap();
    }
}

/// The values a model reads for sample `index` of `data` (pixels as `p / 255`, features
/// standardized on `data`).
pub fn scaled(data: &Dataset, index: usize) -> Vec<f32> {
    trainer::data::InputTransform::adapt(data)
        .unwrap()
        .sample(data, index)
}
