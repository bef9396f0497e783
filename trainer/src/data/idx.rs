//! The IDX format (MNIST, Fashion-MNIST, EMNIST and the like): `u8` image files (magic
//! `0x0803`) and label files (`0x0801`), raw or gzip; and, for other data, sample files of
//! any element type and shape ([`parse_samples`]). Readers check every size against the
//! header and never panic on bad bytes.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::data::{Dataset, Inputs, MAX_FEATURES};
use crate::error::{Error, Result};

/// Reads a file, decompressing it if its name ends in `.gz` (see [`decompress_if_gz`]).
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decompress_if_gz(path, bytes)
}

/// The bytes of the IDX file `path`, decompressed if its name ends in `.gz`. A gzip file is
/// inflated no further than one byte past the size its IDX header claims (enough for the
/// parsers to report trailing bytes), so that a small file inflating to gigabytes costs no
/// more memory than the file it claims to be; a header that claims no size (not an IDX
/// header) is inflated no further, for the parsers to refuse.
pub fn decompress_if_gz(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>> {
    let gzipped = path.extension().is_some_and(|e| e == "gz");
    if !gzipped {
        return Ok(bytes);
    }
    let bad = |e: std::io::Error| Error::BadData {
        path: path.to_path_buf(),
        reason: format!("not a valid gzip file: {e}"),
    };
    let mut decoder = flate2::read::GzDecoder::new(bytes.as_slice());
    let mut out = Vec::new();
    // The magic number, whose last byte is the dimension count, then one u32 per dimension.
    let mut inflate = |out: &mut Vec<u8>, limit: u64| {
        (&mut decoder)
            .take(limit)
            .read_to_end(out)
            .map(drop)
            .map_err(bad)
    };
    inflate(&mut out, 4)?;
    let dims = out.get(3).map_or(0, |&dims| u64::from(dims));
    inflate(&mut out, 4 * dims)?;
    let rest = claimed_size(&out).map_or(0, |size| {
        size.saturating_add(1).saturating_sub(out.len() as u64)
    });
    // Compressed IDX data inflates about five times (MNIST's images); reserving that much,
    // never more than the claim, spares most of the reallocations.
    out.reserve(rest.min(bytes.len() as u64 * 8) as usize);
    inflate(&mut out, rest)?;
    Ok(out)
}

/// The bytes of one element of IDX type `kind` (the magic number's third byte).
fn element_size(kind: u8) -> Option<usize> {
    match kind {
        0x08 | 0x09 => Some(1),
        0x0B => Some(2),
        0x0C | 0x0D => Some(4),
        0x0E => Some(8),
        _ => None,
    }
}

/// The size of the IDX file whose header is `header`: the header, then the product of the
/// dimensions in elements; `None` for a header that is not one, or a size past `u64`.
fn claimed_size(header: &[u8]) -> Option<u64> {
    let &[0, 0, kind, dims] = header.get(..4)? else {
        return None;
    };
    let dims = usize::from(dims);
    let elements = (0..dims).try_fold(1u64, |n, d| {
        n.checked_mul(be_u32(header, 4 + 4 * d)? as u64)
    })?;
    elements
        .checked_mul(element_size(kind)? as u64)?
        .checked_add(4 + 4 * dims as u64)
}

/// An image file and its label file, read as one dataset whose class count is
/// `classes` (or, with `None`, one more than the largest label).
pub fn dataset(
    images: (PathBuf, Vec<u8>),
    labels: (PathBuf, Vec<u8>),
    classes: Option<usize>,
) -> Result<Dataset> {
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
    let found = labels.iter().max().map_or(0, |&l| usize::from(l) + 1);
    let classes = classes.unwrap_or(found);
    // `Dataset::new` checks every label against the class count; its words, with the file.
    Dataset::new(pixels, labels, (rows, cols), classes).map_err(|error| match error {
        Error::Config(reason) => Error::BadData {
            path: label_path,
            reason,
        },
        other => other,
    })
}

fn be_u32(bytes: &[u8], at: usize) -> Option<usize> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// What a size check found: "truncated" or "trailing bytes".
fn size_problem(found: usize, expected: usize) -> &'static str {
    if found < expected {
        "truncated"
    } else {
        "trailing bytes"
    }
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
            size_problem(bytes.len(), expected)
        )));
    }
    bytes.drain(..16);
    Ok((count, rows, cols, bytes))
}

/// Parses an IDX1 `u8` label file.
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
            size_problem(bytes.len(), count + 8)
        )));
    }
    bytes.drain(..8);
    Ok(bytes)
}

/// An IDX file of samples of any shape, as a dataset's inputs: `u8` samples of
/// `(rows, cols, ...)` become images of `rows x (cols * ...)` (one row of `cols` for
/// `(cols)`), as MNIST's are; samples of any other element type (`i8`, `i16`, `i32`,
/// `f32`, `f64`, big-endian) become features, flattened in C order, each finite.
/// Returns `(count, inputs)`.
pub fn parse_samples(path: &Path, bytes: Vec<u8>) -> Result<(usize, Inputs)> {
    let bad = |reason: String| Error::BadData {
        path: path.to_path_buf(),
        reason,
    };
    let Some(&[zero_a, zero_b, kind, dims]) = bytes.get(..4) else {
        return Err(bad("truncated header".into()));
    };
    let magic = be_u32(&bytes, 0).unwrap_or(0);
    let size = element_size(kind).unwrap_or(0);
    if zero_a != 0 || zero_b != 0 || size == 0 {
        return Err(bad(format!(
            "wrong magic number {magic:#010x}: not an IDX file (expected 0x0000TTDD: element \
             type TT 08 u8, 09 i8, 0B i16, 0C i32, 0D f32 or 0E f64, DD dimensions)"
        )));
    }
    if dims < 2 {
        return Err(bad(format!(
            "magic number {magic:#010x}: {dims} dimension(s), so no values per sample (a \
             label file?): samples need 2 or more dimensions, as images have 3 (0x00000803)"
        )));
    }
    let dims = usize::from(dims);
    let header = 4 + 4 * dims;
    let shape: Vec<usize> = (0..dims)
        .map(|d| be_u32(&bytes, 4 + 4 * d))
        .collect::<Option<_>>()
        .ok_or_else(|| bad("truncated header".into()))?;
    let (count, sample) = (shape[0], &shape[1..]);
    let width = sample
        .iter()
        .try_fold(1usize, |w, &d| w.checked_mul(d))
        .filter(|w| (1..=MAX_FEATURES).contains(w))
        .ok_or_else(|| {
            bad(format!(
                "samples of shape {sample:?}: a model takes 1..={MAX_FEATURES} inputs (the \
                 model format's limit)"
            ))
        })?;
    let expected = count
        .checked_mul(width * size)
        .and_then(|n| n.checked_add(header))
        .ok_or_else(|| bad(format!("sample count {count} too large")))?;
    if bytes.len() != expected {
        return Err(bad(format!(
            "{} bytes, expected {expected} for {count} samples of shape {sample:?} ({})",
            bytes.len(),
            size_problem(bytes.len(), expected)
        )));
    }
    let data = &bytes[header..];
    if kind == 0x08 {
        let (rows, cols) = match sample {
            [cols] => (1, *cols),
            [rows, ..] => (*rows, width / rows),
            [] => (1, 1),
        };
        let images = data.to_vec();
        return Ok((count, Inputs::Pixels { images, rows, cols }));
    }
    let mut values = Vec::with_capacity(count * width);
    for (at, element) in data.chunks_exact(size).enumerate() {
        let value = match (kind, element) {
            (0x09, &[a]) => f64::from(a as i8),
            (0x0B, &[a, b]) => f64::from(i16::from_be_bytes([a, b])),
            (0x0C, &[a, b, c, d]) => f64::from(i32::from_be_bytes([a, b, c, d])),
            (0x0D, &[a, b, c, d]) => f64::from(f32::from_be_bytes([a, b, c, d])),
            (_, element) => <[u8; 8]>::try_from(element).map_or(f64::NAN, f64::from_be_bytes),
        };
        let value = value as f32;
        if !value.is_finite() {
            return Err(bad(format!(
                "sample {}, value {}: {value} is not allowed in a feature (features must be \
                 finite f32 values)",
                at / width,
                at % width
            )));
        }
        values.push(value);
    }
    let columns = (0..width).map(|j| j.to_string()).collect();
    Ok((count, Inputs::Features { values, columns }))
}

/// A sample file ([`parse_samples`]) and its label file, read as one dataset whose class
/// count is one more than the largest label.
pub fn samples_dataset(samples: (PathBuf, Vec<u8>), labels: (PathBuf, Vec<u8>)) -> Result<Dataset> {
    let (sample_path, sample_bytes) = samples;
    let (label_path, label_bytes) = labels;
    let (count, inputs) = parse_samples(&sample_path, sample_bytes)?;
    let labels = parse_labels(&label_path, label_bytes)?;
    if labels.len() != count {
        return Err(Error::BadData {
            path: label_path,
            reason: format!(
                "{} labels for {count} samples in {}",
                labels.len(),
                sample_path.display()
            ),
        });
    }
    let mut distinct = [false; 256];
    labels.iter().for_each(|&l| distinct[usize::from(l)] = true);
    if distinct.iter().filter(|&&d| d).count() < 2 {
        return Err(Error::BadData {
            path: label_path,
            reason: "fewer than two distinct labels: a classifier needs at least two classes"
                .into(),
        });
    }
    let classes = labels.iter().max().map_or(0, |&l| usize::from(l) + 1);
    let dataset = match inputs {
        Inputs::Pixels { images, rows, cols } => {
            Dataset::new(images, labels, (rows, cols), classes)
        }
        Inputs::Features { values, columns } => {
            Dataset::from_features(values, columns, labels, classes)
        }
    };
    dataset.map_err(|error| match error {
        Error::Config(reason) => Error::BadData {
            path: sample_path,
            reason,
        },
        other => other,
    })
}

/// Encodes images as an IDX3 file (for fixtures and tests).
pub fn encode_images(rows: usize, cols: usize, pixels: &[u8]) -> Vec<u8> {
    let count = pixels.len() / (rows * cols);
    let mut out = Vec::with_capacity(16 + pixels.len());
    for v in [0x0803, count, rows, cols] {
        out.extend_from_slice(&(v as u32).to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

/// Encodes labels as an IDX1 file (for fixtures and tests).
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    for v in [0x0801, labels.len()] {
        out.extend_from_slice(&(v as u32).to_be_bytes());
    }
    out.extend_from_slice(labels);
    out
}
