//! The safetensors reader: a PyTorch `state_dict` of `nn.Linear` layers, saved with
//! `safetensors.torch.save_file(model.state_dict(), path)`. The file holds weights only, so
//! the layers' order comes from their names (numbers compared as numbers: `0`, `2`, `10`
//! as nn.Sequential numbers its modules; `fc1`, `fc2`), ReLU is assumed between them, and
//! the last layer's activation is given by the caller.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use super::{check_layer_size, transpose, Imported, Output, MAX_LAYERS, SUPPORTED_SAFETENSORS};
use crate::error::{Error, Result};
use crate::network::{DenseParams, Parameters};

/// Reads a `state_dict` from the bytes of a safetensors file; `path` names it in errors.
pub fn parse(path: &Path, bytes: &[u8], output: Output) -> Result<Imported> {
    read(bytes, output).map_err(|reason| Error::BadData {
        path: path.to_path_buf(),
        reason: format!("{reason}; {SUPPORTED_SAFETENSORS}"),
    })
}

/// One `nn.Linear` module's tensors, by the module's name.
struct Module<'a> {
    name: &'a str,
    weight: Option<safetensors::tensor::TensorView<'a>>,
    bias: Option<safetensors::tensor::TensorView<'a>>,
}

fn read(bytes: &[u8], output: Output) -> std::result::Result<Imported, String> {
    let file =
        SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file ({e})"))?;
    let mut modules: Vec<Module<'_>> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (name, view) in file.iter() {
        let (module, is_weight) = if let Some(module) = name.strip_suffix(".weight") {
            (module, true)
        } else if let Some(module) = name.strip_suffix(".bias") {
            (module, false)
        } else {
            return Err(format!(
                "tensor {name:?} is neither a `.weight` nor a `.bias` of an nn.Linear"
            ));
        };
        let at = *index.entry(module).or_insert_with(|| {
            modules.push(Module {
                name: module,
                weight: None,
                bias: None,
            });
            modules.len() - 1
        });
        if is_weight {
            modules[at].weight = Some(view);
        } else {
            modules[at].bias = Some(view);
        }
    }
    modules.sort_by(|a, b| natural_order(a.name, b.name));
    if modules.is_empty() {
        return Err("the file holds no tensors".into());
    }
    if modules.len() > MAX_LAYERS {
        return Err(format!(
            "{} layers ({}), more than the format's {MAX_LAYERS}",
            modules.len(),
            modules
                .iter()
                .map(|m| m.name)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut layers: Vec<DenseParams> = Vec::with_capacity(modules.len());
    for module in &modules {
        let name = module.name;
        let weight = module
            .weight
            .as_ref()
            .ok_or_else(|| format!("module {name:?} has a bias but no `{name}.weight`"))?;
        let [outputs, inputs] = *weight.shape() else {
            return Err(format!(
                "tensor \"{name}.weight\" has shape {:?}, not (outputs, inputs)",
                weight.shape()
            ));
        };
        check_layer_size(inputs, outputs).map_err(|why| format!("\"{name}.weight\": {why}"))?;
        if let Some(previous) = layers.last() {
            if previous.outputs != inputs {
                return Err(format!(
                    "tensor \"{name}.weight\" takes {inputs} inputs, but the layer before it \
                     ({:?}) has {} outputs",
                    modules[layers.len() - 1].name,
                    previous.outputs
                ));
            }
        }
        let values = floats(weight).map_err(|why| format!("tensor \"{name}.weight\" {why}"))?;
        let bias = match &module.bias {
            Some(bias) => {
                if bias.shape() != [outputs] {
                    return Err(format!(
                        "tensor \"{name}.bias\" has shape {:?}, not ({outputs},)",
                        bias.shape()
                    ));
                }
                floats(bias).map_err(|why| format!("tensor \"{name}.bias\" {why}"))?
            }
            None => vec![0.0; outputs],
        };
        layers.push(DenseParams {
            inputs,
            outputs,
            weights: transpose(&values, outputs, inputs),
            bias,
        });
    }
    Ok(Imported {
        parameters: Parameters { layers },
        output,
        input_shape: Vec::new(),
        layer_names: modules.iter().map(|m| m.name.to_owned()).collect(),
    })
}

/// A tensor's values as f32, each finite. The safetensors crate has checked that the data
/// is exactly as long as the shape and type say.
fn floats(view: &safetensors::tensor::TensorView<'_>) -> std::result::Result<Vec<f32>, String> {
    let data = view.data();
    let values: Vec<f32> = match view.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        other => {
            return Err(format!(
                "is {other:?}, not a floating-point type (F32, F64, F16 or BF16)"
            ))
        }
    };
    if let Some(at) = values.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "holds a non-finite value ({}) at index {at}",
            values[at]
        ));
    }
    Ok(values)
}

/// Names ordered as a person reads them: runs of digits compared as numbers (`2` before
/// `10`), everything else as text.
pub fn natural_order(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        match (a.is_empty(), b.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        let (chunk_a, rest_a) = split_chunk(a);
        let (chunk_b, rest_b) = split_chunk(b);
        let digits = |s: &str| s.starts_with(|c: char| c.is_ascii_digit());
        let order = if digits(chunk_a) && digits(chunk_b) {
            // Compared without parsing, so no number is too long.
            let (ta, tb) = (
                chunk_a.trim_start_matches('0'),
                chunk_b.trim_start_matches('0'),
            );
            ta.len()
                .cmp(&tb.len())
                .then_with(|| ta.cmp(tb))
                .then_with(|| chunk_a.len().cmp(&chunk_b.len()))
        } else {
            chunk_a.cmp(chunk_b)
        };
        if order != Ordering::Equal {
            return order;
        }
        (a, b) = (rest_a, rest_b);
    }
}

/// The leading run of digits or of non-digits, and the rest.
fn split_chunk(s: &str) -> (&str, &str) {
    let digits = s.starts_with(|c: char| c.is_ascii_digit());
    let end = s
        .find(|c: char| c.is_ascii_digit() != digits)
        .unwrap_or(s.len());
    s.split_at(end)
}
