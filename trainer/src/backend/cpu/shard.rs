//! A shard: a contiguous range of the first layer's hidden units with everything that
//! belongs to them, and the two parts of a step each thread runs on its own shard: step 1
//! (the forward product) and step 3 (gradients and updates).

use std::ops::Range;
use std::sync::Arc;

use super::epoch::Context;
use super::kernels::{self, Aligned, InputValue};
use super::sparse::{BatchPart, SparseRows, Values};
use super::threads::Backward;
use super::CHUNK;
use crate::network::optimizer::{self, Optimizer, StepScalars, ZeroGradient};

/// A contiguous range of the first layer's hidden units with everything that belongs to
/// them. Rows are padded to a multiple of 16 floats (`stride`) so each starts on a cache
/// line; the padding stays zero.
#[derive(Debug)]
pub(super) struct Shard {
    /// Position among the shards.
    pub(super) index: usize,
    pub(super) params: ShardParams,
    pub(super) weight_slots: Vec<Aligned>,
    pub(super) bias_slots: Vec<Aligned>,
    pub(super) second_slots: Vec<Aligned>,
    /// The batch's hidden activations, `rows x stride`; in step 3, their gradient.
    pub(super) hidden: Aligned,
    /// The gradient of the second layer's weights, `outputs x stride`.
    pub(super) second_grad: Aligned,
    /// One row's gradient.
    pub(super) grad: Aligned,
    /// What step 1 hands to the calling thread: per chunk, the second layer's partial sums
    /// (`rows x outputs`); without a second layer, the logits (`rows x width`).
    pub(super) out: Vec<f32>,
    /// This shard's share of the columns of the last two batches (even, odd).
    pub(super) parts: [Arc<BatchPart>; 2],
    /// Per first-layer weight row, zero-gradient steps not yet applied to its optimizer
    /// state (see [`Optimizer::zero_gradient`]).
    pub(super) deferred: Vec<u32>,
}

/// The parameters a forward pass reads.
#[derive(Debug)]
pub(super) struct ShardParams {
    /// First hidden unit (a multiple of [`CHUNK`]).
    pub(super) start: usize,
    /// Number of hidden units.
    pub(super) width: usize,
    /// `width` rounded up to a multiple of 16.
    pub(super) stride: usize,
    /// First-layer weights `[inputs][stride]`.
    pub(super) weights: Aligned,
    /// First-layer bias `[stride]`.
    pub(super) bias: Aligned,
    /// Second-layer weights, output-major: `[outputs][stride]`, `[k][c]` is `W2[start + c][k]`.
    pub(super) second: Aligned,
}

/// Runs `update` on `weights[range]`, its gradient and the same range of every slot.
pub(super) fn apply(
    optimizer: &Optimizer,
    scalars: StepScalars,
    weights: &mut [f32],
    gradient: &[f32],
    slots: &mut [Aligned],
    range: Range<usize>,
) {
    let weights = &mut weights[range.clone()];
    match slots {
        [] => optimizer.update(scalars, weights, gradient, &mut []),
        [a] => optimizer.update(
            scalars,
            weights,
            gradient,
            &mut [&mut a.as_mut_slice()[range]],
        ),
        [a, b] => optimizer.update(
            scalars,
            weights,
            gradient,
            &mut [
                &mut a.as_mut_slice()[range.clone()],
                &mut b.as_mut_slice()[range],
            ],
        ),
        slots => {
            let mut views: Vec<&mut [f32]> = slots
                .iter_mut()
                .map(|s| &mut s.as_mut_slice()[range.clone()])
                .collect();
            optimizer.update(scalars, weights, gradient, &mut views);
        }
    }
}

impl ShardParams {
    /// Step 1 for `samples`: the hidden activations into `hidden` (`rows x stride`) and
    /// what the calling thread needs into `out`.
    ///
    /// With `part`, also sorts the samples at positions `share` by pixel into it.
    pub(super) fn forward(
        &self,
        images: &SparseRows,
        samples: Range<usize>,
        second_outputs: Option<usize>,
        hidden: &mut Aligned,
        out: &mut Vec<f32>,
        part: Option<(&mut BatchPart, Range<usize>)>,
    ) {
        match &images.values {
            Values::Pixels(values) => {
                self.forward_values(images, values, samples, second_outputs, hidden, out, part)
            }
            Values::Features(values) => {
                self.forward_values(images, values, samples, second_outputs, hidden, out, part)
            }
        }
    }

    /// [`forward`](Self::forward) with `images`' values of one kind.
    #[allow(clippy::too_many_arguments)]
    fn forward_values<V: InputValue>(
        &self,
        images: &SparseRows,
        values: &[V],
        samples: Range<usize>,
        second_outputs: Option<usize>,
        hidden: &mut Aligned,
        out: &mut Vec<f32>,
        mut part: Option<(&mut BatchPart, Range<usize>)>,
    ) {
        let (stride, width) = (self.stride, self.width);
        let rows = samples.len();
        if hidden.len() != rows * stride {
            *hidden = Aligned::filled(rows * stride, 0.0);
        }
        let hidden = hidden.as_mut_slice();
        let weights = self.weights.as_slice();
        let bias = self.bias.as_slice();
        let pixels = self.weights.len() / stride.max(1);
        if let Some((part, _)) = part.as_mut() {
            part.starts.clear();
            part.starts.resize(pixels + 1, 0);
        }
        let first = samples.start;
        for (r, (row, sample)) in hidden.chunks_exact_mut(stride).zip(samples).enumerate() {
            let range = images.range(sample);
            let indices = &images.indices[range.clone()];
            kernels::sparse_forward(
                row,
                bias,
                indices,
                &values[range],
                weights,
                second_outputs.is_some(),
            );
            if let Some((part, share)) = part.as_mut() {
                if share.contains(&r) {
                    for &j in indices {
                        part.starts[j as usize + 1] += 1;
                    }
                }
            }
        }
        if let Some((part, share)) = part {
            for j in 0..pixels {
                part.starts[j + 1] += part.starts[j];
            }
            let total = part.starts[pixels] as usize;
            part.rows.resize(total, 0);
            part.values.resize(total, 0.0);
            let mut next = part.starts.clone();
            for r in share {
                let range = images.range(first + r);
                for (&j, &v) in images.indices[range.clone()].iter().zip(&values[range]) {
                    let at = &mut next[j as usize];
                    part.rows[*at as usize] = r as u16;
                    part.values[*at as usize] = v.real();
                    *at += 1;
                }
            }
        }
        out.clear();
        match second_outputs {
            Some(outputs) => {
                let second = self.second.as_slice();
                for chunk in (0..width).step_by(CHUNK) {
                    let columns = chunk..(chunk + CHUNK).min(width);
                    for row in hidden.chunks_exact(stride) {
                        let h = &row[columns.clone()];
                        for k in 0..outputs {
                            let w = &second[k * stride..][columns.clone()];
                            out.push(kernels::dot(h, w));
                        }
                    }
                }
            }
            None => {
                for row in hidden.chunks_exact(stride) {
                    out.extend_from_slice(&row[..width]);
                }
            }
        }
    }
}

impl Shard {
    /// Step 1 of batch `batch`; returns this shard's share of the batch's columns.
    pub(super) fn forward(&mut self, context: &Context<'_>, batch: usize) -> Arc<BatchPart> {
        let samples = context.batch_range(batch);
        let share = context.share(samples.len(), self.index);
        // The other shards read the part of the batch before (step 3) while this one is
        // built: alternate between two.
        let slot = &mut self.parts[batch % 2];
        let part = Arc::make_mut(slot);
        self.params.forward(
            context.epoch,
            samples,
            context.second_outputs,
            &mut self.hidden,
            &mut self.out,
            Some((part, share)),
        );
        Arc::clone(slot)
    }

    /// Step 3: gradients and updates of this shard's parameters for `job.batch`, whose
    /// step 1 this shard ran last.
    pub(super) fn backward(&mut self, context: &Context<'_>, job: &Backward) {
        let optimizer = &context.optimizer;
        let scalars = job.scalars;
        let ShardParams {
            start,
            width,
            stride,
            weights,
            bias,
            second,
        } = &mut self.params;
        let (start, width, stride) = (*start, *width, *stride);
        if self.grad.len() != stride {
            self.grad = Aligned::filled(stride, 0.0);
        }
        let hidden = self.hidden.as_mut_slice();
        let grad = self.grad.as_mut_slice();
        let delta_out = &job.delta_out[..];

        match context.second_outputs {
            Some(outputs) => {
                let second_weights = second.as_mut_slice();
                // The second layer's gradient first: it needs the activations, which the
                // hidden units' gradient then replaces (one buffer fewer in the cache).
                if self.second_grad.len() != outputs * stride {
                    self.second_grad = Aligned::filled(outputs * stride, 0.0);
                }
                let second_grad = self.second_grad.as_mut_slice();
                for (k, g) in second_grad.chunks_exact_mut(stride).enumerate() {
                    g.fill(0.0);
                    for (r, h) in hidden.chunks_exact(stride).enumerate() {
                        kernels::axpy(g, delta_out[r * outputs + k], h);
                    }
                }
                // The hidden units' gradient, with the second layer's weights before
                // their update.
                for (r, h) in hidden.chunks_exact_mut(stride).enumerate() {
                    grad.fill(0.0);
                    for k in 0..outputs {
                        let w = &second_weights[k * stride..][..stride];
                        kernels::axpy(grad, delta_out[r * outputs + k], w);
                    }
                    kernels::relu_mask(grad, h);
                    h.copy_from_slice(grad);
                }
                for k in 0..outputs {
                    apply(
                        optimizer,
                        scalars,
                        second_weights,
                        &second_grad[k * stride..][..width],
                        &mut self.second_slots,
                        k * stride..k * stride + width,
                    );
                }
            }
            None => {
                for (r, h) in hidden.chunks_exact_mut(stride).enumerate() {
                    let from = r * context.hidden + start;
                    h[..width].copy_from_slice(&delta_out[from..from + width]);
                }
            }
        }
        let delta = &*hidden;

        grad.fill(0.0);
        for d in delta.chunks_exact(stride) {
            kernels::add_assign(grad, d);
        }
        apply(
            optimizer,
            scalars,
            bias.as_mut_slice(),
            &grad[..width],
            &mut self.bias_slots,
            0..width,
        );

        let weights = weights.as_mut_slice();
        let mut columns = Vec::with_capacity(job.parts.len());
        let zero_gradient = optimizer.zero_gradient();
        for j in 0..context.inputs {
            let row = j * stride..j * stride + width;
            columns.clear();
            columns.extend(job.parts.iter().map(|part| part.column(j)));
            // About a third of the pixels are zero in every sample of a batch. Where the
            // optimizer then only scales its first slot, the scaling waits until the row's
            // next real update (or forever, for pixels that are always zero): the same
            // multiplications, without a pass over the row each step.
            if columns.iter().all(|(rows, _)| rows.is_empty()) {
                match zero_gradient {
                    ZeroGradient::Nothing => continue,
                    ZeroGradient::ScaleFirstSlot(_) => {
                        self.deferred[j] += 1;
                        continue;
                    }
                    ZeroGradient::Update => grad.fill(0.0),
                }
            } else {
                kernels::sparse_gradient(grad, &columns, delta);
            }
            catch_up(
                zero_gradient,
                &mut self.deferred[j],
                &mut self.weight_slots,
                row.clone(),
            );
            apply(
                optimizer,
                scalars,
                weights,
                &grad[..width],
                &mut self.weight_slots,
                row,
            );
        }
    }
}

/// Applies a row's `deferred` zero-gradient steps to the `row` range of its first slot.
pub(super) fn catch_up(
    zero_gradient: ZeroGradient,
    deferred: &mut u32,
    slots: &mut [Aligned],
    row: Range<usize>,
) {
    let pending = std::mem::take(deferred);
    if let (ZeroGradient::ScaleFirstSlot(factor), Some(slot)) = (zero_gradient, slots.first_mut()) {
        let slot = &mut slot.as_mut_slice()[row];
        for _ in 0..pending {
            optimizer::scale(factor, slot);
        }
    }
}
