//! The ONNX reader: the protobuf decoded by prost with the official `onnx.proto` (the
//! generated code is [`proto`]), then the graph walked from its one input to its one output
//! as a chain of the ops an MLP is made of ([`super::SUPPORTED_ONNX`]).
//!
//! Memory stays bounded by the file's size, whatever sizes the file claims: prost allocates
//! only for values present in the bytes (at worst about 330 bytes held per byte of file, for
//! a file of empty messages, each decoding to a whole struct: the generated code boxes the
//! large messages others would hold inline), and a tensor's claimed dimensions are checked
//! against the values it holds before anything is converted ([`tensor`]).
//! `tests/import_fuzz_corpus.rs` measures both.

use std::collections::HashMap;
use std::path::Path;

use prost::Message;

use super::{check_layer_size, transpose, Imported, Output, MAX_LAYERS, SUPPORTED_ONNX};
use crate::error::{Error, Result};
use crate::network::{DenseParams, Parameters};

pub mod external;
/// The types prost generated from the official `onnx.proto` (beside it; see its header).
#[allow(missing_docs, clippy::all, clippy::pedantic, rustdoc::all)]
pub mod proto;
pub mod tensor;

use proto::attribute_proto::AttributeType;
use proto::{type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto};
use tensor::FloatTensor;

/// Reads an ONNX model from its bytes; `path` names the file in errors. Tensors kept in
/// an external file are refused: [`read`] loads them.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Imported> {
    walk(path, &decode(path, bytes)?)
}

/// Reads the ONNX model file at `path`, with the tensors it keeps in external files beside
/// it (see [`external`]).
pub fn read(path: &Path) -> Result<Imported> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut model = decode(path, &bytes)?;
    external::load(path, &mut model).map_err(|reason| Error::BadData {
        path: path.to_path_buf(),
        reason,
    })?;
    walk(path, &model)
}

fn decode(path: &Path, bytes: &[u8]) -> Result<ModelProto> {
    ModelProto::decode(bytes).map_err(|e| Error::BadData {
        path: path.to_path_buf(),
        reason: format!("not an ONNX model (protobuf: {e})"),
    })
}

fn walk(path: &Path, model: &ModelProto) -> Result<Imported> {
    let bad = |reason: String| Error::BadData {
        path: path.to_path_buf(),
        reason,
    };
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| bad("an ONNX model without a graph".into()))?;
    // Softmax's default axis changed from 1 to -1 in opset 13; both are the last axis of
    // the 2-D values an MLP's layers produce, so the version matters only for the message.
    Walk::new(graph)
        .and_then(Walk::run)
        .map_err(|reason| bad(format!("{reason}; {SUPPORTED_ONNX}")))
}

/// A node as errors name it: `node "/1/Gemm" (Gemm)`.
fn describe(node: &NodeProto, index: usize) -> String {
    let op = node.op_type();
    match node.name() {
        "" => format!("node #{index} ({op})"),
        name => format!("node {name:?} ({op})"),
    }
}

/// The last step of the chain walked so far, which decides what may come next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last {
    /// The input, possibly flattened.
    Input,
    /// A dense layer's product, its bias not added yet (MatMul, or Gemm without C).
    Product,
    /// A dense layer with its bias.
    Dense,
    /// A hidden layer's ReLU.
    Relu,
    /// The final softmax.
    Softmax,
}

struct Walk<'g> {
    graph: &'g GraphProto,
    /// Initializers and Constant nodes' values, by name.
    constants: HashMap<&'g str, &'g TensorProto>,
    /// The nodes reading each computed value (constants left out), by value name.
    readers: HashMap<&'g str, Vec<usize>>,
    input: &'g str,
    output: &'g str,
    input_shape: Vec<usize>,
    /// Values per sample of the current value.
    features: usize,
    last: Last,
    layers: Vec<DenseParams>,
    names: Vec<String>,
    visited: Vec<bool>,
}

impl<'g> Walk<'g> {
    fn new(graph: &'g GraphProto) -> std::result::Result<Walk<'g>, String> {
        let mut constants: HashMap<&str, &TensorProto> = HashMap::new();
        for tensor in &graph.initializer {
            constants.insert(tensor.name(), tensor);
        }
        for (index, node) in graph.node.iter().enumerate() {
            if node.op_type() == "Constant" {
                let value = constant_value(node)
                    .map_err(|why| format!("{}: {why}", describe(node, index)))?;
                for output in &node.output {
                    constants.insert(output, value);
                }
            }
        }
        if !graph.sparse_initializer.is_empty() {
            return Err("the graph has sparse initializers, which are not supported".into());
        }
        // Old exporters list the initializers among the inputs too.
        let inputs: Vec<_> = graph
            .input
            .iter()
            .filter(|i| !constants.contains_key(i.name()))
            .collect();
        let [input] = inputs.as_slice() else {
            return Err(format!(
                "the graph has {} inputs ({}): a tinymlp model has one",
                inputs.len(),
                names(inputs.iter().map(|i| i.name()))
            ));
        };
        let [output] = graph.output.as_slice() else {
            return Err(format!(
                "the graph has {} outputs ({}): a tinymlp model has one",
                graph.output.len(),
                names(graph.output.iter().map(|o| o.name()))
            ));
        };
        let input_shape = input_shape(input)?;
        let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (index, node) in graph.node.iter().enumerate() {
            for name in &node.input {
                if !name.is_empty() && !constants.contains_key(name.as_str()) {
                    readers.entry(name).or_default().push(index);
                }
            }
        }
        let features = input_shape.iter().product();
        Ok(Walk {
            graph,
            constants,
            readers,
            input: input.name(),
            output: output.name(),
            input_shape,
            features,
            last: Last::Input,
            layers: Vec::new(),
            names: Vec::new(),
            visited: vec![false; graph.node.len()],
        })
    }

    /// Follows the chain from the input to the output, one node at a time.
    fn run(mut self) -> std::result::Result<Imported, String> {
        let mut current: &str = self.input;
        loop {
            let readers = self.readers.get(current).map_or(&[][..], Vec::as_slice);
            if current == self.output {
                if let Some(&reader) = readers.first() {
                    return Err(format!(
                        "{} reads the graph's output {current:?}: the graph is not a chain \
                         (it branches)",
                        describe(&self.graph.node[reader], reader)
                    ));
                }
                break;
            }
            let index = match readers {
                [] if current == self.input => {
                    return Err(format!("no node reads the graph's input {current:?}"))
                }
                [] => {
                    return Err(format!(
                        "value {current:?} is neither read by a node nor the graph's output \
                         {:?}",
                        self.output
                    ))
                }
                [one] => *one,
                [first, second, ..] => {
                    return Err(format!(
                        "{} and {} both read {current:?}: the graph branches, and a tinymlp \
                         model is a single chain",
                        describe(&self.graph.node[*first], *first),
                        describe(&self.graph.node[*second], *second)
                    ))
                }
            };
            if self.visited[index] {
                return Err(format!(
                    "{} is reached twice: the graph has a cycle",
                    describe(&self.graph.node[index], index)
                ));
            }
            self.visited[index] = true;
            let node = &self.graph.node[index];
            self.step(node, current)
                .map_err(|why| format!("{}: {why}", describe(node, index)))?;
            current = self.next_value(node, index)?;
        }
        if let Some((index, node)) = self
            .graph
            .node
            .iter()
            .enumerate()
            .find(|(i, n)| !self.visited[*i] && n.op_type() != "Constant")
        {
            return Err(format!(
                "{} is not on the chain from the input {:?} to the output {:?}",
                describe(node, index),
                self.input,
                self.output
            ));
        }
        match self.last {
            Last::Input => Err("the graph has no dense layer (Gemm, or MatMul and Add)".into()),
            Last::Relu => Err(format!(
                "the last layer ({:?}) ends in Relu: a tinymlp model's last layer ends in \
                 softmax or in logits",
                self.names.last().map_or("", String::as_str)
            )),
            Last::Product | Last::Dense | Last::Softmax => Ok(Imported {
                parameters: Parameters {
                    layers: self.layers,
                },
                output: if self.last == Last::Softmax {
                    Output::Softmax
                } else {
                    Output::Logits
                },
                input_shape: self.input_shape,
                layer_names: self.names,
            }),
        }
    }

    /// The value a node hands on: its first output. A second output (Dropout's mask) must
    /// be unused.
    fn next_value(
        &self,
        node: &'g NodeProto,
        index: usize,
    ) -> std::result::Result<&'g str, String> {
        let Some(first) = node.output.first() else {
            return Err(format!("{} has no output", describe(node, index)));
        };
        for extra in node.output.iter().skip(1).filter(|o| !o.is_empty()) {
            if self.readers.contains_key(extra.as_str()) || extra == self.output {
                return Err(format!(
                    "{}: its output {extra:?} is used, and only its first output can be",
                    describe(node, index)
                ));
            }
        }
        Ok(first)
    }

    /// The constant a node reads as `input[at]`, or why it is not one.
    fn constant(
        &self,
        node: &NodeProto,
        at: usize,
        role: &str,
    ) -> std::result::Result<&'g TensorProto, String> {
        let name = node.input.get(at).map_or("", String::as_str);
        if name.is_empty() {
            return Err(format!("its {role} (input {at}) is missing"));
        }
        self.constants.get(name).copied().ok_or_else(|| {
            format!(
                "its {role} {name:?} is computed by the graph; it must be a weight (an \
                 initializer or a Constant node)"
            )
        })
    }

    /// The values of the constant a node reads as `input[at]`.
    fn floats(
        &self,
        node: &NodeProto,
        at: usize,
        role: &str,
    ) -> std::result::Result<FloatTensor, String> {
        let tensor = self.constant(node, at, role)?;
        tensor::floats(tensor).map_err(|why| format!("its {role} {:?} {why}", tensor.name()))
    }

    /// Checks that the node reads the current value as its first input and, besides it,
    /// only constants (or nothing) among its inputs.
    fn reads_current_first(
        &self,
        node: &NodeProto,
        current: &str,
    ) -> std::result::Result<(), String> {
        if node.input.first().map(String::as_str) != Some(current) {
            return Err(format!(
                "it reads {current:?} as input {}, not as its first input (the layer's input \
                 must come first: input times weights)",
                node.input.iter().position(|i| i == current).unwrap_or(0)
            ));
        }
        for (at, name) in node.input.iter().enumerate().skip(1) {
            if !name.is_empty() && !self.constants.contains_key(name.as_str()) {
                return Err(format!(
                    "its input {at} {name:?} is computed by the graph; only its first input \
                     may be"
                ));
            }
        }
        Ok(())
    }

    fn step(&mut self, node: &'g NodeProto, current: &str) -> std::result::Result<(), String> {
        if !matches!(node.domain(), "" | "ai.onnx") {
            return Err(format!(
                "the op's domain {:?} is not the standard one",
                node.domain()
            ));
        }
        let op = node.op_type();
        match op {
            "Identity" | "Dropout" => {
                self.reads_current_first(node, current)?;
                only_attributes(node, &["seed", "ratio", "is_test"])
            }
            "Flatten" => {
                self.reads_current_first(node, current)?;
                self.at_input(op)?;
                only_attributes(node, &["axis"])?;
                let rank = self.input_shape.len() as i64 + 1;
                let axis = int_attribute(node, "axis")?.unwrap_or(1);
                if axis != 1 && axis + rank != 1 {
                    return Err(format!(
                        "axis = {axis} does not flatten each sample into one vector (axis 1 does)"
                    ));
                }
                Ok(())
            }
            "Reshape" => {
                self.reads_current_first(node, current)?;
                self.at_input(op)?;
                only_attributes(node, &["allowzero"])?;
                let shape = self.constant(node, 1, "shape")?;
                let shape = tensor::int64s(shape)
                    .map_err(|why| format!("its shape {:?} {why}", shape.name()))?;
                let features = self.features as i64;
                let flattens = match shape.as_slice() {
                    [batch, f] if *f == features => *batch >= -1,
                    [0 | 1, -1] => true,
                    _ => false,
                };
                let allowzero = int_attribute(node, "allowzero")?.unwrap_or(0);
                if !flattens || (allowzero != 0 && shape.contains(&0)) {
                    return Err(format!(
                        "its shape {shape:?} does not make each sample one vector of \
                         {features} values"
                    ));
                }
                Ok(())
            }
            "Gemm" => {
                self.reads_current_first(node, current)?;
                self.before_layer(op)?;
                only_attributes(node, &["alpha", "beta", "transA", "transB"])?;
                if int_attribute(node, "transA")?.unwrap_or(0) != 0 {
                    return Err(
                        "transA = 1 is not supported (the layer's input A must not be \
                                transposed)"
                            .into(),
                    );
                }
                let trans_b = match int_attribute(node, "transB")?.unwrap_or(0) {
                    0 => false,
                    1 => true,
                    other => return Err(format!("transB = {other} is neither 0 nor 1")),
                };
                let alpha = float_attribute(node, "alpha")?.unwrap_or(1.0);
                let beta = float_attribute(node, "beta")?.unwrap_or(1.0);
                let b = self.floats(node, 1, "weight B")?;
                let (inputs, outputs) = match (b.dims.as_slice(), trans_b) {
                    ([k, n], false) => (*k, *n),
                    ([n, k], true) => (*k, *n),
                    (dims, _) => {
                        return Err(format!("its weight B has shape {dims:?}, not 2-D"));
                    }
                };
                self.check_inputs(inputs, "weight B")?;
                check_layer_size(inputs, outputs)?;
                let mut weights = if trans_b {
                    transpose(&b.values, outputs, inputs)
                } else {
                    b.values
                };
                if alpha != 1.0 {
                    weights.iter_mut().for_each(|w| *w *= alpha);
                }
                let has_bias = node.input.get(2).is_some_and(|c| !c.is_empty());
                let bias = if has_bias {
                    let c = self.floats(node, 2, "bias C")?;
                    let mut bias =
                        broadcast_bias(&c, outputs).map_err(|why| format!("its bias C {why}"))?;
                    bias.iter_mut().for_each(|v| *v *= beta);
                    bias
                } else {
                    vec![0.0; outputs]
                };
                if let Some(at) = weights.iter().chain(&bias).position(|v| !v.is_finite()) {
                    return Err(format!(
                        "alpha = {alpha} or beta = {beta} makes value {at} of the layer \
                         non-finite"
                    ));
                }
                self.push_layer(node, inputs, outputs, weights, bias)?;
                self.last = if has_bias { Last::Dense } else { Last::Product };
                Ok(())
            }
            "MatMul" => {
                self.reads_current_first(node, current)?;
                self.before_layer(op)?;
                only_attributes(node, &[])?;
                let b = self.floats(node, 1, "weights")?;
                let [inputs, outputs] = *b.dims.as_slice() else {
                    return Err(format!("its weights have shape {:?}, not 2-D", b.dims));
                };
                self.check_inputs(inputs, "weights")?;
                check_layer_size(inputs, outputs)?;
                self.push_layer(node, inputs, outputs, b.values, vec![0.0; outputs])?;
                self.last = Last::Product;
                Ok(())
            }
            "Add" => {
                only_attributes(node, &[])?;
                if self.last != Last::Product {
                    return Err(
                        "an Add is supported only as the bias of a dense layer, right \
                                after its MatMul (or a Gemm without C)"
                            .into(),
                    );
                }
                // The bias may be either operand.
                let at = match node.input.iter().position(|i| i == current) {
                    Some(0) => 1,
                    Some(1) => 0,
                    _ => return Err(format!("it does not read {current:?} as one of two inputs")),
                };
                if node.input.len() != 2 {
                    return Err(format!("it has {} inputs, not 2", node.input.len()));
                }
                let c = self.floats(node, at, "bias")?;
                let layer = self.layers.last_mut().ok_or("no layer before the bias")?;
                let bias =
                    broadcast_bias(&c, layer.outputs).map_err(|why| format!("its bias {why}"))?;
                layer.bias.iter_mut().zip(&bias).for_each(|(b, c)| *b += c);
                self.last = Last::Dense;
                Ok(())
            }
            "Relu" => {
                self.reads_current_first(node, current)?;
                only_attributes(node, &[])?;
                if !matches!(self.last, Last::Product | Last::Dense) {
                    return Err("a Relu is supported only right after a dense layer".into());
                }
                self.last = Last::Relu;
                Ok(())
            }
            "Softmax" => {
                self.reads_current_first(node, current)?;
                only_attributes(node, &["axis"])?;
                if !matches!(self.last, Last::Product | Last::Dense) {
                    return Err(
                        "a Softmax is supported only right after the last dense layer".into(),
                    );
                }
                // The values here are 2-D (batch, classes): axis 1 and -1 are the last.
                match int_attribute(node, "axis")? {
                    None | Some(1) | Some(-1) => {}
                    Some(axis) => {
                        return Err(format!(
                            "axis = {axis} is not the last axis (1 or -1) of its 2-D input"
                        ))
                    }
                }
                self.last = Last::Softmax;
                Ok(())
            }
            other => Err(format!("the op {other} is not supported")),
        }
    }

    /// Flatten and Reshape belong before the first layer.
    fn at_input(&self, op: &str) -> std::result::Result<(), String> {
        if self.last != Last::Input {
            return Err(format!(
                "a {op} is supported only at the input, before the first dense layer"
            ));
        }
        Ok(())
    }

    /// What may precede a dense layer: the input, or a hidden layer's ReLU.
    fn before_layer(&self, op: &str) -> std::result::Result<(), String> {
        match self.last {
            Last::Input | Last::Relu => Ok(()),
            Last::Product | Last::Dense => Err(format!(
                "this {op} follows the dense layer {:?} with no Relu between them (tinymlp's \
                 hidden layers end in ReLU)",
                self.names.last().map_or("", String::as_str)
            )),
            Last::Softmax => Err(format!(
                "this {op} follows the Softmax, which must end the model"
            )),
        }
    }

    fn check_inputs(&self, inputs: usize, role: &str) -> std::result::Result<(), String> {
        if inputs != self.features {
            return Err(format!(
                "its {role} take {inputs} inputs, but the layer receives {} values per sample",
                self.features
            ));
        }
        Ok(())
    }

    fn push_layer(
        &mut self,
        node: &NodeProto,
        inputs: usize,
        outputs: usize,
        weights: Vec<f32>,
        bias: Vec<f32>,
    ) -> std::result::Result<(), String> {
        if self.layers.len() == MAX_LAYERS {
            return Err(format!(
                "a model of more than {MAX_LAYERS} dense layers is outside the format"
            ));
        }
        self.layers.push(DenseParams {
            inputs,
            outputs,
            weights,
            bias,
        });
        self.names.push(node.name().to_owned());
        self.features = outputs;
        Ok(())
    }
}

/// A Constant node's tensor (its `value` attribute, the only form supported).
fn constant_value(node: &NodeProto) -> std::result::Result<&TensorProto, String> {
    match node.attribute.as_slice() {
        [attribute] if attribute.name() == "value" => attribute
            .t
            .as_deref()
            .ok_or_else(|| "its value attribute holds no tensor".into()),
        attributes => Err(format!(
            "a Constant is supported only with a `value` tensor attribute, not with {}",
            names(attributes.iter().map(AttributeProto::name))
        )),
    }
}

/// Refuses any attribute the op's reading here does not know, naming it.
fn only_attributes(node: &NodeProto, known: &[&str]) -> std::result::Result<(), String> {
    match node.attribute.iter().find(|a| !known.contains(&a.name())) {
        Some(attribute) => Err(format!(
            "its attribute {:?} is not supported{}",
            attribute.name(),
            if known.is_empty() {
                String::new()
            } else {
                format!(" (only {})", known.join(", "))
            }
        )),
        None => Ok(()),
    }
}

fn attribute<'n>(node: &'n NodeProto, name: &str) -> Option<&'n AttributeProto> {
    node.attribute.iter().find(|a| a.name() == name)
}

fn int_attribute(node: &NodeProto, name: &str) -> std::result::Result<Option<i64>, String> {
    match attribute(node, name) {
        None => Ok(None),
        Some(a) if a.r#type() == AttributeType::Int || (a.r#type.is_none() && a.i.is_some()) => {
            Ok(Some(a.i()))
        }
        Some(_) => Err(format!("its attribute {name:?} is not an integer")),
    }
}

fn float_attribute(node: &NodeProto, name: &str) -> std::result::Result<Option<f32>, String> {
    match attribute(node, name) {
        None => Ok(None),
        Some(a) if a.r#type() == AttributeType::Float || (a.r#type.is_none() && a.f.is_some()) => {
            if a.f().is_finite() {
                Ok(Some(a.f()))
            } else {
                Err(format!("its attribute {name:?} is {}", a.f()))
            }
        }
        Some(_) => Err(format!("its attribute {name:?} is not a float")),
    }
}

/// A bias of shape `[outputs]`, `[1, outputs]`, or one value for all (`[]` or `[1]`).
fn broadcast_bias(tensor: &FloatTensor, outputs: usize) -> std::result::Result<Vec<f32>, String> {
    match (tensor.dims.as_slice(), tensor.values.as_slice()) {
        ([n] | [1, n], values) if *n == outputs => Ok(values.to_vec()),
        ([] | [1] | [1, 1], [value]) => Ok(vec![*value; outputs]),
        (dims, _) => Err(format!(
            "has shape {dims:?}, which does not add to {outputs} outputs"
        )),
    }
}

/// The declared shape of one input sample: a float tensor whose first dimension is the
/// batch (any size, or symbolic) and whose others are known.
fn input_shape(input: &proto::ValueInfoProto) -> std::result::Result<Vec<usize>, String> {
    let name = input.name();
    let Some(type_proto::Value::TensorType(tensor)) =
        input.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err(format!("the graph's input {name:?} is not a tensor"));
    };
    if tensor.elem_type() != proto::tensor_proto::DataType::Float as i32 {
        return Err(format!(
            "the graph's input {name:?} has element type {}, not float32",
            tensor.elem_type()
        ));
    }
    let dims: Vec<Option<i64>> = tensor
        .shape
        .as_ref()
        .map(|s| {
            s.dim
                .iter()
                .map(|d| match d.value {
                    Some(proto::tensor_shape_proto::dimension::Value::DimValue(v)) => Some(v),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let describe_dims = || {
        dims.iter()
            .map(|d| d.map_or("?".to_owned(), |v| v.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if dims.len() < 2 {
        return Err(format!(
            "the graph's input {name:?} has shape [{}]; a batch of samples (at least 2 \
             dimensions, the first the batch) is supported",
            describe_dims()
        ));
    }
    let mut shape = Vec::with_capacity(dims.len() - 1);
    let mut features: usize = 1;
    for d in &dims[1..] {
        let size = d
            .and_then(|v| usize::try_from(v).ok())
            .filter(|&v| v > 0)
            .ok_or_else(|| {
                format!(
                    "the graph's input {name:?} has shape [{}]: every dimension but the first \
                     (the batch) must be a known size",
                    describe_dims()
                )
            })?;
        features = features.saturating_mul(size);
        shape.push(size);
    }
    if features > super::MAX_WIDTH {
        return Err(format!(
            "the graph's input {name:?} has {features} values per sample, more than the \
             format's {}",
            super::MAX_WIDTH
        ));
    }
    Ok(shape)
}

/// Names as `"a", "b"` (or `none`).
fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let list: Vec<String> = names.map(|n| format!("{n:?}")).collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}
