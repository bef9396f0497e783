//! Runs the int8 kernels that inference uses (on Cortex-M4/M7/M33 the DSP kernel of
//! `tinymlp::kernels::cortex_m`), the portable kernel and the requantization against the
//! reference kernels over random shapes and values, on the target itself: they must agree
//! bit for bit. The check itself is the runtime's (`tinymlp::kernels::check`, shared with the
//! wasm module's `kernel-check` build); this logs what it finds.

const CASES: u32 = 400;
const SEED: u32 = 0x2545_F491;

/// Returns false (after logging each case) if any kernel disagreed.
// Never inlined: its arrays then live in its own frame, gone before loading and inference,
// whose peak stack the firmware measures.
#[inline(never)]
pub fn run() -> bool {
    // Layers of up to 40 inputs and 24 outputs: the check's arrays stay under 1.5 KB of stack.
    let failures = tinymlp::kernels::check::run::<40, 24>(SEED, CASES, |mismatch| {
        defmt::error!(
            "kernel check: case {=u32} ({=usize} inputs, {=usize} outputs): {} differs: reference {=[?]} kernel {=[?]}",
            mismatch.case,
            mismatch.inputs,
            mismatch.outputs,
            mismatch.kernel,
            mismatch.expected,
            mismatch.got
        );
    });
    if failures > 0 {
        return false;
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
        "kernel check: {=u32} random cases bit-exact against the reference (inference kernel, portable, requantization)",
        CASES
    );
    true
}
