#!/usr/bin/env bash
# The CUDA backend's check on a GPU machine, prepared so that its one short run brings back
# an answer, whatever happens there.
#
# Two halves:
#
#   scripts/gpu-check.sh stage    (here, on the build machine; the default)
#       Builds the release trainer and the release CUDA test binaries, and stages them with
#       the MNIST files (gzipped) in out/gpu-stage/ (ignored by git, about 40 MB). Fails if
#       the stage plus the working tree (which travels with it) reach the 64 MiB carry limit.
#
#   scripts/gpu-check.sh device   (there, on the GPU machine, from the repository root)
#       Finds the machine's NVRTC and cuBLAS, starts the backend (one line naming the step
#       that fails: context, NVRTC, module load, cuBLAS, cuBLAS workspace, first graph
#       capture), runs the CUDA tests, trains 5 epochs 3 times with --device cuda (and once
#       without graphs, once with TF32), trains the wine feature model of datasets/ once
#       (CSV in, f32 features through gather_features), and runs bench/torch_mnist.py (same
#       model and settings, eager) 3 times. Every step is bounded by what is left of one overall
#       deadline; a step that fails, times out or is skipped (a skip is a failure there, and
#       so is a test that prints SKIPPED) makes the exit status 1.
#
# What comes back in $OUT (the GPU machine returns at most 8 files, 2 folders deep, 16 MiB
# each): summary.md (result, every step with its status, figures), environment.txt
# (driver, GPU, libraries, versions) and gpu-check.tar.gz (all logs, reports and outputs,
# written in a scratch folder). summary.md is rewritten after every step and by an EXIT
# trap, so it exists even when the run is cut short.
#
# The device tool's single command (the working tree, this script and bench/torch_mnist.py travel
# with it; the staged binaries travel through `carry`):
#
#   run(command="scripts/gpu-check.sh device", carry=["out/gpu-stage"], timeout_s=480)
#
# Settings (environment): TINYMLP_GPU_CHECK_SECONDS, the overall deadline (default 420, so
# that 480 s leaves time to bring the files back); TINYMLP_GPU_STAGE, the staged folder
# (default out/gpu-stage).
#
# Duration on an H200 (2026-12-04, the first run): 22 s (tests 4 s; each trainer run about
# 1 s with quantization and reports; PyTorch 12 s); the machine's start comes on top.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
stage="${TINYMLP_GPU_STAGE:-$root/out/gpu-stage}"
cd "$root"

# The device tool's limits (see the header).
carry_limit_mib=64
out_files_limit=8
out_file_limit_bytes=$((16 << 20))

mnist_files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte
    t10k-labels-idx1-ubyte)
test_binaries=(cuda_startup cuda_kernels cuda_backend_ops cuda_parity)

# Bytes of the working tree as the device tool copies it: tracked files and untracked ones
# git does not ignore.
working_tree_bytes() {
    local listing
    listing="$(mktemp)"
    git -C "$root" ls-files -z --cached --others --exclude-standard >"$listing"
    (cd "$root" && du -cb --files0-from="$listing" 2>/dev/null || true) |
        awk 'END { print ($2 == "total") ? $1 : 0 }'
    rm -f "$listing"
}

stage_here() {
    local data="${TINYMLP_DATA_DIR:-$root/data/mnist}" f
    for f in "${mnist_files[@]}"; do
        if [ ! -f "$data/$f" ] && [ ! -f "$data/$f.gz" ]; then
            echo "gpu-check: $data/$f missing (cargo run -p trainer -- fetch)" >&2
            exit 1
        fi
    done

    echo "gpu-check: building the release trainer and CUDA test binaries" >&2
    cargo build --release -p trainer --bin trainer
    local tests test_args=() name
    for name in "${test_binaries[@]}"; do
        test_args+=(--test "$name")
    done
    tests="$(cargo test --release -p trainer --no-run --message-format=json "${test_args[@]}" |
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
    local path
    while read -r name path; do
        cp "$path" "$stage/bin/$name"
    done <<<"$tests"
    for name in "${test_binaries[@]}"; do
        [ -x "$stage/bin/$name" ] || {
            echo "gpu-check: test binary $name was not built" >&2
            exit 1
        }
    done
    local binary
    for binary in "$stage"/bin/*; do
        strip --strip-debug "$binary" 2>/dev/null || true
    done
    for f in "${mnist_files[@]}"; do
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
    local stage_bytes tree_bytes total_mib
    stage_bytes="$(du -sb "$stage" | cut -f1)"
    tree_bytes="$(working_tree_bytes)"
    total_mib=$(((stage_bytes + tree_bytes + (1 << 20) - 1) >> 20))
    echo "gpu-check: staged $((stage_bytes >> 20)) MiB in ${stage#"$root"/} + working tree" \
        "$((tree_bytes >> 20)) MiB = $total_mib MiB to carry (limit $carry_limit_mib MiB)" >&2
    if [ "$total_mib" -ge "$carry_limit_mib" ]; then
        echo "gpu-check: too large to carry" >&2
        exit 1
    fi
    echo "gpu-check: now run on the GPU machine:" >&2
    echo '  run(command="scripts/gpu-check.sh device", carry=["out/gpu-stage"], timeout_s=480)' >&2
}

# ---------------------------------------------------------------------------------------
# The device half. Nothing below may end the script early or wait without a bound: every
# external command runs under `timeout` with what is left of the deadline, and failures are
# recorded, not fatal.

# Seconds left before the deadline, less what the summary and the archive need.
left() {
    echo $((deadline - reserve - SECONDS))
}

# bounded CAP COMMAND...: runs COMMAND for at most CAP seconds (and never past the
# deadline), stdin closed; returns its status (124 or 137 when stopped).
bounded() {
    local cap="$1" limit
    shift
    limit="$(left)"
    [ "$limit" -gt "$cap" ] && limit="$cap"
    [ "$limit" -lt 1 ] && return 124
    timeout -k 3 "$limit" "$@" </dev/null
}

# record STEP STATUS DETAIL: one line of the step table, then the summary again.
record() {
    printf '%s\t%s\t%s\n' "$1" "$2" "$(printf '%s' "$3" | tr '\t\n' '  ' | cut -c1-400)" \
        >>"$work/steps.tsv"
    write_summary
}

# What in LOG says best what went wrong: a failed CUDA step, a panic with its message (the
# line after), an error line, else the log's last line.
first_error_line() {
    local pattern line
    for pattern in 'cuda: step `' 'cuda start-up: failed' 'panicked at' '^error|^Error|Error:' \
        'No such file|not found' 'SKIPPED|FAILED'; do
        line="$(grep -m1 -A1 -E "$pattern" "$1" 2>/dev/null | head -2 | tr '\n' ' ')"
        [ -n "$line" ] && break
    done
    [ -n "$line" ] || line="$(grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -1)"
    printf '%s' "$line" | sed 's/[[:space:]]*$//' | cut -c1-300
}

# step NAME CAP LOG COMMAND...: runs one step of the check and records how it ended (ok,
# FAILED, TIMED OUT, or skipped when the deadline leaves no time); always returns 0.
step() {
    local name="$1" cap="$2" log="$3" limit
    shift 3
    limit="$(left)"
    if [ "$limit" -lt 2 ]; then
        record "$name" skipped "the overall deadline (${budget} s) was reached first"
        return 0
    fi
    [ "$limit" -gt "$cap" ] && limit="$cap"
    reached="$name"
    local step_started=$SECONDS rc=0
    timeout -k 3 "$limit" "$@" >"$log" 2>&1 </dev/null || rc=$?
    local took=$((SECONDS - step_started))
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        local why="its own limit"
        [ "$limit" -lt "$cap" ] && why="the overall deadline"
        record "$name" "TIMED OUT" "stopped after $limit s ($why); log ${log#"$work"/}"
    elif [ "$rc" -ne 0 ]; then
        record "$name" FAILED "exit $rc after $took s: $(first_error_line "$log")"
    elif grep -q "SKIPPED" "$log"; then
        # A skipped test is a failure here (TINYMLP_REQUIRE_CUDA=1 should already make it
        # one).
        record "$name" FAILED "a test skipped: $(grep -o -m1 "SKIPPED.*" "$log" | cut -c1-300)"
    else
        record "$name" ok "$took s"
    fi
}

# skip NAME REASON
skip() {
    record "$1" skipped "$2"
}

# The first file named $1.so* under the usual CUDA and PyTorch library folders, else the
# loader cache's; nothing (and status 0) when there is none.
find_library() {
    local name="$1" dir file site
    local dirs=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib)
    dirs+=(/usr/local/cuda-*/lib64 /usr/lib/x86_64-linux-gnu /usr/lib64)
    for site in $site_dirs; do
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
    # The whole listing first, then the search: no early exit that could SIGPIPE ldconfig.
    local cache
    cache="$(bounded 10 ldconfig -p 2>/dev/null || true)"
    awk -v n="$name.so" 'index($1, n) == 1 && !found { print $NF; found = 1 }' <<<"$cache"
    return 0
}

# Every step, in order, so that the summary can name the ones never reached.
planned_steps="nvidia-smi|libraries|staged binaries|cuda start-up|test cuda_kernels"
planned_steps+="|test cuda_backend_ops|trainer run 1|trainer run 2|trainer run 3|trainer wine"
planned_steps+="|pytorch eager"
planned_steps+="|test cuda_parity|variant nographs|variant tf32|archive"

# Writes $OUT/summary.md from the step table. Runs after every step, also with the deadline
# near: shell builtins and two awk calls, nothing that can hang.
write_summary() {
    local summary="$OUT/summary.md" tmp="$OUT/.summary.md.tmp" ok failed skipped
    read -r ok failed skipped < <(awk -F'\t' '
        $2 == "ok" { ok++ } $2 == "FAILED" || $2 == "TIMED OUT" { failed++ }
        $2 == "skipped" { skipped++ } END { print ok + 0, failed + 0, skipped + 0 }
    ' "$work/steps.tsv")
    {
        echo "# CUDA backend on the GPU machine"
        echo
        if [ "$finished" = 1 ] && [ "$failed" -eq 0 ] && [ "$skipped" -eq 0 ]; then
            echo "result: ok ($ok steps)"
        elif [ "$finished" = 1 ]; then
            echo "result: FAILED ($failed failed, $skipped skipped, $ok ok; a skip counts as" \
                "a failure here)"
        else
            echo "result: not finished yet ($failed failed, $skipped skipped, $ok ok so far)"
        fi
        echo "reached: $reached, at $((SECONDS - started)) s of the ${budget} s deadline"
        if [ -n "$stop_reason" ]; then echo "stopped: $stop_reason"; fi
        if [ -s "$work/startup.txt" ]; then head -1 "$work/startup.txt"; fi
        if [ -s "$work/graph-warnings.txt" ]; then
            echo "graph capture: $(head -1 "$work/graph-warnings.txt")"
        fi
        echo
        awk -F'\t' -v planned="$planned_steps" '
            { seen[$1] = 1; rows = rows sprintf("| %s | %s | %s |\n", $1, $2, $3) }
            $2 == "skipped" { skips = skips sprintf("- %s: %s\n", $1, $3) }
            END {
                print "| step | status | detail |"
                print "|---|---|---|"
                printf "%s", rows
                n = split(planned, steps, "|")
                for (i = 1; i <= n; i++) if (!(steps[i] in seen)) printf "| %s | not reached | |\n", steps[i]
                if (skips != "") printf "\nskipped:\n%s", skips
            }
        ' "$work/steps.tsv"
        if [ -s "$work/figures.md" ]; then
            echo
            cat "$work/figures.md"
        fi
        echo
        echo "Everything else (logs, report.json of each run, pytorch.json): gpu-check.tar.gz."
    } >"$tmp" 2>/dev/null
    mv -f "$tmp" "$summary"
}

# The figures table from the runs' report.json and pytorch.json (best effort).
figures() {
    command -v python3 >/dev/null || {
        echo "figures: no python3" >"$work/figures.md"
        return 0
    }
    # Written to a file: `bounded` closes stdin.
    cat >"$work/figures.py" <<'EOF'
import glob, json, os, statistics, sys
work = sys.argv[1]
lines = ["## Figures", ""]
def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
def rust_runs(pattern):
    runs = []
    for path in sorted(glob.glob(os.path.join(work, pattern, "report.json"))):
        report = load(path) or {}
        epochs = [e.get("seconds") for e in report.get("history", []) if e.get("seconds") is not None]
        runs.append({
            "run": os.path.basename(os.path.dirname(path)),
            "device": report.get("device"),
            "epochs": epochs,
            "fit": (report.get("timings") or {}).get("fit"),
            "steady": statistics.mean(epochs[1:]) if len(epochs) > 1 else None,
            "accuracy": (report.get("test") or {}).get("accuracy"),
        })
    return runs
rust = rust_runs("train-*")
variants = rust_runs("variant-*")
torch_runs, torch_meta = [], load(os.path.join(work, "pytorch.json")) or {}
for r in torch_meta.get("runs", []):
    torch_runs.append({
        "run": f"seed {r.get('seed')}",
        "device": torch_meta.get("device"),
        "epochs": [e["seconds"] for e in r.get("epochs", [])],
        "fit": r.get("fit_seconds"),
        "steady": r.get("steady_epoch_seconds"),
        "accuracy": r.get("test_accuracy"),
    })
def ms(v):
    return "-" if v is None else f"{v * 1000:.1f}"
lines.append("| what | run | epochs (ms) | steady ms/epoch (2-5) | 5-epoch fit (s) | test accuracy |")
lines.append("|---|---|---|---|---|---|")
for label, runs in (("tinymlp cuda", rust), ("tinymlp cuda variant", variants),
                    (f"pytorch {torch_meta.get('torch', '')} eager", torch_runs)):
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
wine = load(os.path.join(work, "wine", "report.json"))
if wine:
    lines.append(f"wine (features, 100 epochs): test accuracy {(wine.get('test') or {}).get('accuracy')}, fit {(wine.get('timings') or {}).get('fit')} s on {wine.get('device')}")
lines.append("targets: <= 20 ms/epoch steady, 5 epochs < 0.15 s, >= 3x pytorch eager, accuracy >= 0.978")
print("\n".join(lines))
EOF
    bounded 20 python3 "$work/figures.py" "$work" >"$work/figures.md" 2>"$work/figures-error.txt" ||
        echo "figures: the table could not be made (figures-error.txt)" >"$work/figures.md"
}

# The EXIT trap: figures, archive, last summary; the exit status says whether all passed.
finish() {
    local status=$?
    trap - EXIT INT TERM
    set +e
    [ -n "${shim:-}" ] && rm -rf "$shim"
    # Lines the backend writes when a graph capture fails (training goes on without).
    grep -h "step \`first graph capture\` failed" "$work"/*.txt 2>/dev/null |
        sort -u >"$work/graph-warnings.txt"
    figures
    # The deadline's reserve pays for the archive: never more than what is left of it.
    reached="archive"
    local archive="$OUT/gpu-check.tar.gz" limit=$((deadline - 3 - SECONDS))
    [ "$limit" -lt 3 ] && limit=3
    # The exported blobs (about 2 MB a run, incompressible floats) stay behind: the
    # figures are in each run's report.json.
    local keep=(--exclude='*.tmlp' --exclude='*.bin')
    if timeout -k 2 "$limit" tar -czf "$archive" "${keep[@]}" -C "$work" . 2>"$OUT/.tar-error"; then
        local bytes
        bytes="$(wc -c <"$archive")"
        if [ "$bytes" -ge "$out_file_limit_bytes" ]; then
            # Still too large to come back: keep the text only.
            timeout -k 2 "$limit" tar -czf "$archive" "${keep[@]}" --exclude='*.png' \
                -C "$work" . 2>>"$OUT/.tar-error"
            bytes="$(wc -c <"$archive")"
            record archive ok "$bytes bytes, without blobs and plots (over 16 MiB with plots)"
        else
            record archive ok "$bytes bytes, without the exported blobs"
        fi
    else
        record archive FAILED "tar: $(head -1 "$OUT/.tar-error")"
    fi
    rm -f "$OUT/.tar-error"
    finished=1
    write_summary
    rm -rf "$work"
    local failures
    failures="$(grep -cE '^\| [^|]+ \| (FAILED|TIMED OUT|skipped|not reached) \|' "$OUT/summary.md")"
    echo "gpu-check: done in $((SECONDS - started)) s; $(sed -n 3p "$OUT/summary.md")" >&2
    if [ "$status" -ne 0 ] || [ "$failures" -ne 0 ]; then
        exit 1
    fi
    exit 0
}

on_device() {
    : "${OUT:?gpu-check device: OUT must name the output folder}"
    # From here on, failures are recorded in the summary, not fatal: the run must always
    # come back with one.
    set +e
    mkdir -p "$OUT"
    started=$SECONDS
    budget="${TINYMLP_GPU_CHECK_SECONDS:-420}"
    # Kept back from the steps for the kill grace of a step that ignores SIGTERM (3 s), the
    # figures and the archive.
    reserve=$((budget / 10))
    [ "$reserve" -lt 5 ] && reserve=5
    [ "$reserve" -gt 30 ] && reserve=30
    deadline=$((SECONDS + budget))
    reached="start"
    stop_reason=""
    finished=0
    shim=""
    work="$(mktemp -d "${TMPDIR:-/tmp}/tinymlp-gpu-check.XXXXXX")"
    : >"$work/steps.tsv"
    trap finish EXIT
    trap 'stop_reason="interrupted by SIGTERM during $reached"; exit 143' TERM
    trap 'stop_reason="interrupted by SIGINT during $reached"; exit 130' INT
    write_summary

    local env_file="$OUT/environment.txt"
    {
        echo "# gpu-check environment, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -srm)"
        cat "$stage/manifest.txt" 2>/dev/null || echo "no manifest: $stage not staged"
    } >"$env_file"

    step "nvidia-smi" 20 "$work/nvidia-smi.txt" nvidia-smi
    cat "$work/nvidia-smi.txt" >>"$env_file" 2>/dev/null
    {
        echo "== nvcc"
        bounded 10 nvcc --version 2>&1 | tail -2 || echo "nvcc: none or failed"
        echo "== python packages"
        bounded 15 python3 -c '
import importlib.metadata as m
for name in ("torch", "nvidia-cuda-nvrtc", "nvidia-cuda-nvrtc-cu12", "nvidia-cublas", "nvidia-cublas-cu12"):
    try:
        print(name, m.version(name))
    except m.PackageNotFoundError:
        pass
' 2>&1 || echo "python3: none or failed"
    } >>"$env_file" 2>&1

    # cudarc (built for CUDA 12.8) opens libnvrtc.so / libcublas.so or their .12 names; a
    # CUDA 13 machine may only have .13 files. Link the ones found under the plain names.
    site_dirs="$(bounded 10 python3 -c 'import site; print(" ".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null || true)"
    local nvrtc cublas
    reached="libraries"
    nvrtc="$(find_library libnvrtc)"
    cublas="$(find_library libcublas)"
    shim="$(mktemp -d "${TMPDIR:-/tmp}/tinymlp-gpu-shim.XXXXXX")"
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
    {
        echo "== libraries"
        echo "nvrtc: ${nvrtc:-not found} -> $(readlink -f "${nvrtc:-/nonexistent}" 2>/dev/null || echo -)"
        echo "cublas: ${cublas:-not found} -> $(readlink -f "${cublas:-/nonexistent}" 2>/dev/null || echo -)"
        echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    } >>"$env_file"
    if [ -n "$nvrtc" ] && [ -n "$cublas" ]; then
        record "libraries" ok "NVRTC $nvrtc, cuBLAS $cublas"
    else
        record "libraries" FAILED "NVRTC: ${nvrtc:-not found}; cuBLAS: ${cublas:-not found}"
    fi

    export TINYMLP_REQUIRE_CUDA=1 TINYMLP_DATA_DIR="$stage/mnist"

    # The carried binaries may arrive without their execute bits.
    chmod +x "$stage"/bin/* 2>/dev/null || true
    local missing="" name
    for name in trainer "${test_binaries[@]}"; do
        [ -x "$stage/bin/$name" ] || missing="$missing $name"
    done
    local have_stage=1
    if [ -n "$missing" ]; then
        have_stage=0
        record "staged binaries" FAILED "missing in $stage/bin:$missing (run scripts/gpu-check.sh stage here, then carry out/gpu-stage)"
    else
        record "staged binaries" ok "$stage"
    fi
    local no_stage="no staged binaries (see the step 'staged binaries')"

    # Start-up first: its one line says which step fails, if one does.
    if [ "$have_stage" = 1 ]; then
        step "cuda start-up" 60 "$work/test-cuda_startup.txt" \
            "$stage/bin/cuda_startup" --nocapture --test-threads=1
        if [ -f "$work/test-cuda_startup.txt" ]; then
            grep -o -m1 "cuda start-up: .*" "$work/test-cuda_startup.txt" >"$work/startup.txt" ||
                echo "cuda start-up: no report line (see test-cuda_startup.txt)" \
                    >"$work/startup.txt"
            write_summary
        fi
    else
        skip "cuda start-up" "$no_stage"
    fi

    # Tests that say what is wrong, then the figures, then the longer checks.
    if [ "$have_stage" = 1 ]; then
        # What the backend does with this machine's NVRTC (CUBIN for the device, checked).
        # Left to the build machine: the NVRTC 13 re-run (it needs the wheels there) and the
        # ptxas checks (the backend never uses ptxas, and a toolkit's ptxas older than the
        # NVRTC found would refuse its PTX ISA).
        step "test cuda_kernels" 60 "$work/test-cuda_kernels.txt" "$stage/bin/cuda_kernels" \
            --nocapture --test-threads=1 --skip kernels_compile_to_cubin_with_nvrtc_13 \
            --skip kernels_compile_for_sm_
        step "test cuda_backend_ops" 120 "$work/test-cuda_backend_ops.txt" \
            "$stage/bin/cuda_backend_ops" --nocapture --test-threads=1
    else
        skip "test cuda_kernels" "$no_stage"
        skip "test cuda_backend_ops" "$no_stage"
    fi

    local run
    for run in 1 2 3; do
        if [ "$have_stage" = 1 ]; then
            step "trainer run $run" 90 "$work/train-$run.txt" \
                "$stage/bin/trainer" --device cuda --epochs 5 --batch-size 128 --seed "$run" \
                --data-dir "$stage/mnist" --out-dir "$work/train-$run" --quiet
        else
            skip "trainer run $run" "$no_stage"
        fi
    done

    # A feature model (CSV in, standardized f32 features through gather_features), as the
    # README's "Your own data" trains it.
    if [ "$have_stage" = 1 ]; then
        step "trainer wine" 60 "$work/wine.txt" \
            "$stage/bin/trainer" --device cuda --train datasets/wine/train.csv \
            --test datasets/wine/test.csv --label class --hidden 64 --epochs 100 \
            --batch-size 32 --optimizer adam --seed 1 --out-dir "$work/wine" --quiet
    else
        skip "trainer wine" "$no_stage"
    fi

    if ! command -v python3 >/dev/null; then
        skip "pytorch eager" "no python3 on this machine"
    elif [ ! -d "$stage/mnist" ]; then
        skip "pytorch eager" "no MNIST files in $stage/mnist (stage first)"
    else
        step "pytorch eager" 150 "$work/pytorch.txt" python3 bench/torch_mnist.py \
            --data-dir "$stage/mnist" --runs 3 --json "$work/pytorch.json"
    fi

    if [ "$have_stage" = 1 ]; then
        step "test cuda_parity" 150 "$work/test-cuda_parity.txt" "$stage/bin/cuda_parity" \
            --nocapture --test-threads=1
    else
        skip "test cuda_parity" "$no_stage"
    fi

    # For the record: what the graphs save, and what TF32 tensor cores would give.
    local variant
    for variant in nographs:TINYMLP_CUDA_GRAPHS=0 tf32:TINYMLP_CUDA_TF32=1; do
        if [ "$have_stage" = 1 ]; then
            step "variant ${variant%%:*}" 60 "$work/variant-${variant%%:*}.txt" \
                env "${variant#*:}" "$stage/bin/trainer" --device cuda --epochs 5 --seed 1 \
                --data-dir "$stage/mnist" --out-dir "$work/variant-${variant%%:*}" --quiet
        else
            skip "variant ${variant%%:*}" "$no_stage"
        fi
    done
    # finish (the EXIT trap) writes the figures, the archive and the last summary.
}

case "${1:-stage}" in
    stage) stage_here ;;
    device) on_device ;;
    *)
        echo "usage: scripts/gpu-check.sh [stage|device]" >&2
        exit 2
        ;;
esac
