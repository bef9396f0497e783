//! One test body per backend operation, instantiated for the CPU and the CUDA backend by
//! `test_device!` (candle's pattern), so both answer to the same checks against plain host
//! arithmetic: the forward pass and loss, the gradient, every optimizer's update, a whole
//! fit, stopping, and errors.
//!
//! The CUDA instances skip with a printed `SKIPPED` line when no GPU is usable, unless
//! `TINYMLP_REQUIRE_CUDA=1` (set by `scripts/gpu-check.sh`), which turns a skip into a
//! failure.

use std::ops::ControlFlow;
use std::sync::Arc;

use trainer::backend::{self, Backend, BatchProgress, EpochPlan, EpochStats};
use trainer::network::optimizer::{Adagrad, Adam, RmsProp, Sgd};
use trainer::network::reference::loss_and_gradient as reference_loss_and_gradient;
use trainer::rng::Rng;
use trainer::{
    Dataset, Dense, Device, Error, FitOptions, Loss, Metric, Optimizer, Parameters, Sequential,
};

/// Largest difference allowed between a backend's parameters and the host's after a few
/// steps: `ABS + REL * |expected|` (products are summed in another order on each device).
const ABS: f32 = 1e-5;
const REL: f32 = 1e-3;

/// The backend for `device`, or `None` (with a printed reason) when CUDA is not usable here.
fn backend(device: Device) -> Option<Box<dyn Backend>> {
    match backend::create(device) {
        Ok((backend, _note)) => Some(backend),
        Err(Error::DeviceUnavailable { reason, .. }) if device == Device::Cuda => {
            if std::env::var("TINYMLP_REQUIRE_CUDA").is_ok_and(|v| v == "1") {
                panic!("TINYMLP_REQUIRE_CUDA=1 but CUDA is unavailable: {reason}");
            }
            eprintln!("SKIPPED (no usable CUDA GPU): {reason}");
            None
        }
        Err(error) => panic!("{device:?} backend: {error}"),
    }
}

/// Instantiates `$body(backend)` once per backend, as candle's `test_device!` does.
macro_rules! test_device {
    ($body:ident, $cpu:ident, $cuda:ident) => {
        #[test]
        fn $cpu() {
            if let Some(backend) = backend(Device::Cpu) {
                $body(backend);
            }
        }

        #[test]
        fn $cuda() {
            if let Some(backend) = backend(Device::Cuda) {
                $body(backend);
            }
        }
    };
}

/// Side of the synthetic square images.
const SIDE: usize = 6;
const PIXELS: usize = SIDE * SIDE;
const CLASSES: usize = 10;

/// Random images (about 80 % zero pixels, as MNIST) with random labels.
fn random_dataset(samples: usize, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let images = (0..samples * PIXELS)
        .map(|_| {
            if rng.next_f32() < 0.8 {
                0
            } else {
                1 + rng.below(255) as u8
            }
        })
        .collect();
    let labels = (0..samples).map(|_| rng.below(CLASSES) as u8).collect();
    Dataset::new(images, labels, (SIDE, SIDE), CLASSES).unwrap()
}

/// A learnable problem: each class has a prototype image; samples are their prototype with
/// a few pixels dropped and a few added.
fn prototype_dataset(samples: usize, seed: u64) -> Dataset {
    // The prototypes are the same for every dataset (training and test share classes).
    let mut prototype_rng = Rng::new(40);
    let mut rng = Rng::new(seed);
    let prototypes: Vec<Vec<u8>> = (0..CLASSES)
        .map(|_| {
            (0..PIXELS)
                .map(|_| {
                    if prototype_rng.next_f32() < 0.3 {
                        255
                    } else {
                        0
                    }
                })
                .collect()
        })
        .collect();
    let mut images = Vec::with_capacity(samples * PIXELS);
    let mut labels = Vec::with_capacity(samples);
    for _ in 0..samples {
        let label = rng.below(CLASSES);
        for &p in &prototypes[label] {
            let noise = rng.next_f32();
            images.push(if noise < 0.1 {
                0
            } else if noise > 0.95 {
                128
            } else {
                p
            });
        }
        labels.push(label as u8);
    }
    Dataset::new(images, labels, (SIDE, SIDE), CLASSES).unwrap()
}

/// Glorot-uniform parameters with small random (non-zero) biases.
fn random_parameters(sizes: &[usize], seed: u64) -> Parameters {
    let mut rng = Rng::new(seed);
    let mut parameters = Parameters::glorot_uniform(sizes, &mut rng);
    for layer in &mut parameters.layers {
        layer
            .bias
            .iter_mut()
            .for_each(|b| *b = rng.uniform(-0.1, 0.1));
    }
    parameters
}

fn inputs(data: &Dataset, samples: &[u32]) -> Vec<Vec<f32>> {
    samples
        .iter()
        .map(|&i| trainer::data::InputTransform::pixels(SIDE, SIDE).sample(data, i as usize))
        .collect()
}

fn labels(data: &Dataset, samples: &[u32]) -> Vec<u8> {
    samples.iter().map(|&i| data.labels[i as usize]).collect()
}

fn assert_parameters_close(actual: &Parameters, expected: &Parameters, what: &str) {
    assert_eq!(actual.sizes(), expected.sizes(), "{what}: shapes");
    let mut worst = (0.0f32, 0usize, 0usize);
    for (l, (a, e)) in actual.layers.iter().zip(&expected.layers).enumerate() {
        let pairs = a
            .weights
            .iter()
            .zip(&e.weights)
            .chain(a.bias.iter().zip(&e.bias));
        for (i, (&x, &y)) in pairs.enumerate() {
            assert!(x.is_finite(), "{what}: layer {l} value {i} is {x}");
            let excess = (x - y).abs() - (ABS + REL * y.abs());
            if excess > worst.0 {
                worst = (excess, l, i);
            }
        }
    }
    assert!(
        worst.0 <= 0.0,
        "{what}: layer {} value {} off by {} beyond the tolerance",
        worst.1,
        worst.2,
        worst.0
    );
}

/// Runs one epoch, recording every progress report.
fn epoch(
    backend: &mut dyn Backend,
    dataset: backend::DatasetId,
    order: &[u32],
    batch_size: usize,
    number: usize,
) -> (EpochStats, Vec<BatchProgress>) {
    let mut reports = Vec::new();
    let mut progress = |p: BatchProgress| {
        reports.push(p);
        ControlFlow::Continue(())
    };
    let plan = EpochPlan {
        epoch: number,
        dataset,
        order,
        batch_size,
    };
    let stats = backend
        .train_epoch(plan, &mut progress)
        .expect("train_epoch");
    (stats, reports)
}

fn parameters_round_trip(mut backend: Box<dyn Backend>) {
    for sizes in [vec![PIXELS, 16, CLASSES], vec![PIXELS, 16, 12, CLASSES]] {
        let parameters = random_parameters(&sizes, 3);
        backend
            .set_parameters(&parameters, &Optimizer::default())
            .expect("set_parameters");
        let back = backend.parameters().expect("parameters");
        assert_eq!(back, parameters, "parameters must come back bit for bit");
    }
}
test_device!(
    parameters_round_trip,
    parameters_round_trip_cpu,
    parameters_round_trip_cuda
);

fn evaluate_matches_host(mut backend: Box<dyn Backend>) {
    // More samples than one evaluation block of either backend, not a multiple of it.
    let data = Arc::new(random_dataset(2500, 11));
    let parameters = random_parameters(&[PIXELS, 24, CLASSES], 12);
    let id = backend.load_dataset(&data).expect("load_dataset");
    backend
        .set_parameters(&parameters, &Optimizer::default())
        .expect("set_parameters");
    let evaluation = backend.evaluate(id).expect("evaluate");

    let all: Vec<u32> = (0..data.len() as u32).collect();
    let xs = inputs(&data, &all);
    let mut loss = 0.0f64;
    let mut correct = 0;
    let mut compared = 0;
    assert_eq!(evaluation.predictions.len(), data.len());
    for (i, x) in xs.iter().enumerate() {
        let logits = parameters.logits(x);
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = logits.iter().map(|&z| f64::from(z - max).exp()).sum();
        let label = usize::from(data.labels[i]);
        loss += sum.ln() - f64::from(logits[label] - max);
        let mut sorted = logits.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let best = logits.iter().position(|&z| z == max).expect("a maximum");
        correct += usize::from(best == label);
        // A near tie may go either way on another summation order.
        if sorted[0] - sorted[1] > 1e-4 {
            compared += 1;
            assert_eq!(
                usize::from(evaluation.predictions[i]),
                best,
                "prediction of sample {i}"
            );
        }
    }
    assert!(compared > 2400, "only {compared} clear predictions");
    let loss = loss / data.len() as f64;
    assert!(
        (f64::from(evaluation.loss) - loss).abs() <= 1e-5 * loss.abs().max(1.0),
        "loss {} vs host {loss}",
        evaluation.loss
    );
    let accuracy = correct as f32 / data.len() as f32;
    assert!(
        (evaluation.accuracy - accuracy).abs()
            <= (data.len() - compared) as f32 / data.len() as f32,
        "accuracy {} vs host {accuracy}",
        evaluation.accuracy
    );
}
test_device!(
    evaluate_matches_host,
    evaluate_matches_host_cpu,
    evaluate_matches_host_cuda
);

fn sgd_step_applies_the_reference_gradient(mut backend: Box<dyn Backend>) {
    let data = Arc::new(random_dataset(200, 21));
    let id = backend.load_dataset(&data).expect("load_dataset");
    for sizes in [vec![PIXELS, 16, CLASSES], vec![PIXELS, 20, 12, CLASSES]] {
        let parameters = random_parameters(&sizes, 22);
        // Plain SGD with learning rate 1: the change of every parameter is its gradient.
        let sgd = Optimizer::Sgd(Sgd {
            learning_rate: 1.0,
            momentum: 0.0,
            nesterov: false,
        });
        backend.set_parameters(&parameters, &sgd).expect("set");
        let mut order: Vec<u32> = (0..data.len() as u32).collect();
        Rng::new(23).shuffle(&mut order);
        let (stats, _) = epoch(backend.as_mut(), id, &order, order.len(), 1);
        assert_eq!(stats.batches, 1);
        let after = backend.parameters().expect("parameters");

        let (loss, gradient) = reference_loss_and_gradient(
            &parameters,
            &inputs(&data, &order),
            &labels(&data, &order),
        );
        assert!(
            (f64::from(stats.loss) - loss).abs() <= 1e-5 * loss,
            "batch loss {} vs host {loss}",
            stats.loss
        );
        let mut expected = parameters.clone();
        for (e, g) in expected.layers.iter_mut().zip(&gradient.layers) {
            e.weights
                .iter_mut()
                .zip(&g.weights)
                .for_each(|(w, g)| *w -= g);
            e.bias.iter_mut().zip(&g.bias).for_each(|(b, g)| *b -= g);
        }
        assert_parameters_close(&after, &expected, &format!("{sizes:?} after one SGD step"));
    }
}
test_device!(
    sgd_step_applies_the_reference_gradient,
    sgd_step_applies_the_reference_gradient_cpu,
    sgd_step_applies_the_reference_gradient_cuda
);

/// The optimizers under test, with settings that exercise every slot and branch.
fn optimizers() -> Vec<Optimizer> {
    vec![
        Optimizer::RmsProp(RmsProp::default()),
        Optimizer::RmsProp(RmsProp {
            momentum: 0.9,
            ..RmsProp::default()
        }),
        Optimizer::Sgd(Sgd {
            learning_rate: 0.1,
            momentum: 0.9,
            nesterov: false,
        }),
        Optimizer::Sgd(Sgd {
            learning_rate: 0.1,
            momentum: 0.9,
            nesterov: true,
        }),
        Optimizer::Adam(Adam::default()),
        Optimizer::Adagrad(Adagrad {
            learning_rate: 0.05,
            ..Adagrad::default()
        }),
    ]
}

/// One layer's optimizer slots: a vector per slot for the weights, and one for the bias.
type LayerSlots = (Vec<Vec<f32>>, Vec<Vec<f32>>);

/// Host simulation of `epochs` epochs over `order` with the public update formulas.
fn host_training(
    parameters: &Parameters,
    optimizer: &Optimizer,
    data: &Dataset,
    order: &[u32],
    batch_size: usize,
    epochs: usize,
) -> Parameters {
    let mut current = parameters.clone();
    let fill = |slot: usize, len: usize| vec![optimizer.initial_slot_value(slot); len];
    // Per layer: weight slots and bias slots.
    let mut slots: Vec<LayerSlots> = current
        .layers
        .iter()
        .map(|l| {
            (
                (0..optimizer.slots())
                    .map(|s| fill(s, l.weights.len()))
                    .collect(),
                (0..optimizer.slots())
                    .map(|s| fill(s, l.bias.len()))
                    .collect(),
            )
        })
        .collect();
    let mut step = 0u64;
    for _ in 0..epochs {
        for batch in order.chunks(batch_size) {
            step += 1;
            let (_, gradient) =
                reference_loss_and_gradient(&current, &inputs(data, batch), &labels(data, batch));
            let scalars = optimizer.step_scalars(step);
            for ((layer, g), (weight_slots, bias_slots)) in current
                .layers
                .iter_mut()
                .zip(&gradient.layers)
                .zip(&mut slots)
            {
                let mut views: Vec<&mut [f32]> =
                    weight_slots.iter_mut().map(|s| s.as_mut_slice()).collect();
                optimizer.update(scalars, &mut layer.weights, &g.weights, &mut views);
                let mut views: Vec<&mut [f32]> =
                    bias_slots.iter_mut().map(|s| s.as_mut_slice()).collect();
                optimizer.update(scalars, &mut layer.bias, &g.bias, &mut views);
            }
        }
    }
    current
}

fn optimizers_follow_the_host_formulas(mut backend: Box<dyn Backend>) {
    let data = Arc::new(random_dataset(128, 31));
    let id = backend.load_dataset(&data).expect("load_dataset");
    let parameters = random_parameters(&[PIXELS, 16, CLASSES], 32);
    let mut order: Vec<u32> = (0..data.len() as u32).collect();
    Rng::new(33).shuffle(&mut order);
    // Two full batches per epoch, two epochs: on CUDA the first batch runs directly and is
    // captured, the other three replay the graph (Adam's step keeps counting across epochs).
    let batch_size = 64;
    for optimizer in optimizers() {
        backend
            .set_parameters(&parameters, &optimizer)
            .expect("set");
        for number in 1..=2 {
            let (stats, _) = epoch(backend.as_mut(), id, &order, batch_size, number);
            assert_eq!(stats.batches, 2);
        }
        let after = backend.parameters().expect("parameters");
        let expected = host_training(&parameters, &optimizer, &data, &order, batch_size, 2);
        assert_parameters_close(&after, &expected, &format!("{optimizer:?}"));
        assert_ne!(after, parameters, "{optimizer:?} changed nothing");
    }
}
test_device!(
    optimizers_follow_the_host_formulas,
    optimizers_follow_the_host_formulas_cpu,
    optimizers_follow_the_host_formulas_cuda
);

fn fit_learns_a_synthetic_problem(mut backend: Box<dyn Backend>) {
    let train = Arc::new(prototype_dataset(2000, 41));
    let test = Arc::new(prototype_dataset(500, 42));
    let train_id = backend.load_dataset(&train).expect("load train");
    let test_id = backend.load_dataset(&test).expect("load test");
    let parameters = random_parameters(&[PIXELS, 32, CLASSES], 43);
    backend
        .set_parameters(&parameters, &Optimizer::default())
        .expect("set");
    let before = backend.evaluate(test_id).expect("evaluate before");
    let mut order: Vec<u32> = (0..train.len() as u32).collect();
    let mut rng = Rng::new(44);
    // 2000 = 62 * 32 + 16: every epoch ends on a short batch.
    let batch_size = 32;
    let batches = train.len().div_ceil(batch_size);
    let mut last = None;
    for number in 1..=8 {
        rng.shuffle(&mut order);
        let (stats, reports) = epoch(backend.as_mut(), train_id, &order, batch_size, number);
        assert_eq!(stats.batches, batches);
        assert!(!stats.stopped);
        let final_report = reports.last().expect("at least one progress report");
        assert_eq!(final_report.batch, batches);
        assert_eq!(final_report.batches, batches);
        assert!((final_report.loss - stats.loss).abs() <= 1e-6 * stats.loss.max(1.0));
        last = Some(stats);
    }
    let last = last.expect("trained");
    let after = backend.evaluate(test_id).expect("evaluate after");
    assert!(last.accuracy > 0.95, "training accuracy {}", last.accuracy);
    assert!(after.accuracy > 0.95, "test accuracy {}", after.accuracy);
    assert!(
        after.loss < before.loss / 4.0,
        "loss {} -> {}",
        before.loss,
        after.loss
    );
    let correct = after
        .predictions
        .iter()
        .zip(&test.labels)
        .filter(|(p, l)| p == l)
        .count();
    assert_eq!(correct as f32 / test.len() as f32, after.accuracy);
}
test_device!(
    fit_learns_a_synthetic_problem,
    fit_learns_a_synthetic_problem_cpu,
    fit_learns_a_synthetic_problem_cuda
);

/// Features holding the values the model reads of `data`'s pixels (`p / 255`).
fn as_features(data: &Dataset) -> Dataset {
    let values = (0..data.len())
        .flat_map(|i| trainer::data::InputTransform::pixels(SIDE, SIDE).sample(data, i))
        .collect();
    let columns = (0..data.width()).map(|j| j.to_string()).collect();
    Dataset::from_features(values, columns, data.labels.clone(), data.classes).expect("features")
}

fn features_train_like_the_same_values_as_pixels(mut backend: Box<dyn Backend>) {
    // The f32 upload path against the u8 one: the same values, the same training. The
    // CPU backend gives the same bits; every backend stays within the tolerance.
    let pixels = Arc::new(prototype_dataset(600, 51));
    let features = Arc::new(as_features(&pixels));
    let start = random_parameters(&[PIXELS, 32, CLASSES], 52);
    let mut trained = Vec::new();
    for data in [&pixels, &features] {
        let id = backend.load_dataset(data).expect("load");
        backend
            .set_parameters(&start, &Optimizer::default())
            .expect("set");
        let mut order: Vec<u32> = (0..data.len() as u32).collect();
        let mut rng = Rng::new(53);
        for number in 1..=3 {
            rng.shuffle(&mut order);
            epoch(backend.as_mut(), id, &order, 32, number);
        }
        let evaluation = backend.evaluate(id).expect("evaluate");
        trained.push((backend.parameters().expect("parameters"), evaluation));
    }
    let (from_pixels, pixel_figures) = &trained[0];
    let (from_features, feature_figures) = &trained[1];
    assert_parameters_close(from_features, from_pixels, "features vs pixels");
    assert_eq!(pixel_figures.predictions, feature_figures.predictions);
    eprintln!(
        "{}: features and pixels train to {} parameters",
        backend.device_name(),
        if from_features == from_pixels {
            "the same"
        } else {
            "close"
        }
    );
    if backend.device_name().starts_with("cpu") {
        assert_eq!(from_features, from_pixels);
    }
}
test_device!(
    features_train_like_the_same_values_as_pixels,
    features_train_like_the_same_values_as_pixels_cpu,
    features_train_like_the_same_values_as_pixels_cuda
);

fn standardized_features_of_very_different_ranges_fit(backend: Box<dyn Backend>) {
    // Through the Keras-like API on this backend: one feature in thousandths, one in
    // thousands, one of noise in millions; the model standardizes them on the training set.
    let sample = |rng: &mut Rng| -> ([f32; 3], u8) {
        loop {
            let (tiny, huge) = (rng.uniform(-1e-3, 1e-3), rng.uniform(0.0, 1e4));
            if tiny.abs() > 1e-4 && (huge - 5e3).abs() > 500.0 {
                let class = u8::from(tiny > 0.0) * 2 + u8::from(huge > 5e3);
                return ([tiny, huge, rng.uniform(-3e6, 3e6)], class);
            }
        }
    };
    let set = |count: usize, seed: u64| {
        let mut rng = Rng::new(seed);
        let rows: Vec<([f32; 3], u8)> = (0..count).map(|_| sample(&mut rng)).collect();
        let columns = ["tiny", "huge", "noise"].map(String::from).to_vec();
        let values = rows.iter().flat_map(|(f, _)| *f).collect();
        let labels = rows.iter().map(|(_, c)| *c).collect();
        Arc::new(Dataset::from_features(values, columns, labels, 4).expect("features"))
    };
    let (train, test) = (set(1000, 61), set(400, 62));
    let mut model = Sequential::new(3)
        .add(Dense::relu(32))
        .add(Dense::softmax(4))
        .seed(63)
        .compile_with(
            backend,
            String::new(),
            Optimizer::default(),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .expect("compile");
    let options = FitOptions {
        epochs: 12,
        batch_size: 32,
        verbose: false,
        ..FitOptions::default()
    };
    model.fit(&train, &options).expect("fit");
    let accuracy = model.evaluate(&test).expect("evaluate").accuracy;
    assert!(accuracy >= 0.97, "test accuracy {accuracy}");
}
test_device!(
    standardized_features_of_very_different_ranges_fit,
    standardized_features_of_very_different_ranges_fit_cpu,
    standardized_features_of_very_different_ranges_fit_cuda
);

fn stop_request_ends_the_epoch_early(mut backend: Box<dyn Backend>) {
    let data = Arc::new(random_dataset(2000, 51));
    let id = backend.load_dataset(&data).expect("load");
    let parameters = random_parameters(&[PIXELS, 16, CLASSES], 52);
    backend
        .set_parameters(&parameters, &Optimizer::default())
        .expect("set");
    let order: Vec<u32> = (0..data.len() as u32).collect();
    let batches = order.len().div_ceil(16);
    let mut calls = 0;
    let mut progress = |_: BatchProgress| {
        calls += 1;
        ControlFlow::Break(())
    };
    let plan = EpochPlan {
        epoch: 1,
        dataset: id,
        order: &order,
        batch_size: 16,
    };
    let stats = backend.train_epoch(plan, &mut progress).expect("train");
    assert_eq!(calls, 1, "no progress call after a stop request");
    assert!(stats.stopped);
    assert!(
        stats.batches >= 1 && stats.batches < batches,
        "{} batches",
        stats.batches
    );
    assert_ne!(backend.parameters().expect("parameters"), parameters);
}
test_device!(
    stop_request_ends_the_epoch_early,
    stop_request_ends_the_epoch_early_cpu,
    stop_request_ends_the_epoch_early_cuda
);

fn non_finite_loss_names_epoch_and_batch(mut backend: Box<dyn Backend>) {
    let data = Arc::new(random_dataset(300, 61));
    let id = backend.load_dataset(&data).expect("load");
    let mut parameters = random_parameters(&[PIXELS, 16, CLASSES], 62);
    parameters.layers[1].bias[3] = f32::NAN;
    backend
        .set_parameters(&parameters, &Optimizer::default())
        .expect("set");
    let order: Vec<u32> = (0..data.len() as u32).collect();
    let plan = EpochPlan {
        epoch: 7,
        dataset: id,
        order: &order,
        batch_size: 32,
    };
    let result = backend.train_epoch(plan, &mut |_| ControlFlow::Continue(()));
    match result {
        Err(Error::NonFiniteLoss { epoch, batch, loss }) => {
            assert_eq!((epoch, batch), (7, 1));
            assert!(!loss.is_finite());
        }
        other => panic!("expected a non-finite loss error, got {other:?}"),
    }
}
test_device!(
    non_finite_loss_names_epoch_and_batch,
    non_finite_loss_names_epoch_and_batch_cpu,
    non_finite_loss_names_epoch_and_batch_cuda
);

/// Bad requests are refused by the host with the same words whatever the device, before
/// the backend sees them (backends trust their input).
fn bad_requests_are_errors(backend: Box<dyn Backend>) {
    let data = Arc::new(random_dataset(50, 71));
    let compile = |backend: Box<dyn Backend>, inputs: usize, classes: usize| {
        Sequential::new(inputs)
            .add(Dense::relu(8))
            .add(Dense::softmax(classes))
            .compile_with(
                backend,
                String::new(),
                Optimizer::default(),
                Loss::CategoricalCrossentropy,
                &[Metric::Accuracy],
            )
            .expect("compile")
    };
    // A model whose input width is not the data's.
    let mut model = compile(backend, PIXELS + 1, CLASSES);
    let refused = model.evaluate(&data).unwrap_err().to_string();
    assert_eq!(
        refused,
        format!(
            "invalid configuration: the model takes {} inputs but the data has {PIXELS} per sample",
            PIXELS + 1
        )
    );
    // A batch size of zero, and a validation split outside [0, 1).
    for (batch_size, validation_split) in [(0, 0.0), (2, 1.0), (2, -0.5)] {
        let options = FitOptions {
            epochs: 1,
            batch_size,
            validation_split,
            verbose: false,
            ..FitOptions::default()
        };
        let refused = model.fit(&data, &options);
        assert!(matches!(refused, Err(Error::Config(_))), "{refused:?}");
    }
}
test_device!(
    bad_requests_are_errors,
    bad_requests_are_errors_cpu,
    bad_requests_are_errors_cuda
);
