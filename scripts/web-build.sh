#!/usr/bin/env bash
# Builds the web demo into web/dist/ (a static folder any web server can serve):
#   - the wasm module, each variant through wasm-opt, into web/target/wasm/:
#       simd      int8 models, wasm SIMD (+simd128): ships as web/dist/tinymlp.wasm
#       baseline  int8 models, no SIMD: for comparison and engines without SIMD
#       f32       f32 and int8 models, SIMD, the runtime at opt-level 3: ships as
#                 web/dist/tinymlp-f32.wasm, which the page fetches only for an f32 model
#   - the page, the JS API and the default model (models/mnist-int8.tmlp, or $WEB_MODEL)
#   - the native helper the tests and the benchmark compare against (web/target/native/)
# Needs: cargo with the wasm32-unknown-unknown target, web/node_modules (binaryen's wasm-opt,
# a newer one than Debian's: it also drops the function table that panic messages would
# keep); see web-setup.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
web="$root/web"
# A relative $WEB_MODEL is relative to where the script was started.
model="$(realpath -m "${WEB_MODEL:-$root/models/mnist-int8.tmlp}")"
cd "$web"
wasm_opt="$web/node_modules/.bin/wasm-opt"
[[ -x "$wasm_opt" ]] || { echo "web-build: $wasm_opt missing: run scripts/web-setup.sh" >&2; exit 1; }

simd="-C target-feature=+simd128"
build() { # variant, rustflags, cargo arguments...
  local variant="$1" flags="$2"
  shift 2
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$flags" \
    cargo build --quiet --release --target wasm32-unknown-unknown -p tinymlp-wasm \
    --target-dir "target/$variant" "$@"
  # -Oz and -Os give the same bytes here; --strip-target-features drops a 230-byte section;
  # --converge (the passes again until the module stops shrinking) saves 14 bytes of the
  # SIMD module, 9 of the baseline and 50 of the f32 one.
  "$wasm_opt" --all-features -Oz --converge \
    --strip-debug --strip-producers --strip-target-features \
    "target/$variant/wasm32-unknown-unknown/release/tinymlp_wasm.wasm" \
    -o "target/wasm/tinymlp-$variant.wasm"
}
mkdir -p target/wasm dist/models
build baseline ""
build simd "$simd"
build f32 "$simd" --features f32 --config 'profile.release.package.tinymlp.opt-level=3'
# Test only: the SIMD build plus an export that checks its kernels against the reference.
build kernel-check "$simd" --features kernel-check
cargo build --quiet --profile native -p tinymlp-web-native

cp target/wasm/tinymlp-simd.wasm dist/tinymlp.wasm
cp target/wasm/tinymlp-f32.wasm dist/tinymlp-f32.wasm
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

for variant in simd baseline f32; do
  echo "web-build: tinymlp-$variant.wasm $(stat -c %s "target/wasm/tinymlp-$variant.wasm") bytes"
done
