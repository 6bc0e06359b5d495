//! What the store keeps of host notifications (R15): per host the active
//! notifications (one per notification ID: a raise replaces the earlier one
//! with that ID, a clear removes it), and a numbered log of raises and clears
//! that `assent-relay notifications watch` follows.
//!
//! Each host numbers its reports (`seq`); the store remembers the last one
//! it accepted per host, so a report sent again after a reconnect is
//! recognised and stored once. Titles and details are sealed at rest (R13);
//! the severity stays in clear so listings can filter on it. Both the active
//! set and the log are bounded per host ([`NotificationLimits`]).

use assent_proto::messages::notification::{Notification, NotificationCleared, Severity};

/// How much one host may keep in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotificationLimits {
    /// Active notifications per host; a raise with a new ID beyond this is
    /// refused ([`super::StoreError::Full`]) until some clear.
    pub active_per_host: usize,
    /// Log events kept per host; older ones are pruned.
    pub history_per_host: usize,
}

impl Default for NotificationLimits {
    fn default() -> Self {
        Self {
            active_per_host: 1000,
            history_per_host: 10_000,
        }
    }
}

/// What the store did with one report from a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationIntake {
    /// Stored; it is event `event` of the log.
    Recorded { event: u64 },
    /// A clear for an ID that is not active: nothing to change (the seq is
    /// still taken, so the report is not expected again).
    NothingActive,
    /// Its `seq` is not above the last one accepted from this host: a
    /// report sent again after a reconnect. Acknowledge it; it is already stored.
    Duplicate { last_seq: u64 },
}

/// A notification that is active now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveNotification {
    pub host_id: String,
    pub notification: Notification,
    /// When the relay stored it (the relay's clock).
    pub received_unix_ms: u64,
}

/// One entry of the notification log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationEvent {
    /// Increases with every event; never reused, also after pruning.
    pub event: u64,
    pub host_id: String,
    pub recorded_unix_ms: u64,
    pub change: NotificationChange,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationChange {
    Raised(Notification),
    /// `severity` is the one the cleared notification had.
    Cleared {
        cleared: NotificationCleared,
        severity: Severity,
    },
}

impl NotificationChange {
    pub fn severity(&self) -> Severity {
        match self {
            Self::Raised(n) => n.severity,
            Self::Cleared { severity, .. } => *severity,
        }
    }
}

/// Which notifications a listing or the log returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationFilter {
    pub host_id: Option<String>,
    /// This severity and above.
    pub min_severity: Option<Severity>,
}

/// The active notifications, and the last log event they reflect: follow
/// the log from there and nothing is missed or shown twice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActiveSnapshot {
    pub notifications: Vec<ActiveNotification>,
    pub last_event: u64,
    /// More matched than the limit asked for.
    pub truncated: bool,
}

/// Severity as the store keeps it in clear (1 = info … 4 = critical).
pub(crate) fn severity_rank(severity: Severity) -> u8 {
    severity as u8
}
