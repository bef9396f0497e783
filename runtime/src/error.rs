//! The crate's one error type.

use core::fmt;

use crate::format::{InputKind, ParamKind};

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
    /// A varint is longer than its value needs (`80 00` for 0): the format allows one
    /// encoding per model, the shortest.
    NonShortestVarint {
        /// Offset in the blob of the varint's first byte.
        offset: u32,
    },
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
    /// A layer's parameters are so large that an output could overflow f32 (an f32 layer
    /// whose output bound exceeds `2^126`, or a last int8 layer whose logit scale
    /// `input.scale · weight_scales[k]` exceeds `2^96`; `FORMAT.md` §4).
    OutputOverflow {
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
    /// A batch of inputs is not a whole number of inputs.
    BatchLength {
        /// Pixels of one input.
        input: u32,
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
    /// A feature's offset or scale (the standardization a feature model carries) is NaN or
    /// infinite.
    NonFiniteFeatureTransform {
        /// Index of the feature.
        feature: u32,
    },
    /// The model name is empty, longer than [`MAX_NAME_LEN`](crate::MAX_NAME_LEN) bytes or
    /// not UTF-8.
    InvalidModelName,
    /// A class name is empty, longer than [`MAX_NAME_LEN`](crate::MAX_NAME_LEN) bytes or not
    /// UTF-8.
    InvalidClassName {
        /// Index of the class.
        class: u32,
    },
    /// The model names some of its classes: it must name none or all.
    ClassNameCount {
        /// Class names in the blob.
        names: u32,
        /// Declared number of classes.
        classes: u32,
    },
    /// `predict` was called on a feature model, or `predict_features` on a pixel model.
    WrongInputKind {
        /// What the model takes.
        model: InputKind,
    },
    /// A raw feature is NaN or infinite, or so far from the training data that its
    /// standardized value is.
    NonFiniteFeature {
        /// Index of the feature.
        index: u32,
    },
    /// Raw features so far outside the training range that an f32 model's output is not
    /// finite.
    NonFiniteOutput,
}

/// The crate's result type.
pub type Result<T> = core::result::Result<T, Error>;

/// The text is [`Error::template`] filled in: the templates are the one source of every
/// message (the wasm module sends them to its JS side unformatted, so it links no `core::fmt`).
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (template, values) = self.template();
        let mut values = values.into_iter();
        let mut rest = template;
        while let Some((text, after)) = rest.split_once('{') {
            f.write_str(text)?;
            let (placeholder, after) = after.split_once('}').unwrap_or((after, ""));
            let value = values.next().unwrap_or(0);
            match placeholder {
                "layer" if value == u32::from(u8::MAX) => f.write_str("input")?,
                "layer" => write!(f, "layer {value}")?,
                "kind" if value == 0 => f.write_str("f32")?,
                "kind" => f.write_str("int8")?,
                _ => write!(f, "{value}")?,
            }
            rest = after;
        }
        f.write_str(rest)
    }
}

impl core::error::Error for Error {}

impl Error {
    /// The [`Display`](fmt::Display) text as a static template and the numbers it names,
    /// without `core::fmt`: for builds where formatting code costs too much (the wasm
    /// module reports errors this way and its JS side fills the template in).
    ///
    /// In the template, each `{}` stands for the next number in decimal, `{layer}` for the
    /// next number as a layer name (`input` for `u8::MAX`, else `layer N`) and `{kind}` for
    /// the next number as a parameter kind (0 `f32`, 1 `int8`). Numbers the template does not
    /// use are 0. `Display` is this template filled in, so the two cannot drift apart.
    pub fn template(&self) -> (&'static str, [u32; 3]) {
        let kind = |kind: ParamKind| match kind {
            ParamKind::F32 => 0,
            ParamKind::Int8 => 1,
        };
        match *self {
            Error::Truncated => ("model blob is truncated", [0; 3]),
            Error::BadMagic => ("not a tinymlp model (bad magic tag)", [0; 3]),
            Error::UnsupportedVersion(v) => (
                "unsupported model format version {} (this runtime reads versions {} to {})",
                [
                    u32::from(v),
                    u32::from(crate::OLDEST_FORMAT_VERSION),
                    u32::from(crate::FORMAT_VERSION),
                ],
            ),
            Error::ChecksumMismatch => ("model blob is corrupt (CRC-32 mismatch)", [0; 3]),
            Error::Malformed => ("model blob is malformed (postcard decoding failed)", [0; 3]),
            Error::NonShortestVarint { offset } => (
                "model blob has a non-shortest varint at byte {}",
                [offset, 0, 0],
            ),
            Error::TrailingBytes => ("model blob has trailing bytes before its checksum", [0; 3]),
            Error::NoLayers => ("model has no layers", [0; 3]),
            Error::TooManyLayers(n) => (
                "model has {} layers, more than the maximum of {}",
                [n, crate::MAX_LAYERS as u32, 0],
            ),
            Error::WidthOutOfRange { layer, width } => (
                "{layer}: width {} is outside 1..={}",
                [u32::from(layer), width, crate::MAX_WIDTH],
            ),
            Error::ShapeMismatch {
                layer,
                expected,
                found,
            } => (
                "{layer}: takes {} inputs but the previous stage produces {}",
                [u32::from(layer), found, expected],
            ),
            Error::ClassCountMismatch { classes, outputs } => (
                "model declares {} classes but its last layer has {} outputs",
                [classes, outputs, 0],
            ),
            Error::ParameterSize {
                layer,
                expected,
                found,
            } => (
                "{layer}: a parameter array holds {} bytes, its shape needs {}",
                [u32::from(layer), found, expected],
            ),
            Error::MixedParameterKinds { layer } => (
                "{layer}: mixes f32 and int8 parameters in one model",
                [u32::from(layer), 0, 0],
            ),
            Error::InvalidActivation { layer } => (
                "{layer}: softmax is only allowed on the last layer, ReLU not on the last layer",
                [u32::from(layer), 0, 0],
            ),
            Error::InvalidScale { layer } => (
                "{layer}: a scale is zero, negative or not finite",
                [u32::from(layer), 0, 0],
            ),
            Error::InvalidZeroPoint { layer } => (
                "{layer}: a zero point is out of range",
                [u32::from(layer), 0, 0],
            ),
            Error::QuantizationMismatch { layer } => (
                "{layer}: input quantization differs from the previous stage's output",
                [u32::from(layer), 0, 0],
            ),
            Error::InvalidRequantization { layer } => (
                "{layer}: a requantization multiplier or shift is out of range",
                [u32::from(layer), 0, 0],
            ),
            Error::RequantizationPlacement { layer } => (
                "{layer}: hidden int8 layers need requantization, the last layer must have none",
                [u32::from(layer), 0, 0],
            ),
            Error::NonFiniteParameter { layer } => (
                "{layer}: a weight or bias is NaN or infinite",
                [u32::from(layer), 0, 0],
            ),
            Error::OutputOverflow { layer } => (
                "{layer}: an output could overflow f32",
                [u32::from(layer), 0, 0],
            ),
            Error::InputLength { expected, found } => (
                "input has {} values, the model expects {}",
                [found, expected, 0],
            ),
            Error::BatchLength { input, found } => (
                "batch has {} pixels, not a whole number of {}-pixel inputs",
                [found, input, 0],
            ),
            Error::ScratchKind { model, scratch } => (
                "scratch buffer is for {kind} models but this model is {kind}",
                [kind(scratch), kind(model), 0],
            ),
            Error::ScratchTooSmall { needed, capacity } => (
                "scratch buffer holds {} values, this model needs {}",
                [capacity, needed, 0],
            ),
            Error::BufferTooSmall => ("output buffer is too small for the encoded model", [0; 3]),
            Error::NonFiniteFeatureTransform { feature } => (
                "input: feature {} has a NaN or infinite offset or scale",
                [feature, 0, 0],
            ),
            Error::InvalidModelName => ("model name is empty, over 255 bytes or not UTF-8", [0; 3]),
            Error::InvalidClassName { class } => (
                "class {} name is empty, over 255 bytes or not UTF-8",
                [class, 0, 0],
            ),
            Error::ClassNameCount { names, classes } => (
                "model names {} of its {} classes (all or none)",
                [names, classes, 0],
            ),
            Error::WrongInputKind {
                model: InputKind::Pixels,
            } => ("model takes pixels: call predict", [0; 3]),
            Error::WrongInputKind {
                model: InputKind::Features,
            } => ("model takes features: call predict_features", [0; 3]),
            Error::NonFiniteFeature { index } => (
                "feature {} is NaN or infinite (raw or standardized)",
                [index, 0, 0],
            ),
            Error::NonFiniteOutput => (
                "an output is not finite: features far outside the training range",
                [0; 3],
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fills in a [`Error::template`] as its documentation says, written out again as the
    /// web page's JS side does it: a check that the documented rules are the ones `Display`
    /// follows.
    fn fill(template: &str, values: [u32; 3]) -> std::string::String {
        let mut text = std::string::String::new();
        let mut values = values.into_iter();
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            let end = start + rest[start..].find('}').expect("unclosed placeholder");
            text.push_str(&rest[..start]);
            let value = values.next().expect("more placeholders than numbers");
            match &rest[start + 1..end] {
                "" => text.push_str(&value.to_string()),
                "layer" if value == u32::from(u8::MAX) => text.push_str("input"),
                "layer" => text.push_str(&std::format!("layer {value}")),
                "kind" => text.push_str(["f32", "int8"][value as usize]),
                other => panic!("unknown placeholder {{{other}}}"),
            }
            rest = &rest[end + 1..];
        }
        text.push_str(rest);
        text
    }

    #[test]
    fn display_text_reads_as_written() {
        let cases = [
            (Error::Truncated, "model blob is truncated"),
            (
                Error::UnsupportedVersion(7),
                "unsupported model format version 7 (this runtime reads versions 2 to 3)",
            ),
            (
                Error::WidthOutOfRange {
                    layer: u8::MAX,
                    width: 0,
                },
                "input: width 0 is outside 1..=4096",
            ),
            (
                Error::ShapeMismatch {
                    layer: 1,
                    expected: 512,
                    found: 513,
                },
                "layer 1: takes 513 inputs but the previous stage produces 512",
            ),
            (
                Error::ScratchKind {
                    model: ParamKind::F32,
                    scratch: ParamKind::Int8,
                },
                "scratch buffer is for int8 models but this model is f32",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text, "{error:?}");
        }
    }

    #[test]
    fn template_filled_in_is_the_display_text() {
        let errors = [
            Error::Truncated,
            Error::BadMagic,
            Error::UnsupportedVersion(7),
            Error::ChecksumMismatch,
            Error::Malformed,
            Error::NonShortestVarint { offset: 4 },
            Error::TrailingBytes,
            Error::NoLayers,
            Error::TooManyLayers(300),
            Error::WidthOutOfRange {
                layer: u8::MAX,
                width: 0,
            },
            Error::WidthOutOfRange {
                layer: 2,
                width: 5000,
            },
            Error::ShapeMismatch {
                layer: 1,
                expected: 512,
                found: 513,
            },
            Error::ClassCountMismatch {
                classes: 10,
                outputs: 11,
            },
            Error::ParameterSize {
                layer: 0,
                expected: 401_408,
                found: 12,
            },
            Error::MixedParameterKinds { layer: 1 },
            Error::InvalidActivation { layer: 0 },
            Error::InvalidScale { layer: u8::MAX },
            Error::InvalidScale { layer: 3 },
            Error::InvalidZeroPoint { layer: u8::MAX },
            Error::QuantizationMismatch { layer: 1 },
            Error::InvalidRequantization { layer: 0 },
            Error::RequantizationPlacement { layer: 1 },
            Error::NonFiniteParameter { layer: 0 },
            Error::OutputOverflow { layer: 1 },
            Error::InputLength {
                expected: 784,
                found: u32::MAX,
            },
            Error::BatchLength {
                input: 784,
                found: 785,
            },
            Error::ScratchKind {
                model: ParamKind::F32,
                scratch: ParamKind::Int8,
            },
            Error::ScratchKind {
                model: ParamKind::Int8,
                scratch: ParamKind::F32,
            },
            Error::ScratchTooSmall {
                needed: 512,
                capacity: 64,
            },
            Error::BufferTooSmall,
            Error::NonFiniteFeatureTransform { feature: 3 },
            Error::InvalidModelName,
            Error::InvalidClassName { class: 9 },
            Error::ClassNameCount {
                names: 2,
                classes: 3,
            },
            Error::WrongInputKind {
                model: InputKind::Pixels,
            },
            Error::WrongInputKind {
                model: InputKind::Features,
            },
            Error::NonFiniteFeature { index: 5 },
            Error::NonFiniteOutput,
        ];
        for error in errors {
            let (template, values) = error.template();
            assert_eq!(fill(template, values), error.to_string(), "{error:?}");
        }
    }
}
