//! The rules of `FORMAT.md` where two independent writers (or readers) could otherwise
//! disagree: the input sizes' type, the header's check order, the precision of the int8 bias
//! and multipliers, what calibration a reader requires, one encoding per model (shortest
//! varints), and finite outputs. Each with the exact error or result it specifies.

mod common;

use common::{
    f32_bytes, i32_bytes, load, load_model, splice, tiny_f32_model, tiny_int8_model, to_version_2,
    varint, OwnedModel, OwnedParams,
};
use tinymlp::fixed_point::quantize_multiplier;
use tinymlp::{Error, F32Scratch, Int8Scratch, Model, Params, RawOutputs};
use tinymlp_fuzz_case::seal;

/// Offset of the input's width in the tiny models: magic 4, version 1, length 4, input
/// variant 1.
const WIDTH_AT: usize = 10;
/// Offsets of the classes, the class name count (after the model name's option tag) and the
/// layer count.
const CLASSES_AT: usize = 18;
const CLASS_NAMES_AT: usize = 20;
const COUNT_AT: usize = 21;

// 1. Input sizes are u32 varints; every out-of-range size is `WidthOutOfRange`.

#[test]
fn every_out_of_range_input_size_is_width_out_of_range() {
    let blob = tiny_f32_model().encode();
    assert_eq!(&blob[WIDTH_AT..WIDTH_AT + 3], [2, 1, 1]);
    let sizes = |w: u64, h: u64, c: u64| [varint(w), varint(h), varint(c)].concat();
    let cases: [((u64, u64, u64), u32); 8] = [
        ((0, 1, 1), 0),
        ((4097, 1, 1), 4097),
        ((65_535, 1, 1), 65_535),
        ((65_536, 1, 1), 65_536),
        ((1, 1 << 20, 1), 1 << 20),
        ((u64::from(u32::MAX), 1, 1), u32::MAX),
        ((65_536, 65_536, 1), u32::MAX), // the product saturates
        ((65_536, 0, 1), 0),
    ];
    for ((w, h, c), product) in cases {
        let damaged = splice(&blob, WIDTH_AT..WIDTH_AT + 3, &sizes(w, h, c));
        assert_eq!(
            load(&damaged),
            Err(Error::WidthOutOfRange {
                layer: u8::MAX,
                width: product
            }),
            "{w} x {h} x {c}"
        );
    }
    // 2 x 1 x 1 written with wider varints than needed is refused as such, not as a width.
    let wide = [&[0x82, 0x80, 0x00][..], &[1, 1]].concat();
    assert_eq!(
        load(&splice(&blob, WIDTH_AT..WIDTH_AT + 3, &wide)),
        Err(Error::NonShortestVarint {
            offset: WIDTH_AT as u32
        })
    );
    // Beyond u32 it is no u32 varint at all, as for every count.
    let beyond = [varint(1 << 32), varint(1), varint(1)].concat();
    assert_eq!(
        load(&splice(&blob, WIDTH_AT..WIDTH_AT + 3, &beyond)),
        Err(Error::Malformed)
    );
}

// 2. The header: magic, then the version, judged before the length is read.

#[test]
fn the_version_is_judged_right_after_the_magic() {
    assert_eq!(load(b"TMLP\x04"), Err(Error::UnsupportedVersion(4)));
    assert_eq!(load(b"TMLP\x01"), Err(Error::UnsupportedVersion(1)));
    assert_eq!(load(b"TMLP\x83\x01"), Err(Error::UnsupportedVersion(131)));
    assert_eq!(load(b"TMLP\x04\x00"), Err(Error::UnsupportedVersion(4)));
    assert_eq!(
        load(b"TMLP\x82\x00"),
        Err(Error::NonShortestVarint { offset: 4 })
    );
    assert_eq!(load(b"TMLP\x80\x80\x04"), Err(Error::Malformed));
    for cut_short in [
        &b"TMLP"[..],
        b"TMLP\x02",
        b"TMLP\x03",
        b"TMLP\x82",
        b"TMLP\x02\x6c\x00\x00",
        b"TMLP\x03\x6f\x00\x00",
    ] {
        assert_eq!(load(cut_short), Err(Error::Truncated), "{cut_short:02x?}");
    }
    // A declared length beyond the bytes there.
    let blob = tiny_int8_model().encode();
    assert_eq!(load(&blob[..blob.len() - 1]), Err(Error::Truncated));
}

// 3. The int8 bias and multipliers, computed as FORMAT.md §3 specifies, to the bit.

fn round_half_away(x: f64) -> f64 {
    // f64::round rounds half away from zero; spelt out so the test states the rule.
    let r = x.abs().floor();
    let rounded = if x.abs() - r >= 0.5 { r + 1.0 } else { r };
    rounded.copysign(x)
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn i32s(bytes: &[u8]) -> Vec<i32> {
    bytes
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

#[test]
fn committed_int8_model_is_its_f32_twin_quantized_as_specified() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let int8_blob = std::fs::read(root.join("mnist-int8.tmlp")).expect("committed model");
    let f32_blob = std::fs::read(root.join("mnist-f32.tmlp")).expect("committed model");
    let (int8, float) = (
        Model::from_bytes(&int8_blob).unwrap(),
        Model::from_bytes(&f32_blob).unwrap(),
    );
    assert_eq!(int8.layers().len(), float.layers().len());
    let (mut biases, mut multipliers) = (0, 0);
    for (index, (q, f)) in int8.layers().iter().zip(float.layers()).enumerate() {
        let (Params::Int8(q), Params::F32(f)) = (&q.params, &f.params) else {
            panic!("layer {index}: kinds");
        };
        let outputs = f32s(f.bias).len();
        let weight_scales = f32s(q.weight_scales);
        let column_sum = |k: usize| -> i64 {
            q.weights
                .iter()
                .skip(k)
                .step_by(outputs)
                .map(|&w| i64::from(w as i8))
                .sum()
        };
        for (k, ((&b, &s_k), &stored)) in f32s(f.bias)
            .iter()
            .zip(&weight_scales)
            .zip(&i32s(q.bias))
            .enumerate()
        {
            let unfolded =
                round_half_away(f64::from(b) / (f64::from(q.input.scale) * f64::from(s_k)));
            let expected = unfolded as i64 - i64::from(q.input.zero_point) * column_sum(k);
            assert_eq!(i64::from(stored), expected, "layer {index} bias {k}");
            biases += 1;
        }
        if let Some(r) = &q.requantization {
            for (k, (&s_k, (&m, &shift))) in weight_scales
                .iter()
                .zip(i32s(r.multipliers).iter().zip(r.shifts))
                .enumerate()
            {
                let real = f64::from(q.input.scale) * f64::from(s_k) / f64::from(r.output.scale);
                assert_eq!(
                    quantize_multiplier(real),
                    Some((m, shift as i8)),
                    "layer {index} multiplier {k}"
                );
                // The same by frexp, as FORMAT.md spells it out.
                let e = frexp_exponent(real);
                let mut q31 = round_half_away(real * 2f64.powi(31 - e)) as i64;
                let mut e = e;
                if q31 == 1 << 31 {
                    q31 = 1 << 30;
                    e += 1;
                }
                assert_eq!((q31, e), (i64::from(m), i32::from(shift as i8)));
                multipliers += 1;
            }
        }
    }
    // 784-512-10: 522 biases, 512 multipliers.
    assert_eq!((biases, multipliers), (522, 512));
}

/// `e` with `x = f · 2^e`, `f` in `[0.5, 1)`, for a positive normal `x`.
fn frexp_exponent(x: f64) -> i32 {
    ((x.to_bits() >> 52) & 0x7ff) as i32 - 1022
}

// 4. Calibration is the writer's choice: any valid zero point computes as specified.

#[test]
fn a_relu_layer_may_have_any_output_zero_point() {
    let run = |model: &OwnedModel, pixels: [u8; 2]| -> Vec<i32> {
        let blob = model.encode();
        let model = Model::from_bytes(&blob).unwrap();
        let mut scratch = Int8Scratch::<8, 2>::new();
        match model.predict(&pixels, &mut scratch).unwrap().raw {
            RawOutputs::Int32(raw) => raw.to_vec(),
            RawOutputs::F32(_) => unreachable!(),
        }
    };
    let trainers = tiny_int8_model(); // hidden zero point -128, the trainer's choice
    let mut other = tiny_int8_model();
    let zero_point = -100;
    other
        .int8_mut(0)
        .requantization
        .as_mut()
        .unwrap()
        .output
        .zero_point = zero_point;
    other.int8_mut(1).input.zero_point = zero_point;
    // Unfolded bias [0, 2048], folded with -100: 0 + 100 * (64 - 32), 2048 + 100 * (-64 + 48).
    *other.int8_mut(1).bias = i32_bytes(&[3200, 448]);
    // FORMAT.md §5's worked example: hidden [59, -18] + zero point, ReLU-clamped at -100,
    // gives raw inputs [-41, -100]; the same real values, so the same sums.
    assert_eq!(run(&other, [200, 30]), [3776, -1728]);
    assert_eq!(run(&trainers, [200, 30]), [3776, -1728]);
    assert_eq!(run(&other, [0, 255]), [-3840, 7808]);
    assert_eq!(run(&trainers, [0, 255]), [-3840, 7808]);
}

// 5. One encoding per model: varints in their shortest form only.

/// A blob, a varint's offset in it, the varint's bytes and a longer form of the same value.
type LongerField<'a> = (&'a [u8], usize, &'a [u8], &'a [u8]);

#[test]
fn non_shortest_varints_are_refused_where_they_are() {
    let f32_blob = tiny_f32_model().encode();
    let int8_blob = tiny_int8_model().encode();
    let cases: [LongerField; 9] = [
        (&f32_blob, WIDTH_AT - 1, &[0], &[0x80, 0x00]),
        (&f32_blob, WIDTH_AT, &[2], &[0x82, 0x00]),
        (&f32_blob, CLASSES_AT, &[2], &[0x82, 0x80, 0x80, 0x80, 0x00]),
        (&f32_blob, CLASS_NAMES_AT, &[0], &[0x80, 0x00]),
        (&f32_blob, COUNT_AT, &[2], &[0x82, 0x00]),
        // Layer 0 of the f32 model: 2, 2, Relu, F32 variant 0, weights length 16.
        (&f32_blob, COUNT_AT + 4, &[0], &[0x80, 0x00]),
        (&f32_blob, COUNT_AT + 5, &[0x10], &[0x90, 0x00]),
        // The int8 model's layer 0 output zero point -128 (zigzag 255), at byte 71.
        (&int8_blob, 71, &[0xff, 0x01], &[0xff, 0x81, 0x00]),
        // Version 2: its classes at byte 17.
        (&to_version_2(&f32_blob), 17, &[2], &[0x82, 0x00]),
    ];
    for (blob, at, shortest, longer) in cases {
        assert_eq!(&blob[at..at + shortest.len()], shortest, "byte {at}");
        let damaged = splice(blob, at..at + shortest.len(), longer);
        assert_eq!(
            load(&damaged),
            Err(Error::NonShortestVarint { offset: at as u32 }),
            "byte {at}"
        );
    }
    // Multi-byte varints in their shortest form are read (width 300 = ac 02): the model
    // gets as far as the shape check.
    let mut wide = tiny_f32_model();
    wide.input.width = 300;
    assert_eq!(
        load_model(&wide),
        Err(Error::ShapeMismatch {
            layer: 0,
            expected: 300,
            found: 2
        })
    );
}

/// Corpus inputs that loaded before these rules (they stay in the corpus, with their new
/// results pinned here), and the tiny f32 model of FORMAT.md §5 broken by each rule. The first
/// byte is the fuzz mode, odd meaning "set the length and append the CRC first".
#[test]
fn corpus_inputs_of_these_rules() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/loader");
    let cases = [
        (
            "rule-non-shortest-classes",
            Error::NonShortestVarint { offset: 17 },
        ),
        (
            "rule-non-shortest-version",
            Error::NonShortestVarint { offset: 4 },
        ),
        (
            "rule-width-65536",
            Error::WidthOutOfRange {
                layer: u8::MAX,
                width: 65_536,
            },
        ),
        ("rule-f32-overflow", Error::OutputOverflow { layer: 0 }),
        (
            "429d428124b8a2e75210fab8799f401cab60365c",
            Error::NonShortestVarint { offset: 68 },
        ),
        (
            "5d21df95b2c98f0cee8f881683b34bb86040948d",
            Error::OutputOverflow { layer: 1 },
        ),
        (
            "d5ac28b077057e95afaefa674cdf08a5d5c91a32",
            Error::OutputOverflow { layer: 1 },
        ),
    ];
    for (name, expected) in cases {
        let data = std::fs::read(dir.join(name)).expect("corpus file");
        let (&mode, rest) = data.split_first().unwrap();
        let blob = if mode & 1 == 1 {
            seal(rest)
        } else {
            rest.to_vec()
        };
        assert_eq!(load(&blob), Err(expected), "{name}");
    }
}

// 6. No output overflows f32: refused at load, so no prediction is NaN.

fn set_f32_weights(model: &mut OwnedModel, layer: usize, value: f32) {
    let OwnedParams::F32 { weights, .. } = &mut model.layers[layer].params else {
        panic!("f32 layer");
    };
    let count = weights.len() / 4;
    *weights = f32_bytes(&vec![value; count]);
}

fn assert_finite_predictions_f32(model: &OwnedModel) {
    let blob = model.encode();
    let model = Model::from_bytes(&blob).unwrap();
    for pixels in [[0, 0], [255, 255], [255, 0], [13, 200]] {
        let mut scratch = F32Scratch::<8, 2>::new();
        let prediction = model.predict(&pixels, &mut scratch).unwrap();
        let RawOutputs::F32(logits) = prediction.raw else {
            unreachable!()
        };
        assert!(logits.iter().all(|l| l.is_finite()), "{logits:?}");
        assert!(prediction.probabilities.iter().all(|p| p.is_finite()));
        assert!(prediction.probability.is_finite() && prediction.probability >= 0.5);
    }
}

#[test]
fn f32_parameters_that_could_overflow_are_refused() {
    // The case: weights of 3e38 loaded and predicted class 0 with probability NaN.
    let mut model = tiny_f32_model();
    set_f32_weights(&mut model, 0, 3e38);
    assert_eq!(load_model(&model), Err(Error::OutputOverflow { layer: 0 }));

    // X_0 = f32(1/255) * 255 = 1, layer 0: X_1 = 0.125 + 1 * (0.5 + 1.0) = 1.625, layer 1:
    // X_2 = 0.25 + 1.625 * 2w. At w = 2^124 that is 3.25 * 2^124 < 2^126: it loads, and
    // even the largest inputs give finite logits.
    let mut large = tiny_f32_model();
    set_f32_weights(&mut large, 1, 2f32.powi(124));
    assert_eq!(load_model(&large), Ok(()));
    assert_finite_predictions_f32(&large);
    // At w = 2^125 the bound is 3.25 * 2^125 > 2^126: refused, though the logits of these
    // inputs would still be finite (the bound is on any input, in any summation order).
    set_f32_weights(&mut large, 1, 2f32.powi(125));
    assert_eq!(load_model(&large), Err(Error::OutputOverflow { layer: 1 }));

    // A huge input scale overflows the first layer whatever its weights.
    let mut scaled = tiny_f32_model();
    scaled.input.scale = 1e36;
    assert_eq!(load_model(&scaled), Err(Error::OutputOverflow { layer: 0 }));
}

#[test]
fn int8_logit_scales_that_could_overflow_are_refused() {
    let with_last_scale = |scale: f32| {
        let mut model = tiny_int8_model();
        *model.int8_mut(1).weight_scales = f32_bytes(&[2f32.powi(-6), scale]);
        model
    };
    // Layer 1's input scale is 2^-7: a weight scale of 2^103 makes the product 2^96, the
    // largest allowed; 2^104 or the 3e38 more.
    assert_eq!(
        load_model(&with_last_scale(2f32.powi(104))),
        Err(Error::OutputOverflow { layer: 1 })
    );
    assert_eq!(
        load_model(&with_last_scale(3e38)),
        Err(Error::OutputOverflow { layer: 1 })
    );
    let largest = with_last_scale(2f32.powi(103));
    let blob = largest.encode();
    let model = Model::from_bytes(&blob).unwrap();
    for pixels in [[0, 255], [255, 255], [200, 30]] {
        let mut scratch = Int8Scratch::<8, 2>::new();
        let prediction = model.predict(&pixels, &mut scratch).unwrap();
        assert!(prediction.probabilities.iter().all(|p| p.is_finite()));
        assert!(prediction.probability.is_finite());
    }
}
