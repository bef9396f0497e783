//! [`Table`]: rows of `f32` features with a class label each, as the CSV and NumPy readers
//! return them, before anything scales or trains on them.
//!
//! Labels become classes `0..classes` in one of two ways, decided by the whole label column:
//! - **integer labels** (every label an integer, or a NumPy integer array): label `k` is
//!   class `k`, so `classes` is the largest label plus one (a class nobody uses is kept:
//!   the data's own numbering is the user's), and `class_names` is empty, as for MNIST;
//! - **string labels** (any label that is not an integer): the distinct labels, sorted
//!   (byte order), are classes `0, 1, ...`, and `class_names` holds them in that order.
//!
//! Labels are `u8`: at most 256 classes, integer labels `0..=255`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::rng::Rng;

/// The most classes a table can have: labels are stored as `u8`.
pub const MAX_CLASSES: usize = 256;

/// Rows of numeric features, each with a class label, read from a file and checked: every
/// feature is finite, every label is below `classes`, and there are at least two classes.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// `rows() * width()` features, row after row.
    pub features: Vec<f32>,
    /// The feature columns' names (CSV header names; `"0"`, `"1"`, ... for NumPy arrays,
    /// the index in the flattened sample).
    pub columns: Vec<String>,
    /// One label per row, each below `classes`.
    pub labels: Vec<u8>,
    /// Number of classes (labels are `0..classes`).
    pub classes: usize,
    /// The classes' names when the labels were strings (sorted); empty for integer labels.
    pub class_names: Vec<String>,
    /// The file the table was read from (for NumPy pairs, the features file).
    pub path: PathBuf,
}

impl Table {
    /// Number of rows (samples).
    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    /// Features per row.
    pub fn width(&self) -> usize {
        self.columns.len()
    }

    /// The features of row `index`.
    pub fn row(&self, index: usize) -> &[f32] {
        let width = self.width();
        &self.features[index * width..(index + 1) * width]
    }

    /// The name of class `class`: its string label, or its number for integer labels.
    pub fn class_name(&self, class: u8) -> String {
        self.class_names
            .get(usize::from(class))
            .cloned()
            .unwrap_or_else(|| class.to_string())
    }

    /// Checks that `other` (a test file) has this table's feature columns: the same count
    /// and the same names in the same order. The error names the first difference.
    pub fn check_compatible(&self, other: &Table) -> Result<()> {
        let mismatch = |reason: String| Error::BadData {
            path: other.path.clone(),
            reason: format!(
                "{reason}; the columns must match the training data's ({})",
                self.path.display()
            ),
        };
        for (at, (ours, theirs)) in self.columns.iter().zip(&other.columns).enumerate() {
            if ours != theirs {
                return Err(mismatch(format!(
                    "feature column {} is \"{theirs}\", expected \"{ours}\"",
                    at + 1
                )));
            }
        }
        if self.width() != other.width() {
            let (longer, extra) = if other.width() > self.width() {
                ("has an extra", &other.columns[self.width()])
            } else {
                ("lacks", &self.columns[other.width()])
            };
            return Err(mismatch(format!(
                "{} feature columns, expected {}: it {longer} column \"{extra}\"",
                other.width(),
                self.width()
            )));
        }
        Ok(())
    }

    /// `other` (a test file, checked with [`Table::check_compatible`]) with its labels
    /// renumbered as this table's classes: a string label becomes the class of the same name
    /// here, so a test file that lacks a class still means the same thing by each number.
    /// A label this table does not have is an error.
    pub fn align_classes(&self, mut other: Table) -> Result<Table> {
        self.check_compatible(&other)?;
        let unknown = |name: String| Error::BadData {
            path: other.path.clone(),
            reason: format!(
                "class {name} does not occur in the training data ({})",
                self.path.display()
            ),
        };
        match (self.class_names.is_empty(), other.class_names.is_empty()) {
            (true, true) => {
                if other.classes > self.classes {
                    return Err(unknown(format!("{}", other.classes - 1)));
                }
                other.classes = self.classes;
            }
            (false, false) => {
                let mut map = Vec::with_capacity(other.class_names.len());
                for name in &other.class_names {
                    match self.class_names.binary_search(name) {
                        Ok(class) => map.push(class as u8),
                        Err(_) => return Err(unknown(format!("\"{name}\""))),
                    }
                }
                for (row, label) in other.labels.iter_mut().enumerate() {
                    *label = *map.get(usize::from(*label)).ok_or_else(|| Error::BadData {
                        path: other.path.clone(),
                        reason: format!("label {label} of row {row} is not a class"),
                    })?;
                }
                other.classes = self.classes;
                other.class_names = self.class_names.clone();
            }
            (ours_int, _) => {
                let kind = |int: bool| if int { "integer" } else { "string" };
                return Err(Error::BadData {
                    path: other.path.clone(),
                    reason: format!(
                        "{} labels, but the training data ({}) has {} labels",
                        kind(!ours_int),
                        self.path.display(),
                        kind(ours_int)
                    ),
                });
            }
        }
        Ok(other)
    }

    /// Splits the rows into `(training, test)` for `--test-split`: stratified, so each
    /// class sends `round(count * fraction)` of its rows to the test part, chosen by a
    /// shuffle seeded with `seed` (the same seed, the same split on every machine). Both
    /// parts keep the file's row order. `fraction` must be in `(0, 1)`, and both parts must
    /// end up with rows.
    pub fn split(&self, fraction: f32, seed: u64) -> Result<(Table, Table)> {
        let to_test = test_rows(&self.labels, fraction, seed)?;
        let part = |test: bool| {
            let rows: Vec<usize> = (0..self.rows()).filter(|&r| to_test[r] == test).collect();
            Table {
                features: rows.iter().flat_map(|&r| self.row(r)).copied().collect(),
                columns: self.columns.clone(),
                labels: rows.iter().map(|&r| self.labels[r]).collect(),
                classes: self.classes,
                class_names: self.class_names.clone(),
                path: self.path.clone(),
            }
        };
        Ok((part(false), part(true)))
    }
}

/// Which rows a stratified split sends to the test part (see [`Table::split`]): each class
/// sends `round(count * fraction)` of its rows, chosen by a shuffle seeded with `seed`.
/// `fraction` must be in `(0, 1)`, and both parts must end up with rows.
pub(crate) fn test_rows(labels: &[u8], fraction: f32, seed: u64) -> Result<Vec<bool>> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(Error::Config(format!(
            "test split must be in (0, 1), got {fraction}"
        )));
    }
    // Sized for any u8 label, so a hand-made table with a stray label cannot panic here.
    let mut by_class = vec![Vec::new(); MAX_CLASSES];
    for (row, &label) in labels.iter().enumerate() {
        by_class[usize::from(label)].push(row);
    }
    let mut rng = Rng::new(seed);
    let mut to_test = vec![false; labels.len()];
    for rows in &mut by_class {
        rng.shuffle(rows);
        let count = (rows.len() as f64 * f64::from(fraction)).round() as usize;
        for &row in &rows[..count] {
            to_test[row] = true;
        }
    }
    let test_rows = to_test.iter().filter(|&&t| t).count();
    if test_rows == 0 || test_rows == labels.len() {
        return Err(Error::Config(format!(
            "a test split of {fraction} of {} rows leaves {} test rows and {} training rows",
            labels.len(),
            test_rows,
            labels.len() - test_rows
        )));
    }
    Ok(to_test)
}

/// Collects a label column one value at a time (at most [`MAX_CLASSES`] distinct values,
/// one byte per row), then turns it into classes by the rules in the module docs.
#[derive(Debug, Default)]
pub(crate) struct LabelColumn {
    /// Distinct labels in order of first appearance, with where each first appeared.
    distinct: Vec<(String, usize)>,
    ids: HashMap<String, u8>,
    /// Per row, the label's index in `distinct`.
    rows: Vec<u8>,
}

/// A label column that turned out unusable: the message, and where its cause is (the
/// `at` the caller passed for that label), if one row is to blame.
pub(crate) type LabelError = (String, Option<usize>);

impl LabelColumn {
    /// Adds one row's label; `at` (a line or an index) is handed back in errors. Fails on
    /// the 257th distinct label.
    pub(crate) fn push(&mut self, label: &str, at: usize) -> std::result::Result<(), LabelError> {
        let id = match self.ids.get(label) {
            Some(&id) => id,
            None => {
                if self.distinct.len() == MAX_CLASSES {
                    return Err((
                        format!(
                            "label \"{label}\" is a {}th distinct label: at most {MAX_CLASSES} classes (labels are u8)",
                            MAX_CLASSES + 1
                        ),
                        Some(at),
                    ));
                }
                let id = self.distinct.len() as u8;
                self.distinct.push((label.to_owned(), at));
                self.ids.insert(label.to_owned(), id);
                id
            }
        };
        self.rows.push(id);
        Ok(())
    }

    /// Whether no row was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// `(labels, classes, class_names)`, integer or string labels as the module docs say.
    pub(crate) fn finish(self) -> std::result::Result<(Vec<u8>, usize, Vec<String>), LabelError> {
        let integers: Option<Vec<i64>> = self
            .distinct
            .iter()
            .map(|(name, _)| name.parse::<i64>().ok())
            .collect();
        let (class_of, classes, names) = match integers {
            Some(values) => {
                for (&value, (_, at)) in values.iter().zip(&self.distinct) {
                    check_integer_label(value).map_err(|e| (e, Some(*at)))?;
                }
                let classes = values.iter().max().map_or(0, |&m| m as usize + 1);
                let class_of: Vec<u8> = values.iter().map(|&v| v as u8).collect();
                (class_of, classes, Vec::new())
            }
            None => {
                let mut sorted: Vec<&str> = self.distinct.iter().map(|(n, _)| n.as_str()).collect();
                sorted.sort_unstable();
                let class_of = self
                    .distinct
                    .iter()
                    .map(|(name, _)| sorted.binary_search(&name.as_str()).unwrap_or(0) as u8)
                    .collect();
                let names = sorted.iter().map(|&s| s.to_owned()).collect();
                (class_of, sorted.len(), names)
            }
        };
        check_class_count(self.distinct.len(), || {
            self.distinct
                .first()
                .map_or_else(String::new, |(n, _)| format!("\"{n}\""))
        })
        .map_err(|e| (e, None))?;
        let labels = self
            .rows
            .iter()
            .map(|&id| class_of[usize::from(id)])
            .collect();
        Ok((labels, classes, names))
    }
}

/// Checks an integer label: a class `0..=255`.
pub(crate) fn check_integer_label(value: i64) -> std::result::Result<(), String> {
    if value < 0 {
        Err(format!(
            "label {value} is negative: integer labels are classes 0..={}",
            MAX_CLASSES - 1
        ))
    } else if value >= MAX_CLASSES as i64 {
        Err(format!(
            "label {value} is above {}: at most {MAX_CLASSES} classes (labels are u8)",
            MAX_CLASSES - 1
        ))
    } else {
        Ok(())
    }
}

/// Fails unless there are at least two distinct labels (`only` names the one there is).
pub(crate) fn check_class_count(
    distinct: usize,
    only: impl FnOnce() -> String,
) -> std::result::Result<(), String> {
    match distinct {
        0 => Err("no rows".to_owned()),
        1 => Err(format!(
            "every row has the same label ({}): a classifier needs at least two classes",
            only()
        )),
        _ => Ok(()),
    }
}

/// An error about a file's contents.
pub(crate) fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::BadData {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}
