//! The connected host's notifications (R15), as the engineer sees them: the
//! set of active notifications ([`ActiveNotifications`]), the one-line
//! rendering of each change, and the viewer's end of the Notifications
//! channel ([`NotificationChannel`]).
//!
//! The host sends, sealed, every active notification when the channel opens,
//! then each change: a `Notification` raises one or replaces the one with the
//! same `id`, a `NotificationCleared` removes it. The viewer never sends on
//! the channel. The channel is an extra: a host that does not serve it never
//! sends, and one that sends something malformed or unexpected loses only
//! this channel, never the session.

use std::collections::VecDeque;

use assent_net::channel::ChannelError;
use assent_net::{FramedSend, SealedRecv};
use assent_proto::messages::notification::{
    Notification, NotificationKind, NotificationSource, Severity, TITLE_MAX,
};
use assent_proto::messages::session::SessionMessage;
use assent_proto::wire::MessageType;
use tracing::warn;

use crate::files::printable;

/// Most notifications kept at once; past it the oldest is dropped (with a
/// warning), so a host cannot make the viewer grow without bound.
pub const ACTIVE_MAX: usize = 1000;

/// Longest detail shown on a notification's line, in characters (details
/// may be 4 KiB; the line stays readable).
pub const DETAIL_SHOWN_MAX_CHARS: usize = 240;

/// The host sent something on the Notifications channel that does not belong
/// there; the channel is closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the host sent {0:?} on the notifications channel, which carries only notifications")]
pub struct UnexpectedNotificationMessage(pub MessageType);

/// What one message did to the active set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationChange {
    /// Raised, or replaced the active one with the same `id`.
    Raised {
        id: String,
        /// The notification's line ([`notification_line`]).
        line: String,
        replaced: bool,
    },
    /// The host cleared `id` (`was_active`: it was in the set).
    Cleared { id: String, was_active: bool },
}

impl NotificationChange {
    /// The line printed for the engineer.
    pub fn line(&self) -> String {
        match self {
            NotificationChange::Raised { line, .. } => line.clone(),
            NotificationChange::Cleared { id, .. } => cleared_line(id),
        }
    }
}

/// How many are active and the worst of them, for the window title.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NotificationSummary {
    pub active: usize,
    pub highest: Option<Severity>,
}

impl NotificationSummary {
    /// `2 notifications (ERROR)`; `None` when nothing is active.
    pub fn label(&self) -> Option<String> {
        let highest = self.highest.filter(|_| self.active > 0)?;
        let plural = if self.active == 1 { "" } else { "s" };
        Some(format!(
            "{} notification{plural} ({})",
            self.active,
            severity_label(highest)
        ))
    }
}

/// The host's active notifications, oldest (least recently raised) first.
#[derive(Debug, Clone)]
pub struct ActiveNotifications {
    // A list searched by id: at most ACTIVE_MAX short ids, and the order is
    // what the final report and eviction need.
    active: VecDeque<Notification>,
    max: usize,
}

impl Default for ActiveNotifications {
    fn default() -> Self {
        Self::new(ACTIVE_MAX)
    }
}

impl ActiveNotifications {
    /// An empty set holding at most `max` (at least one).
    pub fn new(max: usize) -> Self {
        Self {
            active: VecDeque::new(),
            max: max.max(1),
        }
    }

    /// Applies a message received on the Notifications channel.
    pub fn apply(
        &mut self,
        message: SessionMessage,
    ) -> Result<NotificationChange, UnexpectedNotificationMessage> {
        match message {
            SessionMessage::Notification(notification) => Ok(self.raise(notification)),
            SessionMessage::NotificationCleared(cleared) => Ok(self.clear(&cleared.id)),
            other => Err(UnexpectedNotificationMessage(other.message_type())),
        }
    }

    /// Raises `notification`, replacing an active one with the same `id`; a
    /// replaced one counts as new for eviction.
    pub fn raise(&mut self, notification: Notification) -> NotificationChange {
        let replaced = self.remove(&notification.id).is_some();
        if self.active.len() >= self.max {
            if let Some(oldest) = self.active.pop_front() {
                warn!(
                    limit = self.max,
                    dropped = %printable(&oldest.id),
                    "the host reports more active notifications than the viewer keeps; dropped the oldest"
                );
            }
        }
        let change = NotificationChange::Raised {
            id: notification.id.to_string(),
            line: notification_line(&notification),
            replaced,
        };
        self.active.push_back(notification);
        change
    }

    /// Clears `id`; clearing one that is not active changes nothing.
    pub fn clear(&mut self, id: &str) -> NotificationChange {
        NotificationChange::Cleared {
            id: id.to_owned(),
            was_active: self.remove(id).is_some(),
        }
    }

    fn remove(&mut self, id: &str) -> Option<Notification> {
        let at = self.active.iter().position(|n| n.id.as_str() == id)?;
        self.active.remove(at)
    }

    pub fn get(&self, id: &str) -> Option<&Notification> {
        self.active.iter().find(|n| n.id.as_str() == id)
    }

    pub fn len(&self) -> usize {
        self.active.len()
    }

    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// Oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Notification> {
        self.active.iter()
    }

    pub fn summary(&self) -> NotificationSummary {
        NotificationSummary {
            active: self.active.len(),
            highest: self
                .active
                .iter()
                .map(|n| n.severity)
                .max_by_key(|&s| severity_rank(s)),
        }
    }

    /// `notifications: N active`, for the end of a headless run.
    pub fn count_line(&self) -> String {
        format!("notifications: {} active", self.active.len())
    }

    /// One `active notification ...` line per active notification, oldest first.
    pub fn active_lines(&self) -> Vec<String> {
        self.active
            .iter()
            .map(|n| format!("active {}", notification_line(n)))
            .collect()
    }
}

/// `notification [ERROR] Pump pressure low — 12 bar (instrument_software,
/// failure, id pump-pressure)`: one line whatever the host sent.
pub fn notification_line(notification: &Notification) -> String {
    let title = one_line(&notification.title, TITLE_MAX);
    let detail = one_line(&notification.detail, DETAIL_SHOWN_MAX_CHARS);
    let text = match (title.is_empty(), detail.is_empty()) {
        (false, false) => format!("{title} — {detail}"),
        (false, true) => title,
        (true, false) => detail,
        (true, true) => "(no title)".to_owned(),
    };
    format!(
        "notification [{}] {text} ({}, {}, id {})",
        severity_label(notification.severity),
        source_label(notification.source),
        kind_label(notification.kind),
        one_line(&notification.id, TITLE_MAX)
    )
}

/// `notification cleared: pump-pressure`.
pub fn cleared_line(id: &str) -> String {
    format!("notification cleared: {}", one_line(id, TITLE_MAX))
}

/// Text from the host as part of one line: line breaks and tabs become
/// spaces, it is cut at `max_chars` (marked with `…`), and control and
/// bidirectional characters are escaped so they cannot disguise the line.
fn one_line(text: &str, max_chars: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' | '\u{0085}' | '\u{2028}' | '\u{2029}' => ' ',
            c => c,
        })
        .collect();
    let flat = flat.trim();
    let mut cut: String = flat.chars().take(max_chars).collect();
    if cut.len() < flat.len() {
        cut.push('…');
    }
    printable(&cut)
}

pub fn severity_label(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "INFO",
        Severity::Warning => "WARNING",
        Severity::Error => "ERROR",
        Severity::Critical => "CRITICAL",
    }
}

fn severity_rank(severity: Severity) -> u8 {
    match severity {
        Severity::Info => 1,
        Severity::Warning => 2,
        Severity::Error => 3,
        Severity::Critical => 4,
    }
}

fn source_label(source: NotificationSource) -> &'static str {
    match source {
        NotificationSource::InstrumentSoftware => "instrument_software",
        NotificationSource::Instrument => "instrument",
        NotificationSource::HostOs => "host_os",
        NotificationSource::Assent => "assent",
    }
}

fn kind_label(kind: NotificationKind) -> &'static str {
    match kind {
        NotificationKind::ConfigurationProblem => "configuration_problem",
        NotificationKind::PerformanceIssue => "performance_issue",
        NotificationKind::Failure => "failure",
        NotificationKind::Recovered => "recovered",
    }
}

/// What the channel delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedEvent {
    /// A message changed the active set.
    Changed(NotificationChange),
    /// The host finished the channel (a host that does not serve
    /// notifications does so at once); the channel is closed.
    Ended,
    /// The channel broke or carried something malformed or unexpected; it
    /// is closed, the session goes on.
    Failed(String),
}

/// The viewer's end of the Notifications channel. It only receives; the
/// send half is held open (the host reads its end as "viewer gone") and
/// finished on [`close`](Self::close).
pub struct NotificationChannel {
    recv: Option<SealedRecv>,
    send: Option<FramedSend>,
}

impl NotificationChannel {
    pub fn new(send: FramedSend, recv: SealedRecv) -> Self {
        Self {
            recv: Some(recv),
            send: Some(send),
        }
    }

    /// No channel (it could not be opened): [`next`](Self::next) never returns.
    pub fn absent() -> Self {
        Self {
            recv: None,
            send: None,
        }
    }

    pub fn is_open(&self) -> bool {
        self.recv.is_some()
    }

    /// The next change to `active`. Once the channel is closed this never
    /// returns, so a session can always wait on it. Cancel-safe.
    pub async fn next(&mut self, active: &mut ActiveNotifications) -> FeedEvent {
        let Some(recv) = self.recv.as_mut() else {
            return std::future::pending().await;
        };
        let event = match recv.recv().await {
            Ok(Some((message, _))) => match active.apply(message) {
                Ok(change) => return FeedEvent::Changed(change),
                Err(unexpected) => FeedEvent::Failed(unexpected.to_string()),
            },
            Ok(None) => FeedEvent::Ended,
            Err(e) => FeedEvent::Failed(failure(&e)),
        };
        self.close();
        event
    }

    /// Stops receiving and finishes the send half; idempotent.
    pub fn close(&mut self) {
        self.recv = None;
        if let Some(mut send) = self.send.take() {
            let _ = send.finish();
        }
    }
}

fn failure(error: &ChannelError) -> String {
    format!("the notifications channel failed: {error}")
}

#[cfg(test)]
mod tests;
