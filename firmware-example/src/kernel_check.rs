//! Runs the int8 kernel that inference uses (on Cortex-M4/M7/M33 the DSP kernel of
//! `tinymlp::kernels::cortex_m`) and the portable kernel against the reference kernel
//! over random shapes and values, on the target itself: they must agree bit for bit.

use tinymlp::kernels::{portable, reference};

const CASES: u32 = 400;
const MAX_INPUTS: usize = 40;
const MAX_OUTPUTS: usize = 24;

/// xorshift32: deterministic, no dependencies.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }

    fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }
}

/// Returns false (after logging the case) on the first disagreement.
pub fn run() -> bool {
    let mut rng = Rng(0x2545_F491);
    let mut inputs = [0i16; MAX_INPUTS];
    let mut weights = [0u8; MAX_INPUTS * MAX_OUTPUTS];
    let mut bias = [0u8; 4 * MAX_OUTPUTS];
    for case in 0..CASES {
        let n_in = 1 + rng.below(MAX_INPUTS as u32) as usize;
        let n_out = 1 + rng.below(MAX_OUTPUTS as u32) as usize;
        let zero_percent = rng.below(100);
        let extremes = case % 8 == 0;
        for x in inputs.iter_mut().take(n_in) {
            *x = if rng.below(100) < zero_percent {
                0
            } else if extremes {
                if rng.next() & 1 == 0 {
                    -255
                } else {
                    255
                }
            } else {
                rng.below(511) as i16 - 255
            };
        }
        for w in weights.iter_mut().take(n_in * n_out) {
            *w = if extremes {
                if rng.next() & 1 == 0 {
                    0x80
                } else {
                    0x7F
                }
            } else {
                rng.next() as u8
            };
        }
        for b in bias.iter_mut().take(4 * n_out) {
            *b = rng.next() as u8;
        }
        let (x, w, b) = (
            &inputs[..n_in],
            &weights[..n_in * n_out],
            &bias[..4 * n_out],
        );

        let mut expected = [0i32; MAX_OUTPUTS];
        reference::dense_int8(x.iter().copied(), w, b, &mut expected[..n_out]);
        let mut fast = [0i32; MAX_OUTPUTS];
        tinymlp::kernels::dense_int8(x.iter().copied(), w, b, &mut fast[..n_out]);
        let mut plain = [0i32; MAX_OUTPUTS];
        portable::dense_int8(x.iter().copied(), w, b, &mut plain[..n_out]);
        if fast[..n_out] != expected[..n_out] || plain[..n_out] != expected[..n_out] {
            defmt::error!(
                "kernel check: case {=u32} ({=usize} inputs, {=usize} outputs) differs: reference {=[?]} inference kernel {=[?]} portable {=[?]}",
                case, n_in, n_out, expected[..n_out], fast[..n_out], plain[..n_out]
            );
            return false;
        }
    }
    #[cfg(target_abi = "eabihf")]
    {
        // Name the DSP kernel directly too, so this fails to build if the runtime stopped
        // compiling it for this target.
        let mut out = [0i32; 2];
        tinymlp::kernels::cortex_m::dense_int8(
            [3i16, -2].into_iter(),
            &[1, 2, 3, 4],
            &[0; 8],
            &mut out,
        );
        if out != [3 - 2 * 3, 3 * 2 - 2 * 4] {
            defmt::error!("kernel check: fixed case gave {=[?]}", out);
            return false;
        }
    }
    defmt::println!(
        "kernel check: {=u32} random cases bit-exact against the reference (inference kernel and portable)",
        CASES
    );
    true
}
