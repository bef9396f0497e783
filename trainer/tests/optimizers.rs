//! Each optimizer's update against values worked out from Keras 3's formulas
//! (`keras/src/optimizers/{rmsprop,sgd,adam,adagrad}.py`) for w = 1 and the gradients
//! 0.5 then -0.25; the expected numbers were computed by hand (in f64) from those formulas.

use trainer::network::optimizer::{Adagrad, Adam, Optimizer, RmsProp, Sgd};

/// f32 arithmetic against f64 hand values.
const TOLERANCE: f64 = 2e-6;

fn run(optimizer: Optimizer, expected: [f64; 2]) {
    let mut weights = [1.0f32];
    let mut slots: Vec<Vec<f32>> = (0..optimizer.slots())
        .map(|s| vec![optimizer.initial_slot_value(s)])
        .collect();
    for (step, (g, want)) in [0.5f32, -0.25].iter().zip(expected).enumerate() {
        let scalars = optimizer.step_scalars(step as u64 + 1);
        let mut views: Vec<&mut [f32]> = slots.iter_mut().map(|s| &mut s[..]).collect();
        optimizer.update(scalars, &mut weights, &[*g], &mut views);
        let got = f64::from(weights[0]);
        assert!(
            (got - want).abs() < TOLERANCE,
            "{optimizer:?} step {}: got {got}, want {want}",
            step + 1
        );
    }
}

#[test]
fn rmsprop_matches_keras() {
    // v = 0.1 * 0.25 = 0.025; w = 1 - 0.001 * 0.5 / sqrt(0.025 + 1e-7) = 0.99683773
    run(
        Optimizer::RmsProp(RmsProp::default()),
        [0.996_837_728_664_367_9, 0.998_312_145_661_715_7],
    );
}

#[test]
fn rmsprop_with_momentum_matches_keras() {
    let optimizer = Optimizer::RmsProp(RmsProp {
        momentum: 0.5,
        ..RmsProp::default()
    });
    run(
        optimizer,
        [0.996_837_728_664_367_9, 0.996_731_009_993_899_6],
    );
}

#[test]
fn sgd_matches_keras() {
    let plain = Optimizer::Sgd(Sgd {
        learning_rate: 0.1,
        ..Sgd::default()
    });
    run(plain, [0.95, 0.975]);
    let momentum = Optimizer::Sgd(Sgd {
        learning_rate: 0.1,
        momentum: 0.9,
        nesterov: false,
    });
    // m = -0.05, w = 0.95; m = 0.9 * -0.05 + 0.025 = -0.02, w = 0.93
    run(momentum, [0.95, 0.93]);
    let nesterov = Optimizer::Sgd(Sgd {
        learning_rate: 0.1,
        momentum: 0.9,
        nesterov: true,
    });
    // w += 0.9 * m - lr * g: 1 - 0.045 - 0.05 = 0.905; then 0.905 - 0.018 + 0.025 = 0.912
    run(nesterov, [0.905, 0.912]);
}

#[test]
fn adam_matches_keras() {
    // Step 1: alpha = 0.001 * sqrt(0.001) / 0.1; m = 0.05; v = 0.00025; w = 1 - 0.001
    run(
        Optimizer::Adam(Adam::default()),
        [0.999_000_006_324_515_4, 0.998_733_670_792_079_2],
    );
}

#[test]
fn adagrad_matches_keras() {
    // a = 0.1 + 0.25; w = 1 - 0.001 * 0.5 / sqrt(0.35 + 1e-7)
    run(
        Optimizer::Adagrad(Adagrad::default()),
        [0.999_154_845_866_007_8, 0.999_544_095_290_906_8],
    );
}

#[test]
fn names_and_defaults() {
    assert_eq!(
        Optimizer::from_name("rmsprop", None),
        Some(Optimizer::RmsProp(RmsProp::default()))
    );
    assert_eq!(
        Optimizer::from_name("RMSprop", Some(0.01)).map(|o| o.learning_rate()),
        Some(0.01)
    );
    assert_eq!(
        Optimizer::from_name("sgd", None).map(|o| o.learning_rate()),
        Some(0.01)
    );
    assert!(Optimizer::from_name("lion", None).is_none());
}

#[test]
fn zero_gradient_updates_equal_the_full_formula() {
    let optimizers = [
        Optimizer::RmsProp(RmsProp::default()),
        Optimizer::RmsProp(RmsProp {
            momentum: 0.5,
            ..RmsProp::default()
        }),
        Optimizer::Sgd(Sgd::default()),
        Optimizer::Sgd(Sgd {
            momentum: 0.9,
            nesterov: true,
            ..Sgd::default()
        }),
        Optimizer::Adam(Adam::default()),
        Optimizer::Adagrad(Adagrad::default()),
    ];
    let n = 37;
    for optimizer in optimizers {
        // State after a few real steps, then steps with a zero gradient both ways.
        let mut weights: Vec<f32> = (0..n).map(|i| (i as f32 - 18.0) * 0.03).collect();
        let mut slots: Vec<Vec<f32>> = (0..optimizer.slots())
            .map(|s| vec![optimizer.initial_slot_value(s); n])
            .collect();
        let mut step = 0;
        for round in 0..3 {
            step += 1;
            let gradient: Vec<f32> = (0..n)
                .map(|i| ((i * 7 + round) % 11) as f32 * 0.1 - 0.5)
                .collect();
            let mut views: Vec<&mut [f32]> = slots.iter_mut().map(|s| &mut s[..]).collect();
            optimizer.update(
                optimizer.step_scalars(step),
                &mut weights,
                &gradient,
                &mut views,
            );
        }
        let zeros = vec![0.0f32; n];
        let (mut fast_weights, mut fast_slots) = (weights.clone(), slots.clone());
        for _ in 0..3 {
            step += 1;
            let scalars = optimizer.step_scalars(step);
            let mut views: Vec<&mut [f32]> = slots.iter_mut().map(|s| &mut s[..]).collect();
            optimizer.update(scalars, &mut weights, &zeros, &mut views);
            let mut views: Vec<&mut [f32]> = fast_slots.iter_mut().map(|s| &mut s[..]).collect();
            optimizer.update_zero_gradient(scalars, &mut fast_weights, &zeros, &mut views);
        }
        assert_eq!(fast_weights, weights, "{optimizer:?}");
        assert_eq!(fast_slots, slots, "{optimizer:?}");
    }
}
