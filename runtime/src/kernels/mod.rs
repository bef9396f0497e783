//! The dense-layer kernels: a plain reference for each operation and the fast portable
//! kernels that inference uses.
//!
//! Both compute `out[k] = bias[k] + Σ_j x[j] · W[j][k]` over input-major weights. The
//! reference walks one output at a time, exactly as the formula reads; the portable kernel
//! walks four input rows at a time (contiguous, so it vectorizes) and skips inputs that are
//! zero, which most MNIST pixels and many ReLU outputs are. Target-specific int8 kernels
//! (`cortex_m`: the DSP extension's `SXTB16` + `SMLAxy`; `x86`: SSE2 or AVX2 `pmaddwd` or AVX-512 VNNI `vpdpbusd`, a
//! batch-major VNNI kernel for many inputs, and an AVX2 requantization; `wasm`:
//! `i32x4.dot_i16x8_s`, and a kernel for layers of at most 16 outputs) replace the portable
//! ones where they apply, under the same tests. Integer kernels agree bit for bit; f32
//! kernels add the same terms in the same order, and tests hold them to [`F32_TOLERANCE`].
//!
//! Every kernel is total: mismatched slice lengths make it compute over the common prefix,
//! never panic. The model loader guarantees the lengths match.

pub mod check;
#[cfg(all(
    target_arch = "arm",
    target_endian = "little",
    any(target_feature = "dsp", all(target_os = "none", target_abi = "eabihf"))
))]
pub mod cortex_m;
pub mod portable;
pub mod reference;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod wasm;
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
pub mod x86;

/// Largest absolute difference allowed between the portable and the reference f32 kernels,
/// relative to the magnitude of the sum of absolute terms (they differ only in the sign of
/// zero today; the bound leaves room for reordered SIMD kernels).
pub const F32_TOLERANCE: f32 = 1e-5;

// The DSP kernel on Arm cores with the DSP extension. Stable Rust never sets
// `target_feature = "dsp"` (Arm target features are unstable), so bare-metal hard-float Arm
// (thumbv7em-none-eabihf: Cortex-M4F/M7F, where DSP is mandatory) also selects it;
// thumbv8m.main-none-eabihf (Cortex-M33, the Pico 2) needs `-C target-cpu=cortex-m33` (the
// firmware's `.cargo/config.toml` sets it) and without it fails to assemble, loudly, rather
// than running slowly.
#[cfg(all(
    target_arch = "arm",
    target_endian = "little",
    any(target_feature = "dsp", all(target_os = "none", target_abi = "eabihf"))
))]
pub use cortex_m::{dense_int8, dense_int8_rows};
pub use portable::dense_f32;
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
pub use portable::requantize;
#[cfg(not(any(
    all(
        target_arch = "arm",
        target_endian = "little",
        any(target_feature = "dsp", all(target_os = "none", target_abi = "eabihf"))
    ),
    all(target_arch = "x86_64", target_feature = "sse2"),
    all(target_arch = "wasm32", target_feature = "simd128")
)))]
pub use portable::{dense_int8, dense_int8_rows};
// wasm SIMD: `i32x4.dot_i16x8_s` on pairs of rows.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub use wasm::{dense_int8, dense_int8_rows};
// x86-64: SSE2 `pmaddwd` (the baseline), AVX2 or AVX-512 VNNI, by run-time detection.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
pub use x86::{dense_i8_inputs, dense_int8, dense_int8_rows, dense_u8_inputs, requantize};

/// The sums of a layer whose inputs are pixels (`0..=255`), for several inputs at once:
/// `sums[i][k] = bias[k] + Σ_j inputs[i][j] · W[j][k]`, input-major `weights` with
/// `sums[i].len()` columns. Here input by input with [`dense_int8_columns`]; on x86-64 with
/// AVX-512 VNNI, batch-major.
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline]
pub fn dense_u8_inputs(inputs: &[&[u8]], weights: &[u8], bias: &[u8], sums: &mut [&mut [i32]]) {
    for (input, sums) in inputs.iter().zip(sums.iter_mut()) {
        let outputs = sums.len();
        let input = input.iter().map(|&x| i16::from(x));
        dense_int8_columns(input, weights, outputs, 0..outputs, bias, sums);
    }
}

/// [`dense_u8_inputs`] for int8 inputs (`-128..=127`: a hidden layer's activations).
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline]
pub fn dense_i8_inputs(inputs: &[&[i8]], weights: &[u8], bias: &[u8], sums: &mut [&mut [i32]]) {
    for (input, sums) in inputs.iter().zip(sums.iter_mut()) {
        let outputs = sums.len();
        let input = input.iter().map(|&x| i16::from(x));
        dense_int8_columns(input, weights, outputs, 0..outputs, bias, sums);
    }
}

/// The sums of the outputs `columns` of an int8 layer with `outputs` outputs and input-major
/// `weights` (`bias` and `out` are those columns'): [`dense_int8_rows`] over the
/// [`column_window`], or in wasm SIMD, for a whole layer of at most 16 outputs, the narrow-layer
/// kernel (it reads whole rows).
#[inline]
pub fn dense_int8_columns<I>(
    input: I,
    weights: &[u8],
    outputs: usize,
    columns: core::ops::Range<usize>,
    bias: &[u8],
    out: &mut [i32],
) where
    I: Iterator<Item = i16>,
{
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if columns == (0..outputs) && (1..=wasm::NARROW).contains(&outputs) {
        wasm::dense_int8_narrow(input, weights, bias, out);
        return;
    }
    dense_int8_rows(input, column_window(weights, outputs, columns), bias, out);
}

/// Columns `columns` of each row of an input-major int8 matrix with `outputs` columns: the
/// rows a kernel reads to compute one block of outputs (empty rows if out of range, which
/// validation rules out).
#[inline]
pub fn column_window(
    weights: &[u8],
    outputs: usize,
    columns: core::ops::Range<usize>,
) -> impl Iterator<Item = &[u8]> {
    // Split row by row rather than `chunks_exact`, whose length computation divides by the
    // row length and so links a division-by-zero panic into the inference code. With no
    // columns it yields empty rows, as many as the kernel's input has.
    let (start, end) = (columns.start, columns.end);
    let mut rest = weights;
    core::iter::from_fn(move || {
        let (row, tail) = rest.split_at_checked(outputs)?;
        rest = tail;
        Some(row.get(start..end).unwrap_or_default())
    })
}

/// Whether every requantization shift is a right shift (or none): hidden layers almost always
/// scale down, and then the requantization kernels take their shorter path.
#[inline]
fn right_shifts_only(shifts: &[u8]) -> bool {
    shifts.iter().all(|&shift| shift as i8 <= 0)
}

/// Sets each int32 sum to its output's bias (little-endian i32): where every int8 kernel
/// starts before adding the products.
#[inline]
fn start_from_bias(out: &mut [i32], bias: &[u8]) {
    let (bias, _) = bias.as_chunks::<4>();
    for (out, bias) in out.iter_mut().zip(bias) {
        *out = i32::from_le_bytes(*bias);
    }
}
