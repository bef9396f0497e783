//! Replays the fuzz corpus (`fuzz/corpus/loader/`) through the function the fuzz target
//! calls, so CI checks every saved input on stable Rust, without cargo-fuzz.

mod common;

use std::path::{Path, PathBuf};

use common::{
    random_float_model, row_input, tiny_f32_model, tiny_features_int8_model, tiny_int8_model,
    to_version_2, OwnedFeatures, OwnedModel,
};
use tinymlp_fuzz_case::fuzz_one;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/loader")
}

fn corpus() -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir())
        .expect("fuzz/corpus/loader exists")
        .map(|entry| entry.expect("readable entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("readable corpus file");
            (path, bytes)
        })
        .collect()
}

#[test]
fn every_corpus_input_runs_without_panicking() {
    let corpus = corpus();
    assert!(corpus.len() >= 20, "only {} corpus files", corpus.len());
    for (path, bytes) in &corpus {
        let outcome = std::panic::catch_unwind(|| fuzz_one(bytes));
        assert!(outcome.is_ok(), "{} panicked", path.display());
    }
}

#[test]
fn corpus_reaches_prediction_for_both_kinds_and_inputs_and_versions() {
    // The seeds must keep loading; a corpus the loader refuses entirely fuzzes nothing.
    // Per parameter kind, per input kind, per version (2, 3).
    let mut loaded = [[[0usize; 2]; 2]; 2];
    for (_, bytes) in corpus() {
        let Some((&mode, rest)) = bytes.split_first() else {
            continue;
        };
        if mode & 1 == 0 {
            if let Ok(model) = tinymlp::Model::from_bytes(rest) {
                let input = model.input().kind() as usize;
                let version = usize::from(rest[4] == 3);
                loaded[model.kind() as usize][input][version] += 1;
            }
        }
    }
    // Version 2 has no feature models; every other combination is there.
    for kind in 0..2 {
        assert!(loaded[kind][0][0] > 0, "v2 pixels, kind {kind}: {loaded:?}");
        assert!(loaded[kind][0][1] > 0, "v3 pixels, kind {kind}: {loaded:?}");
        assert!(
            loaded[kind][1][1] > 0,
            "v3 features, kind {kind}: {loaded:?}"
        );
    }
}

/// The seed blobs: valid f32 and int8 models, of pixels and of features, with and without
/// names, in both fuzz modes, and damaged copies; and the pixel models as version 2 blobs.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let calibration = |len: u8| -> Vec<Vec<u8>> {
        (0..8u8)
            .map(|i| {
                (0..len)
                    .map(|p| p.wrapping_mul(37).wrapping_add(i * 29))
                    .collect()
            })
            .collect()
    };
    let deep = random_float_model(row_input(12), &[6, 5, 3], 7);
    let mut features_f32 = deep.to_f32();
    let offsets: Vec<f32> = (0..12).map(|j| j as f32 * 100.0 - 300.0).collect();
    let scales: Vec<f32> = (0..12).map(|j| 1.0 / (1 << j) as f32).collect();
    features_f32.features = Some(OwnedFeatures::new(&offsets, &scales));
    features_f32.name = Some("f\u{e9}atures".into());
    features_f32.class_names = vec!["a".into(), "b".into(), "\u{2603}".into()];
    // The quantized model with an i8 input of its own: the weights mean something else on
    // features, which does not matter to the loader.
    let mut features_int8 = deep.quantize(&calibration(12)).model;
    features_int8.features = Some(OwnedFeatures::new(&offsets, &scales));
    features_int8.int8_mut(0).input.zero_point = -3;
    let models: Vec<(&str, OwnedModel)> = vec![
        ("tiny-features-int8", tiny_features_int8_model()),
        ("deep-features-f32", features_f32),
        ("deep-features-int8", features_int8),
        ("tiny-f32", tiny_f32_model()),
        ("tiny-int8", tiny_int8_model()),
        ("deep-f32", deep.to_f32()),
        ("deep-int8", deep.quantize(&calibration(12)).model),
        (
            "single-int8",
            random_float_model(row_input(5), &[4], 3)
                .quantize(&calibration(5))
                .model,
        ),
    ];
    let mut seeds = Vec::new();
    for (name, model) in models {
        let blob = model.encode();
        let unsealed = &blob[..blob.len() - tinymlp::CHECKSUM_LEN];
        seeds.push((format!("{name}-raw"), [&[0u8][..], &blob].concat()));
        seeds.push((format!("{name}-sealed"), [&[1u8][..], unsealed].concat()));
        seeds.push((
            format!("{name}-truncated"),
            [&[0u8][..], &blob[..blob.len() / 2]].concat(),
        ));
        let mut flipped = blob.clone();
        flipped[blob.len() / 3] ^= 0x40;
        seeds.push((format!("{name}-flipped"), [&[0u8][..], &flipped].concat()));
        if model.features.is_none() {
            let v2 = to_version_2(&blob);
            let unsealed = &v2[..v2.len() - tinymlp::CHECKSUM_LEN];
            seeds.push((format!("v2-{name}-raw"), [&[0u8][..], &v2].concat()));
            seeds.push((format!("v2-{name}-sealed"), [&[1u8][..], unsealed].concat()));
        }
    }
    seeds
}

/// Writes the seeds into the corpus: `cargo test -p tinymlp --test fuzz_corpus -- --ignored`.
#[test]
#[ignore = "writes files; run by hand to regenerate the seeds"]
fn write_seeds() {
    std::fs::create_dir_all(corpus_dir()).expect("corpus dir");
    for (name, bytes) in seeds() {
        std::fs::write(corpus_dir().join(format!("seed-{name}")), bytes).expect("write seed");
    }
}

#[test]
fn seeds_are_in_the_corpus() {
    for (name, bytes) in seeds() {
        let path = corpus_dir().join(format!("seed-{name}"));
        let stored = std::fs::read(&path).unwrap_or_default();
        assert_eq!(
            stored,
            bytes,
            "{} is stale: run write_seeds",
            path.display()
        );
    }
}
