//! The CPU backend: a sparse first layer split by hidden units across threads, small dense
//! products around it, ndarray for any further dense layers.
//!
//! MNIST pixels are about 81 % zeros, so the first layer never touches them: each dataset
//! is kept once as compressed rows of `(pixel index, value)` pairs (values stay `u8` for
//! images; features arrive as the model's `f32` values and are kept the same way, their
//! rare zeros skipped), the forward product
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
//!
//! Where each part lives: `sparse` (the compressed rows and a batch's columns), `shard`
//! (steps 1 and 3 on one thread's hidden units), `net` (the parameters' layout and step
//! 2), `threads` (the hand-off between the calling thread and the helpers), `epoch` (one
//! epoch's loop) and `kernels` (the vectorized arithmetic). The backend trusts its input:
//! the host checked shapes, labels and plans before calling (see `crate::backend`).

use std::sync::Arc;

use ndarray::Array2;
use rayon::prelude::*;

use crate::backend::{
    not_ready, unknown_dataset, Backend, DatasetId, EpochPlan, EpochStats, Evaluation, Progress,
};
use crate::data::Dataset;
use crate::error::Result;
use crate::network::{Optimizer, Parameters};

mod epoch;
mod kernels;
mod net;
mod shard;
mod sparse;
mod threads;

use kernels::Aligned;
use net::{dense_forward, gather, softmax_cross_entropy, Net};
use sparse::{SparseRows, SparseSet};

/// Samples per block when evaluating.
const EVAL_BLOCK: usize = 512;

/// Hidden units of the first layer whose products with the second layer are summed
/// together before the chunks are added in order; shards are whole chunks, so the sums do
/// not depend on the number of threads.
pub const CHUNK: usize = 128;

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
        self.datasets.get(id.0).ok_or_else(|| unknown_dataset(id))
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
        self.datasets.push(SparseSet {
            data: Arc::clone(dataset),
            rows: SparseRows::compress(dataset)?,
        });
        Ok(DatasetId(self.datasets.len() - 1))
    }

    fn set_parameters(&mut self, parameters: &Parameters, optimizer: &Optimizer) -> Result<()> {
        self.net = Some(Net::new(parameters, optimizer, self.threads));
        self.optimizer = *optimizer;
        self.step = 0;
        Ok(())
    }

    fn parameters(&mut self) -> Result<Parameters> {
        self.net.as_ref().map(Net::parameters).ok_or_else(not_ready)
    }

    fn train_epoch(&mut self, plan: EpochPlan<'_>, progress: Progress<'_>) -> Result<EpochStats> {
        self.train(plan, progress)
    }

    fn evaluate(&mut self, dataset: DatasetId) -> Result<Evaluation> {
        let set = self.set(dataset)?;
        let net = self.net.as_ref().ok_or_else(not_ready)?;
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
