use super::*;

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn an_anchor_is_written_owner_only_whole_and_replaceable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("host.toml");
    write(&path, b"first, longer version").unwrap();
    write(&path, b"second").unwrap();
    assert_eq!(read(&path, 64).unwrap(), b"second");
    #[cfg(unix)]
    assert_eq!(mode_of(&path), 0o600);
    // No temporary file is left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[cfg(unix)]
#[test]
fn writing_an_anchor_replaces_a_symlink_instead_of_writing_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::write(&elsewhere, b"not ours").unwrap();
    let path = dir.path().join("operator.pub.pem");
    std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
    write(&path, b"pinned key").unwrap();
    assert_eq!(std::fs::read(&elsewhere).unwrap(), b"not ours");
    assert!(!std::fs::symlink_metadata(&path)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(read(&path, 64).unwrap(), b"pinned key");
}

#[cfg(unix)]
#[test]
fn writing_an_anchor_never_opens_a_planted_temporary_name() {
    // A link planted at the temporary name must not be followed: the
    // exclusive, no-follow create moves on to the next name instead.
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"victim").unwrap();
    let planted = dir
        .path()
        .join(format!(".host.toml.tmp-{}-0", std::process::id()));
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    write(&dir.path().join("host.toml"), b"config").unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"victim");
}

#[cfg(unix)]
#[test]
fn a_symlinked_anchor_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.pem");
    write(&real, b"key").unwrap();
    let path = dir.path().join("release.pub.pem");
    std::os::unix::fs::symlink(&real, &path).unwrap();
    let error = read(&path, 64).unwrap_err();
    assert!(matches!(error, AnchorError::Symlink(_)), "{error}");
    assert!(error.to_string().contains("release.pub.pem"), "{error}");
    assert!(error.to_string().contains("symbolic link"), "{error}");
}

#[cfg(unix)]
#[test]
fn a_group_writable_anchor_is_refused_naming_the_path_and_chmod() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("operator.pub.pem");
    write(&path, b"key").unwrap();
    set_mode(&path, 0o664);
    let error = read(&path, 64).unwrap_err().to_string();
    assert!(
        error.contains(&format!("chmod 600 {}", path.display())),
        "{error}"
    );
    set_mode(&path, 0o644);
    assert_eq!(read(&path, 64).unwrap(), b"key", "others may read it");
}

#[cfg(unix)]
#[test]
fn a_data_directory_others_can_write_is_refused_naming_chmod_700() {
    let dir = tempfile::tempdir().unwrap();
    check_dir(dir.path()).unwrap();
    set_mode(dir.path(), 0o777);
    let error = check_dir(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains(&format!("chmod 700 {}", dir.path().display())),
        "{error}"
    );
    set_mode(dir.path(), 0o700);
}

#[test]
fn an_anchor_or_directory_owned_by_another_user_is_refused_naming_chown() {
    let path = Path::new("/data/host.toml");
    let error = judge(path, Kind::File, 0o600, 1001, 1000).unwrap_err();
    assert!(
        error.to_string().contains("chown 1000 /data/host.toml"),
        "{error}"
    );
    judge(path, Kind::File, 0o600, 1000, 1000).expect("our own file");
    judge(path, Kind::Directory, 0o700, 0, 1000).expect("root's directory");
}

#[cfg(unix)]
#[test]
fn an_anchor_owned_by_another_user_on_disk_is_refused() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("host.toml");
    write(&path, b"config").unwrap();
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    // Only root can hand a file to someone else; elsewhere `judge` is tested.
    if me != 0 {
        return;
    }
    std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().uid(), 65534);
    // Root reading a file "nobody" owns: refused, root is not its owner.
    let error = read(&path, 64).unwrap_err();
    assert!(matches!(error, AnchorError::ForeignOwner { .. }), "{error}");
}

#[test]
fn an_oversized_anchor_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("host.toml");
    write(&path, &[b'x'; 100]).unwrap();
    assert!(matches!(
        read(&path, 64),
        Err(AnchorError::TooLarge { max: 64, .. })
    ));
}

#[test]
fn a_missing_anchor_reads_as_absent() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        read_if_present(&dir.path().join("allowlist-serial"), 64).unwrap(),
        None
    );
}

#[cfg(unix)]
#[test]
fn a_new_data_directory_is_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("a/b");
    create_dir(&data).unwrap();
    assert_eq!(mode_of(&data), 0o700);
}
