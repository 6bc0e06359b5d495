//! The drop directory `notify.d/` (R15): each `*.json` file in it is one
//! intake request, for software that can write a file but not a socket.
//! Writers should write under another name (e.g. `.pump.tmp`) and rename
//! to `*.json` when done, so a half-written file is never read.
//!
//! An accepted file is removed. A refused one is moved to
//! `notify.d/rejected/` with `<name>.reason` beside it saying why, so the
//! instrument software's integrator can see what went wrong.
//!
//! The intake group may write in `notify.d/` and `rejected/`, so names
//! there are not trusted:
//!
//! - each file is first claimed by moving it into the private
//!   `notify.d/.taking/` (0700), then read and settled there, so a writer
//!   who drops a new file under the same name meanwhile never loses it; a
//!   file left there by a crash is taken at the next look (taking one twice
//!   is harmless: the same raise or clear again changes nothing);
//! - the directories are used through descriptors opened once, so a
//!   `.taking` or `rejected` swapped for a link or another directory later
//!   is not followed;
//! - nothing is created or moved onto an existing name: moves use
//!   `RENAME_NOREPLACE` and reason files `O_CREAT|O_EXCL|O_NOFOLLOW`, so a
//!   planted link is skipped, never written through.
//!
//! Modes, set explicitly at start whatever the umask: `notify.d/` and
//! `rejected/` 0770 (group: the intake group if one is given, else the host
//! user's own group, as for the socket), `.taking/` 0700. A `notify.d/` or
//! `rejected/` that another user owns or that every user may write is
//! refused.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use assent_proto::notification_intake::{IntakeError, INTAKE_MAX};
use tracing::warn;

use super::book::IntakeChannel;
use super::intake::take;
use super::shared::SharedBook;

#[cfg(test)]
mod tests;

/// The drop directory's name in the data directory.
pub const DROP_DIR: &str = "notify.d";
/// Where refused files go, inside the drop directory.
pub const REJECTED_DIR: &str = "rejected";
/// Where files are read, inside the drop directory; only the host may enter.
pub const TAKING_DIR: &str = ".taking";
/// Files taken per look; the rest wait for the next (bounds memory).
const FILES_PER_POLL: usize = 256;
/// Directory entries read per look, so millions of waiting files cost
/// bounded memory and time; the order oldest-first holds among these.
const ENTRIES_PER_POLL: usize = 4096;
/// Names tried in `rejected/` before a refused file is given up.
const REJECTED_NAMES_MAX: u32 = 1000;

/// The prepared drop directory, held open.
pub struct DropDir {
    path: PathBuf,
    taking: OwnedFd,
    rejected: OwnedFd,
    dir: OwnedFd,
}

impl DropDir {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Creates or checks `notify.d/`, `rejected/` and `.taking/`, sets their
/// modes (and group, when given) and opens them.
pub fn prepare(data_dir: &Path, gid: Option<u32>) -> Result<DropDir> {
    let path = data_dir.join(DROP_DIR);
    let c_path = c_name(path.as_os_str())?;
    let dir = open_shared_dir(libc::AT_FDCWD, &c_path, &path, gid)?;
    let rejected_path = path.join(REJECTED_DIR);
    let rejected = open_shared_dir(dir.as_raw_fd(), c"rejected", &rejected_path, gid)?;
    let taking_path = path.join(TAKING_DIR);
    let taking = open_dir(dir.as_raw_fd(), c".taking", 0o700, &taking_path)?;
    check_owned(&taking, &taking_path)?;
    cvt(unsafe { libc::fchmod(taking.as_raw_fd(), 0o700) })
        .with_context(|| format!("setting the mode of {}", taking_path.display()))?;
    Ok(DropDir {
        path,
        taking,
        rejected,
        dir,
    })
}

/// A group-writable directory: created or opened, checked, 0770.
fn open_shared_dir(at: libc::c_int, name: &CStr, path: &Path, gid: Option<u32>) -> Result<OwnedFd> {
    let fd = open_dir(at, name, 0o770, path)?;
    let meta = check_owned(&fd, path)?;
    if meta.st_mode & 0o002 != 0 {
        bail!(
            "{} may be written by every user (mode {:o}), so anyone could report notifications or plant links there; remove that (chmod o-w) or move it away, then start again",
            path.display(),
            meta.st_mode & 0o7777
        );
    }
    cvt(unsafe { libc::fchmod(fd.as_raw_fd(), 0o770) })
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    if let Some(gid) = gid {
        cvt(unsafe { libc::fchown(fd.as_raw_fd(), u32::MAX, gid) }).with_context(|| {
            format!(
                "giving {} to group {gid} (this needs membership of that group or root)",
                path.display()
            )
        })?;
    }
    Ok(fd)
}

/// Creates `name` in `at` if missing, then opens it without following a
/// link.
fn open_dir(at: libc::c_int, name: &CStr, mode: libc::mode_t, path: &Path) -> Result<OwnedFd> {
    // SAFETY: `name` is a valid C string for the call.
    if let Err(e) = cvt(unsafe { libc::mkdirat(at, name.as_ptr(), mode) }) {
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(e).with_context(|| format!("creating {}", path.display()));
        }
    }
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: as above; the returned descriptor is owned from here on.
    let fd = cvt(unsafe { libc::openat(at, name.as_ptr(), flags) }).with_context(|| {
        format!(
            "opening {} (it must be a directory, not a link)",
            path.display()
        )
    })?;
    // SAFETY: `fd` was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn check_owned(fd: &OwnedFd, path: &Path) -> Result<libc::stat> {
    let meta = fstat(fd).with_context(|| format!("checking {}", path.display()))?;
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.st_uid != me {
        bail!(
            "{} belongs to user {}, not to this user ({me}); move it away so the notification intake can start",
            path.display(),
            meta.st_uid
        );
    }
    Ok(meta)
}

/// Looks at the drop directory every `poll`, forever.
pub async fn watch(drop_dir: Arc<DropDir>, book: SharedBook, poll: Duration) {
    loop {
        take_dropped(&drop_dir, &book).await;
        tokio::time::sleep(poll).await;
    }
}

/// Takes every file waiting in the drop directory once (at most
/// [`FILES_PER_POLL`]), first any left in `.taking/` by a crash.
pub async fn take_dropped(drop_dir: &Arc<DropDir>, book: &SharedBook) {
    take_dropped_with(drop_dir, book, |_| {}).await;
}

/// [`take_dropped`], calling `before_settle` with each file's name after
/// it was taken and before it is removed (so a test can re-drop it).
async fn take_dropped_with(
    drop_dir: &Arc<DropDir>,
    book: &SharedBook,
    mut before_settle: impl FnMut(&OsStr),
) {
    let dir = drop_dir.clone();
    let files = match tokio::task::spawn_blocking(move || claim_waiting(&dir)).await {
        Ok(Ok(files)) => files,
        Ok(Err(e)) => {
            warn!(error = %e, dir = %drop_dir.path.display(), "cannot read the notification drop directory");
            return;
        }
        Err(_) => return,
    };
    for file in files {
        let outcome = match file.content {
            Ok(bytes) => take(book, IntakeChannel::DropDirectory, &bytes)
                .await
                .map(drop),
            Err(reason) => {
                book.count_intake(IntakeChannel::DropDirectory, false);
                warn!(channel = "drop directory", %reason, "notification refused");
                Err(reason)
            }
        };
        before_settle(&file.name);
        let dir = drop_dir.clone();
        let _ = tokio::task::spawn_blocking(move || settle(&dir, &file.name, outcome)).await;
    }
}

struct Claimed {
    /// The file's name, now in `.taking/`.
    name: OsString,
    /// The file's bytes, or why it cannot be taken at all.
    content: Result<Vec<u8>, String>,
}

/// Moves the files to take into `.taking/` and reads them: leftovers
/// there first, then the `*.json` files waiting, oldest first (then by
/// name), so a raise and a later clear of the same ID are taken in the
/// order they were written.
fn claim_waiting(drop_dir: &DropDir) -> std::io::Result<Vec<Claimed>> {
    let mut names = oldest_first(&drop_dir.taking)?;
    names.truncate(FILES_PER_POLL);
    let waiting = oldest_first(&drop_dir.dir)?;
    for name in waiting {
        if names.len() >= FILES_PER_POLL {
            break;
        }
        let c = c_name_io(&name)?;
        match rename_noreplace(&drop_dir.dir, &c, &drop_dir.taking, &c) {
            Ok(()) => names.push(name),
            // Gone (its writer took it back), or a leftover of the same
            // name is still being taken: it waits for the next look.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EEXIST)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(names
        .into_iter()
        .map(|name| Claimed {
            content: read_bounded(&drop_dir.taking, &name),
            name,
        })
        .collect())
}

/// The `*.json` entries (not directories, not dotfiles) of `dir`, oldest
/// first, among the first [`ENTRIES_PER_POLL`] entries read.
fn oldest_first(dir: &OwnedFd) -> std::io::Result<Vec<OsString>> {
    let mut found = Vec::new();
    for name in list_dir(dir, ENTRIES_PER_POLL)? {
        let bytes = name.as_bytes();
        if !bytes.ends_with(b".json") || bytes.starts_with(b".") {
            continue;
        }
        let Ok(meta) = fstatat(dir, &c_name_io(&name)?) else {
            continue;
        };
        if meta.st_mode & libc::S_IFMT == libc::S_IFDIR {
            continue;
        }
        found.push(((meta.st_mtime, meta.st_mtime_nsec), name));
    }
    found.sort();
    Ok(found.into_iter().map(|(_, name)| name).collect())
}

/// Reads a regular file of at most [`INTAKE_MAX`] bytes from `.taking/`.
/// Symlinks and FIFOs are refused without following or blocking on them.
fn read_bounded(taking: &OwnedFd, name: &OsStr) -> Result<Vec<u8>, String> {
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    let file = c_name_io(name)
        .and_then(|c| open_at(taking, &c, flags, 0))
        .map_err(|e| {
            format!("cannot open the file (it must be a regular file, not a link): {e}")
        })?;
    let file = std::fs::File::from(file);
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.size() > INTAKE_MAX as u64 {
        return Err(IntakeError::TooLarge {
            len: usize::try_from(meta.size()).unwrap_or(usize::MAX),
        }
        .to_string());
    }
    let mut bytes = Vec::new();
    file.take(INTAKE_MAX as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() > INTAKE_MAX {
        return Err(IntakeError::TooLarge { len: bytes.len() }.to_string());
    }
    Ok(bytes)
}

/// Removes an accepted file from `.taking/`; moves a refused one to
/// `rejected/` with its reason (or, when that fails, removes it: the
/// reason is in the log, and it must not be taken again and again).
fn settle(drop_dir: &DropDir, name: &OsStr, outcome: Result<(), String>) {
    let result = match outcome {
        Ok(()) => remove(&drop_dir.taking, name),
        Err(reason) => reject(drop_dir, name, &reason).or_else(|e| {
            warn!(error = %e, file = ?name, %reason, "cannot set a refused notification file aside; removing it");
            remove(&drop_dir.taking, name)
        }),
    };
    if let Err(e) = result {
        warn!(error = %e, file = ?name, "cannot tidy up a dropped notification file");
    }
}

fn reject(drop_dir: &DropDir, name: &OsStr, reason: &str) -> std::io::Result<()> {
    let from = c_name_io(name)?;
    let stem = name
        .as_bytes()
        .strip_suffix(b".json")
        .unwrap_or(name.as_bytes());
    // Never overwrite an earlier refusal of a file with the same name, nor
    // anything planted under the next free name: the reason file is
    // created exclusively first, then the file moved beside it.
    for n in 0..REJECTED_NAMES_MAX {
        let mut target = stem.to_vec();
        if n > 0 {
            target.extend_from_slice(format!(".{n}").as_bytes());
        }
        target.extend_from_slice(b".json");
        let mut reason_name = target.clone();
        reason_name.extend_from_slice(b".reason");
        let (target, reason_name) = (
            c_name_io(OsStr::from_bytes(&target))?,
            c_name_io(OsStr::from_bytes(&reason_name))?,
        );
        let flags =
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        let reason_file = match open_at(&drop_dir.rejected, &reason_name, flags, 0o644) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
            Err(e) => return Err(e),
        };
        match rename_noreplace(&drop_dir.taking, &from, &drop_dir.rejected, &target) {
            Ok(()) => {}
            Err(e) => {
                let _ = unlink_at(&drop_dir.rejected, &reason_name);
                if e.raw_os_error() == Some(libc::EEXIST) {
                    continue;
                }
                return Err(e);
            }
        }
        return std::fs::File::from(reason_file).write_all(format!("{reason}\n").as_bytes());
    }
    Err(std::io::Error::other(format!(
        "{REJECTED_NAMES_MAX} names for it are taken in {REJECTED_DIR}/; empty that directory"
    )))
}

fn remove(dir: &OwnedFd, name: &OsStr) -> std::io::Result<()> {
    unlink_at(dir, &c_name_io(name)?)
}

// --- thin wrappers over the *at system calls ---

fn cvt(rc: libc::c_int) -> std::io::Result<libc::c_int> {
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn c_name(name: &OsStr) -> Result<CString> {
    c_name_io(name).with_context(|| format!("the path {name:?}"))
}

fn c_name_io(name: &OsStr) -> std::io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| std::io::Error::other("a name contains a NUL byte"))
}

fn open_at(
    dir: &OwnedFd,
    name: &CStr,
    flags: libc::c_int,
    mode: libc::c_uint,
) -> std::io::Result<OwnedFd> {
    // SAFETY: valid descriptor and C string; the result is owned from here.
    let fd = cvt(unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, mode) })?;
    // SAFETY: `fd` was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn unlink_at(dir: &OwnedFd, name: &CStr) -> std::io::Result<()> {
    // SAFETY: valid descriptor and C string.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) }).map(drop)
}

fn fstat(fd: &OwnedFd) -> std::io::Result<libc::stat> {
    // SAFETY: `stat` is plain data, filled in by the call.
    let mut meta: libc::stat = unsafe { std::mem::zeroed() };
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut meta) })?;
    Ok(meta)
}

fn fstatat(dir: &OwnedFd, name: &CStr) -> std::io::Result<libc::stat> {
    // SAFETY: as for `fstat`; a link is described, not followed.
    let mut meta: libc::stat = unsafe { std::mem::zeroed() };
    cvt(unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut meta,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(meta)
}

/// Moves `from` to `to` unless `to` exists (as anything, a link included).
fn rename_noreplace(
    from_dir: &OwnedFd,
    from: &CStr,
    to_dir: &OwnedFd,
    to: &CStr,
) -> std::io::Result<()> {
    // SAFETY: valid descriptors and C strings.
    let rc = unsafe {
        libc::renameat2(
            from_dir.as_raw_fd(),
            from.as_ptr(),
            to_dir.as_raw_fd(),
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    match cvt(rc) {
        // A file system without RENAME_NOREPLACE (ext4, xfs, btrfs and
        // tmpfs all have it): check, then move. Only `rejected/` leaves a
        // window here; `.taking/` is the host's alone.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            if fstatat(to_dir, to).is_ok() {
                return Err(std::io::Error::from_raw_os_error(libc::EEXIST));
            }
            // SAFETY: as above.
            cvt(unsafe {
                libc::renameat(
                    from_dir.as_raw_fd(),
                    from.as_ptr(),
                    to_dir.as_raw_fd(),
                    to.as_ptr(),
                )
            })
            .map(drop)
        }
        other => other.map(drop),
    }
}

/// Up to `max` names in `dir` (without `.` and `..`).
fn list_dir(dir: &OwnedFd, max: usize) -> std::io::Result<Vec<OsString>> {
    // fdopendir takes the descriptor it is given, and its position: give it
    // a copy and start from the beginning.
    // SAFETY: valid descriptor; ownership of the copy passes to `stream`.
    let copy = cvt(unsafe { libc::fcntl(dir.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) })?;
    let stream = unsafe { libc::fdopendir(copy) };
    if stream.is_null() {
        let e = std::io::Error::last_os_error();
        // SAFETY: `copy` was not taken by fdopendir.
        unsafe { libc::close(copy) };
        return Err(e);
    }
    // SAFETY: `stream` is a valid open directory stream until closedir.
    unsafe { libc::rewinddir(stream) };
    let mut names = Vec::new();
    while names.len() < max {
        // SAFETY: as above; the entry is read before the next readdir.
        let entry = unsafe { libc::readdir(stream) };
        if entry.is_null() {
            break;
        }
        let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) }.to_bytes();
        if name != b"." && name != b".." {
            names.push(OsString::from_vec(name.to_vec()));
        }
    }
    // SAFETY: closes `stream` and the copied descriptor with it.
    unsafe { libc::closedir(stream) };
    Ok(names)
}
