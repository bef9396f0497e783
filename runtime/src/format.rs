//! The model format, version 2: the types that are serialized, shared by writer and reader.
//!
//! `runtime/FORMAT.md` describes the byte layout field by field. A blob is the postcard
//! encoding of [`ModelDef`] followed by a little-endian CRC-32 (iSCSI polynomial) of all
//! preceding bytes, exactly what `postcard::to_slice_crc32` produces. Postcard's serializer
//! writes blobs; the loader reads them with a small cursor over the same wire format
//! (`decode.rs`, checked against postcard's deserializer), and the types also derive
//! `Deserialize` for programs that want postcard's.
//!
//! Parameter arrays are raw little-endian bytes (`&[u8]`), borrowed from the blob, so a model
//! in flash is used where it lies. Weight matrices are input-major (`[inputs][outputs]`, the
//! layout of a Keras `Dense` kernel): row `j` holds the weights that input `j` contributes
//! to every output, which lets the kernels skip zero-valued inputs.

use core::fmt;

use serde::{Deserialize, Serialize};

/// The four bytes every model blob starts with.
pub const MAGIC: [u8; 4] = *b"TMLP";

/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u16 = 2;

/// The most dense layers a model may have.
pub const MAX_LAYERS: usize = 8;

/// The largest input size or layer width a model may declare.
pub const MAX_WIDTH: u32 = 4096;

/// The CRC appended to every blob: CRC-32/iSCSI (Castagnoli), as postcard's `use-crc` computes.
pub const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// Bytes of the CRC-32 at the end of every blob.
pub const CHECKSUM_LEN: usize = 4;

/// What every blob starts with, decoded first so a wrong or future file is named as such.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`MAGIC`].
    pub magic: [u8; 4],
    /// The format version, [`FORMAT_VERSION`] for this crate.
    pub version: u16,
    /// Length of the whole blob in bytes, checksum included, as a fixed 4-byte little-endian
    /// integer so the writer can fill it in without changing the size. It names truncation
    /// as such, and lets a blob sit in a larger (padded) flash region.
    #[serde(with = "postcard::fixint::le")]
    pub length: u32,
}

impl Header {
    /// The header of a blob written by this crate.
    /// `length` is filled in by the encoder.
    pub const CURRENT: Header = Header {
        magic: MAGIC,
        version: FORMAT_VERSION,
        length: 0,
    };
}

/// The model's input: an image of `u8` pixels and how pixels map to real values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct InputSpec {
    /// Image width in pixels.
    pub width: u16,
    /// Image height in pixels.
    pub height: u16,
    /// Channels per pixel (1 for grey levels).
    pub channels: u16,
    /// The real value of pixel `p` is `(p - zero_point) * scale` (MNIST: `1/255` and `0`).
    pub scale: f32,
    /// Pixel value that stands for real zero.
    pub zero_point: u8,
}

impl InputSpec {
    /// Number of input values: `width * height * channels`, saturating at `u32::MAX` (which
    /// the loader rejects as wider than [`MAX_WIDTH`]).
    pub fn len(&self) -> u32 {
        u32::from(self.width)
            .saturating_mul(u32::from(self.height))
            .saturating_mul(u32::from(self.channels))
    }

    /// Whether the input has no values at all (never true for a valid model).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The activation applied after a dense layer's affine map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Activation {
    /// Identity (logits when on the last layer).
    None,
    /// `max(0, x)`; hidden layers only.
    Relu,
    /// Softmax over the outputs; last layer only.
    Softmax,
}

/// The numeric kind of a layer's (and so a model's) parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ParamKind {
    /// 32-bit float weights and biases.
    F32,
    /// int8 weights, int32 biases, fixed-point requantization.
    Int8,
}

impl fmt::Display for ParamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParamKind::F32 => "f32",
            ParamKind::Int8 => "int8",
        })
    }
}

/// An affine quantization: the real value of `q` is `(q - zero_point) * scale`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Quantization {
    /// Size of one quantization step; finite and positive.
    pub scale: f32,
    /// The integer that stands for real zero (`0..=255` for the model input, `-128..=127`
    /// for int8 activations).
    pub zero_point: i32,
}

/// f32 parameters of a dense layer, as little-endian bytes borrowed from the blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct F32Params<'a> {
    /// `inputs * outputs` f32 values, input-major.
    pub weights: &'a [u8],
    /// `outputs` f32 values.
    pub bias: &'a [u8],
}

/// Fixed-point requantization of a hidden int8 layer's int32 accumulators to int8.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Requantization<'a> {
    /// `outputs` i32 values in `[2^30, 2^31)`: `input_scale * weight_scale[k] / output.scale`
    /// as a Q31 fraction, with [`shifts`](Self::shifts) as its power-of-two exponent.
    pub multipliers: &'a [u8],
    /// `outputs` i8 values in `[-31, 30]`: left shift if positive, right shift if negative.
    pub shifts: &'a [u8],
    /// Quantization of the layer's int8 output (the next layer's input).
    pub output: Quantization,
}

/// int8 parameters of a dense layer (the TFLite Micro / CMSIS-NN scheme).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Int8Params<'a> {
    /// Quantization of this layer's input: the model input's for the first layer, else the
    /// previous layer's output quantization.
    pub input: Quantization,
    /// `inputs * outputs` i8 values, input-major, symmetric (zero point 0).
    pub weights: &'a [u8],
    /// `outputs` f32 values: the scale of each output channel's weights.
    pub weight_scales: &'a [u8],
    /// `outputs` i32 values at scale `input.scale * weight_scale[k]`, with the input zero
    /// point folded in: `round(b[k] / (input.scale * weight_scale[k])) - input.zero_point *
    /// Σ_j W[j][k]` (see [`fold_input_zero_point`]), so that the kernels multiply the raw
    /// inputs.
    pub bias: &'a [u8],
    /// Present on hidden layers, absent on the last layer (whose int32 accumulators are
    /// turned into float logits for the softmax).
    pub requantization: Option<Requantization<'a>>,
}

/// Folds an int8 layer's input zero point into its int32 bias, as the format stores it:
/// `bias[k] -= zero_point * Σ_j W[j][k]`, for input-major int8 `weights` with `bias.len()`
/// outputs.
///
/// Then `bias[k] + Σ_j x[j]·W[j][k]` over the raw inputs `x` equals the affine sum over the
/// centred inputs `x[j] - zero_point`, and no kernel subtracts anything per input. Leaves
/// `bias` unchanged and returns the first output whose bias would overflow an `i32`.
pub fn fold_input_zero_point(
    bias: &mut [i32],
    weights: &[i8],
    zero_point: i32,
) -> core::result::Result<(), usize> {
    let outputs = bias.len();
    if outputs == 0 {
        return Ok(());
    }
    let column_sum = |k: usize| -> i64 {
        weights
            .iter()
            .skip(k)
            .step_by(outputs)
            .map(|&w| i64::from(w))
            .sum()
    };
    let folded =
        |k: usize, b: i32| i32::try_from(i64::from(b) - i64::from(zero_point) * column_sum(k));
    // Checked first, so that an overflow leaves `bias` as it was.
    if let Some(k) = (0..outputs).find(|&k| bias.get(k).is_some_and(|&b| folded(k, b).is_err())) {
        return Err(k);
    }
    for (k, b) in bias.iter_mut().enumerate() {
        *b = folded(k, *b).unwrap_or(*b);
    }
    Ok(())
}

/// The parameters of a dense layer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Params<'a> {
    /// f32 weights and bias.
    #[serde(borrow)]
    F32(F32Params<'a>),
    /// int8 weights, int32 bias and requantization.
    #[serde(borrow)]
    Int8(Int8Params<'a>),
}

impl Params<'_> {
    /// The numeric kind of these parameters.
    pub fn kind(&self) -> ParamKind {
        match self {
            Params::F32(_) => ParamKind::F32,
            Params::Int8(_) => ParamKind::Int8,
        }
    }
}

/// One dense (fully connected) layer: `activation(x · W + b)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DenseLayer<'a> {
    /// Number of inputs.
    pub inputs: u32,
    /// Number of outputs.
    pub outputs: u32,
    /// Activation after the affine map.
    pub activation: Activation,
    /// Weights and bias.
    #[serde(borrow)]
    pub params: Params<'a>,
}

/// A whole model as it is written: the value whose postcard encoding (plus CRC) is a blob.
///
/// The reader decodes the same fields in the same order, one at a time, so that each kind
/// of malformed blob gets its own [`Error`](crate::Error).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ModelDef<'a> {
    /// Magic tag and version; [`Header::CURRENT`] when writing.
    pub header: Header,
    /// The input image.
    pub input: InputSpec,
    /// Number of classes (the last layer's width).
    pub classes: u32,
    /// The layers, first to last.
    pub layers: &'a [DenseLayer<'a>],
}

impl ModelDef<'_> {
    /// Encodes the model into `buf` and returns the blob's bytes (a prefix of `buf`).
    ///
    /// The header's `length` is filled in here; whatever the caller put there is ignored.
    pub fn encode_to_slice<'b>(&self, buf: &'b mut [u8]) -> crate::Result<&'b mut [u8]> {
        let length =
            u32::try_from(self.encoded_len()?).map_err(|_| crate::Error::BufferTooSmall)?;
        let model = ModelDef {
            header: Header {
                length,
                ..self.header
            },
            ..*self
        };
        postcard::to_slice_crc32(&model, buf, CRC.digest())
            .map_err(|_| crate::Error::BufferTooSmall)
    }

    /// Encodes the model into a new vector.
    #[cfg(feature = "alloc")]
    pub fn encode_to_vec(&self) -> crate::Result<alloc::vec::Vec<u8>> {
        let size = self.encoded_len()?;
        let mut buf = alloc::vec![0; size];
        let written = self.encode_to_slice(&mut buf)?.len();
        buf.truncate(written);
        Ok(buf)
    }

    /// Length in bytes of the encoded blob, checksum included.
    pub fn encoded_len(&self) -> crate::Result<usize> {
        let body = postcard::experimental::serialized_size(self)
            .map_err(|_| crate::Error::BufferTooSmall)?;
        Ok(body + CHECKSUM_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::fold_input_zero_point;

    #[test]
    fn folded_bias_over_raw_inputs_equals_bias_over_centred_inputs() {
        // 3 inputs, 2 outputs, input-major.
        let weights: [i8; 6] = [5, -7, -128, 127, 9, 0];
        let (bias, zero_point) = ([100, -200], -128);
        let mut folded = bias;
        fold_input_zero_point(&mut folded, &weights, zero_point).unwrap();
        let raw: [i32; 3] = [-128, 17, 127];
        for k in 0..2 {
            let centred: i32 = (0..3)
                .map(|j| (raw[j] - zero_point) * i32::from(weights[j * 2 + k]))
                .sum::<i32>()
                + bias[k];
            let from_raw: i32 = (0..3)
                .map(|j| raw[j] * i32::from(weights[j * 2 + k]))
                .sum::<i32>()
                + folded[k];
            assert_eq!(from_raw, centred, "output {k}");
        }
    }

    #[test]
    fn an_overflowing_fold_names_the_output_and_changes_nothing() {
        let weights: [i8; 4] = [1, -1, 1, -1];
        let mut bias = [0, i32::MAX - 1];
        assert_eq!(fold_input_zero_point(&mut bias, &weights, 1), Err(1));
        assert_eq!(bias, [0, i32::MAX - 1]);
        let mut none: [i32; 0] = [];
        assert_eq!(fold_input_zero_point(&mut none, &weights, 5), Ok(()));
    }
}
