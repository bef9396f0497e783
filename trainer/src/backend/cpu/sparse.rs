//! The training inputs in compressed-row form (non-zero inputs only: `u8` pixels, or `f32`
//! features holding the model's values), and a batch's share of samples in
//! compressed-column form for the first layer's weight gradient.

use std::ops::Range;
use std::sync::Arc;

use rayon::prelude::*;

use super::kernels::InputValue;
use crate::data::{Dataset, Inputs};
use crate::error::{Error, Result};

/// A dataset with its images in compressed-row form.
#[derive(Debug)]
pub(super) struct SparseSet {
    pub(super) data: Arc<Dataset>,
    pub(super) rows: SparseRows,
}

/// Samples in compressed-row form (non-zero inputs only).
#[derive(Debug, Default)]
pub(super) struct SparseRows {
    /// `offsets[i]..offsets[i + 1]` are sample `i`'s entries.
    pub(super) offsets: Vec<u32>,
    /// Input index of each entry, ascending within a sample.
    pub(super) indices: Vec<u16>,
    /// Value of each entry (never 0).
    pub(super) values: Values,
}

/// The stored values of the entries: pixels stay bytes (a quarter of the memory and of
/// each epoch's copying), features are the model's `f32` values.
#[derive(Debug)]
pub(super) enum Values {
    Pixels(Vec<u8>),
    Features(Vec<f32>),
}

impl Default for Values {
    fn default() -> Self {
        Values::Pixels(Vec::new())
    }
}

impl SparseRows {
    /// `dataset`'s inputs, non-zero ones only.
    pub(super) fn compress(dataset: &Dataset) -> Result<SparseRows> {
        let width = dataset.width().max(1);
        match &dataset.inputs {
            Inputs::Pixels { images, .. } => {
                let (offsets, indices, values) = compress(images, width)?;
                Ok(SparseRows {
                    offsets,
                    indices,
                    values: Values::Pixels(values),
                })
            }
            Inputs::Features { values, .. } => {
                let (offsets, indices, values) = compress(values, width)?;
                Ok(SparseRows {
                    offsets,
                    indices,
                    values: Values::Features(values),
                })
            }
        }
    }

    /// Where image `i`'s entries lie in `indices` and `values`.
    pub(super) fn range(&self, image: usize) -> Range<usize> {
        self.offsets[image] as usize..self.offsets[image + 1] as usize
    }

    /// Replaces these rows by `from`'s images in the order `order`, copying in parallel.
    /// An epoch visits the dataset in a random order; with its images copied into that
    /// order first, each batch reads one contiguous run that the hardware prefetches,
    /// instead of 128 scattered ones that every thread would miss in the cache.
    pub(super) fn gather(&mut self, from: &SparseRows, order: &[u32]) -> Result<()> {
        match (&from.values, &mut self.values) {
            (Values::Pixels(from_values), Values::Pixels(values)) => gather(
                from,
                from_values,
                &mut self.offsets,
                &mut self.indices,
                values,
                order,
            ),
            (Values::Features(from_values), Values::Features(values)) => gather(
                from,
                from_values,
                &mut self.offsets,
                &mut self.indices,
                values,
                order,
            ),
            (Values::Pixels(_), values) => {
                *values = Values::Pixels(Vec::new());
                self.gather(from, order)
            }
            (Values::Features(_), values) => {
                *values = Values::Features(Vec::new());
                self.gather(from, order)
            }
        }
    }
}

/// `(offsets, indices, values)` of `samples` (`width` values each), non-zero values only.
fn compress<V: InputValue + Default + PartialEq>(
    samples: &[V],
    width: usize,
) -> Result<(Vec<u32>, Vec<u16>, Vec<V>)> {
    let zero = V::default();
    let nonzero = samples.iter().filter(|&&v| v != zero).count();
    let mut offsets = Vec::with_capacity(samples.len() / width + 1);
    let mut indices = Vec::with_capacity(nonzero);
    let mut values = Vec::with_capacity(nonzero);
    offsets.push(0u32);
    for sample in samples.chunks_exact(width) {
        for (j, &v) in sample.iter().enumerate() {
            if v != zero {
                // The host checked that inputs fit u16 indices (backend::MAX_INPUTS).
                indices.push(j as u16);
                values.push(v);
            }
        }
        let end = u32::try_from(indices.len())
            .map_err(|_| Error::Config("dataset too large for the CPU backend".into()))?;
        offsets.push(end);
    }
    Ok((offsets, indices, values))
}

/// [`SparseRows::gather`] for one kind of values.
fn gather<V: InputValue + Default>(
    from: &SparseRows,
    from_values: &[V],
    offsets: &mut Vec<u32>,
    indices_all: &mut Vec<u16>,
    values_all: &mut Vec<V>,
    order: &[u32],
) -> Result<()> {
    const PIECE: usize = 1024;
    offsets.clear();
    offsets.push(0);
    let mut total = 0u32;
    for &image in order {
        let length = u32::try_from(from.range(image as usize).len()).ok();
        total = length
            .and_then(|length| total.checked_add(length))
            .ok_or_else(|| Error::Config("epoch too large for the CPU backend".into()))?;
        offsets.push(total);
    }
    indices_all.resize(total as usize, 0);
    values_all.resize(total as usize, V::default());
    let mut pieces = Vec::with_capacity(order.len().div_ceil(PIECE));
    let (mut indices, mut values) = (&mut indices_all[..], &mut values_all[..]);
    for (k, images) in order.chunks(PIECE).enumerate() {
        let first = k * PIECE;
        let length = (offsets[first + images.len()] - offsets[first]) as usize;
        let (piece_indices, rest) = std::mem::take(&mut indices).split_at_mut(length);
        indices = rest;
        let (piece_values, rest) = std::mem::take(&mut values).split_at_mut(length);
        values = rest;
        pieces.push((images, piece_indices, piece_values));
    }
    pieces
        .into_par_iter()
        .for_each(|(images, mut indices, mut values)| {
            for &image in images {
                let range = from.range(image as usize);
                let (to_indices, rest) = std::mem::take(&mut indices).split_at_mut(range.len());
                indices = rest;
                let (to_values, rest) = std::mem::take(&mut values).split_at_mut(range.len());
                values = rest;
                to_indices.copy_from_slice(&from.indices[range.clone()]);
                to_values.copy_from_slice(&from_values[range]);
            }
        });
    Ok(())
}

/// A share of a batch's samples in compressed-column form: for pixel `j`, the entries
/// `starts[j]..starts[j + 1]` of `rows` (position in the batch, ascending) and `values`.
#[derive(Debug, Default, Clone)]
pub(super) struct BatchPart {
    pub(super) starts: Vec<u32>,
    pub(super) rows: Vec<u16>,
    /// The values the model reads ([`InputValue::real`]).
    pub(super) values: Vec<f32>,
}

impl BatchPart {
    pub(super) fn column(&self, pixel: usize) -> (&[u16], &[f32]) {
        let range = self.starts[pixel] as usize..self.starts[pixel + 1] as usize;
        (&self.rows[range.clone()], &self.values[range])
    }
}
