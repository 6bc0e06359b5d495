use assent_proto::messages::consent::{Capability, CapabilityRequest};
use assent_proto::messages::notification::NotificationCleared;
use assent_proto::wire::Text;

use super::*;

fn text<const MAX: usize>(s: &str) -> Text<MAX> {
    Text::new(s).unwrap()
}

fn notification(id: &str, severity: Severity, title: &str, detail: &str) -> Notification {
    Notification {
        seq: 1,
        id: text(id),
        source: NotificationSource::InstrumentSoftware,
        severity,
        kind: NotificationKind::Failure,
        title: text(title),
        detail: text(detail),
        raised_unix_ms: 1_800_000_000_000,
    }
}

fn cleared(id: &str) -> SessionMessage {
    NotificationCleared {
        seq: 2,
        id: text(id),
        cleared_unix_ms: 1_800_000_000_001,
    }
    .into()
}

fn ids(active: &ActiveNotifications) -> Vec<&str> {
    active.iter().map(|n| n.id.as_str()).collect()
}

#[test]
fn a_notification_renders_as_the_documented_line() {
    let n = notification(
        "pump-pressure",
        Severity::Error,
        "Pump pressure low",
        "12 bar",
    );
    assert_eq!(
        notification_line(&n),
        "notification [ERROR] Pump pressure low — 12 bar (instrument_software, failure, id pump-pressure)"
    );
    assert_eq!(
        cleared_line("pump-pressure"),
        "notification cleared: pump-pressure"
    );
    let no_detail = notification("disk", Severity::Warning, "Disk almost full", "");
    assert_eq!(
        notification_line(&no_detail),
        "notification [WARNING] Disk almost full (instrument_software, failure, id disk)"
    );
}

#[test]
fn a_notification_with_the_same_id_replaces_the_active_one() {
    let mut active = ActiveNotifications::default();
    let first = active
        .apply(notification("pump", Severity::Warning, "Pressure dropping", "").into())
        .unwrap();
    assert!(matches!(
        first,
        NotificationChange::Raised {
            replaced: false,
            ..
        }
    ));
    active
        .apply(notification("disk", Severity::Info, "Disk", "").into())
        .unwrap();
    let second = active
        .apply(notification("pump", Severity::Error, "Pump pressure low", "12 bar").into())
        .unwrap();
    assert!(matches!(
        second,
        NotificationChange::Raised { replaced: true, .. }
    ));
    assert_eq!(active.len(), 2);
    assert_eq!(
        active.get("pump").unwrap().title.as_str(),
        "Pump pressure low"
    );
    assert_eq!(ids(&active), ["disk", "pump"], "an update counts as newest");
    assert!(second
        .line()
        .starts_with("notification [ERROR] Pump pressure low"));
}

#[test]
fn a_clear_removes_only_that_id_and_an_unknown_clear_changes_nothing() {
    let mut active = ActiveNotifications::default();
    for id in ["a", "b"] {
        active
            .apply(notification(id, Severity::Info, "t", "").into())
            .unwrap();
    }
    let change = active.apply(cleared("a")).unwrap();
    assert_eq!(
        change,
        NotificationChange::Cleared {
            id: "a".into(),
            was_active: true
        }
    );
    assert_eq!(change.line(), "notification cleared: a");
    assert_eq!(ids(&active), ["b"]);
    let unknown = active.apply(cleared("zzz")).unwrap();
    assert_eq!(
        unknown,
        NotificationChange::Cleared {
            id: "zzz".into(),
            was_active: false
        }
    );
    assert_eq!(ids(&active), ["b"]);
}

#[test]
fn past_the_bound_the_oldest_notification_is_dropped() {
    let mut active = ActiveNotifications::new(3);
    for id in ["a", "b", "c"] {
        active
            .apply(notification(id, Severity::Info, "t", "").into())
            .unwrap();
    }
    // Updating "a" makes it the newest, so "b" is the oldest now.
    active
        .apply(notification("a", Severity::Info, "t2", "").into())
        .unwrap();
    assert_eq!(active.len(), 3, "an update never evicts");
    active
        .apply(notification("d", Severity::Info, "t", "").into())
        .unwrap();
    assert_eq!(ids(&active), ["c", "a", "d"]);
    let mut big = ActiveNotifications::default();
    for i in 0..ACTIVE_MAX + 5 {
        big.raise(notification(&format!("n{i}"), Severity::Info, "t", ""));
    }
    assert_eq!(big.len(), ACTIVE_MAX);
    assert_eq!(big.iter().next().unwrap().id.as_str(), "n5");
}

#[test]
fn hostile_text_cannot_break_the_line_or_reorder_it_and_is_bounded() {
    let n = notification(
        "id\u{202E}gpj",
        Severity::Critical,
        "line one\nnotification cleared: pump\tx",
        &format!("{}\u{2028}tail", "d".repeat(4000)),
    );
    let line = notification_line(&n);
    assert!(
        !line.contains(['\n', '\t', '\u{2028}', '\u{202E}']),
        "{line}"
    );
    assert!(line.contains(r"\u{202e}"), "bidi control escaped: {line}");
    assert!(
        line.contains("line one notification cleared: pump x"),
        "breaks become spaces: {line}"
    );
    assert!(line.contains("…"), "a long detail is cut: {line}");
    assert!(!line.contains("tail"), "{line}");
    assert!(
        line.chars().count() < 200 + DETAIL_SHOWN_MAX_CHARS,
        "{line}"
    );
    assert!(line.starts_with("notification [CRITICAL] "), "{line}");
    assert!(!cleared_line("a\nb").contains('\n'));
}

#[test]
fn a_message_that_is_not_a_notification_is_refused() {
    let mut active = ActiveNotifications::default();
    let message: SessionMessage = CapabilityRequest {
        capability: Capability::ScreenView,
    }
    .into();
    let e = active.apply(message).unwrap_err();
    assert_eq!(
        e,
        UnexpectedNotificationMessage(MessageType::CapabilityRequest)
    );
    assert!(e.to_string().contains("notifications channel"), "{e}");
    assert!(active.is_empty());
}

#[test]
fn the_summary_counts_the_active_ones_and_names_the_worst() {
    let mut active = ActiveNotifications::default();
    assert_eq!(active.summary().label(), None, "nothing shown when none");
    active.raise(notification("a", Severity::Warning, "t", ""));
    assert_eq!(
        active.summary().label().as_deref(),
        Some("1 notification (WARNING)")
    );
    active.raise(notification("b", Severity::Error, "t", ""));
    active.raise(notification("c", Severity::Info, "t", ""));
    assert_eq!(
        active.summary(),
        NotificationSummary {
            active: 3,
            highest: Some(Severity::Error)
        }
    );
    assert_eq!(
        active.summary().label().as_deref(),
        Some("3 notifications (ERROR)")
    );
    active.clear("b");
    assert_eq!(active.summary().highest, Some(Severity::Warning));
}

#[test]
fn the_final_report_is_a_count_then_one_active_line_each() {
    let mut active = ActiveNotifications::default();
    active.raise(notification("a", Severity::Info, "Calibrated", ""));
    active.raise(notification("b", Severity::Error, "Pump", "low"));
    assert_eq!(active.count_line(), "notifications: 2 active");
    assert_eq!(
        active.active_lines(),
        [
            "active notification [INFO] Calibrated (instrument_software, failure, id a)",
            "active notification [ERROR] Pump — low (instrument_software, failure, id b)",
        ]
    );
}
