//! Files on disk for file transfer (R11, bad input), shared by host and
//! viewer. Received bytes go to a hidden temporary file
//! (`.assent-partial-*`) in the receive directory and reach their real name
//! only by [`PendingFile::commit`] with a [`VerifiedFile`]: synced, then
//! renamed without replacing anything unless the technician consented. A
//! pending file dropped for any reason (abort, hash mismatch, error, lost
//! connection) deletes its temporary file, so no partial file is ever
//! visible under the real name. A process killed mid-transfer cannot delete
//! its temporary file; opening the receive directory again removes every
//! one no live transfer holds (each pending file keeps a lock on itself)
//! and nothing has written for a minute.
//! [`SourceFile`] is the sending side.
//!
//! Absent from PHI builds: this module exists only with the `file-transfer`
//! feature.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use assent_proto::file_transfer::{FileNameError, SafeFileName, VerifiedFile, PARTIAL_FILE_PREFIX};
use assent_proto::secret_file::sync_dir;
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

mod source;
#[cfg(test)]
mod tests;

pub use source::SourceFile;

/// Whether a received file may replace an existing file of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Keep the existing file; the transfer fails with `AlreadyExists`.
    Refuse,
    /// The technician consented to replacing an existing regular file
    /// (never a link, directory or device).
    Allow,
}

/// Why a file could not be received or sent.
#[derive(Debug, thiserror::Error)]
pub enum FileStoreError {
    #[error("{} is not a directory; choose a directory to receive files into", .0.display())]
    NotADirectory(PathBuf),
    #[error(
        "{} already exists and was kept; ask the technician whether to replace it, or send the \
         file under another name",
        .0.display()
    )]
    AlreadyExists(PathBuf),
    #[error(
        "{} is a link, directory or device, not a regular file; it is never replaced, move it \
         away or send the file under another name",
        .0.display()
    )]
    TargetNotAFile(PathBuf),
    #[error("{} is outside the receive directory {}; refused", path.display(), dir.display())]
    OutsideDirectory { path: PathBuf, dir: PathBuf },
    #[error("verified file {verified} is not the pending file {pending}; nothing is kept")]
    NameMismatch {
        pending: SafeFileName,
        verified: SafeFileName,
    },
    #[error(
        "the {written} bytes written differ from the verified file ({size} bytes and its \
         SHA-256); nothing is kept"
    )]
    ContentMismatch { written: u64, size: u64 },
    #[error("{} names no file to send", .0.display())]
    NoFileName(PathBuf),
    #[error("{}: the file name is not valid Unicode; rename the file", .0.display())]
    NameNotUnicode(PathBuf),
    #[error("cannot send {}: {source}", path.display())]
    UnsafeSourceName {
        path: PathBuf,
        #[source]
        source: FileNameError,
    },
    #[error("{} is not a regular file; only single files can be sent", .0.display())]
    SourceNotAFile(PathBuf),
    #[error("{} changed while it was being sent; send it again", .0.display())]
    SourceChanged(PathBuf),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl FileStoreError {
    fn io(path: &Path) -> impl FnOnce(io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The directory received files are kept in.
#[derive(Debug, Clone)]
pub struct ReceiveDir {
    /// Canonical, so "stays inside" compares against one fixed path.
    dir: PathBuf,
}

impl ReceiveDir {
    /// `dir` must exist and be a directory. Temporary files left there by
    /// an interrupted transfer (a killed process) are removed.
    pub fn new(dir: PathBuf) -> Result<Self, FileStoreError> {
        let meta = fs::metadata(&dir).map_err(FileStoreError::io(&dir))?;
        if !meta.is_dir() {
            return Err(FileStoreError::NotADirectory(dir));
        }
        let dir = fs::canonicalize(&dir).map_err(FileStoreError::io(&dir))?;
        let receive_dir = Self { dir };
        receive_dir.remove_interrupted();
        Ok(receive_dir)
    }

    /// Deletes `.assent-partial-*` regular files that no pending file holds
    /// locked, i.e. whose transfer died with its process. Best effort: what
    /// cannot be read or removed is logged and left.
    fn remove_interrupted(&self) {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) => {
                tracing::warn!(dir = %self.dir.display(), %error, "cannot list receive directory");
                return;
            }
        };
        // Bounded: a directory of millions of files is not scanned to the end.
        for entry in entries.flatten().take(MAX_ENTRIES_SCANNED) {
            let path = entry.path();
            let is_partial = entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.starts_with(PARTIAL_FILE_PREFIX));
            if !is_partial || !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            match is_abandoned(&path) {
                Ok(false) => {}
                Ok(true) => match fs::remove_file(&path) {
                    Ok(()) => tracing::info!(
                        file = %path.display(),
                        "removed the temporary file of an interrupted transfer"
                    ),
                    Err(error) => tracing::warn!(file = %path.display(), %error, "cannot remove"),
                },
                Err(error) => tracing::warn!(file = %path.display(), %error, "cannot inspect"),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Starts receiving `name`: refuses at once if the name is taken (and
    /// `overwrite` is `Refuse`) or is not a regular file, then creates the
    /// hidden temporary file in this directory, so the final rename never
    /// crosses filesystems.
    pub fn begin(
        &self,
        name: &SafeFileName,
        overwrite: Overwrite,
    ) -> Result<PendingFile, FileStoreError> {
        let target = self.target_path(name)?;
        check_target(&target, overwrite)?;
        let mut builder = tempfile::Builder::new();
        builder.prefix(PARTIAL_FILE_PREFIX);
        // Like any newly saved file (umask applies), not tempfile's owner-only
        // default: the technician's account must be able to open it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(fs::Permissions::from_mode(0o666));
        }
        let temp = builder
            .tempfile_in(&self.dir)
            .map_err(FileStoreError::io(&self.dir))?;
        // Held while the file is open: tells `remove_interrupted` in another
        // process (or a later session) that this transfer is alive.
        temp.as_file()
            .try_lock()
            .map_err(|e| FileStoreError::io(temp.path())(e.into()))?;
        Ok(PendingFile {
            temp,
            dir: self.dir.clone(),
            name: name.clone(),
            target,
            overwrite,
            written: 0,
            hasher: Sha256::new(),
        })
    }

    /// `dir/name`, checked to be exactly one plain component inside `dir`
    /// (a second line of defence behind [`SafeFileName`]).
    fn target_path(&self, name: &SafeFileName) -> Result<PathBuf, FileStoreError> {
        let target = self.dir.join(name.as_str());
        let mut components = Path::new(name.as_str()).components();
        let single_plain_component = matches!(
            (components.next(), components.next()),
            (Some(Component::Normal(part)), None) if part == name.as_str()
        );
        if !single_plain_component || target.parent() != Some(self.dir.as_path()) {
            return Err(FileStoreError::OutsideDirectory {
                path: target,
                dir: self.dir.clone(),
            });
        }
        Ok(target)
    }
}

/// Directory entries looked at when removing interrupted transfers.
const MAX_ENTRIES_SCANNED: usize = 100_000;

/// A partial file this recently written may belong to a transfer that has
/// created it but not yet locked it; it is left for a later sweep.
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// True if `path` is a regular file last written over [`ABANDONED_AFTER`]
/// ago that no live [`PendingFile`] holds locked.
fn is_abandoned(path: &Path) -> io::Result<bool> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    // The entry may have been swapped since it was listed: never follow a
    // link, never wait on a FIFO; only a regular file is looked at.
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(false);
    }
    let age = meta.modified()?.elapsed().unwrap_or_default();
    if age < ABANDONED_AFTER {
        return Ok(false);
    }
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(fs::TryLockError::WouldBlock) => Ok(false),
        Err(fs::TryLockError::Error(error)) => Err(error),
    }
}

/// Whether `target` may be created (or, with consent, replaced). Looks at
/// the name itself, never through a symlink.
fn check_target(target: &Path, overwrite: Overwrite) -> Result<(), FileStoreError> {
    match fs::symlink_metadata(target) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FileStoreError::io(target)(e)),
        Ok(_) if overwrite == Overwrite::Refuse => {
            Err(FileStoreError::AlreadyExists(target.to_path_buf()))
        }
        Ok(meta) if meta.file_type().is_file() => Ok(()),
        Ok(_) => Err(FileStoreError::TargetNotAFile(target.to_path_buf())),
    }
}

/// A file being received, under a hidden temporary name. Dropping it
/// without [`commit`](Self::commit) deletes the temporary file.
pub struct PendingFile {
    temp: NamedTempFile,
    dir: PathBuf,
    name: SafeFileName,
    target: PathBuf,
    overwrite: Overwrite,
    written: u64,
    /// What was written, so commit can prove it is what was verified.
    hasher: Sha256,
}

impl PendingFile {
    /// Appends the data of a chunk `IncomingTransfer::accept_chunk` accepted.
    pub fn write_chunk(&mut self, bytes: &[u8]) -> Result<(), FileStoreError> {
        self.temp
            .as_file_mut()
            .write_all(bytes)
            .map_err(FileStoreError::io(self.temp.path()))?;
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Where the file will appear on commit.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Keeps the file under its real name, if what was written is exactly
    /// `verified` (same name, size and SHA-256): syncs it, checks the target
    /// again, renames it into place without replacing anything unless
    /// `Overwrite::Allow`, and returns the final path. On any error the
    /// temporary file is deleted.
    pub fn commit(self, verified: &VerifiedFile) -> Result<PathBuf, FileStoreError> {
        if verified.name() != &self.name {
            return Err(FileStoreError::NameMismatch {
                pending: self.name,
                verified: verified.name().clone(),
            });
        }
        let written_sha256: [u8; 32] = self.hasher.finalize().into();
        if self.written != verified.size() || &written_sha256 != verified.sha256() {
            return Err(FileStoreError::ContentMismatch {
                written: self.written,
                size: verified.size(),
            });
        }
        self.temp
            .as_file()
            .sync_all()
            .map_err(FileStoreError::io(self.temp.path()))?;
        // The directory may have changed since `begin` (a file or a symlink
        // put there meanwhile): check again just before the rename.
        check_target(&self.target, self.overwrite)?;
        let persisted = match self.overwrite {
            Overwrite::Refuse => self.temp.persist_noclobber(&self.target),
            Overwrite::Allow => self.temp.persist(&self.target),
        };
        // On failure the error owns the temporary file; dropping it deletes it.
        if let Err(e) = persisted {
            return Err(if e.error.kind() == io::ErrorKind::AlreadyExists {
                FileStoreError::AlreadyExists(self.target)
            } else {
                FileStoreError::io(&self.target)(e.error)
            });
        }
        // The file is in place; a failed directory sync only weakens
        // durability across a power cut, so it is logged, not an error.
        if let Err(error) = sync_dir(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), %error, "could not sync receive directory");
        }
        Ok(self.target)
    }
}

impl fmt::Debug for PendingFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingFile")
            .field("temp", &self.temp.path())
            .field("target", &self.target)
            .field("overwrite", &self.overwrite)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}
