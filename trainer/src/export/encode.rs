//! Writing models as tinymlp blobs (the format is `runtime/FORMAT.md`; the runtime's own
//! `ModelDef::encode_to_vec` lays out the bytes). Every blob written is loaded back by the
//! runtime before it is returned.

use tinymlp::{
    Activation, DenseLayer, F32Params, Header, Input, Int8Params, ModelDef, Params, Requantization,
};

use super::quantize::QuantizedLayer;
use crate::error::Result;
use crate::network::Parameters;

fn le_f32(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn le_i32(values: &[i32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// What a blob says besides its layers: the input (pixels, or features with their
/// standardization) and the optional names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlobHead<'a> {
    /// The model's input. For an int8 feature model, the first quantized layer's `input`
    /// quantization is the features' (an i8 zero point), not derived from this.
    pub input: Input<'a>,
    /// The model's name, if any (non-empty UTF-8, at most 255 bytes).
    pub name: Option<&'a str>,
    /// No class names, or one per class (each like `name`).
    pub class_names: &'a [String],
}

impl<'a> BlobHead<'a> {
    /// A head with this input and no names.
    pub fn unnamed(input: Input<'a>) -> Self {
        BlobHead {
            input,
            name: None,
            class_names: &[],
        }
    }
}

/// Encodes int8 layers as a tinymlp blob.
pub fn encode_int8(head: &BlobHead<'_>, layers: &[QuantizedLayer]) -> Result<Vec<u8>> {
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
                .map_or(Vec::new(), |r| le_i32(&r.multipliers)),
            shifts: l
                .requantization
                .as_ref()
                .map_or(Vec::new(), |r| r.shifts.iter().map(|&s| s as u8).collect()),
        })
        .collect();
    let count = layers.len();
    let dense: Vec<DenseLayer<'_>> = layers
        .iter()
        .zip(&bytes)
        .enumerate()
        .map(|(i, (l, b))| DenseLayer {
            inputs: l.inputs as u32,
            outputs: l.outputs as u32,
            activation: activation(i, count),
            params: Params::Int8(Int8Params {
                input: l.input,
                weights: &b.weights,
                weight_scales: &b.scales,
                bias: &b.bias,
                requantization: l.requantization.as_ref().map(|r| Requantization {
                    multipliers: &b.multipliers,
                    shifts: &b.shifts,
                    output: r.output,
                }),
            }),
        })
        .collect();
    encode(head, &dense)
}

/// Encodes f32 parameters as a tinymlp blob.
pub fn encode_f32(head: &BlobHead<'_>, parameters: &Parameters) -> Result<Vec<u8>> {
    let bytes: Vec<(Vec<u8>, Vec<u8>)> = parameters
        .layers
        .iter()
        .map(|l| (le_f32(&l.weights), le_f32(&l.bias)))
        .collect();
    let count = parameters.layers.len();
    let dense: Vec<DenseLayer<'_>> = parameters
        .layers
        .iter()
        .zip(&bytes)
        .enumerate()
        .map(|(i, (l, (w, b)))| DenseLayer {
            inputs: l.inputs as u32,
            outputs: l.outputs as u32,
            activation: activation(i, count),
            params: Params::F32(F32Params {
                weights: w,
                bias: b,
            }),
        })
        .collect();
    encode(head, &dense)
}

/// The trainer's MLPs: ReLU on every hidden layer, softmax on the last of `count`.
fn activation(index: usize, count: usize) -> Activation {
    if index + 1 == count {
        Activation::Softmax
    } else {
        Activation::Relu
    }
}

fn encode(head: &BlobHead<'_>, layers: &[DenseLayer<'_>]) -> Result<Vec<u8>> {
    let classes = layers.last().map_or(0, |l| l.outputs);
    let class_names: Vec<&str> = head.class_names.iter().map(String::as_str).collect();
    let blob = ModelDef {
        header: Header::CURRENT,
        input: head.input,
        classes,
        name: head.name,
        class_names: &class_names,
        layers,
    }
    .encode_to_vec()?;
    // Whatever we write must load: the runtime validates everything.
    tinymlp::Model::from_bytes(&blob)?;
    Ok(blob)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::DenseParams;
    use tinymlp::{FeatureSpec, Quantization};

    fn le(values: &[f32]) -> Vec<u8> {
        le_f32(values)
    }

    /// A 3-feature, 2-class single-layer model.
    fn parameters() -> Parameters {
        Parameters {
            layers: vec![DenseParams {
                inputs: 3,
                outputs: 2,
                weights: vec![0.5, -0.5, 0.25, 0.75, -1.0, 1.0],
                bias: vec![0.125, -0.125],
            }],
        }
    }

    #[test]
    fn feature_models_with_names_round_trip() {
        let (offsets, scales) = (le(&[20.0, 1000.0, 0.0]), le(&[0.5, 0.125, 1.0]));
        let class_names = ["dry".to_string(), "rain".to_string()];
        let head = BlobHead {
            input: Input::Features(FeatureSpec {
                offsets: &offsets,
                scales: &scales,
            }),
            name: Some("weather"),
            class_names: &class_names,
        };
        let blob = encode_f32(&head, &parameters()).unwrap();
        let model = tinymlp::Model::from_bytes(&blob).unwrap();
        assert_eq!(*model.input(), head.input);
        assert_eq!(model.name(), Some("weather"));
        assert_eq!(model.class_name(1), Some("rain"));

        // int8: the first layer quantizes the standardized features with its own i8 input
        // quantization (the quantizer's choice), which the runtime accepts for any zero point
        // in -128..=127.
        for zero_point in [-128, 0, 127] {
            let layer = QuantizedLayer {
                inputs: 3,
                outputs: 2,
                input: Quantization {
                    scale: 0.03125,
                    zero_point,
                },
                weights: vec![64, -64, 32, 96, -127, 127],
                weight_scales: vec![0.0078125, 0.0078125],
                bias: vec![512, -512],
                requantization: None,
            };
            let blob = encode_int8(&head, &[layer]).unwrap();
            let model = tinymlp::Model::from_bytes(&blob).unwrap();
            let mut scratch = tinymlp::Int8Scratch::<3, 2>::new();
            let prediction = model
                .predict_features(&[24.0, 1012.0, 0.5], &mut scratch)
                .unwrap();
            assert!(prediction.class < 2);
        }
    }

    #[test]
    fn invalid_names_are_refused_before_a_blob_is_returned() {
        let spec = tinymlp::InputSpec {
            width: 3,
            height: 1,
            channels: 1,
            scale: 1.0 / 255.0,
            zero_point: 0,
        };
        let one_name = ["only one".to_string()];
        let head = BlobHead {
            class_names: &one_name,
            ..BlobHead::unnamed(Input::Pixels(spec))
        };
        let error = encode_f32(&head, &parameters()).unwrap_err();
        assert!(error.to_string().contains("1 of its 2 classes"), "{error}");
    }
}
