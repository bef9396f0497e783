//! The first thing `scripts/gpu-check.sh device` runs on a GPU machine: start the CUDA
//! backend, train two short epochs so that a step graph is captured and then replayed,
//! evaluate, and print one line saying how far it got, which the check copies into its
//! summary:
//!
//! - `cuda start-up: ok: cuda:0 NVIDIA H200 (sm_90 cubin, ...; driver 13.0, NVRTC 13.0,
//!   cuBLAS 13.0.2, cuMemAllocAsync)`, or
//! - `cuda start-up: failed: ... step `module load` failed (...): ...` naming the step
//!   (context, NVRTC, module load, cuBLAS, cuBLAS workspace, first graph capture).
//!
//! Skips with a `SKIPPED` line when no GPU is usable, unless `TINYMLP_REQUIRE_CUDA=1` (set by
//! the check), which makes a skip, a failed step or graphs turned off a failure.

use std::sync::Arc;

use trainer::rng::Rng;
use trainer::{Dataset, Dense, Device, Error, FitOptions, Loss, Metric, Optimizer, Sequential};

fn required() -> bool {
    std::env::var("TINYMLP_REQUIRE_CUDA").is_ok_and(|v| v == "1")
}

/// 512 noisy 8x8 images of 4 classes, each lighting its own quarter.
fn dataset() -> Arc<Dataset> {
    let mut rng = Rng::new(17);
    let (samples, side) = (512, 8);
    let mut images = Vec::with_capacity(samples * side * side);
    let mut labels = Vec::with_capacity(samples);
    for _ in 0..samples {
        let label = rng.below(4);
        for row in 0..side {
            for col in 0..side {
                let quarter = (row / 4) * 2 + col / 4;
                let lit = quarter == label || rng.next_f32() < 0.1;
                images.push(if lit { 200 } else { 0 });
            }
        }
        labels.push(label as u8);
    }
    Arc::new(Dataset::new(images, labels, (side, side), 4).unwrap())
}

fn compiled(device: Device) -> Result<trainer::Model, Error> {
    Sequential::new(64)
        .add(Dense::relu(32))
        .add(Dense::softmax(4))
        .seed(3)
        .device(device)
        .compile(
            Optimizer::default(),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
}

/// Two epochs of 64-sample batches (a graph captured on the first batch, replayed after),
/// then an evaluation; checks that the model learned.
fn train(model: &mut trainer::Model) -> Result<(), Error> {
    let data = dataset();
    let options = FitOptions {
        epochs: 2,
        batch_size: 64,
        verbose: false,
        ..FitOptions::default()
    };
    let history = model.fit(&data, &options)?;
    let evaluation = model.evaluate(&data)?;
    let first = history.epochs.first().expect("two epochs");
    let last = history.epochs.last().expect("two epochs");
    eprintln!(
        "{}: loss {:.4} -> {:.4}, accuracy {:.4}, evaluation accuracy {:.4}",
        model.device_name(),
        first.loss,
        last.loss,
        last.accuracy,
        evaluation.accuracy
    );
    assert!(last.loss.is_finite() && last.loss < first.loss);
    // Chance is 0.25; the CPU reaches about 0.92.
    assert!(evaluation.accuracy > 0.7, "{}", evaluation.accuracy);
    Ok(())
}

#[test]
fn cuda_starts_captures_a_graph_and_trains() {
    let mut model = match compiled(Device::Cuda) {
        Ok(model) => model,
        Err(Error::DeviceUnavailable { reason, .. }) => {
            println!("cuda start-up: failed: CUDA unavailable: {reason}");
            if required() {
                panic!("TINYMLP_REQUIRE_CUDA=1 but CUDA is unavailable: {reason}");
            }
            eprintln!("SKIPPED (no usable CUDA GPU): {reason}");
            return;
        }
        Err(error) => {
            println!("cuda start-up: failed: {error}");
            panic!("the CUDA backend did not start: {error}");
        }
    };
    if let Err(error) = train(&mut model) {
        println!("cuda start-up: failed: training: {error}");
        panic!("training on CUDA failed: {error}");
    }
    let device = model.device_name();
    if device.contains("graphs off") {
        println!("cuda start-up: failed: {device}");
        assert!(!required(), "a graph capture failed: {device}");
    } else {
        println!("cuda start-up: ok: {device}");
    }
}

/// The same run on the CPU: the problem is learnable in two epochs, so a CUDA failure of
/// [`train`]'s checks is the GPU's.
#[test]
fn the_same_run_learns_on_the_cpu() {
    let mut model = compiled(Device::Cpu).expect("CPU model");
    train(&mut model).expect("CPU training");
}
