//! Compiles every CUDA kernel through NVRTC for sm_80, sm_89 and sm_90, exactly as the backend
//! does (same sources, same options), and assembles the PTX with ptxas. Needs no GPU: only
//! the NVRTC library and ptxas, which `scripts/cuda-toolchain.sh` installs from NVIDIA's
//! wheels into `.venv/cuda`.
//!
//! Where the toolchain is found: `TINYMLP_NVRTC_LIB_DIR` (folder holding `libnvrtc.so*`) and
//! `TINYMLP_PTXAS` (the ptxas binary), else `.venv/cuda` at the workspace root, else a
//! libnvrtc the loader already finds and `ptxas` on the PATH. Missing toolchain: the tests
//! fail when `CI=true` (CI must run them) and skip with a message otherwise.
#![cfg(feature = "cuda")]

use std::ffi::{c_char, c_int, c_void, CString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

#[path = "../src/backend/cuda/kernels.rs"]
mod kernels;

/// The workspace root (this crate is `trainer/`).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `.venv/cuda/lib/python3.*/site-packages/nvidia/<tail>` if it exists.
fn venv_path(tail: &str) -> Option<PathBuf> {
    let lib = workspace_root().join(".venv/cuda/lib");
    let entries = std::fs::read_dir(lib).ok()?;
    entries
        .flatten()
        .map(|e| e.path().join("site-packages/nvidia").join(tail))
        .find(|p| p.exists())
}

fn nvrtc_dir() -> Option<PathBuf> {
    match std::env::var_os("TINYMLP_NVRTC_LIB_DIR") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => venv_path("cuda_nvrtc/lib"),
    }
}

fn ptxas() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TINYMLP_PTXAS") {
        return Some(PathBuf::from(path));
    }
    if let Some(path) = venv_path("cuda_nvcc/bin/ptxas") {
        return Some(path);
    }
    let on_path = Command::new("ptxas").arg("--version").output();
    on_path
        .ok()
        .filter(|o| o.status.success())
        .map(|_| "ptxas".into())
}

extern "C" {
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
}
const RTLD_NOW: c_int = 2;
const RTLD_GLOBAL: c_int = 0x100;

/// Makes NVRTC loadable by cudarc: if the loader does not find it by name, open the wheel's
/// copy by its full path first. cudarc then asks for `libnvrtc.so.12`, the soname of the
/// library already loaded, and gets that one (LD_LIBRARY_PATH cannot be changed once the
/// process runs).
fn load_nvrtc() -> Result<(), String> {
    // SAFETY: only tries to dlopen the library under its usual names.
    if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Ok(());
    }
    let dir = nvrtc_dir().ok_or("no NVRTC library (set TINYMLP_NVRTC_LIB_DIR)")?;
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let library = entries
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libnvrtc.so"))
        })
        .ok_or_else(|| format!("no libnvrtc.so* in {}", dir.display()))?;
    let c_path = CString::new(library.to_string_lossy().into_owned()).map_err(|e| e.to_string())?;
    // SAFETY: dlopen with a valid NUL-terminated path; the handle is kept for the process.
    let handle = unsafe { dlopen(c_path.as_ptr(), RTLD_NOW | RTLD_GLOBAL) };
    if handle.is_null() {
        return Err(format!("dlopen({}) failed", library.display()));
    }
    // SAFETY: as above.
    if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        Ok(())
    } else {
        Err(format!(
            "{} loaded, but cudarc still cannot open NVRTC by name",
            library.display()
        ))
    }
}

/// The toolchain, or why there is none (found once per test binary).
fn toolchain() -> Option<&'static PathBuf> {
    static TOOLCHAIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = TOOLCHAIN.get_or_init(|| {
        load_nvrtc()?;
        ptxas().ok_or_else(|| "no ptxas (set TINYMLP_PTXAS)".to_string())
    });
    match found {
        Ok(ptxas) => Some(ptxas),
        Err(reason) => {
            let message = format!(
                "CUDA kernel compile test: toolchain missing ({reason}); \
                 run scripts/cuda-toolchain.sh"
            );
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{message} (CI=true: this test must run)");
            }
            eprintln!("SKIPPED: {message}");
            None
        }
    }
}

/// NVRTC to PTX, then ptxas to a cubin, for one architecture; fails on any error or warning.
fn compile_and_assemble(arch: &str) {
    let Some(ptxas) = toolchain() else { return };
    let ptx = match kernels::compile(arch) {
        Ok(ptx) => ptx.to_src(),
        Err(cudarc::nvrtc::CompileError::CompileError { log, .. }) => {
            panic!("NVRTC failed for {arch}:\n{}", log.to_string_lossy())
        }
        Err(other) => panic!("NVRTC failed for {arch}: {other}"),
    };
    for name in kernels::KERNEL_NAMES {
        assert!(
            ptx.contains(&format!(".entry {name}(")),
            "kernel {name} is missing from the {arch} PTX"
        );
    }
    // The build's temporary folder, or the system's when the binary runs elsewhere (the GPU
    // machine runs the test binary built here).
    let mut dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cuda-kernels");
    if std::fs::create_dir_all(&dir).is_err() {
        dir = std::env::temp_dir().join(format!("tinymlp-cuda-kernels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary folder");
    }
    let ptx_path = dir.join(format!("kernels-{arch}.ptx"));
    let cubin_path = dir.join(format!("kernels-{arch}.cubin"));
    std::fs::write(&ptx_path, &ptx).expect("write PTX");
    let output = Command::new(ptxas)
        .arg(format!("-arch={arch}"))
        .arg("--warning-as-error")
        .arg("-v")
        .arg("-o")
        .arg(&cubin_path)
        .arg(&ptx_path)
        .output()
        .expect("run ptxas");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "ptxas failed for {arch}:\n{log}");
    // Register spills would mean local-memory traffic in a hot kernel.
    for line in log.lines().filter(|l| l.contains("spill")) {
        assert!(
            line.contains("0 bytes spill stores") && line.contains("0 bytes spill loads"),
            "{arch}: {line}"
        );
    }
    let cubin = std::fs::metadata(&cubin_path).expect("cubin written");
    assert!(cubin.len() > 1000, "{arch}: cubin of {} bytes", cubin.len());
    eprintln!(
        "{arch}: {} kernels, PTX {} bytes, cubin {} bytes",
        kernels::KERNEL_NAMES.len(),
        ptx.len(),
        cubin.len()
    );
}

#[test]
fn kernels_compile_for_sm_90() {
    compile_and_assemble("sm_90");
}

#[test]
fn kernels_compile_for_sm_89() {
    compile_and_assemble("sm_89");
}

#[test]
fn kernels_compile_for_sm_80() {
    compile_and_assemble("sm_80");
}

#[test]
fn arch_names_follow_compute_capability() {
    assert_eq!(kernels::arch_for(9, 0), "sm_90");
    assert_eq!(kernels::arch_for(8, 9), "sm_89");
}
