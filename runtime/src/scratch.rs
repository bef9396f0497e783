//! Caller-owned working memory: one buffer type per kind of model, sized at compile time.
//! The forward pass that runs in them is `forward.rs`.

use crate::format::ParamKind;
use private::{Buffers, F32Buffers, Int8Buffers};

/// Sealed: the buffers' slices, lent to the forward pass; public in name only (nothing
/// outside the crate can reach this module).
pub(crate) mod private {
    /// The slices of an int8 scratch buffer, as the forward pass uses them.
    pub struct Int8Buffers<'s> {
        pub ping: &'s mut [i8],
        pub pong: &'s mut [i8],
        pub accumulators: &'s mut [i32],
        pub raw: &'s mut [i32],
        pub probabilities: &'s mut [f32],
    }

    /// The slices of an f32 scratch buffer, as the forward pass uses them.
    pub struct F32Buffers<'s> {
        pub ping: &'s mut [f32],
        pub pong: &'s mut [f32],
        pub logits: &'s mut [f32],
        pub probabilities: &'s mut [f32],
    }

    /// A scratch buffer lent to the forward pass.
    pub enum Buffers<'s> {
        Int8(Int8Buffers<'s>),
        F32(F32Buffers<'s>),
    }

    pub trait Sealed {
        fn buffers(&mut self) -> Buffers<'_>;
    }
}

/// Working memory for one kind of model: [`Int8Scratch`] or [`F32Scratch`].
pub trait Scratch: private::Sealed {
    /// The kind of model this buffer runs.
    const KIND: ParamKind;
    /// Widest hidden layer it holds.
    const WIDTH: usize;
    /// Most classes it holds.
    const CLASSES: usize;
}

/// Working memory for int8 models with hidden layers up to `WIDTH` wide and up to `CLASSES`
/// classes, summing `BLOCK` hidden outputs at a time: `2 * WIDTH + 4 * BLOCK + 8 * CLASSES`
/// bytes.
///
/// `BLOCK` trades RAM for speed: by default the whole hidden layer is summed in one pass
/// (`Int8Scratch<512, 10>`: 3,152 bytes for the MNIST 784-512-10 model); a smaller block
/// re-reads the layer's input once per block (`Int8Scratch<512, 10, 128>`: 1,616 bytes, for
/// about 17 % more instructions on a Cortex-M4).
#[derive(Debug, Clone)]
pub struct Int8Scratch<const WIDTH: usize, const CLASSES: usize, const BLOCK: usize = WIDTH> {
    ping: [i8; WIDTH],
    pong: [i8; WIDTH],
    accumulators: [i32; BLOCK],
    raw: [i32; CLASSES],
    probabilities: [f32; CLASSES],
}

impl<const WIDTH: usize, const CLASSES: usize, const BLOCK: usize>
    Int8Scratch<WIDTH, CLASSES, BLOCK>
{
    /// A zeroed buffer; `const`, so it can live in a `static`.
    pub const fn new() -> Self {
        Int8Scratch {
            ping: [0; WIDTH],
            pong: [0; WIDTH],
            accumulators: [0; BLOCK],
            raw: [0; CLASSES],
            probabilities: [0.0; CLASSES],
        }
    }

    pub(crate) fn int8_buffers(&mut self) -> Int8Buffers<'_> {
        Int8Buffers {
            ping: &mut self.ping,
            pong: &mut self.pong,
            accumulators: &mut self.accumulators,
            raw: &mut self.raw,
            probabilities: &mut self.probabilities,
        }
    }
}

impl<const WIDTH: usize, const CLASSES: usize, const BLOCK: usize> Default
    for Int8Scratch<WIDTH, CLASSES, BLOCK>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const WIDTH: usize, const CLASSES: usize, const BLOCK: usize> private::Sealed
    for Int8Scratch<WIDTH, CLASSES, BLOCK>
{
    fn buffers(&mut self) -> Buffers<'_> {
        Buffers::Int8(self.int8_buffers())
    }
}

impl<const WIDTH: usize, const CLASSES: usize, const BLOCK: usize> Scratch
    for Int8Scratch<WIDTH, CLASSES, BLOCK>
{
    const KIND: ParamKind = ParamKind::Int8;
    // A zero block could sum nothing: then no hidden layer fits.
    const WIDTH: usize = if BLOCK == 0 { 0 } else { WIDTH };
    const CLASSES: usize = CLASSES;
}

/// Working memory for f32 models with hidden layers up to `WIDTH` wide and up to `CLASSES`
/// classes: `8 * WIDTH + 8 * CLASSES` bytes.
#[derive(Debug, Clone)]
pub struct F32Scratch<const WIDTH: usize, const CLASSES: usize> {
    ping: [f32; WIDTH],
    pong: [f32; WIDTH],
    logits: [f32; CLASSES],
    probabilities: [f32; CLASSES],
}

impl<const WIDTH: usize, const CLASSES: usize> F32Scratch<WIDTH, CLASSES> {
    /// A zeroed buffer; `const`, so it can live in a `static`.
    pub const fn new() -> Self {
        F32Scratch {
            ping: [0.0; WIDTH],
            pong: [0.0; WIDTH],
            logits: [0.0; CLASSES],
            probabilities: [0.0; CLASSES],
        }
    }
}

impl<const WIDTH: usize, const CLASSES: usize> Default for F32Scratch<WIDTH, CLASSES> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const WIDTH: usize, const CLASSES: usize> private::Sealed for F32Scratch<WIDTH, CLASSES> {
    fn buffers(&mut self) -> Buffers<'_> {
        Buffers::F32(F32Buffers {
            ping: &mut self.ping,
            pong: &mut self.pong,
            logits: &mut self.logits,
            probabilities: &mut self.probabilities,
        })
    }
}

impl<const WIDTH: usize, const CLASSES: usize> Scratch for F32Scratch<WIDTH, CLASSES> {
    const KIND: ParamKind = ParamKind::F32;
    const WIDTH: usize = WIDTH;
    const CLASSES: usize = CLASSES;
}
