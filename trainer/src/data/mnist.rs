//! MNIST: its four IDX files, their well-known sizes and SHA-256 digests, and loading them
//! (downloaded first when missing, see `fetch`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::data::{idx, Dataset};
use crate::error::{Error, Result};

/// MNIST's classes: the digits 0-9.
pub const CLASSES: usize = 10;

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

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks `bytes` (read from `path`) are the MNIST file `file`: its size first (a
/// truncated download says so), then its SHA-256.
pub fn verify(path: &Path, file: &MnistFile, bytes: &[u8]) -> Result<()> {
    let size = bytes.len() as u64;
    if size != file.size {
        return Err(Error::BadData {
            path: path.to_path_buf(),
            reason: format!(
                "{}: {size} of {} bytes",
                if size < file.size {
                    "truncated"
                } else {
                    "too long"
                },
                file.size
            ),
        });
    }
    let digest = sha256_hex(bytes);
    if digest != file.sha256 {
        return Err(Error::Checksum {
            path: path.to_path_buf(),
            expected: file.sha256.into(),
            found: digest,
        });
    }
    Ok(())
}

/// Loads MNIST from `dir` (raw or `.gz` files), checking every file's SHA-256 when
/// `verify` is set (the real files), else only its structure (fixtures, other datasets in
/// the same format, whose class count then comes from their labels).
pub fn load_mnist(dir: &Path, verify: bool) -> Result<Mnist> {
    let mut hashes = Vec::new();
    let mut read = |file: &MnistFile| -> Result<(PathBuf, Vec<u8>)> {
        let path = locate(dir, file.name).ok_or_else(|| Error::BadData {
            path: dir.join(file.name),
            reason: "file not found".into(),
        })?;
        let bytes = idx::read_maybe_gz(&path)?;
        if verify {
            self::verify(&path, file, &bytes)?;
        }
        hashes.push((file.name.to_string(), sha256_hex(&bytes)));
        Ok((path, bytes))
    };
    let [train_images, train_labels, test_images, test_labels] = &MNIST_FILES;
    let classes = verify.then_some(CLASSES);
    let train = idx::dataset(read(train_images)?, read(train_labels)?, classes)?;
    // The test set is scored by a model with the training set's classes.
    let test = idx::dataset(
        read(test_images)?,
        read(test_labels)?,
        Some(classes.unwrap_or(train.classes)),
    )?;
    Ok(Mnist {
        train,
        test,
        hashes,
    })
}

/// The MNIST training and test sets from `dir`, downloaded there first if missing and
/// verified by SHA-256: the tutorial's `mnist.load_data()`.
pub fn mnist(dir: impl AsRef<Path>) -> Result<(Arc<Dataset>, Arc<Dataset>)> {
    crate::data::ensure_mnist(dir.as_ref(), true)?;
    let mnist = load_mnist(dir.as_ref(), true)?;
    Ok((Arc::new(mnist.train), Arc::new(mnist.test)))
}

/// Whether all four files are present in `dir` (raw or gzip).
pub fn mnist_present(dir: &Path) -> bool {
    MNIST_FILES.iter().all(|f| locate(dir, f.name).is_some())
}
