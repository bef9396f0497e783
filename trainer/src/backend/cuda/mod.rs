//! The CUDA backend: the whole training loop on an NVIDIA GPU through cudarc.
//!
//! - The datasets live on the device as `u8`; each step gathers its batch there from the
//!   host's shuffled order (uploaded once per epoch) and scales it by 1/255.
//! - Matrix products are cuBLAS SGEMM calls (row-major through swapped operands); the rest
//!   are NVRTC-compiled kernels (`trainer/kernels/*.cu`): bias + ReLU, the ReLU mask with the
//!   bias gradient, fused softmax + cross-entropy (forward, backward, loss and accuracy
//!   sums), and one optimizer launch over all parameters (kept in one flat buffer).
//! - A full training step is captured once in a CUDA graph and replayed for every full
//!   batch: the batch position and Adam's step live in device memory, so the same graph
//!   serves the whole epoch and no step waits for the host. The host reads the running loss
//!   and accuracy (a few doubles) every [`REPORT_EVERY`] batches.
//!
//! Nothing here touches the driver before [`probe`] has found the libraries: cudarc panics
//! when asked for a context without a driver.
//!
//! Two environment variables exist for measurements: `TINYMLP_CUDA_GRAPHS=0` runs every
//! step without graphs (to see what they save), and `TINYMLP_CUDA_TF32=1` lets cuBLAS use
//! TF32 tensor cores for the products (faster, 10-bit mantissas; off by default so that the
//! GPU computes what the CPU computes). Both show in the device name.

mod gemm;
mod kernels;
mod layout;

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use cudarc::cublas::{sys as cublas_sys, CudaBlas};
use cudarc::driver::{
    sys as driver_sys, CudaContext, CudaFunction, CudaGraph, CudaSlice, CudaStream, DevicePtr,
    LaunchConfig, PushKernelArg,
};

use self::gemm::{matmul, MatmulShape};
use self::layout::Layout;
use crate::backend::cpu::PIXEL_SCALE;
use crate::backend::{
    Backend, BatchProgress, DatasetId, EpochPlan, EpochStats, Evaluation, Progress,
};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::optimizer::Optimizer;
use crate::params::Parameters;

/// Batches between two reads of the running figures (each read waits for the GPU).
const REPORT_EVERY: usize = 50;

/// Rows per evaluation batch (evaluation runs without graphs: a few launches per batch).
const EVAL_BATCH: usize = 1024;

/// cuBLAS workspace, given to cuBLAS up front so that graph capture never allocates
/// (NVIDIA recommends 32 MiB on Hopper).
const CUBLAS_WORKSPACE_BYTES: usize = 32 << 20;

/// Threads per block of the element-wise kernels.
const THREADS: u32 = 256;

/// The CUDA backend, or [`Error::DeviceUnavailable`] when no driver, library or GPU is usable.
pub fn new_backend() -> Result<Box<dyn Backend>> {
    probe()?;
    // cudarc panics on a few conditions (a symbol missing from an old driver, for one)
    // instead of returning an error; a GPU that cannot start must not take the CLI down.
    match std::panic::catch_unwind(CudaBackend::new) {
        Ok(backend) => Ok(Box::new(backend?)),
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(unavailable(format!(
                "the CUDA runtime failed to start: {message}"
            )))
        }
    }
}

fn unavailable(reason: impl Into<String>) -> Error {
    Error::DeviceUnavailable {
        device: "cuda",
        reason: reason.into(),
    }
}

/// Checks that the driver, NVRTC and cuBLAS can be loaded and that a device exists, without
/// touching anything in cudarc that panics when they cannot.
fn probe() -> Result<()> {
    // SAFETY: each probe only tries to dlopen the library under its usual names.
    if !unsafe { driver_sys::is_culib_present() } {
        return Err(unavailable(
            "no NVIDIA driver library (libcuda.so) found on this machine",
        ));
    }
    // SAFETY: as above.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err(unavailable(
            "the NVIDIA driver is present but NVRTC is not: install the CUDA toolkit's NVRTC \
             or put the folder holding libnvrtc.so (or libnvrtc.so.12) on LD_LIBRARY_PATH; a \
             CUDA 13 install that only has libnvrtc.so.13 needs a libnvrtc.so link to it",
        ));
    }
    // SAFETY: as above.
    if !unsafe { cublas_sys::is_culib_present() } {
        return Err(unavailable(
            "the NVIDIA driver is present but cuBLAS is not: install the CUDA toolkit's cuBLAS \
             or put the folder holding libcublas.so (or libcublas.so.12) on LD_LIBRARY_PATH; a \
             CUDA 13 install that only has libcublas.so.13 needs a libcublas.so link to it",
        ));
    }
    cudarc::driver::result::init()
        .map_err(|e| unavailable(format!("the CUDA driver did not initialize: {e}")))?;
    let count = cudarc::driver::result::device::get_count()
        .map_err(|e| unavailable(format!("cannot count CUDA devices: {e}")))?;
    if count < 1 {
        return Err(unavailable("the CUDA driver reports no device"));
    }
    Ok(())
}

/// Turns any cudarc error into the trainer's backend error, saying what was being done.
pub(crate) trait GpuResult<T> {
    fn gpu(self, what: &str) -> Result<T>;
}

impl<T, E: std::fmt::Display> GpuResult<T> for std::result::Result<T, E> {
    fn gpu(self, what: &str) -> Result<T> {
        self.map_err(|e| Error::Backend(format!("cuda: {what}: {e}")))
    }
}

/// The loaded kernels.
struct Functions {
    gather_batch: CudaFunction,
    bias_activation: CudaFunction,
    relu_bias_grad: CudaFunction,
    softmax_cross_entropy: CudaFunction,
    rmsprop_update: CudaFunction,
    rmsprop_momentum_update: CudaFunction,
    sgd_update: CudaFunction,
    sgd_momentum_update: CudaFunction,
    adam_update: CudaFunction,
    adagrad_update: CudaFunction,
}

/// The device, its stream, cuBLAS and the kernels.
struct Gpu {
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    functions: Functions,
    name: String,
    // Given to cuBLAS; must outlive the handle's use.
    _blas_workspace: CudaSlice<u8>,
}

/// A dataset resident on the device.
struct DeviceDataset {
    images: CudaSlice<u8>,
    labels: CudaSlice<u8>,
    len: usize,
    features: usize,
}

/// Parameters, gradients and optimizer slots, all in the flat [`Layout`].
struct Model {
    layout: Layout,
    optimizer: Optimizer,
    params: CudaSlice<f32>,
    grads: CudaSlice<f32>,
    slots: Vec<CudaSlice<f32>>,
    /// Optimizer steps taken since `set_parameters` (Adam's `t` before the next step).
    steps: u64,
}

/// Per-batch activations and their gradients, for up to `capacity` rows.
struct Activations {
    capacity: usize,
    /// The batch's inputs, `capacity * features`.
    x: CudaSlice<f32>,
    /// The batch's labels.
    y: CudaSlice<u8>,
    /// Each layer's output (`capacity * outputs`); the last holds logits without bias.
    outputs: Vec<CudaSlice<f32>>,
    /// The loss gradient at each layer's pre-activation output.
    deltas: Vec<CudaSlice<f32>>,
}

/// What steers a pass over a dataset: the visiting order, Adam's step sizes, the batch
/// cursor, the running sums and the predictions.
struct Control {
    rows: usize,
    batches: usize,
    order: CudaSlice<u32>,
    identity: CudaSlice<u32>,
    predictions: CudaSlice<u8>,
    alphas: CudaSlice<f32>,
    cursor: CudaSlice<u32>,
    stats: CudaSlice<f64>,
}

/// The running sums the softmax kernel keeps (see `kernels/softmax_ce.cu`).
#[derive(Debug, Clone, Copy)]
struct Stats {
    loss_sum: f64,
    correct: f64,
    seen: f64,
    bad_batch: f64,
    bad_loss: f64,
}

/// The CUDA training backend.
pub struct CudaBackend {
    gpu: Gpu,
    datasets: Vec<DeviceDataset>,
    model: Option<Model>,
    activations: Option<Activations>,
    control: Option<Control>,
    /// One replayable training step per (dataset, batch size). Graphs hold raw pointers to
    /// the buffers above: every reallocation clears them.
    graphs: HashMap<(usize, usize), CudaGraph>,
    /// Whether full batches are captured and replayed (off by request, or after a failed
    /// capture: then every step runs directly, slower but the same arithmetic).
    use_graphs: bool,
}

/// Whether the environment variable `name` is set to `value`.
fn env_is(name: &str, value: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == value)
}

impl CudaBackend {
    fn new() -> Result<CudaBackend> {
        let ctx = CudaContext::new(0).gpu("creating a context on device 0")?;
        // One stream does everything, so cudarc's cross-stream event tracking is not needed;
        // its events would also be recorded into captured graphs.
        // SAFETY: called before any allocation; all work goes to the one stream below.
        unsafe { ctx.disable_event_tracking() };
        // Graph capture needs a stream other than the legacy default stream.
        let stream = ctx.new_stream().gpu("creating a stream")?;
        let name = ctx.name().gpu("reading the device name")?;
        let (major, minor) = ctx
            .compute_capability()
            .gpu("reading the compute capability")?;
        let memory_mib = ctx.total_mem().gpu("reading the memory size")? >> 20;

        let image =
            kernels::image_for(major, minor).map_err(|e| Error::Backend(format!("cuda: {e}")))?;
        let arch = image.description.clone();
        let module = ctx.load_module(image.ptx).gpu("loading the kernels")?;
        let load = |name: &str| module.load_function(name).gpu(name);
        let functions = Functions {
            gather_batch: load("gather_batch")?,
            bias_activation: load("bias_activation")?,
            relu_bias_grad: load("relu_bias_grad")?,
            softmax_cross_entropy: load("softmax_cross_entropy")?,
            rmsprop_update: load("rmsprop_update")?,
            rmsprop_momentum_update: load("rmsprop_momentum_update")?,
            sgd_update: load("sgd_update")?,
            sgd_momentum_update: load("sgd_momentum_update")?,
            adam_update: load("adam_update")?,
            adagrad_update: load("adagrad_update")?,
        };

        let blas = CudaBlas::new(stream.clone()).gpu("creating the cuBLAS handle")?;
        let workspace = stream
            .alloc_zeros::<u8>(CUBLAS_WORKSPACE_BYTES)
            .gpu("allocating the cuBLAS workspace")?;
        {
            let (pointer, _guard) = workspace.device_ptr(&stream);
            // SAFETY: the workspace is a live device allocation of the stated size, owned by
            // the backend alongside the handle.
            unsafe {
                cublas_sys::cublasSetWorkspace_v2(
                    *blas.handle(),
                    pointer as *mut std::ffi::c_void,
                    CUBLAS_WORKSPACE_BYTES,
                )
            }
            .result()
            .gpu("setting the cuBLAS workspace")?;
        }
        let tf32 = env_is("TINYMLP_CUDA_TF32", "1");
        if tf32 {
            // SAFETY: a live handle and a valid math mode.
            unsafe {
                cublas_sys::cublasSetMathMode(
                    *blas.handle(),
                    cublas_sys::cublasMath_t::CUBLAS_TF32_TENSOR_OP_MATH,
                )
            }
            .result()
            .gpu("enabling TF32")?;
        }
        let use_graphs = !env_is("TINYMLP_CUDA_GRAPHS", "0");
        let mut notes = String::new();
        if tf32 {
            notes.push_str(", tf32");
        }
        if !use_graphs {
            notes.push_str(", no graphs");
        }

        Ok(CudaBackend {
            gpu: Gpu {
                stream,
                blas,
                functions,
                name: format!("cuda:0 {name} ({arch}, {memory_mib} MiB{notes})"),
                _blas_workspace: workspace,
            },
            datasets: Vec::new(),
            model: None,
            activations: None,
            control: None,
            graphs: HashMap::new(),
            use_graphs,
        })
    }

    fn dataset(&self, id: DatasetId) -> Result<&DeviceDataset> {
        self.datasets
            .get(id.0)
            .ok_or_else(|| Error::Config(format!("unknown dataset id {}", id.0)))
    }

    /// Checks that the model fits `dataset`, that the per-batch buffers hold `rows` and that
    /// the pass buffers hold an order of `order_len` entries in `batches` batches.
    fn prepare(
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
        let model = self
            .model
            .as_ref()
            .ok_or_else(|| Error::Config("set_parameters must come before training".into()))?;
        let first = model.layout.layers.first().map_or(0, |l| l.inputs);
        if first != features {
            return Err(Error::Config(format!(
                "the model takes {first} inputs but the dataset has {features} pixels per image"
            )));
        }
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
    fn reset_pass(&mut self) -> Result<()> {
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
    fn read_stats(&self) -> Result<Stats> {
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

    /// Queues one training step on `rows` rows, or replays / captures its graph.
    fn train_step(&mut self, id: DatasetId, rows: usize, stride: usize) -> Result<()> {
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
                    eprintln!("warning: {error}; training continues without CUDA graphs");
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
    fn enqueue(&mut self, id: DatasetId, rows: usize, stride: usize, pass: Pass) -> Result<()> {
        let gpu = &self.gpu;
        let data = self
            .datasets
            .get(id.0)
            .ok_or_else(|| Error::Config(format!("unknown dataset id {}", id.0)))?;
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
            let mut launch = stream.launch_builder(&f.gather_batch);
            launch
                .arg(&data.images)
                .arg(&data.labels)
                .arg(order)
                .arg(&control.cursor)
                .arg(&stride_u32)
                .arg(&rows_u32)
                .arg(&features)
                .arg(&scale)
                .arg(&mut act.x)
                .arg(&mut act.y);
            let config = LaunchConfig {
                grid_dim: (rows_u32, features.div_ceil(THREADS), 1),
                block_dim: (THREADS, 1, 1),
                shared_mem_bytes: 0,
            };
            // SAFETY: the arguments match gather_batch's signature; `order` holds at least
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

        // One optimizer launch over every parameter.
        let n = to_u32(model.layout.len)?;
        let config = elementwise(model.layout.len);
        let (w, g) = (&mut model.params, &model.grads);
        match (model.optimizer, &mut model.slots[..]) {
            (Optimizer::RmsProp(o), [v]) => {
                let mut launch = stream.launch_builder(&f.rmsprop_update);
                launch
                    .arg(w)
                    .arg(g)
                    .arg(v)
                    .arg(&n)
                    .arg(&o.learning_rate)
                    .arg(&o.rho)
                    .arg(&o.epsilon);
                // SAFETY: matches rmsprop_update; every buffer holds n floats.
                unsafe { launch.launch(config) }.gpu("rmsprop_update")?;
            }
            (Optimizer::RmsProp(o), [v, m]) => {
                let mut launch = stream.launch_builder(&f.rmsprop_momentum_update);
                launch
                    .arg(w)
                    .arg(g)
                    .arg(v)
                    .arg(m)
                    .arg(&n)
                    .arg(&o.learning_rate)
                    .arg(&o.rho)
                    .arg(&o.epsilon)
                    .arg(&o.momentum);
                // SAFETY: matches rmsprop_momentum_update; every buffer holds n floats.
                unsafe { launch.launch(config) }.gpu("rmsprop_momentum_update")?;
            }
            (Optimizer::Sgd(o), []) => {
                let mut launch = stream.launch_builder(&f.sgd_update);
                launch.arg(w).arg(g).arg(&n).arg(&o.learning_rate);
                // SAFETY: matches sgd_update; every buffer holds n floats.
                unsafe { launch.launch(config) }.gpu("sgd_update")?;
            }
            (Optimizer::Sgd(o), [m]) => {
                let nesterov = i32::from(o.nesterov);
                let mut launch = stream.launch_builder(&f.sgd_momentum_update);
                launch
                    .arg(w)
                    .arg(g)
                    .arg(m)
                    .arg(&n)
                    .arg(&o.learning_rate)
                    .arg(&o.momentum)
                    .arg(&nesterov);
                // SAFETY: matches sgd_momentum_update; every buffer holds n floats.
                unsafe { launch.launch(config) }.gpu("sgd_momentum_update")?;
            }
            (Optimizer::Adam(o), [m, v]) => {
                let mut launch = stream.launch_builder(&f.adam_update);
                launch
                    .arg(w)
                    .arg(g)
                    .arg(m)
                    .arg(v)
                    .arg(&n)
                    .arg(&control.alphas)
                    .arg(&control.cursor)
                    .arg(&o.beta_1)
                    .arg(&o.beta_2)
                    .arg(&o.epsilon);
                // SAFETY: matches adam_update; every buffer holds n floats and `alphas` one
                // value per batch of the epoch (the cursor has advanced past this batch).
                unsafe { launch.launch(config) }.gpu("adam_update")?;
            }
            (Optimizer::Adagrad(o), [a]) => {
                let mut launch = stream.launch_builder(&f.adagrad_update);
                launch
                    .arg(w)
                    .arg(g)
                    .arg(a)
                    .arg(&n)
                    .arg(&o.learning_rate)
                    .arg(&o.epsilon);
                // SAFETY: matches adagrad_update; every buffer holds n floats.
                unsafe { launch.launch(config) }.gpu("adagrad_update")?;
            }
            (optimizer, slots) => {
                return Err(Error::Backend(format!(
                    "cuda: {optimizer:?} with {} optimizer slots",
                    slots.len()
                )))
            }
        }
        Ok(())
    }
}

/// Threads per block of the softmax kernel (`SOFTMAX_THREADS` in `softmax_ce.cu`).
const SOFTMAX_THREADS: u32 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Train,
    Evaluate,
}

fn missing_buffers() -> Error {
    Error::Backend("cuda: buffers used before set_parameters".into())
}

fn to_u32(value: usize) -> Result<u32> {
    u32::try_from(value)
        .map_err(|_| Error::Config(format!("{value} is too large for the GPU kernels")))
}

/// A grid-stride launch over `n` elements.
fn elementwise(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(THREADS as usize).clamp(1, 65_535) as u32;
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}

impl Backend for CudaBackend {
    fn device_name(&self) -> String {
        self.gpu.name.clone()
    }

    fn load_dataset(&mut self, dataset: &Arc<Dataset>) -> Result<DatasetId> {
        let features = dataset.pixels();
        if dataset.images.len() != dataset.len() * features {
            return Err(Error::Config(format!(
                "dataset holds {} bytes of images for {} labels of {features} pixels",
                dataset.images.len(),
                dataset.len()
            )));
        }
        let stream = &self.gpu.stream;
        // Empty datasets still get a (one byte) allocation so that pointers stay valid.
        let images = if dataset.images.is_empty() {
            stream.alloc_zeros::<u8>(1)
        } else {
            stream.clone_htod(&dataset.images)
        }
        .gpu("uploading images")?;
        let labels = if dataset.labels.is_empty() {
            stream.alloc_zeros::<u8>(1)
        } else {
            stream.clone_htod(&dataset.labels)
        }
        .gpu("uploading labels")?;
        self.datasets.push(DeviceDataset {
            images,
            labels,
            len: dataset.len(),
            features,
        });
        Ok(DatasetId(self.datasets.len() - 1))
    }

    fn set_parameters(&mut self, parameters: &Parameters, optimizer: &Optimizer) -> Result<()> {
        if parameters.layers.is_empty() {
            return Err(Error::Config("the model has no layers".into()));
        }
        for (index, layer) in parameters.layers.iter().enumerate() {
            if layer.weights.len() != layer.inputs * layer.outputs
                || layer.bias.len() != layer.outputs
                || layer.outputs == 0
            {
                return Err(Error::Config(format!(
                    "layer {index}: {} weights and {} biases for {} x {}",
                    layer.weights.len(),
                    layer.bias.len(),
                    layer.inputs,
                    layer.outputs
                )));
            }
            if index > 0 && parameters.layers[index - 1].outputs != layer.inputs {
                return Err(Error::Config(format!(
                    "layer {index} takes {} inputs but layer {} gives {}",
                    layer.inputs,
                    index - 1,
                    parameters.layers[index - 1].outputs
                )));
            }
        }
        let classes = parameters.layers.last().map_or(0, |l| l.outputs);
        if classes > 255 {
            return Err(Error::Config(format!(
                "{classes} classes: the CUDA backend stores labels and predictions as bytes"
            )));
        }

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

    fn parameters(&mut self) -> Result<Parameters> {
        let model = self.model.as_ref().ok_or_else(missing_buffers)?;
        let stream = &self.gpu.stream;
        let flat = stream.clone_dtoh(&model.params).gpu("reading parameters")?;
        stream.synchronize().gpu("waiting for the GPU")?;
        Ok(model.layout.unflatten(&flat))
    }

    fn train_epoch(&mut self, plan: EpochPlan<'_>, progress: Progress<'_>) -> Result<EpochStats> {
        let len = self.dataset(plan.dataset)?.len;
        let batch_size = plan.batch_size;
        if batch_size == 0 {
            return Err(Error::Config("batch size 0".into()));
        }
        if let Some(&bad) = plan.order.iter().find(|&&i| i as usize >= len) {
            return Err(Error::Config(format!(
                "sample index {bad} is outside the dataset ({len} samples)"
            )));
        }
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
