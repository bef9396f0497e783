//! Fixed-point requantization, bit-compatible with TFLite Micro and CMSIS-NN.
//!
//! A real multiplier `m` in `(0, 1)` or somewhat above is stored as a Q31 fraction in
//! `[2^30, 2^31)` and a power-of-two `shift`, so that `m ≈ multiplier / 2^31 * 2^shift`.
//! The same rounding as TFLite's `MultiplyByQuantizedMultiplier` keeps results identical to
//! that reference everywhere, with integer arithmetic only (Cortex-M0+ has no FPU).

/// Smallest valid requantization multiplier (`0.5` in Q31).
pub const MIN_MULTIPLIER: i32 = 1 << 30;

/// Smallest valid shift.
pub const MIN_SHIFT: i8 = -31;

/// Largest valid shift.
pub const MAX_SHIFT: i8 = 30;

/// Whether `multiplier` and `shift` are in the ranges this module handles.
pub fn is_valid_requantization(multiplier: i32, shift: i8) -> bool {
    multiplier >= MIN_MULTIPLIER && (MIN_SHIFT..=MAX_SHIFT).contains(&shift)
}

/// `round(a * b / 2^31)` with ties rounded up, saturating the one overflowing case
/// (TFLite's `SaturatingRoundingDoublingHighMul`).
///
/// TFLite adds a nudge of `2^30` (or `1 - 2^30` below zero) and divides with truncation;
/// that equals `floor((a·b + 2^30) / 2^31)`, which is what this computes, branch-free.
#[inline]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    let product = i64::from(a) * i64::from(b);
    // Only a = b = i32::MIN reaches 2^31, which saturates to i32::MAX.
    ((product + (1 << 30)) >> 31).min(i64::from(i32::MAX)) as i32
}

/// `x / 2^exponent`, rounded half away from zero (TFLite's `RoundingDivideByPOT`);
/// `exponent` is capped at 31.
///
/// TFLite compares the remainder with a threshold; adding half (less one below zero) before
/// an arithmetic shift gives the same result without a branch.
#[inline]
pub fn rounding_divide_by_power_of_two(x: i32, exponent: u32) -> i32 {
    let exponent = exponent.min(31);
    let half = (1_i64 << exponent) >> 1;
    let nudge = (half - i64::from(x < 0)).max(0);
    ((i64::from(x) + nudge) >> exponent) as i32
}

/// `x * multiplier / 2^31 * 2^shift`, rounded as TFLite does.
///
/// `shift` must be in `[-31, 30]`; the model loader checks that. A left shift that would
/// overflow saturates instead of wrapping.
#[inline]
#[allow(clippy::manual_clamp)] // clamp's bounds assertion would link a panic path
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i8) -> i32 {
    let left = shift.max(0).min(31) as u32;
    let right = (-shift.min(0).max(-31)) as u32;
    let shifted = (i64::from(x) << left)
        .max(i64::from(i32::MIN))
        .min(i64::from(i32::MAX)) as i32;
    rounding_divide_by_power_of_two(
        saturating_rounding_doubling_high_mul(shifted, multiplier),
        right,
    )
}

/// [`multiply_by_quantized_multiplier`]`(x, multiplier, -right)` for a positive multiplier and
/// `right` in `0..=31`, with fewer operations: the requantization of hidden layers, whose
/// shifts are almost always right shifts.
///
/// The two roundings fold into one shift: with `p = x · multiplier`, `h = ⌊(p + 2^30) / 2^31⌋`
/// and `c` the rounding nudge of the right shift (`2^(right−1)`, less one if `h < 0`, which
/// is when `p + 2^30 < 0`), `⌊(h + c) / 2^right⌋ = ⌊(p + 2^30 + c·2^31) / 2^(31+right)⌋`.
/// No saturation is needed: `|p| < 2^62` for a positive multiplier.
#[inline]
pub(crate) fn multiply_by_right_shifted_multiplier(x: i32, multiplier: i32, right: u32) -> i32 {
    let right = right.min(31);
    let nudged = i64::from(x) * i64::from(multiplier) + (1 << 30);
    let half = (1_i64 << right) >> 1;
    let c = (half - i64::from(nudged < 0)).max(0);
    ((nudged + (c << 31)) >> (31 + right)) as i32
}

/// Splits a positive real multiplier into a Q31 multiplier and a shift (TFLite's
/// `QuantizeMultiplier`). Returns `None` if `real` is not finite and positive or is outside
/// the range the shift can express (about `2^-31` to `2^30`).
pub fn quantize_multiplier(real: f64) -> Option<(i32, i8)> {
    if !(real.is_finite() && real > 0.0) {
        return None;
    }
    // real = fraction * 2^exponent with fraction in [0.5, 1).
    let mut exponent = libm::ilogb(real) + 1;
    let mut fraction = libm::ldexp(real, -exponent);
    let mut q = libm::round(fraction * (1_i64 << 31) as f64) as i64;
    if q == 1_i64 << 31 {
        q /= 2;
        exponent += 1;
    }
    if q < i64::from(MIN_MULTIPLIER) {
        // Only reachable through rounding of subnormal-sized inputs.
        fraction *= 2.0;
        exponent -= 1;
        q = libm::round(fraction * (1_i64 << 31) as f64) as i64;
    }
    let shift = i8::try_from(exponent).ok()?;
    let multiplier = i32::try_from(q).ok()?;
    is_valid_requantization(multiplier, shift).then_some((multiplier, shift))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_tflite_reference_values() {
        // (x, multiplier, shift, expected), worked out by hand from the definitions in TFLite's
        // reference code (note SRDHM rounds -50.5 to -50, RoundingDivideByPOT -62.5 to -63).
        let cases: &[(i32, i32, i8, i32)] = &[
            (100, 1 << 30, 0, 50),
            (101, 1 << 30, 0, 51),
            (-101, 1 << 30, 0, -50),
            (1000, 1 << 30, -3, 63),
            (-1000, 1 << 30, -3, -63),
            (3, 1 << 30, 1, 3),
            (i32::MAX, i32::MAX, 0, i32::MAX - 1),
            (i32::MIN, i32::MIN, 0, i32::MAX),
            (12345, 1_518_500_250, -5, 273),
        ];
        for &(x, m, s, expected) in cases {
            assert_eq!(
                multiply_by_quantized_multiplier(x, m, s),
                expected,
                "{x} {m} {s}"
            );
        }
    }

    #[test]
    fn quantize_multiplier_round_trips() {
        for &real in &[0.5, 0.75, 1.0, 1.5, 0.001, 3.0e-5, 123.25, 0.999_999_999] {
            let (m, s) = quantize_multiplier(real).unwrap();
            let back = f64::from(m) / (1_u64 << 31) as f64 * libm::pow(2.0, f64::from(s));
            assert!(
                (back - real).abs() / real < 1e-9,
                "{real} -> {m} {s} -> {back}"
            );
        }
        assert_eq!(quantize_multiplier(0.0), None);
        assert_eq!(quantize_multiplier(-1.0), None);
        assert_eq!(quantize_multiplier(f64::NAN), None);
        assert_eq!(quantize_multiplier(1e300), None);
    }

    #[test]
    fn right_shifted_variant_agrees() {
        let xs = [
            0,
            1,
            -1,
            63,
            -64,
            12345,
            -12345,
            i32::MAX,
            i32::MIN,
            1 << 20,
            -(1 << 20) - 7,
        ];
        use rand_xoshiro::rand_core::{Rng as _, SeedableRng as _};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(0x9e37_79b9);
        let random = core::iter::repeat_with(move || rng.next_u32() as i32);
        for x in xs.into_iter().chain(random.take(2000)) {
            for m in [1 << 30, 1_077_952_640, 1_518_500_250, i32::MAX] {
                for right in 0..=31u32 {
                    assert_eq!(
                        multiply_by_right_shifted_multiplier(x, m, right),
                        multiply_by_quantized_multiplier(x, m, -(right as i8)),
                        "{x} {m} {right}"
                    );
                }
            }
        }
    }

    #[test]
    fn rounding_divide_rounds_half_away_from_zero() {
        assert_eq!(rounding_divide_by_power_of_two(5, 1), 3);
        assert_eq!(rounding_divide_by_power_of_two(-5, 1), -3);
        assert_eq!(rounding_divide_by_power_of_two(4, 1), 2);
        assert_eq!(rounding_divide_by_power_of_two(-4, 1), -2);
        assert_eq!(rounding_divide_by_power_of_two(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_power_of_two(7, 0), 7);
    }
}
