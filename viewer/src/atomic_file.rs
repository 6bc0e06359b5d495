//! Files other programs read while we write them (screenshots, the public
//! key, the device ID): written to a temporary file in the same directory,
//! synced, then renamed into place, so a reader never sees half a file.

use std::io::Write;
use std::path::Path;

/// Who may read a file written by [`write_atomically`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readable {
    /// The owner only (0600): the device ID.
    Owner,
    /// Everyone (0644): public keys, screenshots.
    Everyone,
}

/// Replaces `path` with `contents` atomically.
pub fn write_atomically(path: &Path, contents: &[u8], readable: Readable) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(contents)?;
    #[cfg(unix)]
    if readable == Readable::Everyone {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    #[cfg(not(unix))]
    let _ = readable;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn public_files_are_world_readable_and_private_ones_are_not() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |name: &str| {
            std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        write_atomically(&dir.path().join("pub"), b"k", Readable::Everyone).unwrap();
        write_atomically(&dir.path().join("id"), b"i", Readable::Owner).unwrap();
        assert_eq!(mode("pub"), 0o644);
        assert_eq!(mode("id"), 0o600);
    }

    #[test]
    fn a_rewrite_replaces_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_atomically(&path, b"a long first version", Readable::Owner).unwrap();
        write_atomically(&path, b"short", Readable::Owner).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"short");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
