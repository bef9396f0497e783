//! The import readers' fuzz corpora (`trainer/fuzz/corpus/onnx/` and `safetensors/`)
//! replayed on stable Rust through the fuzz targets' own bodies (`trainer-fuzz-case`), with
//! the real frameworks' files and cut and damaged copies of them: no input panics, and the
//! memory the ONNX reader holds at its peak is bounded by the input's size, whatever
//! dimensions the input claims.
//!
//! One test function: the allocation counter is global to this test binary, so the inputs
//! run one after another.

mod peak_memory;

use std::path::{Path, PathBuf};

use peak_memory::peak_of;
use prost::Message;
use trainer::import::onnx::proto::ModelProto;
use trainer_fuzz_case as fuzz;

/// The most the ONNX reader may hold per byte of input, plus a fixed allowance. prost
/// turns each 2-byte empty message of a repeated field into a whole struct (a
/// `TensorProto`, the largest once the generated code boxes the messages others hold
/// inline, is 336 bytes) in a `Vec` that may be twice as long as needed: a constant
/// factor, never a size the file merely claims.
const BYTES_PER_INPUT_BYTE: usize = 400;
const FIXED_ALLOWANCE: usize = 1 << 20;

fn files(folder: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(folder)
        .expect("the folder exists")
        .map(|entry| entry.expect("readable entry").path())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("readable file");
            (path, bytes)
        })
        .collect()
}

/// Cut at several points and with bytes flipped: the damage a download or a disk does.
fn damaged_copies(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut copies = Vec::new();
    for cut in [1, 7, 100, bytes.len() / 3, bytes.len() / 2, bytes.len() - 1] {
        copies.push(bytes[..cut.min(bytes.len())].to_vec());
    }
    for at in (0..bytes.len()).step_by(bytes.len() / 64 + 1) {
        let mut copy = bytes.to_vec();
        copy[at] ^= 0xff;
        copies.push(copy);
    }
    copies
}

#[test]
fn the_corpora_and_framework_files_replay_without_panic_in_memory_bounded_by_their_size() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    check_claimed_dimensions_are_not_allocated(manifest);
    check_empty_messages_cost_a_bounded_factor();
    let fixtures = manifest.join("tests/fixtures/import");
    let mut onnx_inputs = files(&manifest.join("fuzz/corpus/onnx"));
    assert!(onnx_inputs.len() >= 4, "the seeds are in the ONNX corpus");
    for name in ["torch.onnx", "keras.onnx"] {
        let bytes = std::fs::read(fixtures.join(name)).expect("fixture present");
        for (i, copy) in damaged_copies(&bytes).into_iter().enumerate() {
            onnx_inputs.push((PathBuf::from(format!("{name} damaged {i}")), copy));
        }
        onnx_inputs.push((fixtures.join(name), bytes));
    }
    let mut worst = (0.0f64, PathBuf::new());
    for (path, bytes) in &onnx_inputs {
        let peak = peak_of(|| fuzz::fuzz_onnx(bytes));
        assert!(
            peak <= BYTES_PER_INPUT_BYTE * bytes.len() + FIXED_ALLOWANCE,
            "{}: {peak} bytes at the peak for {} bytes of input",
            path.display(),
            bytes.len()
        );
        let ratio = peak as f64 / bytes.len().max(1) as f64;
        if ratio > worst.0 {
            worst = (ratio, path.clone());
        }
    }
    eprintln!(
        "ONNX: {} inputs, worst peak {:.1} bytes per input byte ({})",
        onnx_inputs.len(),
        worst.0,
        worst.1.display()
    );

    let mut safetensors_inputs = files(&manifest.join("fuzz/corpus/safetensors"));
    assert!(!safetensors_inputs.is_empty(), "the seed is in the corpus");
    let mut bytes = vec![1];
    bytes.extend(std::fs::read(fixtures.join("torch.safetensors")).expect("fixture present"));
    for (i, copy) in damaged_copies(&bytes).into_iter().enumerate() {
        safetensors_inputs.push((
            PathBuf::from(format!("torch.safetensors damaged {i}")),
            copy,
        ));
    }
    safetensors_inputs.push((fixtures.join("torch.safetensors"), bytes));
    for (_, bytes) in &safetensors_inputs {
        fuzz::fuzz_safetensors(bytes);
    }
}

/// The costliest bytes for prost: a graph of 50,000 empty nodes (2 bytes each, a whole
/// `NodeProto` each once decoded), of as many empty initializers, and of as many empty
/// attributes in one node.
fn check_empty_messages_cost_a_bounded_factor() {
    let nodes = 50_000;
    for body in [
        [0x0a, 0x00].repeat(nodes), // GraphProto.node (field 1), empty
        [0x2a, 0x00].repeat(nodes), // GraphProto.initializer (field 5), empty
        {
            // One NodeProto (GraphProto field 1) of empty attributes (NodeProto field 5).
            let attributes = [0x2a, 0x00].repeat(nodes);
            let mut node = vec![0x0a];
            node.extend(varint(attributes.len()));
            node.extend(attributes);
            node
        },
    ] {
        // ModelProto.graph is field 7.
        let mut input = vec![0x3a];
        input.extend(varint(body.len()));
        input.extend(body);
        let peak = peak_of(|| fuzz::fuzz_onnx(&input));
        assert!(
            peak <= BYTES_PER_INPUT_BYTE * input.len(),
            "{peak} bytes at the peak for {} bytes of empty messages",
            input.len()
        );
        eprintln!(
            "empty messages: {:.1} bytes held per input byte",
            peak as f64 / input.len() as f64
        );
    }
}

fn varint(mut value: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    while value >= 0x80 {
        bytes.push((value as u8) | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
    bytes
}

/// A file that claims a 4096 x 4096 weight (64 MiB of f32) but holds 12 values is refused
/// without the claimed size ever being allocated.
fn check_claimed_dimensions_are_not_allocated(manifest: &Path) {
    let seed = std::fs::read(manifest.join("fuzz/corpus/onnx/seed-mlp")).expect("seed present");
    let mut model = ModelProto::decode(seed.as_slice()).expect("the seed decodes");
    let graph = model.graph.as_mut().expect("a graph");
    graph.initializer[0].dims = vec![4096, 4096];
    let claiming = model.encode_to_vec();
    let peak = peak_of(|| fuzz::fuzz_onnx(&claiming));
    assert!(peak < 1 << 20, "{peak} bytes allocated");
}
