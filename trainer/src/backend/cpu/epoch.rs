//! One training epoch on the CPU: the calling thread and the helpers run the steps of
//! every batch (see the module documentation of `cpu` for the three steps).

use std::ops::{ControlFlow, Range};
use std::sync::mpsc;
use std::sync::Arc;

use super::net::{gather, middle_step, Net};
use super::sparse::{SparseRows, SparseSet};
use super::threads::{helper, receive, Backward, Done, Job, Link};
use super::CpuBackend;
use crate::backend::{not_ready, unknown_dataset, BatchProgress, EpochPlan, EpochStats, Progress};
use crate::error::{Error, Result};
use crate::network::Optimizer;

/// What every thread reads during an epoch.
pub(super) struct Context<'a> {
    pub(super) set: &'a SparseSet,
    /// The training images in the epoch's order.
    pub(super) epoch: &'a SparseRows,
    pub(super) order: &'a [u32],
    pub(super) batch_size: usize,
    pub(super) optimizer: Optimizer,
    pub(super) inputs: usize,
    /// Outputs of the second layer, if there is one.
    pub(super) second_outputs: Option<usize>,
    /// Outputs of the first layer (the row stride of `delta_out` without a second layer).
    pub(super) hidden: usize,
    /// Number of shards (threads).
    pub(super) shards: usize,
}

impl Context<'_> {
    /// Positions in the epoch's order of batch `index`'s samples.
    pub(super) fn batch_range(&self, index: usize) -> Range<usize> {
        let start = index * self.batch_size;
        start..(start + self.batch_size).min(self.order.len())
    }

    pub(super) fn batch(&self, index: usize) -> &[u32] {
        &self.order[self.batch_range(index)]
    }

    /// The positions in a batch of `rows` samples whose columns shard `shard` sorts.
    pub(super) fn share(&self, rows: usize, shard: usize) -> Range<usize> {
        rows * shard / self.shards..rows * (shard + 1) / self.shards
    }
}

impl CpuBackend {
    /// One epoch over `plan.order` (checked by the host: indices in range, batch size
    /// 1..=`MAX_BATCH`).
    pub(super) fn train(
        &mut self,
        plan: EpochPlan<'_>,
        progress: Progress<'_>,
    ) -> Result<EpochStats> {
        let set = self
            .datasets
            .get(plan.dataset.0)
            .ok_or_else(|| unknown_dataset(plan.dataset))?;
        self.epoch.gather(&set.rows, plan.order)?;
        let net = self.net.as_mut().ok_or_else(not_ready)?;
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
}
