//! Where each layer's weights and bias sit in the one flat device buffer.
//!
//! All parameters live in one allocation (and their gradients and optimizer slots in
//! allocations of the same shape), so that one optimizer launch updates the whole model.
//! Each tensor starts on a 256-byte boundary, the alignment cuBLAS's vectorized kernels
//! prefer; the gaps stay zero in every buffer, and every optimizer maps a zero gradient on a
//! zero weight to a zero update, so they stay zero.

use crate::network::{DenseParams, Parameters};

/// Floats per alignment unit (256 bytes).
const ALIGN: usize = 64;

/// One layer's shape and offsets (in floats) in the flat buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerSlot {
    /// Number of inputs.
    pub inputs: usize,
    /// Number of outputs.
    pub outputs: usize,
    /// Offset of the `inputs * outputs` weights (input-major).
    pub weights: usize,
    /// Offset of the `outputs` biases.
    pub bias: usize,
}

/// The offsets of every layer and the padded total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The layers, first to last.
    pub layers: Vec<LayerSlot>,
    /// Floats in the flat buffer (padding included).
    pub len: usize,
}

fn align(offset: usize) -> usize {
    offset.div_ceil(ALIGN) * ALIGN
}

impl Layout {
    /// The layout for `shapes` = `(inputs, outputs)` per layer.
    pub fn new(shapes: impl IntoIterator<Item = (usize, usize)>) -> Layout {
        let mut len = 0;
        let layers = shapes
            .into_iter()
            .map(|(inputs, outputs)| {
                let weights = align(len);
                let bias = align(weights + inputs * outputs);
                len = bias + outputs;
                LayerSlot {
                    inputs,
                    outputs,
                    weights,
                    bias,
                }
            })
            .collect();
        Layout {
            layers,
            len: align(len),
        }
    }

    /// The layout of `parameters`.
    pub fn of(parameters: &Parameters) -> Layout {
        Layout::new(parameters.layers.iter().map(|l| (l.inputs, l.outputs)))
    }

    /// `parameters` written into a flat buffer of this layout (zeros in the gaps).
    pub fn flatten(&self, parameters: &Parameters) -> Vec<f32> {
        let mut flat = vec![0.0; self.len];
        for (slot, layer) in self.layers.iter().zip(&parameters.layers) {
            flat[slot.weights..slot.weights + layer.weights.len()].copy_from_slice(&layer.weights);
            flat[slot.bias..slot.bias + layer.bias.len()].copy_from_slice(&layer.bias);
        }
        flat
    }

    /// The parameters read back from a flat buffer of this layout.
    pub fn unflatten(&self, flat: &[f32]) -> Parameters {
        let layers = self
            .layers
            .iter()
            .map(|slot| DenseParams {
                inputs: slot.inputs,
                outputs: slot.outputs,
                weights: flat[slot.weights..slot.weights + slot.inputs * slot.outputs].to_vec(),
                bias: flat[slot.bias..slot.bias + slot.outputs].to_vec(),
            })
            .collect();
        Parameters { layers }
    }

    /// A flat buffer of this layout holding `value` at every parameter and zero in the gaps
    /// (the starting value of an optimizer slot).
    pub fn filled(&self, value: f32) -> Vec<f32> {
        let mut flat = vec![0.0; self.len];
        for slot in &self.layers {
            flat[slot.weights..slot.weights + slot.inputs * slot.outputs].fill(value);
            flat[slot.bias..slot.bias + slot.outputs].fill(value);
        }
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_aligned_and_disjoint() {
        let layout = Layout::new([(784, 512), (512, 10)]);
        let mut end = 0;
        for slot in &layout.layers {
            assert_eq!(slot.weights % ALIGN, 0);
            assert_eq!(slot.bias % ALIGN, 0);
            assert!(slot.weights >= end);
            assert!(slot.bias >= slot.weights + slot.inputs * slot.outputs);
            end = slot.bias + slot.outputs;
        }
        assert!(layout.len >= end);
        assert_eq!(layout.len % ALIGN, 0);
        assert_eq!(layout.layers[0].bias, 784 * 512);
    }

    #[test]
    fn flatten_round_trips() {
        let parameters = Parameters {
            layers: vec![
                DenseParams {
                    inputs: 3,
                    outputs: 2,
                    weights: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                    bias: vec![-1.0, -2.0],
                },
                DenseParams {
                    inputs: 2,
                    outputs: 1,
                    weights: vec![7.0, 8.0],
                    bias: vec![9.0],
                },
            ],
        };
        let layout = Layout::of(&parameters);
        let flat = layout.flatten(&parameters);
        assert_eq!(flat.iter().filter(|&&v| v != 0.0).count(), 11);
        assert_eq!(layout.unflatten(&flat), parameters);
        let ones = layout.filled(1.0);
        assert_eq!(ones.iter().sum::<f32>(), 11.0);
    }
}
