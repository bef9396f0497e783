//! The Keras MNIST tutorial in Rust: `cargo run -p trainer --release --example mnist`.

use trainer::{data, Dense, ExportOptions, FitOptions, Loss, Metric, Optimizer, Sequential};

fn main() -> trainer::Result<()> {
    let (train, test) = data::mnist("data/mnist")?; // downloaded there if missing
    let mut model = Sequential::new(train.width())
        .add(Dense::relu(512))
        .add(Dense::softmax(train.classes))
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
    let blobs = model.export(&train, &ExportOptions::default())?;
    trainer::files::write_atomic("out/example/mnist-int8.tmlp".as_ref(), &blobs.int8)?;
    Ok(())
}
