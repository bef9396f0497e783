//! The CPU backend: ndarray tensors, a sparse first layer, 2 threads through rayon.
//!
//! MNIST pixels are about 81 % zeros, so the first layer never touches them: each dataset
//! is kept once as compressed rows of `(pixel index, value)` pairs, the forward product
//! adds one weight row per non-zero pixel (`h += x_j * W[j, :]`, W input-major), and the
//! weight gradient `dW = Xᵀ·dH` adds `x_j * dH[r, :]` into row `j`. Both give the dense
//! result with a fifth of the work. Later layers are dense (`ndarray`'s matrix product).
//! The first layer's gradient, optimizer update and gradient reset run fused per thread
//! over a range of weight rows, chosen so each thread sees as many non-zero pixels.

use std::ops::ControlFlow;
use std::sync::Arc;

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

use crate::backend::{
    Backend, BatchProgress, DatasetId, EpochPlan, EpochStats, Evaluation, Progress,
};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::optimizer::{Optimizer, StepScalars};
use crate::params::{DenseParams, Parameters};

/// The real value of a pixel is `p * PIXEL_SCALE`, as the tinymlp runtime computes it.
pub const PIXEL_SCALE: f32 = 1.0 / 255.0;

/// Samples per block when evaluating.
const EVAL_BLOCK: usize = 512;

/// The CPU training backend.
#[derive(Debug)]
pub struct CpuBackend {
    datasets: Vec<SparseSet>,
    layers: Vec<Layer>,
    optimizer: Optimizer,
    step: u64,
    threads: usize,
    /// Activations of every layer for the current batch (`batch x outputs`).
    activations: Vec<Array2<f32>>,
    /// Gradient of the loss with respect to every layer's pre-activation output.
    deltas: Vec<Array2<f32>>,
    /// The current batch's first-layer input by pixel.
    columns: BatchColumns,
}

/// A dataset in compressed-row form (non-zero pixels only).
#[derive(Debug)]
struct SparseSet {
    data: Arc<Dataset>,
    /// `offsets[i]..offsets[i + 1]` are sample `i`'s entries.
    offsets: Vec<u32>,
    /// Pixel index of each entry, ascending within a sample.
    indices: Vec<u16>,
    /// Pixel value of each entry (never 0).
    values: Vec<u8>,
    /// Per thread, the first pixel index of its range of first-layer weight rows.
    row_splits: Vec<usize>,
}

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

impl SparseSet {
    /// Where sample `i`'s entries lie in `indices` and `values`.
    fn range(&self, sample: u32) -> (usize, usize) {
        (
            self.offsets[sample as usize] as usize,
            self.offsets[sample as usize + 1] as usize,
        )
    }
}

impl CpuBackend {
    /// A CPU backend using rayon's thread pool (by default one thread per core).
    pub fn new() -> Result<CpuBackend> {
        Ok(CpuBackend {
            datasets: Vec::new(),
            layers: Vec::new(),
            optimizer: Optimizer::default(),
            step: 0,
            threads: rayon::current_num_threads().max(1),
            activations: Vec::new(),
            deltas: Vec::new(),
            columns: BatchColumns::default(),
        })
    }

    fn set(&self, id: DatasetId) -> Result<&SparseSet> {
        self.datasets
            .get(id.0)
            .ok_or_else(|| Error::Backend(format!("unknown dataset {}", id.0)))
    }

    fn check_shapes(&self, set: &SparseSet) -> Result<()> {
        let first = self
            .layers
            .first()
            .ok_or_else(|| Error::Backend("set_parameters was not called".into()))?;
        if first.inputs != set.data.pixels() {
            return Err(Error::Config(format!(
                "the model takes {} inputs but the images have {} pixels",
                first.inputs,
                set.data.pixels()
            )));
        }
        let classes = self.layers.last().map_or(0, |l| l.outputs);
        if let Some(&label) = set.data.labels.iter().find(|&&l| usize::from(l) >= classes) {
            return Err(Error::Config(format!(
                "label {label} does not fit a model with {classes} classes"
            )));
        }
        Ok(())
    }

    /// One training step on the samples `batch`; returns (loss sum, correct count).
    fn train_step(&mut self, set_id: DatasetId, batch: &[u32]) -> Result<(f64, usize)> {
        let set = self
            .datasets
            .get(set_id.0)
            .ok_or_else(|| Error::Backend(format!("unknown dataset {}", set_id.0)))?;
        let rows = batch.len();
        let layer_count = self.layers.len();
        for (l, layer) in self.layers.iter().enumerate() {
            for buffers in [&mut self.activations, &mut self.deltas] {
                if buffers.len() <= l {
                    buffers.push(Array2::zeros((rows, layer.outputs)));
                }
                if buffers[l].nrows() != rows {
                    buffers[l] = Array2::zeros((rows, layer.outputs));
                }
            }
        }
        forward(
            &self.layers,
            set,
            batch,
            &mut self.activations,
            self.threads,
        );

        let labels: Vec<u8> = batch.iter().map(|&i| set.data.labels[i as usize]).collect();
        let (loss, correct) = softmax_cross_entropy(
            &self.activations[layer_count - 1],
            &labels,
            Some(&mut self.deltas[layer_count - 1]),
            None,
        );

        // Backward through the dense layers, last to second.
        for l in (1..layer_count).rev() {
            let (before, after) = self.deltas.split_at_mut(l);
            let delta = &after[0];
            let layer = &mut self.layers[l];
            let input = &self.activations[l - 1];
            {
                let mut grad = ndarray::ArrayViewMut2::from_shape(
                    (layer.inputs, layer.outputs),
                    &mut layer.weight_grad,
                )
                .map_err(|e| Error::Backend(e.to_string()))?;
                general_mat_mul(1.0, &input.t(), delta, 0.0, &mut grad);
            }
            column_sums(delta, &mut layer.bias_grad);
            let weights = ArrayView2::from_shape((layer.inputs, layer.outputs), &layer.weights)
                .map_err(|e| Error::Backend(e.to_string()))?;
            let previous = &mut before[l - 1];
            general_mat_mul(1.0, delta, &weights.t(), 0.0, previous);
            // ReLU's derivative: pass the gradient where the activation was positive.
            ndarray::Zip::from(previous).and(input).for_each(|d, &a| {
                if a <= 0.0 {
                    *d = 0.0;
                }
            });
        }

        self.step += 1;
        let scalars = self.optimizer.step_scalars(self.step);
        let optimizer = self.optimizer;
        for layer in self.layers.iter_mut().skip(1) {
            update_dense(&optimizer, scalars, layer);
        }
        let first = &mut self.layers[0];
        column_sums(&self.deltas[0], &mut first.bias_grad);
        update_bias(&optimizer, scalars, first);
        self.columns.build(set, batch, first.inputs);
        sparse_gradient_and_update(
            &optimizer,
            scalars,
            first,
            &self.columns,
            &set.row_splits,
            &self.deltas[0],
        );
        Ok((loss, correct))
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
        let nonzero = dataset.images.iter().filter(|&&p| p != 0).count();
        let mut offsets = Vec::with_capacity(n + 1);
        let mut indices = Vec::with_capacity(nonzero);
        let mut values = Vec::with_capacity(nonzero);
        let mut per_pixel = vec![0u64; pixels];
        offsets.push(0u32);
        for image in dataset.images.chunks_exact(pixels.max(1)) {
            for (j, &p) in image.iter().enumerate() {
                if p != 0 {
                    indices.push(j as u16);
                    values.push(p);
                    per_pixel[j] += 1;
                }
            }
            let end = u32::try_from(indices.len())
                .map_err(|_| Error::Config("dataset too large for the CPU backend".into()))?;
            offsets.push(end);
        }
        // A weight row costs its non-zero entries plus the optimizer update, which is about
        // as much as two entries per batch of 128: weigh rows accordingly.
        let update_cost = (n as u64 / 64).max(1);
        per_pixel.iter_mut().for_each(|c| *c += update_cost);
        let row_splits = balanced_splits(&per_pixel, self.threads);
        self.datasets.push(SparseSet {
            data: Arc::clone(dataset),
            offsets,
            indices,
            values,
            row_splits,
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
        if parameters.layers[0].inputs > usize::from(u16::MAX) {
            return Err(Error::Config("too many inputs for the CPU backend".into()));
        }
        let slots = optimizer.slots();
        self.layers = parameters
            .layers
            .iter()
            .enumerate()
            .map(|(index, p)| Layer {
                inputs: p.inputs,
                outputs: p.outputs,
                weights: p.weights.clone(),
                bias: p.bias.clone(),
                // The first layer's gradient is applied a few rows at a time as it is
                // computed, never stored whole.
                weight_grad: if index == 0 {
                    Vec::new()
                } else {
                    vec![0.0; p.weights.len()]
                },
                bias_grad: vec![0.0; p.bias.len()],
                weight_slots: (0..slots)
                    .map(|s| vec![optimizer.initial_slot_value(s); p.weights.len()])
                    .collect(),
                bias_slots: (0..slots)
                    .map(|s| vec![optimizer.initial_slot_value(s); p.bias.len()])
                    .collect(),
            })
            .collect();
        self.optimizer = *optimizer;
        self.step = 0;
        self.activations.clear();
        self.deltas.clear();
        Ok(())
    }

    fn parameters(&mut self) -> Result<Parameters> {
        Ok(Parameters {
            layers: self
                .layers
                .iter()
                .map(|l| DenseParams {
                    inputs: l.inputs,
                    outputs: l.outputs,
                    weights: l.weights.clone(),
                    bias: l.bias.clone(),
                })
                .collect(),
        })
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
        let batches = plan.order.len().div_ceil(plan.batch_size);
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        let mut stats = EpochStats {
            loss: 0.0,
            accuracy: 0.0,
            batches: 0,
            stopped: false,
        };
        for (index, batch) in plan.order.chunks(plan.batch_size).enumerate() {
            let (batch_loss, batch_correct) = self.train_step(plan.dataset, batch)?;
            let mean = (batch_loss / batch.len() as f64) as f32;
            if !mean.is_finite() {
                return Err(Error::NonFiniteLoss {
                    epoch: plan.epoch,
                    batch: index + 1,
                    loss: mean,
                });
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
        Ok(stats)
    }

    fn evaluate(&mut self, dataset: DatasetId) -> Result<Evaluation> {
        let set = self.set(dataset)?;
        self.check_shapes(set)?;
        let n = set.data.len();
        let order: Vec<u32> = (0..n as u32).collect();
        let layers = &self.layers;
        let blocks: Vec<(f64, usize, Vec<u8>)> = order
            .par_chunks(EVAL_BLOCK)
            .map(|block| {
                let mut activations: Vec<Array2<f32>> = layers
                    .iter()
                    .map(|l| Array2::zeros((block.len(), l.outputs)))
                    .collect();
                forward(layers, set, block, &mut activations, 1);
                let labels: Vec<u8> = block.iter().map(|&i| set.data.labels[i as usize]).collect();
                let mut predictions = vec![0u8; block.len()];
                let last = activations.len() - 1;
                let (loss, correct) = softmax_cross_entropy(
                    &activations[last],
                    &labels,
                    None,
                    Some(&mut predictions),
                );
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

/// Pixel indices splitting `0..counts.len()` into `parts` ranges with about as many
/// non-zero entries each; returns the `parts + 1` boundaries.
fn balanced_splits(counts: &[u64], parts: usize) -> Vec<usize> {
    let total: u64 = counts.iter().sum();
    let mut splits = vec![0];
    let mut running = 0u64;
    for (j, &c) in counts.iter().enumerate() {
        let next = splits.len() as u64;
        if (splits.len() < parts) && running >= total * next / parts as u64 {
            splits.push(j);
        }
        running += c;
    }
    while splits.len() < parts {
        splits.push(counts.len());
    }
    splits.push(counts.len());
    splits
}

/// Forward pass of `samples` through all layers into `activations` (ReLU on hidden layers,
/// raw logits on the last).
fn forward(
    layers: &[Layer],
    set: &SparseSet,
    samples: &[u32],
    activations: &mut [Array2<f32>],
    threads: usize,
) {
    let last = layers.len() - 1;
    let first = &layers[0];
    let out = activations[0]
        .as_slice_mut()
        .expect("activations are contiguous");
    let rows_per_thread = samples.len().div_ceil(threads.max(1)).max(1);
    out.par_chunks_mut(rows_per_thread * first.outputs)
        .zip(samples.par_chunks(rows_per_thread))
        .for_each(|(out, samples)| {
            for (row, &sample) in out.chunks_exact_mut(first.outputs).zip(samples) {
                let (start, end) = (
                    set.offsets[sample as usize] as usize,
                    set.offsets[sample as usize + 1] as usize,
                );
                sparse_row_forward(
                    row,
                    &first.bias,
                    &set.indices[start..end],
                    &set.values[start..end],
                    &first.weights,
                    last != 0,
                );
            }
        });
    for l in 1..layers.len() {
        let layer = &layers[l];
        let (before, after) = activations.split_at_mut(l);
        let out = &mut after[0];
        let weights = ArrayView2::from_shape((layer.inputs, layer.outputs), &layer.weights)
            .expect("weights match the layer shape");
        out.rows_mut()
            .into_iter()
            .for_each(|mut row| row.assign(&ndarray::ArrayView1::from(&layer.bias)));
        general_mat_mul(1.0, &before[l - 1], &weights, 1.0, out);
        if l != last {
            out.mapv_inplace(|v| v.max(0.0));
        }
    }
}

#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
fn sparse_row_forward(
    out: &mut [f32],
    bias: &[f32],
    indices: &[u16],
    values: &[u8],
    weights: &[f32],
    relu: bool,
) {
    let n = out.len();
    out.copy_from_slice(bias);
    // Four input rows per pass: a quarter of the loads and stores of `out`.
    let mut pairs = indices.chunks_exact(4).zip(values.chunks_exact(4));
    for (j, v) in &mut pairs {
        let x = [0, 1, 2, 3].map(|i| f32::from(v[i]) * PIXEL_SCALE);
        let w0 = &weights[j[0] as usize * n..][..n];
        let w1 = &weights[j[1] as usize * n..][..n];
        let w2 = &weights[j[2] as usize * n..][..n];
        let w3 = &weights[j[3] as usize * n..][..n];
        for k in 0..n {
            out[k] += (x[0] * w0[k] + x[1] * w1[k]) + (x[2] * w2[k] + x[3] * w3[k]);
        }
    }
    let rest = indices.len() / 4 * 4;
    for (&j, &v) in indices[rest..].iter().zip(&values[rest..]) {
        let x = f32::from(v) * PIXEL_SCALE;
        let w = &weights[j as usize * n..][..n];
        for (o, &w) in out.iter_mut().zip(w) {
            *o += x * w;
        }
    }
    if relu {
        for o in out.iter_mut() {
            *o = o.max(0.0);
        }
    }
}

/// Rows of first-layer weights whose gradient is computed and applied together.
const UPDATE_ROWS: usize = 16;

/// The batch's non-zero pixels grouped by pixel (compressed columns): for pixel `j`,
/// `starts[j]..starts[j + 1]` index `rows` (position in the batch) and `values`.
#[derive(Debug, Default)]
struct BatchColumns {
    starts: Vec<usize>,
    rows: Vec<u16>,
    values: Vec<u8>,
}

impl BatchColumns {
    fn build(&mut self, set: &SparseSet, batch: &[u32], pixels: usize) {
        self.starts.clear();
        self.starts.resize(pixels + 1, 0);
        for &sample in batch {
            let (from, to) = set.range(sample);
            for &j in &set.indices[from..to] {
                self.starts[j as usize + 1] += 1;
            }
        }
        for j in 0..pixels {
            self.starts[j + 1] += self.starts[j];
        }
        let total = self.starts[pixels];
        self.rows.resize(total, 0);
        self.values.resize(total, 0);
        let mut next = self.starts.clone();
        for (r, &sample) in batch.iter().enumerate() {
            let (from, to) = set.range(sample);
            for (&j, &v) in set.indices[from..to].iter().zip(&set.values[from..to]) {
                let at = &mut next[j as usize];
                self.rows[*at] = r as u16;
                self.values[*at] = v;
                *at += 1;
            }
        }
    }
}

/// First-layer weight gradient `Xᵀ·delta`, computed a few weight rows at a time from the
/// batch's columns and applied by the optimizer at once (no full gradient matrix), each
/// thread on its own range of rows.
fn sparse_gradient_and_update(
    optimizer: &Optimizer,
    scalars: StepScalars,
    layer: &mut Layer,
    columns: &BatchColumns,
    row_splits: &[usize],
    delta: &Array2<f32>,
) {
    let n = layer.outputs;
    let delta = delta.as_slice().expect("deltas are contiguous");
    let zeros = vec![0.0f32; n];
    // Cut weights and every slot at the same row boundaries.
    let mut parts = Vec::new();
    let mut weights = &mut layer.weights[..];
    let mut slots: Vec<&mut [f32]> = layer.weight_slots.iter_mut().map(|s| &mut s[..]).collect();
    for range in row_splits.windows(2) {
        let size = (range[1] - range[0]) * n;
        let (w, w_rest) = std::mem::take(&mut weights).split_at_mut(size);
        let mut part_slots = Vec::new();
        for slot in slots.iter_mut() {
            let (s, s_rest) = std::mem::take(slot).split_at_mut(size);
            part_slots.push(s);
            *slot = s_rest;
        }
        parts.push((range[0], w, part_slots));
        weights = w_rest;
    }
    parts
        .into_par_iter()
        .for_each(|(first_row, weights, mut slots)| {
            let mut grads = vec![0.0f32; UPDATE_ROWS * n];
            for (c, w) in weights.chunks_mut(UPDATE_ROWS * n).enumerate() {
                let rows = w.len() / n;
                let grads = &mut grads[..w.len()];
                for (i, g) in grads.chunks_exact_mut(n).enumerate() {
                    let j = first_row + c * UPDATE_ROWS + i;
                    let (from, to) = (columns.starts[j], columns.starts[j + 1]);
                    sparse_row_forward(
                        g,
                        &zeros,
                        &columns.rows[from..to],
                        &columns.values[from..to],
                        delta,
                        false,
                    );
                }
                let at = c * UPDATE_ROWS * n;
                let mut chunk_slots: Vec<&mut [f32]> = slots
                    .iter_mut()
                    .map(|slot| &mut slot[at..at + rows * n])
                    .collect();
                optimizer.update(scalars, w, grads, &mut chunk_slots);
            }
        });
}

#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
fn relu_mask(delta: &mut [f32], activation: &[f32]) {
    for (d, &a) in delta.iter_mut().zip(activation) {
        *d = if a > 0.0 { *d } else { 0.0 };
    }
}

fn update_dense(optimizer: &Optimizer, scalars: StepScalars, layer: &mut Layer) {
    let mut slots: Vec<&mut [f32]> = layer.weight_slots.iter_mut().map(|s| &mut s[..]).collect();
    optimizer.update(scalars, &mut layer.weights, &layer.weight_grad, &mut slots);
    update_bias(optimizer, scalars, layer);
}

fn update_bias(optimizer: &Optimizer, scalars: StepScalars, layer: &mut Layer) {
    let mut slots: Vec<&mut [f32]> = layer.bias_slots.iter_mut().map(|s| &mut s[..]).collect();
    optimizer.update(scalars, &mut layer.bias, &layer.bias_grad, &mut slots);
}

fn column_sums(matrix: &Array2<f32>, out: &mut [f32]) {
    out.fill(0.0);
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
