//! Softmax and argmax over the final logits: the only floating point an int8 model uses.

/// Replaces logits by their softmax.
///
/// Subtracts the maximum first, so no `exp` overflows. With the `fast-math` feature `exp`
/// is micromath's approximation (relative error below [`FAST_EXP_MAX_ERROR`]); otherwise it
/// is libm's, which gives the same bits on every target.
pub fn softmax_in_place(values: &mut [f32]) {
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0_f32;
    for v in values.iter_mut() {
        *v = exp(*v - max);
        sum += *v;
    }
    if sum > 0.0 {
        let inverse = 1.0 / sum;
        for p in values.iter_mut() {
            *p *= inverse;
        }
    }
}

/// Index of the first largest value (0 for an empty slice or all NaN).
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    let mut best_value = f32::NEG_INFINITY;
    for (i, &v) in values.iter().enumerate() {
        if v > best_value {
            best = i;
            best_value = v;
        }
    }
    best
}

/// Largest relative error of the `fast-math` exponential against libm on the range softmax
/// uses (`x <= 0`, results above `1e-30`); checked by a test, which measures 2.39e-3 (with
/// micromath 2.1) over `x` in `(-69, 0]` in steps of 0.01.
pub const FAST_EXP_MAX_ERROR: f32 = 2.5e-3;

#[cfg(not(feature = "fast-math"))]
#[inline]
fn exp(x: f32) -> f32 {
    libm::expf(x)
}

#[cfg(feature = "fast-math")]
#[inline]
fn exp(x: f32) -> f32 {
    // The wrapper type keeps std's inherent `f32::exp` from shadowing micromath on hosts.
    micromath::F32(x).exp().0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_to_one_and_orders_like_logits() {
        let mut p = [1.0, 3.0, -2.0, 0.5];
        softmax_in_place(&mut p);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(argmax(&p), 1);
        assert!((p[1] - 0.8169).abs() < 2e-3, "{p:?}");
    }

    #[test]
    fn survives_huge_logits() {
        let logits = [1e30, -1e30, 1e30];
        let mut p = logits;
        softmax_in_place(&mut p);
        assert_eq!(p, [0.5, 0.0, 0.5]);
        assert_eq!(argmax(&logits), 0);
    }

    #[test]
    fn argmax_ignores_nan() {
        assert_eq!(argmax(&[f32::NAN, 1.0, 2.0]), 2);
        assert_eq!(argmax(&[]), 0);
    }

    #[test]
    fn fast_exp_error_is_within_documented_bound() {
        let mut worst = 0.0_f32;
        let mut x = 0.0_f32;
        while x > -69.0 {
            let exact = libm::expf(x);
            let approx = exp(x);
            worst = worst.max(((approx - exact) / exact).abs());
            x -= 0.01;
        }
        assert!(worst <= FAST_EXP_MAX_ERROR, "worst relative error {worst}");
    }
}
