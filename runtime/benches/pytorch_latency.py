#!/usr/bin/env python3
"""Single-sample latency of a 784-512-10 MLP in PyTorch, the yardstick for `inference.rs`.

Same shape and work as the criterion benchmark: Linear(784, 512) -> ReLU -> Linear(512, 10)
-> softmax on one float32 sample, one thread, under torch.inference_mode(). The weights are
random (dense matrix products cost the same whatever the values); the inputs are MNIST test
images when data/mnist/t10k-images-idx3-ubyte exists, else random pixels.

    python3 runtime/benches/pytorch_latency.py [--calls 20000]

Prints the median and 10th/90th percentiles of per-call wall time in microseconds.
"""

import argparse
import pathlib
import statistics
import time

import torch


def images(count):
    path = pathlib.Path(__file__).resolve().parents[2] / "data/mnist/t10k-images-idx3-ubyte"
    if path.exists():
        raw = path.read_bytes()[16 : 16 + count * 784]
        pixels = torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(count, 784)
        return pixels.float().div(255.0), "MNIST t10k"
    generator = torch.Generator().manual_seed(0)
    return torch.rand(count, 784, generator=generator), "random"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--warmup", type=int, default=2000)
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(42)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 512),
        torch.nn.ReLU(),
        torch.nn.Linear(512, 10),
        torch.nn.Softmax(dim=1),
    ).eval()
    inputs, source = images(256)
    samples = [inputs[i : i + 1].contiguous() for i in range(inputs.shape[0])]

    times = []
    with torch.inference_mode():
        for i in range(args.warmup):
            model(samples[i % len(samples)])
        for i in range(args.calls):
            sample = samples[i % len(samples)]
            start = time.perf_counter_ns()
            output = model(sample)
            _ = int(output.argmax())  # a prediction, as the Rust benchmark returns
            times.append(time.perf_counter_ns() - start)

    times_us = sorted(t / 1000.0 for t in times)
    deciles = statistics.quantiles(times_us, n=10)
    print(
        f"pytorch {torch.__version__} 784-512-10 f32, 1 thread, inputs {source}, {args.calls} calls: "
        f"median {statistics.median(times_us):.2f} us "
        f"(p10 {deciles[0]:.2f}, p90 {deciles[-1]:.2f})"
    )


if __name__ == "__main__":
    main()
