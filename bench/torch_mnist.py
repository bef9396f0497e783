#!/usr/bin/env python3
"""The PyTorch (eager) baseline of the trainer, on the CPU or a GPU: the same model and settings.

Keras MNIST MLP: Dense(512, relu) -> Dense(10, softmax), Glorot-uniform weights, zero biases,
RMSprop(lr=1e-3, rho=0.9, eps=1e-7), categorical cross-entropy, batch 128, 5 epochs, inputs
u8 / 255, a fresh shuffle each epoch. The data sits on the device (as the Rust backends keep
it); each step gathers its batch there, and loss and accuracy are accumulated on the device
every step without a host sync (the Rust backends also compute them every step), so the
comparison is about the training step itself. The one PyTorch training baseline: bench/run.sh
runs it on the CPU (--json-lines), scripts/gpu-check.sh on the H200 (--json).

One difference that cannot be removed: PyTorch's RMSprop adds epsilon outside the square
root (w -= lr*g / (sqrt(v) + eps)), Keras inside (w -= lr*g / sqrt(v + eps)); with eps = 1e-7
this changes nothing measurable.

Usage: python3 bench/torch_mnist.py --device cuda --runs 3 --json out/pytorch.json
       python3 bench/torch_mnist.py --device cpu --runs 1 --seed 1 --json-lines
"""

import argparse
import gzip
import json
import os
import time

import torch


def read_idx(data_dir, name):
    path = os.path.join(data_dir, name)
    if not os.path.exists(path):
        path += ".gz"
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    dims = magic & 0xFF
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    # torch only (numpy is optional for torch and may be missing on the GPU machine).
    raw = torch.frombuffer(bytearray(data), dtype=torch.uint8, offset=4 + 4 * dims)
    return raw.reshape(shape)


def load(data_dir, device):
    def images(name):
        x = read_idx(data_dir, name).reshape(-1, 784)
        return x.to(device).float().div_(255.0)

    def labels(name):
        return read_idx(data_dir, name).to(device).long()

    return (
        images("train-images-idx3-ubyte"),
        labels("train-labels-idx1-ubyte"),
        images("t10k-images-idx3-ubyte"),
        labels("t10k-labels-idx1-ubyte"),
    )


def model_for(device, seed):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10)
    ).to(device)
    for layer in (model[0], model[2]):
        torch.nn.init.xavier_uniform_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    return model


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def run(args, data, device, seed):
    x_train, y_train, x_test, y_test = data
    model = model_for(device, seed)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    n = x_train.shape[0]
    epochs = []
    sync(device)
    fit_start = time.perf_counter()
    for epoch in range(args.epochs):
        sync(device)
        start = time.perf_counter()
        order = torch.randperm(n, device=device, generator=generator)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        for i in range(0, n, args.batch_size):
            index = order[i : i + args.batch_size]
            x, y = x_train[index], y_train[index]
            logits = model(x)
            loss = loss_fn(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * y.shape[0]
            correct += (logits.detach().argmax(dim=1) == y).sum()
        sync(device)
        seconds = time.perf_counter() - start
        epochs.append(
            {
                "epoch": epoch + 1,
                "seconds": seconds,
                "loss": loss_sum.item() / n,
                "accuracy": correct.item() / n,
            }
        )
    sync(device)
    fit_seconds = time.perf_counter() - fit_start
    with torch.no_grad():
        logits = model(x_test)
        test_loss = loss_fn(logits, y_test).item()
        test_accuracy = (logits.argmax(dim=1) == y_test).float().mean().item()
    return {
        "seed": seed,
        "epochs": epochs,
        "fit_seconds": fit_seconds,
        "steady_epoch_seconds": (
            sum(e["seconds"] for e in epochs[1:]) / max(1, len(epochs) - 1)
        ),
        "test_loss": test_loss,
        "test_accuracy": test_accuracy,
    }


def peak_rss_mib():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="data/mnist")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--seed", type=int, default=1, help="the first run's seed")
    parser.add_argument("--no-warm-up", action="store_true")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument(
        "--json-lines",
        action="store_true",
        help="print one JSON line per run (bench/run.sh's format)",
    )
    args = parser.parse_args()

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("torch_mnist.py: CUDA is not available to PyTorch")
    data = load(args.data_dir, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    # A short warm-up run so that CUDA context creation, cuBLAS handles and kernel loading
    # are not counted in the first timed run (the Rust figures exclude kernel compilation).
    if not args.no_warm_up:
        warm = argparse.Namespace(**{**vars(args), "epochs": 1})
        run(warm, data, device, seed=0)

    runs = []
    for r in range(args.runs):
        result = run(args, data, device, seed=args.seed + r)
        runs.append(result)
        if args.json_lines:
            print(
                json.dumps(
                    {
                        "framework": f"pytorch {torch.__version__} ({name})",
                        "seed": result["seed"],
                        "fit_seconds": result["fit_seconds"],
                        "test_accuracy": result["test_accuracy"],
                        "test_loss": result["test_loss"],
                        "peak_rss_mib": peak_rss_mib(),
                    }
                ),
                flush=True,
            )
            continue
        times = ", ".join(f"{e['seconds'] * 1000:.1f}" for e in result["epochs"])
        print(
            f"pytorch eager run {r + 1}: epochs [{times}] ms, fit {result['fit_seconds']:.3f} s, "
            f"steady {result['steady_epoch_seconds'] * 1000:.1f} ms/epoch, "
            f"test accuracy {result['test_accuracy']:.4f}",
            flush=True,
        )
    summary = {
        "framework": "pytorch eager",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": name,
        "batch_size": args.batch_size,
        "runs": runs,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
