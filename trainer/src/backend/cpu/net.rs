//! The model as the CPU backend lays it out (the first layer and the second layer's rows in
//! shards, the second layer's bias, further layers dense), and step 2 of a training step:
//! the calling thread's loss, output gradient and updates of the layers after the first.

use std::sync::Arc;

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};

use super::kernels::{self, Aligned, LANES};
use super::shard::{apply, Shard, ShardParams};
use super::CHUNK;
use crate::error::{Error, Result};
use crate::network::optimizer::StepScalars;
use crate::network::{DenseParams, Optimizer, Parameters};

/// The model's parameters, optimizer state and batch buffers.
#[derive(Debug)]
pub(super) struct Net {
    /// Inputs of the first layer (pixels).
    pub(super) inputs: usize,
    /// Outputs of the first layer.
    pub(super) hidden: usize,
    /// The first layer (and the second layer's rows) by hidden units, one shard a thread.
    pub(super) shards: Vec<Shard>,
    /// The second layer's bias, when there is a second layer.
    pub(super) second: Option<SecondLayer>,
    /// The third layer on, dense.
    pub(super) dense: Vec<Layer>,
    /// The buffers of the steps between the two parallel parts.
    pub(super) middle: Middle,
}

/// The second layer's outputs and bias (its weights live in the shards).
#[derive(Debug)]
pub(super) struct SecondLayer {
    pub(super) outputs: usize,
    pub(super) bias: Aligned,
    pub(super) bias_slots: Vec<Aligned>,
}

/// A dense layer after the second one (input-major, ndarray products).
#[derive(Debug)]
pub(super) struct Layer {
    pub(super) inputs: usize,
    pub(super) outputs: usize,
    pub(super) weights: Vec<f32>,
    pub(super) bias: Vec<f32>,
    pub(super) weight_grad: Vec<f32>,
    pub(super) bias_grad: Vec<f32>,
    pub(super) weight_slots: Vec<Vec<f32>>,
    pub(super) bias_slots: Vec<Vec<f32>>,
}

/// Buffers of the calling thread's part of a step.
#[derive(Debug, Default)]
pub(super) struct Middle {
    /// The second layer's output (pre-activation), or the first layer's logits.
    pub(super) sums: Array2<f32>,
    /// Activations of the later layers (the second layer's ReLU output first).
    pub(super) activations: Vec<Array2<f32>>,
    /// Gradient with respect to each later layer's output.
    pub(super) deltas: Vec<Array2<f32>>,
    /// Gradient with respect to `sums`, shared with the other threads for step 3.
    pub(super) delta_out: Arc<Vec<f32>>,
    /// Labels of the batch.
    pub(super) labels: Vec<u8>,
    /// Bias gradient of the second layer.
    pub(super) bias_grad: Vec<f32>,
}

impl Net {
    /// The parameters laid out for `threads` threads, with fresh optimizer state.
    pub(super) fn new(parameters: &Parameters, optimizer: &Optimizer, threads: usize) -> Net {
        let first = &parameters.layers[0];
        let (inputs, hidden) = (first.inputs, first.outputs);
        let second = parameters.layers.get(1);
        let slots = optimizer.slots();
        let new_slots = |len: usize| -> Vec<Aligned> {
            (0..slots)
                .map(|s| Aligned::filled(len, optimizer.initial_slot_value(s)))
                .collect()
        };
        let chunks = hidden.div_ceil(CHUNK).max(1);
        let parts = threads.clamp(1, chunks);
        let shards = (0..parts)
            .map(|t| {
                let start = (chunks * t / parts * CHUNK).min(hidden);
                let end = (chunks * (t + 1) / parts * CHUNK).min(hidden);
                let (width, stride) = (end - start, (end - start).div_ceil(LANES) * LANES);
                let mut weights = Aligned::filled(inputs * stride, 0.0);
                for (j, row) in weights.as_mut_slice().chunks_exact_mut(stride).enumerate() {
                    row[..width].copy_from_slice(&first.weights[j * hidden + start..][..width]);
                }
                let mut bias = Aligned::filled(stride, 0.0);
                bias.as_mut_slice()[..width].copy_from_slice(&first.bias[start..end]);
                let outputs = second.map_or(0, |s| s.outputs);
                let mut second_weights = Aligned::filled(outputs * stride, 0.0);
                if let Some(layer) = second {
                    let w = second_weights.as_mut_slice();
                    for k in 0..outputs {
                        for c in 0..width {
                            w[k * stride + c] = layer.weights[(start + c) * outputs + k];
                        }
                    }
                }
                Shard {
                    index: t,
                    params: ShardParams {
                        start,
                        width,
                        stride,
                        weights,
                        bias,
                        second: second_weights,
                    },
                    weight_slots: new_slots(inputs * stride),
                    bias_slots: new_slots(stride),
                    second_slots: new_slots(outputs * stride),
                    hidden: Aligned::default(),
                    second_grad: Aligned::default(),
                    grad: Aligned::default(),
                    out: Vec::new(),
                    parts: Default::default(),
                    deferred: vec![0; inputs],
                }
            })
            .collect();
        let second = second.map(|layer| {
            let mut bias = Aligned::filled(layer.outputs, 0.0);
            bias.as_mut_slice().copy_from_slice(&layer.bias);
            SecondLayer {
                outputs: layer.outputs,
                bias,
                bias_slots: new_slots(layer.outputs),
            }
        });
        let dense = parameters
            .layers
            .iter()
            .skip(2)
            .map(|p| Layer {
                inputs: p.inputs,
                outputs: p.outputs,
                weights: p.weights.clone(),
                bias: p.bias.clone(),
                weight_grad: vec![0.0; p.weights.len()],
                bias_grad: vec![0.0; p.bias.len()],
                weight_slots: (0..slots)
                    .map(|s| vec![optimizer.initial_slot_value(s); p.weights.len()])
                    .collect(),
                bias_slots: (0..slots)
                    .map(|s| vec![optimizer.initial_slot_value(s); p.bias.len()])
                    .collect(),
            })
            .collect();
        Net {
            inputs,
            hidden,
            shards,
            second,
            dense,
            middle: Middle::default(),
        }
    }

    pub(super) fn parameters(&self) -> Parameters {
        let (inputs, hidden) = (self.inputs, self.hidden);
        let mut first = DenseParams {
            inputs,
            outputs: hidden,
            weights: vec![0.0; inputs * hidden],
            bias: vec![0.0; hidden],
        };
        let mut layers = Vec::new();
        let mut second = self.second.as_ref().map(|s| DenseParams {
            inputs: hidden,
            outputs: s.outputs,
            weights: vec![0.0; hidden * s.outputs],
            bias: s.bias.as_slice().to_vec(),
        });
        for shard in &self.shards {
            let ShardParams {
                start,
                width,
                stride,
                ..
            } = shard.params;
            let weights = shard.params.weights.as_slice();
            for j in 0..inputs {
                first.weights[j * hidden + start..][..width]
                    .copy_from_slice(&weights[j * stride..][..width]);
            }
            first.bias[start..start + width]
                .copy_from_slice(&shard.params.bias.as_slice()[..width]);
            if let Some(second) = &mut second {
                let outputs = second.outputs;
                let w = shard.params.second.as_slice();
                for k in 0..outputs {
                    for c in 0..width {
                        second.weights[(start + c) * outputs + k] = w[k * stride + c];
                    }
                }
            }
        }
        layers.push(first);
        layers.extend(second);
        layers.extend(self.dense.iter().map(|l| DenseParams {
            inputs: l.inputs,
            outputs: l.outputs,
            weights: l.weights.clone(),
            bias: l.bias.clone(),
        }));
        Parameters { layers }
    }
}

/// Adds the shards' step-1 outputs into `sums` (`rows x outputs`): the second layer's
/// pre-activation output in chunk order, plus its bias, or the first layer's logits.
pub(super) fn gather(
    layout: &[(usize, usize)],
    outs: &[&[f32]],
    second: Option<&SecondLayer>,
    hidden: usize,
    rows: usize,
    sums: &mut Array2<f32>,
) {
    let outputs = second.map_or(hidden, |s| s.outputs);
    if sums.dim() != (rows, outputs) {
        *sums = Array2::zeros((rows, outputs));
    }
    let Some(sums) = sums.as_slice_mut() else {
        return;
    };
    match second {
        Some(second) => {
            sums.fill(0.0);
            for out in outs {
                for chunk in out.chunks_exact(rows * outputs) {
                    kernels::add_assign(sums, chunk);
                }
            }
            for row in sums.chunks_exact_mut(outputs) {
                kernels::add_assign(row, second.bias.as_slice());
            }
        }
        None => {
            for (&(start, width), out) in layout.iter().zip(outs) {
                for (r, logits) in out.chunks_exact(width.max(1)).take(rows).enumerate() {
                    sums[r * hidden + start..][..width].copy_from_slice(logits);
                }
            }
        }
    }
}

/// Forward through the third layer on: `activations[0]` is the second layer's ReLU
/// output, `activations[l]` the output of dense layer `l - 1` (the last, raw logits).
pub(super) fn dense_forward(
    dense: &[Layer],
    sums: &Array2<f32>,
    activations: &mut Vec<Array2<f32>>,
) {
    let rows = sums.nrows();
    activations.resize_with(dense.len() + 1, || Array2::zeros((0, 0)));
    activations[0] = sums.mapv(|v| v.max(0.0));
    let last = dense.len().saturating_sub(1);
    for (l, layer) in dense.iter().enumerate() {
        let (before, after) = activations.split_at_mut(l + 1);
        let out = &mut after[0];
        if out.dim() != (rows, layer.outputs) {
            *out = Array2::zeros((rows, layer.outputs));
        }
        let Ok(weights) = ArrayView2::from_shape((layer.inputs, layer.outputs), &layer.weights)
        else {
            return;
        };
        out.rows_mut()
            .into_iter()
            .for_each(|mut row| row.assign(&ndarray::ArrayView1::from(&layer.bias)));
        general_mat_mul(1.0, &before[l], &weights, 1.0, out);
        if l != last {
            out.mapv_inplace(|v| v.max(0.0));
        }
    }
}

/// Step 2 on the calling thread, from `middle.sums` and `middle.labels`: the batch's loss
/// and the gradient of the second layer's output (into `middle.delta_out`), updating the
/// second layer's bias and the layers after it. Returns (loss sum, correct count).
pub(super) fn middle_step(
    middle: &mut Middle,
    second: Option<&mut SecondLayer>,
    dense: &mut [Layer],
    optimizer: &Optimizer,
    scalars: StepScalars,
) -> Result<(f64, usize)> {
    let Middle {
        sums,
        activations,
        deltas,
        delta_out,
        labels,
        bias_grad,
    } = middle;
    let delta_out = Arc::make_mut(delta_out);
    if dense.is_empty() {
        deltas.resize_with(1, || Array2::zeros((0, 0)));
        if deltas[0].dim() != sums.dim() {
            deltas[0] = Array2::zeros(sums.dim());
        }
        let (loss, correct) = softmax_cross_entropy(sums, labels, Some(&mut deltas[0]), None);
        hand_back_output_gradient(&deltas[0], delta_out, bias_grad, second, optimizer, scalars);
        return Ok((loss, correct));
    }
    let Some(second) = second else {
        return Err(Error::Backend("dense layers without a second layer".into()));
    };
    dense_forward(dense, sums, activations);
    let count = dense.len();
    deltas.resize_with(count + 1, || Array2::zeros((0, 0)));
    for (l, activation) in activations.iter().enumerate() {
        if deltas[l].dim() != activation.dim() {
            deltas[l] = Array2::zeros(activation.dim());
        }
    }
    let (loss, correct) =
        softmax_cross_entropy(&activations[count], labels, Some(&mut deltas[count]), None);
    // Back through the dense layers: `deltas[l]` is the gradient of `activations[l]`'s
    // pre-activation.
    for l in (1..=count).rev() {
        let layer = &mut dense[l - 1];
        let (before, after) = deltas.split_at_mut(l);
        let delta = &after[0];
        let input = &activations[l - 1];
        {
            let mut grad =
                ArrayViewMut2::from_shape((layer.inputs, layer.outputs), &mut layer.weight_grad)
                    .map_err(|e| Error::Backend(e.to_string()))?;
            general_mat_mul(1.0, &input.t(), delta, 0.0, &mut grad);
        }
        column_sums(delta, &mut layer.bias_grad);
        let weights = ArrayView2::from_shape((layer.inputs, layer.outputs), &layer.weights)
            .map_err(|e| Error::Backend(e.to_string()))?;
        let previous = &mut before[l - 1];
        general_mat_mul(1.0, delta, &weights.t(), 0.0, previous);
        if let (Some(previous), Some(input)) = (previous.as_slice_mut(), input.as_slice()) {
            kernels::relu_mask(previous, input);
        }
    }
    for layer in dense.iter_mut() {
        let mut slots: Vec<&mut [f32]> =
            layer.weight_slots.iter_mut().map(|s| &mut s[..]).collect();
        optimizer.update(scalars, &mut layer.weights, &layer.weight_grad, &mut slots);
        let mut slots: Vec<&mut [f32]> = layer.bias_slots.iter_mut().map(|s| &mut s[..]).collect();
        optimizer.update(scalars, &mut layer.bias, &layer.bias_grad, &mut slots);
    }
    hand_back_output_gradient(
        &deltas[0],
        delta_out,
        bias_grad,
        Some(second),
        optimizer,
        scalars,
    );
    Ok((loss, correct))
}

/// The end of [`middle_step`]: copies the gradient of the second layer's output into
/// `delta_out` for the threads' backward pass, and updates the second layer's bias with its
/// column sums.
pub(super) fn hand_back_output_gradient(
    delta: &Array2<f32>,
    delta_out: &mut Vec<f32>,
    bias_grad: &mut Vec<f32>,
    second: Option<&mut SecondLayer>,
    optimizer: &Optimizer,
    scalars: StepScalars,
) {
    delta_out.clear();
    delta_out.extend(delta.iter());
    if let Some(second) = second {
        column_sums(delta, bias_grad);
        apply(
            optimizer,
            scalars,
            second.bias.as_mut_slice(),
            bias_grad,
            &mut second.bias_slots,
            0..second.outputs,
        );
    }
}

pub(super) fn column_sums(matrix: &Array2<f32>, out: &mut Vec<f32>) {
    out.clear();
    out.resize(matrix.ncols(), 0.0);
    for row in matrix.rows() {
        for (o, &v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

/// Fused softmax and categorical cross-entropy over the rows of `logits`.
/// Returns (sum of losses, correct predictions). With `delta`, writes the gradient of the
/// mean loss with respect to the logits, `(softmax - onehot) / rows`; with `predictions`,
/// writes each row's most probable class.
pub(super) fn softmax_cross_entropy(
    logits: &Array2<f32>,
    labels: &[u8],
    mut delta: Option<&mut Array2<f32>>,
    mut predictions: Option<&mut [u8]>,
) -> (f64, usize) {
    let rows = logits.nrows();
    let scale = 1.0 / rows as f32;
    let mut loss = 0.0f64;
    let mut correct = 0;
    for (r, z) in logits.axis_iter(Axis(0)).enumerate() {
        let label = usize::from(labels[r]);
        let (mut best, mut max) = (0, f32::NEG_INFINITY);
        for (k, &v) in z.iter().enumerate() {
            if v > max {
                (best, max) = (k, v);
            }
        }
        let sum: f32 = z.iter().map(|&v| (v - max).exp()).sum();
        loss += f64::from(sum.ln() - (z[label] - max));
        correct += usize::from(best == label);
        if let Some(predictions) = predictions.as_deref_mut() {
            predictions[r] = best as u8;
        }
        if let Some(delta) = delta.as_deref_mut() {
            for (k, d) in delta.row_mut(r).iter_mut().enumerate() {
                let p = (z[k] - max).exp() / sum;
                *d = (p - if k == label { 1.0 } else { 0.0 }) * scale;
            }
        }
    }
    (loss, correct)
}
