//! Post-training int8 quantization into the tinymlp format, and the f32 export.
//!
//! The scheme is TFLite Micro's (and the tinymlp runtime's): int8 weights, symmetric per
//! output channel (`scale_k = max_j |W[j][k]| / 127`); int32 biases at scale
//! `input_scale * scale_k`, with the input zero point folded in; hidden activations asymmetric int8 calibrated on training data
//! (post-ReLU, so the range `[0, max]` maps to `[-128, 127]`, zero point -128); fixed-point
//! requantization multipliers from [`tinymlp::fixed_point::quantize_multiplier`].

use tinymlp::{
    Activation, DenseLayer, F32Params, Header, InputSpec, Int8Params, ModelDef, Params,
    Quantization, Requantization,
};

use crate::backend::cpu::PIXEL_SCALE;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::params::Parameters;

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
    /// Hidden layers: (multipliers, shifts, output quantization).
    pub requantization: Option<(Vec<i32>, Vec<i8>, Quantization)>,
}

/// The model input as the blobs describe it (MNIST: 28x28 grey pixels, `p / 255`).
pub fn input_spec(width: u16, height: u16) -> InputSpec {
    InputSpec {
        width,
        height,
        channels: 1,
        scale: PIXEL_SCALE,
        zero_point: 0,
    }
}

/// Upper ends of each hidden layer's post-ReLU range over the calibration images.
pub fn calibrate(parameters: &Parameters, data: &Dataset, calibration: Calibration) -> Vec<f32> {
    let hidden = parameters.layers.len().saturating_sub(1);
    let mut values: Vec<Vec<f32>> = vec![Vec::new(); hidden];
    for i in 0..calibration.samples.min(data.len()) {
        let mut current = data.scaled_image(i);
        for (l, layer) in parameters.layers.iter().take(hidden).enumerate() {
            let mut out = layer.bias.clone();
            for (j, &x) in current.iter().enumerate() {
                if x != 0.0 {
                    let row = &layer.weights[j * layer.outputs..(j + 1) * layer.outputs];
                    out.iter_mut().zip(row).for_each(|(o, w)| *o += x * w);
                }
            }
            out.iter_mut().for_each(|v| *v = v.max(0.0));
            values[l].extend(out.iter().copied().filter(|&v| v > 0.0));
            current = out;
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
            Some((multipliers, shifts, output))
        };
        let next_input = requantization.as_ref().map(|r| r.2);
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

fn le_f32(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn le_i32(values: &[i32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Encodes int8 layers as a tinymlp blob.
pub fn encode_int8(input: &InputSpec, layers: &[QuantizedLayer]) -> Result<Vec<u8>> {
    struct Bytes {
        weights: Vec<u8>,
        scales: Vec<u8>,
        bias: Vec<u8>,
        multipliers: Vec<u8>,
        shifts: Vec<u8>,
    }
    let bytes: Vec<Bytes> = layers
        .iter()
        .map(|l| Bytes {
            weights: l.weights.iter().map(|&w| w as u8).collect(),
            scales: le_f32(&l.weight_scales),
            bias: le_i32(&l.bias),
            multipliers: l
                .requantization
                .as_ref()
                .map_or(Vec::new(), |r| le_i32(&r.0)),
            shifts: l
                .requantization
                .as_ref()
                .map_or(Vec::new(), |r| r.1.iter().map(|&s| s as u8).collect()),
        })
        .collect();
    let last = layers.len() - 1;
    let dense: Vec<DenseLayer<'_>> = layers
        .iter()
        .zip(&bytes)
        .enumerate()
        .map(|(i, (l, b))| DenseLayer {
            inputs: l.inputs as u32,
            outputs: l.outputs as u32,
            activation: if i == last {
                Activation::Softmax
            } else {
                Activation::Relu
            },
            params: Params::Int8(Int8Params {
                input: l.input,
                weights: &b.weights,
                weight_scales: &b.scales,
                bias: &b.bias,
                requantization: l.requantization.as_ref().map(|r| Requantization {
                    multipliers: &b.multipliers,
                    shifts: &b.shifts,
                    output: r.2,
                }),
            }),
        })
        .collect();
    encode(input, &dense)
}

/// Encodes f32 parameters as a tinymlp blob.
pub fn encode_f32(input: &InputSpec, parameters: &Parameters) -> Result<Vec<u8>> {
    let bytes: Vec<(Vec<u8>, Vec<u8>)> = parameters
        .layers
        .iter()
        .map(|l| (le_f32(&l.weights), le_f32(&l.bias)))
        .collect();
    let last = parameters.layers.len() - 1;
    let dense: Vec<DenseLayer<'_>> = parameters
        .layers
        .iter()
        .zip(&bytes)
        .enumerate()
        .map(|(i, (l, (w, b)))| DenseLayer {
            inputs: l.inputs as u32,
            outputs: l.outputs as u32,
            activation: if i == last {
                Activation::Softmax
            } else {
                Activation::Relu
            },
            params: Params::F32(F32Params {
                weights: w,
                bias: b,
            }),
        })
        .collect();
    encode(input, &dense)
}

fn encode(input: &InputSpec, layers: &[DenseLayer<'_>]) -> Result<Vec<u8>> {
    let classes = layers.last().map_or(0, |l| l.outputs);
    let blob = ModelDef {
        header: Header::CURRENT,
        input: *input,
        classes,
        layers,
    }
    .encode_to_vec()?;
    // Whatever we write must load: the runtime validates everything.
    tinymlp::Model::from_bytes(&blob)?;
    Ok(blob)
}
