//! Models trained elsewhere (PyTorch, Keras, anything that exports ONNX), read into the
//! trainer's [`Parameters`] so that the export stage quantizes and encodes them as it does
//! the trainer's own models.
//!
//! Two readers:
//! - [`onnx()`]: an ONNX file, the format both frameworks export to. Supported: MLP graphs
//!   ([`SUPPORTED_ONNX`]); anything else is an error that names the node, its op and why.
//! - [`safetensors()`]: a PyTorch `state_dict` saved with the safetensors library
//!   ([`SUPPORTED_SAFETENSORS`]).
//!
//! The model they read becomes the trainer's own model type, so evaluation and export work
//! on it unchanged (`trainer convert` is this, with options):
//!
//! ```no_run
//! use trainer::{data, import, Device, ExportOptions};
//!
//! let imported = import::onnx("model.onnx")?; // e.g. torch.onnx.export's output
//! print!("{}", imported.layer_table());
//! let (train, test) = data::mnist("data/mnist")?;
//! let input = imported.default_input(Some(&train)); // u8 pixels / 255 for MNIST
//! let mut model = imported.into_model(input, Device::Cpu)?;
//! println!("test accuracy: {:.4}", model.evaluate(&test)?.accuracy);
//! let blobs = model.export(&train, &ExportOptions::default())?; // f32 and int8
//! trainer::files::write_atomic("model-int8.tmlp".as_ref(), &blobs.int8)?;
//! # Ok::<(), trainer::Error>(())
//! ```

use std::fmt::Write as _;
use std::path::Path;

use crate::backend::Device;
use crate::data::{Dataset, InputTransform, Inputs};
use crate::error::{Error, Result};
use crate::network::Parameters;
use crate::training::Model;

pub mod convert;
pub mod onnx;
pub mod state_dict;

/// What the ONNX reader accepts, listed in its errors.
pub const SUPPORTED_ONNX: &str = "supported: a single chain from the graph's one input to \
its one output made of Flatten (axis 1) or Reshape (to one vector per sample) at the input; \
dense layers as Gemm (transA 0, any transB, alpha, beta; its bias C, or an Add after it) or \
MatMul (input times weights) followed by Add (the bias); Relu after every dense layer but \
the last; Softmax on the last axis at the end (or nothing: logits); Identity and Dropout \
(dropped); weights as initializers (in the file or an external data file beside it) or \
Constant nodes, in float32, float64, float16 or bfloat16; at most 8 dense layers of at most 4096 inputs and outputs";

/// What the safetensors reader accepts, listed in its errors.
pub const SUPPORTED_SAFETENSORS: &str = "supported: a PyTorch state_dict of nn.Linear \
layers (`NAME.weight` of shape (outputs, inputs) and, optionally, `NAME.bias` of shape \
(outputs)), in the order of their names with numbers compared as numbers (0, 2, 10 or fc1, \
fc2), each layer's inputs the previous one's outputs, ReLU between layers; float32, \
float64, float16 or bfloat16; at most 8 layers of at most 4096 inputs and outputs";

/// Most dense layers a tinymlp model has (the format's limit).
pub const MAX_LAYERS: usize = tinymlp::MAX_LAYERS;
/// Most inputs or outputs of a layer (the format's limit).
pub const MAX_WIDTH: usize = tinymlp::MAX_WIDTH as usize;

/// What the model's last layer ends in, in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// A softmax: the model's outputs are probabilities.
    Softmax,
    /// No activation: the outputs are logits (a PyTorch model trained with
    /// `CrossEntropyLoss`). The tinymlp runtime applies softmax to the last layer either
    /// way, so the blob's probabilities are the softmax of these logits.
    Logits,
}

/// A model read from another framework's file: dense layers with ReLU between them.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The layers' weights, input-major as the trainer's (a PyTorch `Linear.weight` is
    /// transposed on reading).
    pub parameters: Parameters,
    /// What the last layer ends in.
    pub output: Output,
    /// The shape of one sample of the model's input as the file declares it, without the
    /// batch dimension (`[1, 28, 28]` for a PyTorch model taking MNIST images, `[784]` for
    /// a flat input); empty when the file does not say (safetensors).
    pub input_shape: Vec<usize>,
    /// Each layer's name in the file (its node or its module).
    pub layer_names: Vec<String>,
}

impl Imported {
    /// The table `trainer convert` prints: each layer's name, shape, activation and
    /// parameter count, then the total and what the output is.
    pub fn layer_table(&self) -> String {
        let name_width = self
            .layer_names
            .iter()
            .map(|n| n.chars().count())
            .chain([5])
            .max()
            .unwrap_or(5);
        let mut table = String::new();
        let input = match self.input_shape.as_slice() {
            [] => format!("{} values", self.parameters.sizes()[0]),
            shape => shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(" x "),
        };
        let _ = writeln!(table, "input: {input}");
        let _ = writeln!(
            table,
            "{:<5}  {:<name_width$}  {:>13}  {:<10}  {:>10}",
            "layer", "name", "shape", "activation", "parameters"
        );
        let last = self.parameters.layers.len().saturating_sub(1);
        for (i, (layer, name)) in self
            .parameters
            .layers
            .iter()
            .zip(&self.layer_names)
            .enumerate()
        {
            let activation = match (i == last, self.output) {
                (false, _) => "relu",
                (true, Output::Softmax) => "softmax",
                (true, Output::Logits) => "none",
            };
            let _ = writeln!(
                table,
                "{:<5}  {:<name_width$}  {:>13}  {:<10}  {:>10}",
                i + 1,
                name,
                format!("{} -> {}", layer.inputs, layer.outputs),
                activation,
                thousands(layer.weights.len() + layer.bias.len())
            );
        }
        let _ = writeln!(
            table,
            "total: {} parameters",
            thousands(self.parameters.count())
        );
        if self.output == Output::Logits {
            let _ = writeln!(
                table,
                "the model ends in logits (no softmax): the blob applies softmax to them, so \
                 it outputs the probabilities the logits stand for"
            );
        }
        table
    }

    /// The trainer's model of these parameters, reading its input with `input`: export
    /// ([`Model::export`]: the f32 and int8 blobs, quantized as the trainer's own models
    /// are), evaluate and predict work on it as on a trained one.
    pub fn into_model(self, input: InputTransform, device: Device) -> Result<Model> {
        Model::from_parameters(self.parameters, input, device)
    }

    /// The input transform that fits the common case: `u8` pixels divided by 255 for a
    /// model whose declared input is an image (PyTorch's `(1, 28, 28)`, an RGB `(3, 32,
    /// 32)` or `(32, 32, 3)`) or, for
    /// a flat input, when `data` holds images of the model's width; raw f32 features
    /// otherwise (offsets 0, scales 1: the values as they are).
    pub fn default_input(&self, data: Option<&Dataset>) -> InputTransform {
        let width = self.parameters.sizes()[0];
        if let Some((rows, cols, channels)) = self.image_shape() {
            return InputTransform::image(rows, cols, channels);
        }
        if let Some(Dataset {
            inputs: Inputs::Pixels { rows, cols, .. },
            ..
        }) = data
        {
            if rows * cols == width {
                return InputTransform::pixels(*rows, *cols);
            }
        }
        InputTransform::Features {
            offsets: vec![0.0; width],
            scales: vec![1.0; width],
        }
    }

    /// `(height, width, channels)` when the declared input is an image: two or three
    /// dimensions, channels first (PyTorch's `[1, 28, 28]`, `[3, 32, 32]`) or last
    /// (Keras's `[28, 28, 1]`, `[32, 32, 3]`) when one of the outer two is 1 to 4
    /// (channels first when both are: `[3, 4, 4]` is three 4x4 planes).
    pub fn image_shape(&self) -> Option<(usize, usize, usize)> {
        match *self.input_shape.as_slice() {
            [height, width] => Some((height, width, 1)),
            [c, height, width] if (1..=4).contains(&c) => Some((height, width, c)),
            [height, width, c] if (1..=4).contains(&c) => Some((height, width, c)),
            _ => None,
        }
    }
}

/// `25120` as `25,120`.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Reads an ONNX model file (see [`SUPPORTED_ONNX`]), with the weights it keeps in an
/// external file beside it (`model.onnx.data`, as PyTorch's exporter writes them).
pub fn onnx(path: impl AsRef<Path>) -> Result<Imported> {
    onnx::read(path.as_ref())
}

/// Reads a PyTorch `state_dict` saved as safetensors (see [`SUPPORTED_SAFETENSORS`]);
/// `output` says what the last layer ends in (a state_dict holds no activations).
pub fn safetensors(path: impl AsRef<Path>, output: Output) -> Result<Imported> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    state_dict::parse(path, &bytes, output)
}

/// Checks a layer's size against the format's limits, before its weights are rearranged.
fn check_layer_size(inputs: usize, outputs: usize) -> std::result::Result<(), String> {
    if !(1..=MAX_WIDTH).contains(&inputs) || !(1..=MAX_WIDTH).contains(&outputs) {
        return Err(format!(
            "a layer of {inputs} inputs and {outputs} outputs is outside the format's 1..={MAX_WIDTH}"
        ));
    }
    Ok(())
}

/// PyTorch's `(outputs, inputs)` weights as the trainer's input-major ones.
fn transpose(weights: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; weights.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = weights[r * cols + c];
        }
    }
    out
}
