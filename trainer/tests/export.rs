//! Quantization and export: blobs load in the runtime, int8 agrees with float, files are
//! written whole, and the command line runs end to end on a small IDX fixture.

mod common;

use std::sync::Arc;

use tinymlp::{Model, Params};
use trainer::data::InputTransform;
use trainer::export::{
    calibrate, encode_f32, encode_int8, input_quantization, quantize, score_blob, BlobHead,
    Calibration,
};
use trainer::files::write_atomic;
use trainer::Dense;

fn trained() -> (
    trainer::Parameters,
    Arc<trainer::Dataset>,
    Arc<trainer::Dataset>,
) {
    let train = Arc::new(common::synthetic(2000, 8, 11));
    let test = Arc::new(common::synthetic(400, 8, 12));
    let layers = [Dense::relu(32), Dense::relu(16), Dense::softmax(8)];
    let mut model = common::compile_cpu(64, &layers, 1);
    let options = common::quiet_fit(6, 32);
    model.fit(&train, &options).unwrap();
    (model.parameters().unwrap(), train, test)
}

#[test]
fn int8_and_f32_blobs_score_like_the_float_model() {
    let (parameters, train, test) = trained();
    let input = InputTransform::adapt(&train).unwrap();
    let spec = input.input_spec().unwrap();
    let ranges = calibrate(&parameters, &input, &train, Calibration::default());
    assert_eq!(ranges.len(), 2);
    let first = input_quantization(&input, &train, Calibration::default());
    let layers = quantize(&parameters, first, &ranges).unwrap();
    let head = BlobHead::unnamed(tinymlp::Input::Pixels(spec));
    let int8 = encode_int8(&head, &layers).unwrap();
    let f32_blob = encode_f32(&head, &parameters).unwrap();

    // The runtime's requirements on the chain of quantizations.
    let model = Model::from_bytes(&int8).unwrap();
    let mut previous = None;
    for layer in model.layers() {
        let Params::Int8(p) = layer.params else {
            panic!("not int8")
        };
        if let Some(previous) = previous {
            assert_eq!(p.input, previous);
        } else {
            assert_eq!(p.input.scale, spec.scale);
            assert_eq!(p.input.zero_point, 0);
        }
        // Per-output-channel symmetric weights: every channel uses the full range.
        let weights: Vec<i8> = p.weights.iter().map(|&b| b as i8).collect();
        for k in 0..layer.outputs as usize {
            let max = weights
                .iter()
                .skip(k)
                .step_by(layer.outputs as usize)
                .map(|w| w.unsigned_abs())
                .max()
                .unwrap();
            assert_eq!(max, 127, "channel {k}");
        }
        previous = p.requantization.map(|r| r.output);
    }

    let float_correct = (0..test.len())
        .filter(|&i| {
            let x: Vec<f32> = test
                .image(i)
                .unwrap()
                .iter()
                .map(|&p| f32::from(p) / 255.0)
                .collect();
            let logits = parameters.logits(&x);
            let best = (0..logits.len())
                .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
                .unwrap();
            best == usize::from(test.labels[i])
        })
        .count();
    let f32_score = score_blob(&f32_blob, &test).unwrap();
    let int8_score = score_blob(&int8, &test).unwrap();
    assert!(float_correct as f64 / test.len() as f64 > 0.97);
    assert!((f32_score.correct as i64 - float_correct as i64).abs() <= 1);
    assert!(
        (int8_score.correct as i64 - float_correct as i64).abs() <= 4,
        "int8 {} vs float {float_correct}",
        int8_score.correct
    );
}

#[test]
fn atomic_writes_replace_whole_files() {
    let dir = common::temp_dir("atomic");
    let path = dir.join("blob.tmlp");
    write_atomic(&path, b"first").unwrap();
    write_atomic(&path, b"second, longer").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"second, longer");
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
    // A path whose folder cannot be created is an error, not a panic.
    assert!(write_atomic(&path.join("under-a-file"), b"x").is_err());
}

#[test]
fn sample_digits_are_label_then_pixels() {
    let data = common::synthetic(5, 4, 1);
    let bytes = data.sample_records(3).unwrap();
    assert_eq!(bytes.len(), 3 * 65);
    assert_eq!(bytes[65], data.labels[1]);
    assert_eq!(&bytes[66..130], data.image(1).unwrap());
}

#[test]
fn command_line_trains_and_writes_everything() {
    let dir = common::temp_dir("cli");
    let data_dir = dir.join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    common::write_idx(
        &data_dir,
        &common::synthetic(1500, 8, 21),
        &common::synthetic(300, 8, 22),
    );
    let out_dir = dir.join("out");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["--device", "cpu", "--epochs", "3", "--batch-size", "16"])
        .args(["--hidden", "24", "--hidden", "12"])
        .args(["--validation-split", "0.1", "--skip-checksum", "--quiet"])
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--out-dir")
        .arg(&out_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("device: cpu"), "{stderr}");
    for file in [
        "mnist-int8.tmlp",
        "mnist-f32.tmlp",
        "mnist-test-digits.bin",
        "report.json",
        "history.csv",
        "loss.png",
        "accuracy.png",
        "confusion.png",
    ] {
        let bytes = std::fs::read(out_dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(!bytes.is_empty(), "{file}");
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).unwrap()).unwrap();
    // 8 classes in the data (not MNIST, so not verified as MNIST): 8 outputs.
    assert_eq!(report["sizes"], serde_json::json!([64, 24, 12, 8]));
    assert_eq!(report["history"].as_array().unwrap().len(), 3);
    assert!(report["history"][2]["val_accuracy"].as_f64().unwrap() > 0.8);
    let int8 = report["int8_blob"]["score"]["accuracy"].as_f64().unwrap();
    let float = report["test"]["accuracy"].as_f64().unwrap();
    assert!((int8 - float).abs() < 0.02, "{int8} vs {float}");
    let csv = std::fs::read_to_string(out_dir.join("history.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4);
    assert!(std::fs::read(out_dir.join("loss.png"))
        .unwrap()
        .starts_with(b"\x89PNG"));

    // `show` prints the digit and its label, and the model's prediction.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["show", "--index", "4", "--test", "--data-dir"])
        .arg(&data_dir)
        .arg("--model")
        .arg(out_dir.join("mnist-int8.tmlp"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("image 4: label"), "{stdout}");
    assert!(stdout.contains("model (int8): predicts"), "{stdout}");
}

#[test]
fn unknown_optimizer_is_a_clear_error() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["--optimizer", "lion", "--data-dir", "/nonexistent"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown optimizer `lion`"));
}
