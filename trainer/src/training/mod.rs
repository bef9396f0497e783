//! The training stage, the Keras-like API: a `Sequential` stack of dense layers, compiled
//! with an optimizer, a loss and metrics, then `fit`, `evaluate` and `predict` (export is
//! the export stage's `Model::export`). Everything a backend is given is checked here
//! first (`checks`).

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::backend::{self, Backend, BatchProgress, DatasetId, Device, EpochPlan, Evaluation};
use crate::data::{Dataset, InputTransform};
use crate::error::{Error, Result};
use crate::network::reference::softmax;
use crate::network::{Optimizer, Parameters};
use crate::rng::Rng;

mod checks;
mod progress;

pub use checks::no_better_than_guessing;

pub use progress::epoch_line;
use progress::progress_bar;

pub use tinymlp::Activation;

/// A dense layer as `Sequential` takes it: units and activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Dense {
    /// Number of outputs.
    pub units: usize,
    /// `Relu` for hidden layers, `Softmax` for the last one.
    #[serde(skip)]
    pub activation: Activation,
}

impl Dense {
    /// `Dense(units, activation='relu')`.
    pub fn relu(units: usize) -> Dense {
        Dense {
            units,
            activation: Activation::Relu,
        }
    }

    /// `Dense(units, activation='softmax')`.
    pub fn softmax(units: usize) -> Dense {
        Dense {
            units,
            activation: Activation::Softmax,
        }
    }
}

/// The loss to train with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Loss {
    /// Categorical cross-entropy on the softmax output (computed fused, from the logits).
    CategoricalCrossentropy,
}

/// Metrics reported besides the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Metric {
    /// Fraction of samples whose most probable class is the label.
    Accuracy,
}

/// A model being described: input size and layers, plus seed and device.
#[derive(Debug, Clone)]
pub struct Sequential {
    inputs: usize,
    layers: Vec<Dense>,
    seed: u64,
    device: Device,
    input: Option<InputTransform>,
}

impl Sequential {
    /// An empty model taking `inputs` values (784 for MNIST).
    pub fn new(inputs: usize) -> Sequential {
        Sequential {
            inputs,
            layers: Vec::new(),
            seed: 0,
            device: Device::Auto,
            input: None,
        }
    }

    /// How the model reads its inputs. By default the first `fit` adapts it to its
    /// training data ([`InputTransform::adapt`]: images as `p / 255`, features
    /// standardized with the training set's mean and deviation).
    pub fn input(mut self, input: InputTransform) -> Sequential {
        self.input = Some(input);
        self
    }

    /// Appends a layer.
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, layer: Dense) -> Sequential {
        self.layers.push(layer);
        self
    }

    /// The seed of the initial weights and of the shuffles (default 0).
    pub fn seed(mut self, seed: u64) -> Sequential {
        self.seed = seed;
        self
    }

    /// The training device (default [`Device::Auto`]).
    pub fn device(mut self, device: Device) -> Sequential {
        self.device = device;
        self
    }

    /// Checks the architecture, creates the backend and initializes the weights
    /// (Glorot-uniform, zero biases) from the seed.
    pub fn compile(self, optimizer: Optimizer, loss: Loss, metrics: &[Metric]) -> Result<Model> {
        let (backend, device_note) = backend::create(self.device)?;
        self.compile_with(backend, device_note, optimizer, loss, metrics)
    }

    /// [`compile`](Self::compile) with a backend chosen by the caller.
    pub fn compile_with(
        self,
        mut backend: Box<dyn Backend>,
        device_note: String,
        optimizer: Optimizer,
        loss: Loss,
        metrics: &[Metric],
    ) -> Result<Model> {
        let sizes = checks::architecture(self.inputs, &self.layers)?;
        if let Some(input) = &self.input {
            checks::input(input, &sizes)?;
        }
        let mut rng = Rng::new(self.seed);
        let initial = Parameters::glorot_uniform(&sizes, &mut rng);
        backend.set_parameters(&initial, &optimizer)?;
        Ok(Model {
            sizes,
            input: self.input,
            backend,
            device_note,
            optimizer,
            loss,
            metrics: metrics.to_vec(),
            rng,
            loaded: HashMap::new(),
            epochs_done: 0,
        })
    }
}

/// How `fit` runs.
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// Passes over the training data.
    pub epochs: usize,
    /// Samples per gradient step.
    pub batch_size: usize,
    /// Fraction of the training data held out for validation (the last samples, before
    /// shuffling, as in Keras).
    pub validation_split: f32,
    /// Progress bar and epoch lines on stderr.
    pub verbose: bool,
    /// Set (for example by a Ctrl-C handler) to stop after the current batch.
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            epochs: 5,
            batch_size: 128,
            validation_split: 0.0,
            verbose: true,
            stop: None,
        }
    }
}

/// One epoch's figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EpochRecord {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch.
    pub loss: f32,
    /// Training accuracy over the epoch.
    pub accuracy: f32,
    /// Validation loss after the epoch, with a validation split.
    pub val_loss: Option<f32>,
    /// Validation accuracy after the epoch, with a validation split.
    pub val_accuracy: Option<f32>,
    /// Seconds the epoch took (training and validation).
    pub seconds: f64,
}

/// What `fit` returns.
#[derive(Debug, Clone, Default, Serialize)]
pub struct History {
    /// One record per completed epoch.
    pub epochs: Vec<EpochRecord>,
    /// Seconds spent in the epochs (data loading into the backend excluded).
    pub fit_seconds: f64,
    /// Whether training stopped early because `stop` was set.
    pub interrupted: bool,
}

/// A compiled model: parameters live in the backend.
pub struct Model {
    sizes: Vec<usize>,
    input: Option<InputTransform>,
    backend: Box<dyn Backend>,
    device_note: String,
    optimizer: Optimizer,
    loss: Loss,
    metrics: Vec<Metric>,
    rng: Rng,
    loaded: HashMap<usize, (Arc<Dataset>, DatasetId)>,
    epochs_done: usize,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("sizes", &self.sizes)
            .field("input", &self.input)
            .field("device", &self.device_note)
            .field("optimizer", &self.optimizer)
            .field("loss", &self.loss)
            .field("metrics", &self.metrics)
            .finish()
    }
}

impl Model {
    /// A model with given parameters (trained elsewhere, or imported), reading its inputs
    /// with `input`, on `device`: it evaluates, predicts and exports as a trained one does
    /// (and trains on from these parameters with Keras's default RMSprop).
    pub fn from_parameters(
        parameters: Parameters,
        input: InputTransform,
        device: Device,
    ) -> Result<Model> {
        let (backend, device_note) = backend::create(device)?;
        Model::from_parameters_with(parameters, input, backend, device_note)
    }

    /// [`from_parameters`](Self::from_parameters) with a backend chosen by the caller.
    pub fn from_parameters_with(
        parameters: Parameters,
        input: InputTransform,
        mut backend: Box<dyn Backend>,
        device_note: String,
    ) -> Result<Model> {
        let sizes = checks::parameters(&parameters)?;
        checks::input(&input, &sizes)?;
        let optimizer = Optimizer::default();
        backend.set_parameters(&parameters, &optimizer)?;
        Ok(Model {
            sizes,
            input: Some(input),
            backend,
            device_note,
            optimizer,
            loss: Loss::CategoricalCrossentropy,
            metrics: vec![Metric::Accuracy],
            rng: Rng::new(0),
            loaded: HashMap::new(),
            epochs_done: 0,
        })
    }

    /// How the model reads its inputs: `None` until the first `fit` adapts it (unless it
    /// was given).
    pub fn input(&self) -> Option<&InputTransform> {
        self.input.as_ref()
    }

    /// The input transform, adapted to `data` first if the model has none yet.
    fn input_for(&mut self, data: &Dataset) -> Result<&InputTransform> {
        if self.input.is_none() {
            let input = InputTransform::adapt(data)?;
            checks::input(&input, &self.sizes)?;
            self.input = Some(input);
        }
        match &self.input {
            Some(input) => Ok(input),
            None => Err(Error::Config("the model has no input transform".into())),
        }
    }

    /// The input transform, which evaluation, prediction and export need: given, or
    /// adapted by `fit` (images need neither: their transform is fixed).
    pub(crate) fn fitted_input(&mut self, data: &Dataset) -> Result<InputTransform> {
        if self.input.is_none() && matches!(data.inputs, crate::data::Inputs::Features { .. }) {
            return Err(Error::Config(
                "the model has not been fitted: its feature standardization comes from the \
                 training data (fit first, or give one with Sequential::input)"
                    .into(),
            ));
        }
        self.input_for(data).cloned()
    }

    /// `[inputs, hidden..., classes]`.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// Which device trains the model, and why it was picked.
    pub fn device_note(&self) -> &str {
        &self.device_note
    }

    /// The device's own name.
    pub fn device_name(&self) -> String {
        self.backend.device_name()
    }

    /// The optimizer and its hyperparameters.
    pub fn optimizer(&self) -> &Optimizer {
        &self.optimizer
    }

    fn load(&mut self, data: &Arc<Dataset>) -> Result<DatasetId> {
        let key = Arc::as_ptr(data) as usize;
        if let Some((_, id)) = self.loaded.get(&key) {
            return Ok(*id);
        }
        checks::dataset(data, &self.sizes)?;
        let input = self.fitted_input(data)?;
        input.check_data(data)?;
        let values = input.model_values(data)?;
        let id = self.backend.load_dataset(&values)?;
        self.loaded.insert(key, (Arc::clone(data), id));
        Ok(id)
    }

    /// Trains on `data` (Keras's `model.fit`).
    pub fn fit(&mut self, data: &Arc<Dataset>, options: &FitOptions) -> Result<History> {
        checks::fit_options(options)?;
        let (train, validation) = if options.validation_split > 0.0 {
            let (train, validation) =
                Dataset::clone(data).split_validation(options.validation_split)?;
            (Arc::new(train), Some(Arc::new(validation)))
        } else {
            (Arc::clone(data), None)
        };
        if train.is_empty() {
            return Err(Error::Config("no training samples".into()));
        }
        checks::dataset(&train, &self.sizes)?;
        self.input_for(&train)?;
        let train_id = self.load(&train)?;
        let validation_id = validation.as_ref().map(|v| self.load(v)).transpose()?;
        let mut order: Vec<u32> = (0..train.len() as u32).collect();
        let batches = train.len().div_ceil(options.batch_size);
        let mut history = History::default();
        let started = Instant::now();
        for _ in 0..options.epochs {
            let epoch = self.epochs_done + 1;
            if options.verbose {
                eprintln!(
                    "Epoch {epoch}/{}",
                    self.epochs_done + options.epochs - history.epochs.len()
                );
            }
            let epoch_start = Instant::now();
            self.rng.shuffle(&mut order);
            let bar = options.verbose.then(|| progress_bar(batches));
            let stop = options.stop.clone();
            let mut on_progress = |p: BatchProgress| {
                if let Some(bar) = &bar {
                    bar.set_position(p.batch as u64);
                    bar.set_message(format!("accuracy: {:.4} - loss: {:.4}", p.accuracy, p.loss));
                }
                match &stop {
                    Some(flag) if flag.load(Ordering::Relaxed) => ControlFlow::Break(()),
                    _ => ControlFlow::Continue(()),
                }
            };
            let plan = EpochPlan {
                epoch,
                dataset: train_id,
                order: &order,
                batch_size: options.batch_size,
            };
            let stats = self.backend.train_epoch(plan, &mut on_progress);
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            let stats = stats?;
            if stats.stopped {
                history.interrupted = true;
                break;
            }
            let validation = validation_id
                .map(|id| self.backend.evaluate(id))
                .transpose()?;
            let seconds = epoch_start.elapsed().as_secs_f64();
            let record = EpochRecord {
                epoch,
                loss: stats.loss,
                accuracy: stats.accuracy,
                val_loss: validation.as_ref().map(|v| v.loss),
                val_accuracy: validation.as_ref().map(|v| v.accuracy),
                seconds,
            };
            if options.verbose {
                eprintln!("{}", epoch_line(&record, batches));
            }
            history.epochs.push(record);
            self.epochs_done = epoch;
        }
        history.fit_seconds = started.elapsed().as_secs_f64();
        Ok(history)
    }

    /// Loss, accuracy and predicted classes on `data` (Keras's `model.evaluate`).
    pub fn evaluate(&mut self, data: &Arc<Dataset>) -> Result<Evaluation> {
        let id = self.load(data)?;
        self.backend.evaluate(id)
    }

    /// Class probabilities of each sample of `data` (Keras's `model.predict`).
    pub fn predict(&mut self, data: &Dataset) -> Result<Vec<Vec<f32>>> {
        checks::dataset(data, &self.sizes)?;
        let input = self.fitted_input(data)?;
        input.check_data(data)?;
        let parameters = self.parameters()?;
        Ok((0..data.len())
            .map(|i| softmax(&parameters.logits(&input.sample(data, i))))
            .collect())
    }

    /// The trained parameters as host arrays.
    pub fn parameters(&mut self) -> Result<Parameters> {
        self.backend.parameters()
    }
}
