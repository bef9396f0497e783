//! `scripts/gpu-check.sh device`, dry-run here without a GPU against a fake `$OUT`: what the
//! GPU machine would bring back must fit its limits (at most 8 files, 2 folders deep, each
//! under 16 MiB), `summary.md` must name every step with its status and say why each skipped
//! one was skipped, and one overall deadline must hold even when a command hangs.
//!
//! Three runs: without a staged build (every GPU step skipped, with the reason), with a
//! `nvidia-smi` on the PATH that hangs and ignores SIGTERM (the run ends by the deadline and
//! still writes its summary), and with a stub stage whose binaries pass, fail, skip and warn
//! as real ones can (the summary's table, start-up line, graph-capture line and figures).
//! Needs bash and coreutils; python3 and tar as the GPU machine has them.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The device tool's limits on what comes back from `$OUT`.
const MAX_FILES: usize = 8;
const MAX_DEPTH: usize = 2;
const MAX_FILE_BYTES: u64 = 16 << 20;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/gpu-check.sh")
}

/// A fresh folder for one scenario.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("gpu-check")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn write_executable(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().expect("a parent")).expect("folder");
    fs::write(path, text).expect("write stub");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Runs the device half with `$OUT` at `dir/out`, the stage at `stage`, `budget` seconds,
/// and `path_prefix` (stubs) before the PATH.
fn run_device(dir: &Path, stage: &Path, budget: u64, path_prefix: Option<&Path>) -> Output {
    let mut path = std::env::var("PATH").unwrap_or_default();
    if let Some(prefix) = path_prefix {
        path = format!("{}:{path}", prefix.display());
    }
    Command::new("bash")
        .arg(script())
        .arg("device")
        .env("OUT", dir.join("out"))
        .env("TINYMLP_GPU_STAGE", stage)
        .env("TINYMLP_GPU_CHECK_SECONDS", budget.to_string())
        .env("TMPDIR", dir)
        .env("PATH", path)
        .output()
        .expect("run scripts/gpu-check.sh")
}

/// Every file under `dir`, relative, failing on anything the device tool would not return.
fn returned_files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, depth: usize, files: &mut Vec<String>) {
        for entry in fs::read_dir(dir).expect("read $OUT").flatten() {
            let path = entry.path();
            let kind = entry.file_type().expect("file type");
            let relative = path.strip_prefix(root).expect("under $OUT").display();
            if kind.is_dir() {
                assert!(depth < MAX_DEPTH, "{relative}: folder too deep");
                walk(root, &path, depth + 1, files);
            } else {
                assert!(kind.is_file(), "{relative}: not a plain file");
                let bytes = entry.metadata().expect("metadata").len();
                assert!(bytes < MAX_FILE_BYTES, "{relative}: {bytes} bytes");
                files.push(relative.to_string());
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, 0, &mut files);
    files.sort();
    assert!(files.len() <= MAX_FILES, "{} files: {files:?}", files.len());
    files
}

/// The status column of `step`'s row in the summary's table.
fn status<'a>(summary: &'a str, step: &str) -> (&'a str, &'a str) {
    let prefix = format!("| {step} | ");
    let row = summary
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no row for {step}:\n{summary}"));
    let mut cells = row[prefix.len()..].splitn(2, " | ");
    let status = cells.next().expect("status");
    let detail = cells.next().unwrap_or("").trim_end_matches(" |");
    (status, detail)
}

/// The steps the script plans, in order (as `planned_steps` lists them).
const STEPS: [&str; 15] = [
    "nvidia-smi",
    "libraries",
    "staged binaries",
    "cuda start-up",
    "test cuda_kernels",
    "test cuda_backend_ops",
    "trainer run 1",
    "trainer run 2",
    "trainer run 3",
    "trainer wine",
    "pytorch eager",
    "test cuda_parity",
    "variant nographs",
    "variant tf32",
    "archive",
];

fn archive_listing(out: &Path) -> String {
    let listing = Command::new("tar")
        .arg("-tzf")
        .arg(out.join("gpu-check.tar.gz"))
        .output()
        .expect("tar");
    assert!(listing.status.success(), "the archive does not read back");
    String::from_utf8_lossy(&listing.stdout).into_owned()
}

#[test]
fn without_a_stage_every_gpu_step_is_skipped_with_its_reason() {
    let dir = scratch("no-stage");
    let started = Instant::now();
    let output = run_device(&dir, &dir.join("no-stage"), 420, None);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert_eq!(output.status.code(), Some(1), "skips are failures");

    let out = dir.join("out");
    let files = returned_files(&out);
    assert_eq!(
        files,
        ["environment.txt", "gpu-check.tar.gz", "summary.md"],
        "what comes back"
    );
    let summary = fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(summary.contains("\nresult: FAILED ("), "{summary}");
    assert!(summary.contains("a skip counts as a failure"), "{summary}");
    // Each step has a row; none is left "not reached" once the run is over.
    for step in STEPS {
        let (status, _) = status(&summary, step);
        assert_ne!(status, "not reached", "{step}");
    }
    let (stage_status, stage_detail) = status(&summary, "staged binaries");
    assert_eq!(stage_status, "FAILED");
    assert!(stage_detail.contains("missing in"), "{stage_detail}");
    assert!(stage_detail.contains("cuda_startup"), "{stage_detail}");
    let no_stage = "no staged binaries (see the step 'staged binaries')";
    for step in STEPS[3..10].iter().chain(&STEPS[11..14]) {
        assert_eq!(status(&summary, step), ("skipped", no_stage), "{step}");
        assert!(
            summary.contains(&format!("\n- {step}: {no_stage}")),
            "{step}"
        );
    }
    let (torch, why) = status(&summary, "pytorch eager");
    assert_eq!(torch, "skipped");
    assert!(why.contains("no MNIST files in"), "{why}");
    assert_eq!(status(&summary, "archive").0, "ok");
    // Exactly the skipped steps are listed as skipped: 7 + 3 + pytorch.
    assert_eq!(summary.matches("| skipped |").count(), 11, "{summary}");
    assert!(archive_listing(&out).contains("steps.tsv"));
}

#[test]
fn a_hanging_command_ends_by_the_deadline_and_the_summary_is_written() {
    let dir = scratch("hang");
    let stubs = dir.join("stubs");
    // Ignores SIGTERM (and so does its sleep, which inherits that): only SIGKILL ends it.
    write_executable(
        &stubs.join("nvidia-smi"),
        "#!/usr/bin/env bash\ntrap '' TERM\necho 'NVIDIA-SMI hangs'\nsleep 300\n",
    );
    let stage = dir.join("stage");
    stub_stage(&stage);
    let budget = 10;
    let started = Instant::now();
    let output = run_device(&dir, &stage, budget, Some(&stubs));
    let took = started.elapsed();
    assert!(
        took <= Duration::from_secs(budget + 1),
        "took {took:?} with a {budget} s deadline"
    );
    assert_eq!(output.status.code(), Some(1));
    let out = dir.join("out");
    returned_files(&out);
    let summary = fs::read_to_string(out.join("summary.md")).expect("summary.md");
    // The script's own clock: done within the deadline.
    let at: u64 = summary
        .lines()
        .find_map(|l| l.strip_prefix("reached: archive, at "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no 'reached' line:\n{summary}"));
    assert!(at <= budget, "finished at {at} s of {budget} s:\n{summary}");
    // ...after waiting for the hanging command until the deadline (less the reserve).
    assert!(
        at >= budget / 2,
        "finished at {at} s of {budget} s:\n{summary}"
    );
    let (smi, detail) = status(&summary, "nvidia-smi");
    assert_eq!(smi, "TIMED OUT", "{summary}");
    assert!(detail.contains("the overall deadline"), "{detail}");
    // Steps that need time are skipped because of the deadline, and say so.
    let (startup, why) = status(&summary, "cuda start-up");
    assert_eq!(startup, "skipped", "{summary}");
    assert!(why.contains("deadline"), "{why}");
    assert_eq!(status(&summary, "variant tf32").0, "skipped");
    assert_eq!(status(&summary, "archive").0, "ok");
    let environment = fs::read_to_string(out.join("environment.txt")).expect("environment");
    assert!(environment.contains("NVIDIA-SMI hangs"), "{environment}");
}

/// A stage whose binaries behave as real ones can: the start-up passes, the kernel test
/// passes, the backend test skips (a failure here), the parity test panics, the trainer
/// writes a report (and a blob that must not come back), the TF32 variant warns that a
/// graph capture failed.
fn stub_stage(stage: &Path) {
    let bin = stage.join("bin");
    write_executable(
        &bin.join("cuda_startup"),
        "#!/usr/bin/env bash\n\
         printf 'test cuda_starts_captures_a_graph_and_trains ... '\n\
         echo 'cuda start-up: ok: cuda:0 Stub GPU (sm_90 cubin, 1024 MiB; driver 13.0, NVRTC 13.0, cuBLAS 13.0.2, cuMemAllocAsync)'\n\
         echo 'test result: ok. 1 passed'\n",
    );
    write_executable(
        &bin.join("cuda_kernels"),
        "#!/usr/bin/env bash\n\
         case \"$*\" in *'--skip kernels_compile_to_cubin_with_nvrtc_13 --skip kernels_compile_for_sm_'*) ;; \
         *) echo 'the NVRTC 13 re-run and ptxas must be skipped'; exit 3 ;; esac\n\
         echo 'test result: ok. 9 passed'\n",
    );
    write_executable(
        &bin.join("cuda_backend_ops"),
        "#!/usr/bin/env bash\n\
         echo 'test sgd_updates_cuda ... SKIPPED (no usable CUDA GPU): stub'\n\
         echo 'test result: ok. 16 passed'\n",
    );
    write_executable(
        &bin.join("cuda_parity"),
        "#!/usr/bin/env bash\n\
         echo \"thread 'cpu_and_cuda_agree_after_one_epoch' panicked at tests/cuda_parity.rs:1:1:\"\n\
         echo 'training loss: cpu 0.2 vs cuda 0.3'\n\
         exit 101\n",
    );
    write_executable(
        &bin.join("trainer"),
        r#"#!/usr/bin/env bash
out=""
while [ $# -gt 0 ]; do
    [ "$1" = "--out-dir" ] && out="$2"
    shift
done
mkdir -p "$out"
if [ "${TINYMLP_CUDA_TF32:-}" = 1 ]; then
    echo 'warning: backend error: cuda: step `first graph capture` failed (driver 13.0, NVRTC 13.0, cuBLAS 13.0.2): stub; training continues without CUDA graphs' >&2
fi
head -c 100000 /dev/zero >"$out/mnist-f32.tmlp"
cat >"$out/report.json" <<EOF
{"device": "device: cuda:0 Stub GPU", "history": [{"seconds": 0.05}, {"seconds": 0.02}, {"seconds": 0.02}, {"seconds": 0.02}, {"seconds": 0.02}], "timings": {"fit": 0.13}, "test": {"accuracy": 0.98}}
EOF
echo "test accuracy 0.98"
"#,
    );
    fs::create_dir_all(stage.join("mnist")).expect("mnist folder");
    fs::write(stage.join("manifest.txt"), "commit stub\n").expect("manifest");
}

#[test]
fn a_staged_run_reports_each_step_the_startup_line_and_the_figures() {
    let dir = scratch("stub-stage");
    let stubs = dir.join("stubs");
    write_executable(
        &stubs.join("nvidia-smi"),
        "#!/usr/bin/env bash\necho 'NVIDIA H200, 580.159, 143771 MiB'\n",
    );
    let stage = dir.join("stage");
    stub_stage(&stage);
    let started = Instant::now();
    let output = run_device(&dir, &stage, 420, Some(&stubs));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert_eq!(output.status.code(), Some(1));
    let out = dir.join("out");
    returned_files(&out);
    let summary = fs::read_to_string(out.join("summary.md")).expect("summary.md");

    assert!(
        summary.contains("\ncuda start-up: ok: cuda:0 Stub GPU (sm_90 cubin"),
        "{summary}"
    );
    assert!(
        summary.contains(
            "\ngraph capture: warning: backend error: cuda: step `first graph capture` failed"
        ),
        "{summary}"
    );
    for step in [
        "nvidia-smi",
        "staged binaries",
        "cuda start-up",
        "test cuda_kernels",
        "trainer run 1",
        "trainer run 2",
        "trainer run 3",
        "variant nographs",
        "variant tf32",
        "archive",
    ] {
        assert_eq!(status(&summary, step).0, "ok", "{step}:\n{summary}");
    }
    let (ops, why) = status(&summary, "test cuda_backend_ops");
    assert_eq!(ops, "FAILED");
    assert!(
        why.starts_with("a test skipped: SKIPPED (no usable CUDA GPU)"),
        "{why}"
    );
    let (parity, why) = status(&summary, "test cuda_parity");
    assert_eq!(parity, "FAILED");
    assert!(why.starts_with("exit 101 after"), "{why}");
    assert!(why.contains("panicked at tests/cuda_parity.rs"), "{why}");
    // Figures from the three runs' report.json (PyTorch has no GPU here: a failed step).
    assert_eq!(
        summary.matches("| tinymlp cuda | train-").count(),
        3,
        "{summary}"
    );
    assert!(
        summary.contains(
            "| tinymlp cuda | train-1 | 50.0, 20.0, 20.0, 20.0, 20.0 | 20.0 | 0.130 | 0.9800 |"
        ),
        "{summary}"
    );
    let listing = archive_listing(&out);
    for expected in [
        "./train-1/report.json",
        "./test-cuda_parity.txt",
        "./variant-tf32.txt",
    ] {
        assert!(
            listing.lines().any(|l| l == expected),
            "{expected}:\n{listing}"
        );
    }
    assert!(
        !listing.contains(".tmlp"),
        "blobs must stay behind:\n{listing}"
    );
}
