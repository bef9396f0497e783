//! The crate's one error type.

use core::fmt;

use crate::format::ParamKind;

/// Everything that can go wrong while loading or running a model.
///
/// Loading validates the whole blob, so after [`Model::from_bytes`](crate::Model::from_bytes)
/// succeeds, running can only fail on the caller's side: a wrong input length or a scratch
/// buffer of the wrong kind or size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The blob is shorter than the smallest possible model (header plus checksum).
    Truncated,
    /// The blob does not start with the `TMLP` magic tag: it is not a tinymlp model.
    BadMagic,
    /// The blob is a tinymlp model of a format version this runtime does not read.
    UnsupportedVersion(u16),
    /// The CRC-32 at the end of the blob does not match its contents (a corrupt copy).
    ChecksumMismatch,
    /// The postcard encoding could not be decoded (a field ends early or holds an invalid value).
    Malformed,
    /// Bytes are left over between the last layer and the checksum.
    TrailingBytes,
    /// The model declares no layers.
    NoLayers,
    /// The model declares more layers than [`MAX_LAYERS`](crate::MAX_LAYERS).
    TooManyLayers(u32),
    /// A layer width or input size is zero or larger than [`MAX_WIDTH`](crate::MAX_WIDTH).
    WidthOutOfRange {
        /// Index of the layer (`u8::MAX` for the input description).
        layer: u8,
        /// The offending width.
        width: u32,
    },
    /// A layer's input count differs from the previous layer's output count (or the input size).
    ShapeMismatch {
        /// Index of the layer.
        layer: u8,
        /// What the previous layer (or the input) produces.
        expected: u32,
        /// What this layer declares.
        found: u32,
    },
    /// The last layer's width differs from the declared number of classes.
    ClassCountMismatch {
        /// Declared number of classes.
        classes: u32,
        /// Width of the last layer.
        outputs: u32,
    },
    /// A parameter array holds a different number of bytes than the layer's shape needs.
    ParameterSize {
        /// Index of the layer.
        layer: u8,
        /// Bytes the shape needs.
        expected: u32,
        /// Bytes present.
        found: u32,
    },
    /// Layers mix f32 and int8 parameters; a model is one kind throughout.
    MixedParameterKinds {
        /// Index of the first layer of another kind.
        layer: u8,
    },
    /// Softmax anywhere but the last layer, or ReLU on the last layer.
    InvalidActivation {
        /// Index of the layer.
        layer: u8,
    },
    /// A scale is zero, negative, NaN or infinite.
    InvalidScale {
        /// Index of the layer (`u8::MAX` for the input description).
        layer: u8,
    },
    /// A zero point lies outside the range of its integer type.
    InvalidZeroPoint {
        /// Index of the layer (`u8::MAX` for the input description).
        layer: u8,
    },
    /// A layer's input quantization differs from the previous layer's output quantization.
    QuantizationMismatch {
        /// Index of the layer.
        layer: u8,
    },
    /// A requantization multiplier is outside `[2^30, 2^31)` or a shift outside `[-31, 30]`.
    InvalidRequantization {
        /// Index of the layer.
        layer: u8,
    },
    /// A hidden int8 layer lacks requantization parameters, or the last layer has them.
    RequantizationPlacement {
        /// Index of the layer.
        layer: u8,
    },
    /// An f32 weight or bias is NaN or infinite.
    NonFiniteParameter {
        /// Index of the layer.
        layer: u8,
    },
    /// The input slice does not hold exactly the number of pixels the model expects.
    InputLength {
        /// Pixels the model expects.
        expected: u32,
        /// Pixels given.
        found: u32,
    },
    /// The scratch buffer is for the other parameter kind.
    ScratchKind {
        /// The model's kind.
        model: ParamKind,
        /// The scratch buffer's kind.
        scratch: ParamKind,
    },
    /// The scratch buffer is too small for this model.
    ScratchTooSmall {
        /// Widest hidden layer, or number of classes, the model needs.
        needed: u32,
        /// What the scratch buffer holds.
        capacity: u32,
    },
    /// The output buffer given to an encoder is too small.
    BufferTooSmall,
}

/// The crate's result type.
pub type Result<T> = core::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated => f.write_str("model blob is truncated"),
            Error::BadMagic => f.write_str("not a tinymlp model (bad magic tag)"),
            Error::UnsupportedVersion(v) => write!(
                f,
                "unsupported model format version {v} (this runtime reads version {})",
                crate::FORMAT_VERSION
            ),
            Error::ChecksumMismatch => f.write_str("model blob is corrupt (CRC-32 mismatch)"),
            Error::Malformed => f.write_str("model blob is malformed (postcard decoding failed)"),
            Error::TrailingBytes => {
                f.write_str("model blob has trailing bytes before its checksum")
            }
            Error::NoLayers => f.write_str("model has no layers"),
            Error::TooManyLayers(n) => write!(
                f,
                "model has {n} layers, more than the maximum of {}",
                crate::MAX_LAYERS
            ),
            Error::WidthOutOfRange { layer, width } => write!(
                f,
                "{}: width {width} is outside 1..={}",
                LayerName(layer),
                crate::MAX_WIDTH
            ),
            Error::ShapeMismatch {
                layer,
                expected,
                found,
            } => write!(
                f,
                "{}: takes {found} inputs but the previous stage produces {expected}",
                LayerName(layer)
            ),
            Error::ClassCountMismatch { classes, outputs } => write!(
                f,
                "model declares {classes} classes but its last layer has {outputs} outputs"
            ),
            Error::ParameterSize {
                layer,
                expected,
                found,
            } => write!(
                f,
                "{}: a parameter array holds {found} bytes, its shape needs {expected}",
                LayerName(layer)
            ),
            Error::MixedParameterKinds { layer } => write!(
                f,
                "{}: mixes f32 and int8 parameters in one model",
                LayerName(layer)
            ),
            Error::InvalidActivation { layer } => write!(
                f,
                "{}: softmax is only allowed on the last layer, ReLU not on the last layer",
                LayerName(layer)
            ),
            Error::InvalidScale { layer } => write!(
                f,
                "{}: a scale is zero, negative or not finite",
                LayerName(layer)
            ),
            Error::InvalidZeroPoint { layer } => {
                write!(f, "{}: a zero point is out of range", LayerName(layer))
            }
            Error::QuantizationMismatch { layer } => write!(
                f,
                "{}: input quantization differs from the previous stage's output",
                LayerName(layer)
            ),
            Error::InvalidRequantization { layer } => write!(
                f,
                "{}: a requantization multiplier or shift is out of range",
                LayerName(layer)
            ),
            Error::RequantizationPlacement { layer } => write!(
                f,
                "{}: hidden int8 layers need requantization, the last layer must have none",
                LayerName(layer)
            ),
            Error::NonFiniteParameter { layer } => {
                write!(
                    f,
                    "{}: a weight or bias is NaN or infinite",
                    LayerName(layer)
                )
            }
            Error::InputLength { expected, found } => {
                write!(f, "input has {found} pixels, the model expects {expected}")
            }
            Error::ScratchKind { model, scratch } => write!(
                f,
                "scratch buffer is for {scratch} models but this model is {model}"
            ),
            Error::ScratchTooSmall { needed, capacity } => write!(
                f,
                "scratch buffer holds {capacity} values, this model needs {needed}"
            ),
            Error::BufferTooSmall => {
                f.write_str("output buffer is too small for the encoded model")
            }
        }
    }
}

impl core::error::Error for Error {}

/// Formats a layer index, with `u8::MAX` standing for the input description.
struct LayerName(u8);

impl fmt::Display for LayerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == u8::MAX {
            f.write_str("input")
        } else {
            write!(f, "layer {}", self.0)
        }
    }
}
