//! The dense-layer kernels: a plain reference for each operation and the fast portable
//! kernels that inference uses.
//!
//! Both compute `out[k] = bias[k] + Σ_j x[j] · W[j][k]` over input-major weights. The
//! reference walks one output at a time, exactly as the formula reads; the portable kernel
//! walks one input row at a time (contiguous, so it vectorizes) and skips inputs that are
//! zero, which most MNIST pixels and many ReLU outputs are. Integer kernels agree bit for
//! bit; f32 kernels add the same terms in the same order, and tests hold them to
//! [`F32_TOLERANCE`].
//!
//! Every kernel is total: mismatched slice lengths make it compute over the common prefix,
//! never panic. The model loader guarantees the lengths match.

pub mod portable;
pub mod reference;

/// Largest absolute difference allowed between the portable and the reference f32 kernels,
/// relative to the magnitude of the sum of absolute terms (they differ only in the sign of
/// zero today; the bound leaves room for reordered SIMD kernels).
pub const F32_TOLERANCE: f32 = 1e-5;

pub use portable::{dense_f32, dense_int8};
