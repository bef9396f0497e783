#!/usr/bin/env bash
# The project's test command (the README's second command). On a fresh machine it installs
# what the tests need first (scripts/setup.sh, idempotent), then runs every test: the
# workspace's unit, property, golden, fuzz-corpus and doc tests; one epoch of real MNIST
# training; the firmware in QEMU against the host; the CUDA kernels through NVRTC and ptxas;
# the WASM module in Node and the web page in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
# NVRTC and ptxas from the wheels, for the kernel compile test.
eval "$(bash scripts/cuda-toolchain.sh 2>/dev/null)"

echo "== cargo test (workspace, release)"
cargo test --workspace --release

echo "== web: wasm build, Node parity and browser tests"
bash scripts/web-test.sh
