#!/usr/bin/env bash
# MNIST through the CSV reader against MNIST through the IDX reader: the same model, seed
# and hyperparameters (the trainer's defaults: Dense 512 ReLU, RMSprop, 5 epochs), trained
# once on the IDX files and once on the same pixels written as CSV (bench/mnist_csv.py);
# prints the float, f32-blob and int8-blob test accuracy of each. Run from anywhere:
#   bench/mnist_csv.sh                     (expects .venv with numpy)
#   SEED=7 PY=python3 bench/mnist_csv.sh
# Through CSV the pixels are features: the model standardizes each one with the training
# mean and standard deviation instead of dividing by 255, so the two runs are not
# expected to agree bit for bit, only in quality.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SEED=${SEED:-42}
OUT=${OUT:-out/bench/mnist-csv}
mkdir -p "$OUT"
cargo build -p trainer --release --quiet
trainer="$(cargo metadata --format-version 1 --no-deps | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/trainer"
"$trainer" fetch
[ -f data/mnist-csv/test.csv ] || "$PY" bench/mnist_csv.py --data-dir data/mnist --out-dir data/mnist-csv
"$trainer" --device cpu --quiet --seed "$SEED" --out-dir "$OUT/idx" >/dev/null
"$trainer" --device cpu --quiet --seed "$SEED" --out-dir "$OUT/csv" \
    --train data/mnist-csv/train.csv --test data/mnist-csv/test.csv --label label >/dev/null
"$PY" - "$OUT" <<'PY'
import json, sys
print(f"{'input':<6} {'float':>7} {'f32 blob':>8} {'int8 blob':>9}   (test accuracy, %)")
for name in ("idx", "csv"):
    r = json.load(open(f"{sys.argv[1]}/{name}/report.json"))
    print(f"{name:<6} {100 * r['test']['accuracy']:7.2f} "
          f"{100 * r['f32_blob']['score']['accuracy']:8.2f} "
          f"{100 * r['int8_blob']['score']['accuracy']:9.2f}")
PY
