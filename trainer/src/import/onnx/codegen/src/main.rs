//! Regenerates `../proto.rs` from `../onnx.proto` (the official file, copied unchanged from
//! the `onnx` Python package) with protox (a protobuf compiler in Rust: no `protoc` binary)
//! and prost-build. From `trainer/src/import/onnx/codegen`: `cargo run`.

use std::fs;
use std::path::Path;

const HEADER: &str = "\
// Generated from onnx.proto (ONNX 1.23.2, copied unchanged beside this file) by prost-build
// 0.14 through protox, with no protoc binary, the large inline messages boxed (see
// codegen/src/main.rs). Do not edit: regenerate with
// `cd trainer/src/import/onnx/codegen && cargo run`, then `cargo fmt --all`.
";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let onnx = here.parent().ok_or("no parent folder")?;
    let descriptors = protox::compile(["onnx.proto"], [onnx])?;
    let out = std::env::temp_dir().join("tinymlp-onnx-codegen");
    fs::create_dir_all(&out)?;
    let mut config = prost_build::Config::new();
    config.out_dir(&out);
    // Messages held inline make every decoded struct that holds them large: an empty
    // AttributeProto (2 bytes in a file) would take 1,640 bytes. Boxed, the largest
    // message an empty entry decodes to is a TensorProto (336 bytes), which bounds the
    // memory a file can make the reader hold per byte of it.
    for field in [
        ".onnx.AttributeProto.t",
        ".onnx.AttributeProto.g",
        ".onnx.AttributeProto.sparse_tensor",
        ".onnx.AttributeProto.tp",
        ".onnx.SparseTensorProto.values",
        ".onnx.SparseTensorProto.indices",
        ".onnx.TrainingInfoProto.initialization",
        ".onnx.TrainingInfoProto.algorithm",
    ] {
        config.boxed(field);
    }
    config.compile_fds(descriptors)?;
    let generated = fs::read_to_string(out.join("onnx.rs"))?;
    fs::write(onnx.join("proto.rs"), format!("{HEADER}{generated}"))?;
    fs::remove_dir_all(&out)?;
    Ok(())
}
