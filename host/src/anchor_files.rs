//! The host's trust anchors on disk (R7, R16, R2, R21): `host.toml` (relay
//! address and pin), `operator.pub.pem` (verifies the allowlist),
//! `release.pub.pem` (verifies upgrades) and the rollback records beside
//! them. Whoever can write one of these, or the data directory holding
//! them, decides which relay, which engineers and which binaries this host
//! trusts. So they are written the way key files are — exclusive temporary
//! name, never through a symlink, synced, renamed into place, directory
//! synced — and every load refuses a symlink, a file or directory another
//! user could write, or one owned by another user, naming the command that
//! fixes it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Why an anchor or the data directory was refused or could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error(
        "{path} is a symbolic link; a trust anchor must be a plain file in the data directory, \
         or whoever can change the link decides what it says: replace the link with a copy \
         of the file (cp --remove-destination \"$(readlink -f {path})\" {path}; chmod 600 {path})",
        path = .0.display()
    )]
    Symlink(PathBuf),
    #[error("{} is not a regular file", .0.display())]
    NotRegular(PathBuf),
    #[error("{} is not a directory", .0.display())]
    NotDirectory(PathBuf),
    #[error(
        "{} has mode {mode:04o}: group or others can write it, and whoever writes it decides \
         this host's relay, engineer allowlist and upgrades; refusing it: {fix}",
        path.display()
    )]
    WritableByOthers {
        path: PathBuf,
        mode: u32,
        fix: String,
    },
    #[error(
        "{} is owned by user {owner}, not by this user ({me}) or root; refusing it: \
         chown {me} {}",
        path.display(),
        path.display()
    )]
    ForeignOwner { path: PathBuf, owner: u32, me: u32 },
    #[error("{} is larger than {max} bytes", path.display())]
    TooLarge { path: PathBuf, max: u64 },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl AnchorError {
    /// Whether the error only says the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> AnchorError + '_ {
    move |source| AnchorError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a path should be; decides the mode the fix names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Directory,
}

/// The ownership and mode rule, apart from the file system so that every
/// branch can be tested without being root: owned by this user or root,
/// and writable by neither group nor others.
fn judge(path: &Path, kind: Kind, mode: u32, owner: u32, me: u32) -> Result<(), AnchorError> {
    if owner != me && owner != 0 {
        return Err(AnchorError::ForeignOwner {
            path: path.to_path_buf(),
            owner,
            me,
        });
    }
    if mode & 0o022 != 0 {
        let fix = match kind {
            Kind::File => format!("chmod 600 {}", path.display()),
            Kind::Directory => format!("chmod 700 {}", path.display()),
        };
        return Err(AnchorError::WritableByOthers {
            path: path.to_path_buf(),
            mode: mode & 0o7777,
            fix,
        });
    }
    Ok(())
}

#[cfg(unix)]
fn judge_metadata(path: &Path, kind: Kind, meta: &std::fs::Metadata) -> Result<(), AnchorError> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid takes no arguments and cannot fail.
    let me = unsafe { libc::geteuid() };
    judge(path, kind, meta.mode(), meta.uid(), me)
}

#[cfg(not(unix))]
fn judge_metadata(_: &Path, _: Kind, _: &std::fs::Metadata) -> Result<(), AnchorError> {
    // Windows: the installer's ACL on the data directory decides (R18).
    Ok(())
}

/// Refuses a data directory another user could write or owns. A symlink
/// to the directory is followed: what counts is the directory itself.
pub fn check_dir(dir: &Path) -> Result<(), AnchorError> {
    let meta = std::fs::metadata(dir).map_err(io_error(dir))?;
    if !meta.is_dir() {
        return Err(AnchorError::NotDirectory(dir.to_path_buf()));
    }
    judge_metadata(dir, Kind::Directory, &meta)
}

/// Creates the data directory (and its parents) owner-only from the start.
pub fn create_dir(dir: &Path) -> Result<(), AnchorError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io_error(dir))?;
    check_dir(dir)
}

/// Reads an anchor of at most `max` bytes. Refuses a symlink (the open
/// itself does not follow one, so a link swapped in after the check is
/// refused too), anything but a regular file (a FIFO would hang), and a
/// file another user could write or owns.
pub fn read(path: &Path, max: u64) -> Result<Vec<u8>, AnchorError> {
    let meta = std::fs::symlink_metadata(path).map_err(io_error(path))?;
    if meta.file_type().is_symlink() {
        return Err(AnchorError::Symlink(path.to_path_buf()));
    }
    if !meta.is_file() {
        return Err(AnchorError::NotRegular(path.to_path_buf()));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| {
        // ELOOP: it became a symlink between the check and the open.
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return AnchorError::Symlink(path.to_path_buf());
        }
        io_error(path)(e)
    })?;
    let meta = file.metadata().map_err(io_error(path))?;
    if !meta.is_file() {
        return Err(AnchorError::NotRegular(path.to_path_buf()));
    }
    judge_metadata(path, Kind::File, &meta)?;
    let mut contents = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut contents)
        .map_err(io_error(path))?;
    if contents.len() as u64 > max {
        return Err(AnchorError::TooLarge {
            path: path.to_path_buf(),
            max,
        });
    }
    Ok(contents)
}

/// [`read`], with a missing file as `None`.
pub fn read_if_present(path: &Path, max: u64) -> Result<Option<Vec<u8>>, AnchorError> {
    match read(path, max) {
        Ok(contents) => Ok(Some(contents)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes (or replaces) an anchor, owner-only: a new temporary file created
/// exclusively and without following links, synced, renamed over `path`
/// (a rename replaces a symlink at `path` rather than writing through it),
/// then the directory synced. Readers see the old or the new file, whole.
pub fn write(path: &Path, contents: &[u8]) -> Result<(), AnchorError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io_error(path)(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "path has no file name",
        ))
    })?;
    let (temp_path, mut file) =
        assent_proto::secret_file::create_private_temp(dir, name).map_err(io_error(path))?;
    let result = (|| {
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp_path, path)
    })();
    if let Err(e) = result {
        // No partial file: the temporary name goes with the failure.
        let _ = std::fs::remove_file(&temp_path);
        return Err(io_error(path)(e));
    }
    assent_proto::secret_file::sync_dir(dir).map_err(io_error(dir))
}

#[cfg(test)]
mod tests;
