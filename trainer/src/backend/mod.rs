//! The backend seam: what a device must do to train the model, and how one is chosen.
//!
//! The host owns everything that must be identical across devices: the seeded RNG, the
//! initial parameters, the shuffled order of every epoch, the optimizer's hyperparameters,
//! and the quantization and export that follow training. A [`Backend`] owns the rest: the
//! training data in its own memory, the parameters and optimizer state while training, and
//! the arithmetic.
//!
//! A training session with any backend goes:
//!
//! 1. [`Backend::load_dataset`] once per dataset (training, validation, test): its inputs
//!    (`u8` images, pixel real value `p / 255`, or `f32` features that already hold the
//!    model's values: the host standardized them, see
//!    [`InputTransform`](crate::data::InputTransform)) and labels stay on the device from
//!    then on.
//! 2. [`Backend::set_parameters`] with the host's initial parameters and the optimizer; it
//!    resets the optimizer state and step counter.
//! 3. Per epoch, [`Backend::train_epoch`] with the host-shuffled order of sample indices.
//! 4. [`Backend::evaluate`] for validation/test figures, [`Backend::parameters`] to take
//!    the trained weights back to the host for export.
//!
//! The host checks everything first (`training::checks`, one set of error words): the
//! parameters' shapes, each dataset against the model (input width, labels below the class
//! count), every epoch plan (indices in range, batch size within [`MAX_BATCH`]). A backend
//! only computes; the only errors it makes itself are its device's failures, a non-finite
//! loss, and calls out of order ([`not_ready`], [`unknown_dataset`]).

use std::ops::ControlFlow;
use std::sync::Arc;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::network::{Optimizer, Parameters};

pub mod cpu;
#[cfg(feature = "cuda")]
mod cuda;

/// Most inputs a model may take: every backend indexes inputs with 16 bits.
pub const MAX_INPUTS: usize = 1 << 16;

/// Most samples in a batch: every backend indexes a batch's rows with 16 bits.
pub const MAX_BATCH: usize = 1 << 16;

/// Which device to train on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// CUDA if a usable GPU is present, else the CPU.
    #[default]
    Auto,
    /// The CPU backend (ndarray and hand-vectorized kernels, 2 threads).
    Cpu,
    /// An NVIDIA GPU through cudarc.
    Cuda,
}

impl Device {
    /// Every device, by name (for option parsers and messages).
    pub const ALL: [(&'static str, Device); 3] = [
        ("auto", Device::Auto),
        ("cpu", Device::Cpu),
        ("cuda", Device::Cuda),
    ];
}

impl std::str::FromStr for Device {
    type Err = Error;

    fn from_str(name: &str) -> Result<Device> {
        Device::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, device)| device)
            .ok_or_else(|| Error::Config(format!("unknown device `{name}` (auto, cpu or cuda)")))
    }
}

/// A dataset loaded into a backend, as returned by [`Backend::load_dataset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetId(pub usize);

/// Running figures reported during an epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchProgress {
    /// Batches done so far in this epoch.
    pub batch: usize,
    /// Batches in the epoch.
    pub batches: usize,
    /// Mean loss over the samples seen so far in this epoch.
    pub loss: f32,
    /// Accuracy over the samples seen so far in this epoch.
    pub accuracy: f32,
}

/// What one epoch of training is.
#[derive(Debug, Clone, Copy)]
pub struct EpochPlan<'a> {
    /// The epoch number, from 1 (only for messages such as a non-finite loss error).
    pub epoch: usize,
    /// The dataset to train on.
    pub dataset: DatasetId,
    /// Sample indices in the order to visit them (already shuffled by the host). Batches
    /// are consecutive runs of `batch_size` indices; the last one may be shorter.
    pub order: &'a [u32],
    /// Samples per batch.
    pub batch_size: usize,
}

/// What an epoch achieved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochStats {
    /// Mean loss over the samples trained on (each measured before its batch's update).
    pub loss: f32,
    /// Accuracy over the same samples.
    pub accuracy: f32,
    /// Batches run (fewer than planned when the progress callback asked to stop).
    pub batches: usize,
    /// Whether the progress callback asked to stop.
    pub stopped: bool,
}

/// Loss and accuracy of the current parameters on a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Mean categorical cross-entropy.
    pub loss: f32,
    /// Fraction of samples whose most probable class is the label.
    pub accuracy: f32,
    /// The predicted class of every sample, in dataset order (for the confusion matrix).
    pub predictions: Vec<u8>,
}

/// The progress callback: called with running figures, at least at the end of the epoch
/// and as often as every batch (a device backend may call it every N batches). Returning
/// `ControlFlow::Break(())` asks the backend to stop after the current batch.
pub type Progress<'a> = &'a mut dyn FnMut(BatchProgress) -> ControlFlow<()>;

/// What a training device does: hold the data, train the MLP, evaluate, hand the weights back.
///
/// Every argument has been checked by the host (see the module documentation): an
/// implementation may rely on consistent parameter shapes, datasets that fit the model and
/// plans whose indices are in range.
///
/// The model is always a stack of dense layers: ReLU on every hidden layer, softmax with
/// categorical cross-entropy (fused, numerically stable) on the last; inputs `u8 / 255`
/// for images, the `f32` values as they are for features.
/// Its shape is given by the [`Parameters`] passed to [`set_parameters`](Self::set_parameters).
///
/// Contract every implementation keeps (the shared tests check it):
/// - a batch's gradient is the mean over its samples; the loss and accuracy of a batch are
///   measured with the parameters before that batch's update, as Keras reports them;
/// - optimizer updates follow [`Optimizer::update`] exactly (same formulas, same order of
///   step counting, Adam's step starting at 1 and counting across epochs);
/// - a NaN or infinite batch loss is [`Error::NonFiniteLoss`] naming the epoch and batch
///   (a device that checks every N batches names the first batch it finds);
/// - no panics: failures are errors.
pub trait Backend {
    /// A human-readable name of the device (for example `cpu (2 threads, avx512)` or
    /// `cuda:0 NVIDIA H200`).
    fn device_name(&self) -> String;

    /// Keeps a copy of `dataset` in the device's memory (images stay `u8`, features `f32`).
    fn load_dataset(&mut self, dataset: &Arc<Dataset>) -> Result<DatasetId>;

    /// Sets the parameters and the optimizer, resetting the optimizer's state.
    fn set_parameters(&mut self, parameters: &Parameters, optimizer: &Optimizer) -> Result<()>;

    /// The current parameters, copied to the host.
    fn parameters(&mut self) -> Result<Parameters>;

    /// Trains one epoch over `plan.order`, calling `progress` with running figures.
    fn train_epoch(&mut self, plan: EpochPlan<'_>, progress: Progress<'_>) -> Result<EpochStats>;

    /// Loss, accuracy and predicted classes of the current parameters on a whole dataset.
    fn evaluate(&mut self, dataset: DatasetId) -> Result<Evaluation>;
}

/// Creates the backend for `device`. For [`Device::Auto`], tries CUDA and falls back to the
/// CPU; the returned note says which device was picked and why.
pub fn create(device: Device) -> Result<(Box<dyn Backend>, String)> {
    match device {
        Device::Cpu => {
            let backend = cpu::CpuBackend::new()?;
            let note = format!("device: {}", backend.device_name());
            Ok((Box::new(backend), note))
        }
        Device::Cuda => {
            let backend = cuda_backend()?;
            let note = format!("device: {}", backend.device_name());
            Ok((backend, note))
        }
        Device::Auto => match cuda_backend() {
            Ok(backend) => {
                let note = format!("device: {} (auto)", backend.device_name());
                Ok((backend, note))
            }
            Err(error) => {
                let backend = cpu::CpuBackend::new()?;
                let note = format!(
                    "device: {} (auto; CUDA not used: {error})",
                    backend.device_name()
                );
                Ok((Box::new(backend), note))
            }
        },
    }
}

/// The error of a backend asked to train or evaluate before
/// [`set_parameters`](Backend::set_parameters).
pub fn not_ready() -> Error {
    Error::Backend("set_parameters was not called".into())
}

/// The error of a backend given a [`DatasetId`] it did not hand out.
pub fn unknown_dataset(id: DatasetId) -> Error {
    Error::Backend(format!("unknown dataset {}", id.0))
}

/// The CUDA backend, or why there is none. `backend/cuda/` provides
/// `pub fn new_backend() -> Result<Box<dyn Backend>>`, which must return
/// [`Error::DeviceUnavailable`] (never panic) when no driver or GPU is usable.
#[cfg(feature = "cuda")]
fn cuda_backend() -> Result<Box<dyn Backend>> {
    cuda::new_backend()
}

#[cfg(not(feature = "cuda"))]
fn cuda_backend() -> Result<Box<dyn Backend>> {
    Err(Error::DeviceUnavailable {
        device: "cuda",
        reason: "this trainer was built without the `cuda` feature".into(),
    })
}
