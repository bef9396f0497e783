//! The CUDA backend: the whole training loop on an NVIDIA GPU through cudarc.
//!
//! - The datasets live on the device as `u8` images (or `f32` features, already the model's
//!   values); each step gathers its batch there from the host's shuffled order (uploaded
//!   once per epoch), scaling images by 1/255 (`gather_batch`; features: `gather_features`).
//! - Matrix products are cuBLAS SGEMM calls (row-major through swapped operands); the rest
//!   are NVRTC-compiled kernels (`trainer/kernels/*.cu`), loaded as a CUBIN for the device:
//!   bias + ReLU, the ReLU mask with the bias gradient, fused softmax + cross-entropy
//!   (forward, backward, loss and accuracy sums), and one optimizer launch over all
//!   parameters (kept in one flat buffer).
//! - A full training step is captured once in a CUDA graph and replayed for every full
//!   batch: the batch position and Adam's step live in device memory, so the same graph
//!   serves the whole epoch and no step waits for the host. The host reads the running loss
//!   and accuracy (a few doubles) every [`REPORT_EVERY`] batches.
//!
//! The files, in the order a step meets them: [`device`] starts the GPU (driver, context,
//! NVRTC, module load, cuBLAS and its workspace, each a named step), [`kernels`] compiles
//! the CUDA C and [`module`] loads it, [`buffers`] holds what lives on the device, [`step`]
//! queues one step (with [`gemm`] for the products and [`update`] for the optimizer) and
//! records its graph, and [`passes`] is the [`Backend`] implementation: epochs and
//! evaluation. How to check it all on a GPU machine: `README.md` in this folder.
//!
//! Nothing here touches the driver before [`device::probe`] has found the libraries:
//! cudarc panics when asked for a context without a driver.
//!
//! Two environment variables exist for measurements: `TINYMLP_CUDA_GRAPHS=0` runs every
//! step without graphs (to see what they save), and `TINYMLP_CUDA_TF32=1` lets cuBLAS use
//! TF32 tensor cores for the products (faster, 10-bit mantissas; off by default so that the
//! GPU computes what the CPU computes). Both show in the device name.

mod buffers;
mod device;
mod gemm;
mod kernels;
mod layout;
mod module;
mod passes;
mod step;
mod update;

use std::collections::HashMap;

use cudarc::driver::{CudaGraph, LaunchConfig};

use self::buffers::{Activations, Control, DeviceDataset, Model};
use self::device::Gpu;
use crate::backend::Backend;
use crate::error::{Error, Result};

/// Batches between two reads of the running figures (each read waits for the GPU).
const REPORT_EVERY: usize = 50;

/// Rows per evaluation batch (evaluation runs without graphs: a few launches per batch).
const EVAL_BATCH: usize = 1024;

/// Threads per block of the element-wise kernels.
const THREADS: u32 = 256;

/// Threads per block of the softmax kernel (`SOFTMAX_THREADS` in `softmax_ce.cu`).
const SOFTMAX_THREADS: u32 = 256;

/// The CUDA backend, or [`Error::DeviceUnavailable`] when no driver, library or GPU is
/// usable; [`Error::Backend`] naming the failed step when one is but does not start.
pub fn new_backend() -> Result<Box<dyn Backend>> {
    device::probe()?;
    let backend = device::catch_quietly(CudaBackend::new)?;
    Ok(Box::new(backend))
}

fn unavailable(reason: impl Into<String>) -> Error {
    Error::DeviceUnavailable {
        device: "cuda",
        reason: reason.into(),
    }
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
    /// Why graphs were turned off, when a capture failed (shown in the device name).
    graph_failure: Option<String>,
}

/// Whether the environment variable `name` is set to `value`.
fn env_is(name: &str, value: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == value)
}

impl CudaBackend {
    fn new() -> Result<CudaBackend> {
        let use_graphs = !env_is("TINYMLP_CUDA_GRAPHS", "0");
        let tf32 = env_is("TINYMLP_CUDA_TF32", "1");
        Ok(CudaBackend {
            gpu: Gpu::open(use_graphs, tf32)?,
            datasets: Vec::new(),
            model: None,
            activations: None,
            control: None,
            graphs: HashMap::new(),
            use_graphs,
            graph_failure: None,
        })
    }
}

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
