//! Int8 kernels for x86-64: SSE2 (the x86-64 baseline, always there) and AVX2, picked at
//! run time by CPUID (through `cpufeatures`, which works without `std` and caches the answer
//! in an atomic), so one build runs everywhere and uses what the CPU has.
//!
//! The weights are input-major, so the contiguous direction is the outputs. The dense kernel
//! gathers up to 64 non-zero inputs (zero inputs are skipped, as in the portable kernel),
//! then walks the outputs in blocks, keeping a block's sums
//! in registers across the whole batch: two weight rows at a time are interleaved byte by byte and widened to 16-bit
//! lanes, so that one `pmaddwd` computes `x0·w0[k] + x1·w1[k]` for several outputs at once
//! (four with SSE2, eight with AVX2).
//!
//! `pmaddwd` cannot overflow here (`|x| ≤ 255`, `|w| ≤ 128`), and the int32 sums wrap like
//! the reference kernel's `wrapping_add`; integer addition modulo 2^32 does not depend on
//! the order of the terms, so the results are bit-exact against
//! [`super::reference::dense_int8`]. The AVX2 requantization computes TFLite's two roundings
//! in 32-bit lanes and agrees bit for bit with [`super::reference::requantize`].
//! `tests/properties.rs` checks both levels.

mod avx2;
mod sse2;
mod vnni;

/// Non-zero inputs the batched kernels gather before each pass over the outputs (a 1 KiB
/// stack array).
const BATCH: usize = 64;

/// A kernel's inner part: adds `Σ x · row[k]` over a batch of `(x, row)` to every
/// `out[k]`.
type Accumulate = fn(&[(i16, &[u8])], &mut [i32]);

/// The front end of the int8 kernels: sets the sums to the bias, then hands
/// `accumulate` the non-zero inputs with their weight rows, up to [`BATCH`] at a time, so it
/// can keep a block of sums in registers across many rows.
#[inline]
fn dense_int8_batched<'w, I, R>(
    input: I,
    rows: R,
    bias: &[u8],
    out: &mut [i32],
    accumulate: Accumulate,
) where
    I: Iterator<Item = i16>,
    R: Iterator<Item = &'w [u8]>,
{
    super::start_from_bias(out, bias);
    let mut batch: [(i16, &[u8]); BATCH] = [(0, &[]); BATCH];
    let mut len = 0;
    for (x, row) in input.zip(rows) {
        // Branch-free: every row is written, only a non-zero one is kept. Whether an input is
        // zero follows no pattern a branch predictor learns (ReLU outputs, digit edges).
        if let Some(slot) = batch.get_mut(len) {
            *slot = (x, row);
        }
        len += usize::from(x != 0);
        if len == BATCH {
            accumulate(&batch, out);
            len = 0;
        }
    }
    accumulate(batch.get(..len).unwrap_or_default(), out);
}

/// [`dense_int8`] for a layer whose inputs are pixels (`0..=255`), with `out.len()` outputs:
/// the non-zero pixels are found eight at a time (an image's zero words are skipped whole)
/// and their rows taken by index, cheaper than the generic front end's row iterator.
#[inline]
pub fn dense_pixels(pixels: &[u8], weights: &[u8], bias: &[u8], out: &mut [i32]) {
    dense_pixels_at(Level::detect(), pixels, weights, bias, out);
}

/// [`dense_pixels`] at `level` (for tests and benchmarks).
pub fn dense_pixels_at(level: Level, pixels: &[u8], weights: &[u8], bias: &[u8], out: &mut [i32]) {
    let accumulate = accumulate_at(level);
    super::start_from_bias(out, bias);
    let outputs = out.len();
    let mut batch: [(i16, &[u8]); BATCH] = [(0, &[]); BATCH];
    let mut len = 0;
    let (words, rest) = pixels.as_chunks::<8>();
    let words = words.iter().map(|word| word.as_slice()).chain([rest]);
    for (index, word) in words.enumerate() {
        if word.iter().all(|&x| x == 0) {
            continue;
        }
        for (offset, &x) in word.iter().enumerate() {
            let at = (index * 8 + offset) * outputs;
            // Branch-free, as in the generic front end.
            if let Some(slot) = batch.get_mut(len) {
                *slot = (
                    i16::from(x),
                    weights.get(at..at + outputs).unwrap_or_default(),
                );
            }
            len += usize::from(x != 0);
            if len == BATCH {
                accumulate(&batch, out);
                len = 0;
            }
        }
    }
    accumulate(batch.get(..len).unwrap_or_default(), out);
}

/// The accumulation kernel of `level`; each falls back to the level below on a CPU without
/// its features.
fn accumulate_at(level: Level) -> Accumulate {
    match level {
        Level::Avx512Vnni => vnni::accumulate,
        Level::Avx2 => avx2::accumulate,
        Level::Sse2 => sse2::accumulate,
    }
}

/// A whole layer of at most 16 outputs over int8 activations (an MNIST model's last layer):
/// with AVX-512 VNNI and VBMI one `vpermb` and two `vpdpbusd` per four inputs; otherwise
/// [`dense_int8`]. Same results.
#[inline]
pub fn dense_narrow_i8(x: &[i8], weights: &[u8], bias: &[u8], out: &mut [i32]) {
    dense_narrow_i8_at(Level::detect(), x, weights, bias, out);
}

/// [`dense_narrow_i8`] at `level` (for tests and benchmarks).
pub fn dense_narrow_i8_at(level: Level, x: &[i8], weights: &[u8], bias: &[u8], out: &mut [i32]) {
    if level == Level::Avx512Vnni && vnni::dense_narrow(x, weights, bias, out) {
        return;
    }
    dense_int8_at(level, x.iter().map(|&v| i16::from(v)), weights, bias, out);
}

cpufeatures::new!(vbmi_detection, "avx512vbmi");

/// Whether CPUID reports AVX-512 VBMI (`vpermb`), for the narrow-layer kernel.
fn vbmi_detected() -> bool {
    vbmi_detection::get()
}

cpufeatures::new!(avx2_detection, "avx2");
// Also checks that the OS saves the ZMM registers; `cpufeatures` 0.3 does not know VNNI, which
// `vnni_detected` reads from CPUID itself.
cpufeatures::new!(avx512_detection, "avx512f", "avx512bw");

/// An x86-64 instruction set level the kernels can run at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// SSE2: every x86-64 CPU.
    Sse2,
    /// AVX2: most x86-64 CPUs since 2013-2015.
    Avx2,
    /// AVX-512 with VNNI (`vpdpbusd`): Intel server CPUs since 2019 (Cascade Lake), client
    /// CPUs of 2019-2021 (Ice Lake, Tiger Lake), AMD since Zen 4. The other kernels (the
    /// requantization, the outputs past the last block of 64) run at AVX2 there.
    Avx512Vnni,
}

/// The highest level [`Level::detect`] answers (see [`Level::cap`]): 0 SSE2, 1 AVX2, 2 VNNI.
static CAP: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(2);

impl Level {
    /// The best level this CPU runs, at most the [`cap`](Level::cap) (detected once, then
    /// read from an atomic). The kernels that [`Model::predict`](crate::Model::predict) and
    /// the batch path call run at this level.
    #[inline]
    pub fn detect() -> Level {
        let cap = CAP.load(core::sync::atomic::Ordering::Relaxed);
        if cap >= 2 && Level::Avx512Vnni.is_available() {
            Level::Avx512Vnni
        } else if cap >= 1 && avx2_detection::get() {
            Level::Avx2
        } else {
            Level::Sse2
        }
    }

    /// Caps the level [`detect`](Level::detect) answers, for the whole process: to compare
    /// the levels' speed in one run (the inference benchmark), or to run the AVX2 kernels on
    /// a CPU with VNNI. The results are the same at every level.
    pub fn cap(self) {
        let value = match self {
            Level::Sse2 => 0,
            Level::Avx2 => 1,
            Level::Avx512Vnni => 2,
        };
        CAP.store(value, core::sync::atomic::Ordering::Relaxed);
    }

    /// Whether this CPU runs `self`. Asking a kernel for a level the CPU lacks runs it at
    /// the best level below that the CPU has instead.
    #[inline]
    pub fn is_available(self) -> bool {
        match self {
            Level::Sse2 => true,
            Level::Avx2 => avx2_detection::get(),
            Level::Avx512Vnni => {
                avx2_detection::get() && avx512_detection::get() && vnni_detected()
            }
        }
    }
}

/// Whether CPUID reports AVX-512 VNNI (leaf 7, ECX bit 11), asked once, then read from an
/// atomic: CPUID traps to the hypervisor in a virtual machine and costs microseconds there.
#[inline]
fn vnni_detected() -> bool {
    use core::sync::atomic::{AtomicU8, Ordering};
    const UNKNOWN: u8 = 0;
    const YES: u8 = 1;
    const NO: u8 = 2;
    static VNNI: AtomicU8 = AtomicU8::new(UNKNOWN);
    match VNNI.load(Ordering::Relaxed) {
        YES => true,
        NO => false,
        _ => {
            let detected = cfg!(target_feature = "avx512vnni") || vnni::cpuid_reports_vnni();
            VNNI.store(if detected { YES } else { NO }, Ordering::Relaxed);
            detected
        }
    }
}

/// The sums of a layer whose inputs are pixels (`0..=255`), for several inputs at once:
/// `sums[i][k] = bias[k] + Σ_j inputs[i][j] · W[j][k]`, input-major `weights` with
/// `sums[i].len()` columns. With VNNI, batch-major (see `vnni`); otherwise input by input
/// with [`dense_int8_rows`].
#[inline]
pub fn dense_u8_inputs(inputs: &[&[u8]], weights: &[u8], bias: &[u8], sums: &mut [&mut [i32]]) {
    dense_inputs_at(Level::detect(), inputs, false, weights, bias, sums);
}

/// [`dense_u8_inputs`] for int8 inputs (`-128..=127`: a hidden layer's activations).
#[inline]
pub fn dense_i8_inputs(inputs: &[&[i8]], weights: &[u8], bias: &[u8], sums: &mut [&mut [i32]]) {
    dense_i8_inputs_at(Level::detect(), inputs, weights, bias, sums);
}

/// [`dense_u8_inputs`] at `level` (for tests and benchmarks).
#[inline]
pub fn dense_u8_inputs_at(
    level: Level,
    inputs: &[&[u8]],
    weights: &[u8],
    bias: &[u8],
    sums: &mut [&mut [i32]],
) {
    dense_inputs_at(level, inputs, false, weights, bias, sums);
}

/// [`dense_i8_inputs`] at `level` (for tests and benchmarks).
#[inline]
pub fn dense_i8_inputs_at(
    level: Level,
    inputs: &[&[i8]],
    weights: &[u8],
    bias: &[u8],
    sums: &mut [&mut [i32]],
) {
    // As bytes: two's complement, which the kernels read back as signed.
    let mut bytes: [&[u8]; MANY] = [&[]; MANY];
    for (inputs, sums) in inputs.chunks(MANY).zip(sums.chunks_mut(MANY)) {
        for (bytes, input) in bytes.iter_mut().zip(inputs) {
            *bytes = bytemuck::cast_slice(input);
        }
        let bytes = bytes.get(..inputs.len()).unwrap_or_default();
        dense_inputs_at(level, bytes, true, weights, bias, sums);
    }
}

/// Inputs per call of the many-inputs kernel, in [`dense_i8_inputs_at`].
const MANY: usize = 64;

fn dense_inputs_at(
    level: Level,
    inputs: &[&[u8]],
    signed: bool,
    weights: &[u8],
    bias: &[u8],
    sums: &mut [&mut [i32]],
) {
    let done = match level {
        Level::Avx512Vnni => vnni::dense_inputs(inputs, signed, weights, bias, sums),
        _ => 0,
    };
    if done > 0 {
        return;
    }
    let sign = if signed { 0x80 } else { 0 };
    for (input, sums) in inputs.iter().zip(sums.iter_mut()) {
        let outputs = sums.len();
        let rows = super::column_window(weights, outputs, 0..outputs);
        let input = input
            .iter()
            .map(move |&byte| i16::from(byte ^ sign) - i16::from(sign));
        dense_int8_rows_at(level, input, rows, bias, sums);
    }
}

/// `out[k] = bias[k] + Σ_j input[j] · W[j][k]` with int8 weights, input-major, and int32
/// little-endian bias. `input` yields the raw activations (pixels `0..=255` or int8
/// `-128..=127`; any value in `-255..=255` is handled).
///
/// Same contract and results as [`super::portable::dense_int8`].
#[inline]
pub fn dense_int8<I>(input: I, weights: &[u8], bias: &[u8], out: &mut [i32])
where
    I: Iterator<Item = i16>,
{
    dense_int8_at(Level::detect(), input, weights, bias, out);
}

/// [`dense_int8`] at `level` (for tests and benchmarks).
#[inline]
pub fn dense_int8_at<I>(level: Level, input: I, weights: &[u8], bias: &[u8], out: &mut [i32])
where
    I: Iterator<Item = i16>,
{
    let outputs = out.len();
    let rows = super::column_window(weights, outputs, 0..outputs);
    dense_int8_rows_at(level, input, rows, bias, out);
}

/// [`dense_int8`] over the rows `rows` yields (see [`super::portable::dense_int8_rows`]).
#[inline]
pub fn dense_int8_rows<'w, I, R>(input: I, rows: R, bias: &[u8], out: &mut [i32])
where
    I: Iterator<Item = i16>,
    R: Iterator<Item = &'w [u8]>,
{
    dense_int8_rows_at(Level::detect(), input, rows, bias, out);
}

fn dense_int8_rows_at<'w, I, R>(level: Level, input: I, rows: R, bias: &[u8], out: &mut [i32])
where
    I: Iterator<Item = i16>,
    R: Iterator<Item = &'w [u8]>,
{
    dense_int8_batched(input, rows, bias, out, accumulate_at(level));
}

/// The fixed-point step from int32 sums to int8 outputs, bit-exact with
/// [`super::reference::requantize`] (same arguments).
#[inline]
pub fn requantize(
    sums: &[i32],
    multipliers: &[u8],
    shifts: &[u8],
    zero_point: i32,
    low: i32,
    out: &mut [i8],
) {
    requantize_at(
        Level::detect(),
        sums,
        multipliers,
        shifts,
        zero_point,
        low,
        out,
    );
}

/// [`requantize`] at `level` (for tests and benchmarks).
#[inline]
pub fn requantize_at(
    level: Level,
    sums: &[i32],
    multipliers: &[u8],
    shifts: &[u8],
    zero_point: i32,
    low: i32,
    out: &mut [i8],
) {
    match level {
        Level::Avx2 | Level::Avx512Vnni => {
            avx2::requantize(sums, multipliers, shifts, zero_point, low, out)
        }
        Level::Sse2 => super::portable::requantize(sums, multipliers, shifts, zero_point, low, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests' seeded generator (xoshiro256++).
    fn generator() -> impl FnMut() -> u64 {
        use rand_xoshiro::rand_core::{Rng as _, SeedableRng as _};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(0x2545_f491_4f6c_dd1d);
        move || rng.next_u64()
    }

    /// Small enough for Miri (`cargo +nightly miri test -p tinymlp --lib kernels::x86`):
    /// every block size and a batch boundary, against the reference kernel, at every level
    /// this CPU has (Miri reports no CPU features: there it checks the levels enabled at
    /// compile time), with pixel, int8 and wider inputs (the VNNI kernel's three paths).
    #[test]
    fn matches_reference_across_block_and_batch_boundaries() {
        let mut next = generator();
        let shapes = [
            (1, 1),
            (3, 7),
            (5, 8),
            (9, 16),
            (2, 25),
            (70, 41),
            (131, 3),
            (67, 96),
            (6, 130),
            (130, 10),
            (7, 16),
        ];
        for (inputs, outputs) in shapes {
            for (low, span) in [(0, 256), (-128, 256), (-255, 511)] {
                let input: std::vec::Vec<i16> = (0..inputs)
                    .map(|_| match next() % 4 {
                        0 => 0,
                        _ => (next() % span) as i16 + low,
                    })
                    .collect();
                let weights: std::vec::Vec<u8> =
                    (0..inputs * outputs).map(|_| next() as u8).collect();
                let bias: std::vec::Vec<u8> = (0..outputs * 4).map(|_| next() as u8).collect();
                let mut expected = std::vec![0; outputs];
                super::super::reference::dense_int8(
                    input.iter().copied(),
                    &weights,
                    &bias,
                    &mut expected,
                );
                for level in [Level::Sse2, Level::Avx2, Level::Avx512Vnni] {
                    let mut got = std::vec![0; outputs];
                    dense_int8_at(level, input.iter().copied(), &weights, &bias, &mut got);
                    assert_eq!(got, expected, "{inputs}x{outputs} from {low} {level:?}");
                    if low == -128 && outputs <= 16 {
                        let x: std::vec::Vec<i8> = input.iter().map(|&x| x as i8).collect();
                        let mut got = std::vec![0; outputs];
                        dense_narrow_i8_at(level, &x, &weights, &bias, &mut got);
                        assert_eq!(got, expected, "narrow {inputs}x{outputs} {level:?}");
                    }
                    if low == 0 {
                        let pixels: std::vec::Vec<u8> = input.iter().map(|&x| x as u8).collect();
                        let mut got = std::vec![0; outputs];
                        dense_pixels_at(level, &pixels, &weights, &bias, &mut got);
                        assert_eq!(got, expected, "pixels {inputs}x{outputs} {level:?}");
                    }
                }
            }
        }
    }

    /// The many-inputs kernel, small enough for Miri: five inputs (a group of four and one),
    /// a partial group of rows, a block of 64 outputs and a tail.
    #[test]
    fn many_inputs_match_reference() {
        let mut next = generator();
        let (count, inputs, outputs) = (5, 7, 70);
        let pixels: std::vec::Vec<std::vec::Vec<u8>> = (0..count)
            .map(|_| {
                (0..inputs)
                    .map(|_| {
                        if next().is_multiple_of(3) {
                            0
                        } else {
                            next() as u8
                        }
                    })
                    .collect()
            })
            .collect();
        let weights: std::vec::Vec<u8> = (0..inputs * outputs).map(|_| next() as u8).collect();
        let bias: std::vec::Vec<u8> = (0..outputs * 4).map(|_| next() as u8).collect();
        let slices: std::vec::Vec<&[u8]> = pixels.iter().map(|p| p.as_slice()).collect();
        for level in [Level::Sse2, Level::Avx2, Level::Avx512Vnni] {
            let mut got = std::vec![std::vec![0; outputs]; count];
            let mut sums: std::vec::Vec<&mut [i32]> =
                got.iter_mut().map(|s| s.as_mut_slice()).collect();
            dense_u8_inputs_at(level, &slices, &weights, &bias, &mut sums);
            for (input, got) in pixels.iter().zip(&got) {
                let mut expected = std::vec![0; outputs];
                let input = input.iter().map(|&x| i16::from(x));
                super::super::reference::dense_int8(input, &weights, &bias, &mut expected);
                assert_eq!(got, &expected, "{level:?}");
            }
        }
    }

    /// Also small enough for Miri: blocks of eight and a tail, right shifts only (the AVX2
    /// path) and with a left shift (the portable path), against the reference.
    #[test]
    fn requantize_matches_reference() {
        let sums: std::vec::Vec<i32> = (0..19)
            .map(|i: i32| i.wrapping_mul(-7_919_123).wrapping_add(i * i * 31))
            .chain([i32::MIN, i32::MAX, 0, -1, 1, 6, -6])
            .collect();
        let multipliers: std::vec::Vec<u8> = (0..sums.len() as i32)
            .flat_map(|i| ((1 << 30) + i * 37_000_001).to_le_bytes())
            .collect();
        for (left, zero_point, low) in [(false, -128, -128), (false, 5, 5), (true, 0, -128)] {
            let shifts: std::vec::Vec<u8> = (0..sums.len())
                .map(|i| if left && i == 3 { 2 } else { (i % 32) as u8 }.wrapping_neg())
                .collect();
            let mut expected = std::vec![0; sums.len()];
            super::super::reference::requantize(
                &sums,
                &multipliers,
                &shifts,
                zero_point,
                low,
                &mut expected,
            );
            for level in [Level::Sse2, Level::Avx2, Level::Avx512Vnni] {
                let mut got = std::vec![0; sums.len()];
                requantize_at(
                    level,
                    &sums,
                    &multipliers,
                    &shifts,
                    zero_point,
                    low,
                    &mut got,
                );
                assert_eq!(got, expected, "{level:?} left shift {left}");
            }
        }
    }
}
