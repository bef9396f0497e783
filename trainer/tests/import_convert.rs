//! `trainer convert` end to end on the framework fixtures (through its option parser, as
//! the command line runs it): the blob written, the input mapping, the figures on test
//! data and against the framework's own probabilities, and the errors of bad options.

use std::path::{Path, PathBuf};

use clap::Parser;
use trainer::data::InputTransform;
use trainer::import::convert::{convert, report, Conversion, ConvertArgs};
use trainer::import::Output;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ConvertArgs,
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
        .display()
        .to_string()
}

fn out_path(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("import_convert");
    std::fs::create_dir_all(&dir).expect("temp folder");
    dir.join(name)
}

fn parse(arguments: &[&str]) -> ConvertArgs {
    let mut all = vec!["convert"];
    all.extend_from_slice(arguments);
    Cli::try_parse_from(all).expect("options parse").args
}

/// The fixture images as both calibration and test data, with the framework's
/// probabilities as the reference.
fn with_test_data(model: &str, out: &Path, reference: &str, extra: &[&str]) -> Conversion {
    let (images, labels, reference) = (
        fixture("images-idx3-ubyte"),
        fixture("labels-idx1-ubyte"),
        fixture(reference),
    );
    let mut arguments = vec![
        model,
        "--out",
        out.to_str().expect("utf-8 path"),
        "--calibration",
        &images,
        "--calibration-labels",
        &labels,
        "--test",
        &images,
        "--test-labels",
        &labels,
        "--reference",
        &reference,
    ];
    arguments.extend_from_slice(extra);
    convert(&parse(&arguments)).expect("converts")
}

fn check_figures(conversion: &Conversion) {
    let test = conversion.test.as_ref().expect("test figures");
    assert_eq!(test.samples, 300);
    assert_eq!(test.f32_blob.agreement, Some(1.0));
    assert!(test.f32_blob.largest_difference.expect("compared") <= 1e-5);
    assert!(test.int8_blob.agreement.expect("compared") >= 0.99);
    let framework = test.reference_accuracy.expect("reference accuracy");
    assert!((test.int8_blob.accuracy - framework).abs() <= 0.01);
    assert_eq!(test.f32_blob.accuracy, framework);
    assert!((f64::from(test.float_accuracy) - framework).abs() < 1e-6);
}

#[test]
fn pytorch_onnx_converts_to_an_int8_pixel_blob_agreeing_with_pytorch() {
    let out = out_path("torch-int8.tmlp");
    let conversion = with_test_data(&fixture("torch.onnx"), &out, "torch.probs.f32", &["--int8"]);
    assert_eq!(conversion.input, InputTransform::pixels(28, 28));
    check_figures(&conversion);
    let blob = std::fs::read(&out).expect("blob written");
    assert_eq!(blob, conversion.blob);
    let model = tinymlp::Model::from_bytes(&blob).expect("loads");
    assert_eq!(model.kind(), tinymlp::ParamKind::Int8);
    assert!(
        matches!(model.input(), tinymlp::Input::Pixels(spec) if spec.width == 28 && spec.height == 28)
    );
    let args = parse(&[&fixture("torch.onnx"), "--out", "x.tmlp", "--int8"]);
    let text = report(&args, &conversion);
    assert!(
        text.contains("1      /1/Gemm      784 -> 32  relu            25,120\n"),
        "{text}"
    );
    assert!(
        text.contains("input mapping: u8 pixels of 28x28 images, divided by 255\n"),
        "{text}"
    );
    assert!(text.contains("the model ends in logits"), "{text}");
    assert!(
        text.contains("same class as the framework: f32 blob 100.00 %"),
        "{text}"
    );
}

#[test]
fn keras_onnx_with_a_flat_input_reads_image_test_data_as_pixels() {
    let out = out_path("keras-f32.tmlp");
    let conversion = with_test_data(&fixture("keras.onnx"), &out, "keras.probs.f32", &[]);
    assert_eq!(conversion.input, InputTransform::pixels(28, 28));
    assert_eq!(conversion.imported.output, Output::Softmax);
    check_figures(&conversion);
    let model = tinymlp::Model::from_bytes(&conversion.blob).expect("loads");
    assert_eq!(model.kind(), tinymlp::ParamKind::F32);
}

#[test]
fn a_safetensors_state_dict_converts_with_its_output_flag() {
    let out = out_path("torch-state-dict.tmlp");
    let conversion = with_test_data(
        &fixture("torch.safetensors"),
        &out,
        "torch.probs.f32",
        &["--output", "logits", "--input", "pixels"],
    );
    // A flat state_dict takes its image shape from the data.
    assert_eq!(conversion.input, InputTransform::pixels(28, 28));
    check_figures(&conversion);
}

#[test]
fn a_flat_model_without_data_reads_raw_features_or_the_given_standardization() {
    let out = out_path("keras-features.tmlp");
    let model = fixture("keras.onnx");
    let out_text = out.to_str().expect("utf-8 path");
    let conversion = convert(&parse(&[&model, "--out", out_text])).expect("converts");
    assert_eq!(
        conversion.input,
        InputTransform::Features {
            offsets: vec![0.0; 784],
            scales: vec![1.0; 784]
        }
    );
    assert!(conversion.test.is_none());
    let conversion = convert(&parse(&[
        &model, "--out", out_text, "--mean", "127.5", "--std", "255",
    ]))
    .expect("converts");
    assert_eq!(
        conversion.input,
        InputTransform::Features {
            offsets: vec![127.5; 784],
            scales: vec![1.0 / 255.0; 784]
        }
    );
    let blob = tinymlp::Model::from_bytes(&conversion.blob).expect("loads");
    assert!(matches!(blob.input(), tinymlp::Input::Features(_)));
}

#[test]
fn bad_options_are_refused_with_their_reason() {
    let out = out_path("refused.tmlp");
    let out = out.to_str().expect("utf-8 path");
    let error = |arguments: &[&str]| convert(&parse(arguments)).expect_err("refused").to_string();
    let summary = fixture("summary.json");
    assert_eq!(
        error(&[&summary, "--out", out]),
        format!(
            "invalid configuration: {summary}: unknown model type: expected .onnx (ONNX) or \
             .safetensors (a PyTorch state_dict)"
        )
    );
    let model = fixture("torch.onnx");
    assert_eq!(
        error(&[&model, "--out", out, "--input", "pixels", "--mean", "3"]),
        "invalid configuration: --mean and --std apply to --input features, not pixels"
    );
    assert_eq!(
        error(&[&model, "--out", out, "--input", "features", "--mean", "1,2"]),
        "invalid configuration: --mean has 2 values: give one, or one per input (784)"
    );
    assert_eq!(
        error(&[&model, "--out", out, "--std", "0"]),
        "invalid configuration: --std of input 0 is 0: a deviation must be above 0"
    );
    let small = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus/onnx/seed-mlp")
        .display()
        .to_string();
    let small_onnx = out_path("small.onnx");
    std::fs::copy(&small, &small_onnx).expect("copies");
    assert_eq!(
        error(&[small_onnx.to_str().expect("utf-8"), "--out", out, "--int8"]),
        "invalid configuration: the int8 blob (written with --int8, scored with --test) \
         needs calibration samples like the model's inputs: give --calibration (the \
         default, MNIST's images, has 784 values per sample and the model takes 4)"
    );
}

/// The BENCHMARKS.md figures: the full MNIST models of both frameworks
/// (`bench/frameworks/export_models.py --hidden 512 --epochs 5 --samples 10000 --out DIR`)
/// converted, calibrated on MNIST's training images and tested on its 10,000 test images
/// against the frameworks' own probabilities. Run with
/// `TINYMLP_FRAMEWORK_MODELS=DIR TINYMLP_MNIST=data/mnist cargo test --release -p trainer
/// --test import_convert -- --ignored --nocapture`.
#[test]
#[ignore = "needs the full framework models and MNIST"]
fn full_framework_models_on_mnist() {
    let dir = PathBuf::from(std::env::var("TINYMLP_FRAMEWORK_MODELS").expect("the models' folder"));
    let mnist = PathBuf::from(std::env::var("TINYMLP_MNIST").unwrap_or("data/mnist".into()));
    let path = |p: &Path| p.display().to_string();
    let (images, labels) = (
        path(&mnist.join("t10k-images-idx3-ubyte")),
        path(&mnist.join("t10k-labels-idx1-ubyte")),
    );
    for (model, reference, int8) in [
        ("torch.onnx", "torch.probs.f32", false),
        ("torch.onnx", "torch.probs.f32", true),
        ("keras.onnx", "keras.probs.f32", true),
        ("torch.safetensors", "torch.probs.f32", true),
    ] {
        let out = out_path(&format!("full-{model}-{int8}.tmlp"));
        let mut arguments = vec![
            path(&dir.join(model)),
            "--out".into(),
            path(&out),
            "--test".into(),
            images.clone(),
            "--test-labels".into(),
            labels.clone(),
            "--reference".into(),
            path(&dir.join(reference)),
            "--data-dir".into(),
            path(&mnist),
        ];
        if int8 {
            arguments.push("--int8".into());
        }
        let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
        let args = parse(&arguments);
        let conversion = convert(&args).expect("converts");
        println!("{}", report(&args, &conversion));
    }
}

/// A model of 4 features (the ONNX reader's seed graph: 4-3-2, softmax) converted to int8
/// with a CSV file as calibration and test data, standardized with the given mean and
/// deviation: the blob reads raw features, and its figures come through the runtime's
/// feature path.
#[test]
fn a_feature_model_converts_with_csv_data_and_a_standardization() {
    let model = out_path("features.onnx");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/onnx/seed-mlp"),
        &model,
    )
    .expect("copies");
    let csv = out_path("features.csv");
    let mut text = String::from("a,b,c,d,label\n");
    for i in 0..40 {
        let x = i as f32 / 4.0;
        // The seed's second layer favours class 1 when its hidden units are large.
        let label = usize::from(x > 5.0);
        text.push_str(&format!("{x},{},{},{},{label}\n", 10.0 - x, x * 0.5, 2.0));
    }
    std::fs::write(&csv, text).expect("writes");
    let out = out_path("features-int8.tmlp");
    let (model, csv, out) = (
        model.to_str().expect("utf-8"),
        csv.to_str().expect("utf-8"),
        out.to_str().expect("utf-8"),
    );
    let conversion = convert(&parse(&[
        model,
        "--out",
        out,
        "--int8",
        "--calibration",
        csv,
        "--test",
        csv,
        "--mean",
        "5,5,2.5,2",
        "--std",
        "2",
    ]))
    .expect("converts");
    assert_eq!(
        conversion.input,
        InputTransform::Features {
            offsets: vec![5.0, 5.0, 2.5, 2.0],
            scales: vec![0.5; 4]
        }
    );
    let blob = tinymlp::Model::from_bytes(&conversion.blob).expect("loads");
    assert_eq!(blob.kind(), tinymlp::ParamKind::Int8);
    let tinymlp::Input::Features(spec) = blob.input() else {
        panic!("a feature blob");
    };
    assert_eq!(spec.offsets.len(), 16);
    let test = conversion.test.expect("test figures");
    assert_eq!(test.samples, 40);
    // The f32 blob is the model in the trainer, through the runtime.
    assert!((test.f32_blob.accuracy - f64::from(test.float_accuracy)).abs() < 1e-6);
    assert!((test.int8_blob.accuracy - test.f32_blob.accuracy).abs() <= 0.1);
}
