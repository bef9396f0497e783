#!/usr/bin/env python3
"""Inference speed of a 784-512-10 MNIST MLP: tinymlp, PyTorch and onnxruntime, side by side.

One command, one table. Each round runs, one after the other (so that a busy machine slows
them alike): tinymlp's batch API (`Model::predict_batch`, 2 threads and 1) and its `predict`
loop at each x86-64 kernel level the CPU has (`runtime/examples/throughput.rs`); PyTorch's
batched forward and a single-sample loop; onnxruntime's batched run and a single-sample
loop. The table gives each configuration's median over the rounds and its ratio to
PyTorch's batched forward and to tinymlp's AVX2 `predict` loop, from the same run.

    /work/bench-venv/bin/python bench/inference.py [--rounds 7] [--single 2000]

(any Python with `torch`, `onnxruntime`, `onnx` and `numpy`; see bench/README.md).

The workload is the whole MNIST test set (`data/mnist/t10k-images-idx3-ubyte`, after
`cargo run -p trainer -- fetch`): 10,000 digits of u8 pixels in, a class out. tinymlp runs
the committed int8 model (`models/mnist-int8.tmlp`); PyTorch and onnxruntime run f32
models of the same shape (random weights: a dense product costs the same whatever the
values), and their times include turning the u8 pixels into scaled f32, as tinymlp's
include reading u8 pixels. Threads: "batch" rows use 2 (PyTorch `set_num_threads(2)`,
onnxruntime `intra_op_num_threads=2`), single-sample rows 1, except PyTorch's default-thread
row. Wall-clock times; tinymlp also reports its busiest thread's on-CPU time (what the wall
clock reads on an idle machine).
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import torch_mnist  # noqa: E402  (the one PyTorch definition of the model)

ROOT = pathlib.Path(__file__).resolve().parents[1]
IMAGES = ROOT / "data/mnist/t10k-images-idx3-ubyte"
MODEL = ROOT / "models/mnist-int8.tmlp"
EXAMPLE = ROOT / "target/release/examples/throughput"


def load_images():
    raw = IMAGES.read_bytes()
    if raw[:4] != b"\x00\x00\x08\x03":
        sys.exit(f"{IMAGES}: not an IDX3 u8 file")
    return np.frombuffer(raw[16:], dtype=np.uint8).reshape(-1, 784)


def random_weights():
    generator = np.random.default_rng(42)
    w1 = generator.uniform(-0.05, 0.05, (784, 512)).astype(np.float32)
    b1 = generator.uniform(-0.1, 0.1, 512).astype(np.float32)
    w2 = generator.uniform(-0.1, 0.1, (512, 10)).astype(np.float32)
    b2 = generator.uniform(-0.1, 0.1, 10).astype(np.float32)
    return w1, b1, w2, b2


def torch_model(weights):
    """The training baseline's network (bench/torch_mnist.py), softmax added, these weights."""
    w1, b1, w2, b2 = (torch.from_numpy(w) for w in weights)
    network = torch_mnist.model_for(torch.device("cpu"), seed=0)
    model = torch.nn.Sequential(*network, torch.nn.Softmax(dim=1)).eval()
    with torch.no_grad():
        model[0].weight.copy_(w1.T)
        model[0].bias.copy_(b1)
        model[2].weight.copy_(w2.T)
        model[2].bias.copy_(b2)
    return model


def onnx_model(weights):
    w1, b1, w2, b2 = weights
    nodes = [
        helper.make_node("Cast", ["pixels"], ["real"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["real", "scale"], ["x"]),
        helper.make_node("MatMul", ["x", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h"]),
        helper.make_node("MatMul", ["h", "w2"], ["l0"]),
        helper.make_node("Add", ["l0", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["probabilities"], ["class"], axis=1, keepdims=0),
    ]
    initializers = [
        numpy_helper.from_array(np.array(1 / 255, dtype=np.float32), "scale"),
        numpy_helper.from_array(w1, "w1"),
        numpy_helper.from_array(b1, "b1"),
        numpy_helper.from_array(w2, "w2"),
        numpy_helper.from_array(b2, "b2"),
    ]
    graph = helper.make_graph(
        nodes,
        "mnist_mlp",
        [helper.make_tensor_value_info("pixels", TensorProto.UINT8, ["n", 784])],
        [helper.make_tensor_value_info("class", TensorProto.INT64, ["n"])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


def ort_session(model_bytes, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def timed(run):
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--single", type=int, default=2000, help="inputs in each single-sample loop of the frameworks")
    args = parser.parse_args()
    if not IMAGES.exists():
        sys.exit(f"{IMAGES} is missing: run `cargo run --release -p trainer -- fetch` first")

    subprocess.run(
        ["cargo", "build", "-q", "--release", "-p", "tinymlp", "--example", "throughput"], cwd=ROOT, check=True
    )
    pixels_u8 = load_images()
    count = pixels_u8.shape[0]
    weights = random_weights()
    model = torch_model(weights)
    pixels_torch = torch.from_numpy(pixels_u8.copy())
    singles_torch = [pixels_torch[i : i + 1] for i in range(args.single)]
    onnx_bytes = onnx_model(weights)
    ort_batch, ort_single = ort_session(onnx_bytes, 2), ort_session(onnx_bytes, 1)
    singles_np = [pixels_u8[i : i + 1] for i in range(args.single)]
    default_threads = torch.get_num_threads()

    def torch_batch():
        with torch.inference_mode():
            model(pixels_torch.float().div_(255.0)).argmax(dim=1)

    def torch_single():
        with torch.inference_mode():
            for sample in singles_torch:
                int(model(sample.float().div_(255.0)).argmax())

    def ort_batch_run():
        ort_batch.run(["class"], {"pixels": pixels_u8})

    def ort_single_run():
        for sample in singles_np:
            int(ort_single.run(["class"], {"pixels": sample})[0][0])

    # Every row: (name, threads, per-input unit?) -> list of ms for the whole set.
    rows = {}
    cpu = {}

    def record(name, ms):
        rows.setdefault(name, []).append(ms)

    # Warm-up: first calls allocate and pick kernels.
    torch.set_num_threads(2)
    torch_batch()
    ort_batch_run()
    for round_index in range(args.rounds):
        result = subprocess.run(
            [str(EXAMPLE), str(MODEL), str(IMAGES), "1"], cwd=ROOT, check=True, capture_output=True, text=True
        )
        for line in result.stdout.splitlines():
            entry = json.loads(line)
            level = {"Avx512Vnni": "AVX-512 VNNI", "Avx2": "AVX2"}.get(entry["level"], entry["level"])
            kind = "batch" if "batch" in entry["name"] else "predict loop"
            name = f"tinymlp int8 {kind}, {level}, {entry['threads']} thread{'s' if entry['threads'] > 1 else ''}"
            record(name, entry["median_ms"])
            cpu.setdefault(name, []).append(entry["cpu_median_ms"])
        torch.set_num_threads(2)
        record("PyTorch f32 batched forward, 2 threads", timed(torch_batch))
        single_scale = count / args.single
        record(f"PyTorch f32 single-sample loop, default threads ({default_threads})", timed(torch_single) * single_scale)
        torch.set_num_threads(1)
        record("PyTorch f32 single-sample loop, 1 thread", timed(torch_single) * single_scale)
        record("onnxruntime f32 batched run, 2 threads", timed(ort_batch_run))
        record("onnxruntime f32 single-sample loop, 1 thread", timed(ort_single_run) * single_scale)
        print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)

    medians = {name: statistics.median(times) for name, times in rows.items()}
    torch_batched = medians["PyTorch f32 batched forward, 2 threads"]
    avx2_loop = medians.get("tinymlp int8 predict loop, AVX2, 1 thread")
    load = os.getloadavg()[0]
    print(
        f"\n{count:,} MNIST test digits, 784-512-10; torch {torch.__version__}, onnxruntime {ort.__version__}; "
        f"{args.rounds} rounds, medians; load average {load:.1f} on {os.cpu_count()} CPUs\n"
    )
    header = (
        "| configuration | ms for all | us per input | tinymlp on-CPU ms | x faster than PyTorch batched |"
        " x faster than tinymlp AVX2 predict |"
    )
    print(header)
    print("|---|---:|---:|---:|---:|---:|")
    for name, ms in sorted(medians.items(), key=lambda item: item[1]):
        on_cpu = f"{statistics.median(cpu[name]):.1f}" if name in cpu else ""
        versus_avx2 = f"{avx2_loop / ms:.2f}" if avx2_loop else ""
        print(
            f"| {name} | {ms:.1f} | {ms * 1e3 / count:.2f} | {on_cpu} | {torch_batched / ms:.2f} | {versus_avx2} |"
        )


if __name__ == "__main__":
    main()
