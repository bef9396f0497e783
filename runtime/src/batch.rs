//! Many inputs through one model in one call: the working memory for it, and the forward
//! pass that sums each layer for a block of inputs at once.

use crate::error::Result;
use crate::format::{DenseLayer, InputSpec, ParamKind};
use crate::forward::{self, too_small, UNREACHABLE};
use crate::kernels;
use crate::prediction::Prediction;
use crate::scratch::private::Int8Buffers;
use crate::scratch::{Int8Scratch, Scratch};

pub(crate) mod private {
    use crate::format::{DenseLayer, InputSpec};
    use crate::prediction::Prediction;

    pub trait SealedBatch {
        /// Runs every `input_len`-pixel input of `pixels` (a whole number of them, checked by
        /// the caller), handing each prediction to `each` with its index.
        fn run_batch<F: FnMut(usize, Prediction<'_>)>(
            &mut self,
            layers: &[DenseLayer<'_>],
            input: &InputSpec,
            pixels: &[u8],
            input_len: usize,
            each: &mut F,
        ) -> crate::Result<()>;
    }
}

/// Working memory for [`Model::predict_batch`](crate::Model::predict_batch):
/// [`Int8BatchScratch`] (a block of inputs at a time), or any [`Scratch`] (one input at a
/// time, the same results).
pub trait BatchScratch: private::SealedBatch {
    /// The kind of model this buffer runs.
    const KIND: ParamKind;
    /// Widest hidden layer it holds.
    const WIDTH: usize;
    /// Most classes it holds.
    const CLASSES: usize;
}

impl<S: Scratch> private::SealedBatch for S {
    fn run_batch<F: FnMut(usize, Prediction<'_>)>(
        &mut self,
        layers: &[DenseLayer<'_>],
        input: &InputSpec,
        pixels: &[u8],
        input_len: usize,
        each: &mut F,
    ) -> Result<()> {
        for (index, pixels) in pixels.chunks_exact(input_len).enumerate() {
            let source = forward::Source::Pixels {
                spec: input,
                pixels,
            };
            each(index, forward::run(layers, source, self)?);
        }
        Ok(())
    }
}

impl<S: Scratch> BatchScratch for S {
    const KIND: ParamKind = S::KIND;
    const WIDTH: usize = S::WIDTH;
    const CLASSES: usize = S::CLASSES;
}

/// Working memory for int8 models (hidden layers up to `WIDTH` wide, up to `CLASSES`
/// classes) that runs `INPUTS` inputs at a time: `INPUTS` times an
/// [`Int8Scratch<WIDTH, CLASSES>`](Int8Scratch) (`INPUTS * (6 * WIDTH + 8 * CLASSES)`
/// bytes: 100 KB for the MNIST 784-512-10 model at the default 32).
///
/// Each layer is summed for the whole block at once: with AVX-512 VNNI, its weights are read
/// and interleaved for `vpdpbusd` once per block instead of once per input (see
/// `kernels::x86`); elsewhere input by input with the kernels `predict` uses. Every result
/// is bit for bit [`Model::predict`](crate::Model::predict)'s.
///
/// Large: on a host, put it in a `Box` or a `static`, not on a thread's stack.
#[derive(Debug, Clone)]
pub struct Int8BatchScratch<const WIDTH: usize, const CLASSES: usize, const INPUTS: usize = 32> {
    inputs: [Int8Scratch<WIDTH, CLASSES>; INPUTS],
}

impl<const WIDTH: usize, const CLASSES: usize, const INPUTS: usize>
    Int8BatchScratch<WIDTH, CLASSES, INPUTS>
{
    /// A zeroed buffer; `const`, so it can live in a `static`.
    pub const fn new() -> Self {
        Int8BatchScratch {
            inputs: [const { Int8Scratch::new() }; INPUTS],
        }
    }
}

impl<const WIDTH: usize, const CLASSES: usize, const INPUTS: usize> Default
    for Int8BatchScratch<WIDTH, CLASSES, INPUTS>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const WIDTH: usize, const CLASSES: usize, const INPUTS: usize> BatchScratch
    for Int8BatchScratch<WIDTH, CLASSES, INPUTS>
{
    const KIND: ParamKind = ParamKind::Int8;
    // A block of no inputs runs nothing: then no model fits.
    const WIDTH: usize = if INPUTS == 0 { 0 } else { WIDTH };
    const CLASSES: usize = if INPUTS == 0 { 0 } else { CLASSES };
}

impl<const WIDTH: usize, const CLASSES: usize, const INPUTS: usize> private::SealedBatch
    for Int8BatchScratch<WIDTH, CLASSES, INPUTS>
{
    fn run_batch<F: FnMut(usize, Prediction<'_>)>(
        &mut self,
        layers: &[DenseLayer<'_>],
        _input: &InputSpec,
        pixels: &[u8],
        input_len: usize,
        each: &mut F,
    ) -> Result<()> {
        let (last, hidden) = layers.split_last().ok_or(UNREACHABLE)?;
        for (block_index, block) in pixels.chunks(input_len * INPUTS).enumerate() {
            let count = block.len() / input_len;
            let mut buffers = self.inputs.each_mut().map(Int8Scratch::int8_buffers);
            let buffers = buffers.get_mut(..count).unwrap_or_default();
            // Layer by layer, every input of the block at once; hidden layers' activations
            // in `ping` (even layers) or `pong` (odd layers), the last layer's sums in `raw`.
            for (index, layer) in layers.iter().enumerate() {
                let params = forward::int8_params(layer)?;
                let outputs = layer.outputs as usize;
                let is_last = index == hidden.len();
                let mut sums: [&mut [i32]; INPUTS] = core::array::from_fn(|_| &mut [][..]);
                let mut activations: [&[i8]; INPUTS] = [&[]; INPUTS];
                for ((buffers, sums), activations) in
                    buffers.iter_mut().zip(&mut sums).zip(&mut activations)
                {
                    let Int8Buffers {
                        ping,
                        pong,
                        accumulators,
                        raw,
                        ..
                    } = buffers;
                    let out = if is_last {
                        &mut **raw
                    } else {
                        &mut **accumulators
                    };
                    let capacity = out.len();
                    *sums = out
                        .get_mut(..outputs)
                        .ok_or_else(|| too_small(outputs, capacity))?;
                    let current = if index % 2 == 1 { &**ping } else { &**pong };
                    *activations = current.get(..layer.inputs as usize).unwrap_or_default();
                }
                let sums = sums.get_mut(..count).unwrap_or_default();
                if index == 0 {
                    let images: [&[u8]; INPUTS] = core::array::from_fn(|i| {
                        block
                            .get(i * input_len..(i + 1) * input_len)
                            .unwrap_or_default()
                    });
                    let images = images.get(..count).unwrap_or_default();
                    kernels::dense_u8_inputs(images, params.weights, params.bias, sums);
                } else {
                    let activations = activations.get(..count).unwrap_or_default();
                    kernels::dense_i8_inputs(activations, params.weights, params.bias, sums);
                }
                if is_last {
                    break;
                }
                let requantization = params.requantization.as_ref().ok_or(UNREACHABLE)?;
                for buffers in buffers.iter_mut() {
                    let next = if index % 2 == 0 {
                        &mut *buffers.ping
                    } else {
                        &mut *buffers.pong
                    };
                    let sums = buffers.accumulators.get(..outputs).unwrap_or_default();
                    let next = next
                        .get_mut(..outputs)
                        .ok_or_else(|| too_small(outputs, WIDTH))?;
                    forward::requantize(sums, requantization, 0..outputs, layer.activation, next);
                }
            }
            let params = forward::int8_params(last)?;
            let outputs = last.outputs as usize;
            for (i, buffers) in buffers.iter_mut().enumerate() {
                let sums = buffers.raw.get(..outputs).unwrap_or_default();
                let prediction = forward::int8_prediction(params, sums, buffers.probabilities)?;
                each(block_index * INPUTS + i, prediction);
            }
        }
        Ok(())
    }
}
