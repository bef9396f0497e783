//! CSV files with a header line: every column but the label is a numeric feature.
//!
//! Read with the `csv` crate (quoting, CRLF, a UTF-8 byte-order mark); cells are trimmed.
//! Errors name the file, the line (1-based, as an editor counts) and the column (1-based
//! position and header name): a cell that is not a number, a missing value, a row with
//! too few or too many fields, NaN or infinity in a feature, a label column that does not
//! exist, fewer than two classes, more than 256. Nothing is returned half-read.

use std::path::Path;

use crate::data::table::{bad, LabelColumn, Table};
use crate::error::{Error, Result};

/// How to read a CSV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    /// The label column's header name; `None`: the last column.
    pub label: Option<String>,
    /// The field separator (`b','` by default; `b';'` or `b'\t'` for other exports).
    pub delimiter: u8,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            label: None,
            delimiter: b',',
        }
    }
}

/// Reads a CSV file into a [`Table`].
pub fn read_csv(path: &Path, options: &CsvOptions) -> Result<Table> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_csv(path, &bytes, options)
}

/// Parses CSV `bytes` (the contents of `path`, named in errors) into a [`Table`].
pub fn parse_csv(path: &Path, bytes: &[u8], options: &CsvOptions) -> Result<Table> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(options.delimiter)
        .has_headers(true)
        // Ragged rows get this reader's message (with the line), not the crate's.
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header = reader.headers().map_err(|e| csv_error(path, &e))?.clone();
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(bad(
            path,
            "empty file: expected a header line naming the columns",
        ));
    }
    let names: Vec<String> = header.iter().map(str::to_owned).collect();
    let mut first_of = std::collections::HashMap::with_capacity(names.len());
    for (at, name) in names.iter().enumerate() {
        if let Some(first) = first_of.insert(name.as_str(), at) {
            return Err(bad(
                path,
                format!(
                    "line 1: columns {} and {} are both named \"{name}\"",
                    first + 1,
                    at + 1
                ),
            ));
        }
    }
    let label_at = match &options.label {
        None => names.len() - 1,
        Some(label) => names.iter().position(|n| n == label).ok_or_else(|| {
            bad(
                path,
                format!(
                    "line 1: no label column \"{label}\"; the columns are {}",
                    quoted_list(&names)
                ),
            )
        })?,
    };
    if names.len() < 2 {
        return Err(bad(
            path,
            format!(
                "line 1: only the label column \"{}\": no feature columns",
                names[label_at]
            ),
        ));
    }
    let column = |at: usize| format!("column {} (\"{}\")", at + 1, names[at]);

    let mut features = Vec::new();
    let mut labels = LabelColumn::default();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(path, &e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != names.len() {
            // A blank line is not a row; the crate already skips truly empty ones.
            if record.len() == 1 && record[0].is_empty() {
                continue;
            }
            return Err(bad(
                path,
                format!(
                    "line {line}: {} fields, expected {} (as in the header)",
                    record.len(),
                    names.len()
                ),
            ));
        }
        for (at, cell) in record.iter().enumerate() {
            if at == label_at {
                if cell.is_empty() {
                    return Err(bad(
                        path,
                        format!("line {line}, {}: missing label", column(at)),
                    ));
                }
                labels.push(cell, line as usize).map_err(|(reason, _)| {
                    bad(path, format!("line {line}, {}: {reason}", column(at)))
                })?;
            } else {
                let value = parse_feature(cell).map_err(|reason| {
                    bad(path, format!("line {line}, {}: {reason}", column(at)))
                })?;
                features.push(value);
            }
        }
    }
    if labels.is_empty() {
        return Err(bad(path, "no rows after the header line"));
    }
    let label_column = column(label_at);
    let (labels, classes, class_names) = labels.finish().map_err(|(reason, line)| match line {
        Some(line) => bad(path, format!("line {line}, {label_column}: {reason}")),
        None => bad(path, format!("{label_column}: {reason}")),
    })?;
    let mut columns = names;
    columns.remove(label_at);
    Ok(Table {
        features,
        columns,
        labels,
        classes,
        class_names,
        path: path.to_path_buf(),
    })
}

/// A feature cell as `f32`, or why it is not one.
fn parse_feature(cell: &str) -> std::result::Result<f32, String> {
    if cell.is_empty() {
        return Err("missing value".to_owned());
    }
    match cell.parse::<f32>() {
        Ok(v) if v.is_nan() => Err(format!("\"{cell}\" (NaN) is not allowed in a feature")),
        Ok(v) if v.is_infinite() => {
            // "1e39" parses as infinity too: say why.
            Err(format!(
                "\"{cell}\" is infinite as an f32 (features must be finite, at most {:e} in magnitude)",
                f32::MAX
            ))
        }
        Ok(v) => Ok(v),
        Err(_) => Err(format!(
            "\"{cell}\" is not a number (every column but the label must be numeric)"
        )),
    }
}

/// The csv crate's error, with the line it reports.
fn csv_error(path: &Path, error: &csv::Error) -> Error {
    let line = error.position().map(|p| p.line());
    let what = match error.kind() {
        csv::ErrorKind::Utf8 { err, .. } => format!("field {} is not valid UTF-8", err.field() + 1),
        _ => error.to_string(),
    };
    match line {
        Some(line) => bad(path, format!("line {line}: {what}")),
        None => bad(path, what),
    }
}

/// `"a", "b", "c"` (the first 20, then a count).
fn quoted_list(names: &[String]) -> String {
    let mut out: Vec<String> = names.iter().take(20).map(|n| format!("\"{n}\"")).collect();
    if names.len() > 20 {
        out.push(format!("and {} more", names.len() - 20));
    }
    out.join(", ")
}
