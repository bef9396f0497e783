//! Initializers whose values live in a file beside the model (ONNX's external data: what
//! `torch.onnx.export` writes by default since its dynamo exporter, `model.onnx.data`).
//! Each such tensor's bytes are read into its `raw_data` before the graph is walked, so
//! the walk sees every tensor the same way.
//!
//! The file must be a plain name in the model's folder (no path separator, no `..`), as
//! ONNX Runtime requires; a tensor's bytes must lie within it; and the bytes read in all
//! never exceed the sizes of the files read, whatever lengths the model claims.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::proto::tensor_proto::DataLocation;
use super::proto::{ModelProto, TensorProto};

/// Loads every external initializer of `model` (read from `model_path`) into memory.
pub fn load(model_path: &Path, model: &mut ModelProto) -> Result<(), String> {
    let folder = model_path.parent().unwrap_or(Path::new(""));
    let Some(graph) = model.graph.as_mut() else {
        return Ok(());
    };
    // Per file: its size, and the bytes read from it so far.
    let mut files: HashMap<PathBuf, (u64, u64)> = HashMap::new();
    for tensor in &mut graph.initializer {
        if tensor.data_location != Some(DataLocation::External as i32) {
            continue;
        }
        let name = tensor.name().to_owned();
        let bytes = read_tensor(folder, tensor, &mut files)
            .map_err(|why| format!("initializer {name:?}: {why}"))?;
        tensor.raw_data = Some(bytes);
        tensor.data_location = Some(DataLocation::Default as i32);
        tensor.external_data.clear();
    }
    Ok(())
}

fn read_tensor(
    folder: &Path,
    tensor: &TensorProto,
    files: &mut HashMap<PathBuf, (u64, u64)>,
) -> Result<Vec<u8>, String> {
    let entry = |key: &str| {
        tensor
            .external_data
            .iter()
            .find(|e| e.key() == key)
            .map(|e| e.value())
    };
    let location = entry("location").ok_or("external data without a location")?;
    if location.is_empty() || location.contains(['/', '\\']) || location == ".." || location == "."
    {
        return Err(format!(
            "external data location {location:?} is not a file name in the model's folder"
        ));
    }
    let number = |key: &str| -> Result<Option<u64>, String> {
        entry(key)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| format!("external data {key} {v:?} is not a number"))
            })
            .transpose()
    };
    let offset = number("offset")?.unwrap_or(0);
    let path = folder.join(location);
    let (size, read_so_far) = match files.get(&path) {
        Some(known) => *known,
        None => {
            let size = std::fs::metadata(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .len();
            (size, 0)
        }
    };
    let length = match number("length")? {
        Some(length) => length,
        None => size.saturating_sub(offset),
    };
    let end = offset
        .checked_add(length)
        .filter(|&end| end <= size)
        .ok_or_else(|| {
            format!(
                "external data at {offset}..+{length} lies outside {} ({size} bytes)",
                path.display()
            )
        })?;
    let total = read_so_far + (end - offset);
    if total > size {
        return Err(format!(
            "the model's tensors read {total} bytes from {} ({size} bytes): more than the \
             file holds",
            path.display()
        ));
    }
    files.insert(path.clone(), (size, total));
    let mut file = File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(length)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() as u64 != length {
        return Err(format!(
            "{}: {} bytes read at {offset}, {length} expected",
            path.display(),
            bytes.len()
        ));
    }
    Ok(bytes)
}
