//! The file outbox: each message becomes one RFC 5322 file, written whole or
//! not at all (temporary file, then rename), readable only by the relay's
//! user (0600), named so that names sort by sending time.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use assent_proto::secret_file::sync_dir;
use zeroize::Zeroizing;

use super::{outbox_error, render_email, LocationCode, LocationCodeMessage, Notifier, NotifyError};

/// Writes location-code e-mails to a directory instead of sending them.
#[derive(Debug, Clone)]
pub struct OutboxNotifier {
    dir: PathBuf,
}

const OUTBOX_FROM: &str = "assent-relay@localhost";
/// Our messages are about 1 KiB; anything much larger is not one of ours.
const MAX_MESSAGE_BYTES: u64 = 64 * 1024;
const EXTENSION: &str = ".eml";

/// Orders messages written in the same second by this process.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

impl OutboxNotifier {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The code in the newest message to `email` (compared without regard
    /// to case), for tests and the demo. Files that are not messages are
    /// skipped.
    pub fn read_latest_code(dir: &Path, email: &str) -> Result<Option<LocationCode>, NotifyError> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .map_err(|err| outbox_error(dir, err))?
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| !name.starts_with('.') && name.ends_with(EXTENSION))
            .collect();
        names.sort_unstable();
        for name in names.iter().rev() {
            let Some(text) = read_message(&dir.join(name)) else {
                continue;
            };
            if let Some(code) = code_sent_to(&text, email) {
                return Ok(Some(code));
            }
        }
        Ok(None)
    }
}

impl Notifier for OutboxNotifier {
    fn send(&self, msg: &LocationCodeMessage) -> Result<(), NotifyError> {
        let text = Zeroizing::new(render_email(msg, OUTBOX_FROM)?);
        create_private_dir(&self.dir).map_err(|err| outbox_error(&self.dir, err))?;
        let name = format!(
            "{:020}-{:010}-{:020}{EXTENSION}",
            msg.sent_at_unix,
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        let path = self.dir.join(&name);
        let temp = self.dir.join(format!(".{name}.tmp"));
        let written = write_private(&temp, text.as_bytes())
            .and_then(|()| fs::rename(&temp, &path))
            .and_then(|()| sync_dir(&self.dir));
        if let Err(err) = written {
            // Never leave half a message behind; the rename is the commit.
            let _ = fs::remove_file(&temp);
            return Err(outbox_error(&path, err));
        }
        Ok(())
    }
}

fn read_message(path: &Path) -> Option<Zeroizing<String>> {
    let file = fs::File::open(path).ok()?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_MESSAGE_BYTES + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    if bytes.len() as u64 > MAX_MESSAGE_BYTES {
        return None;
    }
    std::str::from_utf8(&bytes)
        .ok()
        .map(|text| Zeroizing::new(text.to_owned()))
}

/// The code in `text` if its To header is `email`.
pub(super) fn code_sent_to(text: &str, email: &str) -> Option<LocationCode> {
    let mut lines = text.split('\n').map(|line| line.trim_end_matches('\r'));
    let mut addressed = false;
    for header in lines.by_ref() {
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("to") {
                addressed = value.trim().eq_ignore_ascii_case(email.trim());
            }
        }
    }
    if !addressed {
        return None;
    }
    lines
        .find_map(|line| line.strip_prefix(super::CODE_LINE))
        .and_then(|code| LocationCode::parse(code).ok())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
