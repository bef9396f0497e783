//! Model parameters as host arrays: what the host gives a backend and gets back from it.

use serde::Serialize;

use crate::rng::Rng;

/// One dense layer's parameters, f32, weights input-major (`[inputs][outputs]`, the layout
/// of a Keras `Dense` kernel and of the tinymlp format).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DenseParams {
    /// Number of inputs.
    pub inputs: usize,
    /// Number of outputs.
    pub outputs: usize,
    /// `inputs * outputs` weights; `weights[j * outputs + k]` is W\[j\]\[k\].
    pub weights: Vec<f32>,
    /// `outputs` biases.
    pub bias: Vec<f32>,
}

/// All layers' parameters, first to last. Hidden layers use ReLU, the last layer softmax.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parameters {
    /// The layers, first to last.
    pub layers: Vec<DenseParams>,
}

impl Parameters {
    /// Keras's defaults for `Dense`: Glorot-uniform weights (`U(-l, l)` with
    /// `l = sqrt(6 / (fan_in + fan_out))`) and zero biases. `sizes` is
    /// `[inputs, hidden..., classes]`.
    pub fn glorot_uniform(sizes: &[usize], rng: &mut Rng) -> Parameters {
        let layers = sizes
            .windows(2)
            .map(|pair| {
                let (inputs, outputs) = (pair[0], pair[1]);
                let limit = (6.0 / (inputs + outputs) as f64).sqrt() as f32;
                let weights = (0..inputs * outputs)
                    .map(|_| rng.uniform(-limit, limit))
                    .collect();
                DenseParams {
                    inputs,
                    outputs,
                    weights,
                    bias: vec![0.0; outputs],
                }
            })
            .collect();
        Parameters { layers }
    }

    /// `[inputs, hidden..., classes]`.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes: Vec<usize> = self.layers.iter().map(|l| l.inputs).take(1).collect();
        sizes.extend(self.layers.iter().map(|l| l.outputs));
        sizes
    }

    /// Total number of trainable values.
    pub fn count(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.weights.len() + l.bias.len())
            .sum()
    }
}
