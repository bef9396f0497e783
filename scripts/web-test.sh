#!/usr/bin/env bash
# Everything CI checks for web/: format, lints, the build, and the Node tests (10,000-digit
# wasm/native parity, API errors, preprocessing, the page in headless Chromium).
# Run scripts/web-setup.sh once first. Needs data/mnist/t10k-* and models/mnist-int8.tmlp.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/web"

cargo fmt --check -p tinymlp-wasm -p tinymlp-wasm-forward -p tinymlp-web-native
cargo clippy --quiet -p tinymlp-web-native --all-targets --profile native -- -D warnings
for features in "" "--features f32" "--features tinymlp-wasm/kernel-check"; do
  # shellcheck disable=SC2086 # $features is zero or two words
  cargo clippy --quiet -p tinymlp-wasm -p tinymlp-wasm-forward --all-targets --release $features \
    --target wasm32-unknown-unknown --target-dir target/baseline -- -D warnings
done
"$root/scripts/web-build.sh"
node --test test/*.test.mjs
