//! Fast portable kernels: four input rows at a time over contiguous weights, skipping zero
//! inputs. Plain Rust that LLVM vectorizes on every target (SSE2, wasm SIMD, Helium).

use crate::fixed_point::multiply_by_right_shifted_multiplier;

/// Input rows the kernels combine per pass over the outputs: each output is loaded and
/// stored once per `ROWS` non-zero inputs instead of once per input.
const ROWS: usize = 4;

/// `out[k] = bias[k] + Σ_j input[j] · W[j][k]` with little-endian f32 weights, input-major.
///
/// Adds the terms of each output in the same order as the reference kernel (four rows per
/// pass, but still one term after the other), so results agree bit for bit except for the
/// sign of a zero sum.
#[inline]
pub fn dense_f32<I>(input: I, weights: &[u8], bias: &[u8], out: &mut [f32])
where
    I: Iterator<Item = f32>,
{
    let outputs = out.len();
    // Rows split by `column_window`, not `chunks_exact`, whose division by the row length
    // links a panic into the inference code (the firmware's panic check found it).
    let Some(row_bytes) = outputs.checked_mul(4).filter(|&n| n != 0) else {
        return;
    };
    out.fill(0.0);
    let rows = input
        .zip(super::column_window(weights, row_bytes, 0..row_bytes))
        .filter(|&(x, _)| x != 0.0);
    for_each_group(rows, |group| match group {
        [(x0, r0), (x1, r1), (x2, r2), (x3, r3)] => {
            let (r0, r1, r2, r3) = (f32s(r0), f32s(r1), f32s(r2), f32s(r3));
            for ((((out, w0), w1), w2), w3) in out.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
                *out += x0 * f32::from_le_bytes(*w0);
                *out += x1 * f32::from_le_bytes(*w1);
                *out += x2 * f32::from_le_bytes(*w2);
                *out += x3 * f32::from_le_bytes(*w3);
            }
        }
        rest => {
            for &(x, row) in rest {
                for (out, w) in out.iter_mut().zip(f32s(row)) {
                    *out += x * f32::from_le_bytes(*w);
                }
            }
        }
    });
    let (bias, _) = bias.as_chunks::<4>();
    for (out, bias) in out.iter_mut().zip(bias) {
        *out += f32::from_le_bytes(*bias);
    }
}

/// `out[k] = bias[k] + Σ_j input[j] · W[j][k]` with int8 weights, input-major, and int32
/// little-endian bias. `input` yields the raw activations (pixels `0..=255` or int8
/// `-128..=127`; any value in `-255..=255` is handled).
///
/// Each product `x · w` fits an i16 (`255 · 128 = 32640`), so the multiplies run at 16 bits
/// (SSE2 `pmullw`, wasm `i16x8.mul`) and only the sum of four is widened. The int32 sums
/// wrap like the reference's, and wrapping addition does not depend on the order of terms,
/// so the results are bit-exact.
#[inline]
pub fn dense_int8<I>(input: I, weights: &[u8], bias: &[u8], out: &mut [i32])
where
    I: Iterator<Item = i16>,
{
    let outputs = out.len();
    let rows = super::column_window(weights, outputs, 0..outputs);
    dense_int8_rows(input, rows, bias, out);
}

/// [`dense_int8`] over the rows `rows` yields, one per input: the whole rows, or the same
/// window of columns of each row (a block of outputs; `bias` and `out` are then that block's).
#[inline]
pub fn dense_int8_rows<'w, I, R>(input: I, rows: R, bias: &[u8], out: &mut [i32])
where
    I: Iterator<Item = i16>,
    R: Iterator<Item = &'w [u8]>,
{
    super::start_from_bias(out, bias);
    if cfg!(all(
        target_arch = "arm",
        target_os = "none",
        not(target_has_atomic = "ptr")
    )) {
        // Cortex-M0/M0+/M1 (ARMv6-M) and M23 (ARMv8-M Baseline): stable Rust sets no Arm
        // target features, and the missing compare-and-swap is what tells these cores from
        // the others. With eight low registers, `MULS` on 32 bits and no 16-bit SIMD, the
        // four-row loop below spilled its inputs and sign-extended every 16-bit product: one
        // row at a time with 32-bit products is 690,952 instructions per MNIST inference
        // against 882,546 (BENCHMARKS.md), the same sums, bit for bit.
        for (x, row) in input.zip(rows) {
            if x == 0 {
                continue;
            }
            let x = i32::from(x);
            for (out, &w) in out.iter_mut().zip(row) {
                *out = out.wrapping_add(x * i32::from(w as i8));
            }
        }
        return;
    }
    let rows = input.zip(rows).filter(|&(x, _)| x != 0);
    for_each_group(rows, |group| match group {
        [(x0, r0), (x1, r1), (x2, r2), (x3, r3)] => {
            for ((((out, &w0), &w1), &w2), &w3) in
                out.iter_mut().zip(*r0).zip(*r1).zip(*r2).zip(*r3)
            {
                let sum = i32::from(x0.wrapping_mul(i16::from(w0 as i8)))
                    + i32::from(x1.wrapping_mul(i16::from(w1 as i8)))
                    + i32::from(x2.wrapping_mul(i16::from(w2 as i8)))
                    + i32::from(x3.wrapping_mul(i16::from(w3 as i8)));
                *out = out.wrapping_add(sum);
            }
        }
        rest => {
            for &(x, row) in rest {
                for (out, &w) in out.iter_mut().zip(row) {
                    *out = out.wrapping_add(i32::from(x.wrapping_mul(i16::from(w as i8))));
                }
            }
        }
    });
}

/// [`super::reference::requantize`], with the same results: when every shift is a right
/// shift (hidden layers almost always scale down) the two roundings fold into one
/// (`fixed_point::multiply_by_right_shifted_multiplier`).
#[inline]
pub fn requantize(
    sums: &[i32],
    multipliers: &[u8],
    shifts: &[u8],
    zero_point: i32,
    low: i32,
    out: &mut [i8],
) {
    if !super::right_shifts_only(shifts) {
        super::reference::requantize(sums, multipliers, shifts, zero_point, low, out);
        return;
    }
    let (multipliers, _) = multipliers.as_chunks::<4>();
    for (((out, &sum), multiplier), &shift) in out.iter_mut().zip(sums).zip(multipliers).zip(shifts)
    {
        let right = u32::from((shift as i8).unsigned_abs());
        let multiplier = i32::from_le_bytes(*multiplier);
        let scaled = multiply_by_right_shifted_multiplier(sum, multiplier, right);
        *out = scaled.saturating_add(zero_point).max(low).min(127) as i8;
    }
}

/// Calls `f` with the items of `rows` in groups of [`ROWS`], the last group shorter.
#[inline(always)]
pub(super) fn for_each_group<T: Copy + Default, R: Iterator<Item = T>>(
    rows: R,
    mut f: impl FnMut(&[T]),
) {
    let mut group = [T::default(); ROWS];
    let mut len = 0;
    for row in rows {
        if let Some(slot) = group.get_mut(len) {
            *slot = row;
        }
        len += 1;
        if len == ROWS {
            f(&group);
            len = 0;
        }
    }
    f(group.get(..len).unwrap_or_default());
}

fn f32s(row: &[u8]) -> &[[u8; 4]] {
    row.as_chunks::<4>().0
}
