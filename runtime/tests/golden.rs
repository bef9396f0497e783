//! Golden bytes pin format version 2: the tiny models of `FORMAT.md`'s worked example encode
//! to exactly these bytes, decode back to the same values, and predict what the format's
//! arithmetic gives by hand.

mod common;

use common::{tiny_f32_model, tiny_int8_model, OwnedLayer, OwnedModel};
use tinymlp::{
    Activation, DenseLayer, F32Scratch, Int8Scratch, Model, OutputDigest, ParamKind, Params,
    RawOutputs,
};

/// `tiny_f32_model()`, annotated byte by byte in `FORMAT.md`.
#[rustfmt::skip]
const F32_BLOB: [u8; 83] = [
    0x54, 0x4d, 0x4c, 0x50, 0x02, 0x53, 0x00, 0x00, 0x00, 0x02, 0x01, 0x01, 0x81, 0x80, 0x80, 0x3b,
    0x00, 0x02, 0x02, 0x02, 0x02, 0x01, 0x00, 0x10, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x80, 0xbe,
    0x00, 0x00, 0x00, 0xbf, 0x00, 0x00, 0x80, 0x3f, 0x08, 0x00, 0x00, 0x00, 0x3e, 0x00, 0x00, 0x80,
    0xbd, 0x02, 0x02, 0x02, 0x00, 0x10, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x80, 0xbf, 0x00, 0x00,
    0x00, 0xbf, 0x00, 0x00, 0x40, 0x3f, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3e, 0xf2,
    0x54, 0x0b, 0xb8,
];

/// `tiny_int8_model()`, annotated byte by byte in `FORMAT.md`.
#[rustfmt::skip]
const INT8_BLOB: [u8; 108] = [
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
fn golden_bytes_end_in_their_crc_and_declare_their_length() {
    for blob in [&F32_BLOB[..], &INT8_BLOB[..]] {
        let (contents, crc) = blob.split_at(blob.len() - 4);
        assert_eq!(tinymlp::CRC.checksum(contents).to_le_bytes(), crc);
        assert_eq!(&blob[..4], b"TMLP");
        assert_eq!(blob[4], 2, "version varint");
        assert_eq!(blob[5..9], (blob.len() as u32).to_le_bytes());
    }
}

#[test]
fn golden_bytes_decode_to_the_same_values() {
    for (blob, owned, kind) in [
        (&F32_BLOB[..], tiny_f32_model(), ParamKind::F32),
        (&INT8_BLOB[..], tiny_int8_model(), ParamKind::Int8),
    ] {
        let model = Model::from_bytes(blob).unwrap();
        assert_eq!(model.kind(), kind);
        assert_eq!(*model.input(), owned.input);
        assert_eq!(model.classes(), 2);
        assert_eq!(model.input_len(), 2);
        assert_eq!(model.widest_hidden(), 2);
        assert_eq!(model.macs(), 8);
        assert_eq!(model.layers(), borrowed(&owned).as_slice());
        assert_eq!(model.layers()[1].activation, Activation::Softmax);
    }
}

#[test]
fn decoding_borrows_the_parameters_from_the_blob() {
    let model = Model::from_bytes(&INT8_BLOB).unwrap();
    let Params::Int8(params) = model.layers()[0].params else {
        panic!("int8 layer expected");
    };
    // The weights are the four bytes after their length byte at offset 28.
    assert_eq!(params.weights.as_ptr(), INT8_BLOB[29..].as_ptr());
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

#[test]
fn int8_golden_model_predicts_the_hand_computed_sums() {
    let model = Model::from_bytes(&INT8_BLOB).unwrap();
    let mut digest = OutputDigest::new();
    let mut expected_digest_bytes = Vec::new();
    for (pixels, sums, class) in INT8_CASES {
        let mut scratch = Int8Scratch::<2, 2>::new();
        let prediction = model.predict(&pixels, &mut scratch).unwrap();
        assert_eq!(prediction.raw, RawOutputs::Int32(&sums), "{pixels:?}");
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
        digest.add(&prediction);
        expected_digest_bytes.extend(sums.iter().flat_map(|s| s.to_le_bytes()));
    }
    assert_eq!(
        digest.finish(),
        tinymlp::CRC.checksum(&expected_digest_bytes)
    );
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
    let model = Model::from_bytes(&F32_BLOB).unwrap();
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
        input: model.input,
        classes: model.classes,
        layers: &layers,
    };
    assert_eq!(def.encoded_len(), Ok(INT8_BLOB.len()));
    let mut short = [0u8; 107];
    assert_eq!(
        def.encode_to_slice(&mut short).map(|b| b.len()),
        Err(tinymlp::Error::BufferTooSmall)
    );
    let mut exact = [0u8; 108];
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
    std::fs::remove_dir_all(&out).ok();
    assert_eq!(f32, F32_BLOB);
    assert_eq!(int8, INT8_BLOB);
}
