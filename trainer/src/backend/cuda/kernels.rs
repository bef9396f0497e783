//! The CUDA C kernels (in `trainer/kernels/`) and how they are compiled with NVRTC.
//!
//! The driver gets a CUBIN: machine code NVRTC compiles for the device's own compute
//! capability. PTX would be JIT-compiled by the driver, which refuses a PTX ISA newer than
//! itself (`CUDA_ERROR_UNSUPPORTED_PTX_VERSION`: NVRTC 12.9 writes ISA 8.8, 13.x writes 9.x),
//! and the NVRTC found on a machine is often newer than its driver (a PyTorch wheel's, for
//! one). A CUBIN carries no ISA version and loads on any driver that knows the architecture.
//! Only when NVRTC is older than the device (it cannot name the architecture) does the
//! driver get PTX for the newest architecture NVRTC knows, and the driver, then newer than
//! NVRTC, accepts its ISA.
//!
//! This file depends only on `std` and `cudarc`, so that the kernel compile test
//! (`tests/cuda_kernels.rs`) includes it as it is and compiles exactly what the backend
//! compiles, with the same options, on a machine without a GPU.

use std::ffi::{c_char, c_int, CString};
use std::fmt;

use cudarc::nvrtc::{result as nvrtc, sys as nvrtc_sys, Ptx};

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
pub const KERNEL_NAMES: [&str; 11] = [
    "gather_batch",
    "gather_features",
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

/// ELF machine number of CUDA device code (`EM_CUDA`).
pub const EM_CUDA: u16 = 190;

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

/// Why the kernels could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError(pub String);

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KernelError {}

fn nvrtc_error(what: &str, error: nvrtc::NvrtcError) -> KernelError {
    KernelError(format!("NVRTC {what}: {error:?}"))
}

/// The loaded NVRTC's version, e.g. `(12, 9)`.
pub fn nvrtc_version() -> Result<(i32, i32), KernelError> {
    let (mut major, mut minor): (c_int, c_int) = (0, 0);
    // SAFETY: two valid out-pointers.
    unsafe { nvrtc_sys::nvrtcVersion(&mut major, &mut minor) }
        .result()
        .map_err(|e| nvrtc_error("version", e))?;
    Ok((major, minor))
}

/// The real architectures the loaded NVRTC can compile for, e.g. `[75, 80, ..., 90, ...]`.
pub fn supported_archs() -> Result<Vec<i32>, KernelError> {
    let mut count: c_int = 0;
    // SAFETY: a valid out-pointer.
    unsafe { nvrtc_sys::nvrtcGetNumSupportedArchs(&mut count) }
        .result()
        .map_err(|e| nvrtc_error("architecture count", e))?;
    let mut archs = vec![0 as c_int; usize::try_from(count).unwrap_or(0)];
    if !archs.is_empty() {
        // SAFETY: `archs` holds the `count` ints NVRTC writes.
        unsafe { nvrtc_sys::nvrtcGetSupportedArchs(archs.as_mut_ptr()) }
            .result()
            .map_err(|e| nvrtc_error("architecture list", e))?;
    }
    Ok(archs)
}

/// What one compilation gives: the PTX always, the CUBIN when compiled for a real
/// architecture (`sm_XX`), and NVRTC's log (warnings).
#[derive(Debug, Clone)]
pub struct Compiled {
    pub ptx: String,
    pub cubin: Option<Vec<u8>>,
    // Read by the kernel compile test, which fails on any warning.
    #[allow(dead_code)]
    pub log: String,
}

/// The NVRTC options for `arch` (`sm_90` for a CUBIN, `compute_90` for PTX only).
///
/// `--fmad=false`: no multiply-add contraction, so that the optimizer formulas round each
/// operation as the CPU backend does (these kernels are bound by memory and latency, not by
/// arithmetic; cuBLAS does the products). Precise division and square root are NVRTC's
/// defaults and stay on.
pub fn options(arch: &str) -> Vec<String> {
    vec![
        "--fmad=false".to_string(),
        format!("--gpu-architecture={arch}"),
    ]
}

/// An NVRTC program, destroyed on drop.
struct Program(nvrtc_sys::nvrtcProgram);

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: created by create_program and destroyed only here. A failure to free is
        // not worth a panic.
        let _ = unsafe { nvrtc::destroy_program(self.0) };
    }
}

fn c_chars_to_string(chars: &[c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .map(|&c| c as u8)
        .take_while(|&b| b != 0)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Compiles the program for `arch` (`sm_90`, ...). Fails with NVRTC's log on any error.
pub fn compile(arch: &str) -> Result<Compiled, KernelError> {
    let source = CString::new(program_source())
        .map_err(|_| KernelError("a kernel source holds a NUL byte".into()))?;
    let name = CString::new("tinymlp_kernels.cu").expect("no NUL in the name");
    let program =
        Program(nvrtc::create_program(&source, Some(&name)).map_err(|e| nvrtc_error("create", e))?);
    let options = options(arch);
    // SAFETY: `program` is live; `source` and `name` outlive it.
    let compiled = unsafe { nvrtc::compile_program(program.0, &options) };
    // SAFETY: as above.
    let log = unsafe { nvrtc::get_program_log(program.0) }
        .map(|chars| c_chars_to_string(&chars))
        .unwrap_or_default();
    if let Err(error) = compiled {
        return Err(KernelError(format!(
            "NVRTC could not compile the kernels for {arch} ({error:?}, options {options:?}):\n{log}"
        )));
    }
    // SAFETY: as above, after a successful compile.
    let ptx = unsafe { nvrtc::get_ptx(program.0) }.map_err(|e| nvrtc_error("PTX", e))?;
    let ptx = c_chars_to_string(&ptx);
    let cubin = if arch.starts_with("sm_") {
        Some(cubin_of(&program)?)
    } else {
        None
    };
    Ok(Compiled { ptx, cubin, log })
}

fn cubin_of(program: &Program) -> Result<Vec<u8>, KernelError> {
    let mut size = 0usize;
    // SAFETY: a compiled program and a valid out-pointer.
    unsafe { nvrtc_sys::nvrtcGetCUBINSize(program.0, &mut size) }
        .result()
        .map_err(|e| nvrtc_error("CUBIN size", e))?;
    if size == 0 {
        return Err(KernelError("NVRTC produced an empty CUBIN".into()));
    }
    let mut cubin = vec![0u8; size];
    // SAFETY: `cubin` holds the `size` bytes NVRTC writes.
    unsafe { nvrtc_sys::nvrtcGetCUBIN(program.0, cubin.as_mut_ptr().cast()) }
        .result()
        .map_err(|e| nvrtc_error("CUBIN", e))?;
    Ok(cubin)
}

/// Reads the architecture a CUBIN was compiled for (`90` for sm_90) from its ELF header,
/// after checking that it is a 64-bit little-endian CUDA ELF image.
///
/// The SM number sits in `e_flags`: bits 0-7 in the ELF ABI CUDA used up to 12.x, bits
/// 8-15 in the one CUDA 13 introduced (`EI_ABIVERSION` 8 and up, which also moved the
/// virtual architecture to bits 0-7).
pub fn cubin_arch(cubin: &[u8]) -> Result<u32, KernelError> {
    let bad = |why: &str| Err(KernelError(format!("not a CUDA CUBIN: {why}")));
    if cubin.len() < 64 {
        return bad("shorter than an ELF header");
    }
    if cubin[..4] != [0x7f, b'E', b'L', b'F'] {
        return bad("no ELF magic");
    }
    if cubin[4] != 2 || cubin[5] != 1 {
        return bad("not 64-bit little-endian");
    }
    let machine = u16::from_le_bytes([cubin[18], cubin[19]]);
    if machine != EM_CUDA {
        return bad(&format!("ELF machine {machine}, not EM_CUDA ({EM_CUDA})"));
    }
    let abi_version = cubin[8];
    let flags = u32::from_le_bytes([cubin[48], cubin[49], cubin[50], cubin[51]]);
    Ok(if abi_version >= 8 {
        (flags >> 8) & 0xff
    } else {
        flags & 0xff
    })
}

/// What the driver is to load, and how it was made.
pub struct Image {
    /// The CUBIN, or PTX text.
    pub ptx: Ptx,
    /// For the device name and the logs: `sm_90 cubin` or `compute_120 ptx ISA 8.8 (JIT)`.
    pub description: String,
}

/// Compiles the kernels for a device of compute capability `major.minor`: a CUBIN for its
/// own architecture when NVRTC knows it, else PTX for the newest architecture NVRTC knows
/// (see the module documentation).
pub fn image_for(major: i32, minor: i32) -> Result<Image, KernelError> {
    let sm = major * 10 + minor;
    let archs = supported_archs()?;
    if archs.contains(&sm) {
        let arch = arch_for(major, minor);
        let compiled = compile(&arch)?;
        let cubin = compiled
            .cubin
            .ok_or_else(|| KernelError(format!("NVRTC gave no CUBIN for {arch}")))?;
        let found = cubin_arch(&cubin)?;
        if found != sm as u32 {
            return Err(KernelError(format!(
                "NVRTC's CUBIN for {arch} is for sm_{found}"
            )));
        }
        return Ok(Image {
            ptx: Ptx::from_binary(cubin),
            description: format!("{arch} cubin"),
        });
    }
    match archs.iter().copied().filter(|&a| a < sm).max() {
        Some(older) => {
            let arch = format!("compute_{older}");
            let compiled = compile(&arch)?;
            let isa = ptx_isa(&compiled.ptx).map_or_else(
                || "?".to_string(),
                |(major, minor)| format!("{major}.{minor}"),
            );
            Ok(Image {
                ptx: Ptx::from_src(compiled.ptx),
                description: format!("{arch} ptx ISA {isa} (JIT)"),
            })
        }
        None => Err(KernelError(format!(
            "NVRTC compiles for {archs:?}, nothing at or below the device's sm_{sm}"
        ))),
    }
}

/// The PTX ISA a PTX text declares (`.version 8.8` -> `(8, 8)`).
pub fn ptx_isa(ptx: &str) -> Option<(u32, u32)> {
    let line = ptx
        .lines()
        .find_map(|l| l.trim().strip_prefix(".version "))?;
    let (major, minor) = line.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}
