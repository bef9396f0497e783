//! The `kernel-check` build's one export: the runtime's on-target kernel check
//! (`tinymlp::kernels::check`, shared with the firmware) on the kernels as compiled for this
//! target (in the SIMD build `kernels::wasm`: the row-pair kernel, the narrow-layer kernel, and
//! the portable requantization vectorized by LLVM), run inside the module by the Node tests
//! (`test/kernels.test.mjs`). The 10,000-digit parity test covers the MNIST shapes; this covers
//! every group size and tail.

/// Runs `cases` random dense-layer and requantization cases (layers of up to 150 inputs and
/// 80 outputs) from `seed`; returns how many kernel results differed from the reference (0
/// when the kernels are right).
#[no_mangle]
pub extern "C" fn tmlp_check_kernels(seed: u32, cases: u32) -> u32 {
    tinymlp::kernels::check::run::<150, 80>(seed, cases, |_| {})
}
