//! Models trained by the real frameworks (`bench/frameworks/export_models.py`: PyTorch and
//! Keras, 784-32-10 on MNIST), converted and run through the tinymlp runtime, against the
//! frameworks' own probabilities on 300 test images (the committed fixtures in
//! `tests/fixtures/import/`).

use std::path::{Path, PathBuf};

use tinymlp::softmax::argmax;
use trainer::data::{idx, Dataset, InputTransform, Inputs};
use trainer::export::Predictor;
use trainer::import::{self, Imported, Output};
use trainer::{Device, ExportOptions};

/// How far an f32 blob's probability may be from the framework's.
const F32_TOLERANCE: f32 = 1e-5;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

fn test_images() -> Dataset {
    let read = |name: &str| {
        let path = fixture(name);
        let bytes = std::fs::read(&path).expect("fixture present");
        (path, bytes)
    };
    idx::dataset(
        read("images-idx3-ubyte"),
        read("labels-idx1-ubyte"),
        Some(10),
    )
    .expect("fixture images")
}

/// The framework's probabilities: samples x 10, f32 little-endian.
fn framework_probabilities(name: &str) -> Vec<[f32; 10]> {
    let bytes = std::fs::read(fixture(name)).expect("fixture present");
    bytes
        .chunks_exact(40)
        .map(|row| {
            let mut p = [0.0; 10];
            for (v, b) in p.iter_mut().zip(row.chunks_exact(4)) {
                *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
            p
        })
        .collect()
}

/// Every sample's probabilities through a blob.
fn run_blob(blob: &[u8], data: &Dataset) -> Vec<Vec<f32>> {
    let mut predictor = Predictor::new(blob).expect("blob loads");
    let mut out = Vec::new();
    let Inputs::Pixels { images, .. } = &data.inputs else {
        panic!("the fixtures are images");
    };
    predictor
        .predict_many(images, |_, p| out.push(p.probabilities.to_vec()))
        .expect("predicts");
    out
}

fn accuracy(classes: impl Iterator<Item = usize>, data: &Dataset) -> f64 {
    let correct = classes
        .zip(&data.labels)
        .filter(|(c, l)| *c == usize::from(**l))
        .count();
    correct as f64 / data.len() as f64
}

/// The f32 blob gives the framework's class on every image and its probabilities within
/// `F32_TOLERANCE`; the int8 blob (calibrated on the same images) the same class on at
/// least 99 % of them and an accuracy within 1 point of the framework's.
fn check_against_framework(imported: &Imported, probabilities: &str) {
    let data = test_images();
    let expected = framework_probabilities(probabilities);
    assert_eq!(expected.len(), data.len());
    // The trainer's own model type, exported as the trainer exports its models.
    let input = imported.default_input(Some(&data));
    assert_eq!(input, InputTransform::pixels(28, 28));
    let blobs = imported
        .clone()
        .into_model(input, Device::Cpu)
        .expect("a model")
        .export(&data, &ExportOptions::default())
        .expect("exports");

    let f32_probabilities = run_blob(&blobs.f32, &data);
    let mut worst = 0.0f32;
    for (i, (got, want)) in f32_probabilities.iter().zip(&expected).enumerate() {
        assert_eq!(argmax(got), argmax(want), "image {i}: {got:?} vs {want:?}");
        for (g, w) in got.iter().zip(want) {
            worst = worst.max((g - w).abs());
        }
    }
    assert!(
        worst <= F32_TOLERANCE,
        "f32 blob probabilities differ by up to {worst}"
    );

    let int8_classes: Vec<usize> = run_blob(&blobs.int8, &data)
        .iter()
        .map(|p| argmax(p))
        .collect();
    let agreement = int8_classes
        .iter()
        .zip(&expected)
        .filter(|(c, want)| **c == argmax(*want))
        .count() as f64
        / data.len() as f64;
    let framework_accuracy = accuracy(expected.iter().map(|p| argmax(p)), &data);
    let int8_accuracy = accuracy(int8_classes.into_iter(), &data);
    assert!(agreement >= 0.99, "int8 agrees on {agreement}");
    assert!(
        (int8_accuracy - framework_accuracy).abs() <= 0.01,
        "int8 accuracy {int8_accuracy} vs the framework's {framework_accuracy}"
    );
}

#[test]
fn pytorch_onnx_flatten_gemm_logits_matches_pytorch() {
    let imported = import::onnx(fixture("torch.onnx")).expect("reads");
    assert_eq!(imported.parameters.sizes(), [784, 32, 10]);
    assert_eq!(imported.output, Output::Logits);
    assert_eq!(imported.input_shape, [1, 28, 28]);
    assert_eq!(imported.image_shape(), Some((28, 28, 1)));
    assert_eq!(imported.layer_names, ["/1/Gemm", "/3/Gemm"]);
    check_against_framework(&imported, "torch.probs.f32");
}

#[test]
fn pytorch_default_exporter_reshape_gemm_external_weights_matches_pytorch() {
    let imported = import::onnx(fixture("torch-dynamo.onnx")).expect("reads");
    assert_eq!(imported.parameters.sizes(), [784, 32, 10]);
    assert_eq!(imported.output, Output::Logits);
    assert_eq!(imported.input_shape, [1, 28, 28]);
    assert_eq!(imported.layer_names, ["node_linear", "node_linear_1"]);
    let torchscript = import::onnx(fixture("torch.onnx")).expect("reads");
    assert_eq!(imported.parameters, torchscript.parameters);
    check_against_framework(&imported, "torch.probs.f32");
}

#[test]
fn keras_onnx_matmul_add_softmax_matches_keras() {
    let imported = import::onnx(fixture("keras.onnx")).expect("reads");
    assert_eq!(imported.parameters.sizes(), [784, 32, 10]);
    assert_eq!(imported.output, Output::Softmax);
    assert_eq!(imported.input_shape, [784]);
    assert_eq!(imported.image_shape(), None);
    check_against_framework(&imported, "keras.probs.f32");
}

#[test]
fn pytorch_safetensors_state_dict_matches_pytorch() {
    let imported =
        import::safetensors(fixture("torch.safetensors"), Output::Logits).expect("reads");
    assert_eq!(imported.parameters.sizes(), [784, 32, 10]);
    assert_eq!(imported.layer_names, ["1", "3"]);
    check_against_framework(&imported, "torch.probs.f32");
}

#[test]
fn the_onnx_and_safetensors_exports_of_one_pytorch_model_read_the_same() {
    let from_onnx = import::onnx(fixture("torch.onnx")).expect("reads");
    let from_state_dict =
        import::safetensors(fixture("torch.safetensors"), Output::Logits).expect("reads");
    assert_eq!(from_onnx.parameters, from_state_dict.parameters);
}

#[test]
fn the_layer_table_lists_shapes_activations_and_parameter_counts() {
    let table = import::onnx(fixture("torch.onnx"))
        .expect("reads")
        .layer_table();
    assert_eq!(
        table,
        "input: 1 x 28 x 28\n\
         layer  name             shape  activation  parameters\n\
         1      /1/Gemm      784 -> 32  relu            25,120\n\
         2      /3/Gemm       32 -> 10  none               330\n\
         total: 25,450 parameters\n\
         the model ends in logits (no softmax): the blob applies softmax to them, so it \
         outputs the probabilities the logits stand for\n"
    );
}
