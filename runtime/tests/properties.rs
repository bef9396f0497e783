//! Property tests over random shapes and values:
//! - every kernel against the reference kernel (one shared body per operation, instantiated
//!   per backend, plus fixed `(input, expected)` tables): int8 bit for bit, f32 within
//!   [`tinymlp::kernels::F32_TOLERANCE`];
//! - the f32 forward pass against an f64 reference, within a rounding-error bound;
//! - the int8 forward pass against a straightforward integer reference written here from
//!   `FORMAT.md`, bit for bit;
//! - the int8 forward pass against the float model it was quantized from, within the bound
//!   quantization error allows (derived at [`int8_error_bound`]);
//! - feature models (format version 3): the f32 pass on raw features against the
//!   standardization written out here followed by the f64 reference, within the same bound;
//!   the int8 pass against the quantization of the features written out here from
//!   `FORMAT.md` followed by the integer reference, bit for bit.

mod common;

use common::{
    f32_bytes, i32_bytes, i8_bytes, random_float_model, row_input, FloatModel, OwnedFeatures,
    OwnedLayer, OwnedModel, OwnedParams, OwnedRequantization, Random,
};
use proptest::prelude::*;
use tinymlp::{
    Activation, F32Scratch, Header, InputSpec, Int8Scratch, Model, Quantization, RawOutputs,
};

// ---------------------------------------------------------------------------------------
// Kernels: one body per operation, one instantiation per backend.

/// An int8 kernel, instantiated for slice inputs.
type Int8Kernel = fn(std::iter::Copied<std::slice::Iter<'_, i16>>, &[u8], &[u8], &mut [i32]);
/// An f32 kernel, instantiated for slice inputs.
type F32Kernel = fn(std::iter::Copied<std::slice::Iter<'_, f32>>, &[u8], &[u8], &mut [f32]);

/// Checks an int8 kernel against the reference, bit for bit.
fn check_dense_int8(
    kernel: Int8Kernel,
    input: &[i16],
    weights: &[u8],
    bias: &[u8],
    outputs: usize,
) -> Vec<i32> {
    let mut expected = vec![0x5a5a_5a5a; outputs];
    tinymlp::kernels::reference::dense_int8(input.iter().copied(), weights, bias, &mut expected);
    let mut got = vec![-1; outputs];
    kernel(input.iter().copied(), weights, bias, &mut got);
    assert_eq!(got, expected, "input {input:?}");
    got
}

/// Checks an f32 kernel against the reference within `F32_TOLERANCE` times the sum of the
/// absolute values of the terms (the scale of the rounding error of any summation order).
fn check_dense_f32(
    kernel: F32Kernel,
    input: &[f32],
    weights: &[u8],
    bias: &[u8],
    outputs: usize,
) -> Vec<f32> {
    let mut expected = vec![f32::NAN; outputs];
    tinymlp::kernels::reference::dense_f32(input.iter().copied(), weights, bias, &mut expected);
    let mut got = vec![f32::NAN; outputs];
    kernel(input.iter().copied(), weights, bias, &mut got);
    let (w, _) = weights.as_chunks::<4>();
    let (b, _) = bias.as_chunks::<4>();
    for k in 0..outputs {
        let magnitude: f32 = input
            .iter()
            .zip(w.iter().skip(k).step_by(outputs))
            .map(|(x, w)| (x * f32::from_le_bytes(*w)).abs())
            .sum::<f32>()
            + f32::from_le_bytes(b[k]).abs();
        let difference = (got[k] - expected[k]).abs();
        assert!(
            difference <= tinymlp::kernels::F32_TOLERANCE * magnitude.max(1.0),
            "output {k}: {} vs reference {}",
            got[k],
            expected[k]
        );
    }
    got
}

/// Random kernel operands: (outputs, inputs with many zeros, weights, bias). The inputs are
/// pixels (`0..=255`), int8 activations (`-128..=127`) or anything a kernel takes
/// (`-255..=255`): the VNNI kernel takes another path for each.
fn int8_operands() -> impl Strategy<Value = (usize, Vec<i16>, Vec<u8>, Vec<u8>)> {
    // Up to 150 inputs (over two batches of 64 non-zero rows in the x86 kernels) and up to
    // 160 outputs (blocks of 64, 32, 16 and 8 plus a tail).
    (1usize..=150, 1usize..=160, 0usize..3).prop_flat_map(|(inputs, outputs, range)| {
        let (low, high): (i16, i16) = [(0, 255), (-128, 127), (-255, 255)][range];
        let value = prop_oneof![
            3 => Just(0i16),
            5 => low..=high,
            1 => Just(high),
            1 => Just(low),
        ];
        (
            Just(outputs),
            proptest::collection::vec(value, inputs),
            proptest::collection::vec(any::<u8>(), inputs * outputs),
            proptest::collection::vec(any::<i32>(), outputs).prop_map(|b| i32_bytes(&b)),
        )
    })
}

/// Operands of a requantization: `(sums, multipliers, shifts, zero_point, low)`. Mostly
/// right shifts only (the fast paths), sometimes any valid shift; sums over the whole i32
/// range with the edge values; `low` the zero point (a fused ReLU) or -128.
type RequantizeOperands = (Vec<i32>, Vec<u8>, Vec<u8>, i32, i32);

fn requantize_operands() -> impl Strategy<Value = RequantizeOperands> {
    (0usize..=40, any::<bool>(), -128i32..=127, any::<bool>()).prop_flat_map(
        |(len, right_only, zero_point, relu)| {
            let sum = prop_oneof![
                4 => any::<i32>(),
                4 => -100_000i32..=100_000,
                4 => -300i32..=300, // with small shifts: many exact ties to round
                1 => Just(i32::MAX),
                1 => Just(i32::MIN),
                1 => Just(0),
            ];
            let multiplier = prop_oneof![
                4 => (1i32 << 30)..=i32::MAX,
                1 => Just(1i32 << 30),
                1 => Just(i32::MAX),
            ];
            let shift = if right_only {
                prop_oneof![1 => -3i8..=0, 1 => -31i8..=0].boxed()
            } else {
                prop_oneof![1 => -3i8..=3, 1 => -31i8..=30].boxed()
            };
            (
                proptest::collection::vec(sum, len),
                proptest::collection::vec(multiplier, len).prop_map(|m| i32_bytes(&m)),
                proptest::collection::vec(shift, len).prop_map(|s| i8_bytes(&s)),
                Just(zero_point),
                Just(if relu { zero_point } else { -128 }),
            )
        },
    )
}

/// A requantization kernel.
type RequantizeKernel = fn(&[i32], &[u8], &[u8], i32, i32, &mut [i8]);

/// Checks a requantization kernel against the reference, bit for bit.
fn check_requantize(kernel: RequantizeKernel, operands: &RequantizeOperands) {
    let (sums, multipliers, shifts, zero_point, low) = operands;
    let mut expected = vec![0; sums.len()];
    tinymlp::kernels::reference::requantize(
        sums,
        multipliers,
        shifts,
        *zero_point,
        *low,
        &mut expected,
    );
    let mut got = vec![0; sums.len()];
    kernel(sums, multipliers, shifts, *zero_point, *low, &mut got);
    assert_eq!(got, expected, "{operands:?}");
}

fn f32_operands() -> impl Strategy<Value = (usize, Vec<f32>, Vec<u8>, Vec<u8>)> {
    (1usize..=40, 1usize..=40).prop_flat_map(|(inputs, outputs)| {
        let value = prop_oneof![1 => Just(0.0f32), 3 => -4.0f32..4.0];
        (
            Just(outputs),
            proptest::collection::vec(value.clone(), inputs),
            proptest::collection::vec(-2.0f32..2.0, inputs * outputs).prop_map(|w| f32_bytes(&w)),
            proptest::collection::vec(value, outputs).prop_map(|b| f32_bytes(&b)),
        )
    })
}

/// `(inputs, outputs, x, W input-major, bias, expected)`, worked out by hand.
type Int8Case = (
    &'static [i16],
    usize,
    &'static [i8],
    &'static [i32],
    &'static [i32],
);
const INT8_TABLE: &[Int8Case] = &[
    // 1 input, 1 output: 3·(−4) + 5.
    (&[3], 1, &[-4], &[5], &[-7]),
    // 2 inputs, 3 outputs: row 0 = [1, 2, 3], row 1 = [−1, −2, −128].
    (
        &[10, -2],
        3,
        &[1, 2, 3, -1, -2, -128],
        &[0, 100, -1],
        &[12, 124, 285],
    ),
    // The extreme products: 255·(−128) and (−255)·(−128), plus a zero input that is skipped.
    (&[255, 0, -255], 1, &[-128, 127, -128], &[0], &[0]),
    (
        &[255, -255],
        2,
        &[-128, 127, 127, -128],
        &[1, 1],
        &[-65_024, 65_026],
    ),
    // The int32 sum wraps like the reference's `wrapping_add`.
    (&[1], 1, &[1], &[i32::MAX], &[i32::MIN]),
];

type F32Case = (
    &'static [f32],
    usize,
    &'static [f32],
    &'static [f32],
    &'static [f32],
);
const F32_TABLE: &[F32Case] = &[
    (&[2.0], 1, &[-0.5], &[0.25], &[-0.75]),
    (
        &[1.0, 0.0, -3.0],
        2,
        &[1.0, 2.0, 100.0, 100.0, 0.5, -0.25],
        &[0.0, 1.0],
        &[-0.5, 3.75],
    ),
    (&[0.0, 0.0], 1, &[1.0, 1.0], &[-2.5], &[-2.5]),
];

/// The int8 kernel tests for each `backend => module` (the module has `dense_int8` and
/// `requantize`).
macro_rules! int8_kernel_tests {
    ($($backend:ident => $module:path),* $(,)?) => {$(
        mod $backend {
            use super::*;
            use $module as kernels;

            fn int8(
                input: std::iter::Copied<std::slice::Iter<'_, i16>>,
                weights: &[u8],
                bias: &[u8],
                out: &mut [i32],
            ) {
                kernels::dense_int8(input, weights, bias, out)
            }

            proptest! {
                #[test]
                fn dense_int8_matches_reference((outputs, input, weights, bias) in int8_operands()) {
                    check_dense_int8(int8, &input, &weights, &bias, outputs);
                }

                #[test]
                fn requantize_matches_reference(operands in requantize_operands()) {
                    check_requantize(kernels::requantize, &operands);
                }
            }

            #[test]
            fn dense_int8_table() {
                for &(input, outputs, weights, bias, expected) in INT8_TABLE {
                    let got = check_dense_int8(int8, input, &i8_bytes(weights), &i32_bytes(bias), outputs);
                    assert_eq!(got, expected, "{input:?}");
                }
            }
        }
    )*};
}

/// The f32 kernel tests for each `backend => module` (the module has `dense_f32`).
macro_rules! f32_kernel_tests {
    ($($backend:ident => $module:path),* $(,)?) => {$(
        mod $backend {
            use super::*;
            use $module as kernels;

            fn f32(
                input: std::iter::Copied<std::slice::Iter<'_, f32>>,
                weights: &[u8],
                bias: &[u8],
                out: &mut [f32],
            ) {
                kernels::dense_f32(input, weights, bias, out)
            }

            proptest! {
                #[test]
                fn dense_f32_matches_reference((outputs, input, weights, bias) in f32_operands()) {
                    check_dense_f32(f32, &input, &weights, &bias, outputs);
                }
            }

            #[test]
            fn dense_f32_table() {
                for &(input, outputs, weights, bias, expected) in F32_TABLE {
                    let got = check_dense_f32(f32, input, &f32_bytes(weights), &f32_bytes(bias), outputs);
                    assert_eq!(got, expected, "{input:?}");
                }
            }
        }
    )*};
}

int8_kernel_tests! {
    portable_int8 => tinymlp::kernels::portable,
    // Whatever `tinymlp::kernels` selects for this target (the model's forward pass uses it).
    selected_int8 => tinymlp::kernels,
}

/// The x86-64 kernels at each instruction set level, whatever this CPU would pick.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod x86_levels {
    macro_rules! at_level {
        ($name:ident, $level:expr) => {
            pub mod $name {
                use tinymlp::kernels::x86::{
                    dense_i8_inputs_at, dense_int8_at, dense_u8_inputs_at, requantize_at, Level,
                };

                pub const LEVEL: Level = $level;

                pub fn dense_u8_inputs(
                    inputs: &[&[u8]],
                    weights: &[u8],
                    bias: &[u8],
                    sums: &mut [&mut [i32]],
                ) {
                    dense_u8_inputs_at(LEVEL, inputs, weights, bias, sums);
                }

                pub fn dense_i8_inputs(
                    inputs: &[&[i8]],
                    weights: &[u8],
                    bias: &[u8],
                    sums: &mut [&mut [i32]],
                ) {
                    dense_i8_inputs_at(LEVEL, inputs, weights, bias, sums);
                }

                pub fn dense_int8<I: Iterator<Item = i16>>(
                    input: I,
                    weights: &[u8],
                    bias: &[u8],
                    out: &mut [i32],
                ) {
                    dense_int8_at(LEVEL, input, weights, bias, out);
                }

                pub fn requantize(
                    sums: &[i32],
                    multipliers: &[u8],
                    shifts: &[u8],
                    zero_point: i32,
                    low: i32,
                    out: &mut [i8],
                ) {
                    requantize_at(LEVEL, sums, multipliers, shifts, zero_point, low, out);
                }
            }
        };
    }
    at_level!(sse2, Level::Sse2);
    at_level!(avx2, Level::Avx2);
    at_level!(vnni, Level::Avx512Vnni);

    #[test]
    fn says_whether_avx2_and_vnni_are_tested() {
        // Without AVX2 the AVX2 instances run the SSE2 code: say so rather than pass quietly.
        if !avx2::LEVEL.is_available() {
            eprintln!("this CPU has no AVX2: the x86_avx2_int8 tests ran the SSE2 kernels");
        }
        if !vnni::LEVEL.is_available() {
            eprintln!("this CPU has no AVX-512 VNNI: the x86_vnni_int8 tests ran a lower level");
        }
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
int8_kernel_tests! {
    x86_sse2_int8 => crate::x86_levels::sse2,
    x86_avx2_int8 => crate::x86_levels::avx2,
    x86_vnni_int8 => crate::x86_levels::vnni,
}

/// Random operands of the many-inputs kernel: (outputs, pixel inputs of one length with
/// many zeros, weights, bias).
fn u8_inputs_operands() -> impl Strategy<Value = (usize, Vec<Vec<u8>>, Vec<u8>, Vec<u8>)> {
    // Up to 40 inputs (more than a group of 32), 1..=300 long (more than a panel of 256
    // rows, whole and partial groups of four rows), up to 200 outputs (three blocks of 64
    // and a tail).
    let outputs = prop_oneof![1usize..=16, 1usize..=200];
    (1usize..=40, 1usize..=300, outputs).prop_flat_map(|(count, len, outputs)| {
        let pixel = prop_oneof![3 => Just(0u8), 3 => any::<u8>(), 1 => Just(255u8)];
        (
            Just(outputs),
            proptest::collection::vec(proptest::collection::vec(pixel, len), count),
            proptest::collection::vec(any::<u8>(), len * outputs),
            proptest::collection::vec(any::<i32>(), outputs).prop_map(|b| i32_bytes(&b)),
        )
    })
}

/// A kernel that sums one layer for several pixel inputs.
type U8InputsKernel = fn(&[&[u8]], &[u8], &[u8], &mut [&mut [i32]]);
/// A kernel that sums one layer for several int8 inputs.
type I8InputsKernel = fn(&[&[i8]], &[u8], &[u8], &mut [&mut [i32]]);

/// The reference kernel's sums of each input.
fn reference_sums<T: Copy + Into<i16>>(
    inputs: &[Vec<T>],
    weights: &[u8],
    bias: &[u8],
    outputs: usize,
) -> Vec<Vec<i32>> {
    inputs
        .iter()
        .map(|input| {
            let mut sums = vec![0; outputs];
            let input = input.iter().map(|&x| x.into());
            tinymlp::kernels::reference::dense_int8(input, weights, bias, &mut sums);
            sums
        })
        .collect()
}

/// The many-inputs kernel at every level against the reference kernel, input by input.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod x86_u8_inputs {
    use super::*;
    use tinymlp::kernels::x86::{dense_narrow_i8_at, dense_pixels_at, Level};

    proptest! {
        // Large cases (up to 40 inputs of 300 by 200): fewer of them.
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn dense_u8_inputs_matches_reference((outputs, inputs, weights, bias) in u8_inputs_operands()) {
            let slices: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
            let expected = reference_sums(&inputs, &weights, &bias, outputs);
            let kernels: [U8InputsKernel; 3] = [
                crate::x86_levels::sse2::dense_u8_inputs,
                crate::x86_levels::avx2::dense_u8_inputs,
                crate::x86_levels::vnni::dense_u8_inputs,
            ];
            for kernel in kernels {
                let mut got = vec![vec![-1; outputs]; inputs.len()];
                let mut sums: Vec<&mut [i32]> = got.iter_mut().map(Vec::as_mut_slice).collect();
                kernel(&slices, &weights, &bias, &mut sums);
                prop_assert_eq!(&got, &expected);
            }
            // One input at a time, as `predict` runs the first layer.
            for level in [Level::Sse2, Level::Avx2, Level::Avx512Vnni] {
                for (input, expected) in inputs.iter().zip(&expected) {
                    let mut got = vec![-1; outputs];
                    dense_pixels_at(level, input, &weights, &bias, &mut got);
                    prop_assert_eq!(&got, expected);
                }
            }
        }

        #[test]
        fn dense_i8_inputs_matches_reference((outputs, inputs, weights, bias) in u8_inputs_operands()) {
            // The same bytes as int8 activations; -128 (a dead ReLU at zero point -128) often.
            let inputs: Vec<Vec<i8>> = inputs
                .iter()
                .map(|input| input.iter().map(|&b| if b == 0 { -128 } else { b as i8 }).collect())
                .collect();
            let slices: Vec<&[i8]> = inputs.iter().map(Vec::as_slice).collect();
            let expected = reference_sums(&inputs, &weights, &bias, outputs);
            // One input at a time, as `predict` runs a narrow last layer.
            if outputs <= 16 {
                for level in [Level::Sse2, Level::Avx2, Level::Avx512Vnni] {
                    for (input, expected) in inputs.iter().zip(&expected) {
                        let mut got = vec![-1; outputs];
                        dense_narrow_i8_at(level, input, &weights, &bias, &mut got);
                        prop_assert_eq!(&got, expected);
                    }
                }
            }
            let kernels: [I8InputsKernel; 3] = [
                crate::x86_levels::sse2::dense_i8_inputs,
                crate::x86_levels::avx2::dense_i8_inputs,
                crate::x86_levels::vnni::dense_i8_inputs,
            ];
            for kernel in kernels {
                let mut got = vec![vec![-1; outputs]; inputs.len()];
                let mut sums: Vec<&mut [i32]> = got.iter_mut().map(Vec::as_mut_slice).collect();
                kernel(&slices, &weights, &bias, &mut sums);
                prop_assert_eq!(&got, &expected);
            }
        }
    }
}

f32_kernel_tests! {
    portable_f32 => tinymlp::kernels::portable,
    selected_f32 => tinymlp::kernels,
}

// ---------------------------------------------------------------------------------------
// Forward passes.

/// A random input description: small images, scales from coarse to fine, any zero point.
fn input_spec() -> impl Strategy<Value = InputSpec> {
    (
        1u16..=6,
        1u16..=3,
        1u16..=2,
        prop_oneof![Just(1.0f32 / 255.0), 1e-3f32..0.1],
        any::<u8>(),
    )
        .prop_map(|(width, height, channels, scale, zero_point)| InputSpec {
            width,
            height,
            channels,
            scale,
            zero_point,
        })
}

/// A random float model (1 to 3 layers, widths 1 to 10) and a few inputs for it.
fn float_model() -> impl Strategy<Value = (FloatModel, Vec<Vec<u8>>)> {
    (
        input_spec(),
        proptest::collection::vec(1usize..=10, 1..=3),
        any::<u64>(),
    )
        .prop_map(|(input, widths, seed)| {
            let model = random_float_model(input, &widths, seed);
            let mut rng = Random::new(seed ^ 0x1234_5678);
            let inputs = (0..4)
                .map(|_| {
                    (0..input.len())
                        .map(|_| {
                            // MNIST-like: many pixels at the zero point.
                            let r = rng.next_u64();
                            if r.is_multiple_of(3) {
                                input.zero_point
                            } else {
                                (r >> 8) as u8
                            }
                        })
                        .collect()
                })
                .collect();
            (model, inputs)
        })
}

/// Unit roundoff of f32 (half an ulp of 1).
const F32_UNIT_ROUNDOFF: f64 = f32::EPSILON as f64 / 2.0;

/// Higham's `γ_n = n·u / (1 − n·u)`: the relative error bound of an `n`-term f32 sum of
/// products (each product and each addition rounded once).
fn gamma(n: usize) -> f64 {
    let nu = n as f64 * F32_UNIT_ROUNDOFF;
    nu / (1.0 - nu)
}

/// Per-logit bound on |f32 forward pass − exact|: rounding of the input scaling (one
/// rounding per pixel), then per layer `Σ_j e_j·|w_jk| + γ_{n+1}·(Σ_j |x̃_j·w_jk| + |b_k|)`
/// with `|x̃_j| ≤ |x_j| + e_j`; ReLU does not increase errors.
fn f32_error_bound(model: &FloatModel, pixels: &[u8]) -> Vec<f64> {
    let x = model.real_input(pixels);
    let e: Vec<f64> = x.iter().map(|v| v.abs() * F32_UNIT_ROUNDOFF).collect();
    f32_error_bound_from(model, x, e)
}

/// [`f32_error_bound`] from the first layer's input values `x`, each off by at most `e`.
fn f32_error_bound_from(model: &FloatModel, mut x: Vec<f64>, mut e: Vec<f64>) -> Vec<f64> {
    let exact = model.forward_f64_from(x.clone());
    for (layer, y) in model.layers.iter().zip(exact) {
        let mut next_e = Vec::with_capacity(layer.outputs);
        for k in 0..layer.outputs {
            let mut propagated = 0.0;
            let mut magnitude = f64::from(layer.bias[k]).abs();
            for j in 0..layer.inputs {
                let w = f64::from(layer.weights[j * layer.outputs + k]).abs();
                propagated += e[j] * w;
                magnitude += (x[j].abs() + e[j]) * w;
            }
            // Plus an absolute allowance for subnormal results.
            next_e.push(propagated + gamma(layer.inputs + 2) * magnitude + 1e-37);
        }
        x = y;
        e = next_e;
    }
    e
}

proptest! {
    #[test]
    fn f32_forward_pass_matches_f64_within_rounding((model, inputs) in float_model()) {
        let blob = model.to_f32().encode();
        let loaded = Model::from_bytes(&blob).unwrap();
        for pixels in &inputs {
            let exact = model.forward_f64(pixels).pop().unwrap();
            let bound = f32_error_bound(&model, pixels);
            let mut scratch = F32Scratch::<10, 10>::new();
            let prediction = loaded.predict(pixels, &mut scratch).unwrap();
            let RawOutputs::F32(logits) = prediction.raw else { panic!("f32 model") };
            for k in 0..exact.len() {
                let error = (f64::from(logits[k]) - exact[k]).abs();
                prop_assert!(error <= bound[k], "logit {}: {} vs {} (bound {})", k, logits[k], exact[k], bound[k]);
            }
            assert_class_agrees(prediction.class, &exact, &bound);
        }
    }
}

/// If one class leads the exact logits by more than the error bounds allow, the computed
/// prediction names it.
fn assert_class_agrees(class: usize, exact: &[f64], bound: &[f64]) {
    let best = (0..exact.len())
        .max_by(|&a, &b| exact[a].total_cmp(&exact[b]).then(b.cmp(&a)))
        .unwrap();
    let clear = (0..exact.len())
        .filter(|&k| k != best)
        .all(|k| exact[best] - bound[best] > exact[k] + bound[k]);
    if clear {
        assert_eq!(class, best, "logits {exact:?} bounds {bound:?}");
    }
}

// --- The integer reference, written from FORMAT.md with i64/i128 arithmetic. ---

/// TFLite's `MultiplyByQuantizedMultiplier`: `x·2^max(shift,0)` (saturated to i32), then
/// `round(· × multiplier / 2^31)` with ties rounded up (towards +∞; TFLite's
/// `SaturatingRoundingDoublingHighMul`), then a rounding right shift by `max(−shift, 0)`
/// with ties away from zero (`RoundingDivideByPOT`).
fn reference_requantize(x: i32, multiplier: i32, shift: i8) -> i32 {
    let left = i64::from(shift.max(0));
    let right = i64::from((-shift).max(0));
    let shifted = (i64::from(x) << left).clamp(i64::from(i32::MIN), i64::from(i32::MAX));
    let product = i128::from(shifted) * i128::from(multiplier);
    let high = if shifted == i64::from(i32::MIN) && multiplier == i32::MIN {
        i64::from(i32::MAX)
    } else {
        // Round half up of product / 2^31.
        let half = 1i128 << 30;
        let rounded = if product >= 0 {
            (product + half) >> 31
        } else {
            -((-product + half - 1) >> 31)
        };
        rounded as i64
    };
    // Round half away from zero of high / 2^right.
    let divisor = 1i64 << right;
    let quotient = high.div_euclid(divisor);
    let remainder = high.rem_euclid(divisor);
    let twice = 2 * remainder;
    let rounded = if twice > divisor || (twice == divisor && high >= 0) {
        quotient + 1
    } else {
        quotient
    };
    rounded as i32
}

fn le_i32(bytes: &[u8]) -> Vec<i32> {
    bytes
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn le_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// The int8 forward pass as FORMAT.md states it: returns the last layer's int32 sums and
/// its logits `sum · input_scale · weight_scale[k]` (in f32, as the runtime computes them).
fn reference_int8_forward(model: &OwnedModel, pixels: &[u8]) -> (Vec<i32>, Vec<f32>) {
    reference_int8_forward_from(model, pixels.iter().map(|&p| i64::from(p)).collect())
}

/// [`reference_int8_forward`] from the first layer's raw integer inputs.
fn reference_int8_forward_from(
    model: &OwnedModel,
    mut activations: Vec<i64>,
) -> (Vec<i32>, Vec<f32>) {
    let last = model.layers.len() - 1;
    for (index, layer) in model.layers.iter().enumerate() {
        let OwnedParams::Int8 {
            input,
            weights,
            weight_scales,
            bias,
            requantization,
        } = &layer.params
        else {
            panic!("int8 model");
        };
        let outputs = layer.outputs as usize;
        let bias = le_i32(bias);
        let sums: Vec<i32> = (0..outputs)
            .map(|k| {
                // The raw inputs: the zero point is folded into the stored bias.
                let mut sum = i64::from(bias[k]);
                for (j, &a) in activations.iter().enumerate() {
                    sum += a * i64::from(weights[j * outputs + k] as i8);
                }
                // The runtime accumulates modulo 2^32.
                sum as i32
            })
            .collect();
        if index == last {
            let logits = sums
                .iter()
                .zip(le_f32(weight_scales))
                .map(|(&s, ws)| s as f32 * (input.scale * ws))
                .collect();
            return (sums, logits);
        }
        let requantization = requantization.as_ref().expect("hidden layers requantize");
        let multipliers = le_i32(&requantization.multipliers);
        let zero_point = i64::from(requantization.output.zero_point);
        let low = if layer.activation == Activation::Relu {
            zero_point
        } else {
            -128
        };
        activations = sums
            .iter()
            .enumerate()
            .map(|(k, &sum)| {
                let shift = requantization.shifts[k] as i8;
                let scaled = i64::from(reference_requantize(sum, multipliers[k], shift));
                (scaled + zero_point).clamp(low, 127)
            })
            .collect();
    }
    unreachable!("the last layer returns")
}

fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (k, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = k;
        }
    }
    best
}

fn run_int8(model: &OwnedModel, pixels: &[u8]) -> (Vec<i32>, usize) {
    let blob = model.encode();
    let loaded = Model::from_bytes(&blob).unwrap();
    let mut scratch = Int8Scratch::<10, 10>::new();
    let prediction = loaded.predict(pixels, &mut scratch).unwrap();
    // Summing the hidden outputs three at a time (blocks and a remainder) changes no bit.
    let mut blocked = Int8Scratch::<10, 10, 3>::new();
    let in_blocks = loaded.predict(pixels, &mut blocked).unwrap();
    assert_eq!(in_blocks.raw, prediction.raw);
    assert_eq!(in_blocks.probabilities, prediction.probabilities);
    let RawOutputs::Int32(sums) = prediction.raw else {
        panic!("int8 model")
    };
    (sums.to_vec(), prediction.class)
}

/// A random int8 model straight from raw values (not from a float model): any weights
/// (including −128), any zero points, non-ReLU hidden layers, multipliers and shifts across
/// their whole valid range, biases that can make the int32 sums wrap.
fn raw_int8_model() -> impl Strategy<Value = (OwnedModel, Vec<Vec<u8>>)> {
    (
        input_spec(),
        proptest::collection::vec(1usize..=10, 1..=3),
        any::<u64>(),
    )
        .prop_map(|(input, widths, seed)| {
            let mut rng = Random::new(seed);
            let mut quantization = Quantization {
                scale: input.scale,
                zero_point: i32::from(input.zero_point),
            };
            let mut inputs = input.len();
            let mut layers = Vec::new();
            for (index, &outputs) in widths.iter().enumerate() {
                let is_last = index + 1 == widths.len();
                let outputs = outputs as u32;
                let n = (inputs * outputs) as usize;
                let weights: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                let bias: Vec<i32> = (0..outputs)
                    .map(|_| match rng.next_u64() % 8 {
                        0 => rng.next_u64() as i32, // anything, may wrap
                        _ => (rng.next_u64() % 200_001) as i32 - 100_000,
                    })
                    .collect();
                let weight_scales: Vec<f32> = (0..outputs)
                    .map(|_| 1e-3 + (rng.next_u64() % 1000) as f32 * 1e-4)
                    .collect();
                let requantization = (!is_last).then(|| {
                    let output = Quantization {
                        scale: 0.01 + (rng.next_u64() % 100) as f32 * 0.01,
                        zero_point: (rng.next_u64() % 256) as i32 - 128,
                    };
                    let multipliers: Vec<i32> = (0..outputs)
                        .map(|_| (1 << 30) + (rng.next_u64() % (1 << 30)) as i32)
                        .collect();
                    let shifts: Vec<i8> = (0..outputs)
                        .map(|_| match rng.next_u64() % 4 {
                            0 => (rng.next_u64() % 62) as i8 - 31, // anywhere in [-31, 30]
                            _ => (rng.next_u64() % 14) as i8 - 12, // useful range
                        })
                        .collect();
                    OwnedRequantization {
                        multipliers: i32_bytes(&multipliers),
                        shifts: i8_bytes(&shifts),
                        output,
                    }
                });
                let activation = if is_last {
                    Activation::Softmax
                } else if rng.next_u64().is_multiple_of(3) {
                    Activation::None
                } else {
                    Activation::Relu
                };
                let next = requantization.as_ref().map(|r| r.output);
                layers.push(OwnedLayer {
                    inputs,
                    outputs,
                    activation,
                    params: OwnedParams::Int8 {
                        input: quantization,
                        weights,
                        weight_scales: f32_bytes(&weight_scales),
                        bias: i32_bytes(&bias),
                        requantization,
                    },
                });
                if let Some(next) = next {
                    quantization = next;
                }
                inputs = outputs;
            }
            let model = OwnedModel {
                features: None,
                name: None,
                class_names: Vec::new(),
                header: Header::CURRENT,
                input,
                classes: inputs,
                layers,
            };
            let pixels = (0..4)
                .map(|_| (0..input.len()).map(|_| rng.next_u64() as u8).collect())
                .collect();
            (model, pixels)
        })
}

proptest! {
    #[test]
    fn int8_forward_pass_matches_integer_reference((model, inputs) in raw_int8_model()) {
        for pixels in &inputs {
            let (sums, class) = run_int8(&model, pixels);
            let (expected_sums, logits) = reference_int8_forward(&model, pixels);
            prop_assert_eq!(&sums, &expected_sums);
            prop_assert_eq!(class, argmax(&logits));
        }
    }

    #[test]
    fn quantized_forward_pass_matches_integer_reference((model, inputs) in float_model()) {
        let quantized = model.quantize(&inputs).model;
        for pixels in &inputs {
            let (sums, class) = run_int8(&quantized, pixels);
            let (expected_sums, logits) = reference_int8_forward(&quantized, pixels);
            prop_assert_eq!(&sums, &expected_sums);
            prop_assert_eq!(class, argmax(&logits));
        }
    }

    #[test]
    fn requantization_matches_the_reference_arithmetic(
        x in any::<i32>(),
        multiplier in (1i32 << 30)..=i32::MAX,
        shift in -31i8..=30,
    ) {
        prop_assert_eq!(
            tinymlp::fixed_point::multiply_by_quantized_multiplier(x, multiplier, shift),
            reference_requantize(x, multiplier, shift)
        );
    }

    #[test]
    fn int8_logits_stay_within_the_quantization_error_bound((model, inputs) in float_model()) {
        // Calibrating on the very inputs keeps every activation inside its quantized range,
        // which the bound assumes.
        let quantized = model.quantize(&inputs).model;
        for pixels in &inputs {
            let exact = model.forward_f64(pixels).pop().unwrap();
            let bound = int8_error_bound(&model, &quantized, pixels);
            let (_, logits) = reference_int8_forward(&quantized, pixels);
            let (sums, class) = run_int8(&quantized, pixels);
            prop_assert_eq!(sums, reference_int8_forward(&quantized, pixels).0);
            for k in 0..exact.len() {
                let error = (f64::from(logits[k]) - exact[k]).abs();
                prop_assert!(error <= bound[k], "logit {}: {} vs {} (bound {})", k, logits[k], exact[k], bound[k]);
            }
            assert_class_agrees(class, &exact, &bound);
        }
    }
}

/// Steps of the output scale that requantization may be off by: at most ½ from the
/// rounding of the fixed-point product, ½ from the rounding shift, and ½ where the
/// calibrated range's end is not representable because the zero point was rounded.
const REQUANTIZATION_STEPS: f64 = 1.5;

/// Per-logit bound on |int8 logit − exact float logit|, derived as in FORMAT.md
/// ("How far int8 is from float"):
///
/// With exact inputs `x_j`, int8 inputs `x̂_j`, `|x̂_j − x_j| ≤ e_j` (`e = 0` for pixels,
/// which the input quantization represents exactly), weights `ŵ_jk = s_k·q_jk` with
/// `|ŵ_jk − w_jk| ≤ s_k/2` and bias `|b̂_k − b_k| ≤ s_in·s_k/2`, the int32 sum represents
/// `ẑ_k = Σ_j x̂_j·ŵ_jk + b̂_k` exactly, and
/// `|ẑ_k − z_k| ≤ Σ_j (e_j·|w_jk| + |x̂_j|·s_k/2) + s_in·s_k/2 =: E_k`
/// (from `x̂ŵ − xw = (x̂ − x)·w + x̂·(ŵ − w)`). A hidden layer's int8 output is then off by
/// at most `E_k + 1.5·s_out` plus the multiplier's relative error (2^-30) times `|ẑ_k|`; ReLU
/// and the clamp to a range holding the exact value do not increase it. The last layer's
/// logit adds f32 rounding of `sum·(s_in·s_k)`: a few units of roundoff of `|ẑ_k|`.
fn int8_error_bound(float: &FloatModel, quantized: &OwnedModel, pixels: &[u8]) -> Vec<f64> {
    let exact_layers = float.forward_f64(pixels);
    let mut x = float.real_input(pixels);
    let mut e = vec![0.0_f64; x.len()];
    let last = float.layers.len() - 1;
    for (index, (layer, owned)) in float.layers.iter().zip(&quantized.layers).enumerate() {
        let OwnedParams::Int8 {
            input,
            weight_scales,
            requantization,
            ..
        } = &owned.params
        else {
            panic!("int8 model");
        };
        let s_in = f64::from(input.scale);
        let weight_scales = le_f32(weight_scales);
        let y = &exact_layers[index];
        let mut next_e = Vec::with_capacity(layer.outputs);
        for k in 0..layer.outputs {
            // The weight quantizer rounds in f32: allow a hair over half a step.
            let half_step = f64::from(weight_scales[k]) / 2.0 * (1.0 + 1e-6);
            let mut bound = s_in * half_step;
            for j in 0..layer.inputs {
                let w = f64::from(layer.weights[j * layer.outputs + k]).abs();
                bound += e[j] * w + (x[j].abs() + e[j]) * half_step;
            }
            let represented = y[k].abs() + bound;
            bound += represented * 1e-9;
            if index == last {
                bound += represented * 4.0 * F32_UNIT_ROUNDOFF;
            } else {
                let output = requantization.as_ref().unwrap().output;
                bound += REQUANTIZATION_STEPS * f64::from(output.scale);
            }
            next_e.push(bound);
        }
        x = y.clone();
        e = next_e;
    }
    e
}

#[test]
fn requantization_table() {
    // (x, multiplier, shift, expected), by hand from the definitions.
    let cases: [(i32, i32, i8, i32); 6] = [
        (14960, 1_077_952_576, -7, 59),
        (-2300, 1_077_952_576, -6, -18),
        (15300, 1_077_952_576, -6, 120),
        (-12240, 1_077_952_576, -7, -48),
        (1 << 20, 1 << 30, 11, i32::MAX / 2 + 1), // 2^20·2^11 saturates to 2^31−1, times ½
        // ½·(−3) = −1.5: the high multiply rounds ties up (to −1), then −1/2 = −0.5
        // rounds away from zero to −1.
        (-3, 1 << 30, -1, -1),
    ];
    for (x, m, s, expected) in cases {
        assert_eq!(
            reference_requantize(x, m, s),
            expected,
            "reference {x} {m} {s}"
        );
        assert_eq!(
            tinymlp::fixed_point::multiply_by_quantized_multiplier(x, m, s),
            expected,
            "runtime {x} {m} {s}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Feature models (format version 3).

/// Random raw features for a feature model of `count` features: per feature an offset and
/// a scale of its own order of magnitude (from 10^-3 to 10^3, so that features differ by
/// orders of magnitude), and four inputs around the offsets, some far outside the range.
fn features(count: usize, seed: u64) -> (OwnedFeatures, Vec<f32>, Vec<f32>, Vec<Vec<f32>>) {
    let mut rng = Random::new(seed);
    let mut unit = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let (mut offsets, mut scales) = (Vec::new(), Vec::new());
    for _ in 0..count {
        let magnitude = 10f64.powi((unit() * 7.0) as i32 - 3);
        offsets.push(((unit() - 0.5) * 4.0 * magnitude) as f32);
        scales.push((1.0 / (magnitude * (0.5 + unit()))) as f32);
    }
    let inputs = (0..4)
        .map(|i| {
            (0..count)
                .map(|j| {
                    let spread = if i == 3 { 100.0 } else { 3.0 };
                    let deviation = 1.0 / f64::from(scales[j]);
                    (f64::from(offsets[j]) + (unit() - 0.5) * 2.0 * spread * deviation) as f32
                })
                .collect()
        })
        .collect();
    let spec = OwnedFeatures::new(&offsets, &scales);
    (spec, offsets, scales, inputs)
}

/// The standardized features as `FORMAT.md` §3 defines them: `(raw − offset) · scale` in
/// f32, one rounding per operation.
fn standardize(raw: &[f32], offsets: &[f32], scales: &[f32]) -> Vec<f32> {
    raw.iter()
        .zip(offsets.iter().zip(scales))
        .map(|(&r, (&o, &s))| (r - o) * s)
        .collect()
}

/// The int8 features as `FORMAT.md` §3 defines them: the f32 quotient by the input scale,
/// rounded half away from zero, plus the zero point, clamped (in integers).
fn quantize_features(standardized: &[f32], input: Quantization) -> Vec<i64> {
    standardized
        .iter()
        .map(|&x| {
            let quotient = x / input.scale; // f32 division
            let rounded = f64::from(quotient).round(); // half away from zero, exact
            (rounded + f64::from(input.zero_point)).clamp(-128.0, 127.0) as i64
        })
        .collect()
}

proptest! {
    #[test]
    fn f32_feature_forward_pass_matches_standardize_then_f64_reference(
        widths in proptest::collection::vec(1usize..=10, 1..=3),
        count in 1usize..=10,
        seed in any::<u64>(),
    ) {
        let model = random_float_model(row_input(count as u16), &widths, seed);
        let (spec, offsets, scales, inputs) = features(count, seed ^ 0x5eed);
        let mut owned = model.to_f32();
        owned.features = Some(spec);
        let blob = owned.encode();
        let loaded = Model::from_bytes(&blob).unwrap();
        for raw in &inputs {
            let x: Vec<f64> = standardize(raw, &offsets, &scales).into_iter().map(f64::from).collect();
            let exact = model.forward_f64_from(x.clone()).pop().unwrap();
            let bound = f32_error_bound_from(&model, x, vec![0.0; count]);
            let mut scratch = F32Scratch::<10, 10>::new();
            let prediction = loaded.predict_features(raw, &mut scratch).unwrap();
            let RawOutputs::F32(logits) = prediction.raw else { panic!("f32 model") };
            for k in 0..exact.len() {
                let error = (f64::from(logits[k]) - exact[k]).abs();
                prop_assert!(error <= bound[k], "logit {}: {} vs {} (bound {})", k, logits[k], exact[k], bound[k]);
            }
            assert_class_agrees(prediction.class, &exact, &bound);
        }
    }

    #[test]
    fn int8_feature_forward_pass_matches_quantize_then_integer_reference(
        (model, _) in raw_int8_model(),
        zero_point in -128i32..=127,
        input_scale in prop_oneof![Just(0.03125f32), 1e-3f32..0.5],
        seed in any::<u64>(),
    ) {
        let mut model = model;
        let count = model.layers[0].inputs as usize;
        let (spec, offsets, scales, inputs) = features(count, seed);
        model.features = Some(spec);
        let input = Quantization { scale: input_scale, zero_point };
        *model.int8_mut(0).input = input;
        let blob = model.encode();
        let loaded = Model::from_bytes(&blob).unwrap();
        for raw in &inputs {
            let q = quantize_features(&standardize(raw, &offsets, &scales), input);
            let (expected_sums, logits) = reference_int8_forward_from(&model, q);
            // Up to 36 features (the random models' inputs) are quantized into the scratch.
            let mut scratch = Int8Scratch::<36, 10>::new();
            let prediction = loaded.predict_features(raw, &mut scratch).unwrap();
            prop_assert_eq!(prediction.raw, RawOutputs::Int32(&expected_sums));
            prop_assert_eq!(prediction.class, argmax(&logits));
            // Summing three hidden outputs at a time changes no bit.
            let mut blocked = Int8Scratch::<36, 10, 3>::new();
            let in_blocks = loaded.predict_features(raw, &mut blocked).unwrap();
            prop_assert_eq!(in_blocks.raw, RawOutputs::Int32(&expected_sums));
        }
    }
}

#[test]
fn feature_quantization_rounds_half_away_from_zero_and_clamps() {
    let input = Quantization {
        scale: 0.5,
        zero_point: 3,
    };
    // x / 0.5: 0.5, -0.5, 1.5, -1.5 → 1, -1, 2, -2 (half away from zero), plus 3; then
    // the clamps (124 + 3 = 127 fits, 125 + 3 does not).
    let standardized = [0.25, -0.25, 0.75, -0.75, 1e30, -1e30, 62.0, 62.5];
    let expected = [4, 2, 5, 1, 127, -128, 127, 127];
    assert_eq!(quantize_features(&standardized, input), expected);
    // The runtime agrees, through a one-layer model whose sums are its inputs.
    let mut model = common::tiny_features_int8_model();
    model.layers.remove(0);
    let count = standardized.len();
    model.features = Some(OwnedFeatures::new(&vec![0.0; count], &vec![1.0; count]));
    model.layers[0].inputs = count as u32;
    let identity: Vec<i8> = (0..count * 2).map(|i| i8::from(i % 2 == 0)).collect();
    *model.int8_mut(0).input = input;
    *model.int8_mut(0).weights = i8_bytes(&identity);
    *model.int8_mut(0).bias = i32_bytes(&[0, 0]);
    let blob = model.encode();
    let loaded = Model::from_bytes(&blob).unwrap();
    let mut scratch = Int8Scratch::<8, 2>::new();
    let prediction = loaded
        .predict_features(&standardized, &mut scratch)
        .unwrap();
    let sum = expected.iter().sum::<i64>() as i32;
    assert_eq!(prediction.raw, RawOutputs::Int32(&[sum, 0]));
}
