//! The CUDA C kernels (in `trainer/kernels/`) and how they are compiled with NVRTC.
//!
//! This file depends only on `std` and `cudarc`, so that the kernel compile test
//! (`tests/cuda_kernels.rs`) includes it as it is and compiles exactly what the backend
//! compiles, with the same options, on a machine without a GPU.

use cudarc::nvrtc::{CompileError, CompileOptions, Ptx};

/// Each kernel source file, by name. They are compiled together as one NVRTC program.
pub const SOURCES: [(&str, &str); 4] = [
    ("data.cu", include_str!("../../../kernels/data.cu")),
    ("dense.cu", include_str!("../../../kernels/dense.cu")),
    (
        "softmax_ce.cu",
        include_str!("../../../kernels/softmax_ce.cu"),
    ),
    (
        "optimizers.cu",
        include_str!("../../../kernels/optimizers.cu"),
    ),
];

/// Every `extern "C"` kernel the backend loads from the program.
// Read by the kernel compile test, which checks each one is in the PTX.
#[allow(dead_code)]
pub const KERNEL_NAMES: [&str; 10] = [
    "gather_batch",
    "bias_activation",
    "relu_bias_grad",
    "softmax_cross_entropy",
    "rmsprop_update",
    "rmsprop_momentum_update",
    "sgd_update",
    "sgd_momentum_update",
    "adam_update",
    "adagrad_update",
];

/// The whole program: the sources one after the other.
pub fn program_source() -> String {
    let mut source = String::new();
    for (name, text) in SOURCES {
        source.push_str("// ---- ");
        source.push_str(name);
        source.push_str(" ----\n");
        source.push_str(text);
        source.push('\n');
    }
    source
}

/// The architecture option for a compute capability, e.g. `(9, 0)` -> `sm_90`.
pub fn arch_for(major: i32, minor: i32) -> String {
    format!("sm_{major}{minor}")
}

/// Compiles the program to PTX for `arch` (`sm_90`, ...).
///
/// `--fmad=false`: no multiply-add contraction, so that the optimizer formulas round each
/// operation as the CPU backend does (these kernels are bound by memory and latency, not by
/// arithmetic; cuBLAS does the products). Precise division and square root are NVRTC's
/// defaults and stay on.
pub fn compile(arch: &str) -> Result<Ptx, CompileError> {
    let options = CompileOptions {
        fmad: Some(false),
        options: vec![format!("--gpu-architecture={arch}")],
        name: Some("tinymlp_kernels.cu".into()),
        ..Default::default()
    };
    cudarc::nvrtc::compile_ptx_with_opts(program_source(), options)
}
