#!/usr/bin/env bash
# Side-by-side timing: the Rust trainer, Keras and PyTorch, same model and hyperparameters,
# 3 seeds each, on the CPU. Run from the repository root on a quiet machine:
#   bench/run.sh            (expects .venv with keras/tensorflow and torch, see README)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SEEDS=${SEEDS:-"1 2 3"}
OUT=${OUT:-out/bench}
mkdir -p "$OUT"
cargo build -p trainer --release --quiet
./target/release/trainer fetch
for seed in $SEEDS; do
  /usr/bin/time -f '{"peak_rss_mib": %M}' -o "$OUT/rust-$seed.rss" \
    ./target/release/trainer --device cpu --quiet --seed "$seed" --out-dir "$OUT/rust-$seed" >/dev/null
  python3 - "$OUT/rust-$seed" <<'PY'
import json, sys
r = json.load(open(sys.argv[1] + "/report.json"))
rss = json.load(open(sys.argv[1] + ".rss"))["peak_rss_mib"] / 1024
print(json.dumps({"framework": "tinymlp trainer (" + r["device"] + ")", "seed": r["hyperparameters"]["seed"],
  "fit_seconds": r["timings"]["fit"], "test_accuracy": r["test"]["accuracy"],
  "int8_accuracy": r["int8_blob"]["score"]["accuracy"], "peak_rss_mib": rss}))
PY
  if "$PY" -c "import keras" 2>/dev/null; then
    "$PY" bench/keras_mnist.py --seed "$seed" --data-dir data/mnist | tail -1
  fi
  if "$PY" -c "import torch" 2>/dev/null; then
    # One run per seed, without a warm-up run, as the other frameworks are timed.
    "$PY" bench/torch_mnist.py --device cpu --runs 1 --seed "$seed" --no-warm-up --json-lines | tail -1
  fi
done | tee "$OUT/results.jsonl"
python3 - "$OUT/results.jsonl" <<'PY'
import json, statistics, sys, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    rows[r["framework"]].append(r)
for name, rs in rows.items():
    fit = [r["fit_seconds"] for r in rs]
    acc = [r["test_accuracy"] for r in rs]
    print(f"{name}: fit median {statistics.median(fit):.2f} s ({min(fit):.2f}-{max(fit):.2f}), "
          f"accuracy median {statistics.median(acc):.4f} ({min(acc):.4f}-{max(acc):.4f}), "
          f"peak RSS {max(r['peak_rss_mib'] for r in rs):.0f} MiB")
PY
