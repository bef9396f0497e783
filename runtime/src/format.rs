//! The model format, version 3: the types that are serialized, shared by writer and reader.
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

/// The format version this crate writes (and the newest it reads).
pub const FORMAT_VERSION: u16 = 3;

/// The oldest format version this crate reads: version 2 blobs (pixel input, no names) load
/// and predict bit for bit as they did in the runtime that wrote them.
pub const OLDEST_FORMAT_VERSION: u16 = 2;

/// The longest model or class name, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 255;

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

/// A model's input of raw `f32` features, and how each is standardized on the way in: the
/// value the model sees of raw feature `j` is `(raw[j] - offsets[j]) * scales[j]`, in f32
/// (the subtraction rounded, then the product). The trainer stores the training set's
/// per-feature mean as the offset and `1 / deviation` as the scale (1 for a constant
/// feature), so the device passes raw sensor values and never preprocesses by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FeatureSpec<'a> {
    /// `count` f32 values, little-endian: subtracted from each raw feature.
    pub offsets: &'a [u8],
    /// `count` f32 values, little-endian: multiply each feature after the subtraction.
    pub scales: &'a [u8],
}

impl FeatureSpec<'_> {
    /// Number of features (a valid model has as many offsets as scales).
    pub fn len(&self) -> usize {
        self.offsets.len() / 4
    }

    /// Whether there are no features at all (never true for a valid model).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The offset and scale of every feature, in order.
    pub fn transforms(&self) -> impl Iterator<Item = (f32, f32)> + '_ {
        let offsets = self.offsets.as_chunks::<4>().0.iter();
        let scales = self.scales.as_chunks::<4>().0.iter();
        offsets
            .zip(scales)
            .map(|(o, s)| (f32::from_le_bytes(*o), f32::from_le_bytes(*s)))
    }
}

/// What a model takes as input: `u8` pixels ([`Model::predict`](crate::Model::predict)) or
/// raw `f32` features ([`Model::predict_features`](crate::Model::predict_features)).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Input<'a> {
    /// An image of `u8` pixels (the only input of format version 2).
    Pixels(InputSpec),
    /// A vector of raw `f32` features, standardized in the model.
    #[serde(borrow)]
    Features(FeatureSpec<'a>),
}

impl Input<'_> {
    /// Number of input values: pixels or features.
    pub fn len(&self) -> u32 {
        match self {
            Input::Pixels(spec) => spec.len(),
            Input::Features(spec) => u32::try_from(spec.len()).unwrap_or(u32::MAX),
        }
    }

    /// Whether the input has no values at all (never true for a valid model).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pixels or features.
    pub fn kind(&self) -> InputKind {
        match self {
            Input::Pixels(_) => InputKind::Pixels,
            Input::Features(_) => InputKind::Features,
        }
    }

    /// The image description of a pixel model.
    pub fn pixels(&self) -> Option<&InputSpec> {
        match self {
            Input::Pixels(spec) => Some(spec),
            Input::Features(_) => None,
        }
    }

    /// The standardization of a feature model.
    pub fn features(&self) -> Option<&FeatureSpec<'_>> {
        match self {
            Input::Pixels(_) => None,
            Input::Features(spec) => Some(spec),
        }
    }
}

/// The kind of a model's input, and so the call that classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum InputKind {
    /// `u8` pixels: [`Model::predict`](crate::Model::predict).
    Pixels,
    /// Raw `f32` features: [`Model::predict_features`](crate::Model::predict_features).
    Features,
}

impl fmt::Display for InputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InputKind::Pixels => "pixels",
            InputKind::Features => "features",
        })
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
    /// Magic tag and version; [`Header::CURRENT`] when writing (the layout written is
    /// always the current version's).
    pub header: Header,
    /// The input: pixels or features.
    pub input: Input<'a>,
    /// Number of classes (the last layer's width).
    pub classes: u32,
    /// The model's name, if it has one: non-empty UTF-8 of at most [`MAX_NAME_LEN`] bytes.
    pub name: Option<&'a str>,
    /// No names, or one per class, in class order (each like [`name`](Self::name)).
    pub class_names: &'a [&'a str],
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
