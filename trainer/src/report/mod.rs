//! The report stage: what a run measured (`report.json`, the history as CSV, plots) and
//! the command line's steps after training (`run`); `show` draws a sample in the terminal.

use serde::Serialize;

use crate::export::BlobScore;
use crate::training::{EpochRecord, History};

pub mod plot;
pub mod run;
pub mod show;

/// Everything a run measured, written as `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Layer sizes, `[inputs, hidden..., classes]`.
    pub sizes: Vec<usize>,
    /// The model's name (its training file's stem), `None` for MNIST.
    pub name: Option<String>,
    /// The classes' names (string labels, sorted), empty when the data has none.
    pub class_names: Vec<String>,
    /// Hyperparameters.
    pub hyperparameters: Hyperparameters,
    /// The device that trained, as the backend names it, and how it was chosen.
    pub device: String,
    /// SHA-256 of each data file.
    pub data_sha256: Vec<(String, String)>,
    /// Per-epoch history.
    pub history: Vec<EpochRecord>,
    /// Test figures of the trained float model.
    pub test: TestFigures,
    /// The f32 blob scored through the tinymlp runtime.
    pub f32_blob: BlobFigures,
    /// The int8 blob scored through the tinymlp runtime.
    pub int8_blob: BlobFigures,
    /// Per-class accuracy of the float model on the test set.
    pub per_class_accuracy: Vec<f64>,
    /// Confusion matrix of the float model: `[true label][predicted class]` counts.
    pub confusion_matrix: Vec<Vec<u32>>,
    /// Seconds per phase.
    pub timings: Timings,
}

/// Hyperparameters of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Hyperparameters {
    /// Epochs run.
    pub epochs: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Optimizer and its parameters.
    pub optimizer: crate::network::Optimizer,
    /// Validation split.
    pub validation_split: f32,
    /// Seed.
    pub seed: u64,
    /// Calibration images and percentile.
    pub calibration_samples: usize,
    /// Percentile of the post-ReLU values used as the activation range.
    pub calibration_percentile: f64,
}

/// Test loss and accuracy.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TestFigures {
    /// Mean categorical cross-entropy.
    pub loss: f32,
    /// Accuracy.
    pub accuracy: f32,
}

/// A blob's figures.
#[derive(Debug, Clone, Serialize)]
pub struct BlobFigures {
    /// File name.
    pub file: String,
    /// Size in bytes.
    pub bytes: usize,
    /// Score on the test set through the runtime.
    pub score: BlobScore,
    /// Output digest over the first 1000 test digits (the sample file).
    pub sample_digest: u32,
}

/// Wall-clock seconds per phase.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timings {
    /// Reading and checking the data.
    pub load_data: f64,
    /// The whole `fit` (all epochs).
    pub fit: f64,
    /// Test evaluation of the float model.
    pub evaluate: f64,
    /// Calibration, quantization and encoding.
    pub quantize: f64,
    /// Scoring both blobs through the runtime.
    pub score_blobs: f64,
}

/// Confusion matrix `[label][prediction]`.
pub fn confusion_matrix(labels: &[u8], predictions: &[u8], classes: usize) -> Vec<Vec<u32>> {
    let mut matrix = vec![vec![0u32; classes]; classes];
    for (&l, &p) in labels.iter().zip(predictions) {
        if let Some(cell) = matrix
            .get_mut(usize::from(l))
            .and_then(|row| row.get_mut(usize::from(p)))
        {
            *cell += 1;
        }
    }
    matrix
}

/// Per-class accuracy from a confusion matrix.
pub fn per_class_accuracy(matrix: &[Vec<u32>]) -> Vec<f64> {
    matrix
        .iter()
        .enumerate()
        .map(|(k, row)| {
            let total: u32 = row.iter().sum();
            if total == 0 {
                0.0
            } else {
                f64::from(row[k]) / f64::from(total)
            }
        })
        .collect()
}

/// The history as CSV: `epoch,loss,accuracy,val_loss,val_accuracy,seconds`.
pub fn history_csv(history: &History) -> String {
    let mut out = String::from("epoch,loss,accuracy,val_loss,val_accuracy,seconds\n");
    let opt = |v: Option<f32>| v.map(|v| v.to_string()).unwrap_or_default();
    for e in &history.epochs {
        out.push_str(&format!(
            "{},{},{},{},{},{:.4}\n",
            e.epoch,
            e.loss,
            e.accuracy,
            opt(e.val_loss),
            opt(e.val_accuracy),
            e.seconds
        ));
    }
    out
}
