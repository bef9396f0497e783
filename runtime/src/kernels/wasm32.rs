//! Int8 dense kernel for wasm32 with SIMD128, as the x86 SSE2 kernel: `i32x4.dot_i16x8_s` is
//! `pmaddwd` (and what `SMLAD` is on Cortex-M).
//!
//! The non-zero inputs are gathered in batches (`kernels::dense_int8_batched`); the outputs
//! are then walked in blocks of sixteen (then four, then one), a block's sums kept in
//! registers across the batch. For each pair of weight rows, sixteen bytes of each are
//! interleaved by one shuffle, widened to 16-bit lanes, and one dot product adds
//! `x0·w0[k] + x1·w1[k]` to four outputs.
//!
//! `i32x4.dot_i16x8_s` cannot overflow here (`|x| ≤ 255`, `|w| ≤ 128`), and the int32 sums
//! wrap like the reference kernel's `wrapping_add`; integer addition modulo 2^32 does not
//! depend on the order of the terms, so the results are bit-exact against
//! [`super::reference::dense_int8`] (the property tests run on wasm too, and the web tests
//! compare all 10,000 MNIST test digits with the native runtime).
//!
//! No `unsafe`: the module is only compiled with `simd128` enabled for the whole build, and
//! vectors are built from and taken apart into plain integers.

use core::arch::wasm32::{
    i16x8_extend_high_i8x16, i16x8_extend_low_i8x16, i32x4, i32x4_add, i32x4_dot_i16x8,
    i32x4_extract_lane, i32x4_splat, i64x2, i8x16_shuffle, u32x4, v128,
};

use super::BATCH;

/// `out[k] = bias[k] + Σ_j input[j] · W[j][k]` with int8 weights, input-major, and int32
/// little-endian bias. `input` yields the raw activations (pixels `0..=255` or int8
/// `-128..=127`; any value in `-255..=255` is handled).
///
/// Same contract and results as [`super::portable::dense_int8`].
#[inline]
pub fn dense_int8<I>(input: I, weights: &[u8], bias: &[u8], out: &mut [i32])
where
    I: Iterator<Item = i16>,
{
    let outputs = out.len();
    let rows = super::column_window(weights, outputs, 0..outputs);
    dense_int8_rows(input, rows, bias, out);
}

/// [`dense_int8`] over the rows `rows` yields (see [`super::portable::dense_int8_rows`]).
#[inline]
pub fn dense_int8_rows<'w, I, R>(input: I, rows: R, bias: &[u8], out: &mut [i32])
where
    I: Iterator<Item = i16>,
    R: Iterator<Item = &'w [u8]>,
{
    super::dense_int8_batched(input, rows, bias, out, accumulate);
}

/// Adds `Σ x · row[k]` over `rows` to every `out[k]`.
fn accumulate(rows: &[(i16, &[u8])], out: &mut [i32]) {
    if rows.is_empty() {
        return;
    }
    let (pairs, single) = rows.as_chunks::<2>();
    // The multiplier lanes of each pair, built once per batch rather than once per block.
    let mut multipliers = [i32x4_splat(0); BATCH / 2];
    for (lanes, [(x0, _), (x1, _)]) in multipliers.iter_mut().zip(pairs) {
        *lanes = pair_of_lanes(*x0, *x1);
    }
    let multipliers = multipliers.get(..pairs.len()).unwrap_or_default();
    let single = single.first().map(|&(x, row)| (pair_of_lanes(x, 0), row));

    let (blocks, rest) = out.as_chunks_mut::<16>();
    for (index, block) in blocks.iter_mut().enumerate() {
        let offset = index * 16;
        let mut sums = load(block);
        for (xs, [(_, row0), (_, row1)]) in multipliers.iter().zip(pairs) {
            add_products(&mut sums, *xs, sixteen(row0, offset), sixteen(row1, offset));
        }
        if let Some((xs, row)) = single {
            add_products(&mut sums, xs, sixteen(row, offset), i32x4_splat(0));
        }
        store(block, sums);
    }

    // What is left (under sixteen outputs, e.g. a 10-class last layer): four at a time.
    let offset = blocks.len() * 16;
    let (blocks, tail) = rest.as_chunks_mut::<4>();
    for (index, block) in blocks.iter_mut().enumerate() {
        let offset = offset + index * 4;
        let [o0, o1, o2, o3] = *block;
        let mut sum = i32x4(o0, o1, o2, o3);
        for (xs, [(_, row0), (_, row1)]) in multipliers.iter().zip(pairs) {
            sum = i32x4_add(
                sum,
                four_products(*xs, four(row0, offset), four(row1, offset)),
            );
        }
        if let Some((xs, row)) = single {
            sum = i32x4_add(sum, four_products(xs, four(row, offset), 0));
        }
        *block = lanes(sum);
    }
    let offset = offset + blocks.len() * 4;
    for &(x, row) in rows {
        for (out, &w) in tail.iter_mut().zip(row.get(offset..).unwrap_or_default()) {
            *out = out.wrapping_add(i32::from(x) * i32::from(w as i8));
        }
    }
}

/// `sums[k] += x0·a[k] + x1·b[k]` for sixteen outputs, `xs` holding `[x0, x1]` pairs.
#[inline(always)]
fn add_products(sums: &mut [v128; 4], xs: v128, a: v128, b: v128) {
    let low = i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(a, b);
    let high = i8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(a, b);
    let [s0, s1, s2, s3] = sums;
    *s0 = i32x4_add(*s0, i32x4_dot_i16x8(i16x8_extend_low_i8x16(low), xs));
    *s1 = i32x4_add(*s1, i32x4_dot_i16x8(i16x8_extend_high_i8x16(low), xs));
    *s2 = i32x4_add(*s2, i32x4_dot_i16x8(i16x8_extend_low_i8x16(high), xs));
    *s3 = i32x4_add(*s3, i32x4_dot_i16x8(i16x8_extend_high_i8x16(high), xs));
}

/// `x0·a[k] + x1·b[k]` for four outputs, from four weights of each row as a word.
#[inline(always)]
fn four_products(xs: v128, a: u32, b: u32) -> v128 {
    let words = u32x4(a, b, 0, 0);
    let pairs = i8x16_shuffle::<0, 4, 1, 5, 2, 6, 3, 7, 8, 8, 8, 8, 8, 8, 8, 8>(words, words);
    i32x4_dot_i16x8(i16x8_extend_low_i8x16(pairs), xs)
}

/// Sixteen sums in four vectors.
#[inline(always)]
fn load(block: &[i32; 16]) -> [v128; 4] {
    let [o0, o1, o2, o3, o4, o5, o6, o7, o8, o9, o10, o11, o12, o13, o14, o15] = *block;
    [
        i32x4(o0, o1, o2, o3),
        i32x4(o4, o5, o6, o7),
        i32x4(o8, o9, o10, o11),
        i32x4(o12, o13, o14, o15),
    ]
}

/// Writes four vectors of sums back.
#[inline(always)]
fn store(block: &mut [i32; 16], sums: [v128; 4]) {
    let (quarters, _) = block.as_chunks_mut::<4>();
    for (quarter, sum) in quarters.iter_mut().zip(sums) {
        *quarter = lanes(sum);
    }
}

/// The four 32-bit lanes of `v`.
#[inline(always)]
fn lanes(v: v128) -> [i32; 4] {
    [
        i32x4_extract_lane::<0>(v),
        i32x4_extract_lane::<1>(v),
        i32x4_extract_lane::<2>(v),
        i32x4_extract_lane::<3>(v),
    ]
}

/// Sixteen weights of `row` from `offset` (zeros past the row's end, which the callers never
/// reach).
#[inline(always)]
fn sixteen(row: &[u8], offset: usize) -> v128 {
    let bytes = row
        .get(offset..)
        .and_then(<[u8]>::first_chunk::<16>)
        .copied()
        .unwrap_or_default();
    let value = u128::from_le_bytes(bytes);
    i64x2(value as u64 as i64, (value >> 64) as u64 as i64)
}

/// Four weights of `row` from `offset`, as a little-endian word.
#[inline(always)]
fn four(row: &[u8], offset: usize) -> u32 {
    row.get(offset..)
        .and_then(<[u8]>::first_chunk::<4>)
        .map_or(0, |bytes| u32::from_le_bytes(*bytes))
}

/// `[x0, x1]` repeated over the eight 16-bit lanes.
#[inline(always)]
fn pair_of_lanes(x0: i16, x1: i16) -> v128 {
    let pair = u32::from(x0 as u16) | (u32::from(x1 as u16) << 16);
    i32x4_splat(pair as i32)
}
