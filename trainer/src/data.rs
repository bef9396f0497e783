//! MNIST in its original IDX format: reading (raw or gzip), checking, and the dataset type.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Images (`u8`, row-major, one after another) with their labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// `len() * pixels()` bytes.
    pub images: Vec<u8>,
    /// One label per image, each below [`CLASSES`].
    pub labels: Vec<u8>,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
}

/// Number of MNIST classes.
pub const CLASSES: usize = 10;

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels per image.
    pub fn pixels(&self) -> usize {
        self.rows * self.cols
    }

    /// The pixels of image `index`.
    pub fn image(&self, index: usize) -> &[u8] {
        let n = self.pixels();
        &self.images[index * n..(index + 1) * n]
    }

    /// The pixels of image `index` as the model reads them: scaled to `0.0..=1.0` by
    /// [`PIXEL_SCALE`](crate::backend::cpu::PIXEL_SCALE), as Keras's `x / 255`.
    pub fn scaled_image(&self, index: usize) -> Vec<f32> {
        let scale = crate::backend::cpu::PIXEL_SCALE;
        self.image(index)
            .iter()
            .map(|&p| f32::from(p) * scale)
            .collect()
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
        let validation = Dataset {
            images,
            labels,
            rows: self.rows,
            cols: self.cols,
        };
        Ok((self, validation))
    }

    /// The first `count` samples (all of them if there are fewer).
    pub fn take(&self, count: usize) -> Dataset {
        let count = count.min(self.len());
        Dataset {
            images: self.images[..count * self.pixels()].to_vec(),
            labels: self.labels[..count].to_vec(),
            rows: self.rows,
            cols: self.cols,
        }
    }
}

/// The MNIST training and test sets.
#[derive(Debug, Clone)]
pub struct Mnist {
    /// 60,000 training images.
    pub train: Dataset,
    /// 10,000 test images.
    pub test: Dataset,
    /// SHA-256 (hex) of each file read, by file name.
    pub hashes: Vec<(String, String)>,
}

/// The four MNIST files with their well-known sizes and SHA-256 digests.
pub const MNIST_FILES: [MnistFile; 4] = [
    MnistFile {
        name: "train-images-idx3-ubyte",
        size: 47_040_016,
        sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    },
    MnistFile {
        name: "train-labels-idx1-ubyte",
        size: 60_008,
        sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    },
    MnistFile {
        name: "t10k-images-idx3-ubyte",
        size: 7_840_016,
        sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    },
    MnistFile {
        name: "t10k-labels-idx1-ubyte",
        size: 10_008,
        sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
];

/// One of the MNIST files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MnistFile {
    /// File name (uncompressed).
    pub name: &'static str,
    /// Size in bytes, uncompressed.
    pub size: u64,
    /// SHA-256 of the uncompressed bytes, hex.
    pub sha256: &'static str,
}

/// Where a file lies in `dir`: the raw name, else the name with `.gz`.
pub fn locate(dir: &Path, name: &str) -> Option<PathBuf> {
    let raw = dir.join(name);
    if raw.is_file() {
        return Some(raw);
    }
    let gz = dir.join(format!("{name}.gz"));
    gz.is_file().then_some(gz)
}

/// Reads a file, decompressing it if its name ends in `.gz`.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::with_capacity(bytes.len() * 4);
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| Error::BadData {
                path: path.to_path_buf(),
                reason: format!("not a valid gzip file: {e}"),
            })?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Loads MNIST from `dir` (raw or `.gz` files), checking every file's SHA-256 when
/// `verify` is set (the real files), else only its structure (fixtures, other datasets in
/// the same format).
pub fn load_mnist(dir: &Path, verify: bool) -> Result<Mnist> {
    let mut hashes = Vec::new();
    let mut read = |file: &MnistFile| -> Result<(PathBuf, Vec<u8>)> {
        let path = locate(dir, file.name).ok_or_else(|| Error::BadData {
            path: dir.join(file.name),
            reason: "file not found".into(),
        })?;
        let bytes = read_maybe_gz(&path)?;
        let digest = sha256_hex(&bytes);
        if verify && digest != file.sha256 {
            return Err(Error::Checksum {
                path,
                expected: file.sha256.into(),
                found: digest,
            });
        }
        hashes.push((file.name.to_string(), digest));
        Ok((path, bytes))
    };
    let [train_images, train_labels, test_images, test_labels] = &MNIST_FILES;
    let train = parse_pair(read(train_images)?, read(train_labels)?)?;
    let test = parse_pair(read(test_images)?, read(test_labels)?)?;
    Ok(Mnist {
        train,
        test,
        hashes,
    })
}

/// The MNIST training and test sets from `dir`, downloaded there first if missing and
/// verified by SHA-256: the tutorial's `mnist.load_data()`.
pub fn mnist(dir: impl AsRef<Path>) -> Result<(std::sync::Arc<Dataset>, std::sync::Arc<Dataset>)> {
    crate::fetch::ensure_mnist(dir.as_ref(), true)?;
    let mnist = load_mnist(dir.as_ref(), true)?;
    Ok((
        std::sync::Arc::new(mnist.train),
        std::sync::Arc::new(mnist.test),
    ))
}

/// Whether all four files are present in `dir` (raw or gzip).
pub fn mnist_present(dir: &Path) -> bool {
    MNIST_FILES.iter().all(|f| locate(dir, f.name).is_some())
}

fn parse_pair(images: (PathBuf, Vec<u8>), labels: (PathBuf, Vec<u8>)) -> Result<Dataset> {
    let (image_path, image_bytes) = images;
    let (label_path, label_bytes) = labels;
    let (count, rows, cols, pixels) = parse_images(&image_path, image_bytes)?;
    let labels = parse_labels(&label_path, label_bytes)?;
    if labels.len() != count {
        return Err(Error::BadData {
            path: label_path,
            reason: format!(
                "{} labels for {count} images in {}",
                labels.len(),
                image_path.display()
            ),
        });
    }
    Ok(Dataset {
        images: pixels,
        labels,
        rows,
        cols,
    })
}

fn be_u32(bytes: &[u8], at: usize) -> Option<usize> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// Parses an IDX3 `u8` image file: returns `(count, rows, cols, pixels)`.
pub fn parse_images(path: &Path, mut bytes: Vec<u8>) -> Result<(usize, usize, usize, Vec<u8>)> {
    let bad = |reason: String| Error::BadData {
        path: path.to_path_buf(),
        reason,
    };
    let magic = be_u32(&bytes, 0).ok_or_else(|| bad("truncated header".into()))?;
    if magic != 0x0803 {
        return Err(bad(format!(
            "wrong magic number {magic:#010x}: not an IDX image file (expected 0x00000803)"
        )));
    }
    let header = (be_u32(&bytes, 4), be_u32(&bytes, 8), be_u32(&bytes, 12));
    let (Some(count), Some(rows), Some(cols)) = header else {
        return Err(bad("truncated header".into()));
    };
    if rows == 0 || cols == 0 || rows * cols > 4096 {
        return Err(bad(format!("unusable image size {rows}x{cols}")));
    }
    let expected = count
        .checked_mul(rows * cols)
        .and_then(|n| n.checked_add(16))
        .ok_or_else(|| bad(format!("image count {count} too large")))?;
    if bytes.len() != expected {
        return Err(bad(format!(
            "{} bytes, expected {expected} for {count} images of {rows}x{cols} ({})",
            bytes.len(),
            if bytes.len() < expected {
                "truncated"
            } else {
                "trailing bytes"
            }
        )));
    }
    bytes.drain(..16);
    Ok((count, rows, cols, bytes))
}

/// Parses an IDX1 `u8` label file, checking every label is a digit.
pub fn parse_labels(path: &Path, mut bytes: Vec<u8>) -> Result<Vec<u8>> {
    let bad = |reason: String| Error::BadData {
        path: path.to_path_buf(),
        reason,
    };
    let magic = be_u32(&bytes, 0).ok_or_else(|| bad("truncated header".into()))?;
    if magic != 0x0801 {
        return Err(bad(format!(
            "wrong magic number {magic:#010x}: not an IDX label file (expected 0x00000801)"
        )));
    }
    let count = be_u32(&bytes, 4).ok_or_else(|| bad("truncated header".into()))?;
    if bytes.len() != count + 8 {
        return Err(bad(format!(
            "{} bytes, expected {} for {count} labels ({})",
            bytes.len(),
            count + 8,
            if bytes.len() < count + 8 {
                "truncated"
            } else {
                "trailing bytes"
            }
        )));
    }
    bytes.drain(..8);
    if let Some(at) = bytes.iter().position(|&l| l as usize >= CLASSES) {
        return Err(bad(format!(
            "label {} of sample {at} is not a digit 0-9",
            bytes[at]
        )));
    }
    Ok(bytes)
}

/// Encodes images as an IDX3 file (for fixtures and tests).
pub fn encode_idx_images(rows: usize, cols: usize, pixels: &[u8]) -> Vec<u8> {
    let count = pixels.len() / (rows * cols);
    let mut out = Vec::with_capacity(16 + pixels.len());
    for v in [0x0803, count, rows, cols] {
        out.extend_from_slice(&(v as u32).to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

/// Encodes labels as an IDX1 file (for fixtures and tests).
pub fn encode_idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    for v in [0x0801, labels.len()] {
        out.extend_from_slice(&(v as u32).to_be_bytes());
    }
    out.extend_from_slice(labels);
    out
}
