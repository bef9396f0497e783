//! The Keras MNIST tutorial in Rust: `cargo run -p trainer --release --example mnist`.

use trainer::{data, Dense, FitOptions, Loss, Metric, Optimizer, Sequential};

fn main() -> trainer::Result<()> {
    let (train, test) = data::mnist("data/mnist")?; // downloaded there if missing
    let mut model = Sequential::new(28 * 28)
        .add(Dense::relu(512))
        .add(Dense::softmax(10))
        .compile(
            Optimizer::default(),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )?;
    model.fit(
        &train,
        &FitOptions {
            epochs: 5,
            batch_size: 128,
            ..Default::default()
        },
    )?;
    let result = model.evaluate(&test)?;
    println!(
        "test accuracy: {:.4}, loss: {:.4}",
        result.accuracy, result.loss
    );
    model.export_int8("out/example/mnist-int8.tmlp", &train)?;
    Ok(())
}
