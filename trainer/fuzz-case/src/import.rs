//! The import readers' fuzz bodies (ONNX and safetensors): any bytes may be refused, none
//! may panic, and a model they accept holds the promises `check_imported` lists.

use std::path::Path;

use trainer::import::{self, Imported, Output, MAX_LAYERS, MAX_WIDTH};

/// The ONNX fuzz target's body.
pub fn fuzz_onnx(data: &[u8]) {
    if let Ok(imported) = import::onnx::parse(Path::new("fuzz.onnx"), data) {
        check_imported(&imported);
    }
}

/// The safetensors fuzz target's body: the first byte's low bit picks the output flag.
pub fn fuzz_safetensors(data: &[u8]) {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    let output = if mode & 1 == 0 {
        Output::Softmax
    } else {
        Output::Logits
    };
    if let Ok(imported) = import::state_dict::parse(Path::new("fuzz.safetensors"), bytes, output) {
        assert_eq!(imported.output, output);
        check_imported(&imported);
    }
}

/// What every imported model promises: 1 to 8 chained layers within the format's widths,
/// arrays of the sizes the shapes say, finite values, one name per layer, a declared input
/// shape (when there is one) that holds the first layer's inputs; and the f32 blob encodes
/// and loads, or the runtime's validation refuses its values.
pub fn check_imported(imported: &Imported) {
    let layers = &imported.parameters.layers;
    assert!(
        (1..=MAX_LAYERS).contains(&layers.len()),
        "{} layers",
        layers.len()
    );
    assert_eq!(imported.layer_names.len(), layers.len());
    for (i, layer) in layers.iter().enumerate() {
        assert!((1..=MAX_WIDTH).contains(&layer.inputs));
        assert!((1..=MAX_WIDTH).contains(&layer.outputs));
        assert_eq!(layer.weights.len(), layer.inputs * layer.outputs);
        assert_eq!(layer.bias.len(), layer.outputs);
        assert!(layer
            .weights
            .iter()
            .chain(&layer.bias)
            .all(|v| v.is_finite()));
        if i > 0 {
            assert_eq!(
                layer.inputs,
                layers[i - 1].outputs,
                "layer {i} does not chain"
            );
        }
    }
    if !imported.input_shape.is_empty() {
        assert_eq!(
            imported.input_shape.iter().product::<usize>(),
            layers[0].inputs
        );
    }
    let table = imported.layer_table();
    assert!(table.contains("total: "));
    let input = tinymlp::InputSpec {
        width: layers[0].inputs as u16,
        height: 1,
        channels: 1,
        scale: 1.0 / 255.0,
        zero_point: 0,
    };
    // The runtime may still refuse the values (weights whose sums could overflow f32):
    // an error from its validation, which `trainer convert` reports as such.
    let head = trainer::export::BlobHead::unnamed(tinymlp::Input::Pixels(input));
    if let Err(error) = trainer::export::encode_f32(&head, &imported.parameters) {
        assert!(matches!(error, trainer::Error::Runtime(_)), "{error}");
    }
}
