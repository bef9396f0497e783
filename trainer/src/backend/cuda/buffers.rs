//! What lives on the device between calls: the datasets, the model (parameters, gradients,
//! optimizer slots), the per-batch activations and the per-pass control buffers (visiting
//! order, Adam's step sizes, batch cursor, running sums, predictions); how they are
//! uploaded, (re)allocated and read back.

use std::sync::Arc;

use cudarc::driver::CudaSlice;

use super::layout::Layout;
use super::{missing_buffers, CudaBackend, GpuResult, EVAL_BATCH};
use crate::backend::{not_ready, unknown_dataset, DatasetId};
use crate::data::{Dataset, Inputs};
use crate::error::{Error, Result};
use crate::network::Optimizer;
use crate::network::Parameters;

/// A dataset resident on the device.
pub(super) struct DeviceDataset {
    pub(super) inputs: DeviceInputs,
    pub(super) labels: CudaSlice<u8>,
    pub(super) len: usize,
    pub(super) features: usize,
}

/// A dataset's inputs on the device: images stay bytes (scaled as they are gathered),
/// features are already the model's values.
pub(super) enum DeviceInputs {
    Pixels(CudaSlice<u8>),
    Features(CudaSlice<f32>),
}

/// Parameters, gradients and optimizer slots, all in the flat [`Layout`].
pub(super) struct Model {
    pub(super) layout: Layout,
    pub(super) optimizer: Optimizer,
    pub(super) params: CudaSlice<f32>,
    pub(super) grads: CudaSlice<f32>,
    pub(super) slots: Vec<CudaSlice<f32>>,
    /// Optimizer steps taken since `set_parameters` (Adam's `t` before the next step).
    pub(super) steps: u64,
}

/// Per-batch activations and their gradients, for up to `capacity` rows.
pub(super) struct Activations {
    pub(super) capacity: usize,
    /// The batch's inputs, `capacity * features`.
    pub(super) x: CudaSlice<f32>,
    /// The batch's labels.
    pub(super) y: CudaSlice<u8>,
    /// Each layer's output (`capacity * outputs`); the last holds logits without bias.
    pub(super) outputs: Vec<CudaSlice<f32>>,
    /// The loss gradient at each layer's pre-activation output.
    pub(super) deltas: Vec<CudaSlice<f32>>,
}

/// What steers a pass over a dataset: the visiting order, Adam's step sizes, the batch
/// cursor, the running sums and the predictions.
pub(super) struct Control {
    pub(super) rows: usize,
    pub(super) batches: usize,
    pub(super) order: CudaSlice<u32>,
    pub(super) identity: CudaSlice<u32>,
    pub(super) predictions: CudaSlice<u8>,
    pub(super) alphas: CudaSlice<f32>,
    pub(super) cursor: CudaSlice<u32>,
    pub(super) stats: CudaSlice<f64>,
}

/// The running sums the softmax kernel keeps (see `kernels/softmax_ce.cu`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Stats {
    pub(super) loss_sum: f64,
    pub(super) correct: f64,
    pub(super) seen: f64,
    pub(super) bad_batch: f64,
    pub(super) bad_loss: f64,
}

impl CudaBackend {
    pub(super) fn dataset(&self, id: DatasetId) -> Result<&DeviceDataset> {
        self.datasets.get(id.0).ok_or_else(|| unknown_dataset(id))
    }

    /// Makes the per-batch buffers hold `rows` and the pass buffers an order of `order_len`
    /// entries in `batches` batches (the host checked that the model fits the dataset).
    pub(super) fn prepare(
        &mut self,
        id: DatasetId,
        rows: usize,
        order_len: usize,
        batches: usize,
    ) -> Result<()> {
        let (len, features) = {
            let data = self.dataset(id)?;
            (data.len.max(order_len), data.features)
        };
        let model = self.model.as_ref().ok_or_else(not_ready)?;
        let stream = &self.gpu.stream;

        let reallocate_activations = match &self.activations {
            Some(a) => a.capacity < rows,
            None => true,
        };
        if reallocate_activations {
            self.graphs.clear();
            let capacity = rows.max(EVAL_BATCH);
            let mut outputs = Vec::new();
            let mut deltas = Vec::new();
            for layer in &model.layout.layers {
                outputs.push(
                    stream
                        .alloc_zeros::<f32>(capacity * layer.outputs)
                        .gpu("allocating activations")?,
                );
                deltas.push(
                    stream
                        .alloc_zeros::<f32>(capacity * layer.outputs)
                        .gpu("allocating activation gradients")?,
                );
            }
            self.activations = Some(Activations {
                capacity,
                x: stream
                    .alloc_zeros::<f32>(capacity * features)
                    .gpu("allocating the batch")?,
                y: stream
                    .alloc_zeros::<u8>(capacity)
                    .gpu("allocating the labels")?,
                outputs,
                deltas,
            });
        }

        let reallocate_control = match &self.control {
            Some(c) => c.rows < len || c.batches < batches,
            None => true,
        };
        if reallocate_control {
            self.graphs.clear();
            let rows = len.max(self.control.as_ref().map_or(0, |c| c.rows));
            let batches = batches.max(self.control.as_ref().map_or(1, |c| c.batches));
            let identity: Vec<u32> = (0..rows as u32).collect();
            self.control = Some(Control {
                rows,
                batches,
                order: stream
                    .alloc_zeros::<u32>(rows)
                    .gpu("allocating the order")?,
                identity: stream
                    .clone_htod(&identity)
                    .gpu("uploading the identity order")?,
                predictions: stream
                    .alloc_zeros::<u8>(rows)
                    .gpu("allocating predictions")?,
                alphas: stream
                    .alloc_zeros::<f32>(batches)
                    .gpu("allocating step sizes")?,
                cursor: stream.alloc_zeros::<u32>(1).gpu("allocating the cursor")?,
                stats: stream.alloc_zeros::<f64>(5).gpu("allocating the sums")?,
            });
        }
        Ok(())
    }

    /// Zeroes the batch cursor and the running sums (queued on the stream).
    pub(super) fn reset_pass(&mut self) -> Result<()> {
        let control = self.control.as_mut().ok_or_else(missing_buffers)?;
        let stream = &self.gpu.stream;
        stream
            .memset_zeros(&mut control.cursor)
            .gpu("resetting the cursor")?;
        stream
            .memset_zeros(&mut control.stats)
            .gpu("resetting the sums")?;
        Ok(())
    }

    /// Waits for the GPU and reads the running sums.
    pub(super) fn read_stats(&self) -> Result<Stats> {
        let control = self.control.as_ref().ok_or_else(missing_buffers)?;
        let stream = &self.gpu.stream;
        let values = stream
            .clone_dtoh(&control.stats)
            .gpu("reading the running loss")?;
        stream.synchronize().gpu("waiting for the GPU")?;
        match values[..] {
            [loss_sum, correct, seen, bad_batch, bad_loss] => Ok(Stats {
                loss_sum,
                correct,
                seen,
                bad_batch,
                bad_loss,
            }),
            _ => Err(Error::Backend(
                "cuda: short read of the running sums".into(),
            )),
        }
    }

    /// Uploads a dataset's images and labels ([`Backend::load_dataset`](crate::backend::Backend::load_dataset)).
    pub(super) fn upload_dataset(&mut self, dataset: &Arc<Dataset>) -> Result<DatasetId> {
        let features = dataset.width();
        let stream = &self.gpu.stream;
        // Empty datasets still get a (one element) allocation so that pointers stay valid.
        let inputs = match &dataset.inputs {
            Inputs::Pixels { images, .. } => DeviceInputs::Pixels(
                if images.is_empty() {
                    stream.alloc_zeros::<u8>(1)
                } else {
                    stream.clone_htod(images)
                }
                .gpu("uploading images")?,
            ),
            Inputs::Features { values, .. } => DeviceInputs::Features(
                if values.is_empty() {
                    stream.alloc_zeros::<f32>(1)
                } else {
                    stream.clone_htod(values)
                }
                .gpu("uploading features")?,
            ),
        };
        let labels = if dataset.labels.is_empty() {
            stream.alloc_zeros::<u8>(1)
        } else {
            stream.clone_htod(&dataset.labels)
        }
        .gpu("uploading labels")?;
        self.datasets.push(DeviceDataset {
            inputs,
            labels,
            len: dataset.len(),
            features,
        });
        Ok(DatasetId(self.datasets.len() - 1))
    }

    /// Uploads the parameters and fresh optimizer state ([`Backend::set_parameters`](crate::backend::Backend::set_parameters)).
    pub(super) fn upload_parameters(
        &mut self,
        parameters: &Parameters,
        optimizer: &Optimizer,
    ) -> Result<()> {
        // Graphs bake in buffers, shapes and optimizer settings: start over.
        self.graphs.clear();
        self.activations = None;
        self.model = None;
        let layout = Layout::of(parameters);
        let stream = &self.gpu.stream;
        let params = stream
            .clone_htod(&layout.flatten(parameters))
            .gpu("uploading parameters")?;
        let grads = stream
            .alloc_zeros::<f32>(layout.len)
            .gpu("allocating gradients")?;
        let slots = (0..optimizer.slots())
            .map(|slot| {
                stream
                    .clone_htod(&layout.filled(optimizer.initial_slot_value(slot)))
                    .gpu("allocating optimizer state")
            })
            .collect::<Result<Vec<_>>>()?;
        self.model = Some(Model {
            layout,
            optimizer: *optimizer,
            params,
            grads,
            slots,
            steps: 0,
        });
        Ok(())
    }

    /// Reads the parameters back ([`Backend::parameters`](crate::backend::Backend::parameters)).
    pub(super) fn download_parameters(&mut self) -> Result<Parameters> {
        let model = self.model.as_ref().ok_or_else(missing_buffers)?;
        let stream = &self.gpu.stream;
        let flat = stream.clone_dtoh(&model.params).gpu("reading parameters")?;
        stream.synchronize().gpu("waiting for the GPU")?;
        Ok(model.layout.unflatten(&flat))
    }
}
