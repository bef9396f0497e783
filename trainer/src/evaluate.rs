//! Scoring exported blobs on a dataset through the tinymlp runtime itself, the code the
//! microcontroller runs.

use rayon::prelude::*;
use serde::Serialize;
use tinymlp::{F32Scratch, Int8Scratch, OutputDigest, ParamKind};

use crate::data::Dataset;
use crate::error::{Error, Result};

/// Widest hidden layer a blob may have to be scored here.
const WIDTH: usize = tinymlp::MAX_WIDTH as usize;
/// Most classes a blob may have to be scored here.
const CLASSES: usize = 256;

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

/// Runs every image of `data` through the blob with `tinymlp::Model::predict`.
pub fn score_blob(blob: &[u8], data: &Dataset) -> Result<BlobScore> {
    let model = tinymlp::Model::from_bytes(blob)?;
    if model.widest_hidden() > WIDTH || model.classes() > CLASSES {
        return Err(Error::Config("blob too wide to score".into()));
    }
    let indices: Vec<usize> = (0..data.len()).collect();
    // Per chunk: each sample's predicted class and raw output bytes.
    type Chunk = Result<Vec<(u8, Vec<u8>)>>;
    let chunks: Vec<Chunk> = indices
        .par_chunks(256)
        .map(|chunk| {
            let mut out = Vec::with_capacity(chunk.len());
            match model.kind() {
                ParamKind::Int8 => {
                    let mut scratch = Box::new(Int8Scratch::<WIDTH, CLASSES>::new());
                    for &i in chunk {
                        let p = model.predict(data.image(i), scratch.as_mut())?;
                        out.push((p.class as u8, raw_bytes(&p)));
                    }
                }
                _ => {
                    let mut scratch = Box::new(F32Scratch::<WIDTH, CLASSES>::new());
                    for &i in chunk {
                        let p = model.predict(data.image(i), scratch.as_mut())?;
                        out.push((p.class as u8, raw_bytes(&p)));
                    }
                }
            }
            Ok(out)
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
fn raw_bytes(p: &tinymlp::Prediction<'_>) -> Vec<u8> {
    match p.raw {
        tinymlp::RawOutputs::Int32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        tinymlp::RawOutputs::F32(v) => v.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect(),
    }
}

/// The digest of the first `count` samples computed with [`OutputDigest`] directly (what
/// the firmware and wasm examples compute over `mnist-test-digits.bin`).
pub fn digest_of(blob: &[u8], data: &Dataset, count: usize) -> Result<u32> {
    let model = tinymlp::Model::from_bytes(blob)?;
    let mut digest = OutputDigest::new();
    for i in 0..count.min(data.len()) {
        match model.kind() {
            ParamKind::Int8 => {
                let mut scratch = Box::new(Int8Scratch::<WIDTH, CLASSES>::new());
                digest.add(&model.predict(data.image(i), scratch.as_mut())?);
            }
            _ => {
                let mut scratch = Box::new(F32Scratch::<WIDTH, CLASSES>::new());
                digest.add(&model.predict(data.image(i), scratch.as_mut())?);
            }
        }
    }
    Ok(digest.finish())
}
