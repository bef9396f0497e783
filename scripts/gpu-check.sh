#!/usr/bin/env bash
# The CUDA backend's check on a GPU machine, prepared so that it fits in one short run.
#
# Two halves:
#
#   scripts/gpu-check.sh stage    (here, on the build machine; the default)
#       Builds the release trainer and the release CUDA test binaries, and stages them with
#       the MNIST files (gzipped) in out/gpu-stage/ (ignored by git, about 40 MB).
#
#   scripts/gpu-check.sh device   (there, on the GPU machine, from the repository root)
#       Finds the machine's NVRTC and cuBLAS, runs the CUDA tests (skips count as failures),
#       trains 5 epochs 3 times with --device cuda, runs scripts/pytorch_gpu.py (same model
#       and settings, eager) 3 times, and writes every log and figure plus summary.md to $OUT.
#
# The device tool's single command (the working tree, this script and pytorch_gpu.py travel
# with it; the staged binaries travel through `carry`):
#
#   run(command="scripts/gpu-check.sh device", carry=["out/gpu-stage"], timeout_s=480)
#
# Expected duration on an H200: about 2 minutes (tests ~20 s; 3 trainer runs plus one without
# graphs and one with TF32, ~10 s each with quantization and reports; PyTorch ~30 s).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
stage="$root/out/gpu-stage"
cd "$root"

stage_here() {
    local data="${TINYMLP_DATA_DIR:-$root/data/mnist}"
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
        t10k-labels-idx1-ubyte; do
        if [ ! -f "$data/$f" ] && [ ! -f "$data/$f.gz" ]; then
            echo "gpu-check: $data/$f missing (cargo run -p trainer -- fetch)" >&2
            exit 1
        fi
    done

    echo "gpu-check: building the release trainer and CUDA test binaries" >&2
    cargo build --release -p trainer --bin trainer
    local tests
    tests="$(cargo test --release -p trainer --no-run --message-format=json \
        --test cuda_backend_ops --test cuda_parity --test cuda_kernels |
        python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["target"]["name"], m["executable"])
')"

    rm -rf "$stage"
    mkdir -p "$stage/bin" "$stage/mnist"
    cp "$root/target/release/trainer" "$stage/bin/trainer"
    while read -r name path; do
        cp "$path" "$stage/bin/$name"
    done <<<"$tests"
    for binary in "$stage"/bin/*; do
        strip --strip-debug "$binary" 2>/dev/null || true
    done
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
        t10k-labels-idx1-ubyte; do
        if [ -f "$data/$f" ]; then
            gzip -c -6 "$data/$f" >"$stage/mnist/$f.gz"
        else
            cp "$data/$f.gz" "$stage/mnist/$f.gz"
        fi
    done
    {
        echo "commit $(git -C "$root" rev-parse HEAD)$(git -C "$root" diff --quiet || echo ' (dirty)')"
        echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -srm)"
        ls -l "$stage/bin" "$stage/mnist"
    } >"$stage/manifest.txt"
    cat "$stage/manifest.txt" >&2
    local size
    size="$(du -sm "$stage" | cut -f1)"
    echo "gpu-check: staged $size MiB in out/gpu-stage (carry limit 64 MiB)" >&2
    if [ "$size" -ge 64 ]; then
        echo "gpu-check: too large to carry" >&2
        exit 1
    fi
    echo "gpu-check: now run on the GPU machine:" >&2
    echo '  run(command="scripts/gpu-check.sh device", carry=["out/gpu-stage"], timeout_s=480)' >&2
}

# The first file named $1* under the usual CUDA and PyTorch library folders.
find_library() {
    local name="$1" dir file
    local dirs=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib)
    dirs+=(/usr/local/cuda-*/lib64 /usr/lib/x86_64-linux-gnu /usr/lib64)
    local site
    for site in $(python3 -c 'import site, sys; print(" ".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null); do
        dirs+=("$site"/nvidia/*/lib "$site"/torch/lib)
    done
    for dir in "${dirs[@]}"; do
        for file in "$dir/$name".so*; do
            if [ -f "$file" ]; then
                echo "$file"
                return 0
            fi
        done
    done
    ldconfig -p 2>/dev/null | awk -v n="$name.so" 'index($1, n) == 1 { print $NF; exit }'
}

on_device() {
    : "${OUT:?gpu-check device: OUT must name the output folder}"
    mkdir -p "$OUT"
    # The carried binaries may arrive without their execute bits.
    chmod +x "$stage"/bin/* 2>/dev/null || true
    [ -x "$stage/bin/trainer" ] || {
        echo "gpu-check: $stage/bin/trainer missing: stage first and carry out/gpu-stage" | tee "$OUT/error.txt" >&2
        exit 1
    }
    local started=$SECONDS
    {
        cat "$stage/manifest.txt"
        nvidia-smi || true
        nvcc --version 2>/dev/null | tail -2 || true
        python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 || true
    } >"$OUT/environment.txt" 2>&1

    # cudarc (built for CUDA 12.8) opens libnvrtc.so / libcublas.so or their .12 names; a
    # CUDA 13 machine may only have .13 files. Link the ones found under the plain names.
    local shim nvrtc cublas
    shim="$(mktemp -d)"
    nvrtc="$(find_library libnvrtc)"
    cublas="$(find_library libcublas)"
    echo "nvrtc: ${nvrtc:-not found}; cublas: ${cublas:-not found}" | tee -a "$OUT/environment.txt"
    local extra="$shim"
    if [ -n "$nvrtc" ]; then
        ln -sf "$nvrtc" "$shim/libnvrtc.so"
        extra="$extra:$(dirname "$nvrtc")"
    fi
    if [ -n "$cublas" ]; then
        ln -sf "$cublas" "$shim/libcublas.so"
        extra="$extra:$(dirname "$cublas")"
    fi
    export LD_LIBRARY_PATH="$extra${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    local ptxas
    ptxas="$(command -v ptxas || ls /usr/local/cuda/bin/ptxas 2>/dev/null || true)"
    [ -n "$ptxas" ] && export TINYMLP_PTXAS="$ptxas"
    export TINYMLP_REQUIRE_CUDA=1 TINYMLP_DATA_DIR="$stage/mnist"
    local status=0

    echo "== CUDA tests" >&2
    local test
    for test in cuda_kernels cuda_backend_ops cuda_parity; do
        if [ -x "$stage/bin/$test" ]; then
            timeout 180 "$stage/bin/$test" --nocapture --test-threads=1 >"$OUT/test-$test.txt" 2>&1 ||
                { status=1; echo "FAILED: $test" >&2; }
            tail -3 "$OUT/test-$test.txt" >&2
        fi
    done

    echo "== trainer, 5 epochs, --device cuda, 3 runs" >&2
    local run
    for run in 1 2 3; do
        timeout 120 "$stage/bin/trainer" --device cuda --epochs 5 --batch-size 128 --seed "$run" \
            --data-dir "$stage/mnist" --out-dir "$OUT/train-$run" --quiet \
            >"$OUT/train-$run.txt" 2>&1 || { status=1; echo "FAILED: trainer run $run" >&2; }
        tail -4 "$OUT/train-$run.txt" >&2
    done
    # For the record: what the graphs save, and what TF32 tensor cores would give.
    local variant
    for variant in nographs:TINYMLP_CUDA_GRAPHS=0 tf32:TINYMLP_CUDA_TF32=1; do
        env "${variant#*:}" timeout 120 "$stage/bin/trainer" --device cuda --epochs 5 --seed 1 \
            --data-dir "$stage/mnist" --out-dir "$OUT/variant-${variant%%:*}" --quiet \
            >"$OUT/variant-${variant%%:*}.txt" 2>&1 || echo "FAILED: variant ${variant%%:*}" >&2
    done

    echo "== PyTorch eager, same model, 3 runs" >&2
    timeout 240 python3 scripts/pytorch_gpu.py --data-dir "$stage/mnist" --runs 3 \
        --json "$OUT/pytorch.json" >"$OUT/pytorch.txt" 2>&1 ||
        { status=1; echo "FAILED: pytorch_gpu.py" >&2; }
    cat "$OUT/pytorch.txt" >&2

    python3 - "$OUT" >"$OUT/summary.md" <<'EOF' || status=1
import glob, json, os, statistics, sys
out = sys.argv[1]
lines = ["# CUDA backend on the GPU machine", ""]
def rust_runs(pattern):
    runs = []
    for path in sorted(glob.glob(os.path.join(out, pattern, "report.json"))):
        with open(path) as f:
            report = json.load(f)
        epochs = [e["seconds"] for e in report.get("history", [])]
        runs.append({
            "run": os.path.basename(os.path.dirname(path)),
            "device": report.get("device"),
            "epochs": epochs,
            "fit": report.get("timings", {}).get("fit"),
            "steady": statistics.mean(epochs[1:]) if len(epochs) > 1 else None,
            "accuracy": report.get("test", {}).get("accuracy"),
        })
    return runs
rust = rust_runs("train-*")
variants = rust_runs("variant-*")
torch_runs, torch_meta = [], {}
if os.path.exists(os.path.join(out, "pytorch.json")):
    with open(os.path.join(out, "pytorch.json")) as f:
        torch_meta = json.load(f)
    for r in torch_meta["runs"]:
        torch_runs.append({
            "run": f"seed {r['seed']}",
            "device": torch_meta.get("device"),
            "epochs": [e["seconds"] for e in r["epochs"]],
            "fit": r["fit_seconds"],
            "steady": r["steady_epoch_seconds"],
            "accuracy": r["test_accuracy"],
        })
def ms(v):
    return "-" if v is None else f"{v * 1000:.1f}"
lines.append("| what | run | epochs (ms) | steady ms/epoch (2-5) | 5-epoch fit (s) | test accuracy |")
lines.append("|---|---|---|---|---|---|")
for label, runs in (("tinymlp cuda", rust), ("tinymlp cuda variant", variants), (f"pytorch {torch_meta.get('torch', '')} eager", torch_runs)):
    for r in runs:
        fit = "-" if r["fit"] is None else f"{r['fit']:.3f}"
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.4f}"
        lines.append(f"| {label} | {r['run']} | {', '.join(ms(e) for e in r['epochs'])} | {ms(r['steady'])} | {fit} | {acc} |")
lines.append("")
def median(runs, key):
    values = [r[key] for r in runs if r[key] is not None]
    return statistics.median(values) if values else None
rs, ts = median(rust, "steady"), median(torch_runs, "steady")
rf, tf = median(rust, "fit"), median(torch_runs, "fit")
lines.append(f"device: {rust[0]['device'] if rust else '-'}")
for v in variants:
    lines.append(f"variant {v['run']}: {v['device']}")
lines.append(f"median steady epoch: tinymlp {ms(rs)} ms, pytorch eager {ms(ts)} ms"
             + (f", speedup {ts / rs:.2f}x" if rs and ts else ""))
lines.append(f"median 5-epoch fit: tinymlp {rf if rf is None else round(rf, 3)} s, pytorch eager {tf if tf is None else round(tf, 3)} s"
             + (f", speedup {tf / rf:.2f}x" if rf and tf else ""))
lines.append(f"median test accuracy: tinymlp {median(rust, 'accuracy')}, pytorch {median(torch_runs, 'accuracy')}")
lines.append("targets: <= 20 ms/epoch steady, 5 epochs < 0.15 s, >= 3x pytorch eager, accuracy >= 0.978")
print("\n".join(lines))
EOF
    cat "$OUT/summary.md" >&2
    rm -rf "$shim"
    echo "gpu-check: done in $((SECONDS - started)) s, status $status" | tee -a "$OUT/summary.md" >&2
    return "$status"
}

case "${1:-stage}" in
    stage) stage_here ;;
    device) on_device ;;
    *)
        echo "usage: scripts/gpu-check.sh [stage|device]" >&2
        exit 2
        ;;
esac
