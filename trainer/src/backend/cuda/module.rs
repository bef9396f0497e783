//! The kernels as the driver holds them: the image [`kernels::image_for`] compiles for the
//! device, loaded into the context, and a handle per kernel.

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction};

use super::kernels::{self, Image};
use super::GpuResult;
use crate::error::Result;

/// The loaded kernels (their names are [`kernels::KERNEL_NAMES`]).
pub(super) struct Functions {
    pub(super) gather_batch: CudaFunction,
    pub(super) gather_features: CudaFunction,
    pub(super) bias_activation: CudaFunction,
    pub(super) relu_bias_grad: CudaFunction,
    pub(super) softmax_cross_entropy: CudaFunction,
    pub(super) rmsprop_update: CudaFunction,
    pub(super) rmsprop_momentum_update: CudaFunction,
    pub(super) sgd_update: CudaFunction,
    pub(super) sgd_momentum_update: CudaFunction,
    pub(super) adam_update: CudaFunction,
    pub(super) adagrad_update: CudaFunction,
}

/// Loads `image` into `ctx` (`cuModuleLoadData`) and looks up every kernel.
pub(super) fn load(ctx: &Arc<CudaContext>, image: Image) -> Result<Functions> {
    let module = ctx.load_module(image.ptx).gpu("cuModuleLoadData")?;
    let load = |name: &str| {
        debug_assert!(kernels::KERNEL_NAMES.contains(&name), "{name}");
        module.load_function(name).gpu(name)
    };
    Ok(Functions {
        gather_batch: load("gather_batch")?,
        gather_features: load("gather_features")?,
        bias_activation: load("bias_activation")?,
        relu_bias_grad: load("relu_bias_grad")?,
        softmax_cross_entropy: load("softmax_cross_entropy")?,
        rmsprop_update: load("rmsprop_update")?,
        rmsprop_momentum_update: load("rmsprop_momentum_update")?,
        sgd_update: load("sgd_update")?,
        sgd_momentum_update: load("sgd_momentum_update")?,
        adam_update: load("adam_update")?,
        adagrad_update: load("adagrad_update")?,
    })
}
