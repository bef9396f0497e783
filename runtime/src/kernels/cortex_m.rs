//! Int8 dense kernel for Arm cores with the DSP extension (Cortex-M4, M7, M33 with DSP):
//! two multiply-accumulates per `SMLAD`, as CMSIS-NN does.
//!
//! The weights are input-major, so the contiguous direction is the outputs. The kernel
//! pairs up the non-zero inputs (zero inputs are skipped, as in the portable kernel) and,
//! for each pair of weight rows, loads four weights of each row as one word, widens them
//! to 16-bit lanes with `SXTB16`, packs one weight of each row per output with
//! `PKHBT`/`PKHTB`, and adds `x0·w0 + x1·w1` to the output's accumulator with one `SMLAD`:
//! eight multiply-accumulates in about twenty instructions, against five instructions for
//! each one in the portable kernel.
//!
//! `SMLAD`'s sum wraps modulo 2^32 like the reference kernel's `wrapping_add`, and integer
//! addition in that ring does not depend on the order of the terms, so the results are
//! bit-exact against [`super::reference::dense_int8`]. The firmware example checks that in
//! QEMU over random shapes and values.
//!
//! Rust has no stable `SMLAD` intrinsic (`core::arch::arm`'s DSP intrinsics are unstable),
//! so each instruction is one line of inline assembly on registers only: `pure`, `nomem`,
//! `nostack`, which leaves scheduling and register allocation to LLVM.
#![allow(unsafe_code)]

use core::arch::asm;

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
    super::start_from_bias(out, bias);
    let mut pending: Option<(i16, &[u8])> = None;
    for (x, row) in input.zip(rows) {
        if x == 0 {
            continue;
        }
        match pending.take() {
            None => pending = Some((x, row)),
            Some((x0, row0)) => accumulate_two_rows(out, x0, row0, x, row),
        }
    }
    // An odd input left over: pair it with a zero input on the same row.
    if let Some((x0, row0)) = pending {
        accumulate_two_rows(out, x0, row0, 0, row0);
    }
}

/// `out[k] += x0 · row0[k] + x1 · row1[k]` for every `k`.
#[inline(always)]
fn accumulate_two_rows(out: &mut [i32], x0: i16, row0: &[u8], x1: i16, row1: &[u8]) {
    // Bottom lane x0, top lane x1: the order SMLAD multiplies the packed weights by.
    let x = u32::from(x0 as u16) | (u32::from(x1 as u16) << 16);
    let (out4, out_rest) = out.as_chunks_mut::<4>();
    let (row0_4, row0_rest) = row0.as_chunks::<4>();
    let (row1_4, row1_rest) = row1.as_chunks::<4>();
    for ((acc, w0), w1) in out4.iter_mut().zip(row0_4).zip(row1_4) {
        let w0 = u32::from_le_bytes(*w0);
        let w1 = u32::from_le_bytes(*w1);
        // Lanes (bottom, top): even = (w[k], w[k+2]), odd = (w[k+1], w[k+3]).
        let (even0, odd0) = (sxtb16(w0), sxtb16_ror8(w0));
        let (even1, odd1) = (sxtb16(w1), sxtb16_ror8(w1));
        let [a0, a1, a2, a3] = acc;
        *a0 = smlad(pack_bottoms(even0, even1), x, *a0);
        *a1 = smlad(pack_bottoms(odd0, odd1), x, *a1);
        *a2 = smlad(pack_tops(even0, even1), x, *a2);
        *a3 = smlad(pack_tops(odd0, odd1), x, *a3);
    }
    let rest = out_rest.iter_mut().zip(row0_rest).zip(row1_rest);
    for ((acc, &w0), &w1) in rest {
        *acc = acc
            .wrapping_add(i32::from(x0) * i32::from(w0 as i8))
            .wrapping_add(i32::from(x1) * i32::from(w1 as i8));
    }
}

/// Sign-extends bytes 0 and 2 of `word` into the bottom and top 16-bit lanes.
#[inline(always)]
fn sxtb16(word: u32) -> u32 {
    let lanes: u32;
    // SAFETY: register-only arithmetic (no memory, stack or flags); SXTB16 exists on every
    // core this module is compiled for (the cfg in `kernels/mod.rs`).
    unsafe {
        asm!("sxtb16 {0}, {1}", lateout(reg) lanes, in(reg) word, options(pure, nomem, nostack, preserves_flags));
    }
    lanes
}

/// Sign-extends bytes 1 and 3 of `word` into the bottom and top 16-bit lanes.
#[inline(always)]
fn sxtb16_ror8(word: u32) -> u32 {
    let lanes: u32;
    // SAFETY: register-only arithmetic, as in `sxtb16`.
    unsafe {
        asm!("sxtb16 {0}, {1}, ror #8", lateout(reg) lanes, in(reg) word, options(pure, nomem, nostack, preserves_flags));
    }
    lanes
}

/// `(bottom of low, bottom of high)`: PKHBT.
#[inline(always)]
fn pack_bottoms(low: u32, high: u32) -> u32 {
    let packed: u32;
    // SAFETY: register-only arithmetic, as in `sxtb16`.
    unsafe {
        asm!("pkhbt {0}, {1}, {2}, lsl #16", lateout(reg) packed, in(reg) low, in(reg) high, options(pure, nomem, nostack, preserves_flags));
    }
    packed
}

/// `(top of low, top of high)`: PKHTB.
#[inline(always)]
fn pack_tops(low: u32, high: u32) -> u32 {
    let packed: u32;
    // SAFETY: register-only arithmetic, as in `sxtb16`.
    unsafe {
        asm!("pkhtb {0}, {1}, {2}, asr #16", lateout(reg) packed, in(reg) high, in(reg) low, options(pure, nomem, nostack, preserves_flags));
    }
    packed
}

/// `acc + a.bottom · b.bottom + a.top · b.top`, 16-bit signed lanes, wrapping.
#[inline(always)]
fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    let sum: i32;
    // SAFETY: register-only arithmetic; SMLAD only sets the sticky Q flag on overflow, which
    // nothing here reads (the wrapped sum is the result, as in the reference kernel), so
    // `preserves_flags` is not claimed.
    unsafe {
        asm!("smlad {0}, {1}, {2}, {3}", lateout(reg) sum, in(reg) a, in(reg) b, in(reg) acc, options(pure, nomem, nostack));
    }
    sum
}
