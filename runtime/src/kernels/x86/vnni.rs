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
//!   batch-major. A panel of 256 rows by 64 outputs is interleaved (and put in output order)
//!   once for up to 32 inputs, in the L1 cache; then each input adds the products of its
//!   non-zero groups of four pixels only, one `vpdpbusd` per 16 outputs: the zero skipping
//!   of the one-input path (81 % of MNIST pixels), without its interleaving cost. Rows no
//!   input of the group needs (a digit's border) are not interleaved at all.
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
    __m512i, _mm512_add_epi32, _mm512_dpbusd_epi32, _mm512_loadu_si512,
    _mm512_maskz_permutexvar_epi8, _mm512_set1_epi32, _mm512_setzero_si512, _mm512_shuffle_i32x4,
    _mm512_storeu_si512, _mm512_sub_epi32, _mm512_unpackhi_epi16, _mm512_unpackhi_epi8,
    _mm512_unpacklo_epi16, _mm512_unpacklo_epi8,
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

/// Inputs that share one panel of interleaved weights in [`dense_u8_inputs`].
const GROUP: usize = 32;

/// Groups of four rows in a panel of interleaved weights (16 KB: it stays in the L1 cache
/// while every input of a group reads it).
const PANEL: usize = 64;

/// Adds `Σ x · row[k]` over `rows` to every `out[k]`. Runs the AVX2 kernel (or SSE2) where
/// this CPU lacks VNNI or the inputs fit neither `0..=255` nor `-128..=127`, and for the
/// outputs past the last whole block of 64.
pub(super) fn accumulate(rows: &[(i16, &[u8])], out: &mut [i32]) {
    if out.len() < BLOCK || rows.is_empty() || !Level::Avx512Vnni.is_available() {
        return super::avx2::accumulate(rows, out);
    }
    let (low, high) = rows
        .iter()
        .fold((0, 0), |(low, high), &(x, _)| (x.min(low), x.max(high)));
    let offset = match (low, high) {
        (0.., ..=255) => 0,
        (-128.., ..=127) => 128,
        _ => return super::avx2::accumulate(rows, out),
    };
    // SAFETY: CPUID reported AVX-512 F, BW and VNNI (and the OS saves the ZMM registers),
    // just checked.
    let done = unsafe { accumulate_with_vnni(rows, offset, out) };
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

/// The sums of a layer of at most 16 outputs over int8 inputs (`x`, raw), `out.len()`
/// outputs: `out[k] = bias[k] + Σ_j x[j] · W[j][k]`. Returns false, having written nothing,
/// where this CPU lacks VNNI or VBMI or the shapes disagree.
///
/// Four rows of such a layer are at most 64 contiguous bytes: one load and one `vpermb`
/// (AVX-512 VBMI) give the `[w0[k], w1[k], w2[k], w3[k]]` quads `vpdpbusd` wants, where the
/// AVX2 kernel walks 8 outputs per register and the rest one at a time.
pub(super) fn dense_narrow(x: &[i8], weights: &[u8], bias: &[u8], out: &mut [i32]) -> bool {
    let outputs = out.len();
    if !(1..=16).contains(&outputs)
        || weights.len() != x.len() * outputs
        || bias.len() != outputs * 4
        || !Level::Avx512Vnni.is_available()
        || !super::vbmi_detected()
    {
        return false;
    }
    // SAFETY: CPUID reported AVX-512 F, BW, VNNI and VBMI (and the OS saves the ZMM
    // registers), just checked.
    unsafe { dense_narrow_with_vnni(x, weights, bias, out) };
    true
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vbmi")]
fn dense_narrow_with_vnni(x: &[i8], weights: &[u8], bias: &[u8], out: &mut [i32]) {
    let outputs = out.len();
    // Byte `4k + r` of a quad register is row `r`'s weight `k`: at `r · outputs + k` in the
    // four rows' bytes; lanes past the outputs are zeroed by the mask.
    let mut index = [0u8; 64];
    let mut mask = 0u64;
    for (k, lane) in index.chunks_exact_mut(4).enumerate().take(outputs) {
        for (r, byte) in lane.iter_mut().enumerate() {
            *byte = (r * outputs + k) as u8;
            mask |= 1 << (4 * k + r);
        }
    }
    let index = sixty_four(&index, 0);
    let offsets = _mm512_set1_epi32(0x8080_8080_u32 as i32);
    let (mut sums, mut taken) = (_mm512_setzero_si512(), _mm512_setzero_si512());
    let quad_bytes = 4 * outputs;
    let (quads, rest) = x.as_chunks::<4>();
    let mut last = [-128i8; 4];
    for (slot, &value) in last.iter_mut().zip(rest) {
        *slot = value;
    }
    let tail = (!rest.is_empty()).then_some(&last);
    for (q, quad) in quads.iter().chain(tail).enumerate() {
        let rows = weights.get(q * quad_bytes..).unwrap_or_default();
        let weights = _mm512_maskz_permutexvar_epi8(mask, index, padded_sixty_four(rows));
        // `x + 128` as bytes: the sign bit flipped.
        let word = i32::from_le_bytes(quad.map(|v| v as u8 ^ 0x80));
        sums = _mm512_dpbusd_epi32(sums, _mm512_set1_epi32(word), weights);
        taken = _mm512_dpbusd_epi32(taken, offsets, weights);
    }
    let mut result = [0i32; 16];
    let (result_chunk, _) = result.as_chunks_mut::<16>();
    if let Some(result) = result_chunk.first_mut() {
        // SAFETY: an unaligned 64-byte store into a borrowed `[i32; 16]`.
        unsafe { _mm512_storeu_si512(result.as_mut_ptr().cast(), _mm512_sub_epi32(sums, taken)) };
    }
    let (bias, _) = bias.as_chunks::<4>();
    for ((out, &sum), bias) in out.iter_mut().zip(&result).zip(bias) {
        *out = sum.wrapping_add(i32::from_le_bytes(*bias));
    }
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

/// The sums of a layer for several inputs at once: `sums[i][k] = bias[k] + Σ_j x[i][j] ·
/// W[j][k]`, where `x` is `inputs` as bytes (`0..=255`) or, if `signed`, as int8
/// (`-128..=127`). Returns how many outputs it summed: all, or none where this CPU lacks VNNI
/// or the lengths disagree.
pub(super) fn dense_inputs(
    inputs: &[&[u8]],
    signed: bool,
    weights: &[u8],
    bias: &[u8],
    sums: &mut [&mut [i32]],
) -> usize {
    if !Level::Avx512Vnni.is_available() {
        return 0;
    }
    // SAFETY: CPUID reported AVX-512 F, BW and VNNI (and the OS saves the ZMM registers),
    // just checked.
    unsafe { dense_inputs_with_vnni(inputs, signed, weights, bias, sums) }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn dense_inputs_with_vnni(
    inputs: &[&[u8]],
    signed: bool,
    weights: &[u8],
    bias: &[u8],
    sums: &mut [&mut [i32]],
) -> usize {
    let outputs = sums.first().map_or(0, |sums| sums.len());
    let input_len = inputs.first().map_or(0, |input| input.len());
    let consistent = inputs.len() == sums.len()
        && sums.iter().all(|s| s.len() == outputs)
        && inputs.iter().all(|input| input.len() == input_len)
        && weights.len() == input_len * outputs
        && bias.len() == outputs * 4
        && outputs <= MAX_OUTPUTS;
    if !consistent || outputs == 0 || input_len == 0 {
        return 0;
    }
    // Signed inputs go in as `x + 128` (the sign bit flipped), so a dead ReLU output (the
    // zero point -128) is a zero byte and skipped too; `128 · Σ_j W[j][k]` comes off the
    // bias.
    let flip = if signed { 0x8080_8080_u32 as i32 } else { 0 };
    let mut start_values = [0i32; MAX_OUTPUTS];
    let (bias, _) = bias.as_chunks::<4>();
    for (value, bias) in start_values.iter_mut().zip(bias) {
        *value = i32::from_le_bytes(*bias);
    }
    if signed {
        for row in weights.chunks_exact(outputs) {
            for (value, &w) in start_values.iter_mut().zip(row) {
                *value = value.wrapping_sub(i32::from(w as i8) << 7);
            }
        }
    }
    let quads = input_len.div_ceil(4);
    // Scratch on the stack (about 40 KB): a panel of interleaved weights, and for each input
    // its non-zero groups of four within the panel's rows.
    let mut panel = [[_mm512_setzero_si512(); 4]; PANEL];
    // One slot more than a panel has groups: the branch-free write after the last one.
    let mut lists = [[(0u8, 0i32); PANEL + 1]; GROUP];
    let mut lengths = [0usize; GROUP];
    for (inputs, sums) in inputs.chunks(GROUP).zip(sums.chunks_mut(GROUP)) {
        for sums in sums.iter_mut() {
            sums.fill(0);
        }
        let mut first_quad = 0;
        while first_quad < quads {
            let panel_quads = (quads - first_quad).min(PANEL);
            // Which groups of four each input has non-zero, and which any input has: only
            // those weights are interleaved, only those products summed.
            let mut used = [false; PANEL];
            for ((input, list), length) in inputs.iter().zip(&mut lists).zip(&mut lengths) {
                let bytes = input.get(first_quad * 4..).unwrap_or_default();
                let (whole, rest) = bytes.as_chunks::<4>();
                let last = (!rest.is_empty()).then(|| four_bytes(rest, 0, flip));
                let words = whole
                    .iter()
                    .map(|&word| i32::from_le_bytes(word))
                    .chain(last)
                    .map(|word| word ^ flip);
                let mut len = 0;
                for (quad, (used, word)) in used.iter_mut().zip(words).enumerate() {
                    // Branch-free: every group is written, only a non-zero one kept.
                    if let Some(slot) = list.get_mut(len) {
                        *slot = (quad as u8, word);
                    }
                    len += usize::from(word != 0);
                    *used |= word != 0;
                }
                *length = len;
            }
            let mut start = 0;
            while start < outputs {
                let width = (outputs - start).min(BLOCK);
                let registers = width.div_ceil(16);
                for (quad, (weights_of_quad, &used)) in panel.iter_mut().zip(&used).enumerate() {
                    if used {
                        let first_row = (first_quad + quad) * 4;
                        let rows: [&[u8]; 4] = core::array::from_fn(|r| {
                            let at = (first_row + r) * outputs + start;
                            weights.get(at..at + width).unwrap_or_default()
                        });
                        *weights_of_quad =
                            in_order(interleave(rows.map(|row| padded_sixty_four(row))));
                    }
                }
                for ((sums, list), &length) in sums.iter_mut().zip(&lists).zip(&lengths) {
                    let out = sums.get_mut(start..start + width).unwrap_or_default();
                    let mut acc = load_partial(out);
                    let list = list.get(..length).unwrap_or_default();
                    match registers {
                        1 => add_list::<1>(&mut acc, list, &panel),
                        2 => add_list::<2>(&mut acc, list, &panel),
                        3 => add_list::<3>(&mut acc, list, &panel),
                        _ => add_list::<4>(&mut acc, list, &panel),
                    }
                    store_partial(out, acc);
                }
                start += width;
            }
            first_quad += panel_quads;
        }
        for sums in sums.iter_mut() {
            for (sum, &value) in sums.iter_mut().zip(&start_values) {
                *sum = sum.wrapping_add(value);
            }
        }
    }
    outputs
}

/// The widest layer [`dense_inputs`] sums (the format's `MAX_WIDTH`).
const MAX_OUTPUTS: usize = crate::MAX_WIDTH as usize;

/// `acc += Σ xs · panel[quad]` over a list of `(quad, xs)`, in the first `R` registers.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn add_list<const R: usize>(
    acc: &mut [__m512i; 4],
    list: &[(u8, i32)],
    panel: &[[__m512i; 4]; PANEL],
) {
    for &(quad, word) in list {
        let xs = _mm512_set1_epi32(word);
        if let Some(weights) = panel.get(usize::from(quad)) {
            for (acc, &weights) in acc.iter_mut().zip(weights).take(R) {
                *acc = _mm512_dpbusd_epi32(*acc, xs, weights);
            }
        }
    }
}

/// Up to 64 weights of `row` (zeros past its end: the padding rows and columns).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn padded_sixty_four(row: &[u8]) -> __m512i {
    if row.len() >= 64 {
        return sixty_four(row, 0);
    }
    let mut bytes = [0u8; 64];
    for (byte, &w) in bytes.iter_mut().zip(row) {
        *byte = w;
    }
    sixty_four(&bytes, 0)
}

/// Up to 64 sums in four registers (zeros past the end).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn load_partial(sums: &[i32]) -> [__m512i; 4] {
    match sums.first_chunk::<BLOCK>() {
        Some(block) => load(block),
        None => {
            let mut block = [0i32; BLOCK];
            for (to, &from) in block.iter_mut().zip(sums) {
                *to = from;
            }
            load(&block)
        }
    }
}

/// Writes back up to 64 sums.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn store_partial(sums: &mut [i32], registers: [__m512i; 4]) {
    match sums.first_chunk_mut::<BLOCK>() {
        Some(block) => store(block, registers),
        None => {
            let mut block = [0i32; BLOCK];
            store(&mut block, registers);
            for (to, &from) in sums.iter_mut().zip(&block) {
                *to = from;
            }
        }
    }
}

/// The four bytes of `input` from `first` as a little-endian word (`padding`'s bytes past
/// its end).
#[inline(always)]
fn four_bytes(input: &[u8], first: usize, padding: i32) -> i32 {
    match input.get(first..).and_then(<[u8]>::first_chunk::<4>) {
        Some(&bytes) => i32::from_le_bytes(bytes),
        None => {
            let mut bytes = padding.to_le_bytes();
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

    /// The 64 sums in output order.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn in_order(self) -> [__m512i; 4] {
        in_order(self.0)
    }
}

/// Four registers from [`Permuted`] order to output order (or back: it is its own inverse),
/// a 4 x 4 transpose of 128-bit lanes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn in_order([q0, q1, q2, q3]: [__m512i; 4]) -> [__m512i; 4] {
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

/// Sixty-four sums in four registers.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn load(block: &[i32; BLOCK]) -> [__m512i; 4] {
    let (quarters, _) = block.as_chunks::<16>();
    let mut sums = [_mm512_setzero_si512(); 4];
    for (sum, quarter) in sums.iter_mut().zip(quarters) {
        // SAFETY: an unaligned 64-byte load from a borrowed `[i32; 16]`.
        *sum = unsafe { _mm512_loadu_si512(quarter.as_ptr().cast()) };
    }
    sums
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
