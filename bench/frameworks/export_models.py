#!/usr/bin/env python3
"""Trains the MNIST MLP in PyTorch and in Keras, exports each model the way a user would, and
writes the frameworks' own probabilities on test images: the inputs of `trainer convert`'s
tests (small models, committed as fixtures) and of its BENCHMARKS figures (the full models).
Not run in CI (nothing in CI needs Python); the fixtures it wrote are committed.

What it writes into --out:
  torch.onnx          PyTorch nn.Sequential(Flatten, Linear, ReLU, Linear), exported by
                      torch.onnx.export (the TorchScript exporter, dynamo=False) from a
                      (1, 1, 28, 28) input: Flatten + Gemm nodes, logits out (the model of
                      the usual CrossEntropyLoss training has no softmax)
  torch-dynamo.onnx   the same model exported by torch.onnx.export's default (dynamo) exporter:
  torch-dynamo.onnx.data  Reshape + Gemm nodes, the weights in the external file beside it
  torch.safetensors   the same model's state_dict (keys 1.weight, 1.bias, 3.weight, 3.bias:
                      nn.Linear weights are (out, in))
  keras.onnx          Keras 3 Sequential(Input(784), Dense relu, Dense softmax), exported by
                      model.export(format="onnx") (tf2onnx): MatMul + Add nodes and a Softmax
  images-idx3-ubyte   the first --samples test images (u8 pixels, IDX, as MNIST's own files)
  labels-idx1-ubyte   their labels
  torch.probs.f32     PyTorch's probabilities (softmax of its logits), samples x 10, f32 LE
  keras.probs.f32     Keras's probabilities (model.predict), samples x 10, f32 LE
  summary.json        each framework's accuracy on those samples, and the settings

Both models read pixels / 255, as bench/'s baselines do. Usage, from the repository root:

  # the test fixtures (784-32-10, 2 epochs, 300 test images; about 550 KB)
  bench-venv/bin/python bench/frameworks/export_models.py --hidden 32 --epochs 2 \
      --samples 300 --out trainer/tests/fixtures/import
  # the full models of BENCHMARKS.md (784-512-10, 5 epochs, bench/'s settings, 10,000 images)
  bench-venv/bin/python bench/frameworks/export_models.py --hidden 512 --epochs 5 \
      --samples 10000 --out out/frameworks

Needs torch, onnxscript (torch's dynamo exporter), keras (TensorFlow backend), tf2onnx, onnx,
safetensors and numpy (the versions measured: torch 2.15, keras 3.15.1, tensorflow 2.21,
tf2onnx 1.17.0, onnxscript 0.7.2, onnx 1.23.2).
"""

import argparse
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import mnist_idx  # noqa: E402


def write_idx(out, count, images, labels):
    with open(os.path.join(out, "images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, count, 28, 28))
        f.write(images[:count].astype(np.uint8).tobytes())
    with open(os.path.join(out, "labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, count))
        f.write(labels[:count].astype(np.uint8).tobytes())


def write_probs(path, probs):
    np.ascontiguousarray(probs, dtype="<f4").tofile(path)


def torch_model(args, train, test):
    """bench/torch_mnist.py's model and training (RMSprop, batch 128, Glorot), with the
    Flatten a model taking images has, and its softmax left to the loss."""
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(args.seed)
    model = torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(784, args.hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(args.hidden, 10),
    )
    for layer in (model[1], model[3]):
        torch.nn.init.xavier_uniform_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    x_train = torch.from_numpy(train[0].reshape(-1, 1, 28, 28).astype(np.float32) / 255)
    y_train = torch.from_numpy(train[1].astype(np.int64))
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(args.seed)
    for _ in range(args.epochs):
        order = torch.randperm(x_train.shape[0], generator=generator)
        for i in range(0, x_train.shape[0], 128):
            index = order[i : i + 128]
            loss = loss_fn(model(x_train[index]), y_train[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    torch.onnx.export(
        model,
        (torch.zeros(1, 1, 28, 28),),
        os.path.join(args.out, "torch.onnx"),
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        dynamo=False,
    )
    # What a user calling torch.onnx.export with its defaults gets (torch >= 2.9): the
    # dynamo exporter, weights in an external `.onnx.data` file.
    for stale in ("torch-dynamo.onnx", "torch-dynamo.onnx.data"):
        if os.path.exists(os.path.join(args.out, stale)):
            os.remove(os.path.join(args.out, stale))
    torch.onnx.export(
        model,
        (torch.zeros(1, 1, 28, 28),),
        os.path.join(args.out, "torch-dynamo.onnx"),
        input_names=["image"],
        output_names=["logits"],
        dynamic_shapes=({0: torch.export.Dim("batch")},),
    )
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        os.path.join(args.out, "torch.safetensors"),
    )
    x_test = torch.from_numpy(test[0].reshape(-1, 1, 28, 28).astype(np.float32) / 255)
    with torch.no_grad():
        return torch.softmax(model(x_test), dim=1).numpy()


def keras_model(args, train, test):
    """bench/keras_mnist.py's model and training, exported to ONNX by Keras itself."""
    import keras

    keras.utils.set_random_seed(args.seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(args.hidden, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    x_train = train[0].astype("float32") / 255
    model.fit(
        x_train, keras.utils.to_categorical(train[1]), epochs=args.epochs, batch_size=128,
        verbose=0,
    )
    model.export(os.path.join(args.out, "keras.onnx"), format="onnx")
    return model.predict(test[0].astype("float32") / 255, verbose=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="data/mnist")
    parser.add_argument("--out", required=True)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    train, test = mnist_idx.load(args.data_dir)
    test = (test[0][: args.samples], test[1][: args.samples])
    write_idx(args.out, len(test[1]), test[0], test[1])
    summary = {"hidden": args.hidden, "epochs": args.epochs, "samples": len(test[1])}
    for name, train_and_export in (("torch", torch_model), ("keras", keras_model)):
        probs = train_and_export(args, train, test)
        write_probs(os.path.join(args.out, f"{name}.probs.f32"), probs)
        summary[f"{name}_accuracy"] = float((probs.argmax(axis=1) == test[1]).mean())
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
