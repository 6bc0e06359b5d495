//! The notification book (R15): the host's durable record of its active
//! notifications (one per ID) and of the reports the relay has not yet
//! acknowledged (the outbox), each numbered by a persisted `seq` counter.
//!
//! Every change is written to `notifications.json` in the data directory
//! (temporary file, fsync, rename, fsync of the directory) before it is
//! acknowledged to whoever made it, so a report that was answered `ok` is
//! never lost, and a reader in another process (`assent-host
//! notifications`, a support session) always sees a whole book. A change is
//! made on a copy and only takes effect once written: a failed write
//! changes nothing.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use assent_proto::messages::notification::{
    Notification, NotificationCleared, NOTIFICATION_ID_MAX,
};
use assent_proto::notification_intake::{IntakeRequest, RaisedNotification};
use assent_proto::wire::Text;
use serde::{Deserialize, Serialize};

use super::record::{ClearRecord, NotificationRecord, Report, ReportRecord};

#[cfg(test)]
mod tests;

/// The book's file name in the host data directory.
pub const BOOK_FILE: &str = "notifications.json";
/// Most notifications active at once; a new ID beyond this is refused.
pub const ACTIVE_MAX: usize = 1_000;
/// Most reports waiting for the relay; further changes are refused.
pub const OUTBOX_MAX: usize = 10_000;
/// Clears kept for `notifications --all` and for viewers that join later.
pub const RECENTLY_CLEARED_MAX: usize = 200;
/// Largest book file; reading a larger one, or a change that would make
/// one, is refused (10,000 reports of the largest size fit).
pub const BOOK_FILE_MAX: u64 = 64 * 1024 * 1024;
/// Highest `seq` a book hands out: the relay stores them as i64.
const SEQ_MAX: u64 = i64::MAX as u64;
const FORMAT: u32 = 1;

pub type NotificationId = Text<NOTIFICATION_ID_MAX>;

#[derive(Debug, thiserror::Error)]
pub enum BookError {
    #[error("cannot read the notification book {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the notification book {}: {source}; the change was not made", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the notification book {} is corrupt ({reason}); move it aside to start with an empty book (the notifications and undelivered reports in it are then lost)", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("{ACTIVE_MAX} notifications are already active; clear some before raising new ones")]
    TooManyActive,
    #[error("{OUTBOX_MAX} reports are waiting for the relay; new ones are refused until the relay takes them")]
    OutboxFull,
    #[error("the notification book would grow past {BOOK_FILE_MAX} bytes; new reports are refused until the relay takes the waiting ones")]
    TooLarge,
    #[error("the relay has stored notification seq {relay_last_seq}, too close to the largest number for this host to number above it")]
    SeqExhausted { relay_last_seq: u64 },
}

/// How many intake requests were taken and refused, per way in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeCounts {
    pub socket_accepted: u64,
    pub socket_refused: u64,
    pub drop_accepted: u64,
    pub drop_refused: u64,
}

/// The two local ways in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntakeChannel {
    Socket,
    DropDirectory,
}

impl IntakeChannel {
    pub fn label(self) -> &'static str {
        match self {
            IntakeChannel::Socket => "socket",
            IntakeChannel::DropDirectory => "drop directory",
        }
    }
}

/// What a change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// A new report, now durable in the outbox.
    Reported(Report),
    /// Nothing to report: the same notification is already active, or the
    /// ID to clear is not active.
    Unchanged,
}

#[derive(Debug, Clone)]
struct State {
    next_seq: u64,
    /// Whether this book's numbering was checked against the relay's last
    /// stored `seq` (see [`NotificationBook::number_above`]).
    numbered_against_relay: bool,
    /// In the order they were (last) raised.
    active: Vec<Notification>,
    recently_cleared: VecDeque<NotificationCleared>,
    outbox: VecDeque<Report>,
    intake: IntakeCounts,
}

/// The book as written to disk.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BookFile {
    format: u32,
    next_seq: u64,
    /// Absent in books written before the check existed: those had been
    /// delivering already, so they count as checked.
    #[serde(default = "checked_before_the_field_existed")]
    numbered_against_relay: bool,
    active: Vec<NotificationRecord>,
    #[serde(default)]
    recently_cleared: Vec<ClearRecord>,
    outbox: Vec<ReportRecord>,
    #[serde(default)]
    intake: IntakeCounts,
}

#[derive(Clone)]
pub struct NotificationBook {
    path: PathBuf,
    state: State,
    /// Intake counts changed since the last write.
    counts_changed: bool,
}

impl NotificationBook {
    /// The book file of a data directory.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(BOOK_FILE)
    }

    /// Opens the book in `dir` for changes, or starts an empty one (written
    /// with its first change).
    pub fn open(dir: &Path, now_unix_ms: u64) -> Result<Self, BookError> {
        let path = Self::path_in(dir);
        match read_state(&path)? {
            Some(state) => Ok(Self {
                path,
                state,
                counts_changed: false,
            }),
            // A fresh book (first run, or the old one moved aside) numbers
            // from the clock, so this host's `seq` never goes back and the
            // relay, which stores each `seq` once, never mistakes a new
            // report for one it already has.
            None => Ok(Self {
                path,
                state: State {
                    next_seq: now_unix_ms.saturating_mul(1000).max(1),
                    numbered_against_relay: false,
                    active: Vec::new(),
                    recently_cleared: VecDeque::new(),
                    outbox: VecDeque::new(),
                    intake: IntakeCounts::default(),
                },
                counts_changed: false,
            }),
        }
    }

    /// Reads the book in `dir` as it is on disk; `None` when there is none
    /// yet (for readers: the CLI and a session's notification channel).
    pub fn load(dir: &Path) -> Result<Option<Self>, BookError> {
        let path = Self::path_in(dir);
        Ok(read_state(&path)?.map(|state| Self {
            path,
            state,
            counts_changed: false,
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn active(&self) -> &[Notification] {
        &self.state.active
    }

    pub fn find(&self, id: &str) -> Option<&Notification> {
        self.state.active.iter().find(|n| n.id.as_str() == id)
    }

    /// Clears, oldest first.
    pub fn recently_cleared(&self) -> impl Iterator<Item = &NotificationCleared> {
        self.state.recently_cleared.iter()
    }

    /// Reports the relay has not acknowledged, in the order they were made.
    pub fn outbox(&self) -> impl Iterator<Item = &Report> {
        self.state.outbox.iter()
    }

    pub fn outbox_len(&self) -> usize {
        self.state.outbox.len()
    }

    /// The next report to deliver.
    pub fn front(&self) -> Option<&Report> {
        self.state.outbox.front()
    }

    /// The `seq` the next report will carry.
    pub fn next_seq(&self) -> u64 {
        self.state.next_seq
    }

    pub fn intake_counts(&self) -> IntakeCounts {
        self.state.intake
    }

    /// Applies one intake request.
    pub fn apply(
        &mut self,
        request: IntakeRequest,
        now_unix_ms: u64,
    ) -> Result<Applied, BookError> {
        match request {
            IntakeRequest::Raise(raised) => self.raise(raised, now_unix_ms),
            IntakeRequest::Clear { id } => self.clear(&id, now_unix_ms),
        }
    }

    /// Raises `raised`, replacing an active notification with the same ID.
    /// Raising exactly what is already active reports nothing.
    pub fn raise(
        &mut self,
        raised: RaisedNotification,
        now_unix_ms: u64,
    ) -> Result<Applied, BookError> {
        let existing = self.state.active.iter().position(|n| n.id == raised.id);
        if let Some(i) = existing {
            let n = &self.state.active[i];
            if (n.source, n.severity, n.kind, &n.title, &n.detail)
                == (
                    raised.source,
                    raised.severity,
                    raised.kind,
                    &raised.title,
                    &raised.detail,
                )
            {
                return Ok(Applied::Unchanged);
            }
        } else if self.state.active.len() >= ACTIVE_MAX {
            return Err(BookError::TooManyActive);
        }
        let mut next = self.state.clone();
        let notification = Notification {
            seq: next.take_seq(),
            id: raised.id,
            source: raised.source,
            severity: raised.severity,
            kind: raised.kind,
            title: raised.title,
            detail: raised.detail,
            raised_unix_ms: now_unix_ms,
        };
        if let Some(i) = existing {
            next.active.remove(i);
        }
        next.active.push(notification.clone());
        self.commit_report(next, Report::Raised(notification))
    }

    /// Clears the notification with this ID; an ID that is not active
    /// reports nothing.
    pub fn clear(&mut self, id: &NotificationId, now_unix_ms: u64) -> Result<Applied, BookError> {
        let Some(i) = self.state.active.iter().position(|n| &n.id == id) else {
            return Ok(Applied::Unchanged);
        };
        let mut next = self.state.clone();
        next.active.remove(i);
        let cleared = NotificationCleared {
            seq: next.take_seq(),
            id: id.clone(),
            cleared_unix_ms: now_unix_ms,
        };
        next.recently_cleared.push_back(cleared.clone());
        while next.recently_cleared.len() > RECENTLY_CLEARED_MAX {
            next.recently_cleared.pop_front();
        }
        self.commit_report(next, Report::Cleared(cleared))
    }

    /// The relay acknowledged the report with this `seq`: it leaves the
    /// outbox for good. `false` when it was not there (already removed).
    pub fn acknowledge(&mut self, seq: u64) -> Result<bool, BookError> {
        let Some(i) = self.state.outbox.iter().position(|r| r.seq() == seq) else {
            return Ok(false);
        };
        let mut next = self.state.clone();
        next.outbox.remove(i);
        self.commit(next)?;
        Ok(true)
    }

    /// Checks a new book's numbering against the relay, once, before it
    /// delivers anything: the relay has stored this host's reports up to
    /// `relay_last_seq` (0 when unknown, from a relay too old to say). A
    /// book started again (deleted, from a clock behind the old numbering)
    /// may number at or below it, and the relay would take those reports
    /// for ones it has and drop them; every `seq` in the book moves up by
    /// the same amount, keeping their order, to just above the relay's.
    /// Returns the shift (0 when none was needed or the book was checked
    /// before).
    pub fn number_above(&mut self, relay_last_seq: u64) -> Result<u64, BookError> {
        if self.state.numbered_against_relay {
            return Ok(0);
        }
        let lowest = self.state.seqs().fold(self.state.next_seq, u64::min);
        let shift = relay_last_seq.saturating_add(1).saturating_sub(lowest);
        // The relay stores seqs as SQLite integers (i64).
        if self
            .state
            .next_seq
            .checked_add(shift)
            .is_none_or(|next| next > SEQ_MAX)
        {
            return Err(BookError::SeqExhausted { relay_last_seq });
        }
        let mut next = self.state.clone();
        next.numbered_against_relay = true;
        for notification in &mut next.active {
            notification.seq += shift;
        }
        for cleared in &mut next.recently_cleared {
            cleared.seq += shift;
        }
        for report in &mut next.outbox {
            *report.seq_mut() += shift;
        }
        next.next_seq += shift;
        self.commit(next)?;
        Ok(shift)
    }

    /// Takes intake counts kept elsewhere (the running host keeps them in
    /// atomics, see [`super::shared`]). Kept in memory and written with the
    /// next change or [`Self::save_counts`], so a flood of bad input costs
    /// no disk writes of its own.
    pub fn set_intake_counts(&mut self, counts: IntakeCounts) {
        if self.state.intake != counts {
            self.state.intake = counts;
            self.counts_changed = true;
        }
    }

    /// Writes the intake counts if they changed since the last write;
    /// `true` when it wrote.
    pub fn save_counts(&mut self) -> Result<bool, BookError> {
        if !self.counts_changed {
            return Ok(false);
        }
        self.commit(self.state.clone())?;
        Ok(true)
    }

    fn commit_report(&mut self, next: State, report: Report) -> Result<Applied, BookError> {
        if self.state.outbox.len() >= OUTBOX_MAX {
            return Err(BookError::OutboxFull);
        }
        let mut next = next;
        next.outbox.push_back(report.clone());
        self.commit(next)?;
        Ok(Applied::Reported(report))
    }

    /// Writes `next` durably, then makes it the book's state.
    fn commit(&mut self, next: State) -> Result<(), BookError> {
        let bytes = encode(&next);
        if bytes.len() as u64 > BOOK_FILE_MAX {
            return Err(BookError::TooLarge);
        }
        write_durably(&self.path, &bytes).map_err(|source| BookError::Write {
            path: self.path.clone(),
            source,
        })?;
        self.state = next;
        self.counts_changed = false;
        Ok(())
    }
}

impl State {
    /// Every `seq` the book holds, in no particular order.
    fn seqs(&self) -> impl Iterator<Item = u64> + '_ {
        self.active
            .iter()
            .map(|n| n.seq)
            .chain(self.recently_cleared.iter().map(|c| c.seq))
            .chain(self.outbox.iter().map(Report::seq))
    }

    fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }
}

fn encode(state: &State) -> Vec<u8> {
    let file = BookFile {
        format: FORMAT,
        next_seq: state.next_seq,
        numbered_against_relay: state.numbered_against_relay,
        active: state.active.iter().map(Into::into).collect(),
        recently_cleared: state.recently_cleared.iter().map(Into::into).collect(),
        outbox: state.outbox.iter().map(Into::into).collect(),
        intake: state.intake,
    };
    // Serialising plain records with string keys cannot fail.
    let mut bytes = serde_json::to_vec_pretty(&file).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn read_state(path: &Path) -> Result<Option<State>, BookError> {
    let read_error = |source| BookError::Read {
        path: path.to_owned(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_error(e)),
    };
    let mut bytes = Vec::new();
    file.take(BOOK_FILE_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    let corrupt = |reason: String| BookError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    if bytes.len() as u64 > BOOK_FILE_MAX {
        return Err(corrupt(format!("larger than {BOOK_FILE_MAX} bytes")));
    }
    let file: BookFile = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    decode(file).map(Some).map_err(corrupt)
}

/// Checks what a book file says against the rules every write keeps.
fn decode(file: BookFile) -> Result<State, String> {
    if file.format != FORMAT {
        return Err(format!("format {} is not {FORMAT}", file.format));
    }
    let active = file
        .active
        .into_iter()
        .map(Notification::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let recently_cleared = file
        .recently_cleared
        .into_iter()
        .map(NotificationCleared::try_from)
        .collect::<Result<VecDeque<_>, _>>()?;
    let outbox = file
        .outbox
        .into_iter()
        .map(Report::try_from)
        .collect::<Result<VecDeque<_>, _>>()?;
    if active.len() > ACTIVE_MAX || outbox.len() > OUTBOX_MAX {
        return Err("more notifications or reports than a host keeps".into());
    }
    for (i, n) in active.iter().enumerate() {
        if active[..i].iter().any(|other| other.id == n.id) {
            return Err(format!("notification {:?} is active twice", n.id.as_str()));
        }
    }
    let mut last = None;
    for seq in outbox.iter().map(Report::seq) {
        if last.is_some_and(|last| seq <= last) {
            return Err("the outbox is not in seq order".into());
        }
        last = Some(seq);
    }
    let state = State {
        next_seq: file.next_seq,
        numbered_against_relay: file.numbered_against_relay,
        active,
        recently_cleared,
        outbox,
        intake: file.intake,
    };
    if state.seqs().any(|seq| seq >= state.next_seq) {
        return Err("next_seq is not above every seq in the book".into());
    }
    if state.next_seq > SEQ_MAX {
        return Err("next_seq is beyond what the relay can store".into());
    }
    Ok(state)
}

fn checked_before_the_field_existed() -> bool {
    true
}

/// Temporary file, fsync, rename over `path`, fsync of the directory: after
/// a crash the file is either the old book or the new one, never a part.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    assent_proto::secret_file::sync_dir(dir)
}
