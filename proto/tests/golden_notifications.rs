//! Golden bytes (issue 12) for the notification messages (R15), which the
//! host sends both to the relay and, sealed, to the viewer, written field
//! by field from `PROTOCOL.md` and the canonical field encoding. Neighbouring
//! fields of one type hold different values, so swapping them shows.

mod golden;

use assent_proto::messages::notification::{
    Notification, NotificationCleared, NotificationKind, NotificationSource, Severity,
};
use golden::{assert_codes, assert_golden, prefixed, text};

#[test]
fn notification_bytes_are_fixed() {
    let raised = Notification {
        seq: 42,
        id: text("disk-space-low"),
        source: NotificationSource::Assent,
        severity: Severity::Error,
        kind: NotificationKind::PerformanceIssue,
        title: text("Disk low"),
        detail: text("C: 3% free"),
        raised_unix_ms: 0x0000_018f_1234_5678,
    };
    assert_golden(
        &raised,
        &[
            "4153 01 0801 0000003f",                 // Notification, 63 bytes
            "000000000000002a",                      // seq 42
            &prefixed("0000000e", "disk-space-low"), // id
            "04",                                    // source: Assent
            "03",                                    // severity: error
            "02",                                    // kind: performance issue
            &prefixed("00000008", "Disk low"),       // title
            &prefixed("0000000a", "C: 3% free"),     // detail
            "0000018f12345678",                      // raised_unix_ms
        ],
    );
    let cleared = NotificationCleared {
        seq: 43,
        id: text("disk-space-low"),
        cleared_unix_ms: 0x0000_018f_1234_9999,
    };
    assert_golden(
        &cleared,
        &[
            "4153 01 0802 00000022", // NotificationCleared, 34 bytes
            "000000000000002b",      // seq 43
            &prefixed("0000000e", "disk-space-low"),
            "0000018f12349999", // cleared_unix_ms
        ],
    );
}

#[test]
fn notification_enum_codes_are_fixed() {
    use NotificationSource as S;
    assert_codes(&[
        (S::InstrumentSoftware, 1),
        (S::Instrument, 2),
        (S::HostOs, 3),
        (S::Assent, 4),
    ]);
    use Severity as V;
    assert_codes(&[
        (V::Info, 1),
        (V::Warning, 2),
        (V::Error, 3),
        (V::Critical, 4),
    ]);
    use NotificationKind as K;
    assert_codes(&[
        (K::ConfigurationProblem, 1),
        (K::PerformanceIssue, 2),
        (K::Failure, 3),
        (K::Recovered, 4),
    ]);
}
