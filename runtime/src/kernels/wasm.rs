//! Int8 kernels for WebAssembly with SIMD128: `i32x4.dot_i16x8_s` on pairs of weight rows.
//!
//! Two rows at a time are interleaved byte by byte and widened to 16-bit lanes, so that one
//! `i32x4.dot_i16x8_s` computes `x0·w0[k] + x1·w1[k]` for four outputs (the design of the x86
//! kernels and of CMSIS-NN's `SMLAD` pairs). Products fit easily (`|x| ≤ 255`, `|w| ≤ 128`)
//! and the sums wrap like the reference kernel's, so the results are bit-exact; the
//! `kernel-check` build of the web module checks both kernels in Node, against
//! [`super::reference::dense_int8`].
//!
//! - [`dense_int8_rows`], any layer: four non-zero inputs at a time, as the portable kernel,
//!   sixteen outputs per step and the rest one by one. (LLVM vectorizes the portable kernel
//!   with 16-bit multiplies and widening adds: an MNIST inference took 11.7 µs in Node with it,
//!   8.5 µs with this one.)
//! - The narrow kernel, for layers of at most [`NARROW`] outputs (a classifier's last layer:
//!   512 inputs, 10 outputs), which the kernel above would run one output at a time: a row is
//!   one 16-byte vector, read on into the next rows (lanes past the last output are dropped;
//!   the last rows read a zero-padded copy of the weights' end), and the sums stay in four
//!   vectors across all the rows.

use core::arch::wasm32::{
    i16x8_extend_high_i8x16, i16x8_extend_low_i8x16, i32x4_add, i32x4_dot_i16x8, i32x4_splat,
    i8x16_shuffle, v128,
};

/// The most outputs the narrow kernel handles: one vector of int8 weights per row.
pub const NARROW: usize = 16;

/// `out[k] = bias[k] + Σ_j input[j] · W[j][k]` (see [`super::portable::dense_int8`]): layers
/// of at most [`NARROW`] outputs in the narrow kernel, wider ones in [`dense_int8_rows`].
#[inline]
pub fn dense_int8<I>(input: I, weights: &[u8], bias: &[u8], out: &mut [i32])
where
    I: Iterator<Item = i16>,
{
    let outputs = out.len();
    super::dense_int8_columns(input, weights, outputs, 0..outputs, bias, out);
}

/// [`dense_int8`] over the rows `rows` yields (see [`super::portable::dense_int8_rows`]).
#[inline]
pub fn dense_int8_rows<'w, I, R>(input: I, rows: R, bias: &[u8], out: &mut [i32])
where
    I: Iterator<Item = i16>,
    R: Iterator<Item = &'w [u8]>,
{
    super::start_from_bias(out, bias);
    let rows = input.zip(rows).filter(|&(x, _)| x != 0);
    super::portable::for_each_group(rows, |group| {
        // A group of fewer than four: zero inputs on the first row make up the rest.
        let Some(&(_, first)) = group.first() else {
            return;
        };
        let (mut x, mut rows) = ([0; 4], [first; 4]);
        for ((x, row), &(x_in, row_in)) in x.iter_mut().zip(&mut rows).zip(group) {
            (*x, *row) = (x_in, row_in);
        }
        accumulate_four_rows(out, x, rows);
    });
}

/// `out[k] += Σ_i x[i] · rows[i][k]` for every `k`: sixteen outputs per step, the rest one
/// by one. `#[inline]` (there is one call): compiled with the forward pass, at its `opt-level`
/// (the web module's is 3, its runtime's `"s"`: 8.5 µs per MNIST digit against 8.9 µs).
#[inline]
fn accumulate_four_rows(out: &mut [i32], x: [i16; 4], rows: [&[u8]; 4]) {
    let [x0, x1, x2, x3] = x;
    let (x01, x23) = (pair(x0, x1), pair(x2, x3));
    let [r0, r1, r2, r3] = rows.map(|row| row.as_chunks::<16>());
    let (out16, out_rest) = out.as_chunks_mut::<16>();
    for ((((sums, w0), w1), w2), w3) in out16.iter_mut().zip(r0.0).zip(r1.0).zip(r2.0).zip(r3.0) {
        let [p0, p1, p2, p3] = products(bytemuck::cast(*w0), bytemuck::cast(*w1), x01);
        let [q0, q1, q2, q3] = products(bytemuck::cast(*w2), bytemuck::cast(*w3), x23);
        let [s0, s1, s2, s3]: [v128; 4] = bytemuck::cast(*sums);
        *sums = bytemuck::cast([
            i32x4_add(s0, i32x4_add(p0, q0)),
            i32x4_add(s1, i32x4_add(p1, q1)),
            i32x4_add(s2, i32x4_add(p2, q2)),
            i32x4_add(s3, i32x4_add(p3, q3)),
        ]);
    }
    let rest = out_rest.iter_mut().zip(r0.1).zip(r1.1).zip(r2.1).zip(r3.1);
    for ((((sum, &w0), &w1), &w2), &w3) in rest {
        *sum = sum
            .wrapping_add(i32::from(x0) * i32::from(w0 as i8))
            .wrapping_add(i32::from(x1) * i32::from(w1 as i8))
            .wrapping_add(i32::from(x2) * i32::from(w2 as i8))
            .wrapping_add(i32::from(x3) * i32::from(w3 as i8));
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
    // One array updated in place: as four variables, V8 ran this loop 4 % slower (measured).
    let mut sums = [i32x4_splat(0); 4];
    for pair_index in 0..rows.div_ceil(2) {
        // An odd row left over pairs with the row after the weights, which reads as zeros.
        let (x0, x1) = (input.next().unwrap_or(0), input.next().unwrap_or(0));
        if x0 == 0 && x1 == 0 {
            continue;
        }
        let start = 2 * pair_index * outputs;
        // Both rows' 16 bytes inside the weights, or else both in the padded copy.
        let (from, start) = if start + outputs + 16 <= weights.len() {
            (weights, start)
        } else {
            (padded_end.as_slice(), start.wrapping_sub(end))
        };
        let row0 = vector(from.get(start..).unwrap_or_default());
        let row1 = vector(from.get(start + outputs..).unwrap_or_default());
        let [p0, p1, p2, p3] = products(row0, row1, pair(x0, x1));
        let [s0, s1, s2, s3] = &mut sums;
        *s0 = i32x4_add(*s0, p0);
        *s1 = i32x4_add(*s1, p1);
        *s2 = i32x4_add(*s2, p2);
        *s3 = i32x4_add(*s3, p3);
    }
    let sums: [[i32; 4]; 4] = sums.map(bytemuck::cast);
    let (bias, _) = bias.as_chunks::<4>();
    for ((out, sum), bias) in out.iter_mut().zip(sums.as_flattened()).zip(bias) {
        *out = i32::from_le_bytes(*bias).wrapping_add(*sum);
    }
}

/// `x0 · w0[k] + x1 · w1[k]` for the sixteen lanes `k` of two rows of int8 weights, as four
/// vectors of four sums; `x` is [`pair`]`(x0, x1)`.
#[inline(always)]
fn products(w0: v128, w1: v128, x: v128) -> [v128; 4] {
    // (w0[k], w1[k]) byte pairs: outputs 0-7, then 8-15.
    let low = i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(w0, w1);
    let high =
        i8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(w0, w1);
    [
        i32x4_dot_i16x8(i16x8_extend_low_i8x16(low), x),
        i32x4_dot_i16x8(i16x8_extend_high_i8x16(low), x),
        i32x4_dot_i16x8(i16x8_extend_low_i8x16(high), x),
        i32x4_dot_i16x8(i16x8_extend_high_i8x16(high), x),
    ]
}

/// `x0` in the bottom 16 bits of every 32-bit lane, `x1` in the top: the order of the byte
/// pairs in [`products`].
#[inline(always)]
fn pair(x0: i16, x1: i16) -> v128 {
    i32x4_splat(i32::from(x0 as u16) | (i32::from(x1) << 16))
}

/// The first 16 bytes of `row` as a vector (zeros if it is shorter, which does not happen).
#[inline(always)]
fn vector(row: &[u8]) -> v128 {
    row.first_chunk::<16>()
        .map_or(i32x4_splat(0), |bytes| bytemuck::cast(*bytes))
}
