//! Scoring exported blobs on a dataset through the tinymlp runtime itself, the code the
//! microcontroller runs.

use rayon::prelude::*;
use serde::Serialize;
use tinymlp::{F32Scratch, Int8Scratch, OutputDigest, ParamKind, Prediction};

use crate::data::Dataset;
use crate::error::Result;

/// Widest hidden layer a blob may have (the format's limit).
const WIDTH: usize = tinymlp::MAX_WIDTH as usize;
/// Most classes a blob may have (labels are bytes).
const CLASSES: usize = 256;

/// A loaded blob with scratch space for any model the format allows, on the heap (the
/// largest int8 scratch is tens of kilobytes: too much for a thread's stack).
pub struct Predictor<'a> {
    model: tinymlp::Model<'a>,
    scratch: Scratch,
}

enum Scratch {
    Int8(Box<Int8Scratch<WIDTH, CLASSES>>),
    F32(Box<F32Scratch<WIDTH, CLASSES>>),
}

impl<'a> Predictor<'a> {
    /// Loads and validates `blob`.
    pub fn new(blob: &'a [u8]) -> Result<Predictor<'a>> {
        let model = tinymlp::Model::from_bytes(blob)?;
        let scratch = match model.kind() {
            ParamKind::Int8 => Scratch::Int8(Box::new(Int8Scratch::new())),
            ParamKind::F32 => Scratch::F32(Box::new(F32Scratch::new())),
        };
        Ok(Predictor { model, scratch })
    }

    /// The loaded model.
    pub fn model(&self) -> &tinymlp::Model<'a> {
        &self.model
    }

    /// `Model::predict` on one sample's stored inputs.
    pub fn predict(&mut self, input: &[u8]) -> Result<Prediction<'_>> {
        Ok(match &mut self.scratch {
            Scratch::Int8(scratch) => self.model.predict(input, scratch.as_mut())?,
            Scratch::F32(scratch) => self.model.predict(input, scratch.as_mut())?,
        })
    }
}

/// A blob's results on a dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlobScore {
    /// Fraction of correct predictions.
    pub accuracy: f64,
    /// Correct predictions.
    pub correct: usize,
    /// Samples scored.
    pub samples: usize,
    /// The predicted class of every sample.
    #[serde(skip)]
    pub predictions: Vec<u8>,
    /// CRC-32 of the raw outputs of all samples in order ([`OutputDigest`]), the figure that
    /// firmware and wasm must reproduce.
    pub digest: u32,
}

/// Runs every sample of `data` through the blob with `tinymlp::Model::predict`.
pub fn score_blob(blob: &[u8], data: &Dataset) -> Result<BlobScore> {
    tinymlp::Model::from_bytes(blob)?;
    let indices: Vec<usize> = (0..data.len()).collect();
    // Per chunk: each sample's predicted class and raw output bytes.
    type Chunk = Result<Vec<(u8, Vec<u8>)>>;
    let chunks: Vec<Chunk> = indices
        .par_chunks(256)
        .map(|chunk| {
            let mut predictor = Predictor::new(blob)?;
            chunk
                .iter()
                .map(|&i| {
                    let p = predictor.predict(data.image(i))?;
                    Ok((p.class as u8, raw_bytes(&p)))
                })
                .collect()
        })
        .collect();
    let mut predictions = Vec::with_capacity(data.len());
    let mut digest = tinymlp::CRC.digest();
    for chunk in chunks {
        for (class, raw) in chunk? {
            predictions.push(class);
            digest.update(&raw);
        }
    }
    let correct = predictions
        .iter()
        .zip(&data.labels)
        .filter(|(p, l)| p == l)
        .count();
    Ok(BlobScore {
        accuracy: correct as f64 / data.len().max(1) as f64,
        correct,
        samples: data.len(),
        predictions,
        digest: digest.finalize(),
    })
}

/// The bytes [`OutputDigest`] hashes for one prediction.
fn raw_bytes(p: &Prediction<'_>) -> Vec<u8> {
    match p.raw {
        tinymlp::RawOutputs::Int32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        tinymlp::RawOutputs::F32(v) => v.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect(),
    }
}

/// The digest of the first `count` samples computed with [`OutputDigest`] directly (what
/// the firmware and wasm examples compute over `mnist-test-digits.bin`).
pub fn digest_of(blob: &[u8], data: &Dataset, count: usize) -> Result<u32> {
    let mut predictor = Predictor::new(blob)?;
    let mut digest = OutputDigest::new();
    for i in 0..count.min(data.len()) {
        digest.add(&predictor.predict(data.image(i))?);
    }
    Ok(digest.finish())
}
