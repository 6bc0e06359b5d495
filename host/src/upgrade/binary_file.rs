//! The binary on disk (R16). A download lands in a staging file beside the
//! binary (same directory, so the final rename is atomic) and is removed on
//! every path that does not install it. Installing keeps the replaced
//! binary as `<binary>.previous`; rolling back renames that file over the
//! binary, so the release being undone is discarded rather than kept one
//! command away.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand_core::{OsRng, RngCore};

/// Why a file step failed; each names the path so the technician can look.
#[derive(Debug, thiserror::Error)]
pub enum BinaryFileError {
    #[error("{0} is not a file path with a directory and a name")]
    NotAFilePath(PathBuf),
    #[error(
        "cannot create a staging file in {dir} (the binary's directory must be writable): {source}"
    )]
    Stage {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("writing the download to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("keeping the current binary as {previous}: {source}; nothing was replaced")]
    KeepPrevious {
        previous: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "replacing {binary}: {source}; the binary was not replaced, but {previous} now holds \
         a copy of it (the binary kept there before is gone)"
    )]
    Replace {
        binary: PathBuf,
        previous: PathBuf,
        source: std::io::Error,
    },
    /// The rename happened but may not survive a power cut.
    #[error(
        "the binary at {binary} was replaced, but syncing its directory to disk failed: \
         {source}; check the disk, then run `assent-host upgrade check`"
    )]
    NotDurable {
        binary: PathBuf,
        source: std::io::Error,
    },
    /// The staged package no longer hashes to what the technician approved.
    #[error(
        "the downloaded package {0} changed on disk after it was verified and approved; \
         nothing was replaced. Something else writes to the binary's directory: find out \
         what before installing again"
    )]
    ChangedSinceApproval(PathBuf),
    #[error("there is no previous binary at {0}: nothing to roll back to")]
    NoPrevious(PathBuf),
    #[error("restoring {previous} over {binary}: {source}; the binary was not replaced")]
    Restore {
        previous: PathBuf,
        binary: PathBuf,
        source: std::io::Error,
    },
}

/// `<binary>.previous`, where an install keeps the binary it replaced.
pub fn previous_path(binary: &Path) -> PathBuf {
    let mut name = binary.file_name().unwrap_or_default().to_os_string();
    name.push(".previous");
    binary.with_file_name(name)
}

/// Whether `name` is one of our staging files (for sweeping and tests).
pub fn is_staging_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(STAGING_SUFFIX)
}

/// Removes staging files for `binary` left by a process that was killed
/// (errors and refusals remove their own); returns how many.
pub fn sweep_stale_staging(binary: &Path) -> usize {
    let Ok((dir, name)) = split(binary) else {
        return 0;
    };
    let prefix = format!(".{name}.");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            let file_name = entry.file_name();
            let file_name = file_name.to_string_lossy();
            is_staging_name(&file_name)
                && file_name.starts_with(&prefix)
                && entry.file_type().is_ok_and(|t| t.is_file())
        })
        .filter(|entry| std::fs::remove_file(entry.path()).is_ok())
        .count()
}

const STAGING_SUFFIX: &str = ".assent-upgrade";

fn split(binary: &Path) -> Result<(&Path, String), BinaryFileError> {
    let name = binary.file_name().and_then(|n| n.to_str());
    let dir = binary.parent().map(|d| {
        if d.as_os_str().is_empty() {
            Path::new(".")
        } else {
            d
        }
    });
    match (dir, name) {
        (Some(dir), Some(name)) => Ok((dir, name.to_owned())),
        _ => Err(BinaryFileError::NotAFilePath(binary.to_path_buf())),
    }
}

/// A new, exclusively created file beside `binary`, removed when dropped
/// unless it was renamed into place.
pub struct StagedFile {
    path: PathBuf,
    file: Option<File>,
}

impl StagedFile {
    pub fn beside(binary: &Path) -> Result<Self, BinaryFileError> {
        let (dir, name) = split(binary)?;
        let mut last_error = None;
        for _ in 0..8 {
            let path = dir.join(format!(".{name}.{:016x}{STAGING_SUFFIX}", OsRng.next_u64()));
            match File::options().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    return Ok(Self {
                        path,
                        file: Some(file),
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_error = Some(e),
                Err(e) => return Err(stage_error(dir, e)),
            }
        }
        Err(stage_error(
            dir,
            last_error.unwrap_or_else(|| std::io::Error::other("no free name")),
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&mut self, data: &[u8]) -> Result<(), BinaryFileError> {
        let file = self.file.as_mut().expect("open until consumed");
        file.write_all(data)
            .map_err(|source| BinaryFileError::Write {
                path: self.path.clone(),
                source,
            })
    }

    /// Makes the file executable (0755), then flushes it to disk, so the
    /// mode is as durable as the bytes.
    fn seal(&mut self) -> Result<(), BinaryFileError> {
        let write_error = |source| BinaryFileError::Write {
            path: self.path.clone(),
            source,
        };
        let file = self.file.take().expect("open until consumed");
        set_executable(&file).map_err(write_error)?;
        file.sync_all().map_err(write_error)?;
        Ok(())
    }

    /// Renames the file to `to` (same directory); it is no longer ours to remove.
    fn rename_to(mut self, to: &Path) -> std::io::Result<()> {
        std::fs::rename(&self.path, to)?;
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn stage_error(dir: &Path, source: std::io::Error) -> BinaryFileError {
    BinaryFileError::Stage {
        dir: dir.to_path_buf(),
        source,
    }
}

fn sha256_of(path: &Path) -> std::io::Result<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    std::io::copy(&mut File::open(path)?, &mut hasher)?;
    Ok(hasher.finalize().into())
}

#[cfg(unix)]
fn set_executable(file: &File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn set_executable(_file: &File) -> std::io::Result<()> {
    Ok(())
}

/// Installs a verified package: keeps the current binary as
/// `<binary>.previous` (through a staging link and a rename, so that name
/// always holds a whole binary), then renames the package over the binary.
/// Each rename is atomic; a failure at any step leaves the binary as it was
/// and no staging file behind. This order keeps the running binary under
/// one of the two names at every crash point (renaming the package in
/// first would leave it only under a staging name, which the next install
/// sweeps); the price is that a failed final rename has already replaced
/// the old `.previous`, and [`BinaryFileError::Replace`] says so.
///
/// The package is hashed again, after it is synced and right before the
/// renames, and refused unless it still has the signed `expected_sha256`:
/// the approval prompt may have waited minutes with the file on disk.
pub fn swap_in(
    mut package: StagedFile,
    binary: &Path,
    expected_sha256: &[u8; 32],
) -> Result<(), BinaryFileError> {
    package.seal()?;
    let read_error = |source| BinaryFileError::Write {
        path: package.path.clone(),
        source,
    };
    if &sha256_of(&package.path).map_err(read_error)? != expected_sha256 {
        // Dropping `package` removes the altered file.
        return Err(BinaryFileError::ChangedSinceApproval(package.path.clone()));
    }
    let previous = previous_path(binary);
    let keep_error = |source| BinaryFileError::KeepPrevious {
        previous: previous.clone(),
        source,
    };
    let mut kept = StagedFile::beside(binary)?;
    kept.file = None;
    // A hard link costs nothing; copy where links are not allowed.
    std::fs::remove_file(&kept.path).map_err(keep_error)?;
    if std::fs::hard_link(binary, &kept.path).is_err() {
        std::fs::copy(binary, &kept.path).map_err(keep_error)?;
        File::open(&kept.path)
            .and_then(|f| f.sync_all())
            .map_err(keep_error)?;
    }
    kept.rename_to(&previous).map_err(keep_error)?;
    package
        .rename_to(binary)
        .map_err(|source| BinaryFileError::Replace {
            binary: binary.to_path_buf(),
            previous: previous.clone(),
            source,
        })?;
    sync_dir(binary)
}

/// Renames `<binary>.previous` over `binary` (one atomic step); the binary
/// it replaces is discarded.
pub fn restore_previous(binary: &Path) -> Result<(), BinaryFileError> {
    split(binary)?;
    let previous = previous_path(binary);
    if !previous.is_file() {
        return Err(BinaryFileError::NoPrevious(previous));
    }
    std::fs::rename(&previous, binary).map_err(|source| BinaryFileError::Restore {
        previous: previous.clone(),
        binary: binary.to_path_buf(),
        source,
    })?;
    sync_dir(binary)
}

impl BinaryFileError {
    /// Whether the binary was replaced even though the step failed.
    pub fn replaced_the_binary(&self) -> bool {
        matches!(self, Self::NotDurable { .. })
    }
}

/// Makes the renames durable; a failure is reported, since a rename that
/// is not on disk can be undone by a power cut.
fn sync_dir(binary: &Path) -> Result<(), BinaryFileError> {
    let (dir, _) = split(binary)?;
    assent_proto::secret_file::sync_dir(dir).map_err(|source| BinaryFileError::NotDurable {
        binary: binary.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn digest(bytes: &[u8]) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        Sha256::digest(bytes).into()
    }

    #[test]
    fn a_package_changed_on_disk_after_approval_is_refused_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("assent-host");
        std::fs::write(&binary, b"old").unwrap();
        let package = staged(&binary, b"approved");
        // While the prompt waited, someone rewrote the staged file.
        std::fs::write(package.path(), b"tampered").unwrap();
        let error = swap_in(package, &binary, &digest(b"approved")).unwrap_err();
        assert!(
            matches!(error, BinaryFileError::ChangedSinceApproval(_)),
            "{error}"
        );
        assert_eq!(std::fs::read(&binary).unwrap(), b"old");
        assert_eq!(listing(dir.path()), ["assent-host"]);
    }

    fn staged(binary: &Path, bytes: &[u8]) -> StagedFile {
        let mut staged = StagedFile::beside(binary).unwrap();
        staged.write(bytes).unwrap();
        staged
    }

    #[test]
    fn a_dropped_staging_file_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("assent-host");
        std::fs::write(&binary, b"old").unwrap();
        let file = staged(&binary, b"half a download");
        assert!(file.path().exists());
        assert!(is_staging_name(
            file.path().file_name().unwrap().to_str().unwrap()
        ));
        drop(file);
        assert_eq!(listing(dir.path()), ["assent-host"]);
    }

    #[test]
    fn staging_files_left_by_a_killed_install_are_swept_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("assent-host");
        std::fs::write(&binary, b"old").unwrap();
        let left = staged(&binary, b"half");
        std::mem::forget(left); // as a killed process would leave it
        std::fs::write(dir.path().join(".other.0.assent-upgrade"), b"").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"").unwrap();
        assert_eq!(sweep_stale_staging(&binary), 1);
        assert_eq!(
            listing(dir.path()),
            [".other.0.assent-upgrade", "assent-host", "notes.txt"]
        );
    }

    #[test]
    fn swapping_in_keeps_the_old_binary_as_previous_and_makes_the_new_one_executable() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("assent-host");
        std::fs::write(&binary, b"old").unwrap();
        swap_in(staged(&binary, b"new"), &binary, &digest(b"new")).unwrap();
        assert_eq!(std::fs::read(&binary).unwrap(), b"new");
        assert_eq!(std::fs::read(previous_path(&binary)).unwrap(), b"old");
        assert_eq!(listing(dir.path()), ["assent-host", "assent-host.previous"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&binary).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o755);
        }
        // A second install replaces the kept binary with the one it replaces.
        swap_in(staged(&binary, b"newer"), &binary, &digest(b"newer")).unwrap();
        assert_eq!(std::fs::read(previous_path(&binary)).unwrap(), b"new");
    }

    #[test]
    fn a_swap_that_cannot_keep_the_previous_binary_replaces_nothing_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("assent-host");
        std::fs::write(&binary, b"old").unwrap();
        // A directory where `.previous` goes: renaming a file onto it fails.
        std::fs::create_dir(previous_path(&binary)).unwrap();
        std::fs::write(previous_path(&binary).join("x"), b"").unwrap();
        let error = swap_in(staged(&binary, b"new"), &binary, &digest(b"new")).unwrap_err();
        assert!(
            matches!(error, BinaryFileError::KeepPrevious { .. }),
            "{error}"
        );
        assert_eq!(std::fs::read(&binary).unwrap(), b"old");
        assert_eq!(listing(dir.path()), ["assent-host", "assent-host.previous"]);
    }

    #[test]
    fn a_binary_path_without_a_file_name_is_refused_before_any_file_is_made() {
        let error = StagedFile::beside(Path::new("/")).err().unwrap();
        assert!(matches!(error, BinaryFileError::NotAFilePath(_)), "{error}");
        let error = restore_previous(Path::new("/")).unwrap_err();
        assert!(matches!(error, BinaryFileError::NotAFilePath(_)), "{error}");
    }

    #[test]
    fn a_directory_that_cannot_be_synced_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("gone").join("assent-host");
        let error = sync_dir(&binary).unwrap_err();
        assert!(error.replaced_the_binary(), "{error}");
        assert!(sync_dir(&dir.path().join("assent-host")).is_ok());
    }

    #[test]
    fn a_failed_final_rename_says_the_previous_binary_was_replaced() {
        let error = BinaryFileError::Replace {
            binary: "/opt/assent-host".into(),
            previous: "/opt/assent-host.previous".into(),
            source: std::io::Error::other("disk full"),
        };
        let said = error.to_string();
        assert!(!said.contains("nothing was replaced"), "{said}");
        assert!(
            said.contains("/opt/assent-host.previous now holds"),
            "{said}"
        );
        assert!(!error.replaced_the_binary());
    }

    #[test]
    fn rollback_restores_the_previous_binary_and_discards_the_current_one() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("assent-host");
        std::fs::write(&binary, b"old").unwrap();
        swap_in(staged(&binary, b"new"), &binary, &digest(b"new")).unwrap();
        restore_previous(&binary).unwrap();
        assert_eq!(std::fs::read(&binary).unwrap(), b"old");
        assert_eq!(listing(dir.path()), ["assent-host"]);
        let error = restore_previous(&binary).unwrap_err();
        assert!(matches!(error, BinaryFileError::NoPrevious(_)), "{error}");
        assert_eq!(std::fs::read(&binary).unwrap(), b"old");
    }
}
