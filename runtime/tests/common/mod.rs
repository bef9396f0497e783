//! Helpers shared by the integration tests (and, by `#[path]`, the benchmark): owned models
//! that encode into blobs, float models with an f64 reference forward pass, and a post-training
//! quantizer that turns a float model into an int8 one.
#![allow(dead_code)] // each test file uses its own part

use rand_xoshiro::rand_core::{Rng as _, SeedableRng as _};
use rand_xoshiro::SplitMix64;
use tinymlp::{
    fixed_point::quantize_multiplier, Activation, DenseLayer, F32Params, FeatureSpec, Header,
    Input, InputSpec, Int8Params, ModelDef, Params, Quantization, Requantization,
};

/// Little-endian bytes of f32 values.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Little-endian bytes of i32 values.
pub fn i32_bytes(values: &[i32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Bytes of i8 values.
pub fn i8_bytes(values: &[i8]) -> Vec<u8> {
    values.iter().map(|&v| v as u8).collect()
}

/// Requantization parameters that own their bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedRequantization {
    pub multipliers: Vec<u8>,
    pub shifts: Vec<u8>,
    pub output: Quantization,
}

/// Layer parameters that own their bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedParams {
    F32 {
        weights: Vec<u8>,
        bias: Vec<u8>,
    },
    Int8 {
        input: Quantization,
        weights: Vec<u8>,
        weight_scales: Vec<u8>,
        bias: Vec<u8>,
        requantization: Option<OwnedRequantization>,
    },
}

/// A dense layer that owns its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedLayer {
    pub inputs: u32,
    pub outputs: u32,
    pub activation: Activation,
    pub params: OwnedParams,
}

impl OwnedLayer {
    /// The borrowed layer, as the format's types hold it.
    pub fn borrow(&self) -> DenseLayer<'_> {
        let params = match &self.params {
            OwnedParams::F32 { weights, bias } => Params::F32(F32Params { weights, bias }),
            OwnedParams::Int8 {
                input,
                weights,
                weight_scales,
                bias,
                requantization,
            } => Params::Int8(Int8Params {
                input: *input,
                weights,
                weight_scales,
                bias,
                requantization: requantization.as_ref().map(|r| Requantization {
                    multipliers: &r.multipliers,
                    shifts: &r.shifts,
                    output: r.output,
                }),
            }),
        };
        DenseLayer {
            inputs: self.inputs,
            outputs: self.outputs,
            activation: self.activation,
            params,
        }
    }
}

/// A feature input's offsets and scales, as f32 bytes (may be invalid on purpose).
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedFeatures {
    pub offsets: Vec<u8>,
    pub scales: Vec<u8>,
}

impl OwnedFeatures {
    /// The bytes of these offsets and scales.
    pub fn new(offsets: &[f32], scales: &[f32]) -> Self {
        OwnedFeatures {
            offsets: f32_bytes(offsets),
            scales: f32_bytes(scales),
        }
    }
}

/// A whole model that owns its bytes; may be invalid on purpose.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedModel {
    pub header: Header,
    /// The pixel input, used unless `features` is set.
    pub input: InputSpec,
    /// A feature input (the model is then a feature model).
    pub features: Option<OwnedFeatures>,
    pub classes: u32,
    pub name: Option<String>,
    pub class_names: Vec<String>,
    pub layers: Vec<OwnedLayer>,
}

impl OwnedModel {
    /// The input, as the format's types hold it.
    pub fn borrowed_input(&self) -> Input<'_> {
        match &self.features {
            Some(features) => Input::Features(FeatureSpec {
                offsets: &features.offsets,
                scales: &features.scales,
            }),
            None => Input::Pixels(self.input),
        }
    }

    /// Encodes the model (with whatever header it holds; the encoder fills in `length`, and
    /// writes the current version's layout).
    pub fn encode(&self) -> Vec<u8> {
        let layers: Vec<DenseLayer<'_>> = self.layers.iter().map(OwnedLayer::borrow).collect();
        let class_names: Vec<&str> = self.class_names.iter().map(String::as_str).collect();
        let def = ModelDef {
            header: self.header,
            input: self.borrowed_input(),
            classes: self.classes,
            name: self.name.as_deref(),
            class_names: &class_names,
            layers: &layers,
        };
        let mut buffer = vec![0; def.encoded_len().expect("encoded length")];
        let written = def.encode_to_slice(&mut buffer).expect("encodes").len();
        buffer.truncate(written);
        buffer
    }

    /// The `int8` parameters of layer `index`, for tests that break one field.
    pub fn int8_mut(&mut self, index: usize) -> Int8Mut<'_> {
        match &mut self.layers[index].params {
            OwnedParams::Int8 {
                input,
                weights,
                weight_scales,
                bias,
                requantization,
            } => Int8Mut {
                input,
                weights,
                weight_scales,
                bias,
                requantization,
            },
            OwnedParams::F32 { .. } => panic!("layer {index} is not int8"),
        }
    }
}

/// Mutable access to one int8 layer's fields.
pub struct Int8Mut<'m> {
    pub input: &'m mut Quantization,
    pub weights: &'m mut Vec<u8>,
    pub weight_scales: &'m mut Vec<u8>,
    pub bias: &'m mut Vec<u8>,
    pub requantization: &'m mut Option<OwnedRequantization>,
}

/// The MNIST-like input of `len` pixels as one row, scale 1/255, zero point 0.
pub fn row_input(len: u16) -> InputSpec {
    InputSpec {
        width: len,
        height: 1,
        channels: 1,
        scale: 1.0 / 255.0,
        zero_point: 0,
    }
}

/// A float model: the values a trainer holds before export.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatModel {
    pub input: InputSpec,
    pub layers: Vec<FloatLayer>,
}

/// One float dense layer; `weights[j * outputs + k]` is W[j][k].
#[derive(Debug, Clone, PartialEq)]
pub struct FloatLayer {
    pub inputs: usize,
    pub outputs: usize,
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
    /// ReLU after the layer (hidden layers); the last layer is softmax.
    pub relu: bool,
}

impl FloatModel {
    /// Number of classes (the last layer's width).
    pub fn classes(&self) -> usize {
        self.layers.last().map_or(0, |l| l.outputs)
    }

    /// The f32 model blob's owned form.
    pub fn to_f32(&self) -> OwnedModel {
        let last = self.layers.len() - 1;
        OwnedModel {
            features: None,
            name: None,
            class_names: Vec::new(),
            header: Header::CURRENT,
            input: self.input,
            classes: self.classes() as u32,
            layers: self
                .layers
                .iter()
                .enumerate()
                .map(|(index, layer)| OwnedLayer {
                    inputs: layer.inputs as u32,
                    outputs: layer.outputs as u32,
                    activation: activation(layer, index == last),
                    params: OwnedParams::F32 {
                        weights: f32_bytes(&layer.weights),
                        bias: f32_bytes(&layer.bias),
                    },
                })
                .collect(),
        }
    }

    /// The real input values of `pixels`, in f64.
    pub fn real_input(&self, pixels: &[u8]) -> Vec<f64> {
        let scale = f64::from(self.input.scale);
        let zero_point = f64::from(self.input.zero_point);
        pixels
            .iter()
            .map(|&p| (f64::from(p) - zero_point) * scale)
            .collect()
    }

    /// Every layer's output in f64 (ReLU applied on hidden layers, logits last).
    pub fn forward_f64(&self, pixels: &[u8]) -> Vec<Vec<f64>> {
        self.forward_f64_from(self.real_input(pixels))
    }

    /// [`forward_f64`](Self::forward_f64) from the first layer's real input values.
    pub fn forward_f64_from(&self, mut x: Vec<f64>) -> Vec<Vec<f64>> {
        let mut outputs = Vec::new();
        for layer in &self.layers {
            let mut y: Vec<f64> = layer.bias.iter().map(|&b| f64::from(b)).collect();
            for (j, &xj) in x.iter().enumerate() {
                for (k, yk) in y.iter_mut().enumerate() {
                    *yk += xj * f64::from(layer.weights[j * layer.outputs + k]);
                }
            }
            if layer.relu {
                y.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            outputs.push(y.clone());
            x = y;
        }
        outputs
    }

    /// Post-training quantization in the TFLite scheme: symmetric per-channel int8 weights
    /// (`scale = max|W[·][k]| / 127`), int32 bias at `input scale * weight scale`, and
    /// hidden activations quantized over the range `calibration` inputs reach (always
    /// including 0), with the requantization multiplier from `quantize_multiplier`.
    pub fn quantize(&self, calibration: &[Vec<u8>]) -> QuantizedModel {
        let mut layer_low = vec![0.0_f64; self.layers.len()];
        let mut layer_high = vec![0.0_f64; self.layers.len()];
        for pixels in calibration {
            for (index, values) in self.forward_f64(pixels).iter().enumerate() {
                for &v in values {
                    layer_low[index] = layer_low[index].min(v);
                    layer_high[index] = layer_high[index].max(v);
                }
            }
        }

        let last = self.layers.len() - 1;
        let mut input = Quantization {
            scale: self.input.scale,
            zero_point: i32::from(self.input.zero_point),
        };
        let mut layers = Vec::new();
        for (index, layer) in self.layers.iter().enumerate() {
            let weight_scales: Vec<f32> = (0..layer.outputs)
                .map(|k| {
                    let max = (0..layer.inputs)
                        .map(|j| layer.weights[j * layer.outputs + k].abs())
                        .fold(0.0_f32, f32::max);
                    if max > 0.0 {
                        max / 127.0
                    } else {
                        1.0
                    }
                })
                .collect();
            let weights: Vec<i8> = (0..layer.inputs * layer.outputs)
                .map(|i| {
                    let scale = weight_scales[i % layer.outputs];
                    (layer.weights[i] / scale).round().clamp(-127.0, 127.0) as i8
                })
                .collect();
            let mut bias: Vec<i32> = layer
                .bias
                .iter()
                .zip(&weight_scales)
                .map(|(&b, &ws)| {
                    let q = f64::from(b) / (f64::from(input.scale) * f64::from(ws));
                    q.round().clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
                })
                .collect();
            tinymlp::fold_input_zero_point(&mut bias, &weights, input.zero_point)
                .expect("folded bias fits i32");
            let requantization = (index != last).then(|| {
                let output = activation_quantization(layer_low[index], layer_high[index]);
                let (multipliers, shifts): (Vec<i32>, Vec<i8>) = weight_scales
                    .iter()
                    .map(|&ws| {
                        let real = f64::from(input.scale) * f64::from(ws) / f64::from(output.scale);
                        quantize_multiplier(real).expect("multiplier in range")
                    })
                    .unzip();
                OwnedRequantization {
                    multipliers: i32_bytes(&multipliers),
                    shifts: i8_bytes(&shifts),
                    output,
                }
            });
            let next_input = requantization.as_ref().map(|r| r.output);
            layers.push(OwnedLayer {
                inputs: layer.inputs as u32,
                outputs: layer.outputs as u32,
                activation: activation(layer, index == last),
                params: OwnedParams::Int8 {
                    input,
                    weights: i8_bytes(&weights),
                    weight_scales: f32_bytes(&weight_scales),
                    bias: i32_bytes(&bias),
                    requantization,
                },
            });
            if let Some(next) = next_input {
                input = next;
            }
        }
        QuantizedModel {
            model: OwnedModel {
                features: None,
                name: None,
                class_names: Vec::new(),
                header: Header::CURRENT,
                input: self.input,
                classes: self.classes() as u32,
                layers,
            },
        }
    }
}

/// An int8 model made by [`FloatModel::quantize`].
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedModel {
    pub model: OwnedModel,
}

fn activation(layer: &FloatLayer, is_last: bool) -> Activation {
    if is_last {
        Activation::Softmax
    } else if layer.relu {
        Activation::Relu
    } else {
        Activation::None
    }
}

/// int8 quantization of values in `[low, high]` (a range that includes 0), TFLite style:
/// 256 steps over the range, the zero point the integer nearest to real zero.
pub fn activation_quantization(low: f64, high: f64) -> Quantization {
    let (low, high) = (low.min(0.0), high.max(0.0));
    if high - low <= 1e-12 {
        return Quantization {
            scale: 1.0,
            zero_point: -128,
        };
    }
    let scale = (high - low) / 255.0;
    let zero_point = (-128.0 - low / scale).round().clamp(-128.0, 127.0) as i32;
    Quantization {
        scale: scale as f32,
        zero_point,
    }
}

/// The tests' seeded generator for synthesized models and inputs (SplitMix64 from
/// `rand_xoshiro`).
pub struct Random(SplitMix64);

impl Random {
    pub fn new(seed: u64) -> Random {
        Random(SplitMix64::seed_from_u64(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `[-1, 1)`.
    pub fn signed_unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// A float model of the given widths with uniform weights in `±1/sqrt(inputs)` (Glorot-like),
/// small biases, ReLU on hidden layers, seeded.
pub fn random_float_model(input: InputSpec, widths: &[usize], seed: u64) -> FloatModel {
    let mut rng = Random::new(seed);
    let mut inputs = input.len() as usize;
    let mut layers = Vec::new();
    for (index, &outputs) in widths.iter().enumerate() {
        let limit = 1.0 / (inputs as f32).sqrt();
        layers.push(FloatLayer {
            inputs,
            outputs,
            weights: (0..inputs * outputs)
                .map(|_| rng.signed_unit() * limit)
                .collect(),
            bias: (0..outputs).map(|_| rng.signed_unit() * 0.1).collect(),
            relu: index + 1 != widths.len(),
        });
        inputs = outputs;
    }
    FloatModel { input, layers }
}

/// The tiny f32 model of `FORMAT.md`'s worked example: 2 pixels -> 2 ReLU -> 2 softmax.
pub fn tiny_f32_model() -> OwnedModel {
    OwnedModel {
        features: None,
        name: None,
        class_names: Vec::new(),
        header: Header::CURRENT,
        input: row_input(2),
        classes: 2,
        layers: vec![
            OwnedLayer {
                inputs: 2,
                outputs: 2,
                activation: Activation::Relu,
                params: OwnedParams::F32 {
                    weights: f32_bytes(&[0.5, -0.25, -0.5, 1.0]),
                    bias: f32_bytes(&[0.125, -0.0625]),
                },
            },
            OwnedLayer {
                inputs: 2,
                outputs: 2,
                activation: Activation::Softmax,
                params: OwnedParams::F32 {
                    weights: f32_bytes(&[1.0, -1.0, -0.5, 0.75]),
                    bias: f32_bytes(&[0.0, 0.25]),
                },
            },
        ],
    }
}

/// The tiny int8 model of `FORMAT.md`'s worked example: the f32 model's weights quantized by
/// hand (power-of-two scales, so every value is exact).
///
/// Layer 0: weight scales 2^-7 and 2^-6, so W = [[64, -16], [-64, 64]]; bias 0.125 and
/// -0.0625 at scale (1/255)·2^-7 and (1/255)·2^-6 is 4080 and -1020; output quantization
/// scale 2^-7, zero point -128 (0 to 1.99); multipliers from the stored f32 scales:
/// f32(1/255)·2^-7/2^-7 = 0.501960814·2^-7 → (1077952640, -7) and twice that → (1077952640, -6).
/// Layer 1: input (2^-7, -128), weight scales 2^-6, W = [[64, -64], [-32, 48]], bias 0 and
/// 0.25 at scale 2^-13: 0 and 2048, folded with the zero point (+128 times each column's
/// sum, 32 and -16): 4096 and 0; no requantization (last layer).
pub fn tiny_int8_model() -> OwnedModel {
    let hidden = Quantization {
        scale: 0.0078125,
        zero_point: -128,
    };
    OwnedModel {
        features: None,
        name: None,
        class_names: Vec::new(),
        header: Header::CURRENT,
        input: row_input(2),
        classes: 2,
        layers: vec![
            OwnedLayer {
                inputs: 2,
                outputs: 2,
                activation: Activation::Relu,
                params: OwnedParams::Int8 {
                    input: Quantization {
                        scale: 1.0 / 255.0,
                        zero_point: 0,
                    },
                    weights: i8_bytes(&[64, -16, -64, 64]),
                    weight_scales: f32_bytes(&[0.0078125, 0.015625]),
                    bias: i32_bytes(&[4080, -1020]),
                    requantization: Some(OwnedRequantization {
                        multipliers: i32_bytes(&[1_077_952_640, 1_077_952_640]),
                        shifts: i8_bytes(&[-7, -6]),
                        output: hidden,
                    }),
                },
            },
            OwnedLayer {
                inputs: 2,
                outputs: 2,
                activation: Activation::Softmax,
                params: OwnedParams::Int8 {
                    input: hidden,
                    weights: i8_bytes(&[64, -64, -32, 48]),
                    weight_scales: f32_bytes(&[0.015625, 0.015625]),
                    bias: i32_bytes(&[4096, 0]),
                    requantization: None,
                },
            },
        ],
    }
}

// Hand-editing blobs (the malformed-blob and format-rule tests).

/// `Model::from_bytes`, its result only.
pub fn load(blob: &[u8]) -> Result<(), tinymlp::Error> {
    tinymlp::Model::from_bytes(blob).map(|_| ())
}

/// An owned model encoded, then loaded.
pub fn load_model(model: &OwnedModel) -> Result<(), tinymlp::Error> {
    load(&model.encode())
}

/// postcard's (shortest) unsigned varint.
pub fn varint(mut value: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    loop {
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            bytes.push(low);
            return bytes;
        }
        bytes.push(low | 0x80);
    }
}

/// A sealed copy of `blob` (length and checksum recomputed) with `range` replaced by `with`.
pub fn splice(blob: &[u8], range: std::ops::Range<usize>, with: &[u8]) -> Vec<u8> {
    let contents = &blob[..blob.len() - tinymlp::CHECKSUM_LEN];
    tinymlp_fuzz_case::seal(&[&contents[..range.start], with, &contents[range.end..]].concat())
}

/// `FORMAT.md`'s feature example: `tiny_int8_model`'s layers on two raw features
/// (temperature in °C and pressure in hPa, standardized with offsets 20 and 1000 and scales
/// 1/2 and 1/8, quantized at 2^-5 with zero point 0), named "weather", classes "dry" and
/// "rain". Powers of two throughout, so every quantized value is exact.
pub fn tiny_features_int8_model() -> OwnedModel {
    let mut model = tiny_int8_model();
    model.features = Some(OwnedFeatures::new(&[20.0, 1000.0], &[0.5, 0.125]));
    model.name = Some("weather".into());
    model.class_names = vec!["dry".into(), "rain".into()];
    let first = model.int8_mut(0);
    *first.input = Quantization {
        scale: 0.03125,
        zero_point: 0,
    };
    // b0 / (2^-5 · weight scale): 0.125 · 2^12 and -0.0625 · 2^11.
    *first.bias = i32_bytes(&[512, -128]);
    // M = 2^-5 · 2^-7 / 2^-7 = 2^-5 = 0.5 · 2^-4, and 2^-4.
    let requantization = first.requantization.as_mut().unwrap();
    requantization.multipliers = i32_bytes(&[1 << 30, 1 << 30]);
    requantization.shifts = i8_bytes(&[-4, -3]);
    model
}

/// The version 2 blob of a version 3 pixel model without names (`blob`, as the current
/// encoder writes it): version 2 has no input variant index and no names.
pub fn to_version_2(blob: &[u8]) -> Vec<u8> {
    assert_eq!(blob[4], 3, "a version 3 blob");
    assert_eq!(blob[9], 0, "a pixel model");
    // Width, height and channels (varints), scale (4 bytes), zero point, then classes.
    let mut at = 10;
    let skip_varint = |at: &mut usize| {
        while blob[*at] & 0x80 != 0 {
            *at += 1;
        }
        *at += 1;
    };
    for _ in 0..3 {
        skip_varint(&mut at);
    }
    at += 5;
    skip_varint(&mut at);
    assert_eq!(blob[at..at + 2], [0, 0], "no names");
    let contents = [
        &blob[..4],
        &[2, 0, 0, 0, 0],
        &blob[10..at],
        &blob[at + 2..blob.len() - tinymlp::CHECKSUM_LEN],
    ]
    .concat();
    tinymlp_fuzz_case::seal(&contents)
}
