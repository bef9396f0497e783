//! Shared helpers for the cross-crate tests in `tests/tests/`.

use std::path::PathBuf;

/// The repository root (the workspace folder).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Builds the release firmware for `variant` (a board of `scripts/firmware-build.sh`) and
/// returns its ELF's bytes, or the build's error output. Boards of one target share one
/// output path: callers that build several must not do it from parallel threads.
pub fn firmware_elf(variant: &str) -> Result<Vec<u8>, String> {
    let build = std::process::Command::new(repo_root().join("scripts/firmware-build.sh"))
        .arg(variant)
        .output()
        .map_err(|e| format!("cannot run scripts/firmware-build.sh: {e}"))?;
    if !build.status.success() {
        return Err(format!(
            "scripts/firmware-build.sh {variant} failed (scripts/firmware-setup.sh installs \
             the targets):\n{}",
            String::from_utf8_lossy(&build.stderr)
        ));
    }
    let path = String::from_utf8_lossy(&build.stdout).trim().to_string();
    std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))
}
