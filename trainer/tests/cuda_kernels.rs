//! Compiles every CUDA kernel through NVRTC exactly as the backend does (same sources, same
//! options, `kernels::compile` and `kernels::image_for`), for sm_80, sm_89 and sm_90 (the
//! H200), and checks what the driver would be given: a CUBIN that is a CUDA ELF for the
//! asked architecture and holds every kernel. The PTX is also assembled with ptxas (errors,
//! warnings and register spills). Needs no GPU: only NVRTC and ptxas, which
//! `scripts/cuda-toolchain.sh` installs from NVIDIA's wheels into `.venv/cuda`: NVRTC 12.x,
//! which this process loads, and NVRTC 13.x, which
//! [`kernels_compile_to_cubin_with_nvrtc_13`] loads in a child process (one NVRTC per
//! process), since the GPU machine's NVRTC may be either.
//!
//! Where the toolchain is found: `TINYMLP_NVRTC_LIB_DIR` (folder holding `libnvrtc.so*`),
//! `TINYMLP_NVRTC13_LIB_DIR` and `TINYMLP_PTXAS` (the ptxas binary), else `.venv/cuda` at the
//! workspace root, else a libnvrtc the loader already finds and `ptxas` on the PATH.
//! Missing toolchain: the tests fail when `CI=true` or `TINYMLP_REQUIRE_CUDA=1` (the GPU
//! check, where skips are failures) and skip with a `SKIPPED` line otherwise.
#![cfg(feature = "cuda")]

use std::ffi::{c_char, c_int, c_void, CString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

#[path = "../src/backend/cuda/kernels.rs"]
#[allow(dead_code)]
mod kernels;

/// Whether a missing toolchain is a failure here.
fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("TINYMLP_REQUIRE_CUDA").is_ok_and(|v| v == "1")
}

/// Fails or skips (see the module documentation); returns so that the caller can `return`.
fn missing(what: &str) {
    let message = format!("CUDA kernel compile test: {what}; run scripts/cuda-toolchain.sh");
    if required() {
        panic!("{message} (CI=true or TINYMLP_REQUIRE_CUDA=1: this test must run)");
    }
    eprintln!("SKIPPED: {message}");
}

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

fn env_or_venv(variable: &str, tail: &str) -> Option<PathBuf> {
    match std::env::var_os(variable) {
        Some(path) => Some(PathBuf::from(path)),
        None => venv_path(tail),
    }
}

fn ptxas() -> Option<PathBuf> {
    if let Some(path) = env_or_venv("TINYMLP_PTXAS", "cuda_nvcc/bin/ptxas") {
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

/// The first `libnvrtc.so*` file in `dir` (not the builtins library).
fn nvrtc_in(dir: &Path) -> Result<PathBuf, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    entries
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libnvrtc.so"))
        })
        .ok_or_else(|| format!("no libnvrtc.so* in {}", dir.display()))
}

/// Makes NVRTC loadable by cudarc: if the loader does not find it by name, open the wheel's
/// copy by its full path first. cudarc then asks for `libnvrtc.so.12`, the soname of the
/// library already loaded, and gets that one (LD_LIBRARY_PATH cannot be changed once the
/// process runs).
fn load_nvrtc() -> Result<(), String> {
    // SAFETY: only tries to dlopen the library under its usual names.
    if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Ok(());
    }
    let dir = env_or_venv("TINYMLP_NVRTC_LIB_DIR", "cuda_nvrtc/lib")
        .ok_or("no NVRTC library (set TINYMLP_NVRTC_LIB_DIR)")?;
    let library = nvrtc_in(&dir)?;
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

/// Whether NVRTC is loaded (found once per test binary); prints or panics when it is not.
fn nvrtc() -> bool {
    static NVRTC: OnceLock<Result<(), String>> = OnceLock::new();
    match NVRTC.get_or_init(load_nvrtc) {
        Ok(()) => true,
        Err(reason) => {
            missing(&format!("NVRTC missing ({reason})"));
            false
        }
    }
}

/// A scratch folder: the build's, or the system's when the binary runs elsewhere (the GPU
/// machine runs the test binary built here).
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    if std::fs::create_dir_all(&dir).is_ok() {
        return dir;
    }
    let dir = std::env::temp_dir().join(format!("tinymlp-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary folder");
    dir
}

/// Whether `haystack` contains `needle`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// NVRTC to PTX and CUBIN for one architecture; checks that the PTX declares every kernel,
/// that the CUBIN is a CUDA ELF for `arch` and holds each kernel's code. `None` when NVRTC
/// is missing (skipped).
fn compile_checked(arch: &str) -> Option<kernels::Compiled> {
    if !nvrtc() {
        return None;
    }
    let compiled = kernels::compile(arch).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !compiled.log.contains("warning"),
        "NVRTC warnings for {arch}:\n{}",
        compiled.log
    );
    for name in kernels::KERNEL_NAMES {
        assert!(
            compiled.ptx.contains(&format!(".entry {name}(")),
            "kernel {name} is missing from the {arch} PTX"
        );
    }
    let cubin = compiled
        .cubin
        .as_ref()
        .expect("a CUBIN for a real architecture");
    let sm: u32 = arch["sm_".len()..].parse().expect("sm_XX");
    assert_eq!(kernels::cubin_arch(cubin), Ok(sm), "{arch}: CUBIN header");
    for name in kernels::KERNEL_NAMES {
        assert!(
            contains(cubin, format!(".text.{name}\0").as_bytes()),
            "kernel {name} has no code section in the {arch} CUBIN"
        );
    }
    Some(compiled)
}

/// [`compile_checked`], then ptxas on the PTX (any error, warning or spill fails).
fn compile_and_assemble(arch: &str) {
    let Some(compiled) = compile_checked(arch) else {
        return;
    };
    let sm: u32 = arch["sm_".len()..].parse().expect("sm_XX");
    let cubin = compiled.cubin.as_ref().expect("checked");
    let Some(ptxas) = ptxas() else {
        missing("no ptxas (set TINYMLP_PTXAS)");
        return;
    };
    let dir = scratch("cuda-kernels");
    let ptx_path = dir.join(format!("kernels-{arch}.ptx"));
    let cubin_path = dir.join(format!("kernels-{arch}.cubin"));
    std::fs::write(&ptx_path, &compiled.ptx).expect("write PTX");
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
    let assembled = std::fs::read(&cubin_path).expect("cubin written");
    assert_eq!(
        kernels::cubin_arch(&assembled),
        Ok(sm),
        "{arch}: ptxas CUBIN"
    );
    eprintln!(
        "{arch}: {} kernels, PTX {} bytes (ISA {:?}), NVRTC CUBIN {} bytes, ptxas CUBIN {} bytes",
        kernels::KERNEL_NAMES.len(),
        compiled.ptx.len(),
        kernels::ptx_isa(&compiled.ptx),
        cubin.len(),
        assembled.len()
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

/// NVRTC alone (no ptxas, whose PTX ISA may be older than NVRTC's): the CUBINs the backend
/// would load on the H200 and on an A100.
#[test]
fn nvrtc_gives_checked_cubins() {
    for arch in ["sm_90", "sm_80"] {
        if let Some(compiled) = compile_checked(arch) {
            eprintln!(
                "{arch}: CUBIN of {} bytes holds all {} kernels (PTX ISA would be {:?})",
                compiled.cubin.map_or(0, |c| c.len()),
                kernels::KERNEL_NAMES.len(),
                kernels::ptx_isa(&compiled.ptx)
            );
        }
    }
}

/// What the backend gives the driver of an H200: a CUBIN for sm_90, never PTX (whose ISA
/// a driver older than NVRTC refuses). Run in a child process with NVRTC 13 too.
#[test]
fn an_h200_gets_an_sm_90_cubin() {
    if !nvrtc() {
        return;
    }
    let version = kernels::nvrtc_version().expect("nvrtcVersion");
    if let Ok(expected) = std::env::var("TINYMLP_EXPECT_NVRTC_MAJOR") {
        assert_eq!(version.0.to_string(), expected, "loaded NVRTC {version:?}");
    }
    let image = kernels::image_for(9, 0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(image.description, "sm_90 cubin");
    let cubin = image.ptx.as_bytes().map(<[u8]>::to_vec);
    // A binary image: cudarc hands it to cuModuleLoadData as is.
    assert!(cubin.is_none(), "expected a binary image, not NVRTC's PTX");
    let compiled = kernels::compile("sm_90").expect("compile");
    let cubin = compiled.cubin.expect("CUBIN");
    assert_eq!(kernels::cubin_arch(&cubin), Ok(90));
    eprintln!(
        "NVRTC {}.{}: sm_90 CUBIN of {} bytes, ELF ABI version {}, e_flags {:#x}; its PTX \
         would declare ISA {:?}",
        version.0,
        version.1,
        cubin.len(),
        cubin[8],
        u32::from_le_bytes([cubin[48], cubin[49], cubin[50], cubin[51]]),
        kernels::ptx_isa(&compiled.ptx)
    );
}

/// A device newer than NVRTC (here a made-up sm_999) gets PTX for the newest architecture
/// NVRTC knows, which its (newer) driver can JIT.
#[test]
fn a_device_newer_than_nvrtc_gets_ptx_for_nvrtcs_newest_architecture() {
    if !nvrtc() {
        return;
    }
    let archs = kernels::supported_archs().expect("supported architectures");
    assert!(
        archs.contains(&90),
        "NVRTC cannot compile for sm_90: {archs:?}"
    );
    let newest = archs.iter().max().copied().expect("some architecture");
    let image = kernels::image_for(99, 9).unwrap_or_else(|e| panic!("{e}"));
    let ptx = image.ptx.to_src();
    let (major, minor) = kernels::ptx_isa(&ptx).expect("a .version line");
    assert_eq!(
        image.description,
        format!("compute_{newest} ptx ISA {major}.{minor} (JIT)")
    );
    assert!(ptx.contains(&format!(".target sm_{newest}")), "{ptx:.300}");
    // Older than anything NVRTC knows: an error that says so, not a bad image.
    let error = kernels::image_for(1, 0).err().expect("sm_10 is refused");
    assert!(error.0.contains("sm_10"), "{error}");
}

#[test]
fn cubin_headers_are_checked() {
    let mut elf = vec![0u8; 64];
    elf[..4].copy_from_slice(b"\x7fELF");
    elf[4] = 2;
    elf[5] = 1;
    elf[18..20].copy_from_slice(&kernels::EM_CUDA.to_le_bytes());
    // CUDA 12's ELF ABI: the SM in bits 0-7.
    elf[8] = 7;
    elf[48..52].copy_from_slice(&0x0050_5a5au32.to_le_bytes());
    assert_eq!(kernels::cubin_arch(&elf), Ok(90));
    // CUDA 13's: bits 8-15.
    elf[8] = 8;
    elf[48..52].copy_from_slice(&0x0000_5a00u32.to_le_bytes());
    assert_eq!(kernels::cubin_arch(&elf), Ok(90));
    let mut x86 = elf.clone();
    x86[18..20].copy_from_slice(&62u16.to_le_bytes());
    assert!(kernels::cubin_arch(&x86).is_err());
    assert!(kernels::cubin_arch(b"// PTX .version 8.8").is_err());
    assert!(kernels::cubin_arch(&elf[..40]).is_err());
}

#[test]
fn ptx_isa_is_read_from_the_version_line() {
    let ptx = "//\n// Generated by NVIDIA NVVM Compiler\n\n.version 8.8\n.target sm_90\n";
    assert_eq!(kernels::ptx_isa(ptx), Some((8, 8)));
    assert_eq!(kernels::ptx_isa(".target sm_90"), None);
}

/// The NVRTC 13 wheel's folder, with the `libnvrtc.so` link cudarc (built for CUDA 12)
/// needs to find a `libnvrtc.so.13`, as `scripts/gpu-check.sh` makes on the GPU machine.
fn nvrtc_13() -> Option<(PathBuf, PathBuf)> {
    let dir = env_or_venv("TINYMLP_NVRTC13_LIB_DIR", "cu13/lib")?;
    let library = dir.join("libnvrtc.so.13");
    library.exists().then_some(())?;
    let shim = scratch("nvrtc13-shim");
    let link = shim.join("libnvrtc.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&library, &link).ok()?;
    Some((dir, shim))
}

#[test]
fn kernels_compile_to_cubin_with_nvrtc_13() {
    if std::env::var_os("TINYMLP_EXPECT_NVRTC_MAJOR").is_some() {
        return; // Already the child.
    }
    let Some((dir, shim)) = nvrtc_13() else {
        missing("no NVRTC 13 (.venv/cuda/.../nvidia/cu13/lib or TINYMLP_NVRTC13_LIB_DIR)");
        return;
    };
    let exe = std::env::current_exe().expect("test binary");
    let tests = [
        "an_h200_gets_an_sm_90_cubin",
        "nvrtc_gives_checked_cubins",
        "a_device_newer_than_nvrtc_gets_ptx_for_nvrtcs_newest_architecture",
    ];
    let output = Command::new(exe)
        .args(tests)
        .args(["--exact", "--nocapture", "--test-threads=1"])
        .env(
            "LD_LIBRARY_PATH",
            format!("{}:{}", shim.display(), dir.display()),
        )
        .env("TINYMLP_EXPECT_NVRTC_MAJOR", "13")
        .env_remove("TINYMLP_NVRTC_LIB_DIR")
        .output()
        .expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "with NVRTC 13:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("3 passed"), "{stdout}");
    assert!(!stderr.contains("SKIPPED"), "{stderr}");
}

#[test]
fn arch_names_follow_compute_capability() {
    assert_eq!(kernels::arch_for(9, 0), "sm_90");
    assert_eq!(kernels::arch_for(8, 9), "sm_89");
}
