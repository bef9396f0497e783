//! The forward pass: runs a model's layers, one after the other, in a scratch buffer's
//! slices.

use core::ops::Range;

use crate::error::{Error, Result};
use crate::format::{
    Activation, DenseLayer, F32Params, FeatureSpec, InputSpec, Int8Params, ParamKind, Params,
    Requantization,
};
use crate::kernels;
use crate::prediction::{Prediction, RawOutputs};
use crate::scratch::private::{Buffers, F32Buffers, Int8Buffers};
use crate::scratch::Scratch;
use crate::softmax::{argmax, softmax_in_place};

/// One input of a model, checked to be of the model's kind and length.
#[derive(Clone, Copy)]
pub(crate) enum Source<'x> {
    /// Pixels, which the first layer reads directly.
    Pixels {
        spec: &'x InputSpec,
        pixels: &'x [u8],
    },
    /// Raw features, standardized (and for int8 quantized) into the scratch's first
    /// activation buffer, from which the first layer reads them like a hidden layer's output.
    Features {
        spec: FeatureSpec<'x>,
        features: &'x [f32],
    },
}

/// Runs `layers` (validated, see [`crate::Model`]) on `source` in `scratch`.
///
/// Generic, and the passes below `#[inline(always)]`: the forward pass and the kernels are
/// compiled where `predict` is instantiated, at that crate's `opt-level` (the web module
/// builds them at 3 and the rest for size), and only the pass of the scratch's kind (an
/// int8-only program links no f32 pass).
#[inline]
pub(crate) fn run<'s, S: Scratch>(
    layers: &[DenseLayer<'_>],
    source: Source<'_>,
    scratch: &'s mut S,
) -> Result<Prediction<'s>> {
    match scratch.buffers() {
        Buffers::Int8(buffers) => int8(layers, source, buffers),
        Buffers::F32(buffers) => f32(layers, source, buffers),
    }
}

/// The real value the model sees of each raw feature, `(raw - offset) · scale` in f32,
/// handed to `each` with its index; a value that is not finite is refused, naming the
/// feature (a NaN or infinite raw value, or one so large its standardized value overflows).
#[inline]
fn standardize(
    spec: FeatureSpec<'_>,
    features: &[f32],
    mut each: impl FnMut(usize, f32),
) -> Result<()> {
    for (index, (&raw, (offset, scale))) in features.iter().zip(spec.transforms()).enumerate() {
        let value = (raw - offset) * scale;
        if !value.is_finite() {
            return Err(Error::NonFiniteFeature {
                index: u32::try_from(index).unwrap_or(u32::MAX),
            });
        }
        each(index, value);
    }
    Ok(())
}

/// Standardizes `features` and quantizes them with the first layer's `input` quantization
/// into `out`: `clamp(round(x / scale) + zero_point, -128, 127)`, the division in f32,
/// rounded half away from zero (`FORMAT.md` §3).
fn quantize_features(
    spec: FeatureSpec<'_>,
    features: &[f32],
    input: &crate::format::Quantization,
    out: &mut [i8],
) -> Result<()> {
    let capacity = out.len();
    let out = out
        .get_mut(..features.len())
        .ok_or_else(|| too_small(features.len(), capacity))?;
    // The zero point is in -128..=127 (validated) and every f32 of magnitude 2^24 or more
    // is an integer far outside the range, so the sum in f32 clamps as the exact one would.
    let zero_point = input.zero_point as f32;
    standardize(spec, features, |index, value| {
        let q = libm::roundf(value / input.scale) + zero_point;
        if let Some(slot) = out.get_mut(index) {
            *slot = q.clamp(-128.0, 127.0) as i8;
        }
    })
}

/// Standardizes `features` into `out`.
fn standardize_features(spec: FeatureSpec<'_>, features: &[f32], out: &mut [f32]) -> Result<()> {
    let capacity = out.len();
    let out = out
        .get_mut(..features.len())
        .ok_or_else(|| too_small(features.len(), capacity))?;
    standardize(spec, features, |index, value| {
        if let Some(slot) = out.get_mut(index) {
            *slot = value;
        }
    })
}

/// The int8 forward pass.
#[inline(always)]
fn int8<'s>(
    layers: &[DenseLayer<'_>],
    source: Source<'_>,
    buffers: Int8Buffers<'s>,
) -> Result<Prediction<'s>> {
    let Int8Buffers {
        ping,
        pong,
        accumulators,
        raw,
        probabilities,
    } = buffers;
    let (width, classes, block_len) = (ping.len(), raw.len(), accumulators.len());
    let (mut current, mut next) = (ping, pong);
    let (last, hidden) = layers.split_last().ok_or(UNREACHABLE)?;
    let pixels = match source {
        Source::Pixels { pixels, .. } => Some(pixels),
        Source::Features { spec, features } => {
            let first = int8_params(layers.first().ok_or(UNREACHABLE)?)?;
            quantize_features(spec, features, &first.input, current)?;
            None
        }
    };
    let from_pixels = pixels.is_some();
    let pixels = pixels.unwrap_or_default();
    for (index, layer) in hidden.iter().enumerate() {
        let params = int8_params(layer)?;
        let requantization = params.requantization.as_ref().ok_or(UNREACHABLE)?;
        let outputs = layer.outputs as usize;
        let activations = previous_activations(index, from_pixels, layer, &*current)?;
        let mut start = 0;
        while start < outputs {
            let block = start..outputs.min(start.saturating_add(block_len));
            let sums = accumulators
                .get_mut(..block.len())
                .filter(|sums| !sums.is_empty())
                .ok_or_else(|| too_small(outputs, width))?;
            int8_affine(pixels, activations, params, outputs, block.clone(), sums);
            let out = next
                .get_mut(block.clone())
                .ok_or_else(|| too_small(outputs, width))?;
            requantize(sums, requantization, block.clone(), layer.activation, out);
            start = block.end;
        }
        core::mem::swap(&mut current, &mut next);
    }

    let params = int8_params(last)?;
    let outputs = last.outputs as usize;
    let sums = raw
        .get_mut(..outputs)
        .ok_or_else(|| too_small(outputs, classes))?;
    let activations = previous_activations(hidden.len(), from_pixels, last, &*current)?;
    int8_affine(pixels, activations, params, outputs, 0..outputs, sums);
    int8_prediction(params, sums, probabilities)
}

/// The prediction from the last int8 layer's `sums`: logits, class and softmax (in
/// `probabilities`).
#[inline]
pub(crate) fn int8_prediction<'s>(
    params: &Int8Params<'_>,
    sums: &'s [i32],
    probabilities: &'s mut [f32],
) -> Result<Prediction<'s>> {
    let (outputs, classes) = (sums.len(), probabilities.len());
    let probabilities = probabilities
        .get_mut(..outputs)
        .ok_or_else(|| too_small(outputs, classes))?;
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

/// The f32 forward pass.
#[inline(always)]
fn f32<'s>(
    layers: &[DenseLayer<'_>],
    source: Source<'_>,
    buffers: F32Buffers<'s>,
) -> Result<Prediction<'s>> {
    let F32Buffers {
        ping,
        pong,
        logits,
        probabilities,
    } = buffers;
    let (width, classes) = (ping.len(), logits.len());
    let (mut current, mut next) = (ping, pong);
    let (last, hidden) = layers.split_last().ok_or(UNREACHABLE)?;
    let (input, pixels) = match source {
        Source::Pixels { spec, pixels } => (Some(spec), pixels),
        Source::Features { spec, features } => {
            standardize_features(spec, features, current)?;
            (None, &[][..])
        }
    };
    let from_pixels = input.is_some();
    for (index, layer) in hidden.iter().enumerate() {
        let params = f32_params(layer)?;
        let outputs = layer.outputs as usize;
        let out = next
            .get_mut(..outputs)
            .ok_or_else(|| too_small(outputs, width))?;
        let activations = previous_activations(index, from_pixels, layer, &*current)?;
        f32_affine(input, pixels, activations, params, out);
        if layer.activation == Activation::Relu {
            out.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        core::mem::swap(&mut current, &mut next);
    }

    let params = f32_params(last)?;
    let outputs = last.outputs as usize;
    let logits = logits
        .get_mut(..outputs)
        .ok_or_else(|| too_small(outputs, classes))?;
    let activations = previous_activations(hidden.len(), from_pixels, last, &*current)?;
    f32_affine(input, pixels, activations, params, logits);
    // Pixels are bounded, so validation bounds every logit (§4); raw features are not.
    if !from_pixels && !logits.iter().all(|logit| logit.is_finite()) {
        return Err(Error::NonFiniteOutput);
    }
    let probabilities = probabilities
        .get_mut(..outputs)
        .ok_or_else(|| too_small(outputs, classes))?;
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

/// Errors that validation rules out; returned rather than panicking should a caller bypass it.
pub(crate) const UNREACHABLE: Error = Error::ScratchKind {
    model: ParamKind::F32,
    scratch: ParamKind::Int8,
};

pub(crate) fn too_small(needed: usize, capacity: usize) -> Error {
    Error::ScratchTooSmall {
        needed: u32::try_from(needed).unwrap_or(u32::MAX),
        capacity: u32::try_from(capacity).unwrap_or(u32::MAX),
    }
}

/// The previous layer's output (or the standardized features), or `None` for the first
/// layer of a pixel model, which reads the pixels.
fn previous_activations<'b, T>(
    index: usize,
    from_pixels: bool,
    layer: &DenseLayer<'_>,
    current: &'b [T],
) -> Result<Option<&'b [T]>> {
    if index == 0 && from_pixels {
        return Ok(None);
    }
    let inputs = layer.inputs as usize;
    current
        .get(..inputs)
        .map(Some)
        .ok_or_else(|| too_small(inputs, current.len()))
}

pub(crate) fn int8_params<'p, 'a>(layer: &'p DenseLayer<'a>) -> Result<&'p Int8Params<'a>> {
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
/// `#[inline]`: compiled where [`crate::Model::predict`] is instantiated, at that crate's `opt-level`
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
    // x86-64: a whole layer of pixels gathers its non-zero inputs eight pixels at a time
    // (most words of an image are zero) rather than through the generic front end.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if columns == (0..outputs) {
        match activations {
            None => return kernels::x86::dense_pixels(pixels, params.weights, bias, sums),
            // A narrow layer over activations (the classes): its own VNNI kernel.
            Some(x) if outputs <= 16 => {
                return kernels::x86::dense_narrow_i8(x, params.weights, bias, sums)
            }
            Some(_) => {}
        }
    }
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

/// The outputs of one f32 layer, reading the pixels (of image `input`) if there are no
/// previous `activations`.
fn f32_affine(
    input: Option<&InputSpec>,
    pixels: &[u8],
    activations: Option<&[f32]>,
    params: &F32Params<'_>,
    out: &mut [f32],
) {
    match (activations, input) {
        (None, Some(input)) => {
            let (scale, zero_point) = (input.scale, f32::from(input.zero_point));
            let real = pixels.iter().map(|&p| (f32::from(p) - zero_point) * scale);
            kernels::dense_f32(real, params.weights, params.bias, out);
        }
        (Some(activations), _) => {
            let real = activations.iter().copied();
            kernels::dense_f32(real, params.weights, params.bias, out);
        }
        // Validation and `run` rule out a first layer without pixels or features.
        (None, None) => {}
    }
}

/// `out[k] = clamp(zero_point + sums[k] · M[k], low, 127)`: the fixed-point step between
/// int8 layers, with ReLU fused as a raised lower bound (TFLite's activation range).
///
/// `sums` and `out` hold the outputs `block` of the layer.
pub(crate) fn requantize(
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
