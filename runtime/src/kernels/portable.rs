//! Fast portable kernels: one input row at a time over contiguous weights, skipping zero
//! inputs. Plain Rust that LLVM vectorizes on every target (SSE2, wasm SIMD, Helium).

/// `out[k] = bias[k] + Σ_j input[j] · W[j][k]` with little-endian f32 weights, input-major.
///
/// Adds the terms of each output in the same order as the reference kernel, so results agree
/// bit for bit except for the sign of a zero sum.
#[inline]
pub fn dense_f32<I>(input: I, weights: &[u8], bias: &[u8], out: &mut [f32])
where
    I: Iterator<Item = f32>,
{
    let outputs = out.len();
    if outputs == 0 {
        return;
    }
    out.fill(0.0);
    let (weights, _) = weights.as_chunks::<4>();
    for (x, row) in input.zip(weights.chunks_exact(outputs)) {
        if x == 0.0 {
            continue;
        }
        for (out, w) in out.iter_mut().zip(row) {
            *out += x * f32::from_le_bytes(*w);
        }
    }
    let (bias, _) = bias.as_chunks::<4>();
    for (out, bias) in out.iter_mut().zip(bias) {
        *out += f32::from_le_bytes(*bias);
    }
}

/// `out[k] = bias[k] + Σ_j input[j] · W[j][k]` with int8 weights, input-major, and int32
/// little-endian bias. `input` yields activations minus their zero point (`-255..=255`).
///
/// Each product `x · w` fits an i16 (`255 · 128 = 32640`), so the multiply runs at 16 bits
/// (SSE2 `pmullw`, wasm `i16x8.mul`) and only the sum is widened.
#[inline]
pub fn dense_int8<I>(input: I, weights: &[u8], bias: &[u8], out: &mut [i32])
where
    I: Iterator<Item = i16>,
{
    let outputs = out.len();
    if outputs == 0 {
        return;
    }
    let (bias, _) = bias.as_chunks::<4>();
    for (out, bias) in out.iter_mut().zip(bias) {
        *out = i32::from_le_bytes(*bias);
    }
    for (x, row) in input.zip(weights.chunks_exact(outputs)) {
        if x == 0 {
            continue;
        }
        for (out, &w) in out.iter_mut().zip(row) {
            *out = out.wrapping_add(i32::from(x.wrapping_mul(i16::from(w as i8))));
        }
    }
}
