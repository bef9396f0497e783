//! The AVX-512 VNNI int8 accumulation, run only where CPUID reports AVX-512 F, BW and VNNI.
//!
//! `vpdpbusd` multiplies four unsigned bytes by four signed bytes and adds the four products
//! to a 32-bit lane: 64 multiply-accumulates in one instruction, against 16 for AVX2's
//! `vpmaddwd` and its add. It wants the four inputs of an output side by side, but the weights
//! are input-major (a row holds one input's weights for every output), so four rows are
//! interleaved on the fly: two byte unpacks and two word unpacks turn 64 bytes of each of four
//! rows into four registers of `[w0[k], w1[k], w2[k], w3[k]]` quads. The unpacks work within
//! each 128-bit lane, so a register holds its outputs in a shuffled order
//! ([`Permuted`]); the sums are put back in order once per block, not once per row.
//!
//! Two callers:
//! - one input ([`accumulate`]): the non-zero inputs the front end gathered, four rows at a
//!   time, 64 outputs per block. Pixels (`0..=255`) go in as they are; int8 activations
//!   (`-128..=127`) go in as `x + 128`, and `128 · Σ w` is taken off again (a second
//!   `vpdpbusd` on the same interleaved weights). Other batches, and the last outputs of a
//!   layer that is not a multiple of 64 wide, take the AVX2 kernel.
//! - many inputs ([`dense_u8_inputs`]): the first layer of a batch of pixel inputs,
//!   batch-major. Four inputs share each interleaved block of weights (16 sums in registers),
//!   so the weights are read and interleaved once per four inputs instead of once per input;
//!   rows where all four inputs are zero are skipped (the border of a digit).
//!
//! Integer addition modulo 2^32 does not depend on the order of the terms (and `vpdpbusd`
//! wraps, as the reference's `wrapping_add` does), so the results are bit-exact against
//! [`super::super::reference::dense_int8`]; `tests/properties.rs` checks it.
//!
//! Every `unsafe` here is either the call into a `#[target_feature]` function, made only
//! after CPUID reported the features, or an unaligned load or store through a pointer to a
//! fixed-size array borrowed for exactly those bytes.
#![allow(unsafe_code)]

use core::arch::x86_64::{
    __m512i, _mm512_add_epi32, _mm512_dpbusd_epi32, _mm512_loadu_si512, _mm512_set1_epi32,
    _mm512_setzero_si512, _mm512_shuffle_i32x4, _mm512_storeu_si512, _mm512_sub_epi32,
    _mm512_unpackhi_epi16, _mm512_unpackhi_epi8, _mm512_unpacklo_epi16, _mm512_unpacklo_epi8,
};

use super::{Level, BATCH};

/// Whether CPUID reports AVX-512 VNNI (leaf 7, ECX bit 11). Miri runs no CPUID: there only a
/// build with VNNI enabled at compile time has it.
pub(super) fn cpuid_reports_vnni() -> bool {
    #[cfg(miri)]
    return false;
    // CPUID became a safe function after Rust 1.89 (the minimum supported version).
    #[cfg(not(miri))]
    #[allow(unused_unsafe)]
    // SAFETY: CPUID is an x86-64 baseline instruction without side effects; leaf 7 is read
    // only where leaf 0 says it exists.
    unsafe {
        use core::arch::x86_64::{__cpuid, __cpuid_count};
        __cpuid(0).eax >= 7 && __cpuid_count(7, 0).ecx & (1 << 11) != 0
    }
}

/// Outputs per block: four registers of sixteen 32-bit sums.
pub(super) const BLOCK: usize = 64;

/// Inputs that share one pass over the weights in [`dense_u8_inputs`].
const GROUP: usize = 4;

/// Adds `Σ x · row[k]` over `rows` to every `out[k]`. Runs the AVX2 kernel (or SSE2) where
/// this CPU lacks VNNI or the inputs fit neither `0..=255` nor `-128..=127`, and for the
/// outputs past the last whole block of 64.
pub(super) fn accumulate(rows: &[(i16, &[u8])], out: &mut [i32]) {
    let offset = if rows.iter().all(|&(x, _)| (0..=255).contains(&x)) {
        Some(0)
    } else if rows.iter().all(|&(x, _)| (-128..=127).contains(&x)) {
        Some(128)
    } else {
        None
    };
    let done = match offset {
        Some(offset) if Level::Avx512Vnni.is_available() && !rows.is_empty() => {
            // SAFETY: CPUID reported AVX-512 F, BW and VNNI (and the OS saves the ZMM
            // registers), just checked.
            unsafe { accumulate_with_vnni(rows, offset, out) }
        }
        _ => 0,
    };
    if done == out.len() {
        return;
    }
    let mut shifted: [(i16, &[u8]); BATCH] = [(0, &[]); BATCH];
    for (slot, &(x, row)) in shifted.iter_mut().zip(rows) {
        *slot = (x, row.get(done..).unwrap_or_default());
    }
    let shifted = shifted.get(..rows.len()).unwrap_or_default();
    super::avx2::accumulate(shifted, out.get_mut(done..).unwrap_or_default());
}

/// Whole blocks of 64 outputs; returns how many outputs it summed. `offset` (0 or 128) is
/// added to every input to make it a byte, and its products are taken off again.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn accumulate_with_vnni(rows: &[(i16, &[u8])], offset: i16, out: &mut [i32]) -> usize {
    let (quads, rest) = rows.as_chunks::<4>();
    // A last, partial quad is padded with zero inputs over zero weights.
    let mut last: [(i16, &[u8]); 4] = [(-offset, &[]); 4];
    for (slot, &row) in last.iter_mut().zip(rest) {
        *slot = row;
    }
    let tail = if rest.is_empty() { None } else { Some(last) };
    let word = |quad: &[(i16, &[u8]); 4]| -> i32 {
        let [a, b, c, d] = quad.map(|(x, _)| (x + offset) as u8);
        i32::from_le_bytes([a, b, c, d])
    };
    let offsets = _mm512_set1_epi32(i32::from_le_bytes([offset as u8; 4]));

    let (blocks, _) = out.as_chunks_mut::<BLOCK>();
    for (index, block) in blocks.iter_mut().enumerate() {
        let start = index * BLOCK;
        let mut sums = Permuted::zero();
        let mut taken = Permuted::zero();
        for quad in quads.iter().chain(tail.as_ref()) {
            let weights = interleave(quad.map(|(_, row)| sixty_four(row, start)));
            sums.add_products(_mm512_set1_epi32(word(quad)), &weights);
            if offset != 0 {
                taken.add_products(offsets, &weights);
            }
        }
        let mut ordered = sums.in_order();
        if offset != 0 {
            let taken = taken.in_order();
            for (sum, taken) in ordered.iter_mut().zip(taken) {
                *sum = _mm512_sub_epi32(*sum, taken);
            }
        }
        add_to(block, ordered);
    }
    blocks.len() * BLOCK
}

/// The sums of a layer with `0..=255` inputs for several inputs at once: `sums[i][k] =
/// bias[k] + Σ_j inputs[i][j] · W[j][k]` (see [`super::dense_u8_inputs`]). Returns how many
/// outputs it summed (whole blocks of 64; none where this CPU lacks VNNI).
pub(super) fn dense_u8_inputs(
    inputs: &[&[u8]],
    weights: &[u8],
    bias: &[u8],
    sums: &mut [&mut [i32]],
) -> usize {
    if !Level::Avx512Vnni.is_available() {
        return 0;
    }
    // SAFETY: CPUID reported AVX-512 F, BW and VNNI (and the OS saves the ZMM registers),
    // just checked.
    unsafe { dense_u8_inputs_with_vnni(inputs, weights, bias, sums) }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn dense_u8_inputs_with_vnni(
    inputs: &[&[u8]],
    weights: &[u8],
    bias: &[u8],
    sums: &mut [&mut [i32]],
) -> usize {
    let outputs = sums.first().map_or(0, |sums| sums.len());
    let input_len = inputs.first().map_or(0, |input| input.len());
    if outputs == 0 || sums.iter().any(|s| s.len() != outputs) || inputs.len() != sums.len() {
        return 0;
    }
    if inputs.iter().any(|input| input.len() != input_len) || weights.len() != input_len * outputs {
        return 0;
    }
    let (bias_blocks, _) = bias.as_chunks::<{ BLOCK * 4 }>();
    let blocks = (outputs / BLOCK).min(bias_blocks.len());
    let rows = |first: usize, start: usize| -> [&[u8]; 4] {
        core::array::from_fn(|r| {
            let row = (first + r) * outputs + start;
            weights.get(row..row + BLOCK).unwrap_or_default()
        })
    };
    for (index, bias) in bias_blocks.iter().take(blocks).enumerate() {
        let start = index * BLOCK;
        // The block's weights stay in cache across the groups of inputs.
        for (inputs, sums) in inputs.chunks(GROUP).zip(sums.chunks_mut(GROUP)) {
            let mut group = [Permuted::zero(); GROUP];
            let mut first = 0;
            while first < input_len {
                let words: [i32; GROUP] = core::array::from_fn(|i| {
                    four_bytes(inputs.get(i).copied().unwrap_or_default(), first)
                });
                if words != [0; GROUP] {
                    let weights = interleave(rows(first, start).map(|row| sixty_four(row, 0)));
                    for (sums, &word) in group.iter_mut().zip(&words) {
                        sums.add_products(_mm512_set1_epi32(word), &weights);
                    }
                }
                first += 4;
            }
            for (out, sums) in sums.iter_mut().zip(group) {
                let Some(block) = out
                    .get_mut(start..)
                    .and_then(<[i32]>::first_chunk_mut::<BLOCK>)
                else {
                    continue;
                };
                let mut ordered = sums.in_order();
                let (bias, _) = bias.as_chunks::<64>();
                for (sum, bias) in ordered.iter_mut().zip(bias) {
                    // SAFETY: an unaligned 64-byte load from a borrowed `[u8; 64]` (sixteen
                    // little-endian i32).
                    *sum =
                        _mm512_add_epi32(*sum, unsafe { _mm512_loadu_si512(bias.as_ptr().cast()) });
                }
                store(block, ordered);
            }
        }
    }
    blocks * BLOCK
}

/// The four bytes of `input` from `first` as a little-endian word (zeros past its end).
#[inline(always)]
fn four_bytes(input: &[u8], first: usize) -> i32 {
    match input.get(first..).and_then(<[u8]>::first_chunk::<4>) {
        Some(&bytes) => i32::from_le_bytes(bytes),
        None => {
            let mut bytes = [0u8; 4];
            for (byte, &x) in bytes.iter_mut().zip(input.get(first..).unwrap_or_default()) {
                *byte = x;
            }
            i32::from_le_bytes(bytes)
        }
    }
}

/// The sums of 64 outputs in the order the interleaved weights leave them: lane `L` of
/// register `i` holds outputs `16·L + 4·i .. 16·L + 4·i + 4`.
#[derive(Clone, Copy)]
struct Permuted([__m512i; 4]);

impl Permuted {
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn zero() -> Permuted {
        Permuted([_mm512_setzero_si512(); 4])
    }

    /// `sums[k] += Σ_r bytes_r(xs) · w_r[k]` for the 64 outputs, `xs` holding four input
    /// bytes in every lane.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn add_products(&mut self, xs: __m512i, weights: &[__m512i; 4]) {
        for (sums, &weights) in self.0.iter_mut().zip(weights) {
            *sums = _mm512_dpbusd_epi32(*sums, xs, weights);
        }
    }

    /// The 64 sums in output order: a 4 x 4 transpose of 128-bit lanes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn in_order(self) -> [__m512i; 4] {
        let [q0, q1, q2, q3] = self.0;
        let t0 = _mm512_shuffle_i32x4::<0b01_00_01_00>(q0, q1);
        let t1 = _mm512_shuffle_i32x4::<0b01_00_01_00>(q2, q3);
        let t2 = _mm512_shuffle_i32x4::<0b11_10_11_10>(q0, q1);
        let t3 = _mm512_shuffle_i32x4::<0b11_10_11_10>(q2, q3);
        [
            _mm512_shuffle_i32x4::<0b10_00_10_00>(t0, t1),
            _mm512_shuffle_i32x4::<0b11_01_11_01>(t0, t1),
            _mm512_shuffle_i32x4::<0b10_00_10_00>(t2, t3),
            _mm512_shuffle_i32x4::<0b11_01_11_01>(t2, t3),
        ]
    }
}

/// Four rows' 64 weights as `[w0[k], w1[k], w2[k], w3[k]]` quads, in [`Permuted`] order.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn interleave([r0, r1, r2, r3]: [__m512i; 4]) -> [__m512i; 4] {
    let (low01, high01) = (_mm512_unpacklo_epi8(r0, r1), _mm512_unpackhi_epi8(r0, r1));
    let (low23, high23) = (_mm512_unpacklo_epi8(r2, r3), _mm512_unpackhi_epi8(r2, r3));
    [
        _mm512_unpacklo_epi16(low01, low23),
        _mm512_unpackhi_epi16(low01, low23),
        _mm512_unpacklo_epi16(high01, high23),
        _mm512_unpackhi_epi16(high01, high23),
    ]
}

/// Sixty-four weights of `row` from `offset` (zeros past the row's end: the padding rows).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn sixty_four(row: &[u8], offset: usize) -> __m512i {
    match row.get(offset..).and_then(<[u8]>::first_chunk::<64>) {
        // SAFETY: an unaligned 64-byte load from a borrowed `[u8; 64]`.
        Some(bytes) => unsafe { _mm512_loadu_si512(bytes.as_ptr().cast()) },
        None => _mm512_setzero_si512(),
    }
}

/// `block[k] += sums[k]`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn add_to(block: &mut [i32; BLOCK], sums: [__m512i; 4]) {
    let (quarters, _) = block.as_chunks_mut::<16>();
    for (quarter, sum) in quarters.iter_mut().zip(sums) {
        // SAFETY: unaligned 64-byte loads and stores on a borrowed `[i32; 16]`.
        unsafe {
            let old = _mm512_loadu_si512(quarter.as_ptr().cast());
            _mm512_storeu_si512(quarter.as_mut_ptr().cast(), _mm512_add_epi32(old, sum));
        }
    }
}

/// `block[k] = sums[k]`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn store(block: &mut [i32; BLOCK], sums: [__m512i; 4]) {
    let (quarters, _) = block.as_chunks_mut::<16>();
    for (quarter, sum) in quarters.iter_mut().zip(sums) {
        // SAFETY: an unaligned 64-byte store into a borrowed `[i32; 16]`.
        unsafe { _mm512_storeu_si512(quarter.as_mut_ptr().cast(), sum) };
    }
}
