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
//! The `.npy` header is parsed here rather than by `npyz`: npyz 0.9.1 allocates the
//! header's claimed length (up to 4 GiB) before reading it and multiplies the shape without
//! overflow checks (a panic in debug builds). Here every size a header claims is checked
//! against the bytes present before anything is allocated, so memory stays bounded by the
//! file's size (and, inside an `.npz`, by the archive entry's checked size).

use std::io::Read;
use std::path::Path;

use crate::data::table::{
    bad, check_class_count, check_integer_label, LabelColumn, Table, MAX_CLASSES,
};
use crate::error::{Error, Result};

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

/// One array, decoded on demand from the file's bytes (so memory stays what the file
/// holds plus the table being built).
#[derive(Debug)]
struct Array<'a> {
    /// As in the header (C order even when the data is stored in Fortran order).
    shape: Vec<usize>,
    descr: String,
    dtype: DType,
    fortran_order: bool,
    /// Element strides of Fortran order (first index fastest), used when `fortran_order`.
    fortran_strides: Vec<usize>,
    /// `count * dtype.size` bytes.
    data: &'a [u8],
}

/// One element of a numeric array.
#[derive(Debug, Clone, Copy)]
enum Number {
    Int(i128),
    Float(f64),
}

/// A NumPy scalar type: kind (`u`, `i`, `f`, `U`, `S`), item size in bytes, byte order.
#[derive(Debug, Clone, Copy)]
struct DType {
    kind: u8,
    size: usize,
    big_endian: bool,
}

impl DType {
    fn parse(descr: &str) -> std::result::Result<DType, String> {
        let refuse = || {
            format!(
                "dtype '{descr}' is not supported (features: uint8..uint64, int8..int64, \
                 float32, float64; labels also fixed-width strings 'U' or 'S')"
            )
        };
        let bytes = descr.as_bytes();
        let (order, rest) = match bytes.split_first() {
            Some((&o @ (b'<' | b'>' | b'|' | b'='), rest)) => (o, rest),
            _ => (b'=', bytes),
        };
        let (&kind, size) = rest.split_first().ok_or_else(refuse)?;
        if kind == b'O' {
            return Err(format!(
                "dtype '{descr}' is a pickled object array, which is not read (save strings \
                 with a fixed-width dtype, e.g. y.astype(str))"
            ));
        }
        let size: usize = std::str::from_utf8(size)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(refuse)?;
        let ok = match kind {
            b'u' | b'i' => matches!(size, 1 | 2 | 4 | 8),
            b'f' => matches!(size, 4 | 8),
            b'U' => size > 0 && size <= 1 << 20,
            b'S' => size > 0 && size <= 1 << 22,
            _ => false,
        };
        if !ok {
            return Err(refuse());
        }
        Ok(DType {
            kind,
            // A 'U' item is `size` UTF-32 code units.
            size: if kind == b'U' { size * 4 } else { size },
            // '=' is native, little on every machine this project builds for.
            big_endian: order == b'>',
        })
    }

    fn is_string(self) -> bool {
        matches!(self.kind, b'U' | b'S')
    }
}

impl<'a> Array<'a> {
    /// Parses a whole `.npy` file: the header, and the data's size against the shape.
    fn parse(bytes: &'a [u8]) -> std::result::Result<Array<'a>, String> {
        const MAGIC: &[u8] = b"\x93NUMPY";
        if bytes.len() < 10 || &bytes[..6] != MAGIC {
            return Err("not a .npy file (no \\x93NUMPY magic)".to_owned());
        }
        let (header_len, start): (usize, usize) = match bytes[6] {
            1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
            2 | 3 => {
                let b = bytes.get(8..12).ok_or("truncated header")?;
                (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
            }
            v => {
                return Err(format!(
                    ".npy format version {v} is not supported (1, 2 or 3)"
                ))
            }
        };
        let header = bytes
            .get(start..start.saturating_add(header_len))
            .ok_or_else(|| {
                format!(
                    "truncated: the header claims {header_len} bytes, {} are present",
                    bytes.len().saturating_sub(start)
                )
            })?;
        let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
        let dict = Header::parse(header)?;
        let dtype = DType::parse(&dict.descr)?;
        let too_large = || {
            format!(
                "shape {} of '{}' is larger than memory can hold",
                shape_text(&dict.shape),
                dict.descr
            )
        };
        let count = dict
            .shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(too_large)?;
        let data = &bytes[start + header_len..];
        let needed = count.checked_mul(dtype.size).ok_or_else(too_large)?;
        if data.len() != needed {
            return Err(format!(
                "shape {} of '{}' needs {needed} data bytes, the file has {} ({})",
                shape_text(&dict.shape),
                dict.descr,
                data.len(),
                if data.len() < needed {
                    "truncated"
                } else {
                    "trailing bytes"
                }
            ));
        }
        let fortran_strides = dict
            .shape
            .iter()
            .scan(1usize, |stride, &d| {
                let this = *stride;
                // Cannot overflow: the product of all dimensions was checked above.
                *stride *= d;
                Some(this)
            })
            .collect();
        Ok(Array {
            fortran_strides,
            shape: dict.shape,
            descr: dict.descr,
            dtype,
            fortran_order: dict.fortran_order,
            data,
        })
    }

    fn len(&self) -> usize {
        self.data.len() / self.dtype.size
    }

    /// The bytes of the element at C-order position `index` (< `len()`).
    fn item(&self, index: usize) -> &'a [u8] {
        let mut at = index;
        if self.fortran_order {
            // The same multi-index, counted with the first index fastest.
            let mut rest = index;
            at = 0;
            for (&d, &stride) in self.shape.iter().zip(&self.fortran_strides).rev() {
                at += (rest % d) * stride;
                rest /= d;
            }
        }
        &self.data[at * self.dtype.size..(at + 1) * self.dtype.size]
    }

    /// The number at C-order position `index` of a numeric array.
    fn number(&self, index: usize) -> Number {
        let item = self.item(index);
        let mut b = [0u8; 8];
        let word = if self.dtype.big_endian {
            b[8 - item.len()..].copy_from_slice(item);
            u64::from_be_bytes(b)
        } else {
            b[..item.len()].copy_from_slice(item);
            u64::from_le_bytes(b)
        };
        let bits = 8 * self.dtype.size as u32;
        match (self.dtype.kind, self.dtype.size) {
            (b'i', _) => Number::Int(i128::from(((word << (64 - bits)) as i64) >> (64 - bits))),
            (b'f', 4) => Number::Float(f64::from(f32::from_bits(word as u32))),
            (b'f', _) => Number::Float(f64::from_bits(word)),
            _ => Number::Int(i128::from(word)),
        }
    }

    /// The string at position `index` of a string array (trailing NULs removed, as NumPy
    /// pads them).
    fn string(&self, index: usize) -> std::result::Result<String, String> {
        let item = self.item(index);
        let text = if self.dtype.kind == b'S' {
            String::from_utf8(item.to_vec()).ok()
        } else {
            item.chunks_exact(4)
                .map(|c| {
                    let c = [c[0], c[1], c[2], c[3]];
                    char::from_u32(if self.dtype.big_endian {
                        u32::from_be_bytes(c)
                    } else {
                        u32::from_le_bytes(c)
                    })
                })
                .collect::<Option<String>>()
        };
        text.map(|s| s.trim_end_matches('\0').to_owned())
            .ok_or_else(|| format!("string at index {index} is not valid text"))
    }
}

fn shape_text(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The header dictionary: `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

impl Header {
    /// Parses the dictionary NumPy writes (a Python literal with exactly these three keys;
    /// a structured dtype, a list in `descr`, is refused).
    fn parse(text: &str) -> std::result::Result<Header, String> {
        let mut p = Parser { rest: text.trim() };
        let (mut descr, mut fortran, mut shape) = (None, None, None);
        p.expect('{')?;
        while !p.eat('}') {
            let key = p.string()?;
            p.expect(':')?;
            match key.as_str() {
                "descr" => {
                    p.skip_space();
                    if p.rest.starts_with('[') {
                        return Err("structured dtypes (records) are not supported".to_owned());
                    }
                    descr = Some(p.string()?);
                }
                "fortran_order" => fortran = Some(p.boolean()?),
                "shape" => shape = Some(p.tuple()?),
                other => return Err(format!("unexpected header key '{other}'")),
            }
            if !p.eat(',') {
                p.expect('}')?;
                break;
            }
        }
        let missing = |k: &str| format!("header has no '{k}'");
        Ok(Header {
            descr: descr.ok_or_else(|| missing("descr"))?,
            fortran_order: fortran.ok_or_else(|| missing("fortran_order"))?,
            shape: shape.ok_or_else(|| missing("shape"))?,
        })
    }
}

/// Just enough of a Python literal reader for a `.npy` header (no recursion, no allocation
/// beyond the header's own length).
struct Parser<'a> {
    rest: &'a str,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_space();
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, c: char) -> std::result::Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!(
                "malformed header: expected '{c}' before \"{}\"",
                self.near()
            ))
        }
    }

    fn near(&self) -> String {
        self.rest.chars().take(20).collect()
    }

    fn string(&mut self) -> std::result::Result<String, String> {
        self.skip_space();
        let quote = match self.rest.chars().next() {
            Some(q @ ('\'' | '"')) => q,
            _ => {
                return Err(format!(
                    "malformed header: expected a string at \"{}\"",
                    self.near()
                ))
            }
        };
        let body = &self.rest[1..];
        let end = body
            .find(quote)
            .ok_or("malformed header: unterminated string")?;
        self.rest = &body[end + 1..];
        Ok(body[..end].to_owned())
    }

    fn boolean(&mut self) -> std::result::Result<bool, String> {
        self.skip_space();
        for (word, value) in [("True", true), ("False", false)] {
            if let Some(rest) = self.rest.strip_prefix(word) {
                self.rest = rest;
                return Ok(value);
            }
        }
        Err(format!(
            "malformed header: expected True or False at \"{}\"",
            self.near()
        ))
    }

    fn tuple(&mut self) -> std::result::Result<Vec<usize>, String> {
        self.expect('(')?;
        let mut dims = Vec::new();
        while !self.eat(')') {
            let digits = self.rest.len()
                - self
                    .rest
                    .trim_start_matches(|c: char| c.is_ascii_digit())
                    .len();
            if digits == 0 {
                return Err(format!(
                    "malformed header: expected a dimension at \"{}\"",
                    self.near()
                ));
            }
            let dim = self.rest[..digits]
                .parse()
                .map_err(|_| format!("dimension {} is too large", &self.rest[..digits]))?;
            self.rest = &self.rest[digits..];
            // Python 2 headers write longs as `3L`.
            let _ = self.eat('L');
            dims.push(dim);
            if !self.eat(',') {
                self.expect(')')?;
                break;
            }
        }
        Ok(dims)
    }
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
