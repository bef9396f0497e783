//! The safetensors reader on state_dicts written here with the safetensors crate: layer
//! order by name (numbers as numbers), the (out, in) weights transposed, dtypes converted,
//! and each unsupported file refused with its exact error.

use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::Dtype;
use trainer::import::{state_dict, Output, SUPPORTED_SAFETENSORS};

/// `(name, dtype, shape, bytes)`.
type Tensor = (&'static str, Dtype, Vec<usize>, Vec<u8>);

fn f32s(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn file(tensors: &[Tensor]) -> Vec<u8> {
    let views: Vec<(&str, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            (
                *name,
                TensorView::new(*dtype, shape.clone(), bytes).expect("valid view"),
            )
        })
        .collect();
    safetensors::serialize(views, None).expect("serializes")
}

fn read(tensors: &[Tensor]) -> trainer::Result<trainer::import::Imported> {
    state_dict::parse(Path::new("m.safetensors"), &file(tensors), Output::Logits)
}

fn assert_refused(tensors: &[Tensor], reason: &str) {
    let error = read(tensors).expect_err("refused").to_string();
    assert_eq!(
        error,
        format!("m.safetensors: {reason}; {SUPPORTED_SAFETENSORS}")
    );
}

/// Layers `2` (3 -> 2) and `10` (2 -> 2) and `0` (4 -> 3), stored out of order.
fn three_layers() -> Vec<Tensor> {
    vec![
        (
            "10.weight",
            Dtype::F32,
            vec![2, 2],
            f32s(&[1.0, 2.0, 3.0, 4.0]),
        ),
        ("10.bias", Dtype::F32, vec![2], f32s(&[0.5, -0.5])),
        (
            "2.weight",
            Dtype::F32,
            vec![2, 3],
            f32s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        ),
        ("2.bias", Dtype::F32, vec![2], f32s(&[0.0, 1.0])),
        ("0.weight", Dtype::F32, vec![3, 4], f32s(&[0.25; 12])),
        ("0.bias", Dtype::F32, vec![3], f32s(&[1.0, 2.0, 3.0])),
    ]
}

#[test]
fn layers_follow_their_numbers_and_weights_are_transposed() {
    let imported = read(&three_layers()).expect("reads");
    assert_eq!(imported.layer_names, ["0", "2", "10"]);
    assert_eq!(imported.parameters.sizes(), [4, 3, 2, 2]);
    // (out 2, in 3) [[1 2 3] [4 5 6]] input-major: [[1 4] [2 5] [3 6]].
    assert_eq!(
        imported.parameters.layers[1].weights,
        [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
    );
    assert_eq!(imported.parameters.layers[2].bias, [0.5, -0.5]);
    assert_eq!(imported.output, Output::Logits);
    assert!(imported.input_shape.is_empty());
}

#[test]
fn half_and_double_precision_are_converted_and_a_missing_bias_is_zero() {
    let f16: Vec<u8> = [1.5f32, -2.0]
        .iter()
        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
        .collect();
    let f64s: Vec<u8> = [0.25f64, 4.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let bf16: Vec<u8> = [3.0f32, 0.5]
        .iter()
        .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
        .collect();
    let imported = read(&[
        ("fc1.weight", Dtype::F16, vec![1, 2], f16),
        ("fc2.weight", Dtype::F64, vec![2, 1], f64s),
        ("fc2.bias", Dtype::BF16, vec![2], bf16),
    ])
    .expect("reads");
    assert_eq!(imported.parameters.layers[0].weights, [1.5, -2.0]);
    assert_eq!(imported.parameters.layers[0].bias, [0.0]);
    assert_eq!(imported.parameters.layers[1].weights, [0.25, 4.0]);
    assert_eq!(imported.parameters.layers[1].bias, [3.0, 0.5]);
}

#[test]
fn natural_order_compares_numbers_as_numbers() {
    let mut names = vec!["fc10", "fc2", "fc1", "layers.10.lin", "layers.9.lin", "a"];
    names.sort_by(|a, b| state_dict::natural_order(a, b));
    assert_eq!(
        names,
        ["a", "fc1", "fc2", "fc10", "layers.9.lin", "layers.10.lin"]
    );
}

#[test]
fn a_tensor_that_is_not_a_linear_weight_or_bias_is_refused() {
    let mut tensors = three_layers();
    tensors.push(("1.running_mean", Dtype::F32, vec![3], f32s(&[0.0; 3])));
    assert_refused(
        &tensors,
        "tensor \"1.running_mean\" is neither a `.weight` nor a `.bias` of an nn.Linear",
    );
}

#[test]
fn layers_that_do_not_chain_are_refused() {
    let mut tensors = three_layers();
    tensors[2] = ("2.weight", Dtype::F32, vec![3, 2], f32s(&[0.0; 6]));
    assert_refused(
        &tensors,
        "tensor \"2.weight\" takes 2 inputs, but the layer before it (\"0\") has 3 outputs",
    );
}

#[test]
fn an_integer_tensor_is_refused() {
    let mut tensors = three_layers();
    tensors[1] = ("10.bias", Dtype::I32, vec![2], vec![0; 8]);
    assert_refused(
        &tensors,
        "tensor \"10.bias\" is I32, not a floating-point type (F32, F64, F16 or BF16)",
    );
}

#[test]
fn a_bias_without_a_weight_is_refused() {
    let mut tensors = three_layers();
    tensors.remove(0);
    assert_refused(&tensors, "module \"10\" has a bias but no `10.weight`");
}

#[test]
fn a_weight_that_is_not_two_dimensional_is_refused() {
    let mut tensors = three_layers();
    tensors[4] = ("0.weight", Dtype::F32, vec![12], f32s(&[0.25; 12]));
    assert_refused(
        &tensors,
        "tensor \"0.weight\" has shape [12], not (outputs, inputs)",
    );
}

#[test]
fn a_non_finite_weight_is_refused() {
    let mut tensors = three_layers();
    tensors[0] = (
        "10.weight",
        Dtype::F32,
        vec![2, 2],
        f32s(&[1.0, f32::INFINITY, 3.0, 4.0]),
    );
    assert_refused(
        &tensors,
        "tensor \"10.weight\" holds a non-finite value (inf) at index 1",
    );
}

#[test]
fn bytes_that_are_not_safetensors_are_refused() {
    let error = state_dict::parse(
        Path::new("m.safetensors"),
        b"\x08\0\0\0\0\0\0\0{}",
        Output::Softmax,
    )
    .expect_err("refused")
    .to_string();
    assert!(
        error.starts_with("m.safetensors: not a safetensors file ("),
        "{error}"
    );
}

/// The safetensors fuzz target's seed (its first byte picks logits) is in
/// `trainer/fuzz/corpus/safetensors/` as built here (`TINYMLP_WRITE_SEEDS=1` writes it).
#[test]
fn the_fuzz_corpus_holds_the_seed_file() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/safetensors/seed-three-layers");
    let mut bytes = vec![1];
    bytes.extend(file(&three_layers()));
    if std::env::var_os("TINYMLP_WRITE_SEEDS").is_some() {
        std::fs::write(&path, &bytes).expect("writes the seed");
    }
    assert_eq!(
        std::fs::read(&path).expect("the seed is in the corpus"),
        bytes
    );
}
