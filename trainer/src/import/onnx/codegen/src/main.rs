//! Regenerates `../proto.rs` from `../onnx.proto` (the official file, copied unchanged from
//! the `onnx` Python package) with protox (a protobuf compiler in Rust: no `protoc` binary)
//! and prost-build. From `trainer/src/import/onnx/codegen`: `cargo run`.

use std::fs;
use std::path::Path;

const HEADER: &str = "\
// Generated from onnx.proto (ONNX 1.23.2, copied unchanged beside this file) by prost-build
// 0.14 through protox, with no protoc binary. Do not edit: regenerate with
// `cd trainer/src/import/onnx/codegen && cargo run` after replacing onnx.proto.
";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let onnx = here.parent().ok_or("no parent folder")?;
    let descriptors = protox::compile(["onnx.proto"], [onnx])?;
    let out = std::env::temp_dir().join("tinymlp-onnx-codegen");
    fs::create_dir_all(&out)?;
    prost_build::Config::new()
        .out_dir(&out)
        .compile_fds(descriptors)?;
    let generated = fs::read_to_string(out.join("onnx.rs"))?;
    fs::write(onnx.join("proto.rs"), format!("{HEADER}{generated}"))?;
    fs::remove_dir_all(&out)?;
    Ok(())
}
