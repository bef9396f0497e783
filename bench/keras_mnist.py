"""The Keras tutorial's MNIST MLP (Dense 512 ReLU, Dense 10 softmax, RMSprop, batch 128,
5 epochs), timed the way the Rust trainer times its fit. Prints one JSON line."""
import argparse
import json
import time

import mnist_idx

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--data-dir", default="data/mnist")
args = parser.parse_args()

import keras  # noqa: E402

keras.utils.set_random_seed(args.seed)
(train_images, train_labels), (test_images, test_labels) = mnist_idx.load(args.data_dir)
train_images = train_images.astype("float32") / 255
test_images = test_images.astype("float32") / 255
train_labels = keras.utils.to_categorical(train_labels)
test_labels = keras.utils.to_categorical(test_labels)

model = keras.Sequential(
    [
        keras.Input(shape=(784,)),
        keras.layers.Dense(512, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ]
)
model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
start = time.perf_counter()
model.fit(train_images, train_labels, epochs=args.epochs, batch_size=128, verbose=2)
fit_seconds = time.perf_counter() - start
loss, accuracy = model.evaluate(test_images, test_labels, verbose=0)
print(
    json.dumps(
        {
            "framework": f"keras {keras.__version__} ({keras.backend.backend()})",
            "seed": args.seed,
            "fit_seconds": fit_seconds,
            "test_accuracy": accuracy,
            "test_loss": loss,
            "peak_rss_mib": mnist_idx.peak_rss_mib(),
        }
    )
)
