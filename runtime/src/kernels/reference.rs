//! Reference kernels: one output at a time, straight from the formula. Slow, obviously
//! right, and the yardstick for every faster kernel.

/// `out[k] = bias[k] + Σ_j input[j] · W[j][k]` with little-endian f32 weights, input-major.
pub fn dense_f32<I>(input: I, weights: &[u8], bias: &[u8], out: &mut [f32])
where
    I: Iterator<Item = f32> + Clone,
{
    let outputs = out.len();
    if outputs == 0 {
        return;
    }
    let (weights, _) = weights.as_chunks::<4>();
    let (bias, _) = bias.as_chunks::<4>();
    for (k, (out, bias)) in out.iter_mut().zip(bias).enumerate() {
        let column = weights.iter().skip(k).step_by(outputs);
        let mut sum = 0.0_f32;
        for (x, w) in input.clone().zip(column) {
            sum += x * f32::from_le_bytes(*w);
        }
        *out = sum + f32::from_le_bytes(*bias);
    }
}

/// `out[k] = bias[k] + Σ_j input[j] · W[j][k]` with int8 weights, input-major, and int32
/// little-endian bias. `input` yields the raw activations (pixels `0..=255` or int8
/// `-128..=127`; any value in `-255..=255` is handled).
pub fn dense_int8<I>(input: I, weights: &[u8], bias: &[u8], out: &mut [i32])
where
    I: Iterator<Item = i16> + Clone,
{
    let outputs = out.len();
    if outputs == 0 {
        return;
    }
    let (bias, _) = bias.as_chunks::<4>();
    for (k, (out, bias)) in out.iter_mut().zip(bias).enumerate() {
        let column = weights.iter().skip(k).step_by(outputs);
        let mut sum = i32::from_le_bytes(*bias);
        for (x, &w) in input.clone().zip(column) {
            sum = sum.wrapping_add(i32::from(x) * i32::from(w as i8));
        }
        *out = sum;
    }
}

/// `out[k] = clamp(zero_point + MBQM(sums[k], multipliers[k], shifts[k]), low, 127)`: the
/// fixed-point step from a hidden layer's int32 sums to its int8 outputs, exactly as
/// `FORMAT.md` states it (`low` is the output zero point for a fused ReLU, else `-128`).
/// `multipliers` are little-endian i32, `shifts` i8, one per output.
pub fn requantize(
    sums: &[i32],
    multipliers: &[u8],
    shifts: &[u8],
    zero_point: i32,
    low: i32,
    out: &mut [i8],
) {
    let (multipliers, _) = multipliers.as_chunks::<4>();
    for (((out, &sum), multiplier), &shift) in out.iter_mut().zip(sums).zip(multipliers).zip(shifts)
    {
        let multiplier = i32::from_le_bytes(*multiplier);
        let scaled =
            crate::fixed_point::multiply_by_quantized_multiplier(sum, multiplier, shift as i8);
        *out = scaled.saturating_add(zero_point).max(low).min(127) as i8;
    }
}
