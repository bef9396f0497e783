//! What a forward pass hands back: the prediction, and a digest to compare many of them.

/// The outcome of one forward pass, borrowing from the scratch buffer it ran in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction<'s> {
    /// Index of the most probable class (the first, on a tie).
    pub class: usize,
    /// Probability of that class.
    pub probability: f32,
    /// Softmax probability of every class.
    pub probabilities: &'s [f32],
    /// The last layer's output before the softmax, for bit-exact comparisons across targets.
    pub raw: RawOutputs<'s>,
}

/// The last layer's output before the softmax.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RawOutputs<'s> {
    /// int8 models: the int32 accumulators (bias included) of the last layer.
    Int32(&'s [i32]),
    /// f32 models: the logits.
    F32(&'s [f32]),
}

impl RawOutputs<'_> {
    /// Feeds the outputs, as little-endian bytes, into `digest`.
    pub fn update(&self, digest: &mut OutputDigest) {
        match self {
            RawOutputs::Int32(values) => values
                .iter()
                .for_each(|v| digest.0.update(&v.to_le_bytes())),
            RawOutputs::F32(values) => values
                .iter()
                .for_each(|v| digest.0.update(&v.to_bits().to_le_bytes())),
        }
    }
}

static OUTPUT_CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// A CRC-32 over the raw outputs of many predictions: two runtimes (host, firmware, wasm)
/// that produce the same digest over the same inputs computed the same bits.
pub struct OutputDigest(crc::Digest<'static, u32>);

impl OutputDigest {
    /// An empty digest.
    pub fn new() -> Self {
        OutputDigest(OUTPUT_CRC.digest())
    }

    /// Adds one prediction's raw outputs.
    pub fn add(&mut self, prediction: &Prediction<'_>) {
        prediction.raw.update(self);
    }

    /// The digest of everything added so far.
    pub fn finish(self) -> u32 {
        self.0.finalize()
    }
}

impl Default for OutputDigest {
    fn default() -> Self {
        Self::new()
    }
}
