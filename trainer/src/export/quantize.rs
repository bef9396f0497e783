//! Post-training int8 quantization into the tinymlp format.
//!
//! The scheme is TFLite Micro's (and the tinymlp runtime's): int8 weights, symmetric per
//! output channel (`scale_k = max_j |W[j][k]| / 127`); int32 biases at scale
//! `input_scale * scale_k`, with the input zero point folded in; hidden activations asymmetric int8 calibrated on training data
//! (post-ReLU, so the range `[0, max]` maps to `[-128, 127]`, zero point -128); fixed-point
//! requantization multipliers from [`tinymlp::fixed_point::quantize_multiplier`].
//!
//! The first layer's input: images keep their `u8` pixels and the pixel scale; features
//! (standardized f32 values) are quantized to int8 with a range calibrated on the
//! standardized training features ([`input_quantization`]), so the first layer runs as a
//! hidden layer does. Standardizing first is what lets one scale serve features whose raw
//! ranges differ by orders of magnitude.

use tinymlp::Quantization;

use crate::data::{Dataset, InputTransform};
use crate::error::{Error, Result};
use crate::network::Parameters;

/// How the hidden activations' ranges are calibrated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Training images used (the first ones).
    pub samples: usize,
    /// Percentile of each hidden layer's post-ReLU values taken as the top of its range
    /// (`100.0` is the maximum).
    pub percentile: f64,
    /// For feature models, the percentile of the standardized features (all of them
    /// together, at each end) taken as the ends of the int8 input range. Not the extremes
    /// by default: one scale serves every feature, and a feature that is almost always the
    /// same standardizes its rare other values far out (MNIST's pixels as features: the
    /// maximum is near 250, which would leave the usual values of -1 to 5 a few steps;
    /// 99.99 keeps the int8 model's MNIST test accuracy at the f32 model's, the maximum
    /// loses 0.75 points).
    pub input_percentile: f64,
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration {
            samples: 5000,
            percentile: 100.0,
            input_percentile: 99.99,
        }
    }
}

/// An int8 model's arrays, owned, ready to be encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedLayer {
    /// Inputs.
    pub inputs: usize,
    /// Outputs.
    pub outputs: usize,
    /// Input quantization.
    pub input: Quantization,
    /// `inputs * outputs` weights, input-major.
    pub weights: Vec<i8>,
    /// Per-output-channel weight scales.
    pub weight_scales: Vec<f32>,
    /// Biases at `input.scale * weight_scales[k]`.
    pub bias: Vec<i32>,
    /// Hidden layers: how the int32 sums become the next layer's int8 inputs.
    pub requantization: Option<HiddenOutput>,
}

/// A hidden layer's requantization: per output channel, the fixed-point multiplier and
/// shift of `input_scale * weight_scale / output.scale`, and the output's quantization.
#[derive(Debug, Clone, PartialEq)]
pub struct HiddenOutput {
    /// Q31 multipliers, one per output.
    pub multipliers: Vec<i32>,
    /// Shifts, one per output.
    pub shifts: Vec<i8>,
    /// The int8 output's scale and zero point.
    pub output: Quantization,
}

/// The first layer's input quantization: a pixel transform's own scale (zero point 0, the
/// stored bytes as they are); for features, the range `[lo, hi]` (widened to hold 0) of
/// the model's values over the calibration samples, each end at the calibration's
/// `input_percentile`, mapped onto `[-128, 127]`: `q = clamp(round(x / scale) +
/// zero_point)`.
pub fn input_quantization(
    input: &InputTransform,
    data: &Dataset,
    calibration: Calibration,
) -> Quantization {
    if let InputTransform::Pixels { scale, .. } = input {
        return Quantization {
            scale: *scale,
            zero_point: 0,
        };
    }
    let mut values: Vec<f32> = (0..calibration.samples.min(data.len()))
        .flat_map(|i| input.sample(data, i))
        .collect();
    values.sort_by(f32::total_cmp);
    let at = |fraction: f64| -> f32 {
        let index = (fraction * values.len().saturating_sub(1) as f64).round() as usize;
        values.get(index).copied().unwrap_or(0.0)
    };
    let tail = 1.0 - calibration.input_percentile / 100.0;
    let (lo, hi) = (at(tail).min(0.0), at(1.0 - tail).max(0.0));
    if hi - lo <= 0.0 || !(hi - lo).is_finite() {
        return Quantization {
            scale: 1.0,
            zero_point: 0,
        };
    }
    let scale = (hi - lo) / 255.0;
    let zero_point = (-128.0 - lo / scale).round().clamp(-128.0, 127.0) as i32;
    Quantization { scale, zero_point }
}

/// Upper ends of each hidden layer's post-ReLU range over the calibration samples, read
/// with `input`.
pub fn calibrate(
    parameters: &Parameters,
    input: &InputTransform,
    data: &Dataset,
    calibration: Calibration,
) -> Vec<f32> {
    let hidden = parameters.layers.len().saturating_sub(1);
    let mut values: Vec<Vec<f32>> = vec![Vec::new(); hidden];
    for i in 0..calibration.samples.min(data.len()) {
        let activations = parameters.activations(&input.sample(data, i));
        // activations[l + 1] is hidden layer l's ReLU output.
        for (l, out) in activations[1..=hidden].iter().enumerate() {
            values[l].extend(out.iter().copied().filter(|&v| v > 0.0));
        }
    }
    values
        .into_iter()
        .map(|mut v| {
            if v.is_empty() {
                return 1.0;
            }
            v.sort_by(f32::total_cmp);
            let at = ((calibration.percentile / 100.0) * (v.len() - 1) as f64).round() as usize;
            v[at.min(v.len() - 1)].max(f32::MIN_POSITIVE)
        })
        .collect()
}

/// Quantizes `parameters` given the first layer's input quantization
/// ([`input_quantization`]) and each hidden layer's calibrated range top.
pub fn quantize(
    parameters: &Parameters,
    input: Quantization,
    ranges: &[f32],
) -> Result<Vec<QuantizedLayer>> {
    let last = parameters.layers.len() - 1;
    let mut input_quantization = input;
    let mut layers = Vec::new();
    for (l, layer) in parameters.layers.iter().enumerate() {
        let n = layer.outputs;
        let weight_scales: Vec<f32> = (0..n)
            .map(|k| {
                let max = (0..layer.inputs)
                    .map(|j| layer.weights[j * n + k].abs())
                    .fold(0.0f32, f32::max);
                if max > 0.0 {
                    max / 127.0
                } else {
                    1.0
                }
            })
            .collect();
        let weights: Vec<i8> = layer
            .weights
            .iter()
            .enumerate()
            .map(|(i, &w)| (w / weight_scales[i % n]).round().clamp(-127.0, 127.0) as i8)
            .collect();
        let mut bias = layer
            .bias
            .iter()
            .zip(&weight_scales)
            .map(|(&b, &s)| {
                let q =
                    (f64::from(b) / (f64::from(input_quantization.scale) * f64::from(s))).round();
                if q.abs() < f64::from(i32::MAX) {
                    Ok(q as i32)
                } else {
                    Err(Error::Quantization(format!(
                        "layer {l}: bias {b} overflows int32"
                    )))
                }
            })
            .collect::<Result<Vec<i32>>>()?;
        // The format stores the bias with the input zero point folded in (FORMAT.md), so the
        // runtime multiplies raw inputs and skips the zero ones.
        tinymlp::fold_input_zero_point(&mut bias, &weights, input_quantization.zero_point)
            .map_err(|k| {
                Error::Quantization(format!(
                    "layer {l}: bias of output {k} overflows int32 once the input zero point \
                     is folded in"
                ))
            })?;
        let requantization = if l == last {
            None
        } else {
            let output = Quantization {
                scale: ranges[l] / 255.0,
                zero_point: -128,
            };
            let mut multipliers = Vec::with_capacity(n);
            let mut shifts = Vec::with_capacity(n);
            for &s in &weight_scales {
                let real =
                    f64::from(input_quantization.scale) * f64::from(s) / f64::from(output.scale);
                let (m, shift) =
                    tinymlp::fixed_point::quantize_multiplier(real).ok_or_else(|| {
                        Error::Quantization(format!("layer {l}: multiplier {real} out of range"))
                    })?;
                multipliers.push(m);
                shifts.push(shift);
            }
            Some(HiddenOutput {
                multipliers,
                shifts,
                output,
            })
        };
        let next_input = requantization.as_ref().map(|r| r.output);
        layers.push(QuantizedLayer {
            inputs: layer.inputs,
            outputs: n,
            input: input_quantization,
            weights,
            weight_scales,
            bias,
            requantization,
        });
        if let Some(next) = next_input {
            input_quantization = next;
        }
    }
    Ok(layers)
}
