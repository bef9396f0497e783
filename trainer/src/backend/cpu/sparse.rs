//! The training images in compressed-row form (non-zero pixels only), and a batch's share
//! of samples in compressed-column form for the first layer's weight gradient.

use std::ops::Range;
use std::sync::Arc;

use rayon::prelude::*;

use crate::data::Dataset;
use crate::error::{Error, Result};

/// A dataset with its images in compressed-row form.
#[derive(Debug)]
pub(super) struct SparseSet {
    pub(super) data: Arc<Dataset>,
    pub(super) rows: SparseRows,
}

/// Images in compressed-row form (non-zero pixels only).
#[derive(Debug, Default)]
pub(super) struct SparseRows {
    /// `offsets[i]..offsets[i + 1]` are image `i`'s entries.
    pub(super) offsets: Vec<u32>,
    /// Pixel index of each entry, ascending within an image.
    pub(super) indices: Vec<u16>,
    /// Pixel value of each entry (never 0).
    pub(super) values: Vec<u8>,
}

impl SparseRows {
    /// `dataset`'s images, non-zero pixels only.
    pub(super) fn compress(dataset: &Dataset) -> Result<SparseRows> {
        let pixels = dataset.pixels();
        let nonzero = dataset.images.iter().filter(|&&p| p != 0).count();
        let mut offsets = Vec::with_capacity(dataset.len() + 1);
        let mut indices = Vec::with_capacity(nonzero);
        let mut values = Vec::with_capacity(nonzero);
        offsets.push(0u32);
        for image in dataset.images.chunks_exact(pixels.max(1)) {
            for (j, &p) in image.iter().enumerate() {
                if p != 0 {
                    // The host checked that inputs fit u16 indices (backend::MAX_INPUTS).
                    indices.push(j as u16);
                    values.push(p);
                }
            }
            let end = u32::try_from(indices.len())
                .map_err(|_| Error::Config("dataset too large for the CPU backend".into()))?;
            offsets.push(end);
        }
        Ok(SparseRows {
            offsets,
            indices,
            values,
        })
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
        const PIECE: usize = 1024;
        self.offsets.clear();
        self.offsets.push(0);
        let mut total = 0u32;
        for &image in order {
            let length = u32::try_from(from.range(image as usize).len()).ok();
            total = length
                .and_then(|length| total.checked_add(length))
                .ok_or_else(|| Error::Config("epoch too large for the CPU backend".into()))?;
            self.offsets.push(total);
        }
        self.indices.resize(total as usize, 0);
        self.values.resize(total as usize, 0);
        let mut pieces = Vec::with_capacity(order.len().div_ceil(PIECE));
        let (mut indices, mut values) = (&mut self.indices[..], &mut self.values[..]);
        for (k, images) in order.chunks(PIECE).enumerate() {
            let first = k * PIECE;
            let length = (self.offsets[first + images.len()] - self.offsets[first]) as usize;
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
                    to_values.copy_from_slice(&from.values[range]);
                }
            });
        Ok(())
    }
}

/// A share of a batch's samples in compressed-column form: for pixel `j`, the entries
/// `starts[j]..starts[j + 1]` of `rows` (position in the batch, ascending) and `values`.
#[derive(Debug, Default, Clone)]
pub(super) struct BatchPart {
    pub(super) starts: Vec<u32>,
    pub(super) rows: Vec<u16>,
    pub(super) values: Vec<u8>,
}

impl BatchPart {
    pub(super) fn column(&self, pixel: usize) -> (&[u16], &[u8]) {
        let range = self.starts[pixel] as usize..self.starts[pixel + 1] as usize;
        (&self.rows[range.clone()], &self.values[range])
    }
}
