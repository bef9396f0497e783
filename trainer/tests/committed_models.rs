//! The committed `models/` files are what `models/report.json` says they are: the blobs
//! load in the runtime and score exactly as reported, on the 1000 sample digits always and
//! on the full test set when MNIST is present in an optimized build.

use std::path::PathBuf;

use trainer::data::Dataset;
use trainer::export::{digest_of, score_blob};

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn report() -> serde_json::Value {
    let bytes = std::fs::read(models().join("report.json")).expect("models/report.json");
    serde_json::from_slice(&bytes).expect("valid JSON")
}

fn sample_digits() -> Dataset {
    let bytes = std::fs::read(models().join("mnist-test-digits.bin")).unwrap();
    assert_eq!(bytes.len(), 1000 * 785);
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for record in bytes.chunks_exact(785) {
        labels.push(record[0]);
        images.extend_from_slice(&record[1..]);
    }
    Dataset::new(images, labels, (28, 28), 10).unwrap()
}

#[test]
fn committed_blobs_reproduce_the_reported_sample_digests() {
    let report = report();
    let digits = sample_digits();
    for key in ["int8_blob", "f32_blob"] {
        let file = report[key]["file"].as_str().unwrap();
        let blob = std::fs::read(models().join(file)).unwrap();
        assert_eq!(blob.len() as u64, report[key]["bytes"].as_u64().unwrap());
        let model = tinymlp::Model::from_bytes(&blob).unwrap();
        assert_eq!(model.input_len(), 784);
        assert_eq!(model.classes(), 10);
        let digest = digest_of(&blob, &digits, 1000).unwrap();
        assert_eq!(
            u64::from(digest),
            report[key]["sample_digest"].as_u64().unwrap(),
            "{file}"
        );
        let score = score_blob(&blob, &digits).unwrap();
        assert!(score.accuracy > 0.96, "{file}: {}", score.accuracy);
    }
}

#[test]
fn committed_blobs_score_as_reported_on_the_full_test_set() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/mnist");
    if cfg!(debug_assertions) || !trainer::data::mnist_present(&dir) {
        eprintln!(
            "SKIPPED committed_blobs_score_as_reported_on_the_full_test_set: needs MNIST in {} \
             and --release",
            dir.display()
        );
        return;
    }
    let report = report();
    let mnist = trainer::data::load_mnist(&dir, true).unwrap();
    assert_eq!(sample_digits(), mnist.test.take(1000));
    for key in ["int8_blob", "f32_blob"] {
        let file = report[key]["file"].as_str().unwrap();
        let blob = std::fs::read(models().join(file)).unwrap();
        let score = score_blob(&blob, &mnist.test).unwrap();
        let reported = &report[key]["score"];
        assert_eq!(
            score.correct as u64,
            reported["correct"].as_u64().unwrap(),
            "{file}"
        );
        assert_eq!(
            u64::from(score.digest),
            reported["digest"].as_u64().unwrap(),
            "{file}"
        );
        assert!(score.accuracy >= 0.978, "{file}: {}", score.accuracy);
    }
}
