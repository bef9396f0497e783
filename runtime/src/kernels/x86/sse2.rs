//! The SSE2 int8 accumulation (SSE2 is part of the x86-64 baseline: it always runs), as
//! CMSIS-NN pairs rows for `SMLAD` on Cortex-M.
//!
//! The outputs are walked in blocks of sixteen (then eight, then one), keeping a block's sums
//! in registers across the whole batch of non-zero inputs. Two weight rows at a time are
//! interleaved byte by byte and widened to 16-bit lanes, so that one `pmaddwd` computes
//! `x0·w0[k] + x1·w1[k]` for four outputs at once: 32 multiply-accumulates in about 25
//! instructions, and each output is loaded and stored once per batch instead of once per
//! input.
//!
//! The intrinsics take no pointers: values move between registers and memory through
//! integers (`movq`, `movd`), so the only `unsafe` is the one call into the
//! `#[target_feature(enable = "sse2")]` function, which Rust requires even though SSE2 is
//! enabled for every x86-64 build.
#![allow(unsafe_code)]

use core::arch::x86_64::{
    __m128i, _mm_add_epi32, _mm_cvtsi128_si32, _mm_cvtsi64_si128, _mm_madd_epi16, _mm_set1_epi32,
    _mm_set_epi32, _mm_setzero_si128, _mm_shuffle_epi32, _mm_srai_epi16, _mm_unpackhi_epi8,
    _mm_unpacklo_epi8,
};

use super::BATCH;

/// Adds `Σ x · row[k]` over `rows` to every `out[k]`.
#[inline(always)]
pub(super) fn accumulate(rows: &[(i16, &[u8])], out: &mut [i32]) {
    // SAFETY: `accumulate_with_sse2` needs SSE2, and this module is only compiled when the target has
    // SSE2 (`cfg(target_feature = "sse2")` on `mod x86`, true of every x86-64 target).
    unsafe { accumulate_with_sse2(rows, out) }
}

/// Adds `Σ x · row[k]` over `rows` to every `out[k]`: blocks of sixteen outputs, then one
/// of eight, then one at a time.
#[target_feature(enable = "sse2")]
fn accumulate_with_sse2(rows: &[(i16, &[u8])], out: &mut [i32]) {
    if rows.is_empty() {
        return;
    }
    let (pairs, single) = rows.as_chunks::<2>();
    // The multiplier lanes of each pair, built once per batch rather than once per block.
    let mut multipliers = [_mm_setzero_si128(); BATCH / 2];
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
            let zero = _mm_setzero_si128();
            add_products(&mut sums, xs, sixteen(row, offset), [zero, zero]);
        }
        store(block, sums);
    }

    let offset = blocks.len() * 16;
    let (blocks, tail) = rest.as_chunks_mut::<8>();
    for block in blocks.iter_mut() {
        let [o0, o1, o2, o3, o4, o5, o6, o7] = *block;
        let mut low = _mm_set_epi32(o3, o2, o1, o0);
        let mut high = _mm_set_epi32(o7, o6, o5, o4);
        for (xs, [(_, row0), (_, row1)]) in multipliers.iter().zip(pairs) {
            let (l, h) = widen_interleaved(eight(row0, offset), eight(row1, offset));
            low = _mm_add_epi32(low, _mm_madd_epi16(l, *xs));
            high = _mm_add_epi32(high, _mm_madd_epi16(h, *xs));
        }
        if let Some((xs, row)) = single {
            let (l, h) = widen_interleaved(eight(row, offset), _mm_setzero_si128());
            low = _mm_add_epi32(low, _mm_madd_epi16(l, xs));
            high = _mm_add_epi32(high, _mm_madd_epi16(h, xs));
        }
        let [o0, o1, o2, o3] = lanes(low);
        let [o4, o5, o6, o7] = lanes(high);
        *block = [o0, o1, o2, o3, o4, o5, o6, o7];
    }

    let offset = offset + blocks.len() * 8;
    for &(x, row) in rows {
        for (out, &w) in tail.iter_mut().zip(row.get(offset..).unwrap_or_default()) {
            *out = out.wrapping_add(i32::from(x) * i32::from(w as i8));
        }
    }
}

/// Sixteen sums in four registers.
#[inline]
#[target_feature(enable = "sse2")]
fn load(block: &[i32; 16]) -> [__m128i; 4] {
    let [o0, o1, o2, o3, o4, o5, o6, o7, o8, o9, o10, o11, o12, o13, o14, o15] = *block;
    [
        _mm_set_epi32(o3, o2, o1, o0),
        _mm_set_epi32(o7, o6, o5, o4),
        _mm_set_epi32(o11, o10, o9, o8),
        _mm_set_epi32(o15, o14, o13, o12),
    ]
}

/// Writes four registers of sums back.
#[inline]
#[target_feature(enable = "sse2")]
fn store(block: &mut [i32; 16], sums: [__m128i; 4]) {
    let [s0, s1, s2, s3] = sums;
    let ([o0, o1, o2, o3], [o4, o5, o6, o7]) = (lanes(s0), lanes(s1));
    let ([o8, o9, o10, o11], [o12, o13, o14, o15]) = (lanes(s2), lanes(s3));
    *block = [
        o0, o1, o2, o3, o4, o5, o6, o7, o8, o9, o10, o11, o12, o13, o14, o15,
    ];
}

/// `sums[k] += x0·a[k] + x1·b[k]` for sixteen outputs, `xs` holding `[x0, x1]` pairs.
#[inline]
#[target_feature(enable = "sse2")]
fn add_products(sums: &mut [__m128i; 4], xs: __m128i, a: [__m128i; 2], b: [__m128i; 2]) {
    let [s0, s1, s2, s3] = sums;
    let [a0, a1] = a;
    let [b0, b1] = b;
    let (l, h) = widen_interleaved(a0, b0);
    *s0 = _mm_add_epi32(*s0, _mm_madd_epi16(l, xs));
    *s1 = _mm_add_epi32(*s1, _mm_madd_epi16(h, xs));
    let (l, h) = widen_interleaved(a1, b1);
    *s2 = _mm_add_epi32(*s2, _mm_madd_epi16(l, xs));
    *s3 = _mm_add_epi32(*s3, _mm_madd_epi16(h, xs));
}

/// Sixteen weights of `row` from `offset`, as the low halves of two registers (zeros past
/// the row's end, which the callers never reach).
#[inline]
#[target_feature(enable = "sse2")]
fn sixteen(row: &[u8], offset: usize) -> [__m128i; 2] {
    let bytes = row
        .get(offset..)
        .and_then(<[u8]>::first_chunk::<16>)
        .copied()
        .unwrap_or_default();
    let value = u128::from_le_bytes(bytes);
    [
        _mm_cvtsi64_si128(value as u64 as i64),
        _mm_cvtsi64_si128((value >> 64) as u64 as i64),
    ]
}

/// Eight weights of `row` from `offset`, as the low half of a register.
#[inline]
#[target_feature(enable = "sse2")]
fn eight(row: &[u8], offset: usize) -> __m128i {
    let bytes = row
        .get(offset..)
        .and_then(<[u8]>::first_chunk::<8>)
        .copied()
        .unwrap_or_default();
    _mm_cvtsi64_si128(i64::from_le_bytes(bytes))
}

/// `[x0, x1]` repeated over the eight 16-bit lanes.
#[inline]
#[target_feature(enable = "sse2")]
fn pair_of_lanes(x0: i16, x1: i16) -> __m128i {
    let pair = u32::from(x0 as u16) | (u32::from(x1 as u16) << 16);
    _mm_set1_epi32(pair as i32)
}

/// Interleaves the eight low bytes of `a` and `b` and sign-extends them to 16 bits:
/// `[a0, b0, a1, b1, a2, b2, a3, b3]` and `[a4, b4, ..., a7, b7]`.
#[inline]
#[target_feature(enable = "sse2")]
fn widen_interleaved(a: __m128i, b: __m128i) -> (__m128i, __m128i) {
    let bytes = _mm_unpacklo_epi8(a, b);
    // Each byte doubled into a 16-bit lane, then shifted down with its sign.
    let low = _mm_srai_epi16::<8>(_mm_unpacklo_epi8(bytes, bytes));
    let high = _mm_srai_epi16::<8>(_mm_unpackhi_epi8(bytes, bytes));
    (low, high)
}

/// The four 32-bit lanes of `v`.
#[inline]
#[target_feature(enable = "sse2")]
fn lanes(v: __m128i) -> [i32; 4] {
    [
        _mm_cvtsi128_si32(v),
        _mm_cvtsi128_si32(_mm_shuffle_epi32::<0b01_01_01_01>(v)),
        _mm_cvtsi128_si32(_mm_shuffle_epi32::<0b10_10_10_10>(v)),
        _mm_cvtsi128_si32(_mm_shuffle_epi32::<0b11_11_11_11>(v)),
    ]
}
