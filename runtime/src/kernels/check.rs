//! The on-target kernel self-check: the int8 kernels as compiled for this target against the
//! reference kernels, bit for bit, over random shapes and values, run on the target itself
//! (the Cortex-M firmware at start-up, the wasm module's `kernel-check` build under Node).
//! The host's property tests (`tests/properties.rs`) cover the host's kernels; this covers
//! the builds that cannot run them.
//!
//! Generic over the largest shape, so that a microcontroller checks small layers in a small
//! stack (`[u8; MAX_INPUTS * MAX_OUTPUTS]` and a few arrays of `MAX_OUTPUTS`), and is compiled
//! only into a program that calls it.

use super::{portable, reference};

/// Which kernel disagreed with the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Kernel {
    /// [`super::dense_int8`], the dense kernel inference uses on this target.
    Dense,
    /// [`super::dense_int8_columns`] on a block of the outputs, as the forward pass sums a
    /// layer in blocks.
    DenseColumns,
    /// [`portable::dense_int8`].
    Portable,
    /// [`super::requantize`] (the values are the int8 outputs, widened).
    Requantize,
}

/// One case where a kernel's result differs from the reference's.
#[derive(Debug)]
pub struct Mismatch<'a> {
    /// The case's number, from 0.
    pub case: u32,
    /// The kernel that disagreed.
    pub kernel: Kernel,
    /// The layer's inputs.
    pub inputs: usize,
    /// The outputs compared.
    pub outputs: usize,
    /// The reference's result.
    pub expected: &'a [i32],
    /// The kernel's result.
    pub got: &'a [i32],
}

/// xorshift64: reproducible from a seed, no dependency (the one generator of the no_std
/// checks; host tests use `rand`).
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Runs `cases` random cases from `seed`, each a layer of up to `MAX_INPUTS` inputs and
/// `MAX_OUTPUTS` outputs (a share of zero inputs that varies by case; every eighth case at
/// the extreme values ±255 and -128/127), through [`Kernel`]'s four kernels; calls
/// `mismatch` for each disagreement and returns how many there were (0 when the kernels are
/// right).
pub fn run<const MAX_INPUTS: usize, const MAX_OUTPUTS: usize>(
    seed: u32,
    cases: u32,
    mut mismatch: impl FnMut(&Mismatch<'_>),
) -> u32 {
    let mut random = Random(u64::from(seed) | 1 << 40);
    let mut weights = [[0u8; MAX_OUTPUTS]; MAX_INPUTS];
    let mut input = [0i16; MAX_INPUTS];
    let mut bias = [[0u8; 4]; MAX_OUTPUTS];
    let mut multipliers = [[0u8; 4]; MAX_OUTPUTS];
    let mut shifts = [0u8; MAX_OUTPUTS];
    let mut failures = 0;
    for case in 0..cases {
        let inputs = 1 + random.below(MAX_INPUTS);
        let outputs = 1 + random.below(MAX_OUTPUTS);
        let zero_percent = random.below(100);
        let extremes = case % 8 == 0;
        for x in input.iter_mut() {
            *x = if random.below(100) < zero_percent {
                0
            } else if extremes {
                if random.below(2) == 0 {
                    -255
                } else {
                    255
                }
            } else {
                random.below(511) as i16 - 255
            };
        }
        for w in weights.iter_mut().flatten() {
            *w = if extremes {
                if random.below(2) == 0 {
                    0x80
                } else {
                    0x7f
                }
            } else {
                random.next() as u8
            };
        }
        bias.iter_mut()
            .flatten()
            .for_each(|b| *b = random.next() as u8);
        let input = input.get(..inputs).unwrap_or_default();
        // Rows of `outputs` weights, one after the other, as in a blob.
        let (weights, _) = weights.as_flattened().split_at(inputs * outputs);
        let bias = bias.as_flattened().get(..outputs * 4).unwrap_or_default();
        let mut expected = [0i32; MAX_OUTPUTS];
        let expected = expected.get_mut(..outputs).unwrap_or_default();
        reference::dense_int8(input.iter().copied(), weights, bias, expected);
        let mut report = |kernel, expected: &[i32], got: &[i32]| {
            if expected != got {
                failures += 1;
                mismatch(&Mismatch {
                    case,
                    kernel,
                    inputs,
                    outputs: got.len(),
                    expected,
                    got,
                });
            }
        };

        let mut got = [0i32; MAX_OUTPUTS];
        let got = got.get_mut(..outputs).unwrap_or_default();
        super::dense_int8(input.iter().copied(), weights, bias, got);
        report(Kernel::Dense, expected, got);
        portable::dense_int8(input.iter().copied(), weights, bias, got);
        report(Kernel::Portable, expected, got);

        let start = random.below(outputs);
        let columns = start..start + 1 + random.below(outputs - start);
        let mut block = [0i32; MAX_OUTPUTS];
        let block = block.get_mut(..columns.len()).unwrap_or_default();
        let block_bias = bias
            .get(columns.start * 4..columns.end * 4)
            .unwrap_or_default();
        let expected_block = expected.get(columns.clone()).unwrap_or_default();
        let block_input = input.iter().copied();
        super::dense_int8_columns(block_input, weights, outputs, columns, block_bias, block);
        report(Kernel::DenseColumns, expected_block, block);

        for (multiplier, shift) in multipliers.iter_mut().zip(shifts.iter_mut()) {
            *multiplier = ((1 << 30) + random.below(1 << 30) as i32).to_le_bytes();
            *shift = (random.below(32) as i8).wrapping_neg() as u8;
        }
        let zero_point = random.below(256) as i32 - 128;
        let low = if random.below(2) == 0 {
            zero_point
        } else {
            -128
        };
        let multipliers = multipliers.as_flattened().get(..outputs * 4);
        let shifts = shifts.get(..outputs).unwrap_or_default();
        let (mut expected_q, mut got_q) = ([0i8; MAX_OUTPUTS], [0i8; MAX_OUTPUTS]);
        let (expected_q, got_q) = (
            expected_q.get_mut(..outputs).unwrap_or_default(),
            got_q.get_mut(..outputs).unwrap_or_default(),
        );
        let multipliers = multipliers.unwrap_or_default();
        reference::requantize(expected, multipliers, shifts, zero_point, low, expected_q);
        super::requantize(expected, multipliers, shifts, zero_point, low, got_q);
        if expected_q != got_q {
            // Widened into the dense kernels' buffers, which are free again.
            for (wide, &value) in got.iter_mut().zip(&*got_q) {
                *wide = i32::from(value);
            }
            for (wide, &value) in expected.iter_mut().zip(&*expected_q) {
                *wide = i32::from(value);
            }
            report(Kernel::Requantize, expected, got);
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    /// The check passes on the host's kernels (whatever level this CPU selects).
    #[test]
    fn passes_here_and_counts_what_it_reports() {
        let mut reported = 0;
        // Fewer cases under Miri, which runs the other kernel tests too.
        let cases = if cfg!(miri) { 24 } else { 200 };
        let failures = super::run::<40, 24>(7, cases, |_| reported += 1);
        assert_eq!((failures, reported), (0, 0));
    }
}
