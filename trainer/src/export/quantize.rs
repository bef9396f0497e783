//! Post-training int8 quantization into the tinymlp format.
//!
//! The scheme is TFLite Micro's (and the tinymlp runtime's): int8 weights, symmetric per
//! output channel (`scale_k = max_j |W[j][k]| / 127`); int32 biases at scale
//! `input_scale * scale_k`, with the input zero point folded in; hidden activations asymmetric int8 calibrated on training data
//! (post-ReLU, so the range `[0, max]` maps to `[-128, 127]`, zero point -128); fixed-point
//! requantization multipliers from [`tinymlp::fixed_point::quantize_multiplier`].

use tinymlp::{InputSpec, Quantization};

use crate::data::Dataset;
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
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration {
            samples: 5000,
            percentile: 100.0,
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

/// Upper ends of each hidden layer's post-ReLU range over the calibration images.
pub fn calibrate(parameters: &Parameters, data: &Dataset, calibration: Calibration) -> Vec<f32> {
    let hidden = parameters.layers.len().saturating_sub(1);
    let mut values: Vec<Vec<f32>> = vec![Vec::new(); hidden];
    for i in 0..calibration.samples.min(data.len()) {
        let activations = parameters.activations(&data.scaled_image(i));
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

/// Quantizes `parameters` given each hidden layer's calibrated range top.
pub fn quantize(
    parameters: &Parameters,
    input: &InputSpec,
    ranges: &[f32],
) -> Result<Vec<QuantizedLayer>> {
    let last = parameters.layers.len() - 1;
    let mut input_quantization = Quantization {
        scale: input.scale,
        zero_point: i32::from(input.zero_point),
    };
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
