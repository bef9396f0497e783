//! The ONNX reader on small graphs built here with the prost types (no Python in CI): every
//! supported form reads to the right parameters, and every unsupported graph is refused
//! with its exact error, naming the node, its op and why, then what is supported.

use std::path::Path;

use prost::Message;
use trainer::data::InputTransform;
use trainer::import::onnx::proto::{
    self, attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use trainer::import::{onnx, Output, SUPPORTED_ONNX};
use trainer::{DenseParams, Parameters};

// ---------------------------------------------------------------------------------------
// Building graphs

fn floats(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(DataType::Float as i32),
        float_data: values.to_vec(),
        ..Default::default()
    }
}

fn int64s(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: vec![values.len() as i64],
        data_type: Some(DataType::Int64 as i32),
        int64_data: values.to_vec(),
        ..Default::default()
    }
}

fn int_attribute(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..Default::default()
    }
}

fn float_attribute(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(value),
        ..Default::default()
    }
}

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        name: Some(name.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn with(mut node: NodeProto, attributes: Vec<AttributeProto>) -> NodeProto {
    node.attribute = attributes;
    node
}

/// A float tensor value: `None` dimensions are symbolic (the batch).
fn value(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: Some(match d {
                Some(v) => tensor_shape_proto::dimension::Value::DimValue(*v),
                None => tensor_shape_proto::dimension::Value::DimParam("batch".into()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
}

impl Graph {
    fn bytes(self) -> Vec<u8> {
        ModelProto {
            ir_version: Some(8),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(17),
            }],
            graph: Some(GraphProto {
                node: self.nodes,
                initializer: self.initializers,
                input: self.inputs,
                output: self.outputs,
                name: Some("test".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }
}

const W1: [f32; 12] = [
    0.1, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, 0.8, 0.9, -1.0, 1.1, 1.2,
];
const B1: [f32; 3] = [0.01, 0.02, -0.03];
/// The second layer's weights as PyTorch stores them: (outputs 2, inputs 3).
const W2_OUT_IN: [f32; 6] = [1.0, 2.0, 3.0, -4.0, 5.0, 6.0];
const B2: [f32; 2] = [0.5, -0.5];

/// A 4-3-2 MLP in Keras's form (MatMul, Add, Relu) then PyTorch's (Gemm transB), then a
/// Softmax: x -> fc1 -> bias1 -> relu -> fc2 -> softmax -> y.
fn mlp() -> Graph {
    Graph {
        nodes: vec![
            node("MatMul", "fc1", &["x", "W1"], &["m1"]),
            node("Add", "bias1", &["m1", "B1"], &["a1"]),
            node("Relu", "relu", &["a1"], &["h"]),
            with(
                node("Gemm", "fc2", &["h", "W2", "B2"], &["z"]),
                vec![int_attribute("transB", 1)],
            ),
            node("Softmax", "softmax", &["z"], &["y"]),
        ],
        initializers: vec![
            floats("W1", &[4, 3], &W1),
            floats("B1", &[3], &B1),
            floats("W2", &[2, 3], &W2_OUT_IN),
            floats("B2", &[2], &B2),
        ],
        inputs: vec![value("x", &[None, Some(4)])],
        outputs: vec![value("y", &[None, Some(2)])],
    }
}

fn expected_parameters() -> Parameters {
    Parameters {
        layers: vec![
            DenseParams {
                inputs: 4,
                outputs: 3,
                weights: W1.to_vec(),
                bias: B1.to_vec(),
            },
            DenseParams {
                inputs: 3,
                outputs: 2,
                // Transposed to input-major.
                weights: vec![1.0, -4.0, 2.0, 5.0, 3.0, 6.0],
                bias: B2.to_vec(),
            },
        ],
    }
}

fn read(graph: Graph) -> trainer::Result<trainer::import::Imported> {
    onnx::parse(Path::new("m.onnx"), &graph.bytes())
}

/// The exact error: the file, the reason, then what is supported.
fn assert_refused(graph: Graph, reason: &str) {
    let error = read(graph).expect_err("refused").to_string();
    assert_eq!(error, format!("m.onnx: {reason}; {SUPPORTED_ONNX}"));
}

fn node_named<'g>(graph: &'g mut Graph, name: &str) -> &'g mut NodeProto {
    graph
        .nodes
        .iter_mut()
        .find(|n| n.name() == name)
        .expect("node exists")
}

fn initializer<'g>(graph: &'g mut Graph, name: &str) -> &'g mut TensorProto {
    graph
        .initializers
        .iter_mut()
        .find(|t| t.name() == name)
        .expect("initializer exists")
}

// ---------------------------------------------------------------------------------------
// Supported forms

#[test]
fn an_mlp_of_matmul_add_relu_gemm_softmax_reads_to_its_parameters() {
    let imported = read(mlp()).expect("reads");
    assert_eq!(imported.parameters, expected_parameters());
    assert_eq!(imported.output, Output::Softmax);
    assert_eq!(imported.input_shape, [4]);
    assert_eq!(imported.layer_names, ["fc1", "fc2"]);
}

#[test]
fn a_graph_ending_in_logits_reads_as_logits() {
    let mut graph = mlp();
    graph.nodes.pop();
    graph.outputs = vec![value("z", &[None, Some(2)])];
    let imported = read(graph).expect("reads");
    assert_eq!(imported.output, Output::Logits);
    assert!(imported.layer_table().contains("ends in logits"));
}

#[test]
fn gemm_alpha_beta_and_trans_b_0_are_applied() {
    let mut graph = mlp();
    *node_named(&mut graph, "fc2") = with(
        node("Gemm", "fc2", &["h", "W2", "B2"], &["z"]),
        vec![
            int_attribute("transB", 0),
            float_attribute("alpha", 2.0),
            float_attribute("beta", -1.0),
        ],
    );
    // Input-major already (transB = 0): (3, 2).
    *initializer(&mut graph, "W2") = floats("W2", &[3, 2], &[1.0, -4.0, 2.0, 5.0, 3.0, 6.0]);
    let imported = read(graph).expect("reads");
    let layer = &imported.parameters.layers[1];
    assert_eq!(layer.weights, [2.0, -8.0, 4.0, 10.0, 6.0, 12.0]);
    assert_eq!(layer.bias, [-0.5, 0.5]);
}

#[test]
fn flatten_reshape_identity_dropout_and_constant_nodes_are_read() {
    let mut graph = mlp();
    graph.inputs = vec![value("x", &[None, Some(1), Some(2), Some(2)])];
    graph.nodes[0].input[0] = "r".into();
    let w1_constant = NodeProto {
        attribute: vec![AttributeProto {
            name: Some("value".into()),
            r#type: Some(AttributeType::Tensor as i32),
            t: Some(Box::new(floats("", &[4, 3], &W1))),
            ..Default::default()
        }],
        ..node("Constant", "w1", &[], &["W1"])
    };
    graph.initializers.retain(|t| t.name() != "W1");
    graph.initializers.push(int64s("shape", &[-1, 4]));
    let mut nodes = vec![
        w1_constant,
        with(
            node("Flatten", "flatten", &["x"], &["f"]),
            vec![int_attribute("axis", 1)],
        ),
        node("Identity", "identity", &["f"], &["i"]),
        node("Reshape", "reshape", &["i", "shape"], &["d"]),
        node("Dropout", "dropout", &["d"], &["r", "mask"]),
    ];
    nodes.append(&mut graph.nodes);
    graph.nodes = nodes;
    let imported = read(graph).expect("reads");
    assert_eq!(imported.parameters, expected_parameters());
    assert_eq!(imported.input_shape, [1, 2, 2]);
    assert_eq!(imported.image_shape(), Some((2, 2, 1)));
}

#[test]
fn float64_float16_and_bfloat16_weights_are_converted_raw_or_typed() {
    let mut graph = mlp();
    let w1 = initializer(&mut graph, "W1");
    w1.data_type = Some(DataType::Double as i32);
    w1.double_data = W1.iter().map(|&v| f64::from(v)).collect();
    w1.float_data.clear();
    let b1 = initializer(&mut graph, "B1");
    b1.data_type = Some(DataType::Float16 as i32);
    b1.int32_data = [0.5f32, 0.25, -2.0]
        .iter()
        .map(|&v| i32::from(half::f16::from_f32(v).to_bits()))
        .collect();
    b1.float_data.clear();
    let b2 = initializer(&mut graph, "B2");
    b2.data_type = Some(DataType::Bfloat16 as i32);
    b2.raw_data = Some(
        [0.5f32, -0.5]
            .iter()
            .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
            .collect(),
    );
    b2.float_data.clear();
    let w2 = initializer(&mut graph, "W2");
    w2.raw_data = Some(W2_OUT_IN.iter().flat_map(|v| v.to_le_bytes()).collect());
    w2.float_data.clear();
    let imported = read(graph).expect("reads");
    let mut expected = expected_parameters();
    expected.layers[0].weights = W1.iter().map(|&v| f64::from(v) as f32).collect();
    expected.layers[0].bias = vec![0.5, 0.25, -2.0];
    assert_eq!(imported.parameters, expected);
}

#[test]
fn initializers_listed_among_the_inputs_are_not_inputs() {
    let mut graph = mlp();
    graph.inputs.push(value("W1", &[Some(4), Some(3)]));
    assert_eq!(
        read(graph).expect("reads").parameters,
        expected_parameters()
    );
}

// ---------------------------------------------------------------------------------------
// Unsupported graphs, each with its exact error

#[test]
fn another_op_is_refused_naming_it() {
    let mut graph = mlp();
    node_named(&mut graph, "relu").op_type = Some("Sigmoid".into());
    assert_refused(
        graph,
        "node \"relu\" (Sigmoid): the op Sigmoid is not supported",
    );
}

#[test]
fn a_branch_is_refused() {
    let mut graph = mlp();
    graph.nodes.push(node("Relu", "extra", &["h"], &["e"]));
    assert_refused(
        graph,
        "node \"fc2\" (Gemm) and node \"extra\" (Relu) both read \"h\": the graph branches, \
         and a tinymlp model is a single chain",
    );
}

#[test]
fn a_residual_add_of_two_computed_values_is_refused() {
    let mut graph = mlp();
    node_named(&mut graph, "bias1").input[1] = "x".into();
    assert_refused(
        graph,
        "node \"fc1\" (MatMul) and node \"bias1\" (Add) both read \"x\": the graph \
         branches, and a tinymlp model is a single chain",
    );
}

#[test]
fn a_node_off_the_chain_is_refused() {
    let mut graph = mlp();
    graph
        .nodes
        .push(node("Identity", "stray", &["W1"], &["unused"]));
    assert_refused(
        graph,
        "node \"stray\" (Identity) is not on the chain from the input \"x\" to the output \"y\"",
    );
}

#[test]
fn gemm_with_trans_a_is_refused() {
    let mut graph = mlp();
    node_named(&mut graph, "fc2")
        .attribute
        .push(int_attribute("transA", 1));
    assert_refused(
        graph,
        "node \"fc2\" (Gemm): transA = 1 is not supported (the layer's input A must not be \
         transposed)",
    );
}

#[test]
fn an_unknown_attribute_is_refused_naming_it() {
    let mut graph = mlp();
    node_named(&mut graph, "relu")
        .attribute
        .push(float_attribute("alpha", 0.1));
    assert_refused(
        graph,
        "node \"relu\" (Relu): its attribute \"alpha\" is not supported",
    );
}

#[test]
fn softmax_on_another_axis_is_refused() {
    let mut graph = mlp();
    node_named(&mut graph, "softmax")
        .attribute
        .push(int_attribute("axis", 0));
    assert_refused(
        graph,
        "node \"softmax\" (Softmax): axis = 0 is not the last axis (1 or -1) of its 2-D input",
    );
}

#[test]
fn flatten_on_another_axis_is_refused() {
    let mut graph = mlp();
    graph.inputs = vec![value("x", &[None, Some(2), Some(2)])];
    graph.nodes.insert(
        0,
        with(
            node("Flatten", "flatten", &["x"], &["f"]),
            vec![int_attribute("axis", 2)],
        ),
    );
    node_named(&mut graph, "fc1").input[0] = "f".into();
    assert_refused(
        graph,
        "node \"flatten\" (Flatten): axis = 2 does not flatten each sample into one vector \
         (axis 1 does)",
    );
}

#[test]
fn a_non_float_initializer_is_refused() {
    let mut graph = mlp();
    let w1 = initializer(&mut graph, "W1");
    w1.data_type = Some(DataType::Int32 as i32);
    w1.int32_data = vec![1; 12];
    w1.float_data.clear();
    assert_refused(
        graph,
        "node \"fc1\" (MatMul): its weights \"W1\" is int32, not a floating-point type \
         (float32, float64, float16 or bfloat16)",
    );
}

#[test]
fn computed_weights_are_refused() {
    let mut graph = mlp();
    graph.nodes.push(node("Relu", "make_w", &["W1"], &["w"]));
    node_named(&mut graph, "fc1").input[1] = "w".into();
    assert_refused(
        graph,
        "node \"fc1\" (MatMul): its input 1 \"w\" is computed by the graph; only its first \
         input may be",
    );
}

#[test]
fn two_graph_inputs_are_refused() {
    let mut graph = mlp();
    graph.inputs.push(value("w", &[Some(4), Some(3)]));
    node_named(&mut graph, "fc1").input[1] = "w".into();
    assert_refused(
        graph,
        "the graph has 2 inputs (\"x\", \"w\"): a tinymlp model has one",
    );
}

#[test]
fn two_dense_layers_without_relu_are_refused() {
    let mut graph = mlp();
    graph.nodes.retain(|n| n.name() != "relu");
    node_named(&mut graph, "fc2").input[0] = "a1".into();
    assert_refused(
        graph,
        "node \"fc2\" (Gemm): this Gemm follows the dense layer \"fc1\" with no Relu between \
         them (tinymlp's hidden layers end in ReLU)",
    );
}

#[test]
fn a_last_layer_ending_in_relu_is_refused() {
    let mut graph = mlp();
    node_named(&mut graph, "softmax").op_type = Some("Relu".into());
    assert_refused(
        graph,
        "the last layer (\"fc2\") ends in Relu: a tinymlp model's last layer ends in softmax \
         or in logits",
    );
}

#[test]
fn an_add_that_is_not_a_bias_is_refused() {
    let mut graph = mlp();
    node_named(&mut graph, "softmax").op_type = Some("Add".into());
    node_named(&mut graph, "softmax").input.push("B2".into());
    assert_refused(
        graph,
        "node \"softmax\" (Add): an Add is supported only as the bias of a dense layer, right \
         after its MatMul (or a Gemm without C)",
    );
}

#[test]
fn a_layer_after_the_softmax_is_refused() {
    let mut graph = mlp();
    graph.nodes.push(with(
        node("Gemm", "after", &["y", "W3"], &["out"]),
        vec![int_attribute("transB", 1)],
    ));
    graph.initializers.push(floats("W3", &[2, 2], &[1.0; 4]));
    graph.outputs = vec![value("out", &[None, Some(2)])];
    assert_refused(
        graph,
        "node \"after\" (Gemm): this Gemm follows the Softmax, which must end the model",
    );
}

#[test]
fn a_weight_shape_that_does_not_chain_is_refused() {
    let mut graph = mlp();
    *initializer(&mut graph, "W1") = floats("W1", &[3, 4], &W1);
    assert_refused(
        graph,
        "node \"fc1\" (MatMul): its weights take 3 inputs, but the layer receives 4 values \
         per sample",
    );
}

#[test]
fn a_constant_node_without_a_tensor_value_is_refused() {
    let mut graph = mlp();
    graph.nodes.push(with(
        node("Constant", "c", &[], &["k"]),
        vec![float_attribute("value_float", 1.0)],
    ));
    assert_refused(
        graph,
        "node \"c\" (Constant): a Constant is supported only with a `value` tensor \
         attribute, not with \"value_float\"",
    );
}

#[test]
fn an_op_of_another_domain_is_refused() {
    let mut graph = mlp();
    node_named(&mut graph, "relu").domain = Some("com.microsoft".into());
    assert_refused(
        graph,
        "node \"relu\" (Relu): the op's domain \"com.microsoft\" is not the standard one",
    );
}

#[test]
fn an_input_wider_than_the_format_is_refused() {
    let mut graph = mlp();
    graph.inputs = vec![value("x", &[None, Some(64), Some(65)])];
    assert_refused(
        graph,
        "the graph's input \"x\" has 4160 values per sample, more than the format's 4096",
    );
}

#[test]
fn a_non_float_input_is_refused() {
    let mut graph = mlp();
    if let Some(type_proto::Value::TensorType(t)) = graph.inputs[0]
        .r#type
        .as_mut()
        .and_then(|t| t.value.as_mut())
    {
        t.elem_type = Some(DataType::Uint8 as i32);
    }
    assert_refused(
        graph,
        "the graph's input \"x\" has element type 2, not float32",
    );
}

#[test]
fn more_than_eight_layers_are_refused() {
    let mut graph = mlp();
    graph.nodes.truncate(3);
    graph.initializers.push(floats("Wk", &[3, 3], &[0.5; 9]));
    let mut previous = "h".to_string();
    for k in 0..8 {
        let (m, r) = (format!("km{k}"), format!("kr{k}"));
        graph
            .nodes
            .push(node("MatMul", &format!("k{k}"), &[&previous, "Wk"], &[&m]));
        graph
            .nodes
            .push(node("Relu", &format!("relu{k}"), &[&m], &[&r]));
        previous = r;
    }
    graph.outputs = vec![value(&previous, &[None, Some(3)])];
    assert_refused(
        graph,
        "node \"k7\" (MatMul): a model of more than 8 dense layers is outside the format",
    );
}

#[test]
fn external_data_is_refused_from_bytes_alone() {
    let mut graph = mlp();
    initializer(&mut graph, "W1").data_location =
        Some(proto::tensor_proto::DataLocation::External as i32);
    assert_refused(
        graph,
        "node \"fc1\" (MatMul): its weights \"W1\" keeps its values in an external file, \
         which only a model read from its file can load (import::onnx(path), trainer convert)",
    );
}

/// The mlp graph with W1's values in `weights.bin` beside `model.onnx` in a folder of its
/// own, `W1`'s external data entries given.
fn with_external_w1(
    folder: &str,
    entries: &[(&str, &str)],
    file: &[u8],
) -> trainer::Result<trainer::import::Imported> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("import_onnx")
        .join(folder);
    std::fs::create_dir_all(&dir).expect("temp folder");
    std::fs::write(dir.join("weights.bin"), file).expect("writes");
    let mut graph = mlp();
    let w1 = initializer(&mut graph, "W1");
    w1.float_data.clear();
    w1.data_location = Some(proto::tensor_proto::DataLocation::External as i32);
    w1.external_data = entries
        .iter()
        .map(|(k, v)| proto::StringStringEntryProto {
            key: Some(k.to_string()),
            value: Some(v.to_string()),
        })
        .collect();
    let model = dir.join("model.onnx");
    std::fs::write(&model, graph.bytes()).expect("writes");
    trainer::import::onnx(&model)
}

#[test]
fn external_data_beside_the_model_is_read() {
    let mut file = vec![0xee; 16];
    file.extend(W1.iter().flat_map(|v| v.to_le_bytes()));
    let imported = with_external_w1(
        "beside",
        &[
            ("location", "weights.bin"),
            ("offset", "16"),
            ("length", "48"),
        ],
        &file,
    )
    .expect("reads");
    assert_eq!(imported.parameters, expected_parameters());
}

#[test]
fn external_data_outside_the_models_folder_or_file_is_refused() {
    let file: Vec<u8> = W1.iter().flat_map(|v| v.to_le_bytes()).collect();
    let error = |folder: &str, entries: &[(&str, &str)]| {
        let error = with_external_w1(folder, entries, &file)
            .expect_err("refused")
            .to_string();
        // After the model's path: the reason.
        error.split_once(": ").expect("path first").1.to_owned()
    };
    assert_eq!(
        error("escape", &[("location", "../weights.bin")]),
        "initializer \"W1\": external data location \"../weights.bin\" is not a file name in \
         the model's folder"
    );
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join("import_onnx/past-end/weights.bin");
    assert_eq!(
        error(
            "past-end",
            &[
                ("location", "weights.bin"),
                ("offset", "8"),
                ("length", "48")
            ]
        ),
        format!(
            "initializer \"W1\": external data at 8..+48 lies outside {} (48 bytes)",
            folder.display()
        )
    );
    assert_eq!(
        error(
            "not-a-number",
            &[("location", "weights.bin"), ("offset", "-1")]
        ),
        "initializer \"W1\": external data offset \"-1\" is not a number"
    );
}

/// Tensors that claim the same bytes twice read no more than the file holds in all.
#[test]
fn external_data_read_twice_is_refused() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("import_onnx/twice");
    std::fs::create_dir_all(&dir).expect("temp folder");
    let file: Vec<u8> = W1.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.join("weights.bin"), &file).expect("writes");
    let mut graph = mlp();
    for name in ["W1", "W2"] {
        let tensor = initializer(&mut graph, name);
        tensor.float_data.clear();
        tensor.data_location = Some(proto::tensor_proto::DataLocation::External as i32);
        tensor.external_data = vec![proto::StringStringEntryProto {
            key: Some("location".into()),
            value: Some("weights.bin".into()),
        }];
    }
    let model = dir.join("model.onnx");
    std::fs::write(&model, graph.bytes()).expect("writes");
    let error = trainer::import::onnx(&model)
        .expect_err("refused")
        .to_string();
    assert_eq!(
        error,
        format!(
            "{}: initializer \"W2\": the model's tensors read 96 bytes from {} (48 bytes): \
             more than the file holds",
            model.display(),
            dir.join("weights.bin").display()
        )
    );
}

// ---------------------------------------------------------------------------------------
// Claimed sizes against the bytes present

#[test]
fn dimensions_larger_than_the_values_present_are_refused_before_allocating() {
    let mut graph = mlp();
    initializer(&mut graph, "W1").dims = vec![4096, 4096];
    assert_refused(
        graph,
        "node \"fc1\" (MatMul): its weights \"W1\" claims dimensions [4096, 4096] (16777216 \
         values) but holds 12 values",
    );
    let mut graph = mlp();
    let w1 = initializer(&mut graph, "W1");
    w1.raw_data = Some(vec![0; 48]);
    w1.dims = vec![1 << 40, 1 << 20];
    assert_refused(
        graph,
        "node \"fc1\" (MatMul): its weights \"W1\" claims dimensions [1099511627776, 1048576] \
         (1152921504606846976 values) but holds 48 bytes of raw data (4 bytes per value)",
    );
}

#[test]
fn dimensions_whose_product_overflows_are_refused() {
    let mut graph = mlp();
    initializer(&mut graph, "W1").dims = vec![1 << 62, 1 << 62];
    assert_refused(
        graph,
        "node \"fc1\" (MatMul): its weights \"W1\" claims dimensions [4611686018427387904, \
         4611686018427387904], more values than memory can hold",
    );
    let mut graph = mlp();
    initializer(&mut graph, "W1").dims = vec![-1, 12];
    assert_refused(
        graph,
        "node \"fc1\" (MatMul): its weights \"W1\" has a negative dimension -1",
    );
}

#[test]
fn non_finite_weights_are_refused() {
    let mut graph = mlp();
    initializer(&mut graph, "B1").float_data[1] = f32::NAN;
    assert_refused(
        graph,
        "node \"bias1\" (Add): its bias \"B1\" holds a non-finite value (NaN) at index 1",
    );
}

#[test]
fn bytes_that_are_not_onnx_are_refused() {
    let error = onnx::parse(Path::new("m.onnx"), b"\xff\xff\xff not protobuf")
        .expect_err("refused")
        .to_string();
    assert!(
        error.starts_with("m.onnx: not an ONNX model (protobuf: "),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------
// The fuzz target's seeds

/// Small graphs of every supported form, the ONNX fuzz target's seeds.
fn fuzz_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut logits = mlp();
    logits.nodes.pop();
    logits.outputs = vec![value("z", &[None, Some(2)])];
    let mut half_raw = mlp();
    let b1 = initializer(&mut half_raw, "B1");
    b1.data_type = Some(DataType::Float16 as i32);
    b1.raw_data = Some(vec![0, 60, 0, 56, 0, 192]);
    b1.float_data.clear();
    let mut flattened = mlp();
    flattened.inputs = vec![value("x", &[None, Some(1), Some(2), Some(2)])];
    flattened.nodes[0].input[0] = "f".into();
    flattened.initializers.push(int64s("shape", &[0, -1]));
    flattened
        .nodes
        .insert(0, node("Reshape", "reshape", &["x", "shape"], &["f"]));
    vec![
        ("seed-mlp", mlp().bytes()),
        ("seed-logits", logits.bytes()),
        ("seed-half-raw", half_raw.bytes()),
        ("seed-reshape", flattened.bytes()),
    ]
}

/// The seeds are in `trainer/fuzz/corpus/onnx/` as they are built here (run with
/// `TINYMLP_WRITE_SEEDS=1` to write them after changing a graph), and they read.
#[test]
fn the_fuzz_corpus_holds_the_seed_graphs() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/onnx");
    for (name, bytes) in fuzz_seeds() {
        let path = corpus.join(name);
        if std::env::var_os("TINYMLP_WRITE_SEEDS").is_some() {
            std::fs::write(&path, &bytes).expect("writes the seed");
        }
        assert_eq!(
            std::fs::read(&path).expect("the seed is in the corpus"),
            bytes,
            "{name}"
        );
        onnx::parse(&path, &bytes).expect("a seed reads");
    }
}

#[test]
fn image_inputs_of_any_channel_count_default_to_pixels() {
    // An RGB image model (PyTorch's channels-first `(3, 5, 6)` or Keras's channels-last
    // `(5, 6, 3)`) reads u8 pixels divided by 255, as a grey one does, and its blobs say 3
    // channels; a flat input with no image data reads raw features.
    let mut rng = trainer::rng::Rng::new(7);
    let parameters = Parameters::glorot_uniform(&[90, 5, 3], &mut rng);
    let imported = |input_shape: &[usize]| trainer::import::Imported {
        parameters: parameters.clone(),
        output: Output::Softmax,
        input_shape: input_shape.to_vec(),
        layer_names: vec!["fc1".into(), "fc2".into()],
    };
    for shape in [[3, 5, 6], [5, 6, 3]] {
        let imported = imported(&shape);
        assert_eq!(imported.image_shape(), Some((5, 6, 3)), "{shape:?}");
        assert_eq!(
            imported.default_input(None),
            InputTransform::image(5, 6, 3),
            "{shape:?}"
        );
    }
    let flat = imported(&[90]);
    assert!(matches!(
        flat.default_input(None),
        InputTransform::Features { .. }
    ));

    // The blobs: calibrated on 90-byte images (a 9x10 grey dataset of the same width).
    let images: Vec<u8> = (0..40 * 90).map(|i| (i * 37 % 256) as u8).collect();
    let labels = (0..40).map(|i| (i % 3) as u8).collect();
    let data = trainer::data::Dataset::new(images, labels, (9, 10), 3).expect("dataset");
    let blobs = imported(&[3, 5, 6])
        .into_model(InputTransform::image(5, 6, 3), trainer::Device::Cpu)
        .expect("a model")
        .export(&data, &trainer::ExportOptions::default())
        .expect("exports");
    for blob in [&blobs.int8, &blobs.f32] {
        let model = tinymlp::Model::from_bytes(blob).expect("loads");
        let tinymlp::Input::Pixels(spec) = model.input() else {
            panic!("a pixel model");
        };
        assert_eq!((spec.height, spec.width, spec.channels), (5, 6, 3));
        assert_eq!(model.input_len(), 90);
        let mut predictor = trainer::export::Predictor::new(blob).expect("predictor");
        let (class, _) = predictor.predict(data.image(0).unwrap()).expect("predicts");
        assert!(class < 3);
    }
}
