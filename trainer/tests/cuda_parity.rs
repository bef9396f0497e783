//! CPU and CUDA train the same model from the same seed: identical initial weights, identical
//! shuffles, and after one epoch the same loss and accuracy within [`LOSS_TOLERANCE`] and
//! [`ACCURACY_TOLERANCE`] (the devices sum products in different orders, so the weights drift
//! apart by rounding, not by anything systematic).
//!
//! At least 97 % of their test predictions must also agree. Uses real MNIST from
//! `TINYMLP_DATA_DIR` or `data/mnist` when present (then both devices must also reach 95 %
//! test accuracy), else a synthetic problem. Skips with a message when no GPU is usable,
//! unless `TINYMLP_REQUIRE_CUDA=1`. Meant for release builds on a GPU machine
//! (`scripts/gpu-check.sh`): the CPU epoch over MNIST is slow in debug.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use trainer::data::load_mnist;
use trainer::rng::Rng;
use trainer::{Dataset, Dense, Device, Error, FitOptions, Loss, Metric, Optimizer, Sequential};

/// Largest relative difference of the epoch's mean training loss.
const LOSS_TOLERANCE: f32 = 0.02;
/// Largest difference of training and test accuracy (fraction, so 0.005 = 0.5 points).
const ACCURACY_TOLERANCE: f32 = 0.005;

fn data_dir() -> PathBuf {
    std::env::var_os("TINYMLP_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/mnist"))
}

/// MNIST, or a synthetic stand-in (class prototypes with noise) when it is not here.
fn datasets() -> (Arc<Dataset>, Arc<Dataset>, bool) {
    match load_mnist(&data_dir(), false) {
        Ok(mnist) => (Arc::new(mnist.train), Arc::new(mnist.test), true),
        Err(error) => {
            eprintln!("parity on synthetic data (MNIST not loaded: {error})");
            let mut rng = Rng::new(5);
            let prototypes: Vec<Vec<u8>> = (0..10)
                .map(|_| {
                    (0..784)
                        .map(|_| if rng.next_f32() < 0.2 { 200 } else { 0 })
                        .collect()
                })
                .collect();
            let mut make = |samples: usize| {
                let mut images = Vec::with_capacity(samples * 784);
                let mut labels = Vec::with_capacity(samples);
                for _ in 0..samples {
                    let label = rng.below(10);
                    for &p in &prototypes[label] {
                        let noise = rng.next_f32();
                        images.push(if noise < 0.3 {
                            0
                        } else if noise > 0.9 {
                            90
                        } else {
                            p
                        });
                    }
                    labels.push(label as u8);
                }
                Arc::new(Dataset::new(images, labels, (28, 28), 10).unwrap())
            };
            let train = make(12_000);
            let test = make(2_000);
            (train, test, false)
        }
    }
}

fn compiled(device: Device) -> Result<trainer::Model, Error> {
    Sequential::new(784)
        .add(Dense::relu(512))
        .add(Dense::softmax(10))
        .seed(20_251_128)
        .device(device)
        .compile(
            Optimizer::default(),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
}

#[test]
fn cpu_and_cuda_agree_after_one_epoch() {
    let mut cuda = match compiled(Device::Cuda) {
        Ok(model) => model,
        Err(Error::DeviceUnavailable { reason, .. }) => {
            if std::env::var("TINYMLP_REQUIRE_CUDA").is_ok_and(|v| v == "1") {
                panic!("TINYMLP_REQUIRE_CUDA=1 but CUDA is unavailable: {reason}");
            }
            eprintln!("SKIPPED (no usable CUDA GPU): {reason}");
            return;
        }
        Err(error) => panic!("CUDA model: {error}"),
    };
    let mut cpu = compiled(Device::Cpu).expect("CPU model");
    assert_eq!(
        cpu.parameters().expect("CPU parameters"),
        cuda.parameters().expect("CUDA parameters"),
        "the same seed must give the same initial weights on both devices"
    );

    let (train, test, real) = datasets();
    let options = FitOptions {
        epochs: 1,
        verbose: false,
        ..FitOptions::default()
    };
    let run = |model: &mut trainer::Model, name: &str| {
        let started = Instant::now();
        let history = model.fit(&train, &options).expect("fit");
        let seconds = started.elapsed().as_secs_f64();
        let record = history.epochs[0];
        let evaluation = model.evaluate(&test).expect("evaluate");
        eprintln!(
            "{name}: {}: 1 epoch in {seconds:.3} s, loss {:.5}, accuracy {:.5}, \
             test loss {:.5}, test accuracy {:.5}",
            model.device_name(),
            record.loss,
            record.accuracy,
            evaluation.loss,
            evaluation.accuracy
        );
        (record, evaluation)
    };
    let (cpu_epoch, cpu_test) = run(&mut cpu, "cpu");
    let (cuda_epoch, cuda_test) = run(&mut cuda, "cuda");

    let loss_gap = (cpu_epoch.loss - cuda_epoch.loss).abs() / cpu_epoch.loss;
    assert!(
        loss_gap <= LOSS_TOLERANCE,
        "training loss: cpu {} vs cuda {}",
        cpu_epoch.loss,
        cuda_epoch.loss
    );
    assert!(
        (cpu_epoch.accuracy - cuda_epoch.accuracy).abs() <= ACCURACY_TOLERANCE,
        "training accuracy: cpu {} vs cuda {}",
        cpu_epoch.accuracy,
        cuda_epoch.accuracy
    );
    assert!(
        (cpu_test.accuracy - cuda_test.accuracy).abs() <= ACCURACY_TOLERANCE,
        "test accuracy: cpu {} vs cuda {}",
        cpu_test.accuracy,
        cuda_test.accuracy
    );
    let agree = cpu_test
        .predictions
        .iter()
        .zip(&cuda_test.predictions)
        .filter(|(a, b)| a == b)
        .count();
    assert!(
        agree as f32 >= 0.97 * test.len() as f32,
        "only {agree} of {} test predictions agree",
        test.len()
    );
    if real {
        assert!(
            cpu_test.accuracy >= 0.95,
            "cpu test accuracy {}",
            cpu_test.accuracy
        );
        assert!(
            cuda_test.accuracy >= 0.95,
            "cuda test accuracy {}",
            cuda_test.accuracy
        );
    }
}
