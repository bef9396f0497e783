//! ONNX tensors (initializers and `Constant` values) as f32 or i64 values. Whatever
//! dimensions a tensor claims, nothing is allocated before the values it claims are found
//! in the file: the claimed element count is checked (without overflow) against the bytes
//! or the repeated values actually present, so memory stays bounded by the file's size.

use super::proto::tensor_proto::{DataLocation, DataType};
use super::proto::TensorProto;

/// A tensor's values, converted to f32 (float32 as is; float64, float16 and bfloat16
/// rounded to the nearest f32, which is exact for the two 16-bit types).
#[derive(Debug, Clone, PartialEq)]
pub struct FloatTensor {
    /// The dimensions, outermost first.
    pub dims: Vec<usize>,
    /// `dims.iter().product()` values, row-major.
    pub values: Vec<f32>,
}

/// The claimed dimensions and their element count, checked: no negative dimension and a
/// product that fits in `usize`.
fn dims_and_count(tensor: &TensorProto) -> Result<(Vec<usize>, usize), String> {
    let mut dims = Vec::with_capacity(tensor.dims.len());
    let mut count: usize = 1;
    for &d in &tensor.dims {
        let d = usize::try_from(d).map_err(|_| format!("has a negative dimension {d}"))?;
        count = count.checked_mul(d).ok_or_else(|| {
            format!(
                "claims dimensions {:?}, more values than memory can hold",
                tensor.dims
            )
        })?;
        dims.push(d);
    }
    if tensor.data_location == Some(DataLocation::External as i32) {
        // import::onnx(path) loads external data before the walk; from bytes alone there
        // is no file to read it from.
        return Err(
            "keeps its values in an external file, which only a model read from \
                    its file can load (import::onnx(path), trainer convert)"
                .into(),
        );
    }
    Ok((dims, count))
}

fn data_type(tensor: &TensorProto) -> Option<DataType> {
    DataType::try_from(tensor.data_type.unwrap_or(0)).ok()
}

fn type_name(tensor: &TensorProto) -> String {
    data_type(tensor).map_or_else(
        || format!("data type {}", tensor.data_type.unwrap_or(0)),
        |t| t.as_str_name().to_lowercase(),
    )
}

/// `count` values of `size` bytes each, from `raw_data` when present, else from the typed
/// repeated field (`typed` values there): the count is checked before anything is copied.
fn check_count(
    tensor: &TensorProto,
    count: usize,
    size: usize,
    typed: usize,
) -> Result<Option<&[u8]>, String> {
    match &tensor.raw_data {
        Some(raw) => {
            // count * size cannot overflow once it is compared by division.
            if raw.len() % size != 0 || raw.len() / size != count {
                return Err(format!(
                    "claims dimensions {:?} ({count} values) but holds {} bytes of raw data \
                     ({size} bytes per value)",
                    tensor.dims,
                    raw.len()
                ));
            }
            Ok(Some(raw))
        }
        None if typed != count => Err(format!(
            "claims dimensions {:?} ({count} values) but holds {typed} values",
            tensor.dims
        )),
        None => Ok(None),
    }
}

/// The tensor as f32 values; every value must be finite.
pub fn floats(tensor: &TensorProto) -> Result<FloatTensor, String> {
    let (dims, count) = dims_and_count(tensor)?;
    let values: Vec<f32> = match data_type(tensor) {
        Some(DataType::Float) => match check_count(tensor, count, 4, tensor.float_data.len())? {
            Some(raw) => raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            None => tensor.float_data.clone(),
        },
        Some(DataType::Double) => match check_count(tensor, count, 8, tensor.double_data.len())? {
            Some(raw) => raw
                .chunks_exact(8)
                .map(|b| {
                    f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
                })
                .collect(),
            None => tensor.double_data.iter().map(|&v| v as f32).collect(),
        },
        Some(kind @ (DataType::Float16 | DataType::Bfloat16)) => {
            let convert = |bits: u16| match kind {
                DataType::Float16 => half::f16::from_bits(bits).to_f32(),
                _ => half::bf16::from_bits(bits).to_f32(),
            };
            // Without raw data, ONNX keeps 16-bit floats in int32_data, one per value.
            match check_count(tensor, count, 2, tensor.int32_data.len())? {
                Some(raw) => raw
                    .chunks_exact(2)
                    .map(|b| convert(u16::from_le_bytes([b[0], b[1]])))
                    .collect(),
                None => tensor
                    .int32_data
                    .iter()
                    .map(|&v| convert(v as u16))
                    .collect(),
            }
        }
        _ => {
            return Err(format!(
                "is {}, not a floating-point type (float32, float64, float16 or bfloat16)",
                type_name(tensor)
            ))
        }
    };
    if let Some(at) = values.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "holds a non-finite value ({}) at index {at}",
            values[at]
        ));
    }
    Ok(FloatTensor { dims, values })
}

/// The tensor as i64 values (a `Reshape` node's target shape).
pub fn int64s(tensor: &TensorProto) -> Result<Vec<i64>, String> {
    let (_, count) = dims_and_count(tensor)?;
    if data_type(tensor) != Some(DataType::Int64) {
        return Err(format!("is {}, not int64", type_name(tensor)));
    }
    Ok(
        match check_count(tensor, count, 8, tensor.int64_data.len())? {
            Some(raw) => raw
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                .collect(),
            None => tensor.int64_data.clone(),
        },
    )
}
