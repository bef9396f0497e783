//! The tinymlp runtime as a WebAssembly module with plain C-ABI exports.
//!
//! No wasm-bindgen: the API is a handful of numbers and pointers into linear memory, so the
//! JS side (`web/tinymlp.js`) is 200 lines with no generated glue, the module has no imports
//! at all, and it loads the same way in Node and in browsers (`WebAssembly.instantiate`).
//!
//! One module instance holds one model at a time. The calling sequence is:
//!
//! 1. `tmlp_blob_buffer(len)`: a pointer to `len` writable bytes (linear memory grows as
//!    needed); the JS side copies the blob there. This forgets any loaded model.
//! 2. `tmlp_load(len)`: validates the blob; 0 on success, -1 on failure with the error (see
//!    below). The model's shape is then at `tmlp_model()`: eight `u32`, see [`ModelInfo`].
//! 3. Write the model's `input_len` pixels at `tmlp_input_ptr()` (room for
//!    `tmlp_input_capacity()`), call `tmlp_predict(len)`: the class, or -1 with an error. The
//!    probabilities (`classes` f32 values) are then at `tmlp_probabilities_ptr()`, the raw
//!    outputs (int32 sums of an int8 model, f32 logits of an f32 model) at `tmlp_raw_ptr()`.
//!    A feature model (`ModelInfo::features` 1) takes its `input_len` raw f32 features at
//!    `tmlp_features_ptr()` (room for `tmlp_input_capacity()` of them) through
//!    `tmlp_predict_features(len)` instead, with the same results.
//! 5. `tmlp_name(index)`: the model's name (`index` -1) or class `index`'s name, as the
//!    address and length of its UTF-8 bytes in the blob (two `u32`; length 0 if it has none).
//! 4. Optionally `tmlp_digest_start()` before a run of predictions and `tmlp_digest_finish()`
//!    after it: the runtime's [`OutputDigest`] of their raw outputs, to compare bit for bit
//!    with other targets.
//!
//! An error is reported without formatting code in the module (`core::fmt` would be an
//! eighth of it): five `u32` at `tmlp_error()`, the address and length of a static UTF-8
//! template and the three numbers it names, which the JS side fills in as
//! [`Error::template`] documents, giving exactly the runtime's `Display` text.
//!
//! Two builds: by default the module runs int8 models only (`ModelInfo::kinds`), which keeps
//! the one the page loads small; with the `f32` feature it runs f32 models too, and the page
//! fetches that build only when a user loads an f32 model. The forward passes are compiled in
//! the `tinymlp-wasm-forward` crate, which builds for speed while this one builds for size.
//!
//! The module is single-threaded (wasm32 without shared memory): the exports use one set of
//! static buffers and must not be called from more than one thread. On other targets the
//! crate builds only so that the workspace lints; it is not meant to be linked there.
#![cfg_attr(all(target_arch = "wasm32", not(test)), no_std)]
#![deny(missing_docs)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use core::cell::UnsafeCell;

#[cfg(feature = "kernel-check")]
mod kernel_check;

use tinymlp::{Error, Model, OutputDigest, ParamKind, Prediction, RawOutputs};
use tinymlp_wasm_forward::{self as forward, MAX};

/// A static that the exports share. Sound only because wasm32 without the `atomics` feature
/// runs one thread and no export calls another, so no two borrows of one cell overlap.
struct Global<T>(UnsafeCell<T>);

// SAFETY: see the type's documentation: one thread, and each export takes each cell's
// mutable borrow at most once and drops it before returning.
unsafe impl<T> Sync for Global<T> {}

impl<T> Global<T> {
    const fn new(value: T) -> Self {
        Global(UnsafeCell::new(value))
    }

    /// The value, for the duration of one export call.
    #[allow(clippy::mut_from_ref)]
    fn get(&self) -> &mut T {
        // SAFETY: single-threaded, and every export borrows each global once (see `Global`).
        unsafe { &mut *self.0.get() }
    }
}

/// The parameter kinds this build runs, as bits `1 << kind` (kind as in [`ModelInfo::kind`]):
/// int8 only (4) by default, both (6) with the `f32` feature. Every build loads every valid
/// model, so that the caller learns its kind and can hand it to a build that runs it.
const KINDS: u32 = if cfg!(feature = "f32") {
    (1 << 1) | (1 << 2)
} else {
    1 << 2
};

/// The loaded model's shape, as the JS side reads it: nine `u32` at [`tmlp_model`]. One
/// export for all of them is smaller than one per number.
#[repr(C)]
struct ModelInfo {
    /// [`KINDS`], with or without a model.
    kinds: u32,
    /// The loaded model's parameter kind: 0 none, 1 f32, 2 int8.
    kind: u32,
    /// Number of classes.
    classes: u32,
    /// Number of dense layers.
    layers: u32,
    /// Input width, height and channels.
    width: u32,
    height: u32,
    channels: u32,
    /// Values [`tmlp_predict`] (pixels: `width * height * channels`) or
    /// [`tmlp_predict_features`] (features) reads.
    input_len: u32,
    /// 1 for a feature model (whose image sizes are 0), else 0.
    features: u32,
}

/// No model loaded.
const NO_MODEL: ModelInfo = ModelInfo {
    kinds: KINDS,
    kind: 0,
    classes: 0,
    layers: 0,
    width: 0,
    height: 0,
    channels: 0,
    input_len: 0,
    features: 0,
};

/// What the exports remember between calls. Kept small: it lands in a data segment.
struct State {
    model: Option<Model<'static>>,
    digest: Option<OutputDigest>,
    info: ModelInfo,
    /// The last error: template address and length (0 after a success), its three numbers.
    error: [u32; 5],
    /// Bytes the blob buffer may hold (what the last `tmlp_blob_buffer` call reserved).
    blob_capacity: usize,
    /// The last name asked for: address and length of its UTF-8 bytes (0 and 0 for none).
    name: [u32; 2],
}

/// The buffers: all zero, so they cost linear memory but no module bytes.
struct Buffers {
    int8: forward::Int8,
    #[cfg(feature = "f32")]
    f32: forward::F32,
    input: [u8; MAX],
    features: [f32; MAX],
    probabilities: [f32; MAX],
    /// Raw outputs as bits: `i32` for int8 models, `f32::to_bits` for f32 models.
    raw: [u32; MAX],
}

static STATE: Global<State> = Global::new(State {
    model: None,
    digest: None,
    info: NO_MODEL,
    error: [0; 5],
    blob_capacity: 0,
    name: [0; 2],
});

static BUFFERS: Global<Buffers> = Global::new(Buffers {
    int8: forward::Int8::new(),
    #[cfg(feature = "f32")]
    f32: forward::F32::new(),
    input: [0; MAX],
    features: [0.0; MAX],
    probabilities: [0.0; MAX],
    raw: [0; MAX],
});

/// A pointer to `len` writable bytes for the next blob, or null if memory cannot grow.
/// Forgets the loaded model, whose parameters live in that same memory.
#[no_mangle]
pub extern "C" fn tmlp_blob_buffer(len: usize) -> *mut u8 {
    let state = STATE.get();
    state.model = None;
    state.info = NO_MODEL;
    match blob_memory::reserve(len) {
        Some(pointer) => {
            state.blob_capacity = len;
            pointer
        }
        None => {
            state.blob_capacity = 0;
            core::ptr::null_mut()
        }
    }
}

/// Validates the `len` bytes written at [`tmlp_blob_buffer`]'s pointer and makes them the
/// model. 0 on success; -1 on failure, with the reason at [`tmlp_error`].
#[no_mangle]
pub extern "C" fn tmlp_load(len: usize) -> i32 {
    let state = STATE.get();
    state.model = None;
    state.info = NO_MODEL;
    if len > state.blob_capacity {
        let length = u32::try_from(len).unwrap_or(u32::MAX);
        return fail(
            &mut state.error,
            ("blob length {} exceeds the reserved buffer", [length, 0, 0]),
        );
    }
    let Some(blob) = blob_memory::written(len) else {
        return fail(&mut state.error, ("no blob buffer reserved", [0; 3]));
    };
    match Model::from_bytes(blob) {
        Ok(model) => {
            let input = model.input();
            // A feature model has no image: its sizes are 0.
            let image = |size: fn(&tinymlp::InputSpec) -> u16| {
                input.pixels().map_or(0, |spec| u32::from(size(spec)))
            };
            state.info = ModelInfo {
                kinds: KINDS,
                kind: match model.kind() {
                    ParamKind::F32 => 1,
                    ParamKind::Int8 => 2,
                },
                // All at most `MAX_WIDTH` (or `MAX_LAYERS`): validated.
                classes: model.classes() as u32,
                layers: model.layers().len() as u32,
                width: image(|spec| spec.width),
                height: image(|spec| spec.height),
                channels: image(|spec| spec.channels),
                input_len: input.len(),
                features: u32::from(input.features().is_some()),
            };
            state.model = Some(model);
            state.error[1] = 0;
            0
        }
        Err(error) => fail(&mut state.error, error.template()),
    }
}

/// The loaded model's shape: nine `u32`, see [`ModelInfo`] (all 0 but `kinds` without a
/// model).
#[no_mangle]
pub extern "C" fn tmlp_model() -> *const u32 {
    core::ptr::addr_of!(STATE.get().info).cast()
}

/// The last error: five `u32`, the address and length in bytes of its UTF-8 template (length 0
/// after a success) and the three numbers the template names (see [`Error::template`]).
#[no_mangle]
pub extern "C" fn tmlp_error() -> *const u32 {
    STATE.get().error.as_ptr()
}

/// Where [`tmlp_predict`] reads its pixels from ([`tmlp_input_capacity`] bytes).
#[no_mangle]
pub extern "C" fn tmlp_input_ptr() -> *mut u8 {
    BUFFERS.get().input.as_mut_ptr()
}

/// Where [`tmlp_predict_features`] reads its raw features from ([`tmlp_input_capacity`]
/// f32 values).
#[no_mangle]
pub extern "C" fn tmlp_features_ptr() -> *mut f32 {
    BUFFERS.get().features.as_mut_ptr()
}

/// Values the input buffers hold: the largest input any model may declare.
#[no_mangle]
pub extern "C" fn tmlp_input_capacity() -> usize {
    MAX
}

/// Classifies the `len` pixels at [`tmlp_input_ptr`]: the class, or -1 with the reason at
/// [`tmlp_error`] (the runtime's, for a `len` other than the model's input length too, or
/// for a feature model).
#[no_mangle]
pub extern "C" fn tmlp_predict(len: usize) -> i32 {
    predict(len, false)
}

/// Classifies the `len` raw features at [`tmlp_features_ptr`], as [`tmlp_predict`] does
/// pixels.
#[no_mangle]
pub extern "C" fn tmlp_predict_features(len: usize) -> i32 {
    predict(len, true)
}

fn predict(len: usize, features: bool) -> i32 {
    let State {
        model,
        digest,
        error,
        ..
    } = STATE.get();
    let buffers = BUFFERS.get();
    let Some(model) = model.as_ref() else {
        return fail(error, ("no model loaded", [0; 3]));
    };
    let (Some(pixels), Some(values)) = (buffers.input.get(..len), buffers.features.get(..len))
    else {
        let wrong = Error::InputLength {
            expected: model.input().len(),
            found: u32::try_from(len).unwrap_or(u32::MAX),
        };
        return fail(error, wrong.template());
    };
    let prediction = match (model.kind(), features) {
        #[cfg(feature = "f32")]
        (ParamKind::F32, false) => forward::predict_f32(model, pixels, &mut buffers.f32),
        #[cfg(feature = "f32")]
        (ParamKind::F32, true) => forward::predict_features_f32(model, values, &mut buffers.f32),
        // Int8, or (without the `f32` feature) an f32 model, which the int8 scratch refuses.
        (_, false) => forward::predict_int8(model, pixels, &mut buffers.int8),
        (_, true) => forward::predict_features_int8(model, values, &mut buffers.int8),
    };
    match prediction {
        Ok(prediction) => {
            if let Some(digest) = digest.as_mut() {
                digest.add(&prediction);
            }
            copy_outputs(&prediction, &mut buffers.probabilities, &mut buffers.raw);
            error[1] = 0;
            i32::try_from(prediction.class).unwrap_or(-1)
        }
        Err(wrong) => fail(error, wrong.template()),
    }
}

/// The model's name (`index` -1) or the name of class `index`: two `u32`, the address and
/// length of its UTF-8 bytes inside the blob (validated at load), or 0 and 0 if the model has
/// no such name (names are never empty).
#[no_mangle]
pub extern "C" fn tmlp_name(index: i32) -> *const u32 {
    let state = STATE.get();
    let name = state
        .model
        .as_ref()
        .and_then(|model| match usize::try_from(index) {
            Ok(class) => model.class_name(class),
            Err(_) => model.name(),
        });
    // wasm32 addresses and lengths fit a u32.
    state.name = name.map_or([0; 2], |name| [name.as_ptr() as u32, name.len() as u32]);
    state.name.as_ptr()
}

/// The last prediction's probabilities (`classes` f32 values).
#[no_mangle]
pub extern "C" fn tmlp_probabilities_ptr() -> *const f32 {
    BUFFERS.get().probabilities.as_ptr()
}

/// The last prediction's raw outputs (`classes` 4-byte values: i32 sums of an int8 model, f32
/// logits of an f32 model).
#[no_mangle]
pub extern "C" fn tmlp_raw_ptr() -> *const u32 {
    BUFFERS.get().raw.as_ptr()
}

/// Starts a fresh [`OutputDigest`] that every later successful prediction's raw outputs are
/// added to, until [`tmlp_digest_finish`].
#[no_mangle]
pub extern "C" fn tmlp_digest_start() {
    STATE.get().digest = Some(OutputDigest::new());
}

/// The digest of the raw outputs of the predictions since [`tmlp_digest_start`] (that of no
/// outputs if it was not called); stops digesting.
#[no_mangle]
pub extern "C" fn tmlp_digest_finish() -> u32 {
    STATE.get().digest.take().unwrap_or_default().finish()
}

fn copy_outputs(prediction: &Prediction<'_>, probabilities: &mut [f32], raw: &mut [u32]) {
    probabilities
        .iter_mut()
        .zip(prediction.probabilities)
        .for_each(|(to, &p)| *to = p);
    match prediction.raw {
        RawOutputs::Int32(values) => raw
            .iter_mut()
            .zip(values)
            .for_each(|(to, &v)| *to = v as u32),
        RawOutputs::F32(values) => raw
            .iter_mut()
            .zip(values)
            .for_each(|(to, &v)| *to = v.to_bits()),
    }
}

/// Records an error (a template and its numbers, see [`Error::template`]) in `error`, the
/// five `u32` at [`tmlp_error`]; returns -1, the exports' failure value.
fn fail(error: &mut [u32; 5], (template, values): (&'static str, [u32; 3])) -> i32 {
    let [v0, v1, v2] = values;
    // wasm32 addresses and lengths fit a u32.
    *error = [template.as_ptr() as u32, template.len() as u32, v0, v1, v2];
    -1
}

/// The blob lives in linear memory above everything the module itself uses (`__heap_base`):
/// there is no allocator, and growing memory is the only way to fit any model size.
#[cfg(target_arch = "wasm32")]
mod blob_memory {
    use core::arch::wasm32::{memory_grow, memory_size};

    const PAGE: usize = 65_536;

    extern "C" {
        /// Set by the linker: the first byte after the stack, data and statics.
        static __heap_base: u8;
    }

    fn base() -> usize {
        // Only the address of the linker symbol is taken, never its value (no unsafe needed).
        core::ptr::addr_of!(__heap_base) as usize
    }

    /// Makes `[base, base + len)` addressable; its start, or `None` if memory cannot grow.
    pub fn reserve(len: usize) -> Option<*mut u8> {
        let end = base().checked_add(len)?;
        let have = memory_size(0).checked_mul(PAGE)?;
        if end > have {
            let pages = (end - have).div_ceil(PAGE);
            if memory_grow(0, pages) == usize::MAX {
                return None;
            }
        }
        Some(base() as *mut u8)
    }

    /// The first `len` bytes of the blob buffer, which `reserve` made addressable.
    pub fn written(len: usize) -> Option<&'static [u8]> {
        // SAFETY: the caller checked `len` against the last successful `reserve`, so the
        // range is inside linear memory; nothing in the module writes above `__heap_base`,
        // and the bytes stay until the next `reserve`, which first drops the model that
        // borrows them.
        Some(unsafe { core::slice::from_raw_parts(base() as *const u8, len) })
    }
}

/// On other targets the crate only has to compile (for the workspace lints): no blob memory.
#[cfg(not(target_arch = "wasm32"))]
mod blob_memory {
    pub fn reserve(_len: usize) -> Option<*mut u8> {
        None
    }

    pub fn written(_len: usize) -> Option<&'static [u8]> {
        None
    }
}

#[cfg(all(target_arch = "wasm32", not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // The runtime and this crate never panic (clippy denies the ways in); should one ever
    // happen, trap instead of pulling in formatting machinery.
    core::arch::wasm32::unreachable()
}
