//! The CPU backend: a sparse first layer split by hidden units across threads, small dense
//! products around it, ndarray for any further dense layers.
//!
//! MNIST pixels are about 81 % zeros, so the first layer never touches them: each dataset
//! is kept once as compressed rows of `(pixel index, value)` pairs, the forward product
//! adds one weight row per non-zero pixel (`h += x_j * W[j, :]`, W input-major), and the
//! weight gradient `dW = Xᵀ·dH` sums `x_j * dH[r, :]` over the samples `r` of the batch
//! whose pixel `j` is non-zero (the batch's compressed columns, built in step 1 below while
//! the samples are in cache). Both give the dense result with a fifth of the work.
//!
//! Threads split the first layer's hidden units into contiguous shards: each thread owns
//! its shard of the first layer's weights, bias and optimizer state, the matching rows of
//! the second layer's weights, and its shard of the batch's hidden activations and their
//! gradient. A training step is then:
//!
//! 1. every thread: its hidden units for the batch, and their part of the second layer's
//!    sums, in fixed chunks of [`CHUNK`] hidden units; each thread also sorts its share of
//!    the batch's samples by pixel;
//! 2. the calling thread: adds the chunks in chunk order (so the logits have the same bits
//!    for any thread count), softmax and cross-entropy, the gradient of the second layer's
//!    output, the second layer's bias and any later layers;
//! 3. every thread: its hidden units' gradient, then the gradient and optimizer update of
//!    its shard of the second layer's rows and of the first layer (fused, a row at a time),
//!    while — in the same hand-off — starting step 1 of the next batch.
//!
//! So a step costs one hand-off between threads; the weights a thread updates stay in its
//! own core's cache. The helper threads live for one epoch and wait by spinning briefly,
//! then blocking.

use std::ops::{ControlFlow, Range};
use std::sync::mpsc::{self, Receiver, RecvError, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use crate::backend::{
    Backend, BatchProgress, DatasetId, EpochPlan, EpochStats, Evaluation, Progress,
};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::optimizer::{self, Optimizer, StepScalars, ZeroGradient};
use crate::params::{DenseParams, Parameters};

mod kernels;

pub use kernels::PIXEL_SCALE;
use kernels::{Aligned, LANES};

/// Samples per block when evaluating.
const EVAL_BLOCK: usize = 512;

/// Hidden units of the first layer whose products with the second layer are summed
/// together before the chunks are added in order; shards are whole chunks, so the sums do
/// not depend on the number of threads.
pub const CHUNK: usize = 128;

/// How long a thread spins waiting for the other threads before it blocks. On a quiet
/// machine the waits inside a step are a few microseconds; on a busy one, blocking soon
/// leaves the core to whoever has work.
const SPIN: Duration = Duration::from_micros(50);

/// The CPU training backend.
#[derive(Debug)]
pub struct CpuBackend {
    datasets: Vec<SparseSet>,
    /// The training images of the current epoch, in the epoch's order.
    epoch: SparseRows,
    net: Option<Net>,
    optimizer: Optimizer,
    step: u64,
    threads: usize,
}

/// A dataset with its images in compressed-row form.
#[derive(Debug)]
struct SparseSet {
    data: Arc<Dataset>,
    rows: SparseRows,
}

/// Images in compressed-row form (non-zero pixels only).
#[derive(Debug, Default)]
struct SparseRows {
    /// `offsets[i]..offsets[i + 1]` are image `i`'s entries.
    offsets: Vec<u32>,
    /// Pixel index of each entry, ascending within an image.
    indices: Vec<u16>,
    /// Pixel value of each entry (never 0).
    values: Vec<u8>,
}

impl SparseRows {
    /// Where image `i`'s entries lie in `indices` and `values`.
    fn range(&self, image: usize) -> Range<usize> {
        self.offsets[image] as usize..self.offsets[image + 1] as usize
    }

    /// Replaces these rows by `from`'s images in the order `order`, copying in parallel.
    /// An epoch visits the dataset in a random order; with its images copied into that
    /// order first, each batch reads one contiguous run that the hardware prefetches,
    /// instead of 128 scattered ones that every thread would miss in the cache.
    fn gather(&mut self, from: &SparseRows, order: &[u32]) -> Result<()> {
        const PIECE: usize = 1024;
        self.offsets.clear();
        self.offsets.push(0);
        let mut total = 0u32;
        for &image in order {
            let length = u32::try_from(from.range(image as usize).len()).ok();
            total = length
                .and_then(|length| total.checked_add(length))
                .ok_or_else(|| Error::Config("epoch too large for the CPU backend".into()))?;
            self.offsets.push(total);
        }
        self.indices.resize(total as usize, 0);
        self.values.resize(total as usize, 0);
        let mut pieces = Vec::with_capacity(order.len().div_ceil(PIECE));
        let (mut indices, mut values) = (&mut self.indices[..], &mut self.values[..]);
        for (k, images) in order.chunks(PIECE).enumerate() {
            let first = k * PIECE;
            let length = (self.offsets[first + images.len()] - self.offsets[first]) as usize;
            let (piece_indices, rest) = std::mem::take(&mut indices).split_at_mut(length);
            indices = rest;
            let (piece_values, rest) = std::mem::take(&mut values).split_at_mut(length);
            values = rest;
            pieces.push((images, piece_indices, piece_values));
        }
        pieces
            .into_par_iter()
            .for_each(|(images, mut indices, mut values)| {
                for &image in images {
                    let range = from.range(image as usize);
                    let (to_indices, rest) = std::mem::take(&mut indices).split_at_mut(range.len());
                    indices = rest;
                    let (to_values, rest) = std::mem::take(&mut values).split_at_mut(range.len());
                    values = rest;
                    to_indices.copy_from_slice(&from.indices[range.clone()]);
                    to_values.copy_from_slice(&from.values[range]);
                }
            });
        Ok(())
    }
}

/// The model's parameters, optimizer state and batch buffers.
#[derive(Debug)]
struct Net {
    /// Inputs of the first layer (pixels).
    inputs: usize,
    /// Outputs of the first layer.
    hidden: usize,
    /// The first layer (and the second layer's rows) by hidden units, one shard a thread.
    shards: Vec<Shard>,
    /// The second layer's bias, when there is a second layer.
    second: Option<SecondLayer>,
    /// The third layer on, dense.
    dense: Vec<Layer>,
    /// The buffers of the steps between the two parallel parts.
    middle: Middle,
}

/// The second layer's outputs and bias (its weights live in the shards).
#[derive(Debug)]
struct SecondLayer {
    outputs: usize,
    bias: Aligned,
    bias_slots: Vec<Aligned>,
}

/// A contiguous range of the first layer's hidden units with everything that belongs to
/// them. Rows are padded to a multiple of 16 floats (`stride`) so each starts on a cache
/// line; the padding stays zero.
#[derive(Debug)]
struct Shard {
    /// Position among the shards.
    index: usize,
    params: ShardParams,
    weight_slots: Vec<Aligned>,
    bias_slots: Vec<Aligned>,
    second_slots: Vec<Aligned>,
    /// The batch's hidden activations, `rows x stride`; in step 3, their gradient.
    hidden: Aligned,
    /// The gradient of the second layer's weights, `outputs x stride`.
    second_grad: Aligned,
    /// One row's gradient.
    grad: Aligned,
    /// What step 1 hands to the calling thread: per chunk, the second layer's partial sums
    /// (`rows x outputs`); without a second layer, the logits (`rows x width`).
    out: Vec<f32>,
    /// This shard's share of the columns of the last two batches (even, odd).
    parts: [Arc<BatchPart>; 2],
    /// Per first-layer weight row, zero-gradient steps not yet applied to its optimizer
    /// state (see [`Optimizer::zero_gradient`]).
    deferred: Vec<u32>,
}

/// The parameters a forward pass reads.
#[derive(Debug)]
struct ShardParams {
    /// First hidden unit (a multiple of [`CHUNK`]).
    start: usize,
    /// Number of hidden units.
    width: usize,
    /// `width` rounded up to a multiple of 16.
    stride: usize,
    /// First-layer weights `[inputs][stride]`.
    weights: Aligned,
    /// First-layer bias `[stride]`.
    bias: Aligned,
    /// Second-layer weights, output-major: `[outputs][stride]`, `[k][c]` is `W2[start + c][k]`.
    second: Aligned,
}

/// A dense layer after the second one (input-major, ndarray products).
#[derive(Debug)]
struct Layer {
    inputs: usize,
    outputs: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
    weight_grad: Vec<f32>,
    bias_grad: Vec<f32>,
    weight_slots: Vec<Vec<f32>>,
    bias_slots: Vec<Vec<f32>>,
}

/// Buffers of the calling thread's part of a step.
#[derive(Debug, Default)]
struct Middle {
    /// The second layer's output (pre-activation), or the first layer's logits.
    sums: Array2<f32>,
    /// Activations of the later layers (the second layer's ReLU output first).
    activations: Vec<Array2<f32>>,
    /// Gradient with respect to each later layer's output.
    deltas: Vec<Array2<f32>>,
    /// Gradient with respect to `sums`, shared with the other threads for step 3.
    delta_out: Arc<Vec<f32>>,
    /// Labels of the batch.
    labels: Vec<u8>,
    /// Bias gradient of the second layer.
    bias_grad: Vec<f32>,
}

/// A share of a batch's samples in compressed-column form: for pixel `j`, the entries
/// `starts[j]..starts[j + 1]` of `rows` (position in the batch, ascending) and `values`.
#[derive(Debug, Default, Clone)]
struct BatchPart {
    starts: Vec<u32>,
    rows: Vec<u16>,
    values: Vec<u8>,
}

impl BatchPart {
    fn column(&self, pixel: usize) -> (&[u16], &[u8]) {
        let range = self.starts[pixel] as usize..self.starts[pixel + 1] as usize;
        (&self.rows[range.clone()], &self.values[range])
    }
}

/// What every thread reads during an epoch.
struct Context<'a> {
    set: &'a SparseSet,
    /// The training images in the epoch's order.
    epoch: &'a SparseRows,
    order: &'a [u32],
    batch_size: usize,
    optimizer: Optimizer,
    inputs: usize,
    /// Outputs of the second layer, if there is one.
    second_outputs: Option<usize>,
    /// Outputs of the first layer (the row stride of `delta_out` without a second layer).
    hidden: usize,
    /// Number of shards (threads).
    shards: usize,
}

impl Context<'_> {
    /// Positions in the epoch's order of batch `index`'s samples.
    fn batch_range(&self, index: usize) -> Range<usize> {
        let start = index * self.batch_size;
        start..(start + self.batch_size).min(self.order.len())
    }

    fn batch(&self, index: usize) -> &[u32] {
        &self.order[self.batch_range(index)]
    }

    /// The positions in a batch of `rows` samples whose columns shard `shard` sorts.
    fn share(&self, rows: usize, shard: usize) -> Range<usize> {
        rows * shard / self.shards..rows * (shard + 1) / self.shards
    }
}

/// Step 3's inputs for one batch.
#[derive(Clone)]
struct Backward {
    scalars: StepScalars,
    /// Gradient of the loss with respect to the second layer's output (`rows x outputs`),
    /// or the first layer's logits.
    delta_out: Arc<Vec<f32>>,
    /// The batch's columns, every shard's share in shard order.
    parts: Vec<Arc<BatchPart>>,
}

/// What a helper thread does next: step 3 of one batch and/or step 1 of the next.
struct Job {
    backward: Option<Backward>,
    forward: Option<usize>,
    /// The buffer the helper last handed over, for reuse.
    out: Vec<f32>,
}

/// What a helper thread hands back after a job: its step-1 output and its share of the
/// batch's columns.
type Done = (Vec<f32>, Arc<BatchPart>);

/// The calling thread's end of a helper thread.
struct Link {
    jobs: Sender<Job>,
    done: Receiver<Done>,
    out: Vec<f32>,
    part: Arc<BatchPart>,
}

/// Receives from `channel`, spinning for up to [`SPIN`] before blocking.
fn receive<T>(channel: &Receiver<T>) -> std::result::Result<T, RecvError> {
    let started = Instant::now();
    let mut spins = 0u32;
    loop {
        match channel.try_recv() {
            Ok(value) => return Ok(value),
            Err(TryRecvError::Disconnected) => return Err(RecvError),
            Err(TryRecvError::Empty) => {}
        }
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(64) && started.elapsed() > SPIN {
            return channel.recv();
        }
        std::hint::spin_loop();
    }
}

/// A helper thread: runs jobs on its shard until the calling thread hangs up.
fn helper(shard: &mut Shard, context: &Context<'_>, jobs: Receiver<Job>, done: Sender<Done>) {
    while let Ok(job) = receive(&jobs) {
        shard.out = job.out;
        if let Some(backward) = job.backward {
            shard.backward(context, &backward);
        }
        let part = match job.forward {
            Some(batch) => shard.forward(context, batch),
            None => Arc::default(),
        };
        if done.send((std::mem::take(&mut shard.out), part)).is_err() {
            return;
        }
    }
}

/// Runs `update` on `weights[range]`, its gradient and the same range of every slot.
fn apply(
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
    fn forward(
        &self,
        images: &SparseRows,
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
                &images.values[range],
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
            part.values.resize(total, 0);
            let mut next = part.starts.clone();
            for r in share {
                let range = images.range(first + r);
                for (&j, &v) in images.indices[range.clone()]
                    .iter()
                    .zip(&images.values[range])
                {
                    let at = &mut next[j as usize];
                    part.rows[*at as usize] = r as u16;
                    part.values[*at as usize] = v;
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
    fn forward(&mut self, context: &Context<'_>, batch: usize) -> Arc<BatchPart> {
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
    fn backward(&mut self, context: &Context<'_>, job: &Backward) {
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
fn catch_up(
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

impl Net {
    /// The parameters laid out for `threads` threads, with fresh optimizer state.
    fn new(parameters: &Parameters, optimizer: &Optimizer, threads: usize) -> Net {
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

    fn parameters(&self) -> Parameters {
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

    /// Outputs of the last layer.
    fn classes(&self) -> usize {
        match (self.dense.last(), &self.second) {
            (Some(layer), _) => layer.outputs,
            (None, Some(second)) => second.outputs,
            (None, None) => self.hidden,
        }
    }
}

/// Adds the shards' step-1 outputs into `sums` (`rows x outputs`): the second layer's
/// pre-activation output in chunk order, plus its bias, or the first layer's logits.
fn gather(
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
fn dense_forward(dense: &[Layer], sums: &Array2<f32>, activations: &mut Vec<Array2<f32>>) {
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

impl CpuBackend {
    /// A CPU backend with one thread per rayon thread (by default one per core).
    pub fn new() -> Result<CpuBackend> {
        CpuBackend::with_threads(rayon::current_num_threads())
    }

    /// A CPU backend training on `threads` threads (at least 1). Results do not depend on
    /// the number of threads.
    pub fn with_threads(threads: usize) -> Result<CpuBackend> {
        Ok(CpuBackend {
            datasets: Vec::new(),
            epoch: SparseRows::default(),
            net: None,
            optimizer: Optimizer::default(),
            step: 0,
            threads: threads.max(1),
        })
    }

    fn set(&self, id: DatasetId) -> Result<&SparseSet> {
        self.datasets
            .get(id.0)
            .ok_or_else(|| Error::Backend(format!("unknown dataset {}", id.0)))
    }

    fn check_shapes(&self, set: &SparseSet) -> Result<()> {
        let net = self
            .net
            .as_ref()
            .ok_or_else(|| Error::Backend("set_parameters was not called".into()))?;
        if net.inputs != set.data.pixels() {
            return Err(Error::Config(format!(
                "the model takes {} inputs but the images have {} pixels",
                net.inputs,
                set.data.pixels()
            )));
        }
        let classes = net.classes();
        if let Some(&label) = set.data.labels.iter().find(|&&l| usize::from(l) >= classes) {
            return Err(Error::Config(format!(
                "label {label} does not fit a model with {classes} classes"
            )));
        }
        Ok(())
    }
}

/// Step 2 on the calling thread, from `middle.sums` and `middle.labels`: the batch's loss
/// and the gradient of the second layer's output (into `middle.delta_out`), updating the
/// second layer's bias and the layers after it. Returns (loss sum, correct count).
fn middle_step(
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
fn hand_back_output_gradient(
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

impl Backend for CpuBackend {
    fn device_name(&self) -> String {
        let simd = if cfg!(target_arch = "x86_64") {
            if std::arch::is_x86_feature_detected!("avx512f") {
                ", avx512"
            } else if std::arch::is_x86_feature_detected!("avx2") {
                ", avx2"
            } else {
                ""
            }
        } else {
            ""
        };
        format!("cpu ({} threads{simd})", self.threads)
    }

    fn load_dataset(&mut self, dataset: &Arc<Dataset>) -> Result<DatasetId> {
        let n = dataset.len();
        let pixels = dataset.pixels();
        if pixels > usize::from(u16::MAX) + 1 {
            return Err(Error::Config("too many pixels for the CPU backend".into()));
        }
        let nonzero = dataset.images.iter().filter(|&&p| p != 0).count();
        let mut offsets = Vec::with_capacity(n + 1);
        let mut indices = Vec::with_capacity(nonzero);
        let mut values = Vec::with_capacity(nonzero);
        offsets.push(0u32);
        for image in dataset.images.chunks_exact(pixels.max(1)) {
            for (j, &p) in image.iter().enumerate() {
                if p != 0 {
                    indices.push(j as u16);
                    values.push(p);
                }
            }
            let end = u32::try_from(indices.len())
                .map_err(|_| Error::Config("dataset too large for the CPU backend".into()))?;
            offsets.push(end);
        }
        self.datasets.push(SparseSet {
            data: Arc::clone(dataset),
            rows: SparseRows {
                offsets,
                indices,
                values,
            },
        });
        Ok(DatasetId(self.datasets.len() - 1))
    }

    fn set_parameters(&mut self, parameters: &Parameters, optimizer: &Optimizer) -> Result<()> {
        if parameters.layers.is_empty() {
            return Err(Error::Config("a model needs at least one layer".into()));
        }
        let mut previous = parameters.layers[0].inputs;
        for layer in &parameters.layers {
            if layer.inputs != previous
                || layer.weights.len() != layer.inputs * layer.outputs
                || layer.bias.len() != layer.outputs
            {
                return Err(Error::Config("inconsistent parameter shapes".into()));
            }
            previous = layer.outputs;
        }
        if parameters.layers[0].inputs > usize::from(u16::MAX) + 1 {
            return Err(Error::Config("too many inputs for the CPU backend".into()));
        }
        self.net = Some(Net::new(parameters, optimizer, self.threads));
        self.optimizer = *optimizer;
        self.step = 0;
        Ok(())
    }

    fn parameters(&mut self) -> Result<Parameters> {
        self.net
            .as_ref()
            .map(Net::parameters)
            .ok_or_else(|| Error::Backend("set_parameters was not called".into()))
    }

    fn train_epoch(&mut self, plan: EpochPlan<'_>, progress: Progress<'_>) -> Result<EpochStats> {
        let set = self.set(plan.dataset)?;
        self.check_shapes(set)?;
        let size = set.data.len();
        if let Some(&bad) = plan.order.iter().find(|&&i| i as usize >= size) {
            return Err(Error::Config(format!(
                "sample index {bad} out of range for {size} samples"
            )));
        }
        if plan.batch_size == 0 {
            return Err(Error::Config("batch size must be at least 1".into()));
        }
        if plan.batch_size > usize::from(u16::MAX) + 1 {
            return Err(Error::Config(
                "the CPU backend takes batches of at most 65536 samples".into(),
            ));
        }
        let set = &self.datasets[plan.dataset.0];
        self.epoch.gather(&set.rows, plan.order)?;
        let Some(net) = self.net.as_mut() else {
            return Err(Error::Backend("set_parameters was not called".into()));
        };
        let context = Context {
            set,
            epoch: &self.epoch,
            order: plan.order,
            batch_size: plan.batch_size,
            optimizer: self.optimizer,
            inputs: net.inputs,
            second_outputs: net.second.as_ref().map(|s| s.outputs),
            hidden: net.hidden,
            shards: net.shards.len(),
        };
        let Net {
            shards,
            second,
            dense,
            middle,
            hidden,
            ..
        } = net;
        let hidden = *hidden;
        let layout: Vec<(usize, usize)> = shards
            .iter()
            .map(|s| (s.params.start, s.params.width))
            .collect();
        let step = &mut self.step;
        let optimizer = self.optimizer;
        let batches = plan.order.len().div_ceil(plan.batch_size);
        std::thread::scope(|scope| -> Result<EpochStats> {
            let Some((own, others)) = shards.split_first_mut() else {
                return Err(Error::Backend("no shards".into()));
            };
            let context = &context;
            let mut links = Vec::with_capacity(others.len());
            for shard in others.iter_mut() {
                let (jobs, job_receiver) = mpsc::channel::<Job>();
                let (done_sender, done) = mpsc::channel::<Done>();
                scope.spawn(move || helper(shard, context, job_receiver, done_sender));
                links.push(Link {
                    jobs,
                    done,
                    out: Vec::new(),
                    part: Arc::default(),
                });
            }
            let stopped_worker = || Error::Backend("a CPU worker thread stopped".into());
            let mut pending: Option<Backward> = None;
            let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
            let mut stats = EpochStats {
                loss: 0.0,
                accuracy: 0.0,
                batches: 0,
                stopped: false,
            };
            let mut failure = None;
            for index in 0..batches {
                for link in &mut links {
                    let job = Job {
                        backward: pending.clone(),
                        forward: Some(index),
                        out: std::mem::take(&mut link.out),
                    };
                    link.jobs.send(job).map_err(|_| stopped_worker())?;
                }
                if let Some(backward) = pending.take() {
                    own.backward(context, &backward);
                }
                let own_part = own.forward(context, index);
                for link in &mut links {
                    (link.out, link.part) = receive(&link.done).map_err(|_| stopped_worker())?;
                }

                // Step 2.
                let batch = context.batch(index);
                {
                    let outs: Vec<&[f32]> = std::iter::once(&own.out[..])
                        .chain(links.iter().map(|l| &l.out[..]))
                        .collect();
                    gather(
                        &layout,
                        &outs,
                        second.as_ref(),
                        hidden,
                        batch.len(),
                        &mut middle.sums,
                    );
                }
                middle.labels.clear();
                middle
                    .labels
                    .extend(batch.iter().map(|&i| context.set.data.labels[i as usize]));
                *step += 1;
                let scalars = optimizer.step_scalars(*step);
                let (batch_loss, batch_correct) =
                    middle_step(middle, second.as_mut(), dense, &optimizer, scalars)?;
                pending = Some(Backward {
                    scalars,
                    delta_out: Arc::clone(&middle.delta_out),
                    parts: std::iter::once(own_part)
                        .chain(links.iter_mut().map(|l| std::mem::take(&mut l.part)))
                        .collect(),
                });

                let mean = (batch_loss / batch.len() as f64) as f32;
                if !mean.is_finite() {
                    failure = Some(Error::NonFiniteLoss {
                        epoch: plan.epoch,
                        batch: index + 1,
                        loss: mean,
                    });
                    break;
                }
                loss_sum += batch_loss;
                correct += batch_correct;
                seen += batch.len();
                stats = EpochStats {
                    loss: (loss_sum / seen as f64) as f32,
                    accuracy: correct as f32 / seen as f32,
                    batches: index + 1,
                    stopped: false,
                };
                let report = BatchProgress {
                    batch: index + 1,
                    batches,
                    loss: stats.loss,
                    accuracy: stats.accuracy,
                };
                if progress(report) == ControlFlow::Break(()) {
                    stats.stopped = index + 1 < batches;
                    break;
                }
            }
            // Step 3 of the last batch run.
            if let Some(backward) = pending.take() {
                for link in &mut links {
                    let job = Job {
                        backward: Some(backward.clone()),
                        forward: None,
                        out: std::mem::take(&mut link.out),
                    };
                    link.jobs.send(job).map_err(|_| stopped_worker())?;
                }
                own.backward(context, &backward);
                drop(backward);
                for link in &mut links {
                    (link.out, link.part) = receive(&link.done).map_err(|_| stopped_worker())?;
                }
            }
            match failure {
                Some(error) => Err(error),
                None => Ok(stats),
            }
        })
    }

    fn evaluate(&mut self, dataset: DatasetId) -> Result<Evaluation> {
        let set = self.set(dataset)?;
        self.check_shapes(set)?;
        let Some(net) = self.net.as_ref() else {
            return Err(Error::Backend("set_parameters was not called".into()));
        };
        let n = set.data.len();
        let layout: Vec<(usize, usize)> = net
            .shards
            .iter()
            .map(|s| (s.params.start, s.params.width))
            .collect();
        let second_outputs = net.second.as_ref().map(|s| s.outputs);
        let blocks: Vec<(f64, usize, Vec<u8>)> = (0..n.div_ceil(EVAL_BLOCK))
            .into_par_iter()
            .map(|b| {
                let block = b * EVAL_BLOCK..((b + 1) * EVAL_BLOCK).min(n);
                let mut hidden = Aligned::default();
                let outs: Vec<Vec<f32>> = net
                    .shards
                    .iter()
                    .map(|shard| {
                        let mut out = Vec::new();
                        shard.params.forward(
                            &set.rows,
                            block.clone(),
                            second_outputs,
                            &mut hidden,
                            &mut out,
                            None,
                        );
                        out
                    })
                    .collect();
                let outs: Vec<&[f32]> = outs.iter().map(|o| &o[..]).collect();
                let mut sums = Array2::zeros((0, 0));
                gather(
                    &layout,
                    &outs,
                    net.second.as_ref(),
                    net.hidden,
                    block.len(),
                    &mut sums,
                );
                let mut activations = Vec::new();
                let logits = if net.dense.is_empty() {
                    &sums
                } else {
                    dense_forward(&net.dense, &sums, &mut activations);
                    &activations[net.dense.len()]
                };
                let labels = &set.data.labels[block.clone()];
                let mut predictions = vec![0u8; block.len()];
                let (loss, correct) =
                    softmax_cross_entropy(logits, labels, None, Some(&mut predictions));
                (loss, correct, predictions)
            })
            .collect();
        let loss: f64 = blocks.iter().map(|b| b.0).sum();
        let correct: usize = blocks.iter().map(|b| b.1).sum();
        let predictions = blocks.into_iter().flat_map(|b| b.2).collect();
        Ok(Evaluation {
            loss: (loss / n.max(1) as f64) as f32,
            accuracy: correct as f32 / n.max(1) as f32,
            predictions,
        })
    }
}

fn column_sums(matrix: &Array2<f32>, out: &mut Vec<f32>) {
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
fn softmax_cross_entropy(
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

/// Mean loss and its gradient over `images` (real values) by plain dense backpropagation,
/// one sample at a time: the yardstick the tests hold the fast backends to.
pub fn reference_loss_and_gradient(
    parameters: &Parameters,
    images: &[Vec<f32>],
    labels: &[u8],
) -> (f64, Parameters) {
    // Plain dense backpropagation, one sample at a time: slow, obviously right.
    let mut grad = parameters.clone();
    for layer in &mut grad.layers {
        layer.weights.fill(0.0);
        layer.bias.fill(0.0);
    }
    let count = labels.len() as f32;
    let mut loss = 0.0f64;
    let last = parameters.layers.len() - 1;
    for (x, &label) in images.iter().zip(labels) {
        let mut inputs = vec![x.clone()];
        for (l, layer) in parameters.layers.iter().enumerate() {
            let input = &inputs[l];
            let mut out = layer.bias.clone();
            for (j, &xj) in input.iter().enumerate() {
                for (k, o) in out.iter_mut().enumerate() {
                    *o += xj * layer.weights[j * layer.outputs + k];
                }
            }
            if l != last {
                out.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            inputs.push(out);
        }
        let logits = &inputs[last + 1];
        let probabilities = crate::params::softmax(logits);
        loss += -f64::from(probabilities[label as usize].ln());
        let mut delta: Vec<f32> = probabilities
            .iter()
            .enumerate()
            .map(|(k, &p)| (p - f32::from(u8::from(k == label as usize))) / count)
            .collect();
        for l in (0..=last).rev() {
            let layer = &parameters.layers[l];
            let input = &inputs[l];
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
