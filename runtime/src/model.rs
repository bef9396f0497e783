//! Loading a blob: decode it field by field, then validate everything once.

use heapless::Vec;

use crate::batch::BatchScratch;
use crate::decode::{InputField, Reader, WireError};
use crate::error::{Error, Result};
use crate::fixed_point::is_valid_requantization;
use crate::format::{
    Activation, DenseLayer, F32Params, FeatureSpec, Input, InputKind, Int8Params, ParamKind,
    Params, Quantization, CHECKSUM_LEN, CRC, FORMAT_VERSION, MAGIC, MAX_LAYERS, MAX_NAME_LEN,
    MAX_WIDTH, OLDEST_FORMAT_VERSION,
};
use crate::forward::{self, Source};
use crate::prediction::Prediction;
use crate::scratch::Scratch;

/// Stands for the input description where an error names a layer.
const INPUT: u8 = u8::MAX;

/// A validated model whose parameters (and names) are borrowed from the blob.
///
/// Building one checks the checksum, the header, every shape, size, scale and shift, and
/// every name, so that [`predict`](Model::predict) and
/// [`predict_features`](Model::predict_features) can only fail on a wrong input or scratch
/// buffer; and it bounds the parameters so that no logit overflows f32, so that every
/// probability `predict` returns is a finite number (`FORMAT.md` §4,
/// [`Error::OutputOverflow`]; raw features far enough out of range are refused instead,
/// with [`Error::NonFiniteOutput`]).
#[derive(Debug, Clone)]
pub struct Model<'a> {
    input: Input<'a>,
    classes: u32,
    kind: ParamKind,
    widest_hidden: u32,
    /// What a scratch buffer's `WIDTH` must hold: the widest hidden layer, and for a feature
    /// model the features too (they are standardized into the scratch).
    scratch_width: u32,
    name: Option<&'a str>,
    /// The class names as the blob holds them (each a length and UTF-8 bytes, validated at
    /// load), or nothing: read on demand, so a model of 4,096 named classes costs no RAM.
    class_names: &'a [u8],
    layers: Vec<DenseLayer<'a>, MAX_LAYERS>,
}

/// The names as read, before validation.
struct Names<'a> {
    name: Option<&'a [u8]>,
    count: u32,
    /// `count` byte arrays, one after the other.
    class_names: &'a [u8],
}

impl<'a> Model<'a> {
    /// Decodes and validates a blob without copying its parameters.
    ///
    /// Bytes after the length the header declares are ignored, so a blob can be read from a
    /// padded flash region.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Model<'a>> {
        let (mut reader, version) = checked_blob(bytes)?;
        read_and_validate(&mut reader, version).map_err(|error| match error {
            // The reader stops at the varint it refuses: that is the offset to name.
            Error::NonShortestVarint { .. } => Error::NonShortestVarint {
                offset: reader.offset(),
            },
            other => other,
        })
    }

    /// The input: an image of pixels, or features and their standardization.
    pub fn input(&self) -> &Input<'a> {
        &self.input
    }

    /// Number of values [`predict`](Model::predict) (pixels) or
    /// [`predict_features`](Model::predict_features) (features) expects.
    pub fn input_len(&self) -> usize {
        self.input.len() as usize
    }

    /// The model's name, if the blob has one.
    pub fn name(&self) -> Option<&'a str> {
        self.name
    }

    /// The name of class `class`, if the blob names its classes (and `class` is one of
    /// them). Read from the blob on each call, in time proportional to `class`.
    pub fn class_name(&self, class: usize) -> Option<&'a str> {
        let mut reader = Reader::new(self.class_names);
        for _ in 0..class {
            reader.bytes().ok()?;
        }
        core::str::from_utf8(reader.bytes().ok()?).ok()
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes as usize
    }

    /// Whether the parameters are f32 or int8.
    pub fn kind(&self) -> ParamKind {
        self.kind
    }

    /// The layers, first to last.
    pub fn layers(&self) -> &[DenseLayer<'a>] {
        &self.layers
    }

    /// The widest hidden layer (0 for a single layer).
    pub fn widest_hidden(&self) -> usize {
        self.widest_hidden as usize
    }

    /// The `WIDTH` a scratch buffer needs: the widest hidden layer, or for a feature model
    /// the number of features if that is more (the features are standardized, and for int8
    /// quantized, into the scratch).
    pub fn scratch_width(&self) -> usize {
        self.scratch_width as usize
    }

    /// Number of multiply-accumulates in one forward pass.
    pub fn macs(&self) -> u64 {
        self.layers
            .iter()
            .map(|l| u64::from(l.inputs) * u64::from(l.outputs))
            .sum()
    }

    /// Checks that `S` is the right kind of scratch buffer and large enough for this model.
    /// Call it once at start-up to learn about a too-small buffer before the first input.
    pub fn check_scratch<S: Scratch>(&self) -> Result<()> {
        self.check_capacity(S::KIND, S::WIDTH, S::CLASSES)
    }

    /// [`check_scratch`](Model::check_scratch) for a [`BatchScratch`].
    pub fn check_batch_scratch<S: BatchScratch>(&self) -> Result<()> {
        self.check_capacity(S::KIND, S::WIDTH, S::CLASSES)
    }

    fn check_capacity(&self, kind: ParamKind, width: usize, classes: usize) -> Result<()> {
        if kind != self.kind {
            return Err(Error::ScratchKind {
                model: self.kind,
                scratch: kind,
            });
        }
        for (needed, capacity) in [(self.scratch_width, width), (self.classes, classes)] {
            if needed as usize > capacity {
                return Err(Error::ScratchTooSmall {
                    needed,
                    capacity: u32::try_from(capacity).unwrap_or(u32::MAX),
                });
            }
        }
        Ok(())
    }

    /// Classifies one input of raw `u8` pixels, using `scratch` for all intermediate values.
    ///
    /// The returned [`Prediction`] borrows its probabilities and raw outputs from `scratch`.
    /// A feature model is refused ([`Error::WrongInputKind`]): use
    /// [`predict_features`](Model::predict_features).
    pub fn predict<'s, S: Scratch>(
        &self,
        pixels: &[u8],
        scratch: &'s mut S,
    ) -> Result<Prediction<'s>> {
        let spec = self.input.pixels().ok_or(Error::WrongInputKind {
            model: InputKind::Features,
        })?;
        self.run(Source::Pixels { spec, pixels }, scratch)
    }

    /// Classifies one vector of raw `f32` features (sensor values as they come, not
    /// standardized: the model does that), using `scratch` for all intermediate values.
    ///
    /// int8 models quantize the standardized features on the way in (`FORMAT.md` §3). A
    /// NaN or infinite feature, or one so far out of range that its standardized value is
    /// not finite, is refused with [`Error::NonFiniteFeature`] naming its index; an f32
    /// model whose logits overflow on features far outside the training range returns
    /// [`Error::NonFiniteOutput`]. A pixel model is refused ([`Error::WrongInputKind`]).
    pub fn predict_features<'s, S: Scratch>(
        &self,
        features: &[f32],
        scratch: &'s mut S,
    ) -> Result<Prediction<'s>> {
        let spec = *self.input.features().ok_or(Error::WrongInputKind {
            model: InputKind::Pixels,
        })?;
        self.run(Source::Features { spec, features }, scratch)
    }

    /// What [`predict`](Model::predict) and [`predict_features`](Model::predict_features)
    /// share: the checks on the caller's side and the forward pass. `#[inline]` and generic,
    /// as the pass is: compiled where the scratch type is named, at that crate's `opt-level`.
    /// (`#[inline(never)]` here made the web module no smaller and cost the Cortex-M4
    /// firmware 168 more instructions per inference.)
    #[inline]
    fn run<'s, S: Scratch>(
        &self,
        source: Source<'_>,
        scratch: &'s mut S,
    ) -> Result<Prediction<'s>> {
        self.check_scratch::<S>()?;
        let found = match source {
            Source::Pixels { pixels, .. } => pixels.len(),
            Source::Features { features, .. } => features.len(),
        };
        if found != self.input_len() {
            return Err(Error::InputLength {
                expected: self.input.len(),
                found: u32::try_from(found).unwrap_or(u32::MAX),
            });
        }
        forward::run(&self.layers, source, scratch)
    }

    /// Classifies many inputs in one call: `pixels` holds them one after the other
    /// ([`input_len`](Model::input_len) bytes each), and `each` receives every input's index
    /// and [`Prediction`], in order, bit for bit what [`predict`](Model::predict) returns for
    /// that input. No allocation: the prediction borrows from `scratch`, so copy out what you
    /// keep.
    ///
    /// With an [`Int8BatchScratch`](crate::Int8BatchScratch), the first layer is summed for a
    /// block of inputs at once (faster where the CPU has AVX-512 VNNI); any [`Scratch`] runs
    /// the inputs one at a time.
    ///
    /// The call runs on one thread. To use more, split `pixels` at input boundaries and give
    /// each thread its own scratch:
    ///
    /// ```
    /// # use tinymlp::{Activation, DenseLayer, Header, Input, InputSpec, Int8Params, Model, ModelDef, Params, Quantization};
    /// # let weights = [1u8, 0xff, 0xff, 1];
    /// # let (scales, bias) = ([0, 0, 0x80, 0x3f, 0, 0, 0x80, 0x3f], [0u8; 8]);
    /// # let input = InputSpec { width: 2, height: 1, channels: 1, scale: 1.0 / 255.0, zero_point: 0 };
    /// # let quantization = Quantization { scale: input.scale, zero_point: 0 };
    /// # let params = Params::Int8(Int8Params { input: quantization, weights: &weights, weight_scales: &scales, bias: &bias, requantization: None });
    /// # let layers = [DenseLayer { inputs: 2, outputs: 2, activation: Activation::Softmax, params }];
    /// # let def = ModelDef { header: Header::CURRENT, input: Input::Pixels(input), classes: 2, name: None, class_names: &[], layers: &layers };
    /// # let mut buf = [0u8; 256];
    /// # let model = Model::from_bytes(def.encode_to_slice(&mut buf)?)?;
    /// use tinymlp::Int8BatchScratch;
    ///
    /// // 1,000 two-pixel inputs, classified on two threads.
    /// let pixels: Vec<u8> = (0..2_000).map(|i| (i * 7 % 256) as u8).collect();
    /// let mut classes = vec![0u8; pixels.len() / model.input_len()];
    /// let per_thread = classes.len().div_ceil(2);
    /// std::thread::scope(|threads| {
    ///     let parts = pixels.chunks(per_thread * model.input_len()).zip(classes.chunks_mut(per_thread));
    ///     let running: Vec<_> = parts
    ///         .map(|(pixels, classes)| {
    ///             let model = &model;
    ///             threads.spawn(move || {
    ///                 let mut scratch = Box::new(Int8BatchScratch::<512, 10>::new());
    ///                 model.predict_batch(pixels, &mut *scratch, |i, prediction| {
    ///                     classes[i] = prediction.class as u8;
    ///                 })
    ///             })
    ///         })
    ///         .collect();
    ///     running.into_iter().try_for_each(|thread| thread.join().expect("no panic"))
    /// })?;
    /// assert_eq!(classes[1], 1); // pixels [14, 21]: the second class
    /// # Ok::<(), tinymlp::Error>(())
    /// ```
    pub fn predict_batch<S: BatchScratch>(
        &self,
        pixels: &[u8],
        scratch: &mut S,
        mut each: impl FnMut(usize, Prediction<'_>),
    ) -> Result<()> {
        let spec = self.input.pixels().ok_or(Error::WrongInputKind {
            model: InputKind::Features,
        })?;
        self.check_batch_scratch::<S>()?;
        let input_len = self.input_len();
        if !pixels.len().is_multiple_of(input_len) {
            return Err(Error::BatchLength {
                input: self.input.len(),
                found: u32::try_from(pixels.len()).unwrap_or(u32::MAX),
            });
        }
        scratch.run_batch(&self.layers, spec, pixels, input_len, &mut each)
    }
}

/// Reads the fields after the header (from [`checked_blob`]) of a blob of format `version`
/// and validates the model.
fn read_and_validate<'a>(reader: &mut Reader<'a>, version: u16) -> Result<Model<'a>> {
    let mut names = Names {
        name: None,
        count: 0,
        class_names: &[],
    };
    let (input, classes) = if version == OLDEST_FORMAT_VERSION {
        (InputField::Pixels(reader.input_spec()?), reader.u32()?)
    } else {
        let input = reader.input()?;
        let classes = reader.u32()?;
        names.name = reader.optional_bytes()?;
        names.count = reader.u32()?;
        let start = reader.rest();
        for _ in 0..names.count {
            reader.bytes()?;
        }
        let read = start.len().saturating_sub(reader.rest().len());
        names.class_names = start.get(..read).unwrap_or_default();
        (input, classes)
    };
    let count = reader.u32()?;
    if count == 0 {
        return Err(Error::NoLayers);
    }
    if count as usize > MAX_LAYERS {
        return Err(Error::TooManyLayers(count));
    }
    let mut layers = Vec::new();
    for _ in 0..count {
        layers
            .push(reader.dense_layer()?)
            .map_err(|_| Error::TooManyLayers(count))?;
    }
    if !reader.rest().is_empty() {
        return Err(Error::TrailingBytes);
    }
    validate(input, classes, names, &layers)
}

/// Checks magic, version, declared length and CRC, in that order (`FORMAT.md` §4); returns
/// a reader of the blob's contents (no padding, no checksum) past the header, and the
/// version.
fn checked_blob(bytes: &[u8]) -> Result<(Reader<'_>, u16)> {
    let magic_len = bytes.len().min(MAGIC.len());
    if bytes.get(..magic_len) != MAGIC.get(..magic_len) {
        return Err(Error::BadMagic);
    }
    // The version is judged as soon as its varint ends, before the length field is read:
    // a later version may change everything after it (`TMLP 03` alone is version 3).
    let mut reader = Reader::new(bytes);
    reader.magic().map_err(header_error)?;
    let version = reader.version().map_err(header_error)?;
    if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(Error::UnsupportedVersion(version));
    }
    let length = reader.length().map_err(|_| Error::Truncated)?;
    let header_len = bytes.len().saturating_sub(reader.rest().len());
    let blob = bytes.get(..length as usize).ok_or(Error::Truncated)?;
    let checksum_at = blob
        .len()
        .checked_sub(CHECKSUM_LEN)
        .ok_or(Error::Malformed)?;
    let (contents, checksum) = blob.split_at_checked(checksum_at).ok_or(Error::Malformed)?;
    let stored = checksum
        .first_chunk::<CHECKSUM_LEN>()
        .map(|c| u32::from_le_bytes(*c))
        .ok_or(Error::Malformed)?;
    if CRC.checksum(contents) != stored {
        return Err(Error::ChecksumMismatch);
    }
    // A declared length inside the header leaves nothing to read: the fields are `Malformed`.
    Ok((Reader::new(contents).skip(header_len), version))
}

/// In the header, before the checksum: bytes that end too early are a cut-short blob.
fn header_error(error: WireError) -> Error {
    match error {
        WireError::End => Error::Truncated,
        WireError::Invalid => Error::Malformed,
        // The version, the header's only varint, follows the magic.
        WireError::NonShortest => Error::NonShortestVarint {
            offset: MAGIC.len() as u32,
        },
    }
}

/// Every field the body cannot hold is a malformed blob: its checksum was right, so it was
/// written that way.
///
/// A [`WireError`] holds no offset (a payload in it made every reading step larger: the wasm
/// module measured 16,149 bytes with it, 15,954 without): [`Model::from_bytes`] fills in the offset of a
/// `NonShortestVarint` from where the reader stopped.
impl From<WireError> for Error {
    fn from(error: WireError) -> Error {
        match error {
            WireError::End | WireError::Invalid => Error::Malformed,
            WireError::NonShortest => Error::NonShortestVarint { offset: 0 },
        }
    }
}

fn validate<'a>(
    input: InputField<'a>,
    classes: u32,
    names: Names<'a>,
    layers: &Vec<DenseLayer<'a>, MAX_LAYERS>,
) -> Result<Model<'a>> {
    // The quantization of the pixels (the first int8 layer's input must equal it), and a
    // bound on the magnitude of every value entering the first f32 layer (§4).
    let (input, mut previous_quantization, mut input_bound) = match input {
        InputField::Pixels(fields) => {
            check_width(INPUT, fields.len())?;
            let spec = fields.spec();
            check_scale(INPUT, spec.scale)?;
            let quantization = Quantization {
                scale: spec.scale,
                zero_point: i32::from(spec.zero_point),
            };
            let pixel_reach = spec.zero_point.max(u8::MAX - spec.zero_point);
            (
                Input::Pixels(spec),
                Some(quantization),
                spec.scale * f32::from(pixel_reach),
            )
        }
        InputField::Features(spec) => {
            check_features(&spec)?;
            // Standardized features: the bound of features within ±1 (larger ones may
            // overflow, which `predict_features` reports).
            (Input::Features(spec), None, 1.0)
        }
    };
    let input_len = input.len();
    let (name, class_names) = check_names(names, classes)?;
    let first = layers.first().ok_or(Error::NoLayers)?;
    let kind = first.params.kind();
    let last_index = layers.len() - 1;

    let mut previous_outputs = input_len;
    let mut widest_hidden = 0;
    for (index, layer) in layers.iter().enumerate() {
        let id = index as u8;
        let is_last = index == last_index;
        check_width(id, layer.inputs)?;
        check_width(id, layer.outputs)?;
        if layer.inputs != previous_outputs {
            return Err(Error::ShapeMismatch {
                layer: id,
                expected: previous_outputs,
                found: layer.inputs,
            });
        }
        if layer.params.kind() != kind {
            return Err(Error::MixedParameterKinds { layer: id });
        }
        let activation_ok = match layer.activation {
            Activation::None => true,
            Activation::Relu => !is_last,
            Activation::Softmax => is_last,
        };
        if !activation_ok {
            return Err(Error::InvalidActivation { layer: id });
        }
        let weight_count = layer.inputs * layer.outputs; // both <= 4096: no overflow
        match &layer.params {
            Params::F32(params) => {
                input_bound = check_f32(id, weight_count, layer.outputs, params, input_bound)?;
                if !is_at_most(input_bound, F32_OUTPUT_LIMIT) {
                    return Err(Error::OutputOverflow { layer: id });
                }
            }
            Params::Int8(params) => {
                // Pixels are u8; features are quantized to i8 like any activation.
                let pixels = index == 0 && previous_quantization.is_some();
                let expected_zero_points = if pixels { 0..=255 } else { -128..=127 };
                check_int8(id, weight_count, layer.outputs, params)?;
                if !expected_zero_points.contains(&params.input.zero_point) {
                    return Err(Error::InvalidZeroPoint { layer: id });
                }
                // The first layer of a feature model sets its own input quantization.
                if previous_quantization.is_some_and(|previous| params.input != previous) {
                    return Err(Error::QuantizationMismatch { layer: id });
                }
                match (&params.requantization, is_last) {
                    (Some(requantization), false) => {
                        previous_quantization = Some(requantization.output);
                    }
                    (None, true) => {}
                    _ => return Err(Error::RequantizationPlacement { layer: id }),
                }
            }
        }
        if !is_last {
            widest_hidden = widest_hidden.max(layer.outputs);
        }
        previous_outputs = layer.outputs;
    }
    if previous_outputs != classes {
        return Err(Error::ClassCountMismatch {
            classes,
            outputs: previous_outputs,
        });
    }
    let scratch_width = match input {
        Input::Pixels(_) => widest_hidden,
        Input::Features(_) => widest_hidden.max(input_len),
    };
    Ok(Model {
        input,
        classes,
        kind,
        widest_hidden,
        scratch_width,
        name,
        class_names,
        layers: layers.clone(),
    })
}

/// Checks a feature input: as many offsets as scales, whole f32 values, `1..=MAX_WIDTH` of
/// them, all finite.
fn check_features(spec: &FeatureSpec<'_>) -> Result<()> {
    let count = spec.len() as u32; // a blob's length fits a u32
    check_size(INPUT, spec.offsets, count, 4)?;
    check_width(INPUT, count)?;
    check_size(INPUT, spec.scales, count, 4)?;
    for (feature, (offset, scale)) in spec.transforms().enumerate() {
        if !(offset.is_finite() && scale.is_finite()) {
            return Err(Error::NonFiniteFeatureTransform {
                feature: feature as u32, // below `count`
            });
        }
    }
    Ok(())
}

/// Checks the model name and the class names (none, or one per declared class; each
/// non-empty UTF-8 of at most [`MAX_NAME_LEN`] bytes) and returns them as the model keeps
/// them.
fn check_names(names: Names<'_>, classes: u32) -> Result<(Option<&str>, &[u8])> {
    fn valid(bytes: &[u8]) -> Option<&str> {
        if (1..=MAX_NAME_LEN).contains(&bytes.len()) {
            core::str::from_utf8(bytes).ok()
        } else {
            None
        }
    }
    let name = match names.name {
        Some(bytes) => Some(valid(bytes).ok_or(Error::InvalidModelName)?),
        None => None,
    };
    if names.count != 0 && names.count != classes {
        return Err(Error::ClassNameCount {
            names: names.count,
            classes,
        });
    }
    let mut reader = Reader::new(names.class_names);
    for class in 0..names.count {
        let bytes = reader.bytes().map_err(Error::from)?;
        valid(bytes).ok_or(Error::InvalidClassName { class })?;
    }
    Ok((name, names.class_names))
}

/// The largest bound on an f32 layer's outputs a model may have: `2^126`, half of the largest
/// power of two below `f32::MAX`, so that rounding (under 0.5 % over 8 layers, whatever the
/// summation order: `FORMAT.md` §4) cannot carry an output to infinity.
const F32_OUTPUT_LIMIT: f32 = f32::from_bits(0x7e80_0000);

/// The largest `input.scale · weight_scales[k]` (in f32) of a last int8 layer: `2^96`, so
/// that a logit, at most `2^31` of those, stays below `2^127` and finite.
const LOGIT_SCALE_LIMIT: f32 = f32::from_bits(0x6f80_0000);

/// `value ≤ limit`; false for NaN, which the bounds treat as over.
fn is_at_most(value: f32, limit: f32) -> bool {
    value <= limit
}

fn check_width(layer: u8, width: u32) -> Result<()> {
    if (1..=MAX_WIDTH).contains(&width) {
        Ok(())
    } else {
        Err(Error::WidthOutOfRange { layer, width })
    }
}

fn check_scale(layer: u8, scale: f32) -> Result<()> {
    if scale.is_finite() && scale > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidScale { layer })
    }
}

fn check_size(layer: u8, bytes: &[u8], count: u32, element_size: u32) -> Result<()> {
    let expected = count * element_size; // count <= 4096 * 4096, element_size <= 4: fits
    if bytes.len() == expected as usize {
        Ok(())
    } else {
        Err(Error::ParameterSize {
            layer,
            expected,
            found: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
        })
    }
}

/// Checks an f32 layer's sizes and values, and returns the bound on its outputs' magnitude
/// given `input_bound` on its inputs' (`FORMAT.md` §4): `max_k |bias[k]| + input_bound ·
/// Σ_j max_k |W[j][k]|` in f32, the rows `j` summed in order.
fn check_f32(
    layer: u8,
    weight_count: u32,
    outputs: u32,
    params: &F32Params<'_>,
    input_bound: f32,
) -> Result<f32> {
    check_size(layer, params.weights, weight_count, 4)?;
    check_size(layer, params.bias, outputs, 4)?;
    // One pass over the weights (most of a model's bytes) for both checks.
    let (mut finite, mut row_sum, mut row_max, mut column) = (true, 0.0f32, 0.0f32, 0);
    for weight in params.weights.as_chunks::<4>().0 {
        let weight = f32::from_le_bytes(*weight);
        finite &= weight.is_finite();
        row_max = row_max.max(weight.abs());
        column += 1;
        if column == outputs {
            row_sum += row_max;
            (row_max, column) = (0.0, 0);
        }
    }
    let mut bias_max = 0.0f32;
    for bias in params.bias.as_chunks::<4>().0 {
        let bias = f32::from_le_bytes(*bias);
        finite &= bias.is_finite();
        bias_max = bias_max.max(bias.abs());
    }
    if finite {
        Ok(bias_max + input_bound * row_sum)
    } else {
        Err(Error::NonFiniteParameter { layer })
    }
}

fn check_int8(layer: u8, weight_count: u32, outputs: u32, params: &Int8Params<'_>) -> Result<()> {
    check_size(layer, params.weights, weight_count, 1)?;
    check_size(layer, params.weight_scales, outputs, 4)?;
    check_size(layer, params.bias, outputs, 4)?;
    check_scale(layer, params.input.scale)?;
    let (scales, _) = params.weight_scales.as_chunks::<4>();
    for scale in scales {
        let scale = f32::from_le_bytes(*scale);
        check_scale(layer, scale)?;
        // Without requantization (the last layer) the accumulators become f32 logits,
        // `f32(acc) · (input.scale · scale)`, at most 2^31 · LOGIT_SCALE_LIMIT = 2^127.
        if params.requantization.is_none()
            && !is_at_most(params.input.scale * scale, LOGIT_SCALE_LIMIT)
        {
            return Err(Error::OutputOverflow { layer });
        }
    }
    if let Some(requantization) = &params.requantization {
        check_size(layer, requantization.multipliers, outputs, 4)?;
        check_size(layer, requantization.shifts, outputs, 1)?;
        check_scale(layer, requantization.output.scale)?;
        if !(-128..=127).contains(&requantization.output.zero_point) {
            return Err(Error::InvalidZeroPoint { layer });
        }
        let (multipliers, _) = requantization.multipliers.as_chunks::<4>();
        for (multiplier, &shift) in multipliers.iter().zip(requantization.shifts) {
            if !is_valid_requantization(i32::from_le_bytes(*multiplier), shift as i8) {
                return Err(Error::InvalidRequantization { layer });
            }
        }
    }
    Ok(())
}
