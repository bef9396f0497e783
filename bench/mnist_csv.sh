#!/usr/bin/env bash
# MNIST through the CSV reader against MNIST through the IDX reader: the same model, seeds
# and hyperparameters (the trainer's defaults: Dense 512 ReLU, RMSprop, 5 epochs), trained
# on the IDX files, on the same pixels written as CSV (bench/mnist_csv.py), and on that CSV
# read as features (--input features); prints the float, f32-blob and int8-blob test
# accuracy of each, per seed, and the digest of the int8 blob's outputs on the 10,000 test
# images (the runtime's OutputDigest: equal digests, equal outputs bit for bit; the blobs'
# bytes differ by the model name, taken from the file name). Run from anywhere:
#   bench/mnist_csv.sh                     (expects .venv with numpy)
#   SEEDS="42 1 2" PY=python3 bench/mnist_csv.sh
# A CSV whose 784 cells are all whole numbers 0..255 is read as pixels (--input auto): the
# model divides by 255 as it does for IDX, so the two runs give the same model, bit for
# bit. Read as features, each pixel is standardized with the training mean and deviation
# instead: the same quality is expected, not the same bits.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SEEDS=${SEEDS:-42 1 2}
OUT=${OUT:-out/bench/mnist-csv}
mkdir -p "$OUT"
cargo build -p trainer --release --quiet
trainer="$(cargo metadata --format-version 1 --no-deps | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/trainer"
"$trainer" fetch
[ -f data/mnist-csv/test.csv ] || "$PY" bench/mnist_csv.py --data-dir data/mnist --out-dir data/mnist-csv
csv=(--train data/mnist-csv/train.csv --test data/mnist-csv/test.csv --label label)
for seed in $SEEDS; do
    "$trainer" --device cpu --quiet --seed "$seed" --out-dir "$OUT/idx-$seed" >/dev/null
    "$trainer" --device cpu --quiet --seed "$seed" --out-dir "$OUT/csv-$seed" "${csv[@]}" >/dev/null
    "$trainer" --device cpu --quiet --seed "$seed" --out-dir "$OUT/features-$seed" "${csv[@]}" \
        --input features >/dev/null
done
"$PY" - "$OUT" $SEEDS <<'PY'
import json, sys
out, seeds = sys.argv[1], sys.argv[2:]
print(f"{'input':<22} {'seed':>4} {'float':>7} {'f32 blob':>8} {'int8 blob':>9}  int8 outputs digest")
for seed in seeds:
    for name, what in (("idx", "IDX"), ("csv", "CSV (auto: pixels)"), ("features", "CSV as features")):
        folder = f"{out}/{name}-{seed}"
        r = json.load(open(f"{folder}/report.json"))
        print(f"{what:<22} {seed:>4} {100 * r['test']['accuracy']:7.2f} "
              f"{100 * r['f32_blob']['score']['accuracy']:8.2f} "
              f"{100 * r['int8_blob']['score']['accuracy']:9.2f}  {r['int8_blob']['score']['digest']}")
PY
