//! The one host implementation of the network's arithmetic, plain and obviously right:
//! the forward pass that `predict` and the quantizer's calibration use, and the loss and
//! gradient that the tests hold every backend to. Training runs in a backend; this is the
//! yardstick.

use crate::network::Parameters;

impl Parameters {
    /// Every layer's input for one input `x` of real values, then the logits:
    /// `[x, layer 1's ReLU output, ..., logits]`.
    pub fn activations(&self, x: &[f32]) -> Vec<Vec<f32>> {
        let last = self.layers.len().saturating_sub(1);
        let mut activations = vec![x.to_vec()];
        for (index, layer) in self.layers.iter().enumerate() {
            let input = &activations[index];
            let mut out = layer.bias.clone();
            for (j, &xj) in input.iter().enumerate() {
                // Zero inputs (most pixels, every inactive ReLU) add nothing.
                if xj != 0.0 {
                    let row = &layer.weights[j * layer.outputs..(j + 1) * layer.outputs];
                    out.iter_mut().zip(row).for_each(|(o, w)| *o += xj * w);
                }
            }
            if index != last {
                out.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            activations.push(out);
        }
        activations
    }

    /// The model's logits for one input of real values.
    pub fn logits(&self, x: &[f32]) -> Vec<f32> {
        self.activations(x).pop().unwrap_or_default()
    }
}

/// Softmax of `logits`, numerically stable.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|&z| (z - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

/// Mean categorical cross-entropy and its gradient over `inputs` (real values) by plain
/// dense backpropagation, one sample at a time: slow, obviously right.
pub fn loss_and_gradient(
    parameters: &Parameters,
    inputs: &[Vec<f32>],
    labels: &[u8],
) -> (f64, Parameters) {
    let mut grad = parameters.clone();
    for layer in &mut grad.layers {
        layer.weights.fill(0.0);
        layer.bias.fill(0.0);
    }
    let count = labels.len() as f32;
    let mut loss = 0.0f64;
    let last = parameters.layers.len() - 1;
    for (x, &label) in inputs.iter().zip(labels) {
        let activations = parameters.activations(x);
        let probabilities = softmax(&activations[last + 1]);
        loss += -f64::from(probabilities[label as usize].ln());
        let mut delta: Vec<f32> = probabilities
            .iter()
            .enumerate()
            .map(|(k, &p)| (p - f32::from(u8::from(k == label as usize))) / count)
            .collect();
        for l in (0..=last).rev() {
            let layer = &parameters.layers[l];
            let input = &activations[l];
            let g = &mut grad.layers[l];
            for (j, &xj) in input.iter().enumerate() {
                for (k, &d) in delta.iter().enumerate() {
                    g.weights[j * layer.outputs + k] += xj * d;
                }
            }
            g.bias.iter_mut().zip(&delta).for_each(|(b, d)| *b += d);
            if l > 0 {
                delta = (0..layer.inputs)
                    .map(|j| {
                        if input[j] > 0.0 {
                            (0..layer.outputs)
                                .map(|k| layer.weights[j * layer.outputs + k] * delta[k])
                                .sum()
                        } else {
                            0.0
                        }
                    })
                    .collect();
            }
        }
    }
    (loss / f64::from(count), grad)
}
