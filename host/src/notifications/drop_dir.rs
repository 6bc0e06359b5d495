//! The drop directory `notify.d/` (R15): each `*.json` file in it is one
//! intake request, for software that can write a file but not a socket.
//! Writers should write under another name (e.g. `.pump.tmp`) and rename
//! to `*.json` when done, so a half-written file is never read.
//!
//! An accepted file is removed. A refused one is moved to
//! `notify.d/rejected/` with `<name>.reason` beside it saying why, so the
//! instrument software's integrator can see what went wrong.

use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use assent_proto::notification_intake::{IntakeError, INTAKE_MAX};
use tracing::warn;

use super::book::IntakeChannel;
use super::intake::{give_to_group, take};
use super::shared::SharedBook;

/// The drop directory's name in the data directory.
pub const DROP_DIR: &str = "notify.d";
/// Where refused files go, inside the drop directory.
pub const REJECTED_DIR: &str = "rejected";
/// Files taken per look; the rest wait for the next (bounds memory).
const FILES_PER_POLL: usize = 256;

/// Creates `notify.d/` and `notify.d/rejected/` (0770, optionally the
/// intake group's) and returns the drop directory.
pub fn prepare(dir: &Path, gid: Option<u32>) -> Result<PathBuf> {
    let drop_dir = dir.join(DROP_DIR);
    let rejected = drop_dir.join(REJECTED_DIR);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o770)
        .create(&rejected)
        .with_context(|| {
            format!(
                "creating the notification drop directory {}",
                rejected.display()
            )
        })?;
    if let Some(gid) = gid {
        give_to_group(&drop_dir, gid)?;
        give_to_group(&rejected, gid)?;
    }
    Ok(drop_dir)
}

/// Looks at the drop directory every `poll`, forever.
pub async fn watch(drop_dir: PathBuf, book: SharedBook, poll: Duration) {
    loop {
        take_dropped(&drop_dir, &book).await;
        tokio::time::sleep(poll).await;
    }
}

/// Takes every file waiting in the drop directory once.
pub async fn take_dropped(drop_dir: &Path, book: &SharedBook) {
    let dir = drop_dir.to_owned();
    let files = match tokio::task::spawn_blocking(move || waiting_files(&dir)).await {
        Ok(Ok(files)) => files,
        Ok(Err(e)) => {
            warn!(error = %e, dir = %drop_dir.display(), "cannot read the notification drop directory");
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
        let dir = drop_dir.to_owned();
        let _ = tokio::task::spawn_blocking(move || settle(&dir, &file.path, outcome)).await;
    }
}

struct Dropped {
    path: PathBuf,
    /// The file's bytes, or why it cannot be taken at all.
    content: Result<Vec<u8>, String>,
}

/// The `*.json` files waiting, oldest first (then by name), so a raise and
/// a later clear of the same ID are taken in the order they were written.
fn waiting_files(drop_dir: &Path) -> std::io::Result<Vec<Dropped>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(drop_dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.ends_with(".json") || name.starts_with('.') {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            continue;
        }
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        found.push((modified, entry.path()));
    }
    found.sort();
    Ok(found
        .into_iter()
        .take(FILES_PER_POLL)
        .map(|(_, path)| Dropped {
            content: read_bounded(&path),
            path,
        })
        .collect())
}

/// Reads a regular file of at most [`INTAKE_MAX`] bytes. Symlinks and
/// FIFOs are refused without following or blocking on them.
fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            format!("cannot open the file (it must be a regular file, not a link): {e}")
        })?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > INTAKE_MAX as u64 {
        return Err(IntakeError::TooLarge {
            len: usize::try_from(meta.len()).unwrap_or(usize::MAX),
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

/// Removes an accepted file; moves a refused one aside with its reason.
fn settle(drop_dir: &Path, path: &Path, outcome: Result<(), String>) {
    let result = match outcome {
        Ok(()) => std::fs::remove_file(path),
        Err(reason) => reject(drop_dir, path, &reason),
    };
    if let Err(e) = result {
        warn!(error = %e, file = %path.display(), "cannot tidy up a dropped notification file");
    }
}

fn reject(drop_dir: &Path, path: &Path, reason: &str) -> std::io::Result<()> {
    let rejected = drop_dir.join(REJECTED_DIR);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut target = rejected.join(&*name);
    // Never overwrite an earlier refusal of a file with the same name.
    let mut n = 1;
    while std::fs::symlink_metadata(&target).is_ok() {
        target = rejected.join(format!("{}.{n}.json", name.trim_end_matches(".json")));
        n += 1;
    }
    std::fs::rename(path, &target)?;
    let mut reason_path = target.into_os_string();
    reason_path.push(".reason");
    std::fs::write(reason_path, format!("{reason}\n"))
}
