//! The network stage: what a model is (its parameters), how it learns (the optimizers'
//! update rules), and the host reference of its arithmetic that backends are tested
//! against.

pub mod optimizer;
mod params;
pub mod reference;

pub use optimizer::Optimizer;
pub use params::{DenseParams, Parameters};
