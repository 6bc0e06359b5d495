//! Notification messages (R15): the host reports instrument and software
//! status in real time. They travel twice: host to relay on the signalling
//! connection (the relay stores them per host and acknowledges each by
//! `seq`), and host to viewer inside the session's records, so the engineer
//! sees the connected host's active notifications.
//!
//! One problem is one notification: a repeat with the same `id` replaces the
//! earlier one until a [`NotificationCleared`] for that `id` arrives. `seq`
//! numbers every report the host sends, so a relay that gets a report again
//! after a reconnect recognises it and stores it once.

use crate::wire::Text;

/// Longest notification ID, in bytes.
pub const NOTIFICATION_ID_MAX: usize = 64;
/// Longest title, in bytes.
pub const TITLE_MAX: usize = 128;
/// Longest detail text, in bytes.
pub const DETAIL_MAX: usize = 4096;

crate::wire_enum! {
    /// Who raised it.
    pub enum NotificationSource {
        /// The instrument's control software (through the local intake).
        InstrumentSoftware = 1,
        /// The instrument itself.
        Instrument = 2,
        /// The controller PC's operating system.
        HostOs = 3,
        /// Assent's own checks (disk space, clock skew, relay reachability...).
        Assent = 4,
    }
}

crate::wire_enum! {
    pub enum Severity {
        Info = 1,
        Warning = 2,
        Error = 3,
        Critical = 4,
    }
}

crate::wire_enum! {
    /// What kind of status it reports.
    pub enum NotificationKind {
        ConfigurationProblem = 1,
        PerformanceIssue = 2,
        Failure = 3,
        /// A problem went away by itself (informational; clearing is explicit).
        Recovered = 4,
    }
}

crate::wire_struct! {
    /// Host to relay, and host to viewer: a notification raised or updated.
    pub struct Notification : Notification {
        /// Increases by one with every report (raise or clear) the host sends.
        pub seq: u64,
        /// Stable name of the problem from its source (e.g. `disk-space-low`).
        pub id: Text<NOTIFICATION_ID_MAX>,
        pub source: NotificationSource,
        pub severity: Severity,
        pub kind: NotificationKind,
        pub title: Text<TITLE_MAX>,
        pub detail: Text<DETAIL_MAX>,
        /// When the source raised it, unix milliseconds (the host's clock).
        pub raised_unix_ms: u64,
    }
}

crate::wire_struct! {
    /// Host to relay, and host to viewer: the notification with this `id`
    /// is no longer active.
    pub struct NotificationCleared : NotificationCleared {
        pub seq: u64,
        pub id: Text<NOTIFICATION_ID_MAX>,
        pub cleared_unix_ms: u64,
    }
}

#[cfg(test)]
pub(crate) mod strategies {
    use proptest::prelude::*;

    use super::*;
    use crate::messages::session::test_support::{largest, largest_is, text};
    use crate::messages::session::SessionMessage;

    largest_is! {
        NotificationSource => NotificationSource::Assent,
        Severity => Severity::Critical,
        NotificationKind => NotificationKind::Recovered,
    }

    pub(crate) fn notification() -> impl Strategy<Value = Notification> {
        let source = proptest::sample::select(vec![
            NotificationSource::InstrumentSoftware,
            NotificationSource::Instrument,
            NotificationSource::HostOs,
            NotificationSource::Assent,
        ]);
        let severity = proptest::sample::select(vec![
            Severity::Info,
            Severity::Warning,
            Severity::Error,
            Severity::Critical,
        ]);
        let kind = proptest::sample::select(vec![
            NotificationKind::ConfigurationProblem,
            NotificationKind::PerformanceIssue,
            NotificationKind::Failure,
            NotificationKind::Recovered,
        ]);
        (
            any::<u64>(),
            text(),
            source,
            severity,
            kind,
            text(),
            text(),
            any::<u64>(),
        )
            .prop_map(
                |(seq, id, source, severity, kind, title, detail, raised_unix_ms)| Notification {
                    seq,
                    id,
                    source,
                    severity,
                    kind,
                    title,
                    detail,
                    raised_unix_ms,
                },
            )
    }

    pub(crate) fn notification_cleared() -> impl Strategy<Value = NotificationCleared> {
        (any::<u64>(), text(), any::<u64>()).prop_map(|(seq, id, cleared_unix_ms)| {
            NotificationCleared {
                seq,
                id,
                cleared_unix_ms,
            }
        })
    }

    pub(crate) fn largest_notification() -> Notification {
        Notification {
            seq: largest(),
            id: largest(),
            source: largest(),
            severity: largest(),
            kind: largest(),
            title: largest(),
            detail: largest(),
            raised_unix_ms: largest(),
        }
    }

    pub(crate) fn largest_notification_cleared() -> NotificationCleared {
        NotificationCleared {
            seq: largest(),
            id: largest(),
            cleared_unix_ms: largest(),
        }
    }

    pub(crate) fn largest_instances() -> Vec<SessionMessage> {
        vec![
            largest_notification().into(),
            largest_notification_cleared().into(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{DecodeError, Field};

    #[test]
    fn unknown_severity_is_refused() {
        let mut payload = vec![0; 8];
        payload.extend_from_slice(&0u32.to_be_bytes());
        payload.extend_from_slice(&[1, 5, 1]);
        assert_eq!(
            Notification::from_bytes(&payload).map(|n| n.seq),
            Err(DecodeError::InvalidValue {
                what: "Severity",
                value: 5
            })
        );
    }

    #[test]
    fn detail_longer_than_its_bound_is_refused() {
        let mut payload = vec![0; 8];
        payload.extend_from_slice(&0u32.to_be_bytes());
        payload.extend_from_slice(&[1, 1, 1]);
        payload.extend_from_slice(&0u32.to_be_bytes());
        payload.extend_from_slice(&(DETAIL_MAX as u32 + 1).to_be_bytes());
        assert_eq!(
            Notification::from_bytes(&payload),
            Err(DecodeError::FieldTooLong {
                len: DETAIL_MAX + 1,
                max: DETAIL_MAX
            })
        );
    }
}
