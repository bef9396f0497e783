//! Reading a blob's fields: postcard's wire format for exactly the types of [`crate::format`],
//! by hand.
//!
//! Blobs are written by postcard's serializer (`ModelDef::encode_to_*`) and can be read with
//! postcard's serde deserializer too (the types derive `Deserialize`), but the loader reads
//! them with this cursor instead: the handful of wire rules `FORMAT.md` §1 lists, with
//! postcard's limits (a `u16` varint has at most 3 bytes and a `u32` one at most 5, the last
//! one not overflowing; an option tag is 0 or 1; an enum index names a variant). In a
//! `no_std` build it is a fraction of the code of the generic deserializer (see
//! `BENCHMARKS.md`), which matters on a microcontroller and in a web page. The unit tests
//! below check that it accepts and rejects exactly what postcard does, field for field, over
//! random models, the golden blobs and the fuzz corpus, with the last two differences below
//! built into the reference.
//!
//! One deliberate difference: lengths of byte arrays are read as `u32` varints on every
//! target, where postcard reads a `usize` (so a 64-bit postcard also takes a non-shortest
//! length of 6 to 10 bytes that a 32-bit one refuses). No writer produces those.
//!
//! Two more, both decisions of `FORMAT.md` (§1 and §2): every varint must be in its shortest
//! form (postcard's deserializer also takes `82 00` for 2; its serializer never writes it),
//! so one model has one encoding; and the input's width, height and channels are read as
//! `u32` varints like every other count, so that a width of 65,536 is refused as out of
//! range, as 4,097 is, rather than as undecodable.

use crate::format::{
    Activation, DenseLayer, F32Params, FeatureSpec, InputSpec, Int8Params, Params, Quantization,
    Requantization,
};

#[cfg(test)]
use crate::format::Header;
#[cfg(test)]
use serde::{Deserialize, Serialize};

/// Why a field could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireError {
    /// The bytes ended inside the field.
    End,
    /// The bytes are not a valid encoding of the field.
    Invalid,
    /// A varint is longer than its value needs; the reader is left at its first byte.
    NonShortest,
}

type Wire<T> = core::result::Result<T, WireError>;

/// The input description as the blob holds it: the three sizes are `u32` varints, wider
/// than [`InputSpec`]'s `u16` fields, so that an out-of-range size reaches validation.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(test, derive(Serialize, Deserialize))]
pub(crate) struct InputFields {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) channels: u32,
    pub(crate) scale: f32,
    pub(crate) zero_point: u8,
}

impl InputFields {
    /// `width · height · channels`, saturating at `u32::MAX`.
    pub(crate) fn len(&self) -> u32 {
        self.width
            .saturating_mul(self.height)
            .saturating_mul(self.channels)
    }

    /// The [`InputSpec`], once [`len`](Self::len) is known to be in `1..=MAX_WIDTH`: no
    /// size is 0 then, so none exceeds the product, and each fits a `u16`.
    pub(crate) fn spec(&self) -> InputSpec {
        InputSpec {
            width: self.width as u16,
            height: self.height as u16,
            channels: self.channels as u16,
            scale: self.scale,
            zero_point: self.zero_point,
        }
    }
}

/// The input as the blob holds it: version 3's enum (version 2 has only the pixels' fields).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(test, derive(Serialize, Deserialize))]
pub(crate) enum InputField<'a> {
    Pixels(InputFields),
    #[cfg_attr(test, serde(borrow))]
    Features(FeatureSpec<'a>),
}

/// A cursor over the bytes of a blob.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    /// Length of the whole input, so that an error can say where in the blob it is.
    len: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader {
            rest: bytes,
            len: bytes.len(),
        }
    }

    /// The reader `n` bytes further on (at the end if there are fewer).
    pub(crate) fn skip(mut self, n: usize) -> Self {
        self.rest = self.rest.get(n..).unwrap_or_default();
        self
    }

    /// Where the reader is in its input: after a refused varint, where that varint starts.
    pub(crate) fn offset(&self) -> u32 {
        self.len.saturating_sub(self.rest.len()) as u32
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// The whole header: what [`magic`](Self::magic), [`version`](Self::version) and
    /// [`length`](Self::length) read one after the other.
    #[cfg(test)]
    #[cfg(test)]
    pub(crate) fn header(&mut self) -> Wire<Header> {
        Ok(Header {
            magic: self.magic()?,
            version: self.version()?,
            length: self.length()?,
        })
    }

    pub(crate) fn magic(&mut self) -> Wire<[u8; 4]> {
        self.array()
    }

    pub(crate) fn version(&mut self) -> Wire<u16> {
        self.u16()
    }

    /// The header's fixed 4-byte little-endian length.
    pub(crate) fn length(&mut self) -> Wire<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn input_spec(&mut self) -> Wire<InputFields> {
        Ok(InputFields {
            width: self.u32()?,
            height: self.u32()?,
            channels: self.u32()?,
            scale: self.f32()?,
            zero_point: self.byte()?,
        })
    }

    /// Version 3's input: a variant index, then the pixels' or the features' fields.
    pub(crate) fn input(&mut self) -> Wire<InputField<'a>> {
        match self.u32()? {
            0 => Ok(InputField::Pixels(self.input_spec()?)),
            1 => Ok(InputField::Features(FeatureSpec {
                offsets: self.bytes()?,
                scales: self.bytes()?,
            })),
            _ => Err(WireError::Invalid),
        }
    }

    /// An `Option` of a byte array (a name, not yet checked to be UTF-8).
    pub(crate) fn optional_bytes(&mut self) -> Wire<Option<&'a [u8]>> {
        match self.byte()? {
            0 => Ok(None),
            1 => Ok(Some(self.bytes()?)),
            _ => Err(WireError::Invalid),
        }
    }

    pub(crate) fn u32(&mut self) -> Wire<u32> {
        self.varint(5, 0x0f)
    }

    pub(crate) fn dense_layer(&mut self) -> Wire<DenseLayer<'a>> {
        Ok(DenseLayer {
            inputs: self.u32()?,
            outputs: self.u32()?,
            activation: match self.u32()? {
                0 => Activation::None,
                1 => Activation::Relu,
                2 => Activation::Softmax,
                _ => return Err(WireError::Invalid),
            },
            params: match self.u32()? {
                0 => Params::F32(F32Params {
                    weights: self.bytes()?,
                    bias: self.bytes()?,
                }),
                1 => Params::Int8(Int8Params {
                    input: self.quantization()?,
                    weights: self.bytes()?,
                    weight_scales: self.bytes()?,
                    bias: self.bytes()?,
                    requantization: match self.byte()? {
                        0 => None,
                        1 => Some(Requantization {
                            multipliers: self.bytes()?,
                            shifts: self.bytes()?,
                            output: self.quantization()?,
                        }),
                        _ => return Err(WireError::Invalid),
                    },
                }),
                _ => return Err(WireError::Invalid),
            },
        })
    }

    fn quantization(&mut self) -> Wire<Quantization> {
        Ok(Quantization {
            scale: self.f32()?,
            zero_point: self.i32()?,
        })
    }

    fn byte(&mut self) -> Wire<u8> {
        let (&byte, rest) = self.rest.split_first().ok_or(WireError::End)?;
        self.rest = rest;
        Ok(byte)
    }

    fn array<const N: usize>(&mut self) -> Wire<[u8; N]> {
        let (array, rest) = self.rest.split_first_chunk::<N>().ok_or(WireError::End)?;
        self.rest = rest;
        Ok(*array)
    }

    /// A byte array: a `u32` length, then the bytes, borrowed.
    pub(crate) fn bytes(&mut self) -> Wire<&'a [u8]> {
        let len = self.u32()? as usize;
        let (bytes, rest) = self.rest.split_at_checked(len).ok_or(WireError::End)?;
        self.rest = rest;
        Ok(bytes)
    }

    fn u16(&mut self) -> Wire<u16> {
        // At most 3 bytes, the last holding the top 2 bits: the value fits.
        self.varint(3, 0b11).map(|value| value as u16)
    }

    fn i32(&mut self) -> Wire<i32> {
        let zigzag = self.u32()?;
        Ok((zigzag >> 1) as i32 ^ -((zigzag & 1) as i32))
    }

    fn f32(&mut self) -> Wire<f32> {
        Ok(f32::from_le_bytes(self.array()?))
    }

    /// A LEB128 varint of at most `max_bytes` bytes whose last byte is at most `last_max`,
    /// as postcard's `try_take_varint_u{16,32}` reads it, and in its shortest form: a last
    /// byte of 0 after others (`80 00` for 0, `82 00` for 2) is refused, where postcard takes it.
    fn varint(&mut self, max_bytes: u32, last_max: u8) -> Wire<u32> {
        let start = self.rest;
        let mut value = 0u32;
        for index in 0..max_bytes {
            let byte = self.byte()?;
            value |= u32::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                return if index + 1 == max_bytes && byte > last_max {
                    Err(WireError::Invalid)
                } else if index > 0 && byte == 0 {
                    // The varint's `index + 1` bytes were read: it started that far back.
                    // Left unread, so that the reader's offset names it.
                    self.rest = start;
                    Err(WireError::NonShortest)
                } else {
                    Ok(value)
                };
            }
        }
        Err(WireError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Input;
    use serde::{Deserialize, Serialize};
    use std::vec::Vec;

    /// What one decoder made of a blob's fields, up to the first field it could not read.
    #[derive(Debug, PartialEq)]
    struct Decoded<'a> {
        header: Option<Header>,
        input: Option<InputField<'a>>,
        classes: Option<u32>,
        /// Version 3: the model name, if any.
        name: Option<Option<&'a [u8]>>,
        /// Version 3: the class names.
        class_names: Option<Vec<&'a [u8]>>,
        count: Option<u32>,
        layers: Vec<DenseLayer<'a>>,
        /// Whether every field read (or, if not, where the reading stopped).
        rest: Option<&'a [u8]>,
    }

    /// The fields in blob order, read by the given readers (`$input2` for version 2's
    /// input, `$input3` for version 3's), stopping at the first failure.
    macro_rules! decode_with {
        ($bytes:expr, $header:expr, $input2:expr, $input3:expr, $u32:expr, $name:expr, $class_names:expr, $layer:expr) => {{
            let mut decoded = Decoded {
                header: None,
                input: None,
                classes: None,
                name: None,
                class_names: None,
                count: None,
                layers: Vec::new(),
                rest: None,
            };
            let mut rest: &[u8] = $bytes;
            'read: {
                let Some((header, r)) = $header(rest) else {
                    break 'read;
                };
                decoded.header = Some(header);
                let version_2 = header.version == 2;
                let input = if version_2 {
                    $input2(r).map(|(input, r)| (InputField::Pixels(input), r))
                } else {
                    $input3(r)
                };
                let Some((input, r)) = input else {
                    break 'read;
                };
                decoded.input = Some(input);
                let Some((classes, mut r)) = $u32(r) else {
                    break 'read;
                };
                decoded.classes = Some(classes);
                if !version_2 {
                    let Some((name, r2)) = $name(r) else {
                        break 'read;
                    };
                    decoded.name = Some(name);
                    let Some((class_names, r2)) = $class_names(r2) else {
                        break 'read;
                    };
                    decoded.class_names = Some(class_names);
                    r = r2;
                }
                let Some((count, r)) = $u32(r) else {
                    break 'read;
                };
                decoded.count = Some(count);
                rest = r;
                for _ in 0..count.min(16) {
                    let Some((layer, r)) = $layer(rest) else {
                        break 'read;
                    };
                    decoded.layers.push(layer);
                    rest = r;
                }
                decoded.rest = Some(rest);
            }
            decoded
        }};
    }

    /// The reference: postcard's deserializer, restricted to the encodings its serializer
    /// writes. Postcard reads non-shortest varints (`82 00` as 2) that the format refuses
    /// (`FORMAT.md` §1), so a field counts as read only if postcard's own encoding of the
    /// value it read is exactly the bytes it consumed, which for these types fails only on a
    /// varint longer than needed.
    fn by_postcard<'a, T: Deserialize<'a> + Serialize>(bytes: &'a [u8]) -> Option<(T, &'a [u8])> {
        let (value, rest) = postcard::take_from_bytes::<T>(bytes).ok()?;
        let consumed = &bytes[..bytes.len() - rest.len()];
        let mut buffer = std::vec![0; consumed.len() + 16];
        let written = postcard::to_slice(&value, &mut buffer).ok()?;
        (written == consumed).then_some((value, rest))
    }

    fn by_reader<'a, T>(
        bytes: &'a [u8],
        read: impl FnOnce(&mut Reader<'a>) -> Wire<T>,
    ) -> Option<(T, &'a [u8])> {
        let mut reader = Reader::new(bytes);
        let value = read(&mut reader).ok()?;
        Some((value, reader.rest()))
    }

    fn check_same_as_postcard(bytes: &[u8]) {
        let postcard = decode_with!(
            bytes,
            by_postcard::<Header>,
            by_postcard::<InputFields>,
            by_postcard::<InputField>,
            by_postcard::<u32>,
            by_postcard::<Option<&[u8]>>,
            by_postcard::<Vec<&[u8]>>,
            by_postcard::<DenseLayer>
        );
        let reader = decode_with!(
            bytes,
            |b| by_reader(b, Reader::header),
            |b| by_reader(b, Reader::input_spec),
            |b| by_reader(b, Reader::input),
            |b| by_reader(b, Reader::u32),
            |b| by_reader(b, Reader::optional_bytes),
            |b| by_reader(b, |r: &mut Reader<'_>| {
                let count = r.u32()?;
                (0..count).map(|_| r.bytes()).collect::<Wire<Vec<_>>>()
            }),
            |b| by_reader(b, Reader::dense_layer)
        );
        // NaN parameters compare unequal: compare through the debug form, which prints them.
        assert_eq!(
            std::format!("{reader:?}"),
            std::format!("{postcard:?}"),
            "{bytes:02x?}"
        );
    }

    fn encode(def: &crate::ModelDef<'_>) -> Vec<u8> {
        let mut buffer = std::vec![0; def.encoded_len().unwrap()];
        let len = def.encode_to_slice(&mut buffer).unwrap().len();
        buffer.truncate(len);
        buffer
    }

    #[test]
    fn reads_what_postcard_reads_from_the_fuzz_corpus_and_models() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = 0;
        for entry in std::fs::read_dir(root.join("fuzz/corpus/loader")).unwrap() {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            // The first byte is the fuzz target's mode; the rest starts like a blob.
            check_same_as_postcard(data.get(1..).unwrap_or_default());
            files += 1;
        }
        assert!(files > 100, "the corpus is there");
        for model in ["mnist-int8.tmlp", "mnist-f32.tmlp"] {
            if let Ok(blob) = std::fs::read(root.join("../models").join(model)) {
                check_same_as_postcard(&blob);
            }
        }
    }

    #[test]
    fn reads_what_postcard_reads_from_every_cut_and_every_byte_value_of_a_blob() {
        let weights = [1u8, 0x80, 0x7f, 0xff, 3, 4];
        let scales = 0.5f32.to_le_bytes().repeat(3);
        let bias = [9u8; 12];
        let multipliers = (1i32 << 30).to_le_bytes().repeat(3);
        let layers = [DenseLayer {
            inputs: 2,
            outputs: 3,
            activation: Activation::Relu,
            params: Params::Int8(Int8Params {
                input: Quantization {
                    scale: 0.25,
                    zero_point: -77,
                },
                weights: &weights,
                weight_scales: &scales,
                bias: &bias,
                requantization: Some(Requantization {
                    multipliers: &multipliers,
                    shifts: &[0xfe, 0xfd, 0],
                    output: Quantization {
                        scale: 0.125,
                        zero_point: 300,
                    },
                }),
            }),
        }];
        let def = crate::ModelDef {
            header: Header::CURRENT,
            input: Input::Pixels(InputSpec {
                width: 300,
                height: 1,
                channels: 40000,
                scale: 1.0,
                zero_point: 7,
            }),
            classes: 1 << 20,
            name: Some("ab"),
            class_names: &["x", "y\u{e9}"],
            layers: &layers,
        };
        let f32_weights = [0x3fu8; 8];
        let f32_layers = [DenseLayer {
            inputs: 1,
            outputs: 2,
            activation: Activation::Softmax,
            params: Params::F32(F32Params {
                weights: &f32_weights,
                bias: &f32_weights,
            }),
        }];
        let offsets = [0x40u8; 8];
        let f32_def = crate::ModelDef {
            input: Input::Features(FeatureSpec {
                offsets: &offsets,
                scales: &f32_weights,
            }),
            name: None,
            class_names: &[],
            layers: &f32_layers,
            ..def
        };
        let unnamed = crate::ModelDef {
            name: None,
            class_names: &[],
            ..def
        };
        for blob in [encode(&def), encode(&f32_def), version_2(&encode(&unnamed))] {
            check_every_cut_and_byte_value(&blob);
        }
    }

    /// The version 2 blob of a version 3 pixel model without names: no input variant index,
    /// no names.
    fn version_2(blob: &[u8]) -> Vec<u8> {
        let mut reader = Reader::new(blob).skip(10);
        reader.input_spec().unwrap();
        reader.u32().unwrap();
        let names_at = blob.len() - reader.rest().len();
        assert_eq!(blob[names_at..names_at + 2], [0, 0], "no names");
        let mut v2 = [&blob[..4], &[2, 0, 0, 0, 0], &blob[10..names_at]].concat();
        v2.extend_from_slice(&blob[names_at + 2..blob.len() - 4]);
        let length = (v2.len() + 4) as u32;
        v2[5..9].copy_from_slice(&length.to_le_bytes());
        let crc = crate::CRC.checksum(&v2);
        v2.extend_from_slice(&crc.to_le_bytes());
        v2
    }

    fn check_every_cut_and_byte_value(blob: &[u8]) {
        for cut in 0..=blob.len() {
            check_same_as_postcard(&blob[..cut]);
        }
        for at in 0..blob.len() {
            for value in 0..=u8::MAX {
                let mut changed = blob.to_vec();
                changed[at] = value;
                check_same_as_postcard(&changed);
            }
        }
    }

    #[test]
    fn varint_limits_are_postcards() {
        let u32_of = |bytes: &[u8]| Reader::new(bytes).u32();
        assert_eq!(u32_of(&[0x80, 0x80, 0x80, 0x80, 0x0f]), Ok(0xf000_0000));
        assert_eq!(u32_of(&[0xff, 0xff, 0xff, 0xff, 0x0f]), Ok(u32::MAX));
        assert_eq!(
            u32_of(&[0x80, 0x80, 0x80, 0x80, 0x10]),
            Err(WireError::Invalid)
        );
        assert_eq!(
            u32_of(&[0x80, 0x80, 0x80, 0x80, 0x80]),
            Err(WireError::Invalid)
        );
        assert_eq!(u32_of(&[0x80, 0x80]), Err(WireError::End));
        assert_eq!(Reader::new(&[0xff, 0xff, 0x03]).u16(), Ok(u16::MAX));
        assert_eq!(
            Reader::new(&[0xff, 0xff, 0x04]).u16(),
            Err(WireError::Invalid)
        );
        assert!(postcard::from_bytes::<u32>(&[0x80, 0x80, 0x80, 0x80, 0x10]).is_err());
        assert!(postcard::from_bytes::<u16>(&[0xff, 0xff, 0x04]).is_err());
    }

    #[test]
    fn only_shortest_varints_are_read_where_postcard_reads_any() {
        // The value, and where the reader is left.
        let at_offset_1 = |bytes: &[u8]| {
            let mut reader = Reader::new(bytes);
            reader.byte().unwrap();
            (reader.u32(), reader.offset())
        };
        for longer in [
            &[0, 0x80, 0x00][..],
            &[0, 0x82, 0x00],
            &[0, 0xff, 0x00],
            &[0, 0x80, 0x81, 0x00],
            &[0, 0x80, 0x80, 0x80, 0x80, 0x00],
        ] {
            assert_eq!(at_offset_1(longer), (Err(WireError::NonShortest), 1));
            assert!(postcard::from_bytes::<u32>(&longer[1..]).is_ok());
        }
        assert_eq!(at_offset_1(&[0, 0x80, 0x01]), (Ok(128), 3));
        assert_eq!(at_offset_1(&[0, 0x00]), (Ok(0), 2));
        assert_eq!(
            Reader::new(&[0x82, 0x00]).u16(),
            Err(WireError::NonShortest)
        );
        assert_eq!(
            Reader::new(&[0x82, 0x00]).i32(),
            Err(WireError::NonShortest)
        );
    }
}
