//! The `.npy` file format (NumPy's `format.py`, versions 1 to 3): the magic, the header
//! dictionary, the scalar types this reader knows, and the data in C or Fortran order.
//! Every size the header claims is checked against the bytes present before anything is
//! allocated; nothing here recurses or panics on bad bytes.

/// One array, decoded on demand from the file's bytes (so memory stays what the file
/// holds plus the table being built).
#[derive(Debug)]
pub(super) struct Array<'a> {
    /// As in the header (C order even when the data is stored in Fortran order).
    pub(super) shape: Vec<usize>,
    pub(super) descr: String,
    pub(super) dtype: DType,
    fortran_order: bool,
    /// Element strides of Fortran order (first index fastest), used when `fortran_order`.
    fortran_strides: Vec<usize>,
    /// `count * dtype.size` bytes.
    data: &'a [u8],
}

/// One element of a numeric array.
#[derive(Debug, Clone, Copy)]
pub(super) enum Number {
    Int(i128),
    Float(f64),
}

/// A NumPy scalar type: kind (`u`, `i`, `f`, `U`, `S`), item size in bytes, byte order.
#[derive(Debug, Clone, Copy)]
pub(super) struct DType {
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

    pub(super) fn is_string(self) -> bool {
        matches!(self.kind, b'U' | b'S')
    }
}

impl<'a> Array<'a> {
    /// Parses a whole `.npy` file: the header, and the data's size against the shape.
    pub(super) fn parse(bytes: &'a [u8]) -> std::result::Result<Array<'a>, String> {
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

    pub(super) fn len(&self) -> usize {
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
    pub(super) fn number(&self, index: usize) -> Number {
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
    pub(super) fn string(&self, index: usize) -> std::result::Result<String, String> {
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

pub(super) fn shape_text(shape: &[usize]) -> String {
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
