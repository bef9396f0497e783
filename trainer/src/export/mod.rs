//! The export stage: a trained model quantized to int8 and written as tinymlp blobs (int8
//! and f32), and blobs scored through the runtime itself. One path for the library and
//! the command line: [`Model::export`] with [`ExportOptions`].

use crate::data::Dataset;
use crate::error::Result;
use crate::training::Model;

mod encode;
pub mod quantize;
mod score;

pub use encode::{encode_f32, encode_int8, BlobHead};
pub use quantize::{
    calibrate, input_quantization, quantize, Calibration, HiddenOutput, QuantizedLayer,
};
pub use score::{digest_of, score_blob, BlobScore, Predictor};

/// How a model is exported: the calibration of its int8 activations (the only choice the
/// int8 blob depends on besides the weights), and the model's name in the blobs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExportOptions {
    /// Which samples and percentile set each hidden layer's activation range (and a
    /// feature model's int8 input range).
    pub calibration: Calibration,
    /// The model's name in the blobs (at most 255 bytes; for example the training file's
    /// stem); `None`: unnamed, as MNIST's blobs are.
    pub name: Option<String>,
}

/// A model's blobs, in memory: write them where they belong with
/// [`write_atomic`](crate::files::write_atomic) (or as one set, as the command line does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blobs {
    /// The int8 blob (weights per-channel int8, activations int8).
    pub int8: Vec<u8>,
    /// The f32 blob (the trained weights as they are).
    pub f32: Vec<u8>,
}

impl Model {
    /// Quantizes the trained model to int8, with activation ranges calibrated on the first
    /// samples of `calibration_data` (the training set), and encodes both blobs; each one
    /// has been loaded back and validated by the runtime. The blobs' input is the model's
    /// [`InputTransform`](crate::data::InputTransform).
    pub fn export(&mut self, calibration_data: &Dataset, options: &ExportOptions) -> Result<Blobs> {
        let input = self.fitted_input(calibration_data)?;
        input.check_data(calibration_data)?;
        let parameters = self.parameters()?;
        let first = input_quantization(&input, calibration_data, options.calibration);
        let ranges = calibrate(&parameters, &input, calibration_data, options.calibration);
        let layers = quantize(&parameters, first, &ranges)?;
        let standardization = input.feature_bytes();
        let head = BlobHead {
            input: input.blob_input(&standardization),
            name: options.name.as_deref(),
            class_names: &calibration_data.class_names,
        };
        Ok(Blobs {
            int8: encode_int8(&head, &layers)?,
            f32: encode_f32(&head, &parameters)?,
        })
    }
}
