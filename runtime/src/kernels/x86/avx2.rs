//! The AVX2 int8 accumulation and requantization, run only where CPUID reports AVX2.
//!
//! Accumulation: blocks of 32 outputs in four 256-bit registers. For each pair of weight
//! rows, 16 bytes of each are interleaved (`punpck{l,h}bw`) and sign-extended to sixteen
//! 16-bit lanes (`vpmovsxbw`), so one `vpmaddwd` adds `x0·w0[k] + x1·w1[k]` to eight outputs:
//! twice the width of the SSE2 kernel, and no shift pair to sign-extend.
//!
//! Requantization: eight outputs at a time, TFLite's two roundings in 32-bit lanes. The
//! rounding doubling high multiply takes the 64-bit products of the even and of the odd
//! lanes (`vpmuldq`) and keeps bits 31..62 of `product + 2^30`, which is the whole result
//! (it fits an i32 for a positive multiplier). The rounding right shift is TFLite's
//! `RoundingDivideByPOT` as written (remainder against a threshold), with per-lane shifts
//! (`vpsravd`). Blocks with a left shift take the portable path.
//!
//! Every `unsafe` here is either the call into a `#[target_feature(enable = "avx2")]`
//! function, made only after CPUID reported AVX2, or an unaligned load or store through a
//! pointer to a fixed-size array borrowed for exactly those bytes.
#![allow(unsafe_code)]

use core::arch::x86_64::{
    __m128i, __m256i, _mm256_add_epi32, _mm256_add_epi64, _mm256_and_si256, _mm256_blend_epi32,
    _mm256_castsi256_si128, _mm256_cmpgt_epi32, _mm256_cvtepi8_epi16, _mm256_cvtepi8_epi32,
    _mm256_extracti128_si256, _mm256_loadu_si256, _mm256_madd_epi16, _mm256_max_epi32,
    _mm256_min_epi32, _mm256_mul_epi32, _mm256_packs_epi16, _mm256_packs_epi32, _mm256_set1_epi32,
    _mm256_set1_epi64x, _mm256_setzero_si256, _mm256_slli_epi64, _mm256_sllv_epi32,
    _mm256_srav_epi32, _mm256_srli_epi32, _mm256_srli_epi64, _mm256_storeu_si256, _mm256_sub_epi32,
    _mm_cvtsi128_si32, _mm_loadl_epi64, _mm_loadu_si128, _mm_setzero_si128, _mm_unpackhi_epi8,
    _mm_unpacklo_epi8,
};

use super::{Level, BATCH};

/// Adds `Σ x · row[k]` over `rows` to every `out[k]`. Runs the SSE2 kernel if this CPU has no
/// AVX2 (callers check first; this keeps the function safe to call regardless).
pub(super) fn accumulate(rows: &[(i16, &[u8])], out: &mut [i32]) {
    if Level::Avx2.is_available() {
        // SAFETY: CPUID reported AVX2 (and the OS saves the YMM registers), just checked.
        unsafe { accumulate_with_avx2(rows, out) }
    } else {
        super::sse2::accumulate(rows, out);
    }
}

/// The fixed-point step from int32 sums to int8 outputs (see
/// [`super::super::reference::requantize`]), eight outputs at a time.
pub(super) fn requantize(
    sums: &[i32],
    multipliers: &[u8],
    shifts: &[u8],
    zero_point: i32,
    low: i32,
    out: &mut [i8],
) {
    let done = if super::super::right_shifts_only(shifts) && Level::Avx2.is_available() {
        // SAFETY: CPUID reported AVX2 (and the OS saves the YMM registers), just checked.
        unsafe { requantize_with_avx2(sums, multipliers, shifts, zero_point, low, out) }
    } else {
        0
    };
    super::super::portable::requantize(
        sums.get(done..).unwrap_or_default(),
        multipliers.get(done * 4..).unwrap_or_default(),
        shifts.get(done..).unwrap_or_default(),
        zero_point,
        low,
        out.get_mut(done..).unwrap_or_default(),
    );
}

#[target_feature(enable = "avx2")]
fn accumulate_with_avx2(rows: &[(i16, &[u8])], out: &mut [i32]) {
    if rows.is_empty() {
        return;
    }
    let (pairs, single) = rows.as_chunks::<2>();
    // The multiplier lanes of each pair, built once per batch rather than once per block.
    let mut multipliers = [_mm256_setzero_si256(); BATCH / 2];
    for (lanes, [(x0, _), (x1, _)]) in multipliers.iter_mut().zip(pairs) {
        *lanes = pair_of_lanes(*x0, *x1);
    }
    let multipliers = multipliers.get(..pairs.len()).unwrap_or_default();
    let single = single.first().map(|&(x, row)| (pair_of_lanes(x, 0), row));

    let (blocks, rest) = out.as_chunks_mut::<32>();
    for (index, block) in blocks.iter_mut().enumerate() {
        let offset = index * 32;
        let mut sums = load(block);
        for (xs, [(_, row0), (_, row1)]) in multipliers.iter().zip(pairs) {
            add_products(
                &mut sums,
                *xs,
                thirty_two(row0, offset),
                thirty_two(row1, offset),
            );
        }
        if let Some((xs, row)) = single {
            let zero = _mm_setzero_si128();
            add_products(&mut sums, xs, thirty_two(row, offset), [zero, zero]);
        }
        store(block, sums);
    }

    // What is left (under 32 outputs): eight at a time, then one at a time.
    let offset = blocks.len() * 32;
    let (blocks, tail) = rest.as_chunks_mut::<8>();
    for (index, block) in blocks.iter_mut().enumerate() {
        let offset = offset + index * 8;
        // SAFETY: an unaligned 32-byte load from a borrowed `[i32; 8]`.
        let mut sum = unsafe { _mm256_loadu_si256(block.as_ptr().cast()) };
        for (xs, [(_, row0), (_, row1)]) in multipliers.iter().zip(pairs) {
            let pairs = _mm_unpacklo_epi8(eight(row0, offset), eight(row1, offset));
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_cvtepi8_epi16(pairs), *xs));
        }
        if let Some((xs, row)) = single {
            let pairs = _mm_unpacklo_epi8(eight(row, offset), _mm_setzero_si128());
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_cvtepi8_epi16(pairs), xs));
        }
        // SAFETY: an unaligned 32-byte store into a borrowed `[i32; 8]`.
        unsafe { _mm256_storeu_si256(block.as_mut_ptr().cast(), sum) };
    }
    let offset = offset + blocks.len() * 8;
    for &(x, row) in rows {
        for (out, &w) in tail.iter_mut().zip(row.get(offset..).unwrap_or_default()) {
            *out = out.wrapping_add(i32::from(x) * i32::from(w as i8));
        }
    }
}

/// Requantizes whole blocks of eight outputs with right shifts only; returns how many
/// outputs it wrote (the rest is left to the portable kernel).
#[target_feature(enable = "avx2")]
fn requantize_with_avx2(
    sums: &[i32],
    multipliers: &[u8],
    shifts: &[u8],
    zero_point: i32,
    low: i32,
    out: &mut [i8],
) -> usize {
    let (sums, _) = sums.as_chunks::<8>();
    let (multipliers, _) = multipliers.as_chunks::<32>();
    let (shifts, _) = shifts.as_chunks::<8>();
    let (outs, _) = out.as_chunks_mut::<8>();
    // clamp(v + zero_point, low, 127) = clamp(v, low − zero_point, 127 − zero_point) +
    // zero_point, without the overflow the first form would need saturation for (both
    // bounds are within ±255: the zero point was validated).
    let lower = _mm256_set1_epi32(low.saturating_sub(zero_point));
    let upper = _mm256_set1_epi32(127_i32.saturating_sub(zero_point));
    let zero_point = _mm256_set1_epi32(zero_point);
    let one = _mm256_set1_epi32(1);
    let nudge = _mm256_set1_epi64x(1 << 30);
    let mut done = 0;
    for (((out, sums), multipliers), shifts) in
        outs.iter_mut().zip(sums).zip(multipliers).zip(shifts)
    {
        // SAFETY: unaligned loads from a borrowed `[i32; 8]`, `[u8; 32]` and `[u8; 8]`.
        let (x, m, shifts) = unsafe {
            (
                _mm256_loadu_si256(sums.as_ptr().cast()),
                _mm256_loadu_si256(multipliers.as_ptr().cast()),
                _mm_loadl_epi64(shifts.as_ptr().cast()),
            )
        };
        let right = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_cvtepi8_epi32(shifts));

        // ⌊(x·m + 2^30) / 2^31⌋: bits 31..62 of the 64-bit sum, in the low half of each
        // even lane's pair and (shifted up by one) the high half of each odd lane's.
        let even = _mm256_srli_epi64::<31>(_mm256_add_epi64(_mm256_mul_epi32(x, m), nudge));
        let odd_products = _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), _mm256_srli_epi64::<32>(m));
        let odd = _mm256_slli_epi64::<1>(_mm256_add_epi64(odd_products, nudge));
        let high = _mm256_blend_epi32::<0b1010_1010>(even, odd);

        // TFLite's RoundingDivideByPOT: shift, then add one where the remainder exceeds half
        // (half less one below zero, so that ties round away from zero).
        let mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, right), one);
        let remainder = _mm256_and_si256(high, mask);
        let threshold =
            _mm256_add_epi32(_mm256_srli_epi32::<1>(mask), _mm256_srli_epi32::<31>(high));
        let shifted = _mm256_srav_epi32(high, right);
        // `cmpgt` is −1 where true: subtracting it adds one.
        let rounded = _mm256_sub_epi32(shifted, _mm256_cmpgt_epi32(remainder, threshold));

        let clamped = _mm256_min_epi32(_mm256_max_epi32(rounded, lower), upper);
        *out = pack_to_i8(_mm256_add_epi32(clamped, zero_point));
        done += 8;
    }
    done
}

/// Eight i32 lanes, each already in `-128..=127`, as eight bytes.
#[inline]
#[target_feature(enable = "avx2")]
fn pack_to_i8(values: __m256i) -> [i8; 8] {
    // The packs work within each 128-bit half: the low half's first four bytes are lanes
    // 0..4, the high half's are lanes 4..8.
    let words = _mm256_packs_epi32(values, values);
    let bytes = _mm256_packs_epi16(words, words);
    let low = _mm_cvtsi128_si32(_mm256_castsi256_si128(bytes));
    let high = _mm_cvtsi128_si32(_mm256_extracti128_si256::<1>(bytes));
    let [b0, b1, b2, b3] = low.to_le_bytes();
    let [b4, b5, b6, b7] = high.to_le_bytes();
    [b0, b1, b2, b3, b4, b5, b6, b7].map(|b| b as i8)
}

/// Thirty-two sums in four registers.
#[inline]
#[target_feature(enable = "avx2")]
fn load(block: &[i32; 32]) -> [__m256i; 4] {
    let (quarters, _) = block.as_chunks::<8>();
    let mut sums = [_mm256_setzero_si256(); 4];
    for (sum, quarter) in sums.iter_mut().zip(quarters) {
        // SAFETY: an unaligned 32-byte load from a borrowed `[i32; 8]`.
        *sum = unsafe { _mm256_loadu_si256(quarter.as_ptr().cast()) };
    }
    sums
}

/// Writes four registers of sums back.
#[inline]
#[target_feature(enable = "avx2")]
fn store(block: &mut [i32; 32], sums: [__m256i; 4]) {
    let (quarters, _) = block.as_chunks_mut::<8>();
    for (quarter, sum) in quarters.iter_mut().zip(sums) {
        // SAFETY: an unaligned 32-byte store into a borrowed `[i32; 8]`.
        unsafe { _mm256_storeu_si256(quarter.as_mut_ptr().cast(), sum) };
    }
}

/// `sums[k] += x0·a[k] + x1·b[k]` for 32 outputs, `xs` holding `[x0, x1]` pairs.
#[inline]
#[target_feature(enable = "avx2")]
fn add_products(sums: &mut [__m256i; 4], xs: __m256i, a: [__m128i; 2], b: [__m128i; 2]) {
    let [s0, s1, s2, s3] = sums;
    let [a0, a1] = a;
    let [b0, b1] = b;
    let madd = |bytes: __m128i| _mm256_madd_epi16(_mm256_cvtepi8_epi16(bytes), xs);
    *s0 = _mm256_add_epi32(*s0, madd(_mm_unpacklo_epi8(a0, b0)));
    *s1 = _mm256_add_epi32(*s1, madd(_mm_unpackhi_epi8(a0, b0)));
    *s2 = _mm256_add_epi32(*s2, madd(_mm_unpacklo_epi8(a1, b1)));
    *s3 = _mm256_add_epi32(*s3, madd(_mm_unpackhi_epi8(a1, b1)));
}

/// Thirty-two weights of `row` from `offset`, in two registers (zeros past the row's end,
/// which the callers never reach).
#[inline]
#[target_feature(enable = "avx2")]
fn thirty_two(row: &[u8], offset: usize) -> [__m128i; 2] {
    match row.get(offset..).and_then(<[u8]>::first_chunk::<32>) {
        Some(bytes) => {
            let (halves, _) = bytes.as_chunks::<16>();
            let mut registers = [_mm_setzero_si128(); 2];
            for (register, half) in registers.iter_mut().zip(halves) {
                // SAFETY: an unaligned 16-byte load from a borrowed `[u8; 16]`.
                *register = unsafe { _mm_loadu_si128(half.as_ptr().cast()) };
            }
            registers
        }
        None => [_mm_setzero_si128(); 2],
    }
}

/// Eight weights of `row` from `offset`, in the low half of a register.
#[inline]
#[target_feature(enable = "avx2")]
fn eight(row: &[u8], offset: usize) -> __m128i {
    match row.get(offset..).and_then(<[u8]>::first_chunk::<8>) {
        // SAFETY: an unaligned 8-byte load from a borrowed `[u8; 8]`.
        Some(bytes) => unsafe { _mm_loadl_epi64(bytes.as_ptr().cast()) },
        None => _mm_setzero_si128(),
    }
}

/// `[x0, x1]` repeated over the sixteen 16-bit lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn pair_of_lanes(x0: i16, x1: i16) -> __m256i {
    let pair = u32::from(x0 as u16) | (u32::from(x1 as u16) << 16);
    _mm256_set1_epi32(pair as i32)
}
