//! Scoring exported blobs on a dataset through the tinymlp runtime itself, the code the
//! microcontroller runs.

use rayon::prelude::*;
use serde::Serialize;
use tinymlp::{
    F32Scratch, InputKind, Int8BatchScratch, Int8Scratch, OutputDigest, ParamKind, Prediction,
};

use crate::data::{Dataset, Inputs};
use crate::error::Result;

/// Widest hidden layer a blob may have (the format's limit).
const WIDTH: usize = tinymlp::MAX_WIDTH as usize;
/// Most classes a blob may have (labels are bytes).
const CLASSES: usize = 256;

/// Inputs an int8 batch scratch sums at once (the runtime's batch API streams each
/// layer's weights once per block of this many inputs).
const BLOCK: usize = 16;

/// A loaded blob with scratch space for any model the format allows, on the heap (the int8
/// batch scratch for the widest model is about 400 KB).
pub struct Predictor<'a> {
    model: tinymlp::Model<'a>,
    scratch: Scratch,
}

enum Scratch {
    /// Pixel int8 models: the batch API.
    Int8Batch(Box<Int8BatchScratch<WIDTH, CLASSES, BLOCK>>),
    /// Feature int8 models: one sample at a time (`predict_features`).
    Int8(Box<Int8Scratch<WIDTH, CLASSES>>),
    F32(Box<F32Scratch<WIDTH, CLASSES>>),
}

impl<'a> Predictor<'a> {
    /// Loads and validates `blob`.
    pub fn new(blob: &'a [u8]) -> Result<Predictor<'a>> {
        let model = tinymlp::Model::from_bytes(blob)?;
        let scratch = match (model.kind(), model.input().kind()) {
            (ParamKind::Int8, InputKind::Pixels) => {
                Scratch::Int8Batch(Box::new(Int8BatchScratch::new()))
            }
            (ParamKind::Int8, InputKind::Features) => Scratch::Int8(Box::new(Int8Scratch::new())),
            (ParamKind::F32, _) => Scratch::F32(Box::new(F32Scratch::new())),
        };
        Ok(Predictor { model, scratch })
    }

    /// The loaded model.
    pub fn model(&self) -> &tinymlp::Model<'a> {
        &self.model
    }

    /// `Model::predict_batch` over samples stored back to back in `inputs`, handing each
    /// sample's prediction (bit for bit `Model::predict`'s) to `each` with its index.
    pub fn predict_many(
        &mut self,
        inputs: &[u8],
        mut each: impl FnMut(usize, Prediction<'_>),
    ) -> Result<()> {
        match &mut self.scratch {
            Scratch::Int8Batch(scratch) => {
                self.model
                    .predict_batch(inputs, scratch.as_mut(), &mut each)?
            }
            Scratch::Int8(scratch) => {
                self.model
                    .predict_batch(inputs, scratch.as_mut(), &mut each)?
            }
            Scratch::F32(scratch) => {
                self.model
                    .predict_batch(inputs, scratch.as_mut(), &mut each)?
            }
        }
        Ok(())
    }

    /// `Model::predict_features` on one sample's raw features, handing the prediction to
    /// `each`.
    pub fn predict_features(
        &mut self,
        features: &[f32],
        each: impl FnOnce(Prediction<'_>),
    ) -> Result<()> {
        let prediction = match &mut self.scratch {
            // Only pixel models get the batch scratch.
            Scratch::Int8Batch(_) => {
                return Err(tinymlp::Error::WrongInputKind {
                    model: InputKind::Pixels,
                }
                .into())
            }
            Scratch::Int8(scratch) => self.model.predict_features(features, scratch.as_mut())?,
            Scratch::F32(scratch) => self.model.predict_features(features, scratch.as_mut())?,
        };
        each(prediction);
        Ok(())
    }

    /// The class and probability of one sample's stored inputs.
    pub fn predict(&mut self, input: &[u8]) -> Result<(usize, f32)> {
        let mut answer = (0, 0.0);
        self.predict_many(input, |_, p| answer = (p.class, p.probability))?;
        Ok(answer)
    }

    /// The class and probability of sample `index` of `data` (its pixels, or its raw
    /// features, which the blob standardizes itself).
    pub fn predict_sample(&mut self, data: &Dataset, index: usize) -> Result<(usize, f32)> {
        match (data.image(index), data.features(index)) {
            (Some(image), _) => self.predict(image),
            (None, Some(features)) => {
                let mut answer = (0, 0.0);
                self.predict_features(features, |p| answer = (p.class, p.probability))?;
                Ok(answer)
            }
            (None, None) => Err(crate::Error::Config(format!(
                "sample {index} out of range: {} samples",
                data.len()
            ))),
        }
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

/// Runs every sample of `data` through the blob with `tinymlp::Model::predict` (pixels,
/// in batches) or `predict_features` (raw features, which the blob standardizes itself).
pub fn score_blob(blob: &[u8], data: &Dataset) -> Result<BlobScore> {
    tinymlp::Model::from_bytes(blob)?;
    // Per chunk of samples (chunks on all cores): each sample's predicted class and raw
    // output bytes.
    type Chunk = Result<Vec<(u8, Vec<u8>)>>;
    const SAMPLES: usize = 1024;
    let width = data.width().max(1);
    let chunks: Vec<Chunk> = match &data.inputs {
        Inputs::Pixels { images, .. } => images
            .par_chunks(SAMPLES * width)
            .map(|inputs| {
                let mut predictor = Predictor::new(blob)?;
                let mut out = Vec::with_capacity(inputs.len() / width);
                predictor.predict_many(inputs, |_, p| out.push((p.class as u8, raw_bytes(&p))))?;
                Ok(out)
            })
            .collect(),
        Inputs::Features { values, .. } => values
            .par_chunks(SAMPLES * width)
            .map(|inputs| {
                let mut predictor = Predictor::new(blob)?;
                let mut out = Vec::with_capacity(inputs.len() / width);
                for features in inputs.chunks_exact(width) {
                    predictor
                        .predict_features(features, |p| out.push((p.class as u8, raw_bytes(&p))))?;
                }
                Ok(out)
            })
            .collect(),
    };
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
    let samples = count.min(data.len());
    match &data.inputs {
        Inputs::Pixels { images, .. } => {
            predictor.predict_many(&images[..samples * data.width()], |_, p| digest.add(&p))?
        }
        Inputs::Features { values, .. } => {
            for features in values[..samples * data.width()].chunks_exact(data.width().max(1)) {
                predictor.predict_features(features, |p| digest.add(&p))?;
            }
        }
    }
    Ok(digest.finish())
}
