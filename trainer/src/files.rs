//! Writing files so that a reader, a crash or a Ctrl-C never sees half of one: a single
//! file through a temporary file and a rename ([`write_atomic`]); a whole set of outputs
//! through a staging folder and one switched link ([`OutputDir`]).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let temp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// The folder a run's outputs go to, locked for the run, whose outputs are replaced as one
/// set: every file of a run is written into `runs/<id>/` first, then the link `latest` is
/// switched to it by one `rename`, so a reader, a crash, a kill or a full disk at any
/// instant leaves either the whole previous set or the whole new one. Each output is also
/// reachable as `<dir>/<name>`, a link to `latest/<name>` that never changes.
///
/// The lock (`<dir>/.lock`, an advisory file lock held while this value lives and released
/// by the system when the process dies) makes a second run on the same folder refuse at
/// once, naming the process that holds it. Runs that died before switching leave a
/// `runs/.partial-*` folder; the next run removes it under the lock.
#[derive(Debug)]
pub struct OutputDir {
    dir: PathBuf,
    _lock: File,
}

/// The folder of finished runs inside an [`OutputDir`].
const RUNS: &str = "runs";
/// The link to the current run.
const LATEST: &str = "latest";
/// The prefix of a run still being written.
const PARTIAL: &str = ".partial-";

impl OutputDir {
    /// Creates `dir` if needed, checks it can be written, takes its lock and removes what
    /// dead runs left; refuses, naming the other process, when another run holds the lock.
    pub fn open(dir: &Path) -> Result<OutputDir> {
        if dir.exists() && !dir.is_dir() {
            return Err(Error::Output(format!(
                "{}: exists and is not a folder",
                dir.display()
            )));
        }
        let runs = dir.join(RUNS);
        std::fs::create_dir_all(&runs).map_err(|e| Error::io(&runs, e))?;
        let lock_path = dir.join(".lock");
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = lock.read_to_string(&mut holder);
                return Err(Error::Output(format!(
                    "{} is in use by another trainer ({}); wait for it to finish or pass \
                     another --out-dir",
                    dir.display(),
                    match holder.trim() {
                        "" => "process unknown".to_string(),
                        pid => format!("process {pid}"),
                    }
                )));
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
        }
        let record = (|| {
            lock.set_len(0)?;
            lock.seek(std::io::SeekFrom::Start(0))?;
            write!(lock, "{}", std::process::id())?;
            lock.sync_all()
        })();
        record.map_err(|e| Error::io(&lock_path, e))?;
        let out = OutputDir {
            dir: dir.to_path_buf(),
            _lock: lock,
        };
        out.remove_partial_runs()?;
        Ok(out)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// A new, empty set of outputs to write into.
    pub fn stage(&self) -> Result<Staged<'_>> {
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // Unique across processes (the pid) and within one (the count).
        static STAGED: AtomicU32 = AtomicU32::new(0);
        let count = STAGED.fetch_add(1, Ordering::Relaxed);
        let id = format!("{seconds}-{}-{count}", std::process::id());
        let path = self.dir.join(RUNS).join(format!("{PARTIAL}{id}"));
        std::fs::create_dir(&path).map_err(|e| Error::io(&path, e))?;
        Ok(Staged {
            out: self,
            path,
            id,
            committed: false,
        })
    }

    fn remove_partial_runs(&self) -> Result<()> {
        // Links being made when a run died (`.latest.<pid>`, `.<name>.<pid>`): hidden links
        // in the folder itself, renamed away at once by a run that lives.
        for entry in std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))? {
            let path = entry.map_err(|e| Error::io(&self.dir, e))?.path();
            let hidden = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if hidden && path.is_symlink() {
                std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
        let runs = self.dir.join(RUNS);
        for entry in std::fs::read_dir(&runs).map_err(|e| Error::io(&runs, e))? {
            let path = entry.map_err(|e| Error::io(&runs, e))?.path();
            let partial = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PARTIAL));
            if partial {
                std::fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
        Ok(())
    }

    /// Points `latest` at `runs/<id>` by renaming a new link over it, then makes every
    /// name of the set a link through `latest` and removes runs older than the previous.
    fn switch_to(&self, id: &str, names: &[String]) -> Result<()> {
        let target = Path::new(RUNS).join(id);
        let latest = self.dir.join(LATEST);
        let fresh = self.dir.join(format!(".{LATEST}.{}", std::process::id()));
        replace_with_link(&target, true, &fresh, &latest)?;
        for name in names {
            let link = self.dir.join(name);
            let wanted = Path::new(LATEST).join(name);
            if std::fs::read_link(&link).is_ok_and(|t| t == wanted) {
                continue;
            }
            if link.is_dir() && !link.is_symlink() {
                return Err(Error::Output(format!(
                    "{}: a folder stands where the output link goes",
                    link.display()
                )));
            }
            if link.is_file() && !link.is_symlink() {
                self.keep_plain_file(&link, name)?;
            }
            let fresh = self.dir.join(format!(".{name}.{}", std::process::id()));
            replace_with_link(&wanted, false, &fresh, &link)?;
        }
        self.remove_old_runs(id)
    }

    /// A plain file where a link goes (an output folder written before outputs were sets)
    /// is kept in `runs/earlier/` before the link replaces it.
    fn keep_plain_file(&self, file: &Path, name: &str) -> Result<()> {
        let earlier = self.dir.join(RUNS).join("earlier");
        std::fs::create_dir_all(&earlier).map_err(|e| Error::io(&earlier, e))?;
        let kept = earlier.join(name);
        let _ = std::fs::remove_file(&kept);
        std::fs::hard_link(file, &kept)
            .or_else(|_| std::fs::copy(file, &kept).map(drop))
            .map_err(|e| Error::io(&kept, e))
    }

    /// Keeps the current run and the one before it (a bad model replaced by mistake can be
    /// taken back from there).
    fn remove_old_runs(&self, current: &str) -> Result<()> {
        let runs = self.dir.join(RUNS);
        let mut finished: Vec<(SystemTime, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(&runs).map_err(|e| Error::io(&runs, e))? {
            let entry = entry.map_err(|e| Error::io(&runs, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(PARTIAL) || name == current {
                continue;
            }
            let modified = entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(UNIX_EPOCH);
            finished.push((modified, entry.path()));
        }
        finished.sort();
        let keep_previous = 1;
        for (_, path) in finished.iter().rev().skip(keep_previous) {
            std::fs::remove_dir_all(path).map_err(|e| Error::io(path, e))?;
        }
        Ok(())
    }
}

/// A set of outputs being written (see [`OutputDir`]). Dropped without
/// [`commit`](Self::commit), it is removed and the previous set stays in place.
#[derive(Debug)]
pub struct Staged<'a> {
    out: &'a OutputDir,
    path: PathBuf,
    id: String,
    committed: bool,
}

impl Staged<'_> {
    /// The folder the set is written into (for writers that take a folder, such as plots).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one output of the set.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path.join(name);
        let result = (|| {
            let mut file = File::create(&path)?;
            file.write_all(bytes)?;
            file.sync_all()
        })();
        result.map_err(|e| Error::io(&path, e))
    }

    /// Makes this set the current one, in one step. After it returns, every name in the
    /// output folder reads this run's file.
    pub fn commit(mut self) -> Result<()> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.path).map_err(|e| Error::io(&self.path, e))? {
            let entry = entry.map_err(|e| Error::io(&self.path, e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        sync_dir(&self.path)?;
        let done = self.out.dir.join(RUNS).join(&self.id);
        std::fs::rename(&self.path, &done).map_err(|e| Error::io(&done, e))?;
        self.committed = true;
        sync_dir(&self.out.dir.join(RUNS))?;
        self.out.switch_to(&self.id, &names)
    }
}

impl Drop for Staged<'_> {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Makes `link` a symbolic link to `target` (a folder when `dir`) in one step: the link is
/// made at `fresh`, then renamed over whatever `link` was.
fn replace_with_link(target: &Path, dir: bool, fresh: &Path, link: &Path) -> Result<()> {
    let _ = std::fs::remove_file(fresh);
    symlink(target, dir, fresh).map_err(|e| Error::io(fresh, e))?;
    std::fs::rename(fresh, link).map_err(|e| {
        let _ = std::fs::remove_file(fresh);
        Error::io(link, e)
    })
}

#[cfg(unix)]
fn symlink(target: &Path, _dir: bool, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

/// Symbolic links need developer mode or privileges on Windows; without them the error
/// says so.
#[cfg(windows)]
fn symlink(target: &Path, dir: bool, link: &Path) -> std::io::Result<()> {
    if dir {
        std::os::windows::fs::symlink_dir(target, link)
    } else {
        std::os::windows::fs::symlink_file(target, link)
    }
}

/// Syncs a folder's entries to disk, so a rename inside it survives a power cut.
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))?;
    let _ = dir;
    Ok(())
}
