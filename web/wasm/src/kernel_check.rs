//! The `kernel-check` build's one export: the runtime's int8 kernels as compiled for this
//! target (in the SIMD build `kernels::wasm`: the row-pair kernel, the narrow-layer kernel, and
//! the portable requantization vectorized by LLVM) against its reference kernels, bit for bit,
//! over random shapes and values, whole layers and blocks of outputs, run inside the module by
//! the Node tests (`test/kernels.test.mjs`). The 10,000-digit parity test covers the MNIST
//! shapes; this covers every group size and tail.

use tinymlp::kernels::{self, reference};

const MAX_INPUTS: usize = 150;
const MAX_OUTPUTS: usize = 80;

/// xorshift64: reproducible from the seed the test passes.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

/// Runs `cases` random dense-layer and requantization cases from `seed`; returns how many
/// gave a different result from the reference (0 when the kernels are right).
#[no_mangle]
pub extern "C" fn tmlp_check_kernels(seed: u32, cases: u32) -> u32 {
    let mut random = Random(u64::from(seed) | 1 << 40);
    let mut weights = [0u8; MAX_INPUTS * MAX_OUTPUTS];
    let mut input = [0i16; MAX_INPUTS];
    let mut bias = [0u8; MAX_OUTPUTS * 4];
    let mut multipliers = [0u8; MAX_OUTPUTS * 4];
    let mut shifts = [0u8; MAX_OUTPUTS];
    let mut failures = 0;
    for _ in 0..cases {
        let inputs = 1 + random.below(MAX_INPUTS as u64);
        let outputs = 1 + random.below(MAX_OUTPUTS as u64);
        for x in input.iter_mut() {
            *x = match random.below(3) {
                0 => 0,
                _ => random.below(511) as i16 - 255,
            };
        }
        weights.iter_mut().for_each(|w| *w = random.next() as u8);
        bias.iter_mut().for_each(|b| *b = random.next() as u8);
        let (input, weights) = (
            input.get(..inputs).unwrap_or_default(),
            weights.get(..inputs * outputs).unwrap_or_default(),
        );
        let bias = bias.get(..outputs * 4).unwrap_or_default();
        let mut expected = [0i32; MAX_OUTPUTS];
        let mut got = [0i32; MAX_OUTPUTS];
        let (expected, got) = (
            expected.get_mut(..outputs).unwrap_or_default(),
            got.get_mut(..outputs).unwrap_or_default(),
        );
        reference::dense_int8(input.iter().copied(), weights, bias, expected);
        kernels::dense_int8(input.iter().copied(), weights, bias, got);
        failures += u32::from(expected != got);

        // A block of the outputs, as the forward pass sums a layer in blocks.
        let start = random.below(outputs as u64);
        let columns = start..start + 1 + random.below((outputs - start) as u64);
        let mut block = [0i32; MAX_OUTPUTS];
        let block = block.get_mut(..columns.len()).unwrap_or_default();
        let block_bias = bias
            .get(columns.start * 4..columns.end * 4)
            .unwrap_or_default();
        let expected_block = expected.get(columns.clone()).unwrap_or_default();
        let input = input.iter().copied();
        kernels::dense_int8_columns(input, weights, outputs, columns, block_bias, block);
        failures += u32::from(expected_block != &*block);

        for (k, shift) in shifts.iter_mut().enumerate() {
            let multiplier = (1 << 30) + random.below(1 << 30) as i32;
            if let Some(bytes) = multipliers.get_mut(k * 4..k * 4 + 4) {
                bytes.copy_from_slice(&multiplier.to_le_bytes());
            }
            *shift = (random.below(32) as i8).wrapping_neg() as u8;
        }
        let zero_point = random.below(256) as i32 - 128;
        let low = if random.below(2) == 0 {
            zero_point
        } else {
            -128
        };
        let sums = &*expected;
        let mut expected_q = [0i8; MAX_OUTPUTS];
        let mut got_q = [0i8; MAX_OUTPUTS];
        let (expected_q, got_q) = (
            expected_q.get_mut(..outputs).unwrap_or_default(),
            got_q.get_mut(..outputs).unwrap_or_default(),
        );
        let multipliers = multipliers.get(..outputs * 4).unwrap_or_default();
        let shifts = shifts.get(..outputs).unwrap_or_default();
        reference::requantize(sums, multipliers, shifts, zero_point, low, expected_q);
        kernels::requantize(sums, multipliers, shifts, zero_point, low, got_q);
        failures += u32::from(expected_q != got_q);
    }
    failures
}
