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

/// The int8 blob's file name for MNIST (a named model's is `NAME-int8.tmlp`).
pub const INT8_BLOB: &str = "mnist-int8.tmlp";
/// The f32 blob's file name for MNIST (a named model's is `NAME-f32.tmlp`).
pub const F32_BLOB: &str = "mnist-f32.tmlp";
/// The sample digits' file name (image data only).
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
    /// The first test images as the firmware and the web page embed them (image data only).
    pub sample_records: Option<Vec<u8>>,
    /// The history the report was made from.
    pub history: History,
}

impl Outputs {
    /// Writes blobs, sample digits, report, history and plots into a staged set (which
    /// the caller then commits, or drops to leave the previous set in place).
    pub fn write(&self, set: &Staged<'_>) -> Result<()> {
        set.write(&self.report.int8_blob.file, &self.int8_blob)?;
        set.write(&self.report.f32_blob.file, &self.f32_blob)?;
        if let Some(records) = &self.sample_records {
            set.write(SAMPLE_DIGITS, records)?;
        }
        let json = serde_json::to_vec_pretty(&self.report)
            .map_err(|e| crate::Error::Report(e.to_string()))?;
        set.write(REPORT, &json)?;
        set.write(HISTORY, history_csv(&self.history).as_bytes())?;
        super::plot::history_plots(&self.history, set.path())?;
        super::plot::confusion_plot(&self.report.confusion_matrix, set.path())
    }
}

/// Evaluates the trained `model`, exports it (named `name`, as its blob files are; MNIST's
/// are unnamed) with calibration on `train`, and scores both blobs on `test` through the
/// tinymlp runtime; nothing is written yet ([`Outputs::write`]). `data_sha256` names the
/// data files read, for the report.
pub fn finish(
    model: &mut Model,
    (train, test): (&Arc<Dataset>, &Arc<Dataset>),
    history: &History,
    hyperparameters: Hyperparameters,
    (name, data_sha256): (Option<&str>, Vec<(String, String)>),
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
            ..Calibration::default()
        },
        name: name.map(str::to_owned),
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

    let (int8_file, f32_file) = match name {
        Some(name) => (format!("{name}-int8.tmlp"), format!("{name}-f32.tmlp")),
        None => (INT8_BLOB.to_owned(), F32_BLOB.to_owned()),
    };
    let classes = model.sizes().last().copied().unwrap_or(0);
    let matrix = confusion_matrix(&test.labels, &evaluation.predictions, classes);
    let report = Report {
        sizes: model.sizes().to_vec(),
        name: name.map(str::to_owned),
        class_names: train.class_names.clone(),
        hyperparameters,
        device: model.device_note().to_string(),
        data_sha256,
        history: history.epochs.clone(),
        test: TestFigures {
            loss: evaluation.loss,
            accuracy: evaluation.accuracy,
        },
        f32_blob: BlobFigures {
            file: f32_file,
            bytes: f32_blob.len(),
            score: f32_score,
            sample_digest: f32_digest,
        },
        int8_blob: BlobFigures {
            file: int8_file,
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
