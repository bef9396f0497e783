//! The trainer's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading data, training, quantizing or exporting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    // The cause is printed here and deliberately not exposed as `source()`: error reports
    // that walk the chain would print it twice.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        cause: std::io::Error,
    },
    /// An IDX file is malformed (wrong magic, truncated, wrong count, bad label).
    #[error("{path}: {reason}")]
    BadData {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file's SHA-256 is not the expected one.
    #[error("{path}: SHA-256 is {found}, expected {expected}")]
    Checksum {
        /// The file.
        path: PathBuf,
        /// The expected digest (hex).
        expected: String,
        /// The digest of the file (hex).
        found: String,
    },
    /// MNIST is missing and could not be downloaded.
    #[error("{0}")]
    Fetch(String),
    /// The requested device cannot be used.
    #[error("device `{device}` is not available: {reason}")]
    DeviceUnavailable {
        /// The device that was asked for.
        device: &'static str,
        /// Why it cannot be used.
        reason: String,
    },
    /// A backend failed while running.
    #[error("backend error: {0}")]
    Backend(String),
    /// The loss became NaN or infinite.
    #[error("loss is {loss} at epoch {epoch}, batch {batch}: training diverged (try a smaller learning rate)")]
    NonFiniteLoss {
        /// The epoch, counting from 1.
        epoch: usize,
        /// The batch within the epoch, counting from 1.
        batch: usize,
        /// The loss value.
        loss: f32,
    },
    /// A model, optimizer or data shape is not usable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Quantization failed (for example a scale the fixed-point format cannot express).
    #[error("quantization failed: {0}")]
    Quantization(String),
    /// The tinymlp runtime rejected a blob (printed once, as for [`Error::Io`]).
    #[error("runtime: {0}")]
    Runtime(tinymlp::Error),
    /// Writing a report failed.
    #[error("report: {0}")]
    Report(String),
    /// The output folder cannot be used (not a folder, in use by another run).
    #[error("output folder: {0}")]
    Output(String),
    /// Training finished but the model is no better than guessing; nothing was exported.
    #[error("{0}")]
    Diverged(String),
}

/// `Result` with the trainer's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause,
        }
    }
}

impl From<tinymlp::Error> for Error {
    fn from(error: tinymlp::Error) -> Self {
        Error::Runtime(error)
    }
}
