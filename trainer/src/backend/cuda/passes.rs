//! The [`Backend`] implementation: the epoch (batches in the host's order, graphs replayed,
//! running figures read every [`REPORT_EVERY`] batches) and the evaluation pass.

use std::ops::ControlFlow;
use std::sync::Arc;

use super::{missing_buffers, CudaBackend, GpuResult, Pass, EVAL_BATCH, REPORT_EVERY};
use crate::backend::{
    Backend, BatchProgress, DatasetId, EpochPlan, EpochStats, Evaluation, Progress,
};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::network::Optimizer;
use crate::network::Parameters;

impl Backend for CudaBackend {
    fn device_name(&self) -> String {
        match &self.graph_failure {
            None => self.gpu.name.clone(),
            Some(failure) => format!("{} [graphs off: {failure}]", self.gpu.name),
        }
    }

    fn load_dataset(&mut self, dataset: &Arc<Dataset>) -> Result<DatasetId> {
        self.upload_dataset(dataset)
    }

    fn set_parameters(&mut self, parameters: &Parameters, optimizer: &Optimizer) -> Result<()> {
        self.upload_parameters(parameters, optimizer)
    }

    fn parameters(&mut self) -> Result<Parameters> {
        self.download_parameters()
    }

    fn train_epoch(&mut self, plan: EpochPlan<'_>, progress: Progress<'_>) -> Result<EpochStats> {
        self.dataset(plan.dataset)?;
        let batch_size = plan.batch_size;
        let n = plan.order.len();
        let batches = n.div_ceil(batch_size);
        if batches == 0 {
            return Ok(EpochStats {
                loss: 0.0,
                accuracy: 0.0,
                batches: 0,
                stopped: false,
            });
        }
        self.prepare(plan.dataset, batch_size, n, batches)?;
        {
            let control = self.control.as_mut().ok_or_else(missing_buffers)?;
            let model = self.model.as_ref().ok_or_else(missing_buffers)?;
            let stream = &self.gpu.stream;
            let mut order = control.order.slice_mut(0..n);
            stream
                .memcpy_htod(plan.order, &mut order)
                .gpu("uploading the order")?;
            if let Optimizer::Adam(_) = model.optimizer {
                let alphas: Vec<f32> = (1..=batches as u64)
                    .map(|i| model.optimizer.step_scalars(model.steps + i).alpha)
                    .collect();
                let mut target = control.alphas.slice_mut(0..batches);
                stream
                    .memcpy_htod(&alphas, &mut target)
                    .gpu("uploading Adam's step sizes")?;
            }
        }
        self.reset_pass()?;

        let mut done = 0;
        let mut stopped = false;
        let mut stats = None;
        for batch in 0..batches {
            let rows = batch_size.min(n - batch * batch_size);
            let step = self.train_step(plan.dataset, rows, batch_size);
            if step.is_ok() {
                done += 1;
            }
            if let Some(model) = self.model.as_mut() {
                model.steps += u64::from(step.is_ok());
            }
            step?;
            if done % REPORT_EVERY == 0 || done == batches {
                let current = self.read_stats()?;
                stats = Some(current);
                if current.bad_batch != 0.0 {
                    return Err(Error::NonFiniteLoss {
                        epoch: plan.epoch,
                        batch: current.bad_batch as usize,
                        loss: current.bad_loss as f32,
                    });
                }
                let flow = progress(BatchProgress {
                    batch: done,
                    batches,
                    loss: (current.loss_sum / current.seen) as f32,
                    accuracy: (current.correct / current.seen) as f32,
                });
                if flow == ControlFlow::Break(()) {
                    stopped = true;
                    break;
                }
            }
        }
        let stats = match stats {
            Some(stats) => stats,
            None => self.read_stats()?,
        };
        Ok(EpochStats {
            loss: (stats.loss_sum / stats.seen) as f32,
            accuracy: (stats.correct / stats.seen) as f32,
            batches: done,
            stopped,
        })
    }

    fn evaluate(&mut self, dataset: DatasetId) -> Result<Evaluation> {
        let len = self.dataset(dataset)?.len;
        if len == 0 {
            return Ok(Evaluation {
                loss: 0.0,
                accuracy: 0.0,
                predictions: Vec::new(),
            });
        }
        let batches = len.div_ceil(EVAL_BATCH);
        self.prepare(dataset, EVAL_BATCH, len, batches)?;
        self.reset_pass()?;
        for batch in 0..batches {
            let rows = EVAL_BATCH.min(len - batch * EVAL_BATCH);
            self.enqueue(dataset, rows, EVAL_BATCH, Pass::Evaluate)?;
        }
        let stats = self.read_stats()?;
        let control = self.control.as_ref().ok_or_else(missing_buffers)?;
        let predictions = self
            .gpu
            .stream
            .clone_dtoh(&control.predictions.slice(0..len))
            .gpu("reading predictions")?;
        self.gpu.stream.synchronize().gpu("waiting for the GPU")?;
        Ok(Evaluation {
            loss: (stats.loss_sum / stats.seen) as f32,
            accuracy: (stats.correct / stats.seen) as f32,
            predictions,
        })
    }
}
