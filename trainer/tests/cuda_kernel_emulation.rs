//! The CUDA kernels' logic without a GPU: `kernels/emulation/check_kernels.cpp` compiles the
//! `.cu` sources as C++ over a small emulation of the CUDA built-ins (one thread per CUDA
//! thread, real barriers and warp shuffles) and checks every kernel against plain host
//! arithmetic, the optimizer updates bit for bit. Needs a C++20 compiler (`g++`, or `CXX`);
//! without one the test fails when `CI=true` (`scripts/cuda-toolchain.sh` installs g++) and
//! skips with a message otherwise.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn kernels_match_host_arithmetic_under_emulation() {
    let compiler = std::env::var("CXX").unwrap_or_else(|_| "g++".into());
    let available = Command::new(&compiler)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        let message = format!(
            "CUDA kernel emulation: no C++ compiler `{compiler}` (run scripts/cuda-toolchain.sh)"
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{message} (CI=true: this test must run)");
        }
        eprintln!("SKIPPED: {message}");
        return;
    }
    let source =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("kernels/emulation/check_kernels.cpp");
    let binary = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("check_kernels");
    let build = Command::new(&compiler)
        .args([
            "-std=c++20",
            "-O1",
            "-ffp-contract=off",
            "-pthread",
            "-Wall",
            "-Werror",
        ])
        .arg(&source)
        .arg("-o")
        .arg(&binary)
        .output()
        .expect("run the C++ compiler");
    assert!(
        build.status.success(),
        "compiling the kernels for emulation failed:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let run = Command::new(&binary).output().expect("run check_kernels");
    let report = String::from_utf8_lossy(&run.stdout);
    eprintln!("{report}");
    assert!(run.status.success(), "kernel checks failed:\n{report}");
    assert!(report.contains("all kernel checks passed"), "{report}");
}
