//! NumPy arrays: a `.npy` pair (features `X`, labels `y`) or one `.npz` archive holding both.
//!
//! - Features: `uint8`, `int8`..`int64`, `uint16`..`uint64`, `float32`, `float64`, either
//!   byte order, C or Fortran order. `X` of shape `(n, f)` gives `f` features per row; any
//!   other shape `(n, a, b, ...)` is flattened per sample in C order (an image of `a x b`
//!   pixels becomes `a * b` features, row by row, as the IDX reader does); `(n,)` is one
//!   feature per row. Values become `f32`; NaN or infinity (also a `float64` beyond the
//!   `f32` range) is an error naming the index.
//! - Labels: `y` of shape `(n,)` (or `(n, 1)`): integers (classes `0..=255`), floats that
//!   are whole numbers (as pandas often saves them), or fixed-width strings (`U`, `S`).
//!   Pickled object arrays (dtype `O`, which is what `np.save` gives a list of Python
//!   strings of mixed length unless told `dtype=str`) cannot be read safely and are refused.
//!
//! The `.npy` format is read by `format.rs` rather than by `npyz`: npyz 0.9.1 allocates the
//! header's claimed length (up to 4 GiB) before reading it (`header.rs`, `read_header`) and
//! multiplies the shape without overflow checks (`NpyHeader::from_parts`, a panic in debug
//! builds). Here every size a header claims is checked against the bytes present before
//! anything is allocated, so memory stays bounded by the file's size (and, inside an
//! `.npz`, by the archive entry's size, itself checked against deflate's 1032:1 limit).

use std::io::Read;
use std::path::Path;

use crate::data::table::{
    bad, check_class_count, check_integer_label, LabelColumn, Table, MAX_CLASSES,
};
use crate::error::{Error, Result};

mod format;

use format::{shape_text, Array, Number};

/// Which arrays of an `.npz` archive hold the features and the labels.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NpzOptions {
    /// The features array; `None`: `X`, else `x`.
    pub features: Option<String>,
    /// The labels array; `None`: `y`, else `Y`.
    pub labels: Option<String>,
}

/// Reads a features file and a labels file (two `.npy` files) into a [`Table`].
pub fn read_npy_pair(features: &Path, labels: &Path) -> Result<Table> {
    let x = std::fs::read(features).map_err(|e| Error::io(features, e))?;
    let y = std::fs::read(labels).map_err(|e| Error::io(labels, e))?;
    parse_npy_pair((features, &x), (labels, &y))
}

/// Parses two `.npy` files' bytes (their paths are named in errors) into a [`Table`].
pub fn parse_npy_pair(features: (&Path, &[u8]), labels: (&Path, &[u8])) -> Result<Table> {
    let x = Array::parse(features.1).map_err(|e| bad(features.0, e))?;
    let y = Array::parse(labels.1).map_err(|e| bad(labels.0, e))?;
    table((features.0, "X", &x), (labels.0, "y", &y), features.0)
}

/// Reads an `.npz` archive (`np.savez` or `np.savez_compressed`) into a [`Table`].
pub fn read_npz(path: &Path, options: &NpzOptions) -> Result<Table> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npz(path, &bytes, options)
}

/// Parses an `.npz` archive's bytes (the contents of `path`) into a [`Table`].
pub fn parse_npz(path: &Path, bytes: &[u8], options: &NpzOptions) -> Result<Table> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| bad(path, format!("not a valid .npz (zip) archive: {e}")))?;
    let names: Vec<String> = archive
        .file_names()
        .filter_map(|n| Some(n.ok()?.strip_suffix(".npy")?.to_owned()))
        .collect();
    let pick = |wanted: &Option<String>, defaults: [&str; 2]| -> Result<String> {
        let found = match wanted {
            Some(name) => names.iter().find(|n| *n == name),
            None => defaults.iter().find_map(|d| names.iter().find(|n| n == d)),
        };
        found.cloned().ok_or_else(|| {
            let asked = wanted.as_deref().map_or_else(
                || format!("\"{}\" or \"{}\"", defaults[0], defaults[1]),
                |n| format!("\"{n}\""),
            );
            let held = names
                .iter()
                .map(|n| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(", ");
            bad(
                path,
                format!("no array {asked} in the archive (it holds {held})"),
            )
        })
    };
    let x_name = pick(&options.features, ["X", "x"])?;
    let y_name = pick(&options.labels, ["y", "Y"])?;
    let mut entry = |name: &str| -> Result<Vec<u8>> {
        let in_archive = |e: String| bad(path, format!("array {name}: {e}"));
        let mut file = archive
            .by_name(&format!("{name}.npy"))
            .map_err(|e| in_archive(e.to_string()))?;
        let claimed = file.size();
        // Deflate expands at most 1032:1; a larger claim is a lie, refused before reading.
        let most = file
            .compressed_size()
            .saturating_mul(1032)
            .saturating_add(64);
        if claimed > most {
            return Err(in_archive(format!(
                "claims {claimed} bytes from {} compressed",
                file.compressed_size()
            )));
        }
        let mut data = Vec::with_capacity(claimed.min(bytes.len() as u64) as usize);
        (&mut file)
            .take(claimed.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|e| in_archive(e.to_string()))?;
        if data.len() as u64 != claimed {
            return Err(in_archive(format!(
                "{} bytes, the archive says {claimed}",
                data.len()
            )));
        }
        Ok(data)
    };
    let x_bytes = entry(&x_name)?;
    let y_bytes = entry(&y_name)?;
    let parse = |name: &str, bytes| {
        Array::parse(bytes).map_err(|e| bad(path, format!("array {name}: {e}")))
    };
    let x = parse(&x_name, &x_bytes)?;
    let y = parse(&y_name, &y_bytes)?;
    table((path, &x_name, &x), (path, &y_name, &y), path)
}

/// Checks the two arrays against each other and builds the table.
fn table(
    (x_path, x_name, x): (&Path, &str, &Array),
    (y_path, y_name, y): (&Path, &str, &Array),
    path: &Path,
) -> Result<Table> {
    let Some(&rows) = x.shape.first() else {
        return Err(bad(
            x_path,
            format!("array {x_name} is a scalar: expected (samples, features)"),
        ));
    };
    if rows == 0 {
        return Err(bad(
            x_path,
            format!(
                "array {x_name} of shape {} holds no samples",
                shape_text(&x.shape)
            ),
        ));
    }
    // Cannot overflow with at least one row: the whole shape's product was checked.
    let width: usize = x.shape[1..].iter().product();
    if width == 0 {
        return Err(bad(
            x_path,
            format!(
                "array {x_name} of shape {} has no features",
                shape_text(&x.shape)
            ),
        ));
    }
    if x.dtype.is_string() {
        return Err(bad(
            x_path,
            format!(
                "array {x_name} has dtype '{}': features must be numbers",
                x.descr
            ),
        ));
    }
    let y_rows = match y.shape.as_slice() {
        [n] | [n, 1] => *n,
        _ => {
            return Err(bad(
                y_path,
                format!(
                    "array {y_name} has shape {}: expected one label per sample, ({rows},)",
                    shape_text(&y.shape)
                ),
            ))
        }
    };
    if y_rows != rows {
        return Err(bad(
            y_path,
            format!(
                "array {y_name} holds {y_rows} labels for the {rows} samples of {x_name} ({})",
                x_path.display()
            ),
        ));
    }
    let mut features = Vec::with_capacity(x.len());
    for i in 0..x.len() {
        let value = match x.number(i) {
            Number::Int(v) => v as f32,
            Number::Float(f) => f as f32,
        };
        if !value.is_finite() {
            let stored = match x.number(i) {
                Number::Int(v) => v.to_string(),
                Number::Float(f) => format!("{f:?}"),
            };
            return Err(bad(
                x_path,
                format!(
                    "array {x_name}, index {}: {stored} is not allowed in a feature (features must be finite f32 values)",
                    index_text(i, &x.shape)
                ),
            ));
        }
        features.push(value);
    }
    let (labels, classes, class_names) = if y.dtype.is_string() {
        string_labels(y_path, y_name, y)?
    } else {
        integer_labels(y_path, y_name, y)?
    };
    Ok(Table {
        features,
        columns: (0..width).map(|i| i.to_string()).collect(),
        labels,
        classes,
        class_names,
        path: path.to_path_buf(),
    })
}

type Labels = (Vec<u8>, usize, Vec<String>);

/// Labels from a string array: classes in sorted order.
fn string_labels(path: &Path, name: &str, y: &Array) -> Result<Labels> {
    let at = |i: usize| format!("array {name}, index {i}");
    let mut column = LabelColumn::default();
    for i in 0..y.len() {
        let label = y
            .string(i)
            .map_err(|e| bad(path, format!("array {name}: {e}")))?;
        column
            .push(&label, i)
            .map_err(|(e, _)| bad(path, format!("{}: {e}", at(i))))?;
    }
    column.finish().map_err(|(e, i)| match i {
        Some(i) => bad(path, format!("{}: {e}", at(i))),
        None => bad(path, format!("array {name}: {e}")),
    })
}

/// Labels from a numeric array: each a whole number `0..=255`, which is its class.
fn integer_labels(path: &Path, name: &str, y: &Array) -> Result<Labels> {
    let at = |i: usize| format!("array {name}, index {i}");
    let mut labels = Vec::with_capacity(y.len());
    let mut seen = [false; MAX_CLASSES];
    for i in 0..y.len() {
        let value = match y.number(i) {
            Number::Int(v) => i64::try_from(v).unwrap_or(i64::MAX),
            Number::Float(f) if f.is_finite() && f.fract() == 0.0 => {
                f.clamp(i64::MIN as f64, i64::MAX as f64) as i64
            }
            Number::Float(f) => {
                return Err(bad(
                    path,
                    format!(
                        "{}: label {f} is not a whole number (labels must be integers or strings)",
                        at(i)
                    ),
                ))
            }
        };
        check_integer_label(value).map_err(|e| bad(path, format!("{}: {e}", at(i))))?;
        let label = value as u8;
        labels.push(label);
        seen[usize::from(label)] = true;
    }
    let distinct = seen.iter().filter(|&&s| s).count();
    check_class_count(distinct, || {
        labels.first().map_or_else(String::new, u8::to_string)
    })
    .map_err(|e| bad(path, format!("array {name}: {e}")))?;
    let classes = labels.iter().max().map_or(0, |&m| usize::from(m) + 1);
    Ok((labels, classes, Vec::new()))
}

/// `[row, column, ...]` of flat C-order position `flat` in `shape`.
fn index_text(flat: usize, shape: &[usize]) -> String {
    let mut rest = flat;
    let mut index = vec![0; shape.len()];
    for (i, &d) in index.iter_mut().zip(shape).rev() {
        if d > 0 {
            *i = rest % d;
            rest /= d;
        }
    }
    format!(
        "[{}]",
        index
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}
