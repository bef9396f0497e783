//! The CUDA backend (placeholder until the CUDA issue lands): always "not available".

use crate::backend::Backend;
use crate::error::{Error, Result};

/// The CUDA backend, or why it cannot be used.
pub fn new_backend() -> Result<Box<dyn Backend>> {
    Err(Error::DeviceUnavailable {
        device: "cuda",
        reason: "the CUDA backend is not implemented in this build yet".into(),
    })
}
