//! The command line's run after `fit`: evaluate, export (the library's
//! [`Model::export`]), score the blobs through the runtime, write every output.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::data::Dataset;
use crate::error::Result;
use crate::export::{digest_of, score_blob, Calibration, ExportOptions};
use crate::files::write_atomic;
use crate::report::{
    confusion_matrix, history_csv, per_class_accuracy, BlobFigures, Hyperparameters, Report,
    TestFigures, Timings,
};
use crate::training::{History, Model};

/// File names written into the output folder.
pub const INT8_BLOB: &str = "mnist-int8.tmlp";
/// The f32 blob's file name.
pub const F32_BLOB: &str = "mnist-f32.tmlp";
/// The sample digits' file name.
pub const SAMPLE_DIGITS: &str = "mnist-test-digits.bin";
/// How many test digits the sample file holds.
pub const SAMPLE_COUNT: usize = 1000;

/// What a finished run produced, in memory.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// The report (also written as `report.json`).
    pub report: Report,
    /// The int8 blob.
    pub int8_blob: Vec<u8>,
    /// The f32 blob.
    pub f32_blob: Vec<u8>,
}

/// Evaluates the trained `model`, quantizes it with calibration on `train`, scores both
/// blobs on `test` through the tinymlp runtime, and writes blobs, sample digits, report,
/// history and plots into `out_dir` (each file atomically).
#[allow(clippy::too_many_arguments)]
pub fn finish(
    model: &mut Model,
    train: &Arc<Dataset>,
    test: &Arc<Dataset>,
    history: &History,
    hyperparameters: Hyperparameters,
    data_sha256: Vec<(String, String)>,
    mut timings: Timings,
    out_dir: &Path,
) -> Result<Outputs> {
    let started = Instant::now();
    let evaluation = model.evaluate(test)?;
    timings.evaluate = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let options = ExportOptions {
        calibration: Calibration {
            samples: hyperparameters.calibration_samples,
            percentile: hyperparameters.calibration_percentile,
        },
    };
    let blobs = model.export(train, &options)?;
    let (int8_blob, f32_blob) = (blobs.int8, blobs.f32);
    timings.quantize = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let int8_score = score_blob(&int8_blob, test)?;
    let f32_score = score_blob(&f32_blob, test)?;
    timings.score_blobs = started.elapsed().as_secs_f64();
    let sample = test.take(SAMPLE_COUNT);
    let int8_digest = digest_of(&int8_blob, &sample, SAMPLE_COUNT)?;
    let f32_digest = digest_of(&f32_blob, &sample, SAMPLE_COUNT)?;

    let classes = model.sizes().last().copied().unwrap_or(0);
    let matrix = confusion_matrix(&test.labels, &evaluation.predictions, classes);
    let report = Report {
        sizes: model.sizes().to_vec(),
        hyperparameters,
        device: model.device_note().to_string(),
        data_sha256,
        history: history.epochs.clone(),
        test: TestFigures {
            loss: evaluation.loss,
            accuracy: evaluation.accuracy,
        },
        f32_blob: BlobFigures {
            file: F32_BLOB.into(),
            bytes: f32_blob.len(),
            score: f32_score,
            sample_digest: f32_digest,
        },
        int8_blob: BlobFigures {
            file: INT8_BLOB.into(),
            bytes: int8_blob.len(),
            score: int8_score,
            sample_digest: int8_digest,
        },
        per_class_accuracy: per_class_accuracy(&matrix),
        confusion_matrix: matrix,
        timings,
    };

    write_atomic(&out_dir.join(INT8_BLOB), &int8_blob)?;
    write_atomic(&out_dir.join(F32_BLOB), &f32_blob)?;
    write_atomic(
        &out_dir.join(SAMPLE_DIGITS),
        &test.sample_records(SAMPLE_COUNT),
    )?;
    let json =
        serde_json::to_vec_pretty(&report).map_err(|e| crate::Error::Report(e.to_string()))?;
    write_atomic(&out_dir.join("report.json"), &json)?;
    write_atomic(
        &out_dir.join("history.csv"),
        history_csv(history).as_bytes(),
    )?;
    super::plot::history_plots(history, out_dir)?;
    super::plot::confusion_plot(&report.confusion_matrix, out_dir)?;
    Ok(Outputs {
        report,
        int8_blob,
        f32_blob,
    })
}
