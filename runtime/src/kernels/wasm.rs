//! The int8 kernel for narrow layers in WebAssembly with SIMD128 (a classifier's last layer:
//! 512 inputs, 10 outputs).
//!
//! LLVM vectorizes the portable kernel's loop over the outputs 16 at a time, so a layer with
//! fewer than 16 outputs ran entirely in scalar code: the 512 → 10 layer took a fifth of an
//! MNIST inference in V8. Here a row of up to [`NARROW`] outputs is one 16-byte vector, and
//! two rows at a time are interleaved byte by byte and widened to 16-bit lanes, so that one
//! `i32x4.dot_i16x8_s` computes `x0·w0[k] + x1·w1[k]` for four outputs (the design of the
//! x86 kernels and of CMSIS-NN's `SMLAD` pairs); a pair of zero inputs is skipped. The sums
//! stay in four vectors across all the rows and reach `out` once, with the bias.
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
    let rows = weights.len() / outputs;
    // Whole rows only: what follows them reads as zeros.
    let weights = weights.get(..rows * outputs).unwrap_or_default();
    // The last rows' vectors would run past the weights: they read a copy of the weights' last
    // 32 bytes (all of them if fewer) followed by zeros.
    let end = weights.len().saturating_sub(32);
    let mut padded_end = [0u8; 48];
    let last_bytes = weights.get(end..).unwrap_or_default();
    if let Some(to) = padded_end.get_mut(..last_bytes.len()) {
        to.copy_from_slice(last_bytes);
    }
    let mut sums = [i32x4_splat(0); 4];
    for pair in 0..rows.div_ceil(2) {
        // An odd row left over pairs with the row after the weights, which reads as zeros.
        let (x0, x1) = (input.next().unwrap_or(0), input.next().unwrap_or(0));
        if x0 == 0 && x1 == 0 {
            continue;
        }
        let start = 2 * pair * outputs;
        // Both rows' 16 bytes inside the weights, or else both in the padded copy.
        let (from, start) = if start + outputs + 16 <= weights.len() {
            (weights, start)
        } else {
            (padded_end.as_slice(), start.wrapping_sub(end))
        };
        let row0 = from.get(start..).unwrap_or_default();
        let row1 = from.get(start + outputs..).unwrap_or_default();
        accumulate_two_rows(&mut sums, x0, row0, x1, row1);
    }
    let sums: [[i32; 4]; 4] = sums.map(bytemuck::cast);
    let (bias, _) = bias.as_chunks::<4>();
    for ((out, sum), bias) in out.iter_mut().zip(sums.as_flattened()).zip(bias) {
        *out = i32::from_le_bytes(*bias).wrapping_add(*sum);
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
