//! No panic path in the inference code of the release firmware: in the linked Cortex-M4
//! ELF, no `core::panicking` (or other panic) symbol may be reachable, through direct
//! calls, from the runtime's functions (`tinymlp::*`, `tinymlp_load_model`,
//! `tinymlp_predict_digit`, and in the `tabular` build `tinymlp_predict_features_int8` and
//! `_f32`). `scripts/firmware-callgraph.sh` walks the call graph and
//! prints the path it finds. Skips (fails when `CI=true`) without rust-nm/rust-objdump or
//! the committed model.

use std::process::Command;

use tinymlp_tests::repo_root;

#[test]
fn release_firmware_runtime_cannot_reach_a_panic() {
    let root = repo_root();
    let missing: Vec<&str> = ["rust-nm", "rust-objdump", "python3"]
        .into_iter()
        .filter(|tool| {
            !Command::new(tool)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if !missing.is_empty() || !root.join("models/mnist-int8.tmlp").is_file() {
        let message = format!(
            "panic-path check needs {missing:?} (scripts/firmware-setup.sh) and models/mnist-int8.tmlp"
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{message}");
        }
        eprintln!("SKIPPED: {message}");
        return;
    }
    for board in ["qemu", "qemu-tabular"] {
        check_build(&root, board);
    }
}

/// Builds the release firmware for `board` and walks its call graph.
fn check_build(root: &std::path::Path, board: &str) {
    let build = Command::new(root.join("scripts/firmware-build.sh"))
        .arg(board)
        .output()
        .expect("run firmware-build.sh");
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let elf = String::from_utf8_lossy(&build.stdout).trim().to_string();
    let check = Command::new(root.join("scripts/firmware-callgraph.sh"))
        .args(["panic-check", &elf])
        .output()
        .expect("run firmware-callgraph.sh");
    let report = String::from_utf8_lossy(&check.stdout);
    eprintln!("{report}{}", String::from_utf8_lossy(&check.stderr));
    assert!(
        report.contains("runtime functions"),
        "{board}: the check found nothing to check"
    );
    assert!(
        check.status.success(),
        "{board}: a panic is reachable from the runtime:\n{report}"
    );
}
