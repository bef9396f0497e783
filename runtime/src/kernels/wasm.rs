//! The int8 kernel for narrow layers in WebAssembly with SIMD128 (a classifier's last layer:
//! 512 inputs, 10 outputs).
//!
//! LLVM vectorizes the portable kernel's loop over the outputs 16 at a time, so a layer with
//! fewer than 16 outputs ran entirely in scalar code: the 512 → 10 layer took a fifth of an
//! MNIST inference in V8. Here a row of up to [`NARROW`] outputs is one 16-byte vector, and
//! two rows at a time are interleaved byte by byte and widened to 16-bit lanes, so that one
//! `i32x4.dot_i16x8_s` computes `x0·w0[k] + x1·w1[k]` for four outputs (the design of the
//! x86 kernels and of CMSIS-NN's `SMLAD` pairs). The sums stay in four vectors across a batch
//! of non-zero inputs and reach `out` once per batch.
//!
//! A row's vector reads on into the next rows (lanes past the last output, whose sums are
//! dropped); the last rows, whose 16 bytes would run past the weights, read a zero-padded copy
//! of the weights' end instead. Products fit easily (`|x| ≤ 255`, `|w| ≤ 128`) and the sums
//! wrap like the reference kernel's, so the results are bit-exact; the `kernel-check` build
//! of the web module checks that in Node, against [`super::reference::dense_int8`].

use core::arch::wasm32::{
    i16x8_extend_high_i8x16, i16x8_extend_low_i8x16, i32x4_add, i32x4_dot_i16x8, i32x4_splat,
    i8x16_shuffle, v128,
};

/// The most outputs the narrow kernel handles: one vector of int8 weights per row. Wider
/// layers go to the portable kernel.
pub const NARROW: usize = 16;

/// [`super::portable::dense_int8`], same contract and results: layers of at most [`NARROW`]
/// outputs here, wider ones in the portable kernel.
#[inline]
pub fn dense_int8<I>(input: I, weights: &[u8], bias: &[u8], out: &mut [i32])
where
    I: Iterator<Item = i16>,
{
    if (1..=NARROW).contains(&out.len()) {
        dense_int8_narrow(input, weights, bias, out);
    } else {
        super::portable::dense_int8(input, weights, bias, out);
    }
}

/// [`dense_int8`] for `1..=NARROW` outputs (it computes only the first [`NARROW`]).
#[inline]
pub(super) fn dense_int8_narrow<I>(mut input: I, weights: &[u8], bias: &[u8], out: &mut [i32])
where
    I: Iterator<Item = i16>,
{
    let outputs = out.len().max(1);
    super::start_from_bias(out, bias);
    let rows = weights.len() / outputs;
    // Pairs of rows whose 16 bytes lie inside the weights, then the rest (under 32 bytes) from
    // a zero-padded copy.
    let inside = match weights.len().checked_sub(16) {
        Some(last_start) => last_start / outputs + 1,
        None => 0,
    };
    let direct = inside / 2 * 2;
    let mut sums = [i32x4_splat(0); 4];
    accumulate_rows(&mut sums, &mut input, weights, outputs, direct);
    let mut padded = [0u8; 48];
    let rest = weights.get(direct * outputs..).unwrap_or_default();
    if let Some(to) = padded.get_mut(..rest.len()) {
        to.copy_from_slice(rest);
    }
    accumulate_rows(
        &mut sums,
        &mut input,
        &padded,
        outputs,
        rows.saturating_sub(direct),
    );
    let sums: [[i32; 4]; 4] = sums.map(bytemuck::cast);
    for (out, sum) in out.iter_mut().zip(sums.as_flattened()) {
        *out = out.wrapping_add(*sum);
    }
}

/// Adds `Σ x · row[k]` over the next `rows` inputs and rows (`outputs` bytes apart in
/// `weights`, each read as 16 bytes) to the sixteen lanes of `sums`, two rows at a time.
#[inline(never)]
fn accumulate_rows<I>(
    sums: &mut [v128; 4],
    input: &mut I,
    weights: &[u8],
    outputs: usize,
    rows: usize,
) where
    I: Iterator<Item = i16>,
{
    for pair in 0..rows.div_ceil(2) {
        let x0 = input.next().unwrap_or(0);
        // An odd row left over pairs with a zero input.
        let x1 = if 2 * pair + 1 < rows {
            input.next().unwrap_or(0)
        } else {
            0
        };
        if x0 == 0 && x1 == 0 {
            continue;
        }
        let start = 2 * pair * outputs;
        let row0 = weights.get(start..).unwrap_or_default();
        let row1 = weights.get(start + outputs..).unwrap_or_default();
        accumulate_two_rows(sums, x0, row0, x1, row1);
    }
}

/// `sums[k] += x0 · row0[k] + x1 · row1[k]` for the sixteen lanes `k`.
#[inline(always)]
fn accumulate_two_rows(sums: &mut [v128; 4], x0: i16, row0: &[u8], x1: i16, row1: &[u8]) {
    let (w0, w1) = (vector(row0), vector(row1));
    // (w0[k], w1[k]) byte pairs: outputs 0-7, then 8-15.
    let low = i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(w0, w1);
    let high =
        i8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(w0, w1);
    // x0 in the bottom 16 bits of every 32-bit lane, x1 in the top: the pair order above.
    let x = i32x4_splat(i32::from(x0 as u16) | (i32::from(x1) << 16));
    // Spelled out: as a loop over an array, LLVM kept the sums in memory.
    let [sum0, sum1, sum2, sum3] = sums;
    *sum0 = i32x4_add(*sum0, i32x4_dot_i16x8(i16x8_extend_low_i8x16(low), x));
    *sum1 = i32x4_add(*sum1, i32x4_dot_i16x8(i16x8_extend_high_i8x16(low), x));
    *sum2 = i32x4_add(*sum2, i32x4_dot_i16x8(i16x8_extend_low_i8x16(high), x));
    *sum3 = i32x4_add(*sum3, i32x4_dot_i16x8(i16x8_extend_high_i8x16(high), x));
}

/// The first 16 bytes of `row` as a vector (zeros if it is shorter, which does not happen).
#[inline(always)]
fn vector(row: &[u8]) -> v128 {
    row.first_chunk::<16>()
        .map_or(i32x4_splat(0), |bytes| bytemuck::cast(*bytes))
}
