//! The local intake (R15): how the instrument software reports without Rust
//! or an Assent library. Two ways in, both parsed by
//! [`assent_proto::notification_intake::parse_intake`]:
//!
//! - the Unix socket `notify.sock` in the data directory (mode 0660,
//!   optionally owned by an intake group): one JSON object per line, each
//!   answered `ok` once it is durable in the book, or `error: <reason>`;
//! - the drop directory `notify.d/` (see [`drop_dir`](super::drop_dir)).
//!
//! A bad request is refused with its reason and counted; it never ends the
//! intake. Lines are read with a bound: an over-long line is skipped to
//! its end without being kept, and refused.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use assent_proto::notification_intake::{parse_intake, IntakeError, IntakeRequest, INTAKE_MAX};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::book::{Applied, IntakeChannel};
use super::shared::SharedBook;

#[cfg(test)]
mod tests;

/// The socket's file name in the data directory.
pub const SOCKET_FILE: &str = "notify.sock";
/// Clients served at once; more are told to retry.
pub const CLIENTS_MAX: usize = 64;
/// A client that sends nothing for this long is disconnected.
const CLIENT_IDLE: Duration = Duration::from_secs(300);
/// IDs under this prefix belong to Assent's own checks; the intake may
/// neither raise nor clear them.
pub const OWN_ID_PREFIX: &str = "assent.";

pub struct IntakeSettings {
    /// Group that may write to the socket and the drop directory.
    pub group: Option<String>,
    /// How often the drop directory is looked at.
    pub drop_poll: Duration,
}

/// The running intake; its tasks stop when it is dropped.
pub struct Intake {
    pub socket: PathBuf,
    pub drop_dir: PathBuf,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Intake {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Opens the socket and the drop directory in `dir` and starts serving them.
pub fn start(dir: &Path, book: SharedBook, settings: IntakeSettings) -> Result<Intake> {
    let gid = settings.group.as_deref().map(group_id).transpose()?;
    let socket = dir.join(SOCKET_FILE);
    let listener = bind(&socket, gid)?;
    let drop_dir = Arc::new(super::drop_dir::prepare(dir, gid)?);
    let tasks = vec![
        tokio::spawn(serve(listener, book.clone())),
        tokio::spawn(super::drop_dir::watch(
            drop_dir.clone(),
            book,
            settings.drop_poll,
        )),
    ];
    Ok(Intake {
        socket,
        drop_dir: drop_dir.path().to_owned(),
        tasks,
    })
}

/// Parses, checks and records one request; counts it either way.
pub async fn take(
    book: &SharedBook,
    channel: IntakeChannel,
    bytes: &[u8],
) -> Result<Applied, String> {
    let result = match parse_intake(bytes) {
        Ok(request) => match own_id(&request) {
            Some(id) => Err(format!(
                "field `id`: {id:?} is reserved for Assent's own checks (IDs starting with {OWN_ID_PREFIX:?})"
            )),
            None => book.apply(request).await.map_err(|e| e.to_string()),
        },
        Err(e) => Err(e.to_string()),
    };
    book.count_intake(channel, result.is_ok());
    if let Err(reason) = &result {
        warn!(channel = channel.label(), %reason, "notification refused");
    }
    result
}

fn own_id(request: &IntakeRequest) -> Option<&str> {
    let id = match request {
        IntakeRequest::Raise(raised) => raised.id.as_str(),
        IntakeRequest::Clear { id } => id.as_str(),
    };
    id.starts_with(OWN_ID_PREFIX).then_some(id)
}

/// Binds the socket, replacing a stale one (the run lock says no other
/// `assent-host run` serves it), never any other kind of file.
fn bind(path: &Path, gid: Option<u32>) -> Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)
            .with_context(|| format!("removing the stale intake socket {}", path.display()))?,
        Ok(_) => bail!(
            "{} exists and is not a socket; move it away so the notification intake can start",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("checking {}", path.display())),
    }
    // Bound in a directory only this user may enter, and moved into place
    // once its mode and group are right: no one else can connect before.
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let private = parent.join(format!(".{SOCKET_FILE}.{}", std::process::id()));
    match std::fs::symlink_metadata(&private) {
        // Left by a crashed run with the same process ID.
        Ok(_) => std::fs::remove_dir_all(&private)
            .with_context(|| format!("removing the leftover {}", private.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("checking {}", private.display())),
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .with_context(|| format!("creating {}", private.display()))?;
    let bound = bind_privately(&private.join(SOCKET_FILE), path, gid);
    let _ = std::fs::remove_dir_all(&private);
    bound
}

fn bind_privately(bound: &Path, path: &Path, gid: Option<u32>) -> Result<UnixListener> {
    let listener = UnixListener::bind(bound)
        .with_context(|| format!("opening the notification intake socket {}", bound.display()))?;
    std::fs::set_permissions(bound, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("setting the mode of {}", bound.display()))?;
    if let Some(gid) = gid {
        give_to_group(bound, gid)?;
    }
    std::fs::rename(bound, path)
        .with_context(|| format!("moving the intake socket into place at {}", path.display()))?;
    Ok(listener)
}

pub(crate) fn give_to_group(path: &Path, gid: u32) -> Result<()> {
    std::os::unix::fs::chown(path, None, Some(gid)).with_context(|| {
        format!(
            "giving {} to group {gid} (this needs membership of that group or root)",
            path.display()
        )
    })
}

/// The ID of a group by name.
fn group_id(name: &str) -> Result<u32> {
    let c_name = std::ffi::CString::new(name).context("the group name contains a NUL byte")?;
    let mut group: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buf` outlives `group`'s
    // borrowed strings, which we do not read.
    let rc = unsafe {
        libc::getgrnam_r(
            c_name.as_ptr(),
            &mut group,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() {
        bail!("there is no group {name:?} for --intake-group; create it or name an existing one");
    }
    Ok(group.gr_gid)
}

async fn serve(listener: UnixListener, book: SharedBook) {
    let slots = Arc::new(Semaphore::new(CLIENTS_MAX));
    loop {
        let mut stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: wait, do not spin.
                warn!(error = %e, "notification intake could not accept a client");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let book = book.clone();
                tokio::spawn(async move {
                    serve_client(stream, &book).await;
                    drop(slot);
                });
            }
            Err(_) => {
                tokio::spawn(async move {
                    let answer = b"error: too many intake clients at once; try again shortly\n";
                    let _ = stream.write_all(answer).await;
                });
            }
        }
    }
}

async fn serve_client(stream: UnixStream, book: &SharedBook) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        let answer =
            match tokio::time::timeout(CLIENT_IDLE, read_line(&mut reader, &mut line)).await {
                Err(_) | Ok(Err(_)) | Ok(Ok(Line::End)) => return,
                Ok(Ok(Line::TooLong(len))) => {
                    book.count_intake(IntakeChannel::Socket, false);
                    let reason = IntakeError::TooLarge { len }.to_string();
                    warn!(channel = "socket", %reason, "notification refused");
                    Err(reason)
                }
                Ok(Ok(Line::Complete)) => take(book, IntakeChannel::Socket, &line).await.map(drop),
            };
        let answer = match answer {
            Ok(()) => "ok\n".to_owned(),
            Err(reason) => format!("error: {}\n", reason.replace(['\n', '\r'], " ")),
        };
        if write.write_all(answer.as_bytes()).await.is_err() {
            debug!("intake client left before its answer");
            return;
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// `line` holds one line, without its end.
    Complete,
    /// The line was longer than [`INTAKE_MAX`]; it was skipped, not kept.
    TooLong(usize),
    End,
}

/// Reads one line into `line`, keeping at most [`INTAKE_MAX`] bytes of it.
/// A last line without a newline counts as a line.
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
) -> std::io::Result<Line> {
    line.clear();
    let mut len = 0usize;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(match len {
                0 => Line::End,
                len if len > INTAKE_MAX => Line::TooLong(len),
                _ => Line::Complete,
            });
        }
        let newline = buf.iter().position(|&b| b == b'\n');
        let chunk = &buf[..newline.unwrap_or(buf.len())];
        len = len.saturating_add(chunk.len());
        if len <= INTAKE_MAX {
            line.extend_from_slice(chunk);
        } else {
            line.clear();
        }
        let used = chunk.len() + usize::from(newline.is_some());
        reader.consume(used);
        if newline.is_some() {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(if len > INTAKE_MAX {
                Line::TooLong(len)
            } else {
                Line::Complete
            });
        }
    }
}
