//! The optimizer update: one launch over every parameter (they share one flat buffer), the
//! kernel picked by the optimizer and its number of slots.

use cudarc::driver::{CudaStream, PushKernelArg};

use super::buffers::{Control, Model};
use super::module::Functions;
use super::{elementwise, to_u32, GpuResult};
use crate::error::{Error, Result};
use crate::network::Optimizer;

/// Queues the update of `model`'s parameters from its gradients on `stream`.
pub(super) fn launch(
    stream: &CudaStream,
    f: &Functions,
    model: &mut Model,
    control: &Control,
) -> Result<()> {
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
