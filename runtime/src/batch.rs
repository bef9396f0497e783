//! Many inputs through one model in one call: the working memory for it, and the pass that
//! sums the first layer of a block of inputs at once.

use crate::error::Result;
use crate::format::{DenseLayer, InputSpec, ParamKind, Params};
use crate::kernels;
use crate::prediction::Prediction;
use crate::scratch::{Int8Scratch, Scratch};
use crate::{forward, Error};

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
            each(index, forward::run(layers, input, pixels, self.buffers())?);
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
/// bytes: 50 KB for the MNIST 784-512-10 model at the default 16).
///
/// The first layer (pixels in, by far the largest for image models) is summed for the whole
/// block at once: with AVX-512 VNNI, four inputs share each pass over its weights, so they
/// are read from memory once per four inputs instead of once per input. The other layers run
/// input by input, as [`Model::predict`](crate::Model::predict) runs them. Every result is
/// bit for bit `predict`'s.
///
/// Large: on a host, put it in a `Box` or a `static`, not on a thread's stack.
#[derive(Debug, Clone)]
pub struct Int8BatchScratch<const WIDTH: usize, const CLASSES: usize, const INPUTS: usize = 16> {
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
        input: &InputSpec,
        pixels: &[u8],
        input_len: usize,
        each: &mut F,
    ) -> Result<()> {
        let (first, rest) = layers.split_first().ok_or(Error::NoLayers)?;
        let Params::Int8(params) = &first.params else {
            return Err(Error::ScratchKind {
                model: ParamKind::F32,
                scratch: ParamKind::Int8,
            });
        };
        let outputs = first.outputs as usize;
        if rest.is_empty() || outputs > WIDTH || INPUTS == 0 {
            // A single layer writes the classes, not a hidden layer: nothing to share.
            let scratch = self.inputs.first_mut().ok_or(Error::NoLayers)?;
            return scratch.run_batch(layers, input, pixels, input_len, each);
        }
        for (block_index, block) in pixels.chunks(input_len * INPUTS).enumerate() {
            let images: [&[u8]; INPUTS] = core::array::from_fn(|i| {
                block
                    .get(i * input_len..(i + 1) * input_len)
                    .unwrap_or_default()
            });
            let count = block.len() / input_len;
            {
                let mut sums = self
                    .inputs
                    .each_mut()
                    .map(|scratch| scratch.first_layer_sums(outputs));
                kernels::dense_u8_inputs(
                    images.get(..count).unwrap_or_default(),
                    params.weights,
                    params.bias,
                    sums.get_mut(..count).unwrap_or_default(),
                );
            }
            for (i, (scratch, pixels)) in self.inputs.iter_mut().zip(images).take(count).enumerate()
            {
                let prediction = forward::int8(layers, pixels, scratch.int8_buffers(), true)?;
                each(block_index * INPUTS + i, prediction);
            }
        }
        Ok(())
    }
}
