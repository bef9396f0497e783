//! The IDX readers' fuzz body: a sample file and a label file, each raw or gzip, read as
//! one dataset by the reader `Dataset::from_idx` uses (`idx::samples_dataset`) or by
//! MNIST's image reader (`idx::dataset`). Any bytes may be refused, none may panic, a gzip
//! file is never inflated past what its header claims, and a dataset the readers accept
//! holds what the headers say.

use std::path::PathBuf;

use trainer::data::{idx, Dataset, Inputs, MAX_FEATURES};

/// The two files and the reader that an input picks.
pub struct IdxInput<'a> {
    /// The sample (or image) file's name and bytes as stored.
    pub samples: (PathBuf, &'a [u8]),
    /// The label file's name and bytes as stored.
    pub labels: (PathBuf, &'a [u8]),
    /// MNIST's image reader (`u8` images of rows x cols only) rather than any sample file.
    pub images_reader: bool,
}

/// Splits IDX input bytes after one mode byte: bit 0 stores the sample file gzipped (its
/// name ends in `.gz`), bit 1 the label file, bit 2 picks MNIST's image reader; the next
/// two bytes (little-endian) are the sample file's length, the rest is the label file.
pub fn split_idx_input(data: &[u8]) -> Option<IdxInput<'_>> {
    let (&mode, rest) = data.split_first()?;
    let (split, files) = rest.split_first_chunk::<2>()?;
    let split = usize::from(u16::from_le_bytes(*split)).min(files.len());
    let (samples, labels) = files.split_at(split);
    let name = |stem: &str, gzip: bool| {
        PathBuf::from(if gzip {
            format!("{stem}.gz")
        } else {
            stem.to_owned()
        })
    };
    Some(IdxInput {
        samples: (name("samples-idx", mode & 1 != 0), samples),
        labels: (name("labels-idx1", mode & 2 != 0), labels),
        images_reader: mode & 4 != 0,
    })
}

/// The dataset the readers make of IDX input bytes (see [`split_idx_input`]).
pub fn read_idx_input(data: &[u8]) -> Option<trainer::Result<Dataset>> {
    let input = split_idx_input(data)?;
    let read = |(path, bytes): &(PathBuf, &[u8])| -> trainer::Result<(PathBuf, Vec<u8>)> {
        Ok((path.clone(), idx::decompress_if_gz(path, bytes.to_vec())?))
    };
    Some((|| {
        let (samples, labels) = (read(&input.samples)?, read(&input.labels)?);
        if input.images_reader {
            idx::dataset(samples, labels, None)
        } else {
            idx::samples_dataset(samples, labels)
        }
    })())
}

/// The IDX fuzz target's body.
pub fn fuzz_idx(data: &[u8]) {
    let Some(input) = split_idx_input(data) else {
        return;
    };
    let samples = inflated_within_claim(&input.samples);
    let labels = inflated_within_claim(&input.labels);
    if let Some(Ok(dataset)) = read_idx_input(data) {
        let (Some(samples), Some(labels)) = (samples, labels) else {
            panic!("a dataset read from a file that does not decompress");
        };
        check_idx_dataset(&dataset, &samples, &labels, input.images_reader);
    }
}

/// A file decompressed as the readers do, checked to hold no more than one byte past the
/// size its header claims (when it is gzip and its header claims one); `None` when it does
/// not decompress.
fn inflated_within_claim((path, bytes): &(PathBuf, &[u8])) -> Option<Vec<u8>> {
    let inflated = idx::decompress_if_gz(path, bytes.to_vec()).ok()?;
    if path.extension().is_some_and(|e| e == "gz") {
        if let Some(claim) = claimed_size(&inflated) {
            assert!(
                inflated.len() as u128 <= claim + 1,
                "{} bytes inflated for a file that claims {claim}",
                inflated.len()
            );
        }
    }
    Some(inflated)
}

/// The size an IDX header claims, computed here apart from the reader: the header, then
/// the product of the dimensions times the element size.
fn claimed_size(file: &[u8]) -> Option<u128> {
    let shape = header_shape(file)?;
    let size: u128 = match file[2] {
        0x08 | 0x09 => 1,
        0x0B => 2,
        0x0C | 0x0D => 4,
        0x0E => 8,
        _ => return None,
    };
    let elements = shape
        .iter()
        .try_fold(1u128, |n, &d| n.checked_mul(u128::from(d)))?;
    Some(4 + 4 * shape.len() as u128 + elements.checked_mul(size)?)
}

/// The dimensions an IDX header lists, when it is complete and its first bytes are zero.
fn header_shape(file: &[u8]) -> Option<Vec<u32>> {
    let &[0, 0, _, dims] = file.get(..4)? else {
        return None;
    };
    (0..usize::from(dims))
        .map(|d| {
            let at = 4 + 4 * d;
            Some(u32::from_be_bytes(file.get(at..at + 4)?.try_into().ok()?))
        })
        .collect()
}

/// What a dataset read from the (decompressed) `samples` and `labels` files promises:
/// as many samples as both headers say, as many inputs per sample as the sample shape
/// holds (at most the model format's width), images for `u8` files and finite features for
/// others, labels below the class count, no more memory than a constant times the files'
/// bytes; and the dataset's own operations work on it.
pub fn check_idx_dataset(dataset: &Dataset, samples: &[u8], labels: &[u8], images_reader: bool) {
    let shape = header_shape(samples).expect("an accepted sample file has a header");
    let label_shape = header_shape(labels).expect("an accepted label file has a header");
    assert_eq!(label_shape.len(), 1, "label files have one dimension");
    let count = shape[0] as usize;
    assert_eq!(
        dataset.len(),
        count,
        "samples in the dataset, by the header"
    );
    assert_eq!(
        label_shape[0] as usize, count,
        "labels, by the label header"
    );
    assert_eq!(
        Some(samples.len() as u128),
        claimed_size(samples),
        "an accepted sample file holds what it claims"
    );
    let width: usize = shape[1..].iter().map(|&d| d as usize).product();
    assert_eq!(dataset.width(), width);
    assert!((1..=MAX_FEATURES).contains(&width), "{width} inputs");
    let kind = samples[2];
    match &dataset.inputs {
        Inputs::Pixels { images, rows, cols } => {
            assert_eq!(kind, 0x08, "images from a file of element type {kind:#04x}");
            assert_eq!(images.len(), count * width);
            assert_eq!(rows * cols, width);
            if images_reader {
                assert_eq!(
                    (shape.len(), *rows, *cols),
                    (3, shape[1] as usize, shape[2] as usize)
                );
            }
        }
        Inputs::Features { values, columns } => {
            assert_ne!(kind, 0x08, "features from a u8 file");
            assert!(!images_reader, "features from the image reader");
            assert_eq!(values.len(), count * width);
            assert_eq!(columns.len(), width);
            assert!(values.iter().all(|v| v.is_finite()), "a non-finite feature");
            // One value per element of at least one byte: memory bounded by the file.
            assert!(values.len() <= samples.len());
        }
    }
    let largest = dataset.labels.iter().max().map(|&l| usize::from(l));
    assert!(
        largest.is_none_or(|l| l < dataset.classes),
        "a label past the classes"
    );
    if !images_reader {
        assert_eq!(Some(dataset.classes), largest.map(|l| l + 1));
        let mut seen = [false; 256];
        dataset
            .labels
            .iter()
            .for_each(|&l| seen[usize::from(l)] = true);
        assert!(
            seen.iter().filter(|&&s| s).count() >= 2,
            "fewer than two classes"
        );
    }
    let (training, validation) = dataset
        .clone()
        .split_validation(0.25)
        .expect("a valid fraction");
    assert_eq!(training.len() + validation.len(), dataset.len());
    assert_eq!(dataset.take(3).len(), count.min(3));
    if let Some(records) = dataset.sample_records(2) {
        assert_eq!(records.len(), count.min(2) * (1 + width));
    }
}
