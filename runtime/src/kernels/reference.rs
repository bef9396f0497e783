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
