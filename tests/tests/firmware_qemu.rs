//! Runs the firmware example in QEMU (Cortex-M4F `mps2-an386`, Cortex-M7 `mps2-an500`,
//! Cortex-M33 `mps2-an505`, and the Cortex-M0+ build of the Pico on `mps2-an386`) and checks
//! that it classifies the digits exactly as the host runtime does: the same class for every
//! digit and the same digest of all raw outputs (bit-exact).
//!
//! Needs `qemu-system-arm`, `defmt-print` and the Cortex-M targets
//! (`scripts/firmware-setup.sh`). Without them the tests fail when `CI=true` and are
//! skipped, loudly, otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use tinymlp::{Int8Scratch, Model, OutputDigest};
use tinymlp_tests::repo_root;

const RECORD: usize = 1 + 784;

/// The boards share one build folder and one output binary: build and run one at a time.
static FIRMWARE: Mutex<()> = Mutex::new(());

#[test]
fn qemu_mps2_an386_cortex_m4_matches_host() {
    check_board(
        "qemu",
        "thumbv7em-none-eabihf",
        "mps2-an386",
        "cortex_m (DSP)",
    );
}

#[test]
fn qemu_mps2_an500_cortex_m7_matches_host() {
    check_board(
        "mps2-an500",
        "thumbv7em-none-eabihf",
        "mps2-an500",
        "cortex_m (DSP)",
    );
}

/// The Pico 2's core and target (thumbv8m.main-none-eabihf, DSP on): the DSP kernel.
#[test]
fn qemu_mps2_an505_cortex_m33_matches_host() {
    check_board(
        "mps2-an505",
        "thumbv8m.main-none-eabihf",
        "mps2-an505",
        "cortex_m (DSP)",
    );
}

/// The Pico's target (thumbv6m-none-eabi, the portable kernel) on the M4 board: ARMv6-M is
/// a subset of ARMv7E-M, and no QEMU board has an M0+ with room for the model.
#[test]
fn qemu_mps2_an386_cortex_m0plus_code_matches_host() {
    check_board("qemu", "thumbv6m-none-eabi", "mps2-an386", "portable");
}

/// What the firmware logged.
#[derive(Debug, Default)]
struct FirmwareLog {
    board: Option<String>,
    kernel: Option<String>,
    kernel_checked: bool,
    digits: Option<usize>,
    predictions: Vec<(usize, Vec<u8>)>,
    correct: Option<usize>,
    digest: Option<u32>,
    cost_per_inference: Option<u64>,
    stack_peak: Option<usize>,
}

fn check_board(feature: &str, target: &str, board: &str, kernel: &str) {
    let Some((model_path, digits_path)) = prerequisites() else {
        return;
    };
    let _guard = FIRMWARE.lock().unwrap_or_else(|e| e.into_inner());
    let output = cargo_run_firmware(feature, target);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "firmware for {board} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let log = parse_log(&stdout);
    assert_eq!(log.board.as_deref(), Some(board), "log:\n{stdout}");
    assert_eq!(log.kernel.as_deref(), Some(kernel), "log:\n{stdout}");
    assert!(log.kernel_checked, "no kernel check line in:\n{stdout}");

    let blob = std::fs::read(&model_path).expect("read model");
    let digits = std::fs::read(&digits_path).expect("read digits");
    let count = log.digits.expect("digit count in log");
    assert!(
        count > 0 && count * RECORD <= digits.len(),
        "digits: {count}"
    );
    // QEMU's 4 MiB hold every committed digit.
    assert_eq!(count, (digits.len() / RECORD).min(1000));

    let model = Model::from_bytes(&blob).expect("host loads the model");
    let mut scratch = Int8Scratch::<512, 10>::new();
    let mut digest = OutputDigest::new();
    let mut host_classes = Vec::with_capacity(count);
    let mut correct = 0;
    for record in digits.chunks_exact(RECORD).take(count) {
        let prediction = model
            .predict(&record[1..], &mut scratch)
            .expect("host predicts");
        digest.add(&prediction);
        correct += usize::from(prediction.class == usize::from(record[0]));
        host_classes.push(prediction.class as u8);
    }

    let mut firmware_classes = Vec::with_capacity(count);
    for (start, classes) in &log.predictions {
        assert_eq!(
            *start,
            firmware_classes.len(),
            "prediction lines out of order"
        );
        firmware_classes.extend_from_slice(classes);
    }
    assert_eq!(firmware_classes.len(), count, "one prediction per digit");
    let first_difference = firmware_classes
        .iter()
        .zip(&host_classes)
        .position(|(a, b)| a != b);
    assert_eq!(
        first_difference, None,
        "firmware and host disagree on a digit"
    );
    assert_eq!(log.correct, Some(correct));
    assert_eq!(
        log.digest,
        Some(digest.finish()),
        "raw outputs differ between {board} ({target}) and the host"
    );
    let cost = log.cost_per_inference.expect("cost in log");
    assert!(cost > 0, "SysTick under -icount must count");
    let stack = log.stack_peak.expect("stack peak in log");
    eprintln!(
        "{board} ({target}): {count} digits, {correct} correct, identical to the host; \
         {cost} instructions per inference; peak stack {stack} bytes"
    );
}

/// Paths of the model and digits, or None (after saying why) when the test must skip.
fn prerequisites() -> Option<(PathBuf, PathBuf)> {
    let root = repo_root();
    let model = input_path("TINYMLP_MODEL", &root.join("models/mnist-int8.tmlp"));
    let digits = input_path("TINYMLP_DIGITS", &root.join("models/mnist-test-digits.bin"));
    let mut missing = Vec::new();
    for tool in ["qemu-system-arm", "defmt-print"] {
        if !on_path(tool) {
            missing.push(format!("{tool} (run scripts/firmware-setup.sh)"));
        }
    }
    for file in [&model, &digits] {
        if !file.is_file() {
            missing.push(format!("{} (commit the trained model)", file.display()));
        }
    }
    if missing.is_empty() {
        return Some((model, digits));
    }
    let message = format!("firmware QEMU test needs: {}", missing.join(", "));
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message}");
    }
    eprintln!("SKIPPED: {message}");
    None
}

fn input_path(var: &str, default: &Path) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| default.to_path_buf())
}

fn on_path(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn cargo_run_firmware(feature: &str, target: &str) -> std::process::Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(cargo)
        .current_dir(repo_root().join("firmware-example"))
        .args(["run", "--release", "--locked", "--features", feature])
        .args(["--target", target])
        // The firmware's own .cargo/config.toml sets its target, linker scripts and runner;
        // flags meant for the host build must not override them.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .expect("start cargo")
}

fn parse_log(log: &str) -> FirmwareLog {
    let mut parsed = FirmwareLog::default();
    for line in log.lines().map(str::trim) {
        if let Some(board) = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("tinymlp-board="))
        {
            parsed.board = Some(board.to_string());
            parsed.kernel = line
                .split_once("kernel=")
                .map(|(_, kernel)| kernel.trim().to_string());
        } else if line.starts_with("kernel check:") && line.contains("bit-exact") {
            parsed.kernel_checked = true;
        } else if let Some(rest) = line.strip_prefix("model:") {
            parsed.digits = rest
                .rsplit_once("digits:")
                .and_then(|(_, n)| n.trim().parse().ok());
        } else if let Some(rest) = line.strip_prefix("predictions ") {
            let (start, list) = rest.split_once(':').expect("predictions N: [..]");
            let classes = list
                .trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .split(',')
                .map(|c| c.trim().parse::<u8>().expect("class"))
                .collect();
            parsed
                .predictions
                .push((start.parse().expect("start"), classes));
        } else if let Some(rest) = line.strip_prefix("accuracy:") {
            parsed.correct = rest.trim().split('/').next().and_then(|n| n.parse().ok());
        } else if let Some(rest) = line.strip_prefix("digest:") {
            parsed.digest = rest.trim().parse().ok();
        } else if let Some(rest) = line.strip_prefix("cost per inference: mean ") {
            parsed.cost_per_inference = rest.split_whitespace().next().and_then(|n| n.parse().ok());
        } else if let Some(rest) = line.strip_prefix("stack: peak ") {
            parsed.stack_peak = rest.split_whitespace().next().and_then(|n| n.parse().ok());
        }
    }
    parsed
}

#[test]
fn log_parser_reads_every_field() {
    let log = "tinymlp-board=mps2-an386 kernel=cortex_m (DSP)\n\
               kernel check: 400 random cases bit-exact against the reference\n\
               model: 413332 bytes at 0x4cc9, 406528 MACs; digits: 3\n\
               miss 1: label 2 predicted 7 p=0.5\n\
               predictions 0: [7, 7, 1]\n\
               accuracy: 2/3 (66.6 %)\n\
               digest: 4023233417\n\
               cost per inference: mean 290109 min 1 max 2 instructions; 0.7 per MAC\n\
               stack: peak 4508 bytes during inference (scratch buffer and model included), 5028 while loading\n";
    let parsed = parse_log(log);
    assert_eq!(parsed.board.as_deref(), Some("mps2-an386"));
    assert_eq!(parsed.kernel.as_deref(), Some("cortex_m (DSP)"));
    assert!(parsed.kernel_checked);
    assert_eq!(parsed.digits, Some(3));
    assert_eq!(parsed.predictions, vec![(0, vec![7, 7, 1])]);
    assert_eq!(parsed.correct, Some(2));
    assert_eq!(parsed.digest, Some(4_023_233_417));
    assert_eq!(parsed.cost_per_inference, Some(290_109));
    assert_eq!(parsed.stack_peak, Some(4508));
}
