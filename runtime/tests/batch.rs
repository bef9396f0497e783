//! `Model::predict_batch` against `Model::predict`, bit for bit (class, raw outputs,
//! probabilities): the trained MNIST model over the whole test set, and random quantized
//! models of random shapes over random pixels and batch lengths.

mod common;

use std::path::{Path, PathBuf};

use common::{random_float_model, row_input, Random};
use proptest::prelude::*;
use tinymlp::{
    BatchScratch, Error, F32Scratch, Int8BatchScratch, Int8Scratch, Model, Prediction, RawOutputs,
    Scratch,
};

/// A prediction copied out of its scratch buffer: class, raw outputs and probabilities as
/// bits.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    class: usize,
    raw: Vec<u32>,
    probabilities: Vec<u32>,
}

impl From<Prediction<'_>> for Answer {
    fn from(prediction: Prediction<'_>) -> Answer {
        let raw = match prediction.raw {
            RawOutputs::Int32(raw) => raw.iter().map(|&v| v as u32).collect(),
            RawOutputs::F32(raw) => raw.iter().map(|v| v.to_bits()).collect(),
        };
        Answer {
            class: prediction.class,
            raw,
            probabilities: prediction
                .probabilities
                .iter()
                .map(|p| p.to_bits())
                .collect(),
        }
    }
}

fn one_at_a_time<S: Scratch>(model: &Model<'_>, pixels: &[u8], scratch: &mut S) -> Vec<Answer> {
    pixels
        .chunks_exact(model.input_len())
        .map(|input| model.predict(input, scratch).expect("predicts").into())
        .collect()
}

fn batched<S: BatchScratch>(model: &Model<'_>, pixels: &[u8], scratch: &mut S) -> Vec<Answer> {
    let mut answers = Vec::new();
    model
        .predict_batch(pixels, scratch, |index, prediction| {
            assert_eq!(index, answers.len(), "inputs in order");
            answers.push(prediction.into());
        })
        .expect("predicts");
    answers
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The MNIST test images (`data/mnist`, after `trainer fetch`), else the 1,000 committed
/// test digits (`models/mnist-test-digits.bin`: a label byte, then 784 pixels, each).
fn mnist_test_pixels() -> (Vec<u8>, &'static str) {
    let idx = workspace().join("data/mnist/t10k-images-idx3-ubyte");
    if let Ok(bytes) = std::fs::read(&idx) {
        assert_eq!(&bytes[..4], &[0, 0, 8, 3], "{}: not IDX3 u8", idx.display());
        return (bytes[16..].to_vec(), "the 10,000 MNIST test digits");
    }
    let digits = std::fs::read(workspace().join("models/mnist-test-digits.bin")).expect("digits");
    let pixels = digits
        .chunks_exact(785)
        .flat_map(|d| d[1..].to_vec())
        .collect();
    (pixels, "the 1,000 committed test digits (no data/mnist)")
}

#[test]
fn mnist_int8_batch_is_predict_bit_for_bit() {
    let blob = std::fs::read(workspace().join("models/mnist-int8.tmlp")).expect("model");
    let model = Model::from_bytes(&blob).expect("loads");
    let (pixels, source) = mnist_test_pixels();
    eprintln!("batch against predict over {source}");
    let expected = one_at_a_time(&model, &pixels, &mut Int8Scratch::<512, 10>::new());
    assert!(expected.len() >= 1_000);
    let mut block = Box::new(Int8BatchScratch::<512, 10>::new());
    assert_eq!(batched(&model, &pixels, &mut *block), expected);
    // Other block lengths (one; a partial group of four, not dividing the count), and any
    // scratch, which runs a batch one input at a time: over the first 999 inputs.
    let (pixels, expected) = (&pixels[..999 * 784], &expected[..999]);
    let mut one = Box::new(Int8BatchScratch::<512, 10, 1>::new());
    assert_eq!(batched(&model, pixels, &mut *one), expected);
    let mut seven = Box::new(Int8BatchScratch::<512, 10, 7>::new());
    assert_eq!(batched(&model, pixels, &mut *seven), expected);
    let mut single = Int8Scratch::<512, 10>::new();
    assert_eq!(batched(&model, pixels, &mut single), expected);
}

#[test]
fn mnist_f32_batch_is_predict_bit_for_bit() {
    let blob = std::fs::read(workspace().join("models/mnist-f32.tmlp")).expect("model");
    let model = Model::from_bytes(&blob).expect("loads");
    let (pixels, _) = mnist_test_pixels();
    let pixels = &pixels[..model.input_len() * 500];
    let mut scratch = Box::new(F32Scratch::<512, 10>::new());
    let expected = one_at_a_time(&model, pixels, &mut *scratch);
    assert_eq!(batched(&model, pixels, &mut *scratch), expected);
}

#[test]
fn a_batch_that_is_not_whole_inputs_is_refused() {
    let blob = std::fs::read(workspace().join("models/mnist-int8.tmlp")).expect("model");
    let model = Model::from_bytes(&blob).expect("loads");
    let mut scratch = Box::new(Int8BatchScratch::<512, 10>::new());
    let error = model
        .predict_batch(&[0; 785], &mut *scratch, |_, _| panic!("no input runs"))
        .unwrap_err();
    assert_eq!(
        error,
        Error::BatchLength {
            input: 784,
            found: 785
        }
    );
    assert_eq!(
        error.to_string(),
        "batch has 785 pixels, not a whole number of 784-pixel inputs"
    );
    // The wrong kind, and too small a buffer, as `predict` refuses them.
    let mut f32 = F32Scratch::<512, 10>::new();
    assert!(matches!(
        model.predict_batch(&[], &mut f32, |_, _| {}),
        Err(Error::ScratchKind { .. })
    ));
    let mut small = Box::new(Int8BatchScratch::<256, 10>::new());
    assert!(matches!(
        model.predict_batch(&[], &mut *small, |_, _| {}),
        Err(Error::ScratchTooSmall { .. })
    ));
    // No inputs: nothing runs.
    model
        .predict_batch(&[], &mut *scratch, |_, _| panic!("no input"))
        .expect("an empty batch");
}

/// Random quantized models (one to three layers, hidden layers up to 200 wide: blocks of 64
/// and tails) with `count` random pixel inputs (many zeros, as in images).
fn model_and_inputs() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    (
        1u16..=90,
        proptest::collection::vec(1usize..=200, 0..=2),
        1usize..=12,
        0usize..=21,
        any::<u64>(),
    )
        .prop_map(|(input_len, hidden, classes, count, seed)| {
            let mut widths = hidden;
            widths.push(classes);
            let float = random_float_model(row_input(input_len), &widths, seed);
            let mut rng = Random::new(seed ^ 0x5eed);
            let mut pixel = || match rng.next_u64() % 3 {
                0 => 0,
                _ => rng.next_u64() as u8,
            };
            let inputs: Vec<Vec<u8>> = (0..count.max(4))
                .map(|_| (0..input_len).map(|_| pixel()).collect())
                .collect();
            let blob = float.quantize(&inputs).model.encode();
            let pixels = inputs.into_iter().take(count).flatten().collect();
            (blob, pixels)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_int8_batch_is_predict_bit_for_bit((blob, pixels) in model_and_inputs()) {
        let model = Model::from_bytes(&blob).expect("loads");
        let expected = one_at_a_time(&model, &pixels, &mut Int8Scratch::<200, 12>::new());
        let mut five = Box::new(Int8BatchScratch::<200, 12, 5>::new());
        prop_assert_eq!(batched(&model, &pixels, &mut *five), expected);
    }
}
