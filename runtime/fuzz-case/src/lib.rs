//! How the loader fuzz target reads an input: the one function the fuzz target
//! (`fuzz/fuzz_targets/loader.rs`), the stable corpus replay test (`tests/fuzz_corpus.rs`)
//! and the web tests' native helper (`web/native`, which replays the corpus for the wasm
//! module) all call. It uses only `tinymlp` and `std`.

/// Feeds one fuzz input to [`tinymlp::Model::from_bytes`] and, when the blob loads, to
/// `predict` (pixel models) or `predict_features` (feature models) with both scratch kinds,
/// checking what must hold of any prediction.
///
/// The first byte picks the mode. Even: the rest is a blob, used as it is (its CRC-32 turns
/// almost every mutation away at the door, which is worth fuzzing too). Odd: the rest is a
/// blob without its checksum; the header's length field and the CRC-32 are filled in here,
/// so that mutations reach the decoder and the validation behind the checksum.
pub fn fuzz_one(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let blob = if mode & 1 == 1 {
        seal(rest)
    } else {
        rest.to_vec()
    };
    let Ok(model) = tinymlp::Model::from_bytes(&blob) else {
        return;
    };
    let values = values_for(data, &model);
    let first = predict_all_scratches(&model, &values);

    // Whatever loads (version 2 or 3) re-encodes into a version 3 blob that loads as the
    // same model, with the same names, and predicts the same bits.
    let class_names: Vec<&str> = (0..model.classes())
        .map_while(|class| model.class_name(class))
        .collect();
    assert!(class_names.is_empty() || class_names.len() == model.classes());
    let def = tinymlp::ModelDef {
        header: tinymlp::Header::CURRENT,
        input: *model.input(),
        classes: model.classes() as u32,
        name: model.name(),
        class_names: &class_names,
        layers: model.layers(),
    };
    let mut buffer = vec![
        0;
        def.encoded_len()
            .expect("a loaded model has an encoded length")
    ];
    let encoded = def
        .encode_to_slice(&mut buffer)
        .expect("the buffer has the encoded length");
    let again = tinymlp::Model::from_bytes(encoded).expect("a re-encoded model loads");
    assert_eq!(again.layers(), model.layers());
    assert_eq!(again.input(), model.input());
    assert_eq!(again.name(), model.name());
    assert_eq!(again.class_name(0), model.class_name(0));
    assert_eq!(predict_all_scratches(&again, &values), first);

    // A wrong input length or kind is refused, never read past.
    let mut scratch = tinymlp::Int8Scratch::<1, 1>::new();
    let (pixels, features) = match &values {
        Values::Pixels(pixels) => (pixels.as_slice(), vec![0.0; pixels.len()]),
        Values::Features(features) => (&data[..0], features.clone()),
    };
    assert!(model
        .predict(pixels.get(1..).unwrap_or_default(), &mut scratch)
        .is_err());
    assert!(model
        .predict_features(features.get(1..).unwrap_or_default(), &mut scratch)
        .is_err());
    let wrong_kind = match values {
        Values::Pixels(_) => model.predict_features(&features, &mut scratch),
        Values::Features(_) => model.predict(&vec![0; features.len()], &mut scratch),
    };
    assert!(matches!(
        wrong_kind,
        Err(tinymlp::Error::WrongInputKind { .. })
    ));

    // A NaN feature is refused by its index, whatever the scratch.
    if let Values::Features(mut features) = values_for(data, &model) {
        let index = data.len() % features.len();
        features[index] = f32::NAN;
        let mut scratch = Box::new(tinymlp::Int8Scratch::<4096, 4096>::new());
        let mut f32_scratch = Box::new(tinymlp::F32Scratch::<4096, 4096>::new());
        let refused = match model.kind() {
            tinymlp::ParamKind::Int8 => model.predict_features(&features, &mut *scratch),
            tinymlp::ParamKind::F32 => model.predict_features(&features, &mut *f32_scratch),
        };
        // That feature, or an earlier one whose standardized value overflows.
        match refused.map(|p| p.class) {
            Err(tinymlp::Error::NonFiniteFeature { index: refused }) => {
                assert!(refused as usize <= index, "{refused} after {index}")
            }
            other => panic!("a NaN feature gave {other:?}"),
        }
    }
}

/// What a model is run on.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// A pixel model's input.
    Pixels(Vec<u8>),
    /// A feature model's input.
    Features(Vec<f32>),
}

/// The input a fuzz input is run on: its bytes repeated to the model's input length, as
/// pixels, or as features (each byte a signed number of quarters, so a feature model sees
/// values on both sides of its offsets).
pub fn values_for(data: &[u8], model: &tinymlp::Model<'_>) -> Values {
    let bytes = data.iter().copied().cycle().take(model.input_len());
    match model.input() {
        tinymlp::Input::Pixels(_) => Values::Pixels(bytes.collect()),
        tinymlp::Input::Features(_) => {
            Values::Features(bytes.map(|b| f32::from(b as i8) * 0.25).collect())
        }
    }
}

/// The pixels a fuzz input is run on: its bytes repeated to the model's input length.
pub fn pixels_for(data: &[u8], model: &tinymlp::Model<'_>) -> Vec<u8> {
    data.iter()
        .copied()
        .cycle()
        .take(model.input_len())
        .collect()
}

/// `rest` with its header length set to the sealed size and a CRC-32 appended.
pub fn seal(rest: &[u8]) -> Vec<u8> {
    let mut blob = rest.to_vec();
    let length = (rest.len() + tinymlp::CHECKSUM_LEN) as u32;
    // Magic (4 bytes) and a one-byte version varint come before the fixed 4-byte length.
    if let Some(field) = blob.get_mut(5..9) {
        field.copy_from_slice(&length.to_le_bytes());
    }
    let crc = tinymlp::CRC.checksum(&blob);
    blob.extend_from_slice(&crc.to_le_bytes());
    blob
}

/// What one prediction computed, compared across scratch buffers and re-encodings.
#[derive(Debug, PartialEq)]
enum Outcome {
    Int32(usize, Vec<i32>),
    /// Logits as bits, so NaN compares equal to itself.
    F32(usize, Vec<u32>),
}

/// Predicts with small and large scratch buffers of both kinds; returns what the large one
/// of the model's kind computed (for a feature model, possibly that a standardized feature
/// or, f32 only, an output overflowed: raw features are not bounded).
fn predict_all_scratches(model: &tinymlp::Model<'_>, pixels: &Values) -> tinymlp::Result<Outcome> {
    use tinymlp::{Error, F32Scratch, Int8Scratch, ParamKind};

    let small_int8 = predict_checked(model, pixels, &mut Int8Scratch::<8, 4>::new());
    let small_f32 = predict_checked(model, pixels, &mut F32Scratch::<8, 4>::new());
    // Hidden layers summed three outputs at a time: the same bits as all at once.
    let blocked_int8 = predict_checked(
        model,
        pixels,
        &mut *Box::new(Int8Scratch::<4096, 4096, 3>::new()),
    );
    let large = match model.kind() {
        ParamKind::Int8 => predict_checked(
            model,
            pixels,
            &mut *Box::new(Int8Scratch::<4096, 4096>::new()),
        ),
        ParamKind::F32 => predict_checked(
            model,
            pixels,
            &mut *Box::new(F32Scratch::<4096, 4096>::new()),
        ),
    };
    let features = matches!(pixels, Values::Features(_));
    match large {
        Ok(_) => {}
        Err(Error::NonFiniteFeature { .. }) if features => {}
        Err(Error::NonFiniteOutput) if features && model.kind() == ParamKind::F32 => {}
        Err(other) => panic!("the largest scratch runs every valid model: {other:?}"),
    }
    for small in [small_int8, small_f32, blocked_int8] {
        match small {
            Err(Error::ScratchKind { .. } | Error::ScratchTooSmall { .. }) => {}
            other => assert_eq!(other, large),
        }
    }
    large
}

fn predict_checked<S: tinymlp::Scratch>(
    model: &tinymlp::Model<'_>,
    values: &Values,
    scratch: &mut S,
) -> tinymlp::Result<Outcome> {
    let prediction = match values {
        Values::Pixels(pixels) => model.predict(pixels, scratch)?,
        Values::Features(features) => model.predict_features(features, scratch)?,
    };
    assert!(prediction.probabilities.iter().all(|p| p.is_finite()));
    assert!(prediction.class < model.classes());
    assert_eq!(prediction.probabilities.len(), model.classes());
    assert_eq!(
        prediction.probability.to_bits(),
        prediction.probabilities[prediction.class].to_bits()
    );
    Ok(match prediction.raw {
        tinymlp::RawOutputs::Int32(raw) => {
            assert_eq!(model.kind(), tinymlp::ParamKind::Int8);
            assert_eq!(raw.len(), model.classes());
            Outcome::Int32(prediction.class, raw.to_vec())
        }
        tinymlp::RawOutputs::F32(raw) => {
            assert_eq!(model.kind(), tinymlp::ParamKind::F32);
            assert_eq!(raw.len(), model.classes());
            Outcome::F32(prediction.class, raw.iter().map(|v| v.to_bits()).collect())
        }
    })
}
