//! One step on the GPU: the batch gathered, the forward pass, softmax and cross-entropy,
//! the backward pass and the optimizer update, queued on the stream; and for training, the
//! CUDA graph that records a full-batch step once and replays it for every later one.

use cudarc::driver::{sys as driver_sys, CudaGraph, LaunchConfig, PushKernelArg};

use super::buffers::DeviceInputs;
use super::device::{step_failed, Step};
use super::gemm::{matmul, MatmulShape};
use super::{
    elementwise, missing_buffers, to_u32, update, CudaBackend, GpuResult, Pass, SOFTMAX_THREADS,
    THREADS,
};
use crate::backend::{unknown_dataset, DatasetId};
use crate::data::PIXEL_SCALE;
use crate::error::{Error, Result};

impl CudaBackend {
    /// Queues one training step on `rows` rows, or replays / captures its graph.
    pub(super) fn train_step(&mut self, id: DatasetId, rows: usize, stride: usize) -> Result<()> {
        let key = (id.0, rows);
        if rows == stride {
            if let Some(graph) = self.graphs.get(&key) {
                return graph.launch().gpu("launching the step graph");
            }
        }
        // Run it directly (this also warms cuBLAS and loads the kernels before capture)...
        self.enqueue(id, rows, stride, Pass::Train)?;
        // ...and for full batches, record the step for the rest of the epoch and later ones.
        if rows == stride && self.use_graphs {
            match self.capture(id, rows, stride) {
                Ok(graph) => {
                    self.graphs.insert(key, graph);
                }
                Err(error) => {
                    // The step itself already ran; only the replay is lost.
                    let error = step_failed(Step::GraphCapture, &self.gpu.versions, error);
                    eprintln!("warning: {error}; training continues without CUDA graphs");
                    self.graph_failure = Some(error.to_string());
                    self.use_graphs = false;
                }
            }
        }
        Ok(())
    }

    /// Records one training step into a graph without running it.
    fn capture(&mut self, id: DatasetId, rows: usize, stride: usize) -> Result<CudaGraph> {
        self.gpu
            .stream
            .begin_capture(driver_sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
            .gpu("starting graph capture")?;
        let recorded = self.enqueue(id, rows, stride, Pass::Train);
        // Always end the capture, also after a failed enqueue, so the stream is usable.
        let graph = self
            .gpu
            .stream
            .end_capture(driver_sys::CUgraphInstantiate_flags(0))
            .gpu("capturing the step graph");
        recorded?;
        let graph = graph?
            .ok_or_else(|| Error::Backend("cuda: the captured step graph is empty".into()))?;
        graph.upload().gpu("uploading the step graph")?;
        Ok(graph)
    }

    /// Queues the kernels and products of one step (training or evaluation) on the stream.
    pub(super) fn enqueue(
        &mut self,
        id: DatasetId,
        rows: usize,
        stride: usize,
        pass: Pass,
    ) -> Result<()> {
        let gpu = &self.gpu;
        let data = self.datasets.get(id.0).ok_or_else(|| unknown_dataset(id))?;
        let model = self.model.as_mut().ok_or_else(missing_buffers)?;
        let act = self.activations.as_mut().ok_or_else(missing_buffers)?;
        let control = self.control.as_mut().ok_or_else(missing_buffers)?;
        let stream = &gpu.stream;
        let f = &gpu.functions;
        let rows_u32 = to_u32(rows)?;
        let stride_u32 = to_u32(stride)?;
        let features = to_u32(data.features)?;
        let layers = model.layout.layers.clone();
        let last = layers.len() - 1;

        // Gather and scale the batch.
        {
            let order = match pass {
                Pass::Train => &control.order,
                Pass::Evaluate => &control.identity,
            };
            let scale = PIXEL_SCALE;
            let mut launch = match &data.inputs {
                DeviceInputs::Pixels(images) => {
                    let mut launch = stream.launch_builder(&f.gather_batch);
                    launch
                        .arg(images)
                        .arg(&data.labels)
                        .arg(order)
                        .arg(&control.cursor)
                        .arg(&stride_u32)
                        .arg(&rows_u32)
                        .arg(&features)
                        .arg(&scale);
                    launch
                }
                DeviceInputs::Features(values) => {
                    let mut launch = stream.launch_builder(&f.gather_features);
                    launch
                        .arg(values)
                        .arg(&data.labels)
                        .arg(order)
                        .arg(&control.cursor)
                        .arg(&stride_u32)
                        .arg(&rows_u32)
                        .arg(&features);
                    launch
                }
            };
            launch.arg(&mut act.x).arg(&mut act.y);
            let config = LaunchConfig {
                grid_dim: (rows_u32, features.div_ceil(THREADS), 1),
                block_dim: (THREADS, 1, 1),
                shared_mem_bytes: 0,
            };
            // SAFETY: the arguments match gather_batch's (or gather_features') signature; `order` holds at least
            // (cursor + 1) * stride entries for every batch of the pass (checked by the
            // caller), and x / y hold `rows` rows.
            unsafe { launch.launch(config) }.gpu("gather_batch")?;
        }

        // Forward: out_l = in_l · W_l, then bias (+ ReLU) except on the last layer, whose
        // bias the softmax kernel adds.
        for (index, layer) in layers.iter().enumerate() {
            let weights = model
                .params
                .slice(layer.weights..layer.weights + layer.inputs * layer.outputs);
            let (before, after) = act.outputs.split_at_mut(index);
            let out = &mut after[0];
            let input = if index == 0 {
                &act.x
            } else {
                &before[index - 1]
            };
            matmul(
                &gpu.blas,
                MatmulShape {
                    rows,
                    inner: layer.inputs,
                    cols: layer.outputs,
                    a_transposed: false,
                    b_transposed: false,
                },
                input,
                &weights,
                out,
            )?;
            if index != last {
                let bias = model.params.slice(layer.bias..layer.bias + layer.outputs);
                let cols = to_u32(layer.outputs)?;
                let relu = 1i32;
                let n = rows * layer.outputs;
                let mut launch = stream.launch_builder(&f.bias_activation);
                launch
                    .arg(out)
                    .arg(&bias)
                    .arg(&rows_u32)
                    .arg(&cols)
                    .arg(&relu);
                // SAFETY: matches bias_activation; `out` holds rows * cols values.
                unsafe { launch.launch(elementwise(n)) }.gpu("bias_activation")?;
            }
        }

        // Softmax + cross-entropy: loss and accuracy sums, and for training the gradient at
        // the logits and the last bias gradient.
        {
            let out_layer = layers[last];
            let bias = model
                .params
                .slice(out_layer.bias..out_layer.bias + out_layer.outputs);
            let classes = to_u32(out_layer.outputs)?;
            let null: u64 = 0;
            let mut bias_grad = model
                .grads
                .slice_mut(out_layer.bias..out_layer.bias + out_layer.outputs);
            let mut launch = stream.launch_builder(&f.softmax_cross_entropy);
            launch
                .arg(&act.outputs[last])
                .arg(&bias)
                .arg(&act.y)
                .arg(&rows_u32)
                .arg(&classes);
            match pass {
                Pass::Train => {
                    launch
                        .arg(&mut act.deltas[last])
                        .arg(&mut bias_grad)
                        .arg(&null);
                }
                Pass::Evaluate => {
                    launch.arg(&null).arg(&null).arg(&mut control.predictions);
                }
            }
            launch
                .arg(&stride_u32)
                .arg(&mut control.stats)
                .arg(&mut control.cursor);
            let config = LaunchConfig {
                grid_dim: (1, 1, 1),
                block_dim: (SOFTMAX_THREADS, 1, 1),
                shared_mem_bytes: 0,
            };
            // SAFETY: matches softmax_cross_entropy; the predictions buffer holds the whole
            // dataset (evaluation visits it in order, `stride` rows per batch).
            unsafe { launch.launch(config) }.gpu("softmax_cross_entropy")?;
        }
        if pass == Pass::Evaluate {
            return Ok(());
        }

        // Backward, last layer first: dW_l = in_lᵀ · delta_l; delta_{l-1} = delta_l · W_lᵀ,
        // masked by the ReLU of layer l-1, whose bias gradient comes with the mask.
        for (index, layer) in layers.iter().enumerate().rev() {
            {
                let input = if index == 0 {
                    &act.x
                } else {
                    &act.outputs[index - 1]
                };
                let mut weight_grad = model
                    .grads
                    .slice_mut(layer.weights..layer.weights + layer.inputs * layer.outputs);
                matmul(
                    &gpu.blas,
                    MatmulShape {
                        rows: layer.inputs,
                        inner: rows,
                        cols: layer.outputs,
                        a_transposed: true,
                        b_transposed: false,
                    },
                    input,
                    &act.deltas[index],
                    &mut weight_grad,
                )?;
            }
            if index == 0 {
                break;
            }
            let weights = model
                .params
                .slice(layer.weights..layer.weights + layer.inputs * layer.outputs);
            let (before, after) = act.deltas.split_at_mut(index);
            let delta_in = &mut before[index - 1];
            matmul(
                &gpu.blas,
                MatmulShape {
                    rows,
                    inner: layer.outputs,
                    cols: layer.inputs,
                    a_transposed: false,
                    b_transposed: true,
                },
                &after[0],
                &weights,
                delta_in,
            )?;
            let previous = layers[index - 1];
            let cols = to_u32(previous.outputs)?;
            let mut bias_grad = model
                .grads
                .slice_mut(previous.bias..previous.bias + previous.outputs);
            let mut launch = stream.launch_builder(&f.relu_bias_grad);
            launch
                .arg(delta_in)
                .arg(&act.outputs[index - 1])
                .arg(&mut bias_grad)
                .arg(&rows_u32)
                .arg(&cols);
            let config = LaunchConfig {
                grid_dim: (cols.div_ceil(32), 1, 1),
                block_dim: (32, 8, 1),
                shared_mem_bytes: 0,
            };
            // SAFETY: matches relu_bias_grad; both matrices hold rows * cols values.
            unsafe { launch.launch(config) }.gpu("relu_bias_grad")?;
        }
        update::launch(stream, f, model, control)
    }
}
