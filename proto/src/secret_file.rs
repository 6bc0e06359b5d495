//! Owner-only secret files (R4, R13): identity keys, the relay's data key and
//! TLS key. Written owner-only from the first byte, under a temporary name,
//! synced and linked into place — never half-written, never overwritten —
//! and refused at load if group or others could read them.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// Why a secret file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error(
        "{} has mode {mode:04o}; it must be readable by its owner only: chmod 600 {}",
        path.display(),
        path.display()
    )]
    InsecurePermissions { path: PathBuf, mode: u32 },
    #[error("{} already exists; refusing to overwrite it (move it away first)", .0.display())]
    AlreadyExists(PathBuf),
    #[error("{} is larger than {max} bytes; not a key file", path.display())]
    TooLarge { path: PathBuf, max: u64 },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Creates `path` with `contents`, readable by its owner only. Fails with
/// `AlreadyExists` rather than replace an existing file.
pub fn write_new(path: &Path, contents: &[u8]) -> Result<(), SecretFileError> {
    let io_err = |source| SecretFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    if path.symlink_metadata().is_ok() {
        return Err(SecretFileError::AlreadyExists(path.to_path_buf()));
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io_err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "path has no file name",
        ))
    })?;
    let (temp_path, mut file) = create_private_temp(dir, name).map_err(io_err)?;
    let result = (|| {
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        link_no_clobber(&temp_path, path)
    })();
    // The temporary name is gone whether or not the link succeeded.
    let _ = std::fs::remove_file(&temp_path);
    match result {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(SecretFileError::AlreadyExists(path.to_path_buf()))
        }
        Err(e) => return Err(io_err(e)),
    }
    sync_dir(dir).map_err(io_err)
}

/// Reads a secret file of at most `max_len` bytes. On unix, refuses a file
/// group or others can access, and anything that is not a regular file (a
/// FIFO would block forever).
pub fn read(path: &Path, max_len: u64) -> Result<Zeroizing<Vec<u8>>, SecretFileError> {
    let io_err = |source| SecretFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let not_regular = || {
        io_err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ))
    };
    if !std::fs::metadata(path).map_err(io_err)?.is_file() {
        return Err(not_regular());
    }
    let file = std::fs::File::open(path).map_err(io_err)?;
    // Checked again on the open handle, so a file swapped in meanwhile is caught.
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(SecretFileError::InsecurePermissions {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    let mut contents = Zeroizing::new(Vec::new());
    file.take(max_len + 1)
        .read_to_end(&mut contents)
        .map_err(io_err)?;
    if contents.len() as u64 > max_len {
        return Err(SecretFileError::TooLarge {
            path: path.to_path_buf(),
            max: max_len,
        });
    }
    Ok(contents)
}

/// Creates `dir/.NAME.tmp-PID-N` exclusively (O_EXCL: never through a symlink),
/// owner-only from the start.
pub fn create_private_temp(
    dir: &Path,
    name: &std::ffi::OsStr,
) -> std::io::Result<(PathBuf, std::fs::File)> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut last_err = None;
    // A stale temporary file from a crash just moves us to the next name.
    for attempt in 0..16u32 {
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".tmp-{}-{attempt}", std::process::id()));
        let temp_path = dir.join(temp_name);
        match options.open(&temp_path) {
            Ok(file) => return Ok((temp_path, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| std::io::Error::other("no free temporary file name")))
}

/// Puts `from` at `to` only if `to` does not exist. A hard link is atomic and
/// never replaces (unlike rename); filesystems without hard links fall back to
/// check-then-rename.
fn link_no_clobber(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::hard_link(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => {
            if to.symlink_metadata().is_ok() {
                return Err(std::io::ErrorKind::AlreadyExists.into());
            }
            std::fs::rename(from, to)
        }
    }
}

/// Makes new entries and renames in `dir` durable across a power cut
/// (unix; elsewhere a no-op, NTFS journals them). Shared by every crate
/// that writes a file by temporary name and rename.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_secret_is_owner_only_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        write_new(&path, b"secret").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(matches!(
            write_new(&path, b"other"),
            Err(SecretFileError::AlreadyExists(_))
        ));
        assert_eq!(&read(&path, 64).unwrap()[..], b"secret");
        // No temporary files are left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn link_no_clobber_refuses_an_existing_target() {
        // The race-free half of `write_new`: even if the target appears after
        // the existence check, it is not replaced.
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("a");
        let to = dir.path().join("b");
        std::fs::write(&from, b"new").unwrap();
        std::fs::write(&to, b"old").unwrap();
        let err = link_no_clobber(&from, &to).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&to).unwrap(), b"old");
    }

    #[cfg(unix)]
    #[test]
    fn secret_readable_by_others_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        write_new(&path, b"secret").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read(&path, 64).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn oversized_secret_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        write_new(&path, &[b'x'; 100]).unwrap();
        assert!(matches!(
            read(&path, 64),
            Err(SecretFileError::TooLarge { max: 64, .. })
        ));
    }
}
