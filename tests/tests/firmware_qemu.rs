//! Runs the firmware example in QEMU (Cortex-M4F `mps2-an386`, Cortex-M7 `mps2-an500`,
//! Cortex-M33 `mps2-an505`, and the Cortex-M0+ build of the Pico on `mps2-an386`) and checks
//! that it classifies the digits exactly as the host runtime does: the same class for every
//! digit and the same digest of all raw outputs (bit-exact). The `tabular` build (raw f32
//! features into an int8 and an f32 feature model, `models/wine-*`) is checked the same way
//! on the M4 and with the M0+ code, class names included. The checks hold for any weights:
//! the committed blobs can be retrained.
//!
//! Needs `qemu-system-arm`, `defmt-print` and the Cortex-M targets
//! (`scripts/firmware-setup.sh`). Without them the tests fail when `CI=true` and are
//! skipped, loudly, otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use tinymlp::{F32Scratch, Int8Scratch, Model, OutputDigest, ParamKind, Scratch};
use tinymlp_tests::repo_root;
use trainer::data::{read_csv, CsvOptions};

const RECORD: usize = 1 + 784;
/// The scratch capacity of the firmware's `tabular` build (`firmware-example/src/tabular.rs`).
const TABULAR_WIDTH: usize = 256;
const TABULAR_CLASSES: usize = 16;

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

/// The `tabular` build on the M4: the DSP int8 kernel and the FPU.
#[test]
fn qemu_mps2_an386_cortex_m4_tabular_matches_host() {
    check_tabular(
        "thumbv7em-none-eabihf",
        "cortex_m (DSP)",
        Labels::AsRecorded,
    );
}

/// The `tabular` build's M0+ code: the portable int8 kernel, and f32 arithmetic in software
/// (no FPU): the same bits still. Every label is moved to the next class, so every input
/// is a miss and the log's miss lines (by class name) are checked too, whatever the
/// model's accuracy.
#[test]
fn qemu_mps2_an386_cortex_m0plus_tabular_matches_host() {
    check_tabular("thumbv6m-none-eabi", "portable", Labels::Rotated);
}

/// The labels the `tabular` firmware gets with the inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Labels {
    /// As in the inputs file.
    AsRecorded,
    /// Each moved to the next class (the last to 0): every prediction that was right is
    /// now a miss.
    Rotated,
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
    let stdout = run_firmware(feature, target, &[]);
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

/// Builds and runs the firmware for `feature` (a board, or a board and `tabular`) built for
/// `target`; returns its decoded log, which must end in success.
/// `env`: variables for the build (`TINYMLP_*` file paths).
fn run_firmware(feature: &str, target: &str, env: &[(&str, &Path)]) -> String {
    let _guard = FIRMWARE.lock().unwrap_or_else(|e| e.into_inner());
    let output = cargo_run_firmware(feature, target, env);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "firmware --features {feature} --target {target} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

/// One model's part of the `tabular` build's log.
#[derive(Debug, Default)]
struct TabularSection {
    /// `int8` or `f32`: which of the build's two models.
    kind: String,
    /// The model's name, or `(no name)`.
    name: String,
    features: Option<usize>,
    classes: Option<usize>,
    inputs: Option<usize>,
    /// `(class, name)` of each `class i: name` line.
    class_names: Vec<(usize, String)>,
    /// Each `miss` line up to the probability: `miss 7: label class_1 predicted class_0`.
    misses: Vec<String>,
    /// Predictions, accuracy, digest, cost and stack, read as in the digits build.
    log: FirmwareLog,
}

fn check_tabular(target: &str, kernel: &str, labels: Labels) {
    let root = repo_root();
    let blobs = [
        (
            "int8",
            input_path("TINYMLP_TABULAR_INT8", &root.join("models/wine-int8.tmlp")),
        ),
        (
            "f32",
            input_path("TINYMLP_TABULAR_F32", &root.join("models/wine-f32.tmlp")),
        ),
    ];
    let inputs_path = input_path(
        "TINYMLP_TABULAR_INPUTS",
        &root.join("models/wine-test-features.bin"),
    );
    let mut files: Vec<&Path> = blobs.iter().map(|(_, path)| path.as_path()).collect();
    files.push(&inputs_path);
    if !have_prerequisites(&files) {
        return;
    }
    let mut inputs = std::fs::read(&inputs_path).expect("read the tabular inputs");
    let rotated_path = std::env::temp_dir().join(format!(
        "tinymlp-tabular-rotated-{}.bin",
        std::process::id()
    ));
    let mut env = Vec::new();
    if labels == Labels::Rotated {
        let blob = std::fs::read(&blobs[0].1).expect("read the int8 model");
        let model = Model::from_bytes(&blob).expect("host loads the int8 model");
        let (record, classes) = (1 + 4 * model.input_len(), model.classes());
        for label in inputs.iter_mut().step_by(record) {
            *label = ((usize::from(*label) + 1) % classes) as u8;
        }
        std::fs::write(&rotated_path, &inputs).expect("write the rotated inputs");
        env.push(("TINYMLP_TABULAR_INPUTS", rotated_path.as_path()));
    }
    let stdout = run_firmware("qemu,tabular", target, &env);
    if labels == Labels::Rotated {
        // The build has copied it; a later build without the variable reads the default.
        let _ = std::fs::remove_file(&rotated_path);
    }
    let (head, sections) = parse_tabular_log(&stdout);
    assert_eq!(head.board.as_deref(), Some("mps2-an386"), "log:\n{stdout}");
    assert_eq!(head.kernel.as_deref(), Some(kernel), "log:\n{stdout}");
    assert!(head.kernel_checked, "no kernel check line in:\n{stdout}");
    let kinds: Vec<&str> = sections.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds, ["int8", "f32"], "log:\n{stdout}");

    for ((kind, path), section) in blobs.iter().zip(&sections) {
        let blob = std::fs::read(path).expect("read a tabular model");
        let model = Model::from_bytes(&blob).expect("host loads the tabular model");
        let expected_kind = if *kind == "int8" {
            ParamKind::Int8
        } else {
            ParamKind::F32
        };
        assert_eq!(model.kind(), expected_kind, "{}", path.display());
        let host = match model.kind() {
            ParamKind::Int8 => classify_on_host(
                &model,
                &inputs,
                &mut Int8Scratch::<TABULAR_WIDTH, TABULAR_CLASSES>::new(),
            ),
            ParamKind::F32 => classify_on_host(
                &model,
                &inputs,
                &mut F32Scratch::<TABULAR_WIDTH, TABULAR_CLASSES>::new(),
            ),
        };
        let what = format!("{kind} model ({target})");
        assert_eq!(section.name, model.name().unwrap_or("(no name)"), "{what}");
        assert_eq!(section.features, Some(model.input_len()), "{what}");
        assert_eq!(section.classes, Some(model.classes()), "{what}");
        assert_eq!(section.inputs, Some(host.classes.len()), "{what}");
        let names: Vec<(usize, String)> = (0..model.classes())
            .filter_map(|c| model.class_name(c).map(|name| (c, name.to_string())))
            .collect();
        assert_eq!(section.class_names, names, "{what}: class names");
        let mut firmware_classes = Vec::new();
        for (start, classes) in &section.log.predictions {
            assert_eq!(*start, firmware_classes.len(), "{what}: lines out of order");
            firmware_classes.extend_from_slice(classes);
        }
        assert_eq!(firmware_classes, host.classes, "{what}: classes differ");
        assert_eq!(section.misses, host.misses, "{what}: miss lines");
        if labels == Labels::Rotated {
            assert_eq!(host.correct, 0, "{what}: the rotated labels are all wrong");
        }
        assert_eq!(section.log.correct, Some(host.correct), "{what}");
        assert_eq!(
            section.log.digest,
            Some(host.digest),
            "{what}: raw outputs differ from the host's"
        );
        let cost = section.log.cost_per_inference.expect("cost in log");
        assert!(cost > 0, "SysTick under -icount must count");
        eprintln!(
            "{what}: {} inputs, {} correct, identical to the host; {cost} instructions per \
             inference; peak stack {} bytes",
            host.classes.len(),
            host.correct,
            section.log.stack_peak.unwrap_or(0)
        );
    }
}

/// What the host runtime makes of the tabular inputs, in the firmware log's terms.
struct HostRun {
    classes: Vec<u8>,
    correct: usize,
    digest: u32,
    misses: Vec<String>,
}

/// Classifies every record `[label u8][f32 LE x features]` of `inputs` with `model`.
fn classify_on_host<S: Scratch>(model: &Model<'_>, inputs: &[u8], scratch: &mut S) -> HostRun {
    let record = 1 + 4 * model.input_len();
    assert_eq!(
        inputs.len() % record,
        0,
        "the inputs are not whole records of 1 + 4 x {} bytes",
        model.input_len()
    );
    let mut host = HostRun {
        classes: Vec::new(),
        correct: 0,
        digest: 0,
        misses: Vec::new(),
    };
    let mut digest = OutputDigest::new();
    for (index, record) in inputs.chunks_exact(record).enumerate() {
        let features: Vec<f32> = record[1..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        let prediction = model
            .predict_features(&features, scratch)
            .expect("host predicts");
        digest.add(&prediction);
        let (label, class) = (record[0], prediction.class as u8);
        if class == label {
            host.correct += 1;
        } else {
            let name = |c: u8| model.class_name(usize::from(c)).map(str::to_string);
            let (label, class) = match (name(label), name(class)) {
                (Some(label), Some(class)) => (label, class),
                _ => (label.to_string(), class.to_string()),
            };
            host.misses
                .push(format!("miss {index}: label {label} predicted {class}"));
        }
        host.classes.push(class);
    }
    host.digest = digest.finish();
    host
}

/// Splits the `tabular` build's log at each `model <kind>:` line: the lines before (board,
/// kernel check) and one section per model.
fn parse_tabular_log(log: &str) -> (FirmwareLog, Vec<TabularSection>) {
    let mut head = String::new();
    let mut parts: Vec<(TabularSection, String)> = Vec::new();
    for line in log.lines() {
        let trimmed = line.trim();
        if let Some(section) = parse_model_line(trimmed) {
            parts.push((section, String::new()));
            continue;
        }
        let Some((section, text)) = parts.last_mut() else {
            head.push_str(line);
            head.push('\n');
            continue;
        };
        if let Some((class, name)) = trimmed
            .strip_prefix("class ")
            .and_then(|rest| rest.split_once(": "))
        {
            let class = class.parse().expect("class index");
            section.class_names.push((class, name.to_string()));
        } else if trimmed.starts_with("miss ") {
            let miss = trimmed.split(" p=").next().unwrap_or(trimmed);
            section.misses.push(miss.to_string());
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    let sections = parts
        .into_iter()
        .map(|(mut section, text)| {
            section.log = parse_log(&text);
            section
        })
        .collect();
    (parse_log(&head), sections)
}

/// `model int8: wine, 677 bytes at 0x9c80, 256 MACs, 13 features, 3 classes; inputs: 45`.
fn parse_model_line(line: &str) -> Option<TabularSection> {
    let rest = line.strip_prefix("model ")?;
    let (kind, rest) = rest.split_once(": ")?;
    if kind.contains(' ') {
        return None;
    }
    let (name, rest) = rest.split_once(", ")?;
    let count_before = |unit: &str| {
        rest.split([',', ';'])
            .find_map(|part| part.trim().strip_suffix(unit)?.trim().parse().ok())
    };
    Some(TabularSection {
        kind: kind.to_string(),
        name: name.to_string(),
        features: count_before(" features"),
        classes: count_before(" classes"),
        inputs: rest
            .rsplit_once("inputs:")
            .and_then(|(_, n)| n.trim().parse().ok()),
        ..TabularSection::default()
    })
}

/// Paths of the model and digits, or None (after saying why) when the test must skip.
fn prerequisites() -> Option<(PathBuf, PathBuf)> {
    let root = repo_root();
    let model = input_path("TINYMLP_MODEL", &root.join("models/mnist-int8.tmlp"));
    let digits = input_path("TINYMLP_DIGITS", &root.join("models/mnist-test-digits.bin"));
    have_prerequisites(&[&model, &digits]).then_some((model, digits))
}

/// Whether QEMU, defmt-print and `files` are there; if not, says what is missing and
/// returns false (the test skips), or fails when `CI=true`.
fn have_prerequisites(files: &[&Path]) -> bool {
    let mut missing = Vec::new();
    for tool in ["qemu-system-arm", "defmt-print"] {
        if !on_path(tool) {
            missing.push(format!("{tool} (run scripts/firmware-setup.sh)"));
        }
    }
    for file in files {
        if !file.is_file() {
            missing.push(format!("{} (commit the trained model)", file.display()));
        }
    }
    if missing.is_empty() {
        return true;
    }
    let message = format!("firmware QEMU test needs: {}", missing.join(", "));
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message}");
    }
    eprintln!("SKIPPED: {message}");
    false
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

fn cargo_run_firmware(feature: &str, target: &str, env: &[(&str, &Path)]) -> std::process::Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(cargo)
        .current_dir(repo_root().join("firmware-example"))
        .envs(env.iter().copied())
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

#[test]
fn tabular_log_parser_reads_every_section() {
    let log = "tinymlp-board=mps2-an386 kernel=portable\n\
               kernel check: 400 random cases bit-exact against the reference\n\
               model int8: wine, 677 bytes at 0x9c80, 256 MACs, 13 features, 3 classes; inputs: 3\n\
               class 0: class_0\n\
               class 1: class 1, with spaces\n\
               miss 2: label class_0 predicted class 1, with spaces p=0.5\n\
               predictions 0: [0, 1, 1]\n\
               accuracy: 2/3 (66.6 %)\n\
               digest: 864336948\n\
               stack: peak 4660 bytes during inference (scratch buffer and model included), 2656 while loading\n\
               cost per inference: mean 5505 min 5360 max 5560 instructions; 21.5 per MAC\n\
               model f32: (no name), 1267 bytes at 0x978d, 256 MACs, 13 features, 3 classes; inputs: 3\n\
               predictions 0: [0, 1, 2]\n\
               accuracy: 3/3 (100 %)\n\
               digest: 7\n";
    let (head, sections) = parse_tabular_log(log);
    assert_eq!(head.board.as_deref(), Some("mps2-an386"));
    assert_eq!(head.kernel.as_deref(), Some("portable"));
    assert!(head.kernel_checked);
    assert_eq!(sections.len(), 2);
    let int8 = &sections[0];
    assert_eq!(int8.kind, "int8");
    assert_eq!(int8.name, "wine");
    assert_eq!(
        (int8.features, int8.classes, int8.inputs),
        (Some(13), Some(3), Some(3))
    );
    assert_eq!(
        int8.class_names,
        [
            (0, "class_0".to_string()),
            (1, "class 1, with spaces".to_string())
        ]
    );
    assert_eq!(
        int8.misses,
        ["miss 2: label class_0 predicted class 1, with spaces"]
    );
    assert_eq!(int8.log.predictions, vec![(0, vec![0, 1, 1])]);
    assert_eq!(int8.log.correct, Some(2));
    assert_eq!(int8.log.digest, Some(864_336_948));
    assert_eq!(int8.log.cost_per_inference, Some(5505));
    assert_eq!(int8.log.stack_peak, Some(4660));
    let f32 = &sections[1];
    assert_eq!((f32.kind.as_str(), f32.name.as_str()), ("f32", "(no name)"));
    assert!(f32.class_names.is_empty());
    assert_eq!(f32.log.predictions, vec![(0, vec![0, 1, 2])]);
    assert_eq!(f32.log.digest, Some(7));
}

/// The firmware's committed tabular inputs are `datasets/wine/test.csv` as the trainer reads
/// it (its f32 values, its classes numbered as in `train.csv`), so the firmware's accuracy is
/// the trainer's test accuracy. `datasets/features_bin.py` writes the file.
#[test]
fn wine_test_inputs_are_the_datasets_test_csv() {
    let root = repo_root();
    let options = CsvOptions {
        label: Some("class".into()),
        ..CsvOptions::default()
    };
    let read = |name: &str| read_csv(&root.join("datasets/wine").join(name), &options);
    let train = read("train.csv").expect("read datasets/wine/train.csv");
    let test = train
        .align_classes(read("test.csv").expect("read datasets/wine/test.csv"))
        .expect("test classes are training classes");
    let mut expected = Vec::new();
    for row in 0..test.rows() {
        expected.push(test.labels[row]);
        for value in test.row(row) {
            expected.extend_from_slice(&value.to_le_bytes());
        }
    }
    let committed = std::fs::read(root.join("models/wine-test-features.bin"))
        .expect("read models/wine-test-features.bin");
    assert_eq!(
        committed.len(),
        expected.len(),
        "models/wine-test-features.bin: rerun datasets/features_bin.py datasets/wine"
    );
    let first_difference = committed.iter().zip(&expected).position(|(a, b)| a != b);
    assert_eq!(
        first_difference, None,
        "models/wine-test-features.bin differs from datasets/wine/test.csv"
    );
}
