//! End to end on the real MNIST: one epoch of training in release mode reaches at least
//! 95 % test accuracy, and the exported int8 blob, run by the tinymlp runtime, too.
//!
//! Needs the MNIST files in `data/mnist/` (`.ci/run` fetches them; or
//! `cargo run -p trainer --release -- fetch`) and an optimized build:
//! `cargo test --release -p tinymlp-tests --test train_mnist`.
//! Without either it says so loudly and passes, so a plain `cargo test` stays fast.

use std::sync::Arc;

use trainer::export::score_blob;
use trainer::{Dense, Device, ExportOptions, FitOptions, Loss, Metric, Optimizer, Sequential};

#[test]
fn one_epoch_on_mnist_reaches_95_percent() -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!(
            "SKIPPED one_epoch_on_mnist_reaches_95_percent: needs an optimized build \
             (cargo test --release -p tinymlp-tests --test train_mnist)"
        );
        return Ok(());
    }
    let dir = tinymlp_tests::repo_root().join("data/mnist");
    if !trainer::data::mnist_present(&dir) {
        eprintln!(
            "SKIPPED one_epoch_on_mnist_reaches_95_percent: MNIST is not in {} \
             (run `cargo run -p trainer --release -- fetch`)",
            dir.display()
        );
        return Ok(());
    }
    let mnist = trainer::data::load_mnist(&dir, true)?;
    let train = Arc::new(mnist.train);
    let test = Arc::new(mnist.test);
    let mut model = Sequential::new(784)
        .seed(1)
        .device(Device::Cpu)
        .add(Dense::relu(512))
        .add(Dense::softmax(10))
        .compile(
            Optimizer::default(),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )?;
    let options = FitOptions {
        epochs: 1,
        verbose: false,
        ..FitOptions::default()
    };
    let history = model.fit(&train, &options)?;
    let evaluation = model.evaluate(&test)?;
    eprintln!(
        "1 epoch: train accuracy {:.4}, test accuracy {:.4}, {:.2} s",
        history.epochs[0].accuracy, evaluation.accuracy, history.fit_seconds
    );
    assert!(
        evaluation.accuracy >= 0.95,
        "test accuracy {}",
        evaluation.accuracy
    );

    let blobs = model.export(&train, &ExportOptions::default())?;
    let score = score_blob(&blobs.int8, &test)?;
    eprintln!("int8 blob through the runtime: {:.4}", score.accuracy);
    assert!(score.accuracy >= 0.95, "int8 accuracy {}", score.accuracy);
    assert!((score.accuracy - f64::from(evaluation.accuracy)).abs() < 0.005);
    Ok(())
}
