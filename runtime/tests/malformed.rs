//! Every kind of malformed blob, and every misuse of a loaded model, gets its own `Error`.
//!
//! Validation errors are produced by encoding a broken `ModelDef` (so the CRC is right and
//! the check under test is the one that fires); byte-level damage is done to real blobs.

mod common;

use common::{
    f32_bytes, i32_bytes, i8_bytes, load, load_model, splice, tiny_f32_model,
    tiny_features_int8_model, tiny_int8_model, to_version_2, varint, OwnedFeatures, OwnedLayer,
    OwnedModel, OwnedParams,
};
use tinymlp::{
    Activation, Error, F32Scratch, Header, InputKind, Int8Scratch, Model, ParamKind, Quantization,
    FORMAT_VERSION, MAX_LAYERS, MAX_WIDTH, OLDEST_FORMAT_VERSION,
};

/// Offset of the fixed 4-byte length: magic (4) and the one-byte version varint.
const LENGTH_AT: usize = 5;
/// Offset of the layer count in the tiny models: header 9, input variant 1, input spec 8,
/// classes 1, no model name 1, no class names 1.
const COUNT_AT: usize = 21;

fn both_tiny_blobs() -> [(&'static str, Vec<u8>); 2] {
    [
        ("f32", tiny_f32_model().encode()),
        ("int8", tiny_int8_model().encode()),
    ]
}

/// The pixel models as version 3 and version 2 blobs, and the feature model.
fn every_tiny_blob() -> [(&'static str, Vec<u8>); 5] {
    let [(_, f32), (_, int8)] = both_tiny_blobs();
    [
        ("f32 v2", to_version_2(&f32)),
        ("int8 v2", to_version_2(&int8)),
        ("f32", f32),
        ("int8", int8),
        ("features", tiny_features_int8_model().encode()),
    ]
}

#[test]
fn the_tiny_models_are_valid() {
    for (name, blob) in both_tiny_blobs() {
        assert_eq!(load(&blob), Ok(()), "{name}");
        assert_eq!(blob[COUNT_AT], 2, "{name}: layer count offset");
    }
    for (name, blob) in every_tiny_blob() {
        assert_eq!(load(&blob), Ok(()), "{name}");
    }
}

#[test]
fn truncated_at_every_length() {
    for (name, blob) in every_tiny_blob() {
        for length in 0..blob.len() {
            assert_eq!(
                load(&blob[..length]),
                Err(Error::Truncated),
                "{name} cut to {length} bytes"
            );
        }
    }
}

#[test]
fn every_byte_flipped_every_way() {
    for (name, blob) in every_tiny_blob() {
        let declared = u32::from_le_bytes(blob[LENGTH_AT..LENGTH_AT + 4].try_into().unwrap());
        assert_eq!(declared as usize, blob.len());
        for position in 0..blob.len() {
            for mask in (0..8).map(|bit| 1u8 << bit).chain([0xff]) {
                let mut damaged = blob.clone();
                damaged[position] ^= mask;
                let result = load(&damaged);
                let context = format!("{name}: byte {position} ^ {mask:#04x}");
                match position {
                    0..=3 => assert_eq!(result, Err(Error::BadMagic), "{context}"),
                    // A flip between the versions read (2 and 3) meets the checksum.
                    4 if (2..=3).contains(&damaged[4]) => {
                        assert_eq!(result, Err(Error::ChecksumMismatch), "{context}")
                    }
                    // A version whose varint goes on into the length: longer than needed
                    // (`83 8a 00`) or not a u16.
                    4 => assert!(
                        matches!(result, Err(Error::UnsupportedVersion(v)) if !(2..=3).contains(&v))
                            || damaged[4] & 0x80 != 0
                                && matches!(
                                    result,
                                    Err(Error::NonShortestVarint { offset: 4 } | Error::Malformed)
                                ),
                        "{context}: {result:?}"
                    ),
                    5..=8 => {
                        let length = u32::from_le_bytes(
                            damaged[LENGTH_AT..LENGTH_AT + 4].try_into().unwrap(),
                        ) as usize;
                        let expected = if length > blob.len() {
                            Error::Truncated
                        } else if length < tinymlp::CHECKSUM_LEN {
                            Error::Malformed
                        } else {
                            Error::ChecksumMismatch
                        };
                        assert_eq!(result, Err(expected), "{context}");
                    }
                    _ => assert_eq!(result, Err(Error::ChecksumMismatch), "{context}"),
                }
            }
        }
    }
}

#[test]
fn wrong_magic() {
    let blob = tiny_int8_model().encode();
    for magic in [*b"TMLQ", *b"\x7fELF", *b"PK\x03\x04", [0; 4], *b"tmlp"] {
        let mut wrong = blob.clone();
        wrong[..4].copy_from_slice(&magic);
        assert_eq!(load(&wrong), Err(Error::BadMagic), "{magic:?}");
    }
    assert_eq!(load(b"TMLX"), Err(Error::BadMagic));
    assert_eq!(load(b"X"), Err(Error::BadMagic));
    assert_eq!(load(b""), Err(Error::Truncated));
    assert_eq!(load(b"TML"), Err(Error::Truncated));
}

#[test]
fn wrong_or_future_version_is_named() {
    let (previous, next) = (OLDEST_FORMAT_VERSION - 1, FORMAT_VERSION + 1);
    for version in [0, previous, next, 255, 256, u16::MAX] {
        let mut model = tiny_int8_model();
        model.header = Header {
            version,
            ..Header::CURRENT
        };
        assert_eq!(
            load_model(&model),
            Err(Error::UnsupportedVersion(version)),
            "{version}"
        );
    }
    // A future version is refused by name before its (unknown) body or checksum is read.
    let mut future = b"TMLP".to_vec();
    future.extend(varint(u64::from(next)));
    future.extend(12345u32.to_le_bytes());
    future.extend(b"a body this runtime cannot know");
    assert_eq!(load(&future), Err(Error::UnsupportedVersion(next)));
    // A version varint that does not fit a u16 is garbage, not a version.
    let mut garbage = b"TMLP".to_vec();
    garbage.extend([0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0]);
    assert_eq!(load(&garbage), Err(Error::Malformed));
}

#[test]
fn bytes_after_the_declared_length_are_ignored() {
    for (name, blob) in every_tiny_blob() {
        let padded = [&blob[..], &[0xff; 37]].concat();
        assert_eq!(load(&padded), Ok(()), "{name}");
    }
}

#[test]
fn declared_length_shorter_than_the_header() {
    let blob = tiny_f32_model().encode();
    for length in [0u32, 3] {
        let mut damaged = blob.clone();
        damaged[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&length.to_le_bytes());
        assert_eq!(load(&damaged), Err(Error::Malformed), "{length}");
    }
}

#[test]
fn undecodable_fields_are_malformed() {
    let blob = tiny_f32_model().encode();
    // Layer 0 starts after the count: inputs, outputs, activation, params variant.
    let activation_at = COUNT_AT + 3;
    let variant_at = COUNT_AT + 4;
    assert_eq!(blob[activation_at], 1, "ReLU is variant 1");
    assert_eq!(blob[variant_at], 0, "F32 is variant 0");
    for (at, value) in [(activation_at, 3u8), (variant_at, 2), (variant_at, 0x80)] {
        let damaged = splice(&blob, at..at + 1, &[value]);
        assert_eq!(load(&damaged), Err(Error::Malformed), "byte {at} = {value}");
    }
    // A byte array declaring more bytes than the blob holds (here 2^31).
    let weights_len_at = variant_at + 1;
    assert_eq!(blob[weights_len_at], 16);
    let damaged = splice(&blob, weights_len_at..weights_len_at + 1, &varint(1 << 31));
    assert_eq!(load(&damaged), Err(Error::Malformed));
    // An Option tag other than 0 or 1 (the int8 model's last byte before the checksum is
    // the last layer's `None`).
    let blob = tiny_int8_model().encode();
    let option_at = blob.len() - tinymlp::CHECKSUM_LEN - 1;
    assert_eq!(blob[option_at], 0);
    let damaged = splice(&blob, option_at..option_at + 1, &[2]);
    assert_eq!(load(&damaged), Err(Error::Malformed));
}

#[test]
fn absurd_layer_counts() {
    let blob = tiny_f32_model().encode();
    let count = COUNT_AT..COUNT_AT + 1;
    assert_eq!(
        load(&splice(&blob, count.clone(), &varint(0))),
        Err(Error::NoLayers)
    );
    for n in [MAX_LAYERS as u64 + 1, 1000, u64::from(u32::MAX)] {
        assert_eq!(
            load(&splice(&blob, count.clone(), &varint(n))),
            Err(Error::TooManyLayers(n as u32)),
            "{n}"
        );
    }
    // Beyond u32: not a count at all.
    assert_eq!(
        load(&splice(&blob, count.clone(), &varint(1 << 40))),
        Err(Error::Malformed)
    );
    // Fewer layers declared than written: the rest is trailing garbage.
    assert_eq!(
        load(&splice(&blob, count.clone(), &varint(1))),
        Err(Error::TrailingBytes)
    );
    // More declared than written: the decoder runs out.
    assert_eq!(
        load(&splice(&blob, count, &varint(3))),
        Err(Error::Malformed)
    );
}

#[test]
fn max_layers_is_accepted() {
    let widths = vec![3; MAX_LAYERS];
    let float = common::random_float_model(common::row_input(3), &widths, 1);
    assert_eq!(load_model(&float.to_f32()), Ok(()));
    let calibration = vec![vec![10, 200, 30]];
    assert_eq!(load_model(&float.quantize(&calibration).model), Ok(()));
}

#[test]
fn absurd_widths() {
    for width in [0u32, MAX_WIDTH + 1, u32::MAX] {
        let mut model = tiny_f32_model();
        model.layers[1].outputs = width;
        model.classes = width;
        assert_eq!(
            load_model(&model),
            Err(Error::WidthOutOfRange { layer: 1, width }),
            "{width}"
        );
        let mut model = tiny_f32_model();
        model.layers[0].inputs = width;
        assert_eq!(
            load_model(&model),
            Err(Error::WidthOutOfRange { layer: 0, width }),
            "{width}"
        );
    }
    let mut model = tiny_f32_model();
    model.input.width = 0;
    assert_eq!(
        load_model(&model),
        Err(Error::WidthOutOfRange {
            layer: u8::MAX,
            width: 0
        })
    );
    model.input = tinymlp::InputSpec {
        width: u16::MAX,
        height: u16::MAX,
        channels: u16::MAX,
        ..model.input
    };
    assert_eq!(
        load_model(&model),
        Err(Error::WidthOutOfRange {
            layer: u8::MAX,
            width: u32::MAX
        })
    );
    model.input.channels = 1;
    model.input.height = 1;
    model.input.width = 4097;
    assert_eq!(
        load_model(&model),
        Err(Error::WidthOutOfRange {
            layer: u8::MAX,
            width: 4097
        })
    );
}

#[test]
fn inconsistent_shapes() {
    let mut model = tiny_f32_model();
    model.input.width = 3;
    assert_eq!(
        load_model(&model),
        Err(Error::ShapeMismatch {
            layer: 0,
            expected: 3,
            found: 2
        })
    );

    // Layer 1 takes 3 inputs but layer 0 produces 2 (parameter sizes match its claim).
    let mut model = tiny_f32_model();
    model.layers[1] = OwnedLayer {
        inputs: 3,
        outputs: 2,
        activation: Activation::Softmax,
        params: OwnedParams::F32 {
            weights: f32_bytes(&[0.0; 6]),
            bias: f32_bytes(&[0.0; 2]),
        },
    };
    assert_eq!(
        load_model(&model),
        Err(Error::ShapeMismatch {
            layer: 1,
            expected: 2,
            found: 3
        })
    );

    let mut model = tiny_int8_model();
    model.classes = 3;
    assert_eq!(
        load_model(&model),
        Err(Error::ClassCountMismatch {
            classes: 3,
            outputs: 2
        })
    );
}

#[test]
fn parameter_arrays_of_the_wrong_size() {
    type Break = fn(&mut OwnedModel);
    let cases: [(&str, Break, u32, u32); 7] = [
        ("f32 weights", |m| shrink_f32(m, true), 16, 12),
        ("f32 bias", |m| shrink_f32(m, false), 8, 4),
        ("int8 weights", |m| m.int8_mut(0).weights.push(0), 4, 5),
        (
            "weight scales",
            |m| m.int8_mut(0).weight_scales.truncate(4),
            8,
            4,
        ),
        ("int8 bias", |m| m.int8_mut(0).bias.extend([0; 4]), 8, 12),
        (
            "multipliers",
            |m| {
                m.int8_mut(0)
                    .requantization
                    .as_mut()
                    .unwrap()
                    .multipliers
                    .clear()
            },
            8,
            0,
        ),
        (
            "shifts",
            |m| {
                m.int8_mut(0)
                    .requantization
                    .as_mut()
                    .unwrap()
                    .shifts
                    .push(0)
            },
            2,
            3,
        ),
    ];
    for (name, break_it, expected, found) in cases {
        let mut model = if name.starts_with("f32") {
            tiny_f32_model()
        } else {
            tiny_int8_model()
        };
        break_it(&mut model);
        assert_eq!(
            load_model(&model),
            Err(Error::ParameterSize {
                layer: 0,
                expected,
                found
            }),
            "{name}"
        );
    }
}

fn shrink_f32(model: &mut OwnedModel, weights: bool) {
    if let OwnedParams::F32 { weights: w, bias } = &mut model.layers[0].params {
        let array = if weights { w } else { bias };
        array.truncate(array.len() - 4);
    }
}

/// Scales that are not finite and positive.
const BAD_SCALES: [f32; 6] = [0.0, -0.0, -1.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY];

#[test]
fn invalid_input_scales() {
    for scale in BAD_SCALES {
        for mut model in [tiny_f32_model(), tiny_int8_model()] {
            model.input.scale = scale;
            assert_eq!(
                load_model(&model),
                Err(Error::InvalidScale { layer: u8::MAX }),
                "{scale}"
            );
        }
    }
}

#[test]
fn invalid_layer_scales() {
    for scale in BAD_SCALES {
        // Layer 1's input scale (checked before it is compared with layer 0's output).
        let mut model = tiny_int8_model();
        model.int8_mut(1).input.scale = scale;
        assert_eq!(
            load_model(&model),
            Err(Error::InvalidScale { layer: 1 }),
            "{scale}"
        );
        // One channel's weight scale.
        let mut model = tiny_int8_model();
        model.int8_mut(1).weight_scales[4..8].copy_from_slice(&scale.to_le_bytes());
        assert_eq!(
            load_model(&model),
            Err(Error::InvalidScale { layer: 1 }),
            "{scale}"
        );
        // The requantization's output scale.
        let mut model = tiny_int8_model();
        model
            .int8_mut(0)
            .requantization
            .as_mut()
            .unwrap()
            .output
            .scale = scale;
        assert_eq!(
            load_model(&model),
            Err(Error::InvalidScale { layer: 0 }),
            "{scale}"
        );
    }
}

#[test]
fn invalid_zero_points() {
    for zero_point in [-1, 256, i32::MIN, i32::MAX] {
        let mut model = tiny_int8_model();
        model.int8_mut(0).input.zero_point = zero_point;
        assert_eq!(
            load_model(&model),
            Err(Error::InvalidZeroPoint { layer: 0 }),
            "{zero_point}"
        );
    }
    for zero_point in [-129, 128, 255, i32::MIN] {
        let mut model = tiny_int8_model();
        model
            .int8_mut(0)
            .requantization
            .as_mut()
            .unwrap()
            .output
            .zero_point = zero_point;
        assert_eq!(
            load_model(&model),
            Err(Error::InvalidZeroPoint { layer: 0 }),
            "{zero_point}"
        );
        let mut model = tiny_int8_model();
        model.int8_mut(1).input.zero_point = zero_point;
        assert_eq!(
            load_model(&model),
            Err(Error::InvalidZeroPoint { layer: 1 }),
            "{zero_point}"
        );
    }
}

#[test]
fn quantization_that_does_not_chain() {
    // Layer 0 must read pixels with the input spec's scale and zero point.
    let mut model = tiny_int8_model();
    model.int8_mut(0).input.zero_point = 3;
    assert_eq!(
        load_model(&model),
        Err(Error::QuantizationMismatch { layer: 0 })
    );
    let mut model = tiny_int8_model();
    model.int8_mut(0).input.scale = 1.0 / 256.0;
    assert_eq!(
        load_model(&model),
        Err(Error::QuantizationMismatch { layer: 0 })
    );
    // Layer 1 must read layer 0's output quantization.
    let mut model = tiny_int8_model();
    *model.int8_mut(1).input = Quantization {
        scale: 0.0078125,
        zero_point: -127,
    };
    assert_eq!(
        load_model(&model),
        Err(Error::QuantizationMismatch { layer: 1 })
    );
}

#[test]
fn requantization_out_of_range() {
    let cases: [(i32, i8); 6] = [
        ((1 << 30) - 1, -7),
        (0, -7),
        (-1_077_952_576, -7),
        (i32::MIN, -7),
        (1 << 30, 31),
        (1 << 30, -32),
    ];
    for (multiplier, shift) in cases {
        let mut model = tiny_int8_model();
        let requantization = model.int8_mut(0).requantization.as_mut().unwrap();
        requantization.multipliers[4..8].copy_from_slice(&multiplier.to_le_bytes());
        requantization.shifts[1] = shift as u8;
        assert_eq!(
            load_model(&model),
            Err(Error::InvalidRequantization { layer: 0 }),
            "{multiplier} {shift}"
        );
    }
    // The edges of the ranges are valid.
    for (multiplier, shift) in [(1 << 30, -31), (i32::MAX, 30)] {
        let mut model = tiny_int8_model();
        let requantization = model.int8_mut(0).requantization.as_mut().unwrap();
        requantization.multipliers = i32_bytes(&[multiplier; 2]);
        requantization.shifts = i8_bytes(&[shift; 2]);
        assert_eq!(load_model(&model), Ok(()), "{multiplier} {shift}");
    }
}

#[test]
fn misplaced_requantization() {
    let mut model = tiny_int8_model();
    *model.int8_mut(0).requantization = None;
    assert_eq!(
        load_model(&model),
        Err(Error::RequantizationPlacement { layer: 0 })
    );
    let mut model = tiny_int8_model();
    let hidden = model.int8_mut(0).requantization.clone();
    *model.int8_mut(1).requantization = hidden;
    assert_eq!(
        load_model(&model),
        Err(Error::RequantizationPlacement { layer: 1 })
    );
}

#[test]
fn mixed_parameter_kinds() {
    let mut model = tiny_int8_model();
    model.layers[1] = tiny_f32_model().layers[1].clone();
    assert_eq!(
        load_model(&model),
        Err(Error::MixedParameterKinds { layer: 1 })
    );
    let mut model = tiny_f32_model();
    model.layers[1] = tiny_int8_model().layers[1].clone();
    assert_eq!(
        load_model(&model),
        Err(Error::MixedParameterKinds { layer: 1 })
    );
}

#[test]
fn activations_in_the_wrong_place() {
    for mut model in [tiny_f32_model(), tiny_int8_model()] {
        model.layers[0].activation = Activation::Softmax;
        assert_eq!(
            load_model(&model),
            Err(Error::InvalidActivation { layer: 0 })
        );
        model.layers[0].activation = Activation::Relu;
        model.layers[1].activation = Activation::Relu;
        assert_eq!(
            load_model(&model),
            Err(Error::InvalidActivation { layer: 1 })
        );
        // A hidden layer without activation and logits without softmax are fine.
        model.layers[0].activation = Activation::None;
        model.layers[1].activation = Activation::None;
        assert_eq!(load_model(&model), Ok(()));
    }
}

#[test]
fn non_finite_f32_parameters() {
    for value in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        for (layer, in_weights) in [(0u8, true), (1, false)] {
            let mut model = tiny_f32_model();
            if let OwnedParams::F32 { weights, bias } = &mut model.layers[layer as usize].params {
                let array = if in_weights { weights } else { bias };
                array[4..8].copy_from_slice(&value.to_le_bytes());
            }
            assert_eq!(
                load_model(&model),
                Err(Error::NonFiniteParameter { layer }),
                "{value} in layer {layer}"
            );
        }
    }
}

#[test]
fn wrong_input_length() {
    for blob in [tiny_f32_model().encode(), tiny_int8_model().encode()] {
        let model = Model::from_bytes(&blob).unwrap();
        for pixels in [&[][..], &[1], &[1, 2, 3]] {
            let expected = Err(Error::InputLength {
                expected: 2,
                found: pixels.len() as u32,
            });
            let mut int8 = Int8Scratch::<2, 2>::new();
            let mut f32 = F32Scratch::<2, 2>::new();
            match model.kind() {
                ParamKind::Int8 => {
                    assert_eq!(model.predict(pixels, &mut int8).map(|_| ()), expected)
                }
                ParamKind::F32 => assert_eq!(model.predict(pixels, &mut f32).map(|_| ()), expected),
            }
        }
    }
}

#[test]
fn wrong_scratch_kind_or_size() {
    let int8_blob = tiny_int8_model().encode();
    let f32_blob = tiny_f32_model().encode();
    let int8 = Model::from_bytes(&int8_blob).unwrap();
    let f32 = Model::from_bytes(&f32_blob).unwrap();
    let pixels = [7, 9];

    assert_eq!(
        int8.predict(&pixels, &mut F32Scratch::<2, 2>::new())
            .map(|_| ()),
        Err(Error::ScratchKind {
            model: ParamKind::Int8,
            scratch: ParamKind::F32
        })
    );
    assert_eq!(
        f32.predict(&pixels, &mut Int8Scratch::<2, 2>::new())
            .map(|_| ()),
        Err(Error::ScratchKind {
            model: ParamKind::F32,
            scratch: ParamKind::Int8
        })
    );
    let too_narrow = Err(Error::ScratchTooSmall {
        needed: 2,
        capacity: 1,
    });
    assert_eq!(
        int8.predict(&pixels, &mut Int8Scratch::<1, 2>::new())
            .map(|_| ()),
        too_narrow
    );
    assert_eq!(
        f32.predict(&pixels, &mut F32Scratch::<1, 2>::new())
            .map(|_| ()),
        too_narrow
    );
    assert_eq!(
        int8.predict(&pixels, &mut Int8Scratch::<2, 1>::new())
            .map(|_| ()),
        too_narrow
    );
    assert_eq!(
        f32.predict(&pixels, &mut F32Scratch::<2, 1>::new())
            .map(|_| ()),
        too_narrow
    );
    assert_eq!(int8.check_scratch::<Int8Scratch<1, 2>>(), too_narrow);
    assert_eq!(int8.check_scratch::<Int8Scratch<2, 2>>(), Ok(()));
    // A block of zero hidden outputs can sum nothing: no hidden layer fits.
    assert_eq!(
        int8.predict(&pixels, &mut Int8Scratch::<2, 2, 0>::new())
            .map(|_| ()),
        Err(Error::ScratchTooSmall {
            needed: 2,
            capacity: 0,
        })
    );
    assert!(int8
        .predict(&pixels, &mut Int8Scratch::<2, 2, 1>::new())
        .is_ok());
    // Larger than needed is fine.
    assert!(int8
        .predict(&pixels, &mut Int8Scratch::<64, 64>::new())
        .is_ok());
    assert!(f32
        .predict(&pixels, &mut F32Scratch::<64, 64>::new())
        .is_ok());
}

#[test]
fn errors_display_what_went_wrong() {
    let texts = [
        (Error::UnsupportedVersion(4).to_string(), "version 4"),
        (
            Error::InvalidClassName { class: 7 }.to_string(),
            "class 7 name",
        ),
        (
            Error::NonFiniteFeature { index: 3 }.to_string(),
            "feature 3 is NaN",
        ),
        (
            Error::WrongInputKind {
                model: InputKind::Features,
            }
            .to_string(),
            "call predict_features",
        ),
        (
            Error::WidthOutOfRange {
                layer: u8::MAX,
                width: 0,
            }
            .to_string(),
            "input: width 0",
        ),
        (
            Error::ScratchTooSmall {
                needed: 512,
                capacity: 256,
            }
            .to_string(),
            "holds 256 values, this model needs 512",
        ),
        (Error::InvalidScale { layer: 3 }.to_string(), "layer 3"),
    ];
    for (text, expected) in texts {
        assert!(text.contains(expected), "{text:?} lacks {expected:?}");
    }
}

// Format version 3's new fields: the feature input, the names, and `predict_features`.

/// Offset of the feature model's input variant index (after the 9-byte header).
const INPUT_VARIANT_AT: usize = 9;

#[test]
fn feature_counts_out_of_range_or_unequal() {
    for count in [0usize, MAX_WIDTH as usize + 1] {
        let mut model = tiny_features_int8_model();
        model.features = Some(OwnedFeatures::new(&vec![0.0; count], &vec![1.0; count]));
        assert_eq!(
            load_model(&model),
            Err(Error::WidthOutOfRange {
                layer: u8::MAX,
                width: count as u32
            }),
            "{count} features"
        );
    }
    // More scales than offsets, and offsets that are not whole f32 values.
    let mut model = tiny_features_int8_model();
    model.features = Some(OwnedFeatures::new(&[0.0, 0.0], &[1.0, 1.0, 1.0]));
    assert_eq!(
        load_model(&model),
        Err(Error::ParameterSize {
            layer: u8::MAX,
            expected: 8,
            found: 12
        })
    );
    let mut model = tiny_features_int8_model();
    model.features.as_mut().unwrap().offsets.push(0);
    assert_eq!(
        load_model(&model),
        Err(Error::ParameterSize {
            layer: u8::MAX,
            expected: 8,
            found: 9
        })
    );
    // Three features where the first layer takes two.
    let mut model = tiny_features_int8_model();
    model.features = Some(OwnedFeatures::new(&[0.0; 3], &[1.0; 3]));
    assert_eq!(
        load_model(&model),
        Err(Error::ShapeMismatch {
            layer: 0,
            expected: 3,
            found: 2
        })
    );
}

#[test]
fn non_finite_offsets_and_scales() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut model = tiny_features_int8_model();
        model.features = Some(OwnedFeatures::new(&[0.0, bad], &[1.0, 1.0]));
        assert_eq!(
            load_model(&model),
            Err(Error::NonFiniteFeatureTransform { feature: 1 }),
            "offset {bad}"
        );
        model.features = Some(OwnedFeatures::new(&[0.0, 0.0], &[bad, 1.0]));
        assert_eq!(
            load_model(&model),
            Err(Error::NonFiniteFeatureTransform { feature: 0 }),
            "scale {bad}"
        );
    }
}

#[test]
fn bad_model_names() {
    let long = "x".repeat(256);
    for name in ["", long.as_str()] {
        let mut model = tiny_features_int8_model();
        model.name = Some(name.into());
        assert_eq!(load_model(&model), Err(Error::InvalidModelName), "{name:?}");
    }
    // 255 bytes of UTF-8 (85 three-byte characters) is the longest name.
    let mut model = tiny_features_int8_model();
    model.name = Some("\u{2603}".repeat(85));
    assert_eq!(load_model(&model), Ok(()));
    // Bytes that are not UTF-8: a lone continuation byte, an overlong encoding, a surrogate.
    let blob = tiny_features_int8_model().encode();
    let name_at = blob.windows(7).position(|w| w == b"weather").unwrap();
    for bad in [&[0x80][..], &[0xc0, 0x80], &[0xed, 0xa0, 0x80]] {
        let damaged = splice(&blob, name_at..name_at + bad.len(), bad);
        assert_eq!(load(&damaged), Err(Error::InvalidModelName), "{bad:02x?}");
    }
}

#[test]
fn bad_class_names() {
    let mut model = tiny_features_int8_model();
    model.class_names[1] = String::new();
    assert_eq!(
        load_model(&model),
        Err(Error::InvalidClassName { class: 1 })
    );
    model.class_names[1] = "y".repeat(256);
    assert_eq!(
        load_model(&model),
        Err(Error::InvalidClassName { class: 1 })
    );
    let blob = tiny_features_int8_model().encode();
    let rain_at = blob.windows(4).position(|w| w == b"rain").unwrap();
    let damaged = splice(&blob, rain_at..rain_at + 1, &[0xff]);
    assert_eq!(load(&damaged), Err(Error::InvalidClassName { class: 1 }));
    // Names for some classes but not all, or for more classes than there are.
    for names in [vec!["dry"], vec!["dry", "rain", "snow"]] {
        let mut model = tiny_features_int8_model();
        model.class_names = names.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            load_model(&model),
            Err(Error::ClassNameCount {
                names: names.len() as u32,
                classes: 2
            }),
            "{names:?}"
        );
    }
    // A class name count beyond the bytes there: the decoder runs out.
    let count_at = rain_at - 6; // the count, "dry" (length and 3 bytes), rain's length
    assert_eq!(blob[count_at], 2);
    let damaged = splice(&blob, count_at..count_at + 1, &varint(u64::from(u32::MAX)));
    assert_eq!(load(&damaged), Err(Error::Malformed));
}

#[test]
fn pixel_models_may_have_names_too() {
    let mut model = tiny_int8_model();
    model.name = Some("digits".into());
    model.class_names = vec!["zero".into(), "one".into()];
    let blob = model.encode();
    let loaded = Model::from_bytes(&blob).unwrap();
    assert_eq!(loaded.name(), Some("digits"));
    assert_eq!(loaded.class_name(1), Some("one"));
}

#[test]
fn unknown_input_variant_is_malformed() {
    let blob = tiny_features_int8_model().encode();
    assert_eq!(blob[INPUT_VARIANT_AT], 1, "features are variant 1");
    let damaged = splice(&blob, INPUT_VARIANT_AT..INPUT_VARIANT_AT + 1, &[2]);
    assert_eq!(load(&damaged), Err(Error::Malformed));
    // A feature model's fields read as a version 2 blob are nonsense, not a crash.
    let mut as_v2 = blob.clone();
    as_v2[4] = 2;
    let as_v2 = tinymlp_fuzz_case::seal(&as_v2[..as_v2.len() - 4]);
    assert!(load(&as_v2).is_err());
}

#[test]
fn int8_feature_zero_point_out_of_range() {
    for zero_point in [-129, 128, 255] {
        let mut model = tiny_features_int8_model();
        model.int8_mut(0).input.zero_point = zero_point;
        assert_eq!(
            load_model(&model),
            Err(Error::InvalidZeroPoint { layer: 0 }),
            "{zero_point}"
        );
    }
    for zero_point in [-128, 127] {
        let mut model = tiny_features_int8_model();
        model.int8_mut(0).input.zero_point = zero_point;
        assert_eq!(load_model(&model), Ok(()), "{zero_point}");
    }
    // Its scale is checked like every int8 scale.
    let mut model = tiny_features_int8_model();
    model.int8_mut(0).input.scale = 0.0;
    assert_eq!(load_model(&model), Err(Error::InvalidScale { layer: 0 }));
}

#[test]
fn predict_on_the_wrong_input_kind() {
    let blob = tiny_features_int8_model().encode();
    let features = Model::from_bytes(&blob).unwrap();
    let pixel_blob = tiny_int8_model().encode();
    let pixels = Model::from_bytes(&pixel_blob).unwrap();
    let mut scratch = Int8Scratch::<2, 2>::new();
    assert_eq!(
        features.predict(&[1, 2], &mut scratch).map(|_| ()),
        Err(Error::WrongInputKind {
            model: InputKind::Features
        })
    );
    assert_eq!(
        pixels
            .predict_features(&[1.0, 2.0], &mut scratch)
            .map(|_| ()),
        Err(Error::WrongInputKind {
            model: InputKind::Pixels
        })
    );
    assert_eq!(
        features.predict_batch(&[1, 2], &mut scratch, |_, _| {}),
        Err(Error::WrongInputKind {
            model: InputKind::Features
        })
    );
    assert_eq!(
        features.predict_features(&[1.0], &mut scratch).map(|_| ()),
        Err(Error::InputLength {
            expected: 2,
            found: 1
        })
    );
}

#[test]
fn non_finite_features_are_refused_by_index() {
    let int8_blob = tiny_features_int8_model().encode();
    let mut float = tiny_f32_model();
    float.features = Some(OwnedFeatures::new(&[20.0, 1000.0], &[0.5, 0.125]));
    let f32_blob = float.encode();
    let int8 = Model::from_bytes(&int8_blob).unwrap();
    let f32 = Model::from_bytes(&f32_blob).unwrap();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        for index in 0..2 {
            let mut features = [24.0, 1012.0];
            features[index] = bad;
            let refused = Err(Error::NonFiniteFeature {
                index: index as u32,
            });
            let mut scratch = Int8Scratch::<2, 2>::new();
            assert_eq!(
                int8.predict_features(&features, &mut scratch).map(|_| ()),
                refused
            );
            let mut scratch = F32Scratch::<2, 2>::new();
            assert_eq!(
                f32.predict_features(&features, &mut scratch).map(|_| ()),
                refused
            );
        }
    }
    // Finite, but so far from the offset that the standardized value overflows.
    let mut scratch = F32Scratch::<2, 2>::new();
    assert_eq!(
        f32.predict_features(&[-f32::MAX, 1012.0], &mut scratch)
            .map(|_| ()),
        Ok(()),
        "(-MAX - 20) · 0.5 is finite"
    );
    let mut wide = tiny_f32_model();
    wide.features = Some(OwnedFeatures::new(&[f32::MAX, 0.0], &[1.0, 1.0]));
    let wide_blob = wide.encode();
    let wide = Model::from_bytes(&wide_blob).unwrap();
    assert_eq!(
        wide.predict_features(&[-f32::MAX, 0.0], &mut scratch)
            .map(|_| ()),
        Err(Error::NonFiniteFeature { index: 0 })
    );
    // Finite standardized features whose f32 logits overflow: 2 · 3e38.
    let mut huge = tiny_f32_model();
    huge.layers.remove(0);
    huge.layers[0].params = OwnedParams::F32 {
        weights: f32_bytes(&[2.0; 4]),
        bias: f32_bytes(&[0.0; 2]),
    };
    huge.features = Some(OwnedFeatures::new(&[0.0, 0.0], &[1.0, 1.0]));
    let huge_blob = huge.encode();
    let huge = Model::from_bytes(&huge_blob).unwrap();
    assert_eq!(
        huge.predict_features(&[3e38, 3e38], &mut scratch)
            .map(|_| ()),
        Err(Error::NonFiniteOutput)
    );
    // int8 models clamp instead: any finite feature gives a prediction.
    let mut scratch = Int8Scratch::<2, 2>::new();
    assert!(int8.predict_features(&[3e38, -3e38], &mut scratch).is_ok());
}

#[test]
fn feature_models_need_scratch_for_their_features() {
    // One layer on 5 features: no hidden layer, but the features need 5 values of scratch.
    let mut model = tiny_f32_model();
    model.layers.remove(0);
    model.layers[0].inputs = 5;
    model.layers[0].params = OwnedParams::F32 {
        weights: f32_bytes(&[0.5; 10]),
        bias: f32_bytes(&[0.0; 2]),
    };
    model.features = Some(OwnedFeatures::new(&[0.0; 5], &[1.0; 5]));
    let blob = model.encode();
    let loaded = Model::from_bytes(&blob).unwrap();
    assert_eq!(loaded.widest_hidden(), 0);
    assert_eq!(loaded.scratch_width(), 5);
    assert_eq!(
        loaded.check_scratch::<F32Scratch<4, 2>>(),
        Err(Error::ScratchTooSmall {
            needed: 5,
            capacity: 4
        })
    );
    let mut scratch = F32Scratch::<5, 2>::new();
    let prediction = loaded.predict_features(&[1.0; 5], &mut scratch).unwrap();
    assert_eq!(prediction.raw, tinymlp::RawOutputs::F32(&[2.5, 2.5]));
}
