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
