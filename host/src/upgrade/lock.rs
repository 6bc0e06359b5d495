//! One upgrade at a time per binary (R16): `upgrade install` and
//! `upgrade rollback` hold an exclusive `flock` on `.<name>.upgrade.lock`
//! beside the binary for their whole run, so one cannot sweep the other's
//! staging file or swap under it. The lock file sits beside the binary
//! (not in the data directory) because two data directories can name the
//! same binary. It is removed when the lock is released, so no file is left
//! beside the binary; a process that locked the file just before it was
//! removed sees that its file is no longer the one at the path and retries.

use std::fs::File;
use std::path::{Path, PathBuf};

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeLockError {
    #[error(
        "another upgrade is running on {binary} (it holds {lock}); wait for it to finish. \
         If no upgrade is running, nothing holds the lock and this is a bug"
    )]
    Busy { binary: PathBuf, lock: PathBuf },
    #[error("{0} is not a file path with a directory and a name")]
    NotAFilePath(PathBuf),
    #[error(
        "creating the upgrade lock {lock} (the binary's directory must be writable): {source}"
    )]
    Create {
        lock: PathBuf,
        source: std::io::Error,
    },
}

/// Held while an install or rollback runs; released and removed on drop.
#[derive(Debug)]
pub struct UpgradeLock {
    path: PathBuf,
    /// Never read: closing it (after `path` is removed) releases the lock.
    _file: File,
}

/// `.<name>.upgrade.lock` beside `binary`.
pub fn lock_path(binary: &Path) -> Option<PathBuf> {
    let name = binary.file_name()?.to_str()?;
    Some(binary.with_file_name(format!(".{name}.upgrade.lock")))
}

impl UpgradeLock {
    /// Takes the lock for `binary` without waiting.
    pub fn acquire(binary: &Path) -> Result<Self, UpgradeLockError> {
        let path =
            lock_path(binary).ok_or_else(|| UpgradeLockError::NotAFilePath(binary.into()))?;
        // A few tries: each retry means a holder removed the file we locked.
        for _ in 0..8 {
            let file = File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|source| UpgradeLockError::Create {
                    lock: path.clone(),
                    source,
                })?;
            // An flock (on Linux): held until `file` closes.
            if file.try_lock().is_err() {
                return Err(UpgradeLockError::Busy {
                    binary: binary.into(),
                    lock: path,
                });
            }
            if still_at(&file, &path) {
                return Ok(Self { path, _file: file });
            }
        }
        Err(UpgradeLockError::Busy {
            binary: binary.into(),
            lock: path,
        })
    }
}

impl Drop for UpgradeLock {
    fn drop(&mut self) {
        // Removed while still locked; closing `file` then releases the lock.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether the file we locked is still the one at `path`.
#[cfg(unix)]
fn still_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(ours), Ok(there)) => ours.dev() == there.dev() && ours.ino() == there.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn still_at(_file: &File, _path: &Path) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_upgrade_of_the_same_binary_is_refused_while_one_runs() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("assent-host");
        std::fs::write(&binary, b"x").unwrap();
        let held = UpgradeLock::acquire(&binary).unwrap();
        let error = UpgradeLock::acquire(&binary).unwrap_err();
        assert!(matches!(error, UpgradeLockError::Busy { .. }), "{error}");
        assert!(error.to_string().contains("another upgrade is running"));
        // Another binary in the same directory is another lock.
        std::fs::write(dir.path().join("other"), b"y").unwrap();
        drop(UpgradeLock::acquire(&dir.path().join("other")).unwrap());

        drop(held);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "lock file left behind: {names:?}");
        drop(UpgradeLock::acquire(&binary).unwrap());
    }
}
