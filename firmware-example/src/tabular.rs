//! The `tabular` build: classifies test inputs of raw `f32` features (sensor values as they
//! come; the model standardizes them) with an int8 and an f32 feature model, and logs for
//! each model what the digits build logs (misses, every prediction, the accuracy, the digest
//! of all raw outputs, stack and cost), with the class names when the model has them.
//! `tests/tests/firmware_qemu.rs` compares it with the host bit for bit.
//!
//! The models (`../models/wine-int8.tmlp`, `../models/wine-f32.tmlp` unless
//! `TINYMLP_TABULAR_INT8` / `TINYMLP_TABULAR_F32` name others) must take the same features
//! as the inputs (`../models/wine-test-features.bin`, or `TINYMLP_TABULAR_INPUTS`): records
//! of `[label u8][f32 LE x features]`.

use tinymlp::{F32Scratch, Int8Scratch, Model, Prediction, Scratch};

use crate::tally::Tally;
use crate::{board, stack, tinymlp_load_model};

static INT8_BLOB: [u8; include_bytes!(concat!(env!("OUT_DIR"), "/tabular-int8.tmlp")).len()] =
    *include_bytes!(concat!(env!("OUT_DIR"), "/tabular-int8.tmlp"));
static F32_BLOB: [u8; include_bytes!(concat!(env!("OUT_DIR"), "/tabular-f32.tmlp")).len()] =
    *include_bytes!(concat!(env!("OUT_DIR"), "/tabular-f32.tmlp"));
/// Records of `[label u8][f32 LE x features]`.
static INPUT_RECORDS: [u8; include_bytes!(concat!(env!("OUT_DIR"), "/tabular-inputs.bin")).len()] =
    *include_bytes!(concat!(env!("OUT_DIR"), "/tabular-inputs.bin"));

/// Up to 256 features and hidden units, and 16 classes (`check_scratch` rejects a bigger
/// model): room for the example datasets' models (at most 64 features, 64 hidden units and
/// 10 classes) and then some, in 1,664 bytes (int8) or 2,176 bytes (f32) of stack, plus
/// 1 KB for the features.
const WIDTH: usize = 256;
const CLASSES: usize = 16;

/// Classifies the inputs with the int8 model, then the f32 one; false after logging the
/// first error.
pub fn run() -> bool {
    classify_with("int8", &INT8_BLOB, Int8::new, tinymlp_predict_features_int8)
        && classify_with("f32", &F32_BLOB, F32::new, tinymlp_predict_features_f32)
}

type Int8 = Int8Scratch<WIDTH, CLASSES>;
type F32 = F32Scratch<WIDTH, CLASSES>;
/// One inference of a model with scratch buffer `S`.
type Predict<S> = for<'s> fn(&Model<'_>, &[f32], &'s mut S) -> tinymlp::Result<Prediction<'s>>;

/// Loads `blob` (the `kind` model) and classifies every input with it; `new_scratch` makes
/// the scratch buffer once loading is done.
fn classify_with<S: Scratch>(
    kind: &str,
    blob: &'static [u8],
    new_scratch: fn() -> S,
    predict: Predict<S>,
) -> bool {
    stack::paint();
    let model = match tinymlp_load_model(blob) {
        Ok(model) => model,
        Err(error) => {
            defmt::error!("model {=str}: {}", kind, error);
            return false;
        }
    };
    if let Err(error) = model.check_scratch::<S>() {
        defmt::error!("model {=str}: scratch: {}", kind, error);
        return false;
    }
    let load_stack = stack::peak();
    stack::paint();
    classify_all(kind, blob, &model, new_scratch, predict, load_stack)
}

/// Out of line, as the digits build's: its frame holds the scratch buffer and the features.
#[inline(never)]
fn classify_all<S: Scratch>(
    kind: &str,
    blob: &[u8],
    model: &Model<'_>,
    new_scratch: fn() -> S,
    predict: Predict<S>,
    load_stack: usize,
) -> bool {
    let features = model.input_len();
    let record_len = 1 + 4 * features;
    let count = INPUT_RECORDS.len() / record_len;
    defmt::println!(
        "model {=str}: {=str}, {=usize} bytes at {=usize:#x}, {=u64} MACs, {=usize} features, {=usize} classes; inputs: {=usize}",
        kind,
        model.name().unwrap_or("(no name)"),
        blob.len(),
        blob.as_ptr() as usize,
        model.macs(),
        features,
        model.classes(),
        count
    );
    if !INPUT_RECORDS.len().is_multiple_of(record_len) || count == 0 {
        defmt::error!(
            "inputs: {=usize} bytes are not whole records of 1 + 4 x {=usize} bytes",
            INPUT_RECORDS.len(),
            features
        );
        return false;
    }
    for class in 0..model.classes() {
        if let Some(name) = model.class_name(class) {
            defmt::println!("class {=usize}: {=str}", class, name);
        }
    }

    let mut scratch = new_scratch();
    let mut values = [0f32; WIDTH];
    let Some(values) = values.get_mut(..features) else {
        defmt::error!("{=usize} features: at most {=usize}", features, WIDTH);
        return false;
    };
    let mut tally = Tally::new(model, count);
    let mut counter = board::CostCounter::start();
    for (index, record) in INPUT_RECORDS.chunks_exact(record_len).enumerate() {
        let Some((&label, bytes)) = record.split_first() else {
            return false;
        };
        for (value, bytes) in values.iter_mut().zip(bytes.chunks_exact(4)) {
            // Always 4 bytes; NaN (refused by the model, naming the input) cannot happen.
            *value = bytes.try_into().map_or(f32::NAN, f32::from_le_bytes);
        }
        let before = counter.now();
        let prediction = predict(model, values, &mut scratch);
        let cost = counter.since(before);
        match prediction {
            Ok(prediction) => tally.record(index, label, &prediction, cost),
            Err(error) => {
                defmt::error!("input {=usize}: {}", index, error);
                return false;
            }
        }
    }
    tally.finish(load_stack);
    true
}

/// One whole inference of the int8 model, out of line and unmangled as the digits build's
/// `tinymlp_predict_digit`, so the call-graph check and the instruction counter can find it.
#[inline(never)]
#[no_mangle]
pub fn tinymlp_predict_features_int8<'s>(
    model: &Model<'_>,
    features: &[f32],
    scratch: &'s mut Int8,
) -> tinymlp::Result<Prediction<'s>> {
    model.predict_features(features, scratch)
}

/// The same for the f32 model.
#[inline(never)]
#[no_mangle]
pub fn tinymlp_predict_features_f32<'s>(
    model: &Model<'_>,
    features: &[f32],
    scratch: &'s mut F32,
) -> tinymlp::Result<Prediction<'s>> {
    model.predict_features(features, scratch)
}
