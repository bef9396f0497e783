#!/usr/bin/env bash
# Builds the web demo into web/dist/ (a static folder any web server can serve):
#   - the wasm module twice, baseline and with wasm SIMD (+simd128), each through wasm-opt,
#     into web/target/wasm/; the SIMD one ships as web/dist/tinymlp.wasm
#   - the page, the JS API and the default model (models/mnist-int8.tmlp, or $WEB_MODEL)
#   - the native helper the tests and the benchmark compare against (web/target/native/)
# Needs: cargo with the wasm32-unknown-unknown target, wasm-opt (binaryen); see web-setup.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
web="$root/web"
# A relative $WEB_MODEL is relative to where the script was started.
model="$(realpath -m "${WEB_MODEL:-$root/models/mnist-int8.tmlp}")"
cd "$web"

cargo build --quiet --release --target wasm32-unknown-unknown -p tinymlp-wasm \
  --target-dir target/baseline
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128" \
  cargo build --quiet --release --target wasm32-unknown-unknown -p tinymlp-wasm \
  --target-dir target/simd
cargo build --quiet --profile native -p tinymlp-web-native

mkdir -p target/wasm dist/models
for variant in baseline simd; do
  wasm-opt --all-features -Os --strip-debug --strip-producers \
    "target/$variant/wasm32-unknown-unknown/release/tinymlp_wasm.wasm" \
    -o "target/wasm/tinymlp-$variant.wasm"
done
cp target/wasm/tinymlp-simd.wasm dist/tinymlp.wasm
cp index.html app.js preprocess.js tinymlp.js style.css dist/

if [[ -f "$model" ]]; then
  cp "$model" dist/models/mnist-int8.tmlp
else
  # The page then shows the fetch error; drop a blob on it to use it.
  echo "web-build: $model not found; the page will start without a model" >&2
  rm -f dist/models/mnist-int8.tmlp
fi
if [[ -f "$root/models/mnist-f32.tmlp" ]]; then
  cp "$root/models/mnist-f32.tmlp" dist/models/
fi

for variant in baseline simd; do
  echo "web-build: tinymlp-$variant.wasm $(stat -c %s "target/wasm/tinymlp-$variant.wasm") bytes"
done
