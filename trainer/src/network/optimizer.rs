//! Optimizer hyperparameters (plain data every backend receives) and the update formulas,
//! exactly as Keras 3 writes them (`keras/src/optimizers/*.py`).
//!
//! Each optimizer keeps per-parameter state (slots) that lives in the backend; the host only
//! says which optimizer and with which numbers. The CPU backend runs [`Optimizer::update`]
//! on slices; a device backend implements the same formulas in its own kernels and is tested
//! against this one.

use serde::Serialize;

/// RMSprop (Keras defaults: `learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7`).
///
/// `v = rho*v + (1-rho)*g²; step = lr*g / sqrt(v + epsilon)`; with momentum,
/// `m = momentum*m + step; w -= m`, else `w -= step`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RmsProp {
    /// Learning rate.
    pub learning_rate: f32,
    /// Decay of the running mean of squared gradients.
    pub rho: f32,
    /// Momentum (0 disables the momentum slot).
    pub momentum: f32,
    /// Added inside the square root (Keras's placement).
    pub epsilon: f32,
}

/// SGD with optional (Nesterov) momentum (Keras defaults: `learning_rate=0.01, momentum=0`).
///
/// Without momentum `w -= lr*g`. With momentum `m = momentum*m - lr*g`, then
/// `w += momentum*m - lr*g` (Nesterov) or `w += m`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sgd {
    /// Learning rate.
    pub learning_rate: f32,
    /// Momentum in `[0, 1)`.
    pub momentum: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
}

/// Adam (Keras defaults: `learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7`).
///
/// At step `t` (from 1): `alpha = lr*sqrt(1-beta_2^t)/(1-beta_1^t)`; `m += (g-m)*(1-beta_1)`;
/// `v += (g²-v)*(1-beta_2)`; `w -= alpha*m/(sqrt(v)+epsilon)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Adam {
    /// Learning rate.
    pub learning_rate: f32,
    /// Decay of the first moment.
    pub beta_1: f32,
    /// Decay of the second moment.
    pub beta_2: f32,
    /// Added to the square root of the second moment.
    pub epsilon: f32,
}

/// Adagrad (Keras defaults: `learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7`).
///
/// `a += g²; w -= lr*g / sqrt(a + epsilon)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Adagrad {
    /// Learning rate.
    pub learning_rate: f32,
    /// Starting value of the accumulator.
    pub initial_accumulator_value: f32,
    /// Added inside the square root.
    pub epsilon: f32,
}

impl Default for RmsProp {
    fn default() -> Self {
        RmsProp {
            learning_rate: 1e-3,
            rho: 0.9,
            momentum: 0.0,
            epsilon: 1e-7,
        }
    }
}

impl Default for Sgd {
    fn default() -> Self {
        Sgd {
            learning_rate: 0.01,
            momentum: 0.0,
            nesterov: false,
        }
    }
}

impl Default for Adam {
    fn default() -> Self {
        Adam {
            learning_rate: 1e-3,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
        }
    }
}

impl Default for Adagrad {
    fn default() -> Self {
        Adagrad {
            learning_rate: 1e-3,
            initial_accumulator_value: 0.1,
            epsilon: 1e-7,
        }
    }
}

/// An optimizer and its hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "name", rename_all = "lowercase")]
pub enum Optimizer {
    /// RMSprop (the tutorial's choice).
    RmsProp(RmsProp),
    /// SGD, optionally with (Nesterov) momentum.
    Sgd(Sgd),
    /// Adam.
    Adam(Adam),
    /// Adagrad.
    Adagrad(Adagrad),
}

impl Default for Optimizer {
    fn default() -> Self {
        Optimizer::RmsProp(RmsProp::default())
    }
}

impl Optimizer {
    /// The optimizer called `name` (`rmsprop`, `sgd`, `adam`, `adagrad`) with Keras's
    /// defaults, and `learning_rate` instead of the default when given.
    pub fn from_name(name: &str, learning_rate: Option<f32>) -> Option<Optimizer> {
        let mut optimizer = match name.to_ascii_lowercase().as_str() {
            "rmsprop" => Optimizer::RmsProp(RmsProp::default()),
            "sgd" => Optimizer::Sgd(Sgd::default()),
            "adam" => Optimizer::Adam(Adam::default()),
            "adagrad" => Optimizer::Adagrad(Adagrad::default()),
            _ => return None,
        };
        if let Some(lr) = learning_rate {
            optimizer.set_learning_rate(lr);
        }
        Some(optimizer)
    }

    /// The learning rate.
    pub fn learning_rate(&self) -> f32 {
        match self {
            Optimizer::RmsProp(o) => o.learning_rate,
            Optimizer::Sgd(o) => o.learning_rate,
            Optimizer::Adam(o) => o.learning_rate,
            Optimizer::Adagrad(o) => o.learning_rate,
        }
    }

    /// Replaces the learning rate.
    pub fn set_learning_rate(&mut self, learning_rate: f32) {
        match self {
            Optimizer::RmsProp(o) => o.learning_rate = learning_rate,
            Optimizer::Sgd(o) => o.learning_rate = learning_rate,
            Optimizer::Adam(o) => o.learning_rate = learning_rate,
            Optimizer::Adagrad(o) => o.learning_rate = learning_rate,
        }
    }

    /// Number of state slots per parameter (each as large as the parameter).
    pub fn slots(&self) -> usize {
        match self {
            Optimizer::RmsProp(o) => 1 + usize::from(o.momentum != 0.0),
            Optimizer::Sgd(o) => usize::from(o.momentum != 0.0),
            Optimizer::Adam(_) => 2,
            Optimizer::Adagrad(_) => 1,
        }
    }

    /// The value each slot starts at (Adagrad's accumulator starts above zero).
    pub fn initial_slot_value(&self, slot: usize) -> f32 {
        match self {
            Optimizer::Adagrad(o) if slot == 0 => o.initial_accumulator_value,
            _ => 0.0,
        }
    }

    /// Per-step scalars computed once per step on the host (Adam's bias correction).
    /// `step` counts from 1.
    pub fn step_scalars(&self, step: u64) -> StepScalars {
        match self {
            Optimizer::Adam(o) => {
                // Keras computes the powers in the variable dtype (f32).
                let t = step as f32;
                let beta_1_power = o.beta_1.powf(t);
                let beta_2_power = o.beta_2.powf(t);
                StepScalars {
                    alpha: o.learning_rate * (1.0 - beta_2_power).sqrt() / (1.0 - beta_1_power),
                }
            }
            _ => StepScalars {
                alpha: self.learning_rate(),
            },
        }
    }

    /// One update of `weights` with `gradients`, using `slots` (`self.slots()` slices, each
    /// as long as `weights`). `scalars` comes from [`step_scalars`](Self::step_scalars).
    pub fn update(
        &self,
        scalars: StepScalars,
        weights: &mut [f32],
        gradients: &[f32],
        slots: &mut [&mut [f32]],
    ) {
        match (self, slots) {
            (Optimizer::RmsProp(o), [velocity]) => rmsprop(o, weights, gradients, velocity),
            (Optimizer::RmsProp(o), [velocity, momentum]) => {
                rmsprop_momentum(o, weights, gradients, velocity, momentum)
            }
            (Optimizer::Sgd(o), []) => sgd(o.learning_rate, weights, gradients),
            (Optimizer::Sgd(o), [momentum]) => sgd_momentum(o, weights, gradients, momentum),
            (Optimizer::Adam(o), [m, v]) => adam(o, scalars.alpha, weights, gradients, m, v),
            (Optimizer::Adagrad(o), [accumulator]) => adagrad(o, weights, gradients, accumulator),
            // The backend allocates `slots()` slots; any other count is a bug in the caller.
            (optimizer, slots) => unreachable!(
                "{optimizer:?} needs {} slots, got {}",
                optimizer.slots(),
                slots.len()
            ),
        }
    }

    /// What [`update`](Self::update) does with an all-zero gradient, when the formula
    /// reduces to something simpler: RMSprop without momentum only decays its average
    /// (`v = rho * v + (1 - rho) * 0²`, which is `rho * v` since `v >= 0`; the weight moves
    /// by `lr * 0 / sqrt(v + epsilon)`, exactly 0 for a positive epsilon and finite state),
    /// SGD without momentum does nothing. (A NaN average, which only follows a non-finite
    /// gradient and so a non-finite loss, would make the weight NaN in the full formula.)
    pub fn zero_gradient(&self) -> ZeroGradient {
        match self {
            Optimizer::RmsProp(o)
                if o.momentum == 0.0 && o.epsilon > 0.0 && o.learning_rate.is_finite() =>
            {
                ZeroGradient::ScaleFirstSlot(o.rho)
            }
            Optimizer::Sgd(o) if o.momentum == 0.0 && o.learning_rate.is_finite() => {
                ZeroGradient::Nothing
            }
            _ => ZeroGradient::Update,
        }
    }

    /// [`update`](Self::update) with an all-zero gradient (`zeros`, as long as `weights`):
    /// the same numbers, through [`zero_gradient`](Self::zero_gradient)'s shortcut.
    pub fn update_zero_gradient(
        &self,
        scalars: StepScalars,
        weights: &mut [f32],
        zeros: &[f32],
        slots: &mut [&mut [f32]],
    ) {
        match (self.zero_gradient(), slots) {
            (ZeroGradient::Nothing, _) => {}
            (ZeroGradient::ScaleFirstSlot(factor), [first, ..]) => scale(factor, first),
            (_, slots) => self.update(scalars, weights, zeros, slots),
        }
    }
}

/// The effect of an update with an all-zero gradient (see [`Optimizer::zero_gradient`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ZeroGradient {
    /// Nothing changes.
    Nothing,
    /// The weights stay; the first slot is multiplied by the factor (one multiplication
    /// per step, so `k` skipped steps can be caught up later by `k` multiplications with
    /// the same result).
    ScaleFirstSlot(f32),
    /// Run the full update.
    Update,
}

/// `values *= factor`, element by element.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
pub fn scale(factor: f32, values: &mut [f32]) {
    for v in values.iter_mut() {
        *v *= factor;
    }
}

/// Scalars that change from step to step but not from parameter to parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepScalars {
    /// The effective learning rate (Adam: with bias correction).
    pub alpha: f32,
}

#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
fn rmsprop(o: &RmsProp, weights: &mut [f32], gradients: &[f32], velocity: &mut [f32]) {
    let (rho, one_minus_rho, lr, eps) = (o.rho, 1.0 - o.rho, o.learning_rate, o.epsilon);
    for ((w, &g), v) in weights.iter_mut().zip(gradients).zip(velocity.iter_mut()) {
        let nv = rho * *v + one_minus_rho * (g * g);
        *v = nv;
        *w -= lr * g / (nv + eps).sqrt();
    }
}

#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
fn rmsprop_momentum(
    o: &RmsProp,
    weights: &mut [f32],
    gradients: &[f32],
    velocity: &mut [f32],
    momentum: &mut [f32],
) {
    let (rho, one_minus_rho, lr, eps) = (o.rho, 1.0 - o.rho, o.learning_rate, o.epsilon);
    for (((w, &g), v), m) in weights
        .iter_mut()
        .zip(gradients)
        .zip(velocity.iter_mut())
        .zip(momentum.iter_mut())
    {
        let nv = rho * *v + one_minus_rho * (g * g);
        *v = nv;
        let increment = lr * g / (nv + eps).sqrt();
        *m = o.momentum * *m + increment;
        *w -= *m;
    }
}

#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
fn sgd(lr: f32, weights: &mut [f32], gradients: &[f32]) {
    for (w, &g) in weights.iter_mut().zip(gradients) {
        *w -= lr * g;
    }
}

#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
fn sgd_momentum(o: &Sgd, weights: &mut [f32], gradients: &[f32], momentum: &mut [f32]) {
    let (lr, mu) = (o.learning_rate, o.momentum);
    for ((w, &g), m) in weights.iter_mut().zip(gradients).zip(momentum.iter_mut()) {
        let nm = *m * mu - g * lr;
        *m = nm;
        if o.nesterov {
            *w += nm * mu - g * lr;
        } else {
            *w += nm;
        }
    }
}

#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
fn adam(
    o: &Adam,
    alpha: f32,
    weights: &mut [f32],
    gradients: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) {
    let (b1, b2, eps) = (1.0 - o.beta_1, 1.0 - o.beta_2, o.epsilon);
    for (((w, &g), m), v) in weights
        .iter_mut()
        .zip(gradients)
        .zip(m.iter_mut())
        .zip(v.iter_mut())
    {
        *m += (g - *m) * b1;
        *v += (g * g - *v) * b2;
        *w -= alpha * *m / (v.sqrt() + eps);
    }
}

#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
fn adagrad(o: &Adagrad, weights: &mut [f32], gradients: &[f32], accumulator: &mut [f32]) {
    let (lr, eps) = (o.learning_rate, o.epsilon);
    for ((w, &g), a) in weights
        .iter_mut()
        .zip(gradients)
        .zip(accumulator.iter_mut())
    {
        *a += g * g;
        *w -= lr * g / (*a + eps).sqrt();
    }
}
