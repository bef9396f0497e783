//! [`Source`]: a data file named on the command line (or by a program), its type told by
//! its name, and [`train_test`]: a training set and a test set from one or two sources.

use std::path::{Path, PathBuf};

use super::table::test_rows;
use super::{all_bytes, looks_like_pixels};
use super::{read_csv, read_npy_pair, read_npz, CsvOptions, Dataset, Inputs, NpzOptions, Table};
use crate::error::{Error, Result};

/// The seed of `--test-split`: fixed, so the same file splits the same way on every run
/// and every machine, whatever the training seed.
pub const TEST_SPLIT_SEED: u64 = 42;

/// A dataset's file(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A CSV file with a header line.
    Csv(PathBuf, CsvOptions),
    /// An `.npz` archive holding features and labels.
    Npz(PathBuf, NpzOptions),
    /// A features `.npy` and a labels `.npy`.
    NpyPair(PathBuf, PathBuf),
    /// An IDX image file and its IDX label file (raw or `.gz`).
    Idx(PathBuf, PathBuf),
}

impl Source {
    /// The source `path` names by its extension: `.csv`; `.npz`; `.npy` (with `labels`, a
    /// second `.npy`); an IDX file (`...-ubyte` as MNIST's, or `.idx3` and the like, either
    /// with `.gz`; with `labels`, its IDX label file). `label` names a CSV file's label column.
    pub fn new(path: &Path, labels: Option<&Path>, label: Option<&str>) -> Result<Source> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let refuse = |reason: String| Err(Error::Config(format!("{}: {reason}", path.display())));
        let kind = if name.ends_with(".csv") {
            Kind::Csv
        } else if name.ends_with(".npz") {
            Kind::Npz
        } else if name.ends_with(".npy") {
            Kind::Npy
        } else if name.ends_with("-ubyte")
            || Path::new(name)
                .extension()
                .is_some_and(|e| e.to_string_lossy().starts_with("idx"))
        {
            Kind::Idx
        } else {
            return refuse(
                "unknown file type: expected .csv, .npz, .npy (with a labels .npy) or an IDX \
                 file (...-ubyte or .idx*, raw or .gz, with its label file)"
                    .into(),
            );
        };
        if label.is_some() && kind != Kind::Csv {
            return refuse("a label column (--label) applies to CSV files only".into());
        }
        let path = path.to_path_buf();
        match (kind, labels) {
            (Kind::Csv, None) => {
                let label = label.map(str::to_owned);
                let options = CsvOptions {
                    label,
                    ..CsvOptions::default()
                };
                Ok(Source::Csv(path, options))
            }
            (Kind::Npz, None) => Ok(Source::Npz(path, NpzOptions::default())),
            (Kind::Npy, Some(labels)) => Ok(Source::NpyPair(path, labels.to_path_buf())),
            (Kind::Idx, Some(labels)) => Ok(Source::Idx(path, labels.to_path_buf())),
            (Kind::Csv | Kind::Npz, Some(labels)) => refuse(format!(
                "{} holds its own labels; drop the labels file {}",
                kind.a_file(),
                labels.display()
            )),
            (Kind::Npy | Kind::Idx, None) => refuse(format!(
                "{} needs its labels file (--train-labels or --test-labels)",
                kind.a_file()
            )),
        }
    }

    /// The (features or images) file.
    pub fn path(&self) -> &Path {
        match self {
            Source::Csv(path, _) | Source::Npz(path, _) => path,
            Source::NpyPair(path, _) | Source::Idx(path, _) => path,
        }
    }

    /// Every file read, for the report's checksums.
    pub fn files(&self) -> Vec<&Path> {
        match self {
            Source::Csv(path, _) | Source::Npz(path, _) => vec![path],
            Source::NpyPair(a, b) | Source::Idx(a, b) => vec![a, b],
        }
    }

    /// A name for the model: the file's stem without a `-train` (`_train`, `.train`)
    /// ending (`iris` for `data/iris.csv` or `data/iris-train.csv`), or its folder's name
    /// for a file named just `train` (`wine` for `wine/train.csv`); at most 255 bytes.
    pub fn model_name(&self) -> String {
        let path = self.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let stem = Path::new(name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let lower = stem.to_lowercase();
        let cut = ["-train", "_train", ".train"]
            .iter()
            .find(|suffix| lower.ends_with(*suffix))
            .map_or(stem.len(), |suffix| stem.len() - suffix.len());
        let mut name = stem[..cut].to_owned();
        if name.is_empty() || name.eq_ignore_ascii_case("train") {
            let folder = path
                .parent()
                .and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned());
            name = folder.unwrap_or(name);
        }
        if name.is_empty() {
            name = "model".to_owned();
        }
        let mut end = name.len().min(255);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
        name
    }

    fn read(&self) -> Result<Read> {
        Ok(match self {
            Source::Csv(path, options) => Read::Table(read_csv(path, options)?),
            Source::Npz(path, options) => Read::Table(read_npz(path, options)?),
            Source::NpyPair(x, y) => Read::Table(read_npy_pair(x, y)?),
            Source::Idx(images, labels) => Read::Images(Dataset::from_idx(images, labels)?),
        })
    }

    /// The whole source as one dataset.
    pub fn dataset(&self) -> Result<Dataset> {
        match self.read()? {
            Read::Table(table) => Dataset::from_table(table),
            Read::Images(images) => Ok(images),
        }
    }
}

/// A file type, told by the file's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Csv,
    Npz,
    Npy,
    Idx,
}

impl Kind {
    /// "a CSV file" and the like, for messages.
    fn a_file(self) -> &'static str {
        match self {
            Kind::Csv => "a CSV file",
            Kind::Npz => "an .npz file",
            Kind::Npy => "a .npy file",
            Kind::Idx => "an IDX file",
        }
    }
}

/// What a source holds once read.
enum Read {
    Table(Table),
    Images(Dataset),
}

/// Where the test set comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum TestData {
    /// A file of its own, with the training file's columns (or image size) and classes.
    File(Source),
    /// A stratified fraction of the training file (seeded with [`TEST_SPLIT_SEED`]).
    Split(f32),
}

/// The training and test sets: the test file checked against the training file (same
/// feature columns, same kind of labels, no class the training data lacks; string labels
/// renumbered as the training file's classes), or split off the training file.
pub fn train_test(train: &Source, test: &TestData) -> Result<(Dataset, Dataset)> {
    match (train.read()?, test) {
        (Read::Table(table), TestData::Split(fraction)) => {
            let pixels = looks_like_pixels(&table.features, table.width());
            let (train, test) = table.split(*fraction, TEST_SPLIT_SEED)?;
            Ok((
                Dataset::from_table_as(train, pixels)?,
                Dataset::from_table_as(test, pixels)?,
            ))
        }
        (Read::Images(images), TestData::Split(fraction)) => {
            let to_test = test_rows(&images.labels, *fraction, TEST_SPLIT_SEED)?;
            let pick = |test: bool| -> Vec<usize> {
                (0..images.len()).filter(|&r| to_test[r] == test).collect()
            };
            Ok((images.select(&pick(false)), images.select(&pick(true))))
        }
        (Read::Table(table), TestData::File(source)) => match source.read()? {
            Read::Table(test) => {
                let test = table.align_classes(test)?;
                // Both files are images or both features: the training file decides, if the
                // test file's values are bytes too.
                let pixels =
                    looks_like_pixels(&table.features, table.width()) && all_bytes(&test.features);
                Ok((
                    Dataset::from_table_as(table, pixels)?,
                    Dataset::from_table_as(test, pixels)?,
                ))
            }
            Read::Images(_) => Err(mixed(source.path(), train.path())),
        },
        (Read::Images(images), TestData::File(source)) => match source.read()? {
            Read::Images(mut test) => {
                let shape = |d: &Dataset| match d.inputs {
                    Inputs::Pixels { rows, cols, .. } => (rows, cols),
                    Inputs::Features { .. } => (0, 0),
                };
                let (ours, theirs) = (shape(&images), shape(&test));
                if ours != theirs {
                    return Err(Error::BadData {
                        path: source.path().to_path_buf(),
                        reason: format!(
                            "images of {}x{}, but the training images ({}) are {}x{}",
                            theirs.0,
                            theirs.1,
                            train.path().display(),
                            ours.0,
                            ours.1
                        ),
                    });
                }
                if test.classes > images.classes {
                    return Err(Error::BadData {
                        path: source.path().to_path_buf(),
                        reason: format!(
                            "class {} does not occur in the training data ({})",
                            test.classes - 1,
                            train.path().display()
                        ),
                    });
                }
                test.classes = images.classes;
                Ok((images, test))
            }
            Read::Table(_) => Err(mixed(source.path(), train.path())),
        },
    }
}

fn mixed(test: &Path, train: &Path) -> Error {
    Error::BadData {
        path: test.to_path_buf(),
        reason: format!(
            "features, but the training data ({}) is images (or the other way round): \
             both files must hold the same kind of data",
            train.display()
        ),
    }
}
