//! Golden bytes pin format version 3: the tiny models of `FORMAT.md`'s worked examples
//! encode to exactly these bytes, decode back to the same values, and predict what the
//! format's arithmetic gives by hand. The same two pixel models as version 2 blobs still load
//! and predict the same bits.

mod common;

use common::{
    tiny_f32_model, tiny_features_int8_model, tiny_int8_model, to_version_2, OwnedLayer, OwnedModel,
};
use tinymlp::{
    Activation, DenseLayer, Error, F32Scratch, Input, InputKind, Int8Scratch, Model, OutputDigest,
    ParamKind, Params, RawOutputs,
};

/// `tiny_f32_model()`, annotated byte by byte in `FORMAT.md`.
#[rustfmt::skip]
const F32_BLOB: [u8; 86] = [
    0x54, 0x4d, 0x4c, 0x50, 0x03, 0x56, 0x00, 0x00, 0x00, 0x00, 0x02, 0x01, 0x01, 0x81, 0x80, 0x80,
    0x3b, 0x00, 0x02, 0x00, 0x00, 0x02, 0x02, 0x02, 0x01, 0x00, 0x10, 0x00, 0x00, 0x00, 0x3f, 0x00,
    0x00, 0x80, 0xbe, 0x00, 0x00, 0x00, 0xbf, 0x00, 0x00, 0x80, 0x3f, 0x08, 0x00, 0x00, 0x00, 0x3e,
    0x00, 0x00, 0x80, 0xbd, 0x02, 0x02, 0x02, 0x00, 0x10, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x80,
    0xbf, 0x00, 0x00, 0x00, 0xbf, 0x00, 0x00, 0x40, 0x3f, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x80, 0x3e, 0x1e, 0xe8, 0xf7, 0xe9,
];

/// `tiny_int8_model()`, annotated byte by byte in `FORMAT.md`.
#[rustfmt::skip]
const INT8_BLOB: [u8; 111] = [
    0x54, 0x4d, 0x4c, 0x50, 0x03, 0x6f, 0x00, 0x00, 0x00, 0x00, 0x02, 0x01, 0x01, 0x81, 0x80, 0x80,
    0x3b, 0x00, 0x02, 0x00, 0x00, 0x02, 0x02, 0x02, 0x01, 0x01, 0x81, 0x80, 0x80, 0x3b, 0x00, 0x04,
    0x40, 0xf0, 0xc0, 0x40, 0x08, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x80, 0x3c, 0x08, 0xf0, 0x0f,
    0x00, 0x00, 0x04, 0xfc, 0xff, 0xff, 0x01, 0x08, 0x80, 0x40, 0x40, 0x40, 0x80, 0x40, 0x40, 0x40,
    0x02, 0xf9, 0xfa, 0x00, 0x00, 0x00, 0x3c, 0xff, 0x01, 0x02, 0x02, 0x02, 0x01, 0x00, 0x00, 0x00,
    0x3c, 0xff, 0x01, 0x04, 0x40, 0xc0, 0xe0, 0x30, 0x08, 0x00, 0x00, 0x80, 0x3c, 0x00, 0x00, 0x80,
    0x3c, 0x08, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5a, 0x9f, 0x5c, 0x2c,
];

/// `tiny_features_int8_model()`, annotated byte by byte in `FORMAT.md`.
#[rustfmt::skip]
const FEATURES_INT8_BLOB: [u8; 138] = [
    0x54, 0x4d, 0x4c, 0x50, 0x03, 0x8a, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0xa0, 0x41, 0x00,
    0x00, 0x7a, 0x44, 0x08, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x00, 0x3e, 0x02, 0x01, 0x07, 0x77,
    0x65, 0x61, 0x74, 0x68, 0x65, 0x72, 0x02, 0x03, 0x64, 0x72, 0x79, 0x04, 0x72, 0x61, 0x69, 0x6e,
    0x02, 0x02, 0x02, 0x01, 0x01, 0x00, 0x00, 0x00, 0x3d, 0x00, 0x04, 0x40, 0xf0, 0xc0, 0x40, 0x08,
    0x00, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x80, 0x3c, 0x08, 0x00, 0x02, 0x00, 0x00, 0x80, 0xff, 0xff,
    0xff, 0x01, 0x08, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x40, 0x02, 0xfc, 0xfd, 0x00, 0x00,
    0x00, 0x3c, 0xff, 0x01, 0x02, 0x02, 0x02, 0x01, 0x00, 0x00, 0x00, 0x3c, 0xff, 0x01, 0x04, 0x40,
    0xc0, 0xe0, 0x30, 0x08, 0x00, 0x00, 0x80, 0x3c, 0x00, 0x00, 0x80, 0x3c, 0x08, 0x00, 0x10, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7e, 0x78, 0x25, 0x2d,
];

/// `tiny_f32_model()` as format version 2 wrote it (what users have in flash).
#[rustfmt::skip]
const V2_F32_BLOB: [u8; 83] = [
    0x54, 0x4d, 0x4c, 0x50, 0x02, 0x53, 0x00, 0x00, 0x00, 0x02, 0x01, 0x01, 0x81, 0x80, 0x80, 0x3b,
    0x00, 0x02, 0x02, 0x02, 0x02, 0x01, 0x00, 0x10, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x80, 0xbe,
    0x00, 0x00, 0x00, 0xbf, 0x00, 0x00, 0x80, 0x3f, 0x08, 0x00, 0x00, 0x00, 0x3e, 0x00, 0x00, 0x80,
    0xbd, 0x02, 0x02, 0x02, 0x00, 0x10, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x80, 0xbf, 0x00, 0x00,
    0x00, 0xbf, 0x00, 0x00, 0x40, 0x3f, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3e, 0xf2,
    0x54, 0x0b, 0xb8,
];

/// `tiny_int8_model()` as format version 2 wrote it.
#[rustfmt::skip]
const V2_INT8_BLOB: [u8; 108] = [
    0x54, 0x4d, 0x4c, 0x50, 0x02, 0x6c, 0x00, 0x00, 0x00, 0x02, 0x01, 0x01, 0x81, 0x80, 0x80, 0x3b,
    0x00, 0x02, 0x02, 0x02, 0x02, 0x01, 0x01, 0x81, 0x80, 0x80, 0x3b, 0x00, 0x04, 0x40, 0xf0, 0xc0,
    0x40, 0x08, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x80, 0x3c, 0x08, 0xf0, 0x0f, 0x00, 0x00, 0x04,
    0xfc, 0xff, 0xff, 0x01, 0x08, 0x80, 0x40, 0x40, 0x40, 0x80, 0x40, 0x40, 0x40, 0x02, 0xf9, 0xfa,
    0x00, 0x00, 0x00, 0x3c, 0xff, 0x01, 0x02, 0x02, 0x02, 0x01, 0x00, 0x00, 0x00, 0x3c, 0xff, 0x01,
    0x04, 0x40, 0xc0, 0xe0, 0x30, 0x08, 0x00, 0x00, 0x80, 0x3c, 0x00, 0x00, 0x80, 0x3c, 0x08, 0x00,
    0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x8d, 0x29, 0x57, 0x50,
];

fn borrowed(model: &OwnedModel) -> Vec<DenseLayer<'_>> {
    model.layers.iter().map(OwnedLayer::borrow).collect()
}

#[test]
fn f32_model_encodes_to_the_golden_bytes() {
    assert_eq!(tiny_f32_model().encode(), F32_BLOB);
}

#[test]
fn int8_model_encodes_to_the_golden_bytes() {
    assert_eq!(tiny_int8_model().encode(), INT8_BLOB);
}

#[test]
fn feature_model_encodes_to_the_golden_bytes() {
    assert_eq!(tiny_features_int8_model().encode(), FEATURES_INT8_BLOB);
}

#[test]
fn version_2_blobs_are_the_version_3_ones_without_input_index_and_names() {
    assert_eq!(to_version_2(&F32_BLOB), V2_F32_BLOB);
    assert_eq!(to_version_2(&INT8_BLOB), V2_INT8_BLOB);
}

#[test]
fn golden_bytes_end_in_their_crc_and_declare_their_length() {
    for (blob, version) in [
        (&F32_BLOB[..], 3),
        (&INT8_BLOB[..], 3),
        (&FEATURES_INT8_BLOB[..], 3),
        (&V2_F32_BLOB[..], 2),
        (&V2_INT8_BLOB[..], 2),
    ] {
        let (contents, crc) = blob.split_at(blob.len() - 4);
        assert_eq!(tinymlp::CRC.checksum(contents).to_le_bytes(), crc);
        assert_eq!(&blob[..4], b"TMLP");
        assert_eq!(blob[4], version, "version varint");
        assert_eq!(blob[5..9], (blob.len() as u32).to_le_bytes());
    }
}

#[test]
fn golden_bytes_decode_to_the_same_values() {
    for (blob, owned, kind) in [
        (&F32_BLOB[..], tiny_f32_model(), ParamKind::F32),
        (&INT8_BLOB[..], tiny_int8_model(), ParamKind::Int8),
        (&V2_F32_BLOB[..], tiny_f32_model(), ParamKind::F32),
        (&V2_INT8_BLOB[..], tiny_int8_model(), ParamKind::Int8),
        (
            &FEATURES_INT8_BLOB[..],
            tiny_features_int8_model(),
            ParamKind::Int8,
        ),
    ] {
        let model = Model::from_bytes(blob).unwrap();
        assert_eq!(model.kind(), kind);
        assert_eq!(*model.input(), owned.borrowed_input());
        assert_eq!(model.classes(), 2);
        assert_eq!(model.input_len(), 2);
        assert_eq!(model.widest_hidden(), 2);
        assert_eq!(model.scratch_width(), 2);
        assert_eq!(model.macs(), 8);
        assert_eq!(model.layers(), borrowed(&owned).as_slice());
        assert_eq!(model.layers()[1].activation, Activation::Softmax);
        assert_eq!(model.name(), owned.name.as_deref());
        for class in 0..3 {
            assert_eq!(
                model.class_name(class),
                owned.class_names.get(class).map(String::as_str)
            );
        }
    }
}

#[test]
fn the_feature_model_carries_its_standardization_and_names() {
    let model = Model::from_bytes(&FEATURES_INT8_BLOB).unwrap();
    assert_eq!(model.input().kind(), InputKind::Features);
    let Input::Features(features) = model.input() else {
        panic!("a feature model");
    };
    let transforms: Vec<(f32, f32)> = features.transforms().collect();
    assert_eq!(transforms, [(20.0, 0.5), (1000.0, 0.125)]);
    assert_eq!(model.name(), Some("weather"));
    assert_eq!(model.class_name(0), Some("dry"));
    assert_eq!(model.class_name(1), Some("rain"));
    assert_eq!(model.class_name(2), None);
    assert_eq!(model.class_name(usize::MAX), None);
    // Zero-copy: the name is the bytes after its length at offset 30.
    assert_eq!(
        model.name().unwrap().as_ptr(),
        FEATURES_INT8_BLOB[31..].as_ptr()
    );
    let pixel_model = Model::from_bytes(&INT8_BLOB).unwrap();
    assert_eq!(pixel_model.name(), None);
    assert_eq!(pixel_model.class_name(0), None);
}

#[test]
fn decoding_borrows_the_parameters_from_the_blob() {
    for (blob, weights_at) in [(&INT8_BLOB[..], 32), (&V2_INT8_BLOB[..], 29)] {
        let model = Model::from_bytes(blob).unwrap();
        let Params::Int8(params) = model.layers()[0].params else {
            panic!("int8 layer expected");
        };
        // The weights are the four bytes after their length byte.
        assert_eq!(params.weights.as_ptr(), blob[weights_at..].as_ptr());
    }
}

/// Hand-computed with FORMAT.md's arithmetic: (pixels, layer-1 int32 sums, class).
///
/// Pixels [200, 30]: layer 0 sums 4080 + 200·64 + 30·(−64) = 14960 and
/// −1020 + 200·(−16) + 30·64 = −2300; requantized (multiplier 1077952640, shifts −7/−6):
/// 14960 → 59, −2300 → −18, plus zero point −128: −69 and −146, ReLU-clamped at −128 to
/// −69 and −128. Layer 1 sees [59, 0]: sums 0 + 59·64 = 3776 and 2048 + 59·(−64) = −1728.
/// Pixels [0, 255]: layer 0 sums −12240 (→ −48 − 128, clamped to −128) and 15300 (→ 120,
/// so −8); layer 1 sees [0, 120]: 120·(−32) = −3840 and 2048 + 120·48 = 7808.
const INT8_CASES: [([u8; 2], [i32; 2], usize); 2] =
    [([200, 30], [3776, -1728], 0), ([0, 255], [-3840, 7808], 1)];

/// Hand-computed as `FORMAT.md` §5 shows: (raw features, layer-1 int32 sums, class).
///
/// [24 °C, 1012 hPa]: standardized (24 − 20)·0.5 = 2 and (1012 − 1000)·0.125 = 1.5,
/// quantized at 2^-5: 64 and 48. Layer 0 sums 512 + 64·64 + 48·(−64) = 1536 and
/// −128 + 64·(−16) + 48·64 = 1920, requantized (2^30, shifts −4/−3): 48 and 120, so −80 and
/// −8. Layer 1: 4096 + (−80)·64 + (−8)·(−32) = −768 and (−80)·(−64) + (−8)·48 = 4736.
/// [30 °C, 990 hPa]: 5 and −1.25, quantized 160 (clamped to 127) and −40; layer 0 sums
/// 11200 (→ 350, so 127 after the clamp) and −4720 (ReLU: −128); layer 1: 16320, −14272.
const FEATURE_CASES: [([f32; 2], [i32; 2], usize); 2] = [
    ([24.0, 1012.0], [-768, 4736], 1),
    ([30.0, 990.0], [16320, -14272], 0),
];

#[test]
fn int8_golden_model_predicts_the_hand_computed_sums() {
    for blob in [&INT8_BLOB[..], &V2_INT8_BLOB[..]] {
        let model = Model::from_bytes(blob).unwrap();
        let mut digest = OutputDigest::new();
        let mut expected_digest_bytes = Vec::new();
        for (pixels, sums, class) in INT8_CASES {
            let mut scratch = Int8Scratch::<2, 2>::new();
            let prediction = model.predict(&pixels, &mut scratch).unwrap();
            check_int8_prediction(&prediction, sums, class);
            digest.add(&prediction);
            expected_digest_bytes.extend(sums.iter().flat_map(|s| s.to_le_bytes()));
        }
        assert_eq!(
            digest.finish(),
            tinymlp::CRC.checksum(&expected_digest_bytes)
        );
    }
}

#[test]
fn feature_golden_model_predicts_the_hand_computed_sums() {
    let model = Model::from_bytes(&FEATURES_INT8_BLOB).unwrap();
    for (features, sums, class) in FEATURE_CASES {
        let mut scratch = Int8Scratch::<2, 2>::new();
        let prediction = model.predict_features(&features, &mut scratch).unwrap();
        check_int8_prediction(&prediction, sums, class);
    }
    let mut scratch = Int8Scratch::<2, 2>::new();
    assert_eq!(
        model.predict(&[1, 2], &mut scratch).map(|p| p.class),
        Err(Error::WrongInputKind {
            model: InputKind::Features
        })
    );
    // The features are quantized into the scratch: one feature wide is too small.
    let mut narrow = Int8Scratch::<1, 2>::new();
    assert_eq!(
        model.check_scratch::<Int8Scratch<1, 2>>(),
        Err(Error::ScratchTooSmall {
            needed: 2,
            capacity: 1
        })
    );
    assert!(model
        .predict_features(&[24.0, 1012.0], &mut narrow)
        .is_err());
}

fn check_int8_prediction(prediction: &tinymlp::Prediction<'_>, sums: [i32; 2], class: usize) {
    assert_eq!(prediction.raw, RawOutputs::Int32(&sums));
    assert_eq!(prediction.class, class);
    // logit = sum · input scale · weight scale = sum · 2^-7 · 2^-6.
    let logits = sums.map(|s| f64::from(s) / 8192.0);
    let expected = softmax(&logits);
    for (p, e) in prediction.probabilities.iter().zip(&expected) {
        assert!(
            (f64::from(*p) - e).abs() < PROBABILITY_TOLERANCE,
            "{p} vs {e}"
        );
    }
}

#[test]
fn f32_golden_model_predicts_the_hand_computed_logits() {
    // Pixels [200, 30]: hidden relu(0.125 + 0.5·200/255 − 0.5·30/255, ...) = [0.4583, 0];
    // pixels [0, 255]: hidden [0, 0.9375].
    let h = 0.125 + 0.5 * 200.0 / 255.0 - 0.5 * 30.0 / 255.0;
    let cases: [([u8; 2], [f64; 2], usize); 2] = [
        ([200, 30], [h, -h + 0.25], 0),
        ([0, 255], [-0.5 * 0.9375, 0.75 * 0.9375 + 0.25], 1),
    ];
    for blob in [&F32_BLOB[..], &V2_F32_BLOB[..]] {
        let model = Model::from_bytes(blob).unwrap();
        for (pixels, logits, class) in cases {
            let mut scratch = F32Scratch::<2, 2>::new();
            let prediction = model.predict(&pixels, &mut scratch).unwrap();
            let RawOutputs::F32(raw) = prediction.raw else {
                panic!("f32 outputs expected");
            };
            for (got, want) in raw.iter().zip(&logits) {
                assert!((f64::from(*got) - want).abs() < 1e-6, "{got} vs {want}");
            }
            assert_eq!(prediction.class, class);
            let expected = softmax(&logits);
            assert!(
                (f64::from(prediction.probability) - expected[class]).abs() < PROBABILITY_TOLERANCE
            );
        }
    }
}

/// The MNIST model as the version 2 trainer exported it (`models/mnist-int8.tmlp` of
/// that time, committed as `tests/data/mnist-int8-v2.tmlp`) still loads and computes the
/// same bits: the digest of its raw outputs over the 1,000 sample digits of
/// `models/mnist-test-digits.bin` is the one `models/report.json` recorded then, and the same
/// model re-encoded as version 3 computes the same digest.
#[test]
fn the_version_2_mnist_model_predicts_the_same_bits() {
    const SAMPLE_DIGEST: u32 = 1_274_972_151;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let v2 = std::fs::read(root.join("tests/data/mnist-int8-v2.tmlp")).unwrap();
    assert_eq!(v2[4], 2, "a version 2 blob");
    let digits = std::fs::read(root.join("../models/mnist-test-digits.bin")).unwrap();
    let model = Model::from_bytes(&v2).unwrap();
    let v3 = model_as_version_3(&model);
    assert_eq!(v3[4], 3);
    let again = Model::from_bytes(&v3).unwrap();
    let mut correct = 0;
    for model in [&model, &again] {
        let mut digest = OutputDigest::new();
        let mut scratch = Box::new(Int8Scratch::<512, 10>::new());
        for record in digits.chunks_exact(785) {
            let prediction = model.predict(&record[1..], &mut *scratch).unwrap();
            correct += usize::from(prediction.class == usize::from(record[0]));
            digest.add(&prediction);
        }
        assert_eq!(digest.finish(), SAMPLE_DIGEST);
    }
    assert!(correct > 2 * 960, "{correct} of 2,000");
}

fn model_as_version_3(model: &Model<'_>) -> Vec<u8> {
    let def = tinymlp::ModelDef {
        header: tinymlp::Header::CURRENT,
        input: *model.input(),
        classes: model.classes() as u32,
        name: None,
        class_names: &[],
        layers: model.layers(),
    };
    let mut buffer = vec![0; def.encoded_len().unwrap()];
    let len = def.encode_to_slice(&mut buffer).unwrap().len();
    buffer.truncate(len);
    buffer
}

/// How close probabilities must be to the exact softmax: f32 rounding, or with `fast-math`
/// the approximate `exp` (a relative error `ε` in each term moves a probability by at most
/// about `2ε`).
const PROBABILITY_TOLERANCE: f64 = if cfg!(feature = "fast-math") {
    2.0 * tinymlp::softmax::FAST_EXP_MAX_ERROR as f64 + 1e-6
} else {
    1e-6
};

fn softmax(logits: &[f64]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

#[test]
fn encode_to_slice_refuses_a_short_buffer() {
    let model = tiny_int8_model();
    let layers = borrowed(&model);
    let def = tinymlp::ModelDef {
        header: tinymlp::Header::CURRENT,
        input: model.borrowed_input(),
        classes: model.classes,
        name: None,
        class_names: &[],
        layers: &layers,
    };
    assert_eq!(def.encoded_len(), Ok(INT8_BLOB.len()));
    let mut short = [0u8; 110];
    assert_eq!(
        def.encode_to_slice(&mut short).map(|b| b.len()),
        Err(tinymlp::Error::BufferTooSmall)
    );
    let mut exact = [0u8; 111];
    assert_eq!(def.encode_to_slice(&mut exact).unwrap(), &INT8_BLOB[..]);
}

/// The exporter written from FORMAT.md alone (`tests/data/export_tiny.py`, Python standard
/// library only) produces the same bytes: the page is complete enough to write a model.
#[test]
fn python_exporter_written_from_format_md_agrees() {
    let out = std::env::temp_dir().join(format!("tinymlp-export-{}", std::process::id()));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/export_tiny.py");
    let status = std::process::Command::new("python3")
        .arg(script)
        .arg(&out)
        .status()
        .expect("python3 runs (needed by this test)");
    assert!(status.success());
    let f32 = std::fs::read(out.join("tiny-f32.tmlp")).unwrap();
    let int8 = std::fs::read(out.join("tiny-int8.tmlp")).unwrap();
    let features = std::fs::read(out.join("tiny-features-int8.tmlp")).unwrap();
    std::fs::remove_dir_all(&out).ok();
    assert_eq!(f32, F32_BLOB);
    assert_eq!(int8, INT8_BLOB);
    assert_eq!(features, FEATURES_INT8_BLOB);
}
