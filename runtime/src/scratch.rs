//! Caller-owned working memory and the forward pass that runs in it.

use core::ops::Range;

use crate::error::{Error, Result};
use crate::format::{
    Activation, DenseLayer, F32Params, InputSpec, Int8Params, ParamKind, Params, Requantization,
};
use crate::kernels;
use crate::model::Model;
use crate::softmax::{argmax, softmax_in_place};

/// The outcome of one forward pass, borrowing from the scratch buffer it ran in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction<'s> {
    /// Index of the most probable class (the first, on a tie).
    pub class: usize,
    /// Probability of that class.
    pub probability: f32,
    /// Softmax probability of every class.
    pub probabilities: &'s [f32],
    /// The last layer's output before the softmax, for bit-exact comparisons across targets.
    pub raw: RawOutputs<'s>,
}

/// The last layer's output before the softmax.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RawOutputs<'s> {
    /// int8 models: the int32 accumulators (bias included) of the last layer.
    Int32(&'s [i32]),
    /// f32 models: the logits.
    F32(&'s [f32]),
}

impl RawOutputs<'_> {
    /// Feeds the outputs, as little-endian bytes, into `digest`.
    pub fn update(&self, digest: &mut OutputDigest) {
        match self {
            RawOutputs::Int32(values) => values
                .iter()
                .for_each(|v| digest.0.update(&v.to_le_bytes())),
            RawOutputs::F32(values) => values
                .iter()
                .for_each(|v| digest.0.update(&v.to_bits().to_le_bytes())),
        }
    }
}

static OUTPUT_CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// A CRC-32 over the raw outputs of many predictions: two runtimes (host, firmware, wasm)
/// that produce the same digest over the same inputs computed the same bits.
pub struct OutputDigest(crc::Digest<'static, u32>);

impl OutputDigest {
    /// An empty digest.
    pub fn new() -> Self {
        OutputDigest(OUTPUT_CRC.digest())
    }

    /// Adds one prediction's raw outputs.
    pub fn add(&mut self, prediction: &Prediction<'_>) {
        prediction.raw.update(self);
    }

    /// The digest of everything added so far.
    pub fn finish(self) -> u32 {
        self.0.finalize()
    }
}

impl Default for OutputDigest {
    fn default() -> Self {
        Self::new()
    }
}

mod private {
    pub trait Sealed {
        fn run<'s>(
            &'s mut self,
            model: &crate::Model<'_>,
            pixels: &[u8],
        ) -> crate::Result<crate::Prediction<'s>>;
    }
}

/// Working memory for one kind of model: [`Int8Scratch`] or [`F32Scratch`].
pub trait Scratch: private::Sealed {
    /// The kind of model this buffer runs.
    const KIND: ParamKind;
    /// Widest hidden layer it holds.
    const WIDTH: usize;
    /// Most classes it holds.
    const CLASSES: usize;
}

/// Working memory for int8 models with hidden layers up to `WIDTH` wide and up to `CLASSES`
/// classes, summing `BLOCK` hidden outputs at a time: `2 * WIDTH + 4 * BLOCK + 8 * CLASSES`
/// bytes.
///
/// `BLOCK` trades RAM for speed: by default the whole hidden layer is summed in one pass
/// (`Int8Scratch<512, 10>`: 3,152 bytes for the MNIST 784-512-10 model); a smaller block
/// re-reads the layer's input once per block (`Int8Scratch<512, 10, 128>`: 1,616 bytes, for
/// about 17 % more instructions on a Cortex-M4).
#[derive(Debug, Clone)]
pub struct Int8Scratch<const WIDTH: usize, const CLASSES: usize, const BLOCK: usize = WIDTH> {
    ping: [i8; WIDTH],
    pong: [i8; WIDTH],
    accumulators: [i32; BLOCK],
    raw: [i32; CLASSES],
    probabilities: [f32; CLASSES],
}

impl<const WIDTH: usize, const CLASSES: usize, const BLOCK: usize>
    Int8Scratch<WIDTH, CLASSES, BLOCK>
{
    /// A zeroed buffer; `const`, so it can live in a `static`.
    pub const fn new() -> Self {
        Int8Scratch {
            ping: [0; WIDTH],
            pong: [0; WIDTH],
            accumulators: [0; BLOCK],
            raw: [0; CLASSES],
            probabilities: [0.0; CLASSES],
        }
    }
}

impl<const WIDTH: usize, const CLASSES: usize, const BLOCK: usize> Default
    for Int8Scratch<WIDTH, CLASSES, BLOCK>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const WIDTH: usize, const CLASSES: usize, const BLOCK: usize> Scratch
    for Int8Scratch<WIDTH, CLASSES, BLOCK>
{
    const KIND: ParamKind = ParamKind::Int8;
    // A zero block could sum nothing: then no hidden layer fits.
    const WIDTH: usize = if BLOCK == 0 { 0 } else { WIDTH };
    const CLASSES: usize = CLASSES;
}

/// Working memory for f32 models with hidden layers up to `WIDTH` wide and up to `CLASSES`
/// classes: `8 * WIDTH + 8 * CLASSES` bytes.
#[derive(Debug, Clone)]
pub struct F32Scratch<const WIDTH: usize, const CLASSES: usize> {
    ping: [f32; WIDTH],
    pong: [f32; WIDTH],
    logits: [f32; CLASSES],
    probabilities: [f32; CLASSES],
}

impl<const WIDTH: usize, const CLASSES: usize> F32Scratch<WIDTH, CLASSES> {
    /// A zeroed buffer; `const`, so it can live in a `static`.
    pub const fn new() -> Self {
        F32Scratch {
            ping: [0.0; WIDTH],
            pong: [0.0; WIDTH],
            logits: [0.0; CLASSES],
            probabilities: [0.0; CLASSES],
        }
    }
}

impl<const WIDTH: usize, const CLASSES: usize> Default for F32Scratch<WIDTH, CLASSES> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const WIDTH: usize, const CLASSES: usize> Scratch for F32Scratch<WIDTH, CLASSES> {
    const KIND: ParamKind = ParamKind::F32;
    const WIDTH: usize = WIDTH;
    const CLASSES: usize = CLASSES;
}

/// Errors that validation rules out; returned rather than panicking should a caller bypass it.
const UNREACHABLE: Error = Error::ScratchKind {
    model: ParamKind::F32,
    scratch: ParamKind::Int8,
};

fn too_small(needed: usize, capacity: usize) -> Error {
    Error::ScratchTooSmall {
        needed: u32::try_from(needed).unwrap_or(u32::MAX),
        capacity: u32::try_from(capacity).unwrap_or(u32::MAX),
    }
}

impl<const WIDTH: usize, const CLASSES: usize, const BLOCK: usize> private::Sealed
    for Int8Scratch<WIDTH, CLASSES, BLOCK>
{
    fn run<'s>(&'s mut self, model: &Model<'_>, pixels: &[u8]) -> Result<Prediction<'s>> {
        let Int8Scratch {
            ping,
            pong,
            accumulators,
            raw,
            probabilities,
        } = self;
        let (mut current, mut next) = (ping, pong);
        let (last, hidden) = model.layers().split_last().ok_or(UNREACHABLE)?;
        for (index, layer) in hidden.iter().enumerate() {
            let params = int8_params(layer)?;
            let requantization = params.requantization.as_ref().ok_or(UNREACHABLE)?;
            let outputs = layer.outputs as usize;
            let activations = previous_activations(index, layer, current.as_slice())?;
            let mut start = 0;
            while start < outputs {
                let block = start..outputs.min(start.saturating_add(BLOCK));
                let sums = accumulators
                    .get_mut(..block.len())
                    .filter(|sums| !sums.is_empty())
                    .ok_or_else(|| too_small(outputs, WIDTH))?;
                int8_affine(pixels, activations, params, outputs, block.clone(), sums);
                let out = next
                    .get_mut(block.clone())
                    .ok_or_else(|| too_small(outputs, WIDTH))?;
                requantize(sums, requantization, block.clone(), layer.activation, out);
                start = block.end;
            }
            core::mem::swap(&mut current, &mut next);
        }

        let params = int8_params(last)?;
        let outputs = last.outputs as usize;
        let sums = raw
            .get_mut(..outputs)
            .ok_or_else(|| too_small(outputs, CLASSES))?;
        let activations = previous_activations(hidden.len(), last, current.as_slice())?;
        int8_affine(pixels, activations, params, outputs, 0..outputs, sums);
        let probabilities = probabilities
            .get_mut(..outputs)
            .ok_or_else(|| too_small(outputs, CLASSES))?;
        // Logits: accumulator times input scale times the channel's weight scale.
        let (weight_scales, _) = params.weight_scales.as_chunks::<4>();
        for ((logit, &sum), scale) in probabilities.iter_mut().zip(sums.iter()).zip(weight_scales) {
            *logit = sum as f32 * (params.input.scale * f32::from_le_bytes(*scale));
        }
        let class = argmax(probabilities);
        softmax_in_place(probabilities);
        Ok(Prediction {
            class,
            probability: probabilities.get(class).copied().unwrap_or(0.0),
            probabilities,
            raw: RawOutputs::Int32(sums),
        })
    }
}

/// The previous layer's output, or `None` for the first layer, which reads the pixels.
fn previous_activations<'b, T>(
    index: usize,
    layer: &DenseLayer<'_>,
    current: &'b [T],
) -> Result<Option<&'b [T]>> {
    if index == 0 {
        return Ok(None);
    }
    let inputs = layer.inputs as usize;
    current
        .get(..inputs)
        .map(Some)
        .ok_or_else(|| too_small(inputs, current.len()))
}

fn int8_params<'p, 'a>(layer: &'p DenseLayer<'a>) -> Result<&'p Int8Params<'a>> {
    match &layer.params {
        Params::Int8(params) => Ok(params),
        Params::F32(_) => Err(UNREACHABLE),
    }
}

fn f32_params<'p, 'a>(layer: &'p DenseLayer<'a>) -> Result<&'p F32Params<'a>> {
    match &layer.params {
        Params::F32(params) => Ok(params),
        Params::Int8(_) => Err(UNREACHABLE),
    }
}

/// The int32 sums of the outputs `columns` of an int8 layer with `outputs` outputs (`sums` are
/// those columns'), reading the pixels if there are no previous `activations`.
///
/// The inputs go in raw: the format folds their zero point into the bias, so a zero pixel
/// (81 % of MNIST) adds nothing and the kernels skip it.
///
/// `#[inline]`: compiled where [`Model::predict`] is instantiated, at that crate's `opt-level`
/// rather than the runtime's. The web module builds the runtime for size and its forward pass at
/// 3, where LLVM vectorizes the portable kernel; the Cortex-M4 firmware (runtime at `"z"`, itself
/// at 3) measured 374,638 instructions per inference for 7,668 bytes of runtime code with it,
/// 400,276 for 7,358 bytes without.
#[inline]
fn int8_affine(
    pixels: &[u8],
    activations: Option<&[i8]>,
    params: &Int8Params<'_>,
    outputs: usize,
    columns: Range<usize>,
    sums: &mut [i32],
) {
    let bias = params
        .bias
        .get(columns.start * 4..columns.end * 4)
        .unwrap_or_default();
    // Both kinds of input go through one instance of the kernel (it is most of the code):
    // pixels as they are, int8 activations as their two's-complement bytes with the sign bit
    // flipped and 128 taken off again, which gives back the value.
    let (bytes, sign): (&[u8], u8) = match activations {
        None => (pixels, 0),
        Some(activations) => (
            bytemuck::try_cast_slice(activations).unwrap_or_default(),
            0x80,
        ),
    };
    let raw = bytes
        .iter()
        .map(move |&byte| i16::from(byte ^ sign) - i16::from(sign));
    kernels::dense_int8_columns(raw, params.weights, outputs, columns, bias, sums);
}

/// The outputs of one f32 layer, reading the pixels if there are no previous `activations`.
fn f32_affine(
    input: &InputSpec,
    pixels: &[u8],
    activations: Option<&[f32]>,
    params: &F32Params<'_>,
    out: &mut [f32],
) {
    match activations {
        None => {
            let (scale, zero_point) = (input.scale, f32::from(input.zero_point));
            let real = pixels.iter().map(|&p| (f32::from(p) - zero_point) * scale);
            kernels::dense_f32(real, params.weights, params.bias, out);
        }
        Some(activations) => {
            let real = activations.iter().copied();
            kernels::dense_f32(real, params.weights, params.bias, out);
        }
    }
}

/// `out[k] = clamp(zero_point + sums[k] · M[k], low, 127)`: the fixed-point step between
/// int8 layers, with ReLU fused as a raised lower bound (TFLite's activation range).
///
/// `sums` and `out` hold the outputs `block` of the layer.
fn requantize(
    sums: &[i32],
    requantization: &Requantization<'_>,
    block: Range<usize>,
    activation: Activation,
    out: &mut [i8],
) {
    let zero_point = requantization.output.zero_point;
    let low = match activation {
        Activation::Relu => zero_point.max(-128),
        _ => -128,
    };
    let multipliers = requantization
        .multipliers
        .get(block.start * 4..block.end * 4)
        .unwrap_or_default();
    let shifts = requantization.shifts.get(block).unwrap_or_default();
    kernels::requantize(sums, multipliers, shifts, zero_point, low, out);
}

impl<const WIDTH: usize, const CLASSES: usize> private::Sealed for F32Scratch<WIDTH, CLASSES> {
    fn run<'s>(&'s mut self, model: &Model<'_>, pixels: &[u8]) -> Result<Prediction<'s>> {
        let F32Scratch {
            ping,
            pong,
            logits,
            probabilities,
        } = self;
        let (mut current, mut next) = (ping, pong);
        let (last, hidden) = model.layers().split_last().ok_or(UNREACHABLE)?;
        for (index, layer) in hidden.iter().enumerate() {
            let params = f32_params(layer)?;
            let outputs = layer.outputs as usize;
            let out = next
                .get_mut(..outputs)
                .ok_or_else(|| too_small(outputs, WIDTH))?;
            let activations = previous_activations(index, layer, current.as_slice())?;
            f32_affine(model.input(), pixels, activations, params, out);
            if layer.activation == Activation::Relu {
                out.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            core::mem::swap(&mut current, &mut next);
        }

        let params = f32_params(last)?;
        let outputs = last.outputs as usize;
        let logits = logits
            .get_mut(..outputs)
            .ok_or_else(|| too_small(outputs, CLASSES))?;
        let activations = previous_activations(hidden.len(), last, current.as_slice())?;
        f32_affine(model.input(), pixels, activations, params, logits);
        let probabilities = probabilities
            .get_mut(..outputs)
            .ok_or_else(|| too_small(outputs, CLASSES))?;
        probabilities.copy_from_slice(logits);
        let class = argmax(logits);
        softmax_in_place(probabilities);
        Ok(Prediction {
            class,
            probability: probabilities.get(class).copied().unwrap_or(0.0),
            probabilities,
            raw: RawOutputs::F32(logits),
        })
    }
}
