//! Starting the GPU, one named step after the other: the driver (probed without cudarc,
//! which panics when a library is missing), the context and stream, NVRTC compiling the
//! kernels, the module load, the cuBLAS handle and its workspace. A failure says, in one
//! line, which step failed and the library versions known by then (`cuda: step `module
//! load` failed (driver 13.0, NVRTC 13.0): ...`), so that a single run on a GPU machine
//! tells what to fix. A cudarc panic during these steps is caught without its message
//! reaching stderr (the CLI falls back to the CPU with the reason instead).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::UnwindSafe;
use std::sync::{Arc, Once};

use cudarc::cublas::{sys as cublas_sys, CudaBlas};
use cudarc::driver::{sys as driver_sys, CudaContext, CudaSlice, CudaStream, DevicePtr};

use super::module::{self, Functions};
use super::{kernels, unavailable};
use crate::error::{Error, Result};

/// cuBLAS workspace, given to cuBLAS up front so that graph capture never allocates
/// (NVIDIA recommends 32 MiB on Hopper).
const CUBLAS_WORKSPACE_BYTES: usize = 32 << 20;

/// The steps of starting (and, for graphs, running) the backend, as failures name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Driver,
    Context,
    Nvrtc,
    ModuleLoad,
    Cublas,
    CublasWorkspace,
    GraphCapture,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Driver => "driver",
            Step::Context => "context",
            Step::Nvrtc => "NVRTC",
            Step::ModuleLoad => "module load",
            Step::Cublas => "cuBLAS",
            Step::CublasWorkspace => "cuBLAS workspace",
            Step::GraphCapture => "first graph capture",
        })
    }
}

/// The libraries' versions, as far as known.
#[derive(Debug, Clone, Default)]
pub(super) struct Versions {
    driver: Option<i32>,
    nvrtc: Option<(i32, i32)>,
    cublas: Option<i32>,
}

impl fmt::Display for Versions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.driver {
            // cuDriverGetVersion: 1000 * major + 10 * minor.
            Some(v) => write!(f, "driver {}.{}", v / 1000, v % 1000 / 10)?,
            None => f.write_str("driver ?")?,
        }
        match self.nvrtc {
            Some((major, minor)) => write!(f, ", NVRTC {major}.{minor}")?,
            None => f.write_str(", NVRTC ?")?,
        }
        match self.cublas {
            // cublasGetVersion: 10000 * major + 100 * minor + patch.
            Some(v) => write!(f, ", cuBLAS {}.{}.{}", v / 10000, v % 10000 / 100, v % 100),
            None => f.write_str(", cuBLAS ?"),
        }
    }
}

/// The error of a failed step: one line naming it (NVRTC's log, if any, follows).
pub(super) fn step_failed(step: Step, versions: &Versions, detail: impl fmt::Display) -> Error {
    Error::Backend(format!("cuda: step `{step}` failed ({versions}): {detail}"))
}

thread_local! {
    /// The step this thread is in, for a panic's message.
    static STEP: Cell<Step> = const { Cell::new(Step::Driver) };
    /// Whether a panic on this thread is caught by [`catch_quietly`].
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// The last quiet panic's message and place.
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `start`, turning a panic into [`Error::DeviceUnavailable`] that names the step, and
/// keeping the panic's message off stderr: cudarc panics on a few conditions (a symbol
/// missing from an old driver, for one) instead of returning an error, and a GPU that
/// cannot start must not take the CLI down, nor look as if it had.
pub(super) fn catch_quietly<T>(start: impl FnOnce() -> Result<T> + UnwindSafe) -> Result<T> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                let place = info
                    .location()
                    .map(|l| format!(" ({}:{})", l.file(), l.line()))
                    .unwrap_or_default();
                let message = info
                    .payload()
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                PANIC.with(|p| *p.borrow_mut() = Some(format!("{message}{place}")));
            } else {
                previous(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    STEP.with(|s| s.set(Step::Driver));
    let result = std::panic::catch_unwind(start);
    QUIET.with(|q| q.set(false));
    match result {
        Ok(result) => result,
        Err(_) => {
            let message = PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| "unknown panic".into());
            let step = STEP.with(Cell::get);
            Err(unavailable(format!(
                "step `{step}`: the CUDA runtime panicked: {message}"
            )))
        }
    }
}

/// Checks that the driver, NVRTC and cuBLAS can be loaded and that a device exists, without
/// touching anything in cudarc that panics when they cannot.
pub(super) fn probe() -> Result<()> {
    // SAFETY: each probe only tries to dlopen the library under its usual names.
    if !unsafe { driver_sys::is_culib_present() } {
        return Err(unavailable(
            "no NVIDIA driver library (libcuda.so) found on this machine",
        ));
    }
    // SAFETY: as above.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err(unavailable(
            "the NVIDIA driver is present but NVRTC is not: install the CUDA toolkit's NVRTC \
             or put the folder holding libnvrtc.so (or libnvrtc.so.12) on LD_LIBRARY_PATH; a \
             CUDA 13 install that only has libnvrtc.so.13 needs a libnvrtc.so link to it",
        ));
    }
    // SAFETY: as above.
    if !unsafe { cublas_sys::is_culib_present() } {
        return Err(unavailable(
            "the NVIDIA driver is present but cuBLAS is not: install the CUDA toolkit's cuBLAS \
             or put the folder holding libcublas.so (or libcublas.so.12) on LD_LIBRARY_PATH; a \
             CUDA 13 install that only has libcublas.so.13 needs a libcublas.so link to it",
        ));
    }
    cudarc::driver::result::init()
        .map_err(|e| unavailable(format!("the CUDA driver did not initialize: {e}")))?;
    let count = cudarc::driver::result::device::get_count()
        .map_err(|e| unavailable(format!("cannot count CUDA devices: {e}")))?;
    if count < 1 {
        return Err(unavailable("the CUDA driver reports no device"));
    }
    Ok(())
}

/// The device, its stream, cuBLAS and the kernels.
pub(super) struct Gpu {
    pub(super) stream: Arc<CudaStream>,
    pub(super) blas: CudaBlas,
    pub(super) functions: Functions,
    pub(super) name: String,
    pub(super) versions: Versions,
    // Given to cuBLAS; must outlive the handle's use.
    _blas_workspace: CudaSlice<u8>,
}

/// Where [`Gpu::open`] is, and what it knows so far.
struct Startup {
    step: Step,
    versions: Versions,
}

impl Startup {
    fn at(&mut self, step: Step) {
        self.step = step;
        STEP.with(|s| s.set(step));
    }

    fn check<T, E: fmt::Display>(
        &self,
        result: std::result::Result<T, E>,
        what: &str,
    ) -> Result<T> {
        result.map_err(|e| step_failed(self.step, &self.versions, format!("{what}: {e}")))
    }
}

impl Gpu {
    /// Opens device 0: call [`probe`] first, and this inside [`catch_quietly`].
    pub(super) fn open(use_graphs: bool, tf32: bool) -> Result<Gpu> {
        let mut startup = Startup {
            step: Step::Driver,
            versions: Versions::default(),
        };
        let mut driver = 0;
        // SAFETY: a valid out-pointer; the driver library is loaded (probe).
        if unsafe { driver_sys::cuDriverGetVersion(&mut driver) }
            .result()
            .is_ok()
        {
            startup.versions.driver = Some(driver);
        }

        startup.at(Step::Context);
        let ctx = startup.check(CudaContext::new(0), "creating a context on device 0")?;
        // One stream does everything, so cudarc's cross-stream event tracking is not needed;
        // its events would also be recorded into captured graphs.
        // SAFETY: called before any allocation; all work goes to the one stream below.
        unsafe { ctx.disable_event_tracking() };
        // Graph capture needs a stream other than the legacy default stream.
        let stream = startup.check(ctx.new_stream(), "creating a stream")?;
        let name = startup.check(ctx.name(), "reading the device name")?;
        let (major, minor) =
            startup.check(ctx.compute_capability(), "reading the compute capability")?;
        let memory_mib = startup.check(ctx.total_mem(), "reading the memory size")? >> 20;

        startup.at(Step::Nvrtc);
        startup.versions.nvrtc = Some(startup.check(kernels::nvrtc_version(), "nvrtcVersion")?);
        let image = startup.check(kernels::image_for(major, minor), "compiling the kernels")?;
        let arch = image.description.clone();

        startup.at(Step::ModuleLoad);
        let functions = startup.check(module::load(&ctx, image), &arch)?;

        startup.at(Step::Cublas);
        let blas = startup.check(CudaBlas::new(stream.clone()), "creating the handle")?;
        let mut cublas = 0;
        // SAFETY: a live handle and a valid out-pointer.
        let version = unsafe { cublas_sys::cublasGetVersion_v2(*blas.handle(), &mut cublas) };
        startup.check(version.result(), "cublasGetVersion")?;
        startup.versions.cublas = Some(cublas);
        if tf32 {
            // SAFETY: a live handle and a valid math mode.
            let mode = unsafe {
                cublas_sys::cublasSetMathMode(
                    *blas.handle(),
                    cublas_sys::cublasMath_t::CUBLAS_TF32_TENSOR_OP_MATH,
                )
            };
            startup.check(mode.result(), "enabling TF32")?;
        }

        // The first device allocation: through cuMemAllocAsync when the device reports
        // memory pools (cudarc's choice), which is where a restricted driver would refuse.
        startup.at(Step::CublasWorkspace);
        let allocation = if ctx.has_async_alloc() {
            "cuMemAllocAsync"
        } else {
            "cuMemAlloc"
        };
        let workspace = startup.check(
            stream.alloc_zeros::<u8>(CUBLAS_WORKSPACE_BYTES),
            &format!("allocating {CUBLAS_WORKSPACE_BYTES} bytes with {allocation}"),
        )?;
        {
            let (pointer, _guard) = workspace.device_ptr(&stream);
            // SAFETY: the workspace is a live device allocation of the stated size, owned by
            // the backend alongside the handle.
            let set = unsafe {
                cublas_sys::cublasSetWorkspace_v2(
                    *blas.handle(),
                    pointer as *mut std::ffi::c_void,
                    CUBLAS_WORKSPACE_BYTES,
                )
            };
            startup.check(set.result(), "cublasSetWorkspace")?;
        }
        startup.check(stream.synchronize(), "waiting for the allocation")?;

        let mut notes = String::new();
        if tf32 {
            notes.push_str(", tf32");
        }
        if !use_graphs {
            notes.push_str(", no graphs");
        }
        let versions = startup.versions;
        Ok(Gpu {
            stream,
            blas,
            functions,
            name: format!(
                "cuda:0 {name} ({arch}, {memory_mib} MiB{notes}; {versions}, {allocation})"
            ),
            versions,
            _blas_workspace: workspace,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_starting_becomes_an_error_naming_the_step() {
        let result: Result<()> = catch_quietly(|| {
            STEP.with(|s| s.set(Step::ModuleLoad));
            panic!("Expected symbol in library: cuModuleLoadDataEx");
        });
        let Err(Error::DeviceUnavailable { device, reason }) = result else {
            panic!("expected DeviceUnavailable, got {result:?}");
        };
        assert_eq!(device, "cuda");
        assert!(
            reason.starts_with("step `module load`: the CUDA runtime panicked: Expected symbol"),
            "{reason}"
        );
        // The quiet hook took the message (with its place) instead of printing it.
        assert!(reason.contains("device.rs:"), "{reason}");
        assert!(!QUIET.with(Cell::get), "quiet mode must end with the call");
        // Outside catch_quietly, errors pass through untouched.
        let passed: Result<u8> = catch_quietly(|| Ok(7));
        assert_eq!(passed.ok(), Some(7));
    }

    #[test]
    fn failures_name_the_step_and_the_versions_in_one_line() {
        let versions = Versions {
            driver: Some(13000),
            nvrtc: Some((12, 9)),
            cublas: None,
        };
        let error = step_failed(Step::CublasWorkspace, &versions, "CUDA_ERROR_NOT_SUPPORTED");
        assert_eq!(
            error.to_string().lines().next().map(str::to_string),
            Some(
                "backend error: cuda: step `cuBLAS workspace` failed (driver 13.0, NVRTC 12.9, \
                 cuBLAS ?): CUDA_ERROR_NOT_SUPPORTED"
                    .to_string()
            )
        );
        let known = Versions {
            driver: Some(12080),
            nvrtc: Some((13, 0)),
            cublas: Some(130_002),
        };
        assert_eq!(known.to_string(), "driver 12.8, NVRTC 13.0, cuBLAS 13.0.2");
    }
}
