//! The command line's run after `fit`: evaluate, export (the library's
//! [`Model::export`]), score the blobs through the runtime, write every output.

use std::sync::Arc;
use std::time::Instant;

use crate::data::Dataset;
use crate::error::Result;
use crate::export::{digest_of, score_blob, Calibration, ExportOptions};
use crate::files::Staged;
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
/// The report's file name.
pub const REPORT: &str = "report.json";
/// The history's file name.
pub const HISTORY: &str = "history.csv";
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
    /// The first test samples as the firmware and the web page embed them.
    pub sample_records: Vec<u8>,
    /// The history the report was made from.
    pub history: History,
}

impl Outputs {
    /// Writes blobs, sample digits, report, history and plots into a staged set (which
    /// the caller then commits, or drops to leave the previous set in place).
    pub fn write(&self, set: &Staged<'_>) -> Result<()> {
        set.write(INT8_BLOB, &self.int8_blob)?;
        set.write(F32_BLOB, &self.f32_blob)?;
        set.write(SAMPLE_DIGITS, &self.sample_records)?;
        let json = serde_json::to_vec_pretty(&self.report)
            .map_err(|e| crate::Error::Report(e.to_string()))?;
        set.write(REPORT, &json)?;
        set.write(HISTORY, history_csv(&self.history).as_bytes())?;
        super::plot::history_plots(&self.history, set.path())?;
        super::plot::confusion_plot(&self.report.confusion_matrix, set.path())
    }
}

/// Evaluates the trained `model`, exports it with calibration on `train`, and scores both
/// blobs on `test` through the tinymlp runtime; nothing is written yet
/// ([`Outputs::write`]).
#[allow(clippy::too_many_arguments)]
pub fn finish(
    model: &mut Model,
    train: &Arc<Dataset>,
    test: &Arc<Dataset>,
    history: &History,
    hyperparameters: Hyperparameters,
    data_sha256: Vec<(String, String)>,
    mut timings: Timings,
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

    Ok(Outputs {
        report,
        int8_blob,
        f32_blob,
        sample_records: test.sample_records(SAMPLE_COUNT),
        history: history.clone(),
    })
}
