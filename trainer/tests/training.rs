//! Training on the CPU backend: gradients by finite differences, a synthetic problem to
//! near 100 %, every optimizer making progress, and a diverging run stopped with a clear
//! error.

mod common;

use std::ops::ControlFlow;
use std::sync::Arc;

use trainer::backend::cpu::CpuBackend;
use trainer::backend::{Backend, EpochPlan};
use trainer::data::PIXEL_SCALE;
use trainer::network::optimizer::{Optimizer, Sgd};
use trainer::network::reference::loss_and_gradient;
use trainer::rng::Rng;
use trainer::{Dataset, Dense, Error, FitOptions, Loss, Metric, Parameters, Sequential};

/// Mean categorical cross-entropy in f64, straight from the definition.
fn loss_f64(parameters: &Parameters, data: &Dataset) -> f64 {
    let last = parameters.layers.len() - 1;
    let mut total = 0.0;
    for i in 0..data.len() {
        let mut x: Vec<f64> = data
            .image(i)
            .unwrap()
            .iter()
            .map(|&p| f64::from(p) * f64::from(PIXEL_SCALE))
            .collect();
        for (l, layer) in parameters.layers.iter().enumerate() {
            let mut out: Vec<f64> = layer.bias.iter().map(|&b| f64::from(b)).collect();
            for (j, &xj) in x.iter().enumerate() {
                for (k, o) in out.iter_mut().enumerate() {
                    *o += xj * f64::from(layer.weights[j * layer.outputs + k]);
                }
            }
            if l != last {
                out.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            x = out;
        }
        let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = x.iter().map(|z| (z - max).exp()).sum();
        total += sum.ln() - (x[usize::from(data.labels[i])] - max);
    }
    total / data.len() as f64
}

/// The gradient the CPU backend applies, read back from one plain SGD step with
/// learning rate 1 over the whole dataset as one batch: `g = w_before - w_after`.
fn backend_gradient(parameters: &Parameters, data: &Arc<Dataset>) -> Parameters {
    let mut backend = CpuBackend::new().unwrap();
    let id = backend.load_dataset(data).unwrap();
    let sgd = Optimizer::Sgd(Sgd {
        learning_rate: 1.0,
        ..Sgd::default()
    });
    backend.set_parameters(parameters, &sgd).unwrap();
    let order: Vec<u32> = (0..data.len() as u32).collect();
    let plan = EpochPlan {
        epoch: 1,
        dataset: id,
        order: &order,
        batch_size: data.len(),
    };
    backend
        .train_epoch(plan, &mut |_| ControlFlow::Continue(()))
        .unwrap();
    let after = backend.parameters().unwrap();
    let mut gradient = parameters.clone();
    for (g, (before, after)) in gradient
        .layers
        .iter_mut()
        .zip(parameters.layers.iter().zip(&after.layers))
    {
        for (v, (b, a)) in g
            .weights
            .iter_mut()
            .zip(before.weights.iter().zip(&after.weights))
        {
            *v = b - a;
        }
        for (v, (b, a)) in g.bias.iter_mut().zip(before.bias.iter().zip(&after.bias)) {
            *v = b - a;
        }
    }
    gradient
}

#[test]
fn gradients_match_finite_differences() {
    // Two hidden layers, so the check covers the sparse first layer, a dense hidden layer
    // and the softmax output.
    let data = Arc::new(common::synthetic(24, 5, 1));
    let mut rng = Rng::new(7);
    let mut parameters = Parameters::glorot_uniform(&[64, 12, 9, 5], &mut rng);
    // Non-zero biases so every term of the gradient is exercised.
    for layer in &mut parameters.layers {
        layer
            .bias
            .iter_mut()
            .for_each(|b| *b = rng.uniform(-0.1, 0.1));
    }
    let gradient = backend_gradient(&parameters, &data);
    // The backend's sparse, threaded gradient equals the plain dense reference...
    let images: Vec<Vec<f32>> = (0..data.len()).map(|i| common::scaled(&data, i)).collect();
    let (_, reference) = loss_and_gradient(&parameters, &images, &data.labels);
    common::assert_parameters_close(&gradient, &reference, 1e-6, "backend vs reference");
    // ...and both equal finite differences of the loss. The step is small enough that no
    // ReLU input crosses zero for these seeds (1e-3 does cross one).
    let step = 1e-4f32;
    let mut checked = 0;
    for l in 0..parameters.layers.len() {
        let count = parameters.layers[l].weights.len();
        // Every 7th weight and every bias: enough to catch a wrong index anywhere.
        let weights = (0..count).step_by(7).map(|i| (true, i));
        let biases = (0..parameters.layers[l].bias.len()).map(|i| (false, i));
        for (is_weight, i) in weights.chain(biases) {
            fn value(p: &mut Parameters, l: usize, is_weight: bool, i: usize) -> &mut f32 {
                if is_weight {
                    &mut p.layers[l].weights[i]
                } else {
                    &mut p.layers[l].bias[i]
                }
            }
            let mut plus = parameters.clone();
            *value(&mut plus, l, is_weight, i) += step;
            let mut minus = parameters.clone();
            *value(&mut minus, l, is_weight, i) -= step;
            let numeric =
                (loss_f64(&plus, &data) - loss_f64(&minus, &data)) / (2.0 * f64::from(step));
            let analytic = f64::from(if is_weight {
                gradient.layers[l].weights[i]
            } else {
                gradient.layers[l].bias[i]
            });
            assert!(
                (numeric - analytic).abs() <= 2e-4 + 2e-2 * numeric.abs(),
                "layer {l} {} {i}: finite difference {numeric}, backend {analytic}",
                if is_weight { "weight" } else { "bias" }
            );
            checked += 1;
        }
    }
    assert!(checked > 100);
}

#[test]
fn synthetic_problem_trains_to_near_100_percent() {
    let train = Arc::new(common::synthetic(3000, 8, 2));
    let test = Arc::new(common::synthetic(500, 8, 3));
    let mut model = common::compile_cpu(64, &[Dense::relu(32), Dense::softmax(8)], 5);
    let options = common::quiet_fit(8, 32);
    let history = model.fit(&train, &options).unwrap();
    assert_eq!(history.epochs.len(), 8);
    let first = history.epochs[0];
    let last = history.epochs[7];
    assert!(last.loss < first.loss / 4.0, "{first:?} -> {last:?}");
    let evaluation = model.evaluate(&test).unwrap();
    assert!(
        evaluation.accuracy >= 0.99,
        "test accuracy {}",
        evaluation.accuracy
    );
    // predict agrees with evaluate.
    let probabilities = model.predict(&test).unwrap();
    for (p, &class) in probabilities.iter().zip(&evaluation.predictions).take(50) {
        let best = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
        assert_eq!(best, usize::from(class));
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }
}

#[test]
fn every_optimizer_learns_and_seeds_reproduce() {
    let train = Arc::new(common::synthetic(1000, 4, 4));
    let optimizers = [
        Optimizer::from_name("rmsprop", None).unwrap(),
        Optimizer::Sgd(Sgd {
            learning_rate: 0.1,
            momentum: 0.9,
            nesterov: true,
        }),
        Optimizer::from_name("adam", Some(0.01)).unwrap(),
        Optimizer::from_name("adagrad", Some(0.05)).unwrap(),
    ];
    for optimizer in optimizers {
        let fit = || {
            let mut model = Sequential::new(64)
                .seed(9)
                .device(trainer::Device::Cpu)
                .add(Dense::relu(16))
                .add(Dense::softmax(4))
                .compile(
                    optimizer,
                    Loss::CategoricalCrossentropy,
                    &[Metric::Accuracy],
                )
                .unwrap();
            let options = FitOptions {
                epochs: 3,
                batch_size: 50,
                validation_split: 0.2,
                verbose: false,
                ..FitOptions::default()
            };
            model.fit(&train, &options).unwrap()
        };
        let history = fit();
        let last = history.epochs.last().unwrap();
        assert!(
            last.val_accuracy.unwrap() > 0.9,
            "{optimizer:?}: {:?}",
            history.epochs
        );
        // The same seed gives the same run, to the bit.
        assert_eq!(fit().epochs.last().unwrap().loss, last.loss);
    }
}

#[test]
fn diverging_training_names_epoch_and_batch() {
    let train = Arc::new(common::synthetic(600, 4, 6));
    let huge = Optimizer::Sgd(Sgd {
        learning_rate: 1e30,
        ..Sgd::default()
    });
    let mut model = Sequential::new(64)
        .device(trainer::Device::Cpu)
        .add(Dense::relu(16))
        .add(Dense::softmax(4))
        .compile(huge, Loss::CategoricalCrossentropy, &[Metric::Accuracy])
        .unwrap();
    let options = FitOptions {
        epochs: 3,
        batch_size: 20,
        verbose: false,
        ..FitOptions::default()
    };
    match model.fit(&train, &options) {
        Err(Error::NonFiniteLoss { epoch, batch, loss }) => {
            assert_eq!(epoch, 1);
            assert!(batch >= 2, "the first batch runs on finite initial weights");
            assert!(!loss.is_finite());
            let message = Error::NonFiniteLoss { epoch, batch, loss }.to_string();
            assert!(
                message.contains(&format!("epoch {epoch}, batch {batch}")),
                "{message}"
            );
        }
        other => panic!("expected a non-finite loss error, got {other:?}"),
    }
}

#[test]
fn stop_flag_interrupts_fit() {
    let train = Arc::new(common::synthetic(600, 4, 8));
    let mut model = Sequential::new(64)
        .device(trainer::Device::Cpu)
        .add(Dense::relu(8))
        .add(Dense::softmax(4))
        .compile(Optimizer::default(), Loss::CategoricalCrossentropy, &[])
        .unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let options = FitOptions {
        epochs: 2,
        batch_size: 10,
        verbose: false,
        stop: Some(stop),
        ..FitOptions::default()
    };
    let history = model.fit(&train, &options).unwrap();
    assert!(history.interrupted);
    assert!(history.epochs.is_empty());
}

#[test]
fn cuda_device_is_an_error_or_works_never_a_panic() {
    match trainer::backend::create(trainer::Device::Cuda) {
        Ok((backend, note)) => eprintln!("CUDA present: {} ({note})", backend.device_name()),
        Err(e) => assert!(e.to_string().contains("not available"), "{e}"),
    }
    let (backend, note) = trainer::backend::create(trainer::Device::Auto).unwrap();
    assert!(note.contains(&backend.device_name()), "{note}");
}

/// Trains `sizes` for two epochs on `threads` threads; returns the parameters, the epoch
/// losses and the test evaluation.
fn train_with_threads(
    sizes: &[usize],
    optimizer: Optimizer,
    threads: usize,
) -> (Parameters, Vec<f32>, trainer::backend::Evaluation) {
    let train = Arc::new(common::synthetic(300, 5, 11));
    let test = Arc::new(common::synthetic(100, 5, 12));
    let mut backend = CpuBackend::with_threads(threads).unwrap();
    let train_id = backend.load_dataset(&train).unwrap();
    let test_id = backend.load_dataset(&test).unwrap();
    let parameters = Parameters::glorot_uniform(sizes, &mut Rng::new(5));
    backend.set_parameters(&parameters, &optimizer).unwrap();
    let mut order: Vec<u32> = (0..train.len() as u32).collect();
    let mut rng = Rng::new(6);
    let mut losses = Vec::new();
    for epoch in 1..=2 {
        rng.shuffle(&mut order);
        let plan = EpochPlan {
            epoch,
            dataset: train_id,
            order: &order,
            // 300 = 4 * 70 + 20: a short last batch.
            batch_size: 70,
        };
        let stats = backend
            .train_epoch(plan, &mut |_| ControlFlow::Continue(()))
            .unwrap();
        losses.push(stats.loss);
    }
    let evaluation = backend.evaluate(test_id).unwrap();
    (backend.parameters().unwrap(), losses, evaluation)
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    // Hidden widths across several chunks of 128 units, not multiples of 16; one, two and
    // three layers; two optimizers (one with two state slots).
    let shapes: [&[usize]; 4] = [&[64, 300, 5], &[64, 200, 7, 5], &[64, 5], &[64, 12, 5]];
    let optimizers = [
        Optimizer::default(),
        Optimizer::from_name("adam", Some(0.01)).unwrap(),
    ];
    for sizes in shapes {
        for optimizer in optimizers {
            let (parameters, losses, evaluation) = train_with_threads(sizes, optimizer, 1);
            assert!(
                losses.iter().all(|l| l.is_finite()),
                "{sizes:?}: {losses:?}"
            );
            for threads in [2, 3, 5] {
                let other = train_with_threads(sizes, optimizer, threads);
                assert_eq!(other.1, losses, "{sizes:?} {optimizer:?} threads {threads}");
                assert_eq!(
                    other.2, evaluation,
                    "{sizes:?} {optimizer:?} threads {threads}"
                );
                // Bit for bit, every parameter.
                assert!(
                    other.0 == parameters,
                    "{sizes:?} {optimizer:?}: parameters differ with {threads} threads"
                );
            }
        }
    }
}

#[test]
fn gradients_match_the_reference_for_one_and_two_layers() {
    let data = Arc::new(common::synthetic(40, 5, 3));
    let images: Vec<Vec<f32>> = (0..data.len()).map(|i| common::scaled(&data, i)).collect();
    for sizes in [&[64, 5][..], &[64, 300, 5]] {
        let mut rng = Rng::new(8);
        let mut parameters = Parameters::glorot_uniform(sizes, &mut rng);
        for layer in &mut parameters.layers {
            layer
                .bias
                .iter_mut()
                .for_each(|b| *b = rng.uniform(-0.1, 0.1));
        }
        let gradient = backend_gradient(&parameters, &data);
        let (_, reference) = loss_and_gradient(&parameters, &images, &data.labels);
        common::assert_parameters_close(&gradient, &reference, 1e-6, &format!("{sizes:?}"));
    }
}

#[test]
fn skipped_zero_gradient_rows_follow_the_plain_formulas() {
    // Batches of 8 of these 8x8 images leave many pixels zero in the whole batch, some for
    // several batches in a row: the backend defers RMSprop's decay on those rows until
    // their next real update. The plain formulas on whole arrays must give the same.
    let data = Arc::new(common::synthetic(64, 5, 21));
    let images: Vec<Vec<f32>> = (0..data.len()).map(|i| common::scaled(&data, i)).collect();
    let start = Parameters::glorot_uniform(&[64, 20, 5], &mut Rng::new(22));
    let batch_size = 8;
    for optimizer in [
        Optimizer::default(),
        Optimizer::from_name("sgd", Some(0.1)).unwrap(),
    ] {
        let mut backend = CpuBackend::with_threads(2).unwrap();
        let id = backend.load_dataset(&data).unwrap();
        backend.set_parameters(&start, &optimizer).unwrap();
        let mut expected = start.clone();
        let mut slots: Vec<Vec<Vec<f32>>> = expected
            .layers
            .iter()
            .flat_map(|l| [l.weights.len(), l.bias.len()])
            .map(|len| vec![vec![0.0f32; len]; optimizer.slots()])
            .collect();
        let mut order: Vec<u32> = (0..data.len() as u32).collect();
        let mut rng = Rng::new(23);
        let mut step = 0;
        let mut zero_rows = 0;
        for epoch in 1..=3 {
            rng.shuffle(&mut order);
            let plan = EpochPlan {
                epoch,
                dataset: id,
                order: &order,
                batch_size,
            };
            backend
                .train_epoch(plan, &mut |_| ControlFlow::Continue(()))
                .unwrap();
            for batch in order.chunks(batch_size) {
                let batch_images: Vec<Vec<f32>> =
                    batch.iter().map(|&i| images[i as usize].clone()).collect();
                let labels: Vec<u8> = batch.iter().map(|&i| data.labels[i as usize]).collect();
                zero_rows += (0..64)
                    .filter(|&j| batch_images.iter().all(|x| x[j] == 0.0))
                    .count();
                let (_, gradient) = loss_and_gradient(&expected, &batch_images, &labels);
                step += 1;
                let scalars = optimizer.step_scalars(step);
                let arrays =
                    expected
                        .layers
                        .iter_mut()
                        .zip(&gradient.layers)
                        .flat_map(|(layer, grad)| {
                            [
                                (&mut layer.weights, &grad.weights),
                                (&mut layer.bias, &grad.bias),
                            ]
                        });
                for ((values, grad), slots) in arrays.zip(&mut slots) {
                    let mut views: Vec<&mut [f32]> = slots.iter_mut().map(|s| &mut s[..]).collect();
                    optimizer.update(scalars, values, grad, &mut views);
                }
            }
        }
        assert!(
            zero_rows > 100,
            "only {zero_rows} zero rows: the test misses its point"
        );
        let got = backend.parameters().unwrap();
        for (g, e) in got.layers.iter().zip(&expected.layers) {
            for (a, b) in g
                .weights
                .iter()
                .chain(&g.bias)
                .zip(e.weights.iter().chain(&e.bias))
            {
                assert!(
                    (a - b).abs() < 2e-6,
                    "{optimizer:?}: backend {a}, plain {b}"
                );
            }
        }
    }
}

#[test]
fn the_host_refuses_what_no_backend_could_train() {
    let compile = |layers: &[Dense]| {
        layers
            .iter()
            .fold(Sequential::new(64), |s, &l| s.add(l))
            .device(trainer::Device::Cpu)
            .compile(
                Optimizer::default(),
                Loss::CategoricalCrossentropy,
                &[Metric::Accuracy],
            )
    };
    let message = |result: Result<trainer::Model, Error>| result.unwrap_err().to_string();
    assert_eq!(
        message(compile(&[])),
        "invalid configuration: the model has no layers"
    );
    assert_eq!(
        message(compile(&[Dense::softmax(8), Dense::softmax(4)])),
        "invalid configuration: hidden layers must use ReLU"
    );
    assert_eq!(
        message(compile(&[Dense::relu(5000), Dense::softmax(4)])),
        "invalid configuration: layer sizes must be 1..=4096 (the model format's limit), \
         got [64, 5000, 4]"
    );
    // Labels of 8 classes for a model of 4.
    let data = Arc::new(common::synthetic(40, 8, 3));
    let mut model = compile(&[Dense::relu(8), Dense::softmax(4)]).unwrap();
    let first = data.labels.iter().position(|&l| l >= 4).unwrap();
    assert_eq!(
        model.evaluate(&data).unwrap_err().to_string(),
        format!(
            "invalid configuration: label {} of sample {first} does not fit a model with 4 \
             classes",
            data.labels[first]
        )
    );
}
