//! R12/R21: what a logged-in host may write into the relay's audit log, over
//! real QUIC. A host reports only events that name it, only of the kinds a
//! host witnesses (consent, dropped input, file transfers, session start and
//! end, upgrades), and the record carries the relay's clock, not the host's.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use assent_proto::audit::{open_record, verify, AuditRecord};
use assent_proto::messages::audit_event::{AuditEvent, AuditReport};
use assent_proto::messages::signalling::{RelayErrorCode, SignallingMessage};
use assent_proto::wire::Text;
use support::*;

fn audit_records(relay: &TestRelay) -> Vec<AuditRecord> {
    let records = relay.store.audit_records(0, 10_000).unwrap();
    let key = relay.data_key.audit_key();
    verify(&key, &records, Some(&relay.store.audit_head().unwrap())).expect("audit chain verifies");
    records
        .iter()
        .map(|r| open_record(&key, r).unwrap())
        .collect()
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn text<const N: usize>(s: &str) -> Text<N> {
    Text::new(s).unwrap()
}

#[tokio::test]
async fn host_cannot_write_relay_wide_or_relay_only_events_into_the_audit_log() {
    bounded(async {
        let relay = TestRelay::start().await;
        let host_key = key("host");
        let (mut host, host_id) = enrolled_host(&relay, &host_key, "DxFLEX").await;
        let before = audit_records(&relay).len();

        // Events only the relay witnesses, some naming this very host: a host
        // that could write them could fake alarms, grants or enrolments.
        let forged = [
            AuditEvent::IntrusionDetected {
                source: text("203.0.113.7"),
                kind: text("password_guessing"),
                detail: text("forged by a host"),
            },
            AuditEvent::ConnectionRequest {
                host_id: text(&host_id),
                viewer: [7; 32],
                source: text("203.0.113.7"),
                granted: true,
                reason: text("forged by a host"),
            },
            AuditEvent::AuthenticationFailed {
                host_id: text(&host_id),
                viewer: [7; 32],
                source: text("203.0.113.7"),
                failures: 1,
            },
            AuditEvent::LockedOut {
                host_id: text(&host_id),
                viewer: [7; 32],
                source: text("203.0.113.7"),
                failures: 9,
                wait_secs: 0,
                burned: true,
            },
            AuditEvent::HostEnrolled {
                host_id: text(&host_id),
                host: [7; 32],
                model: text("DxFLEX"),
            },
            AuditEvent::FileTransferCapabilityApproved {
                host_id: text(&host_id),
                model: text("DxFLEX"),
            },
        ];
        for event in forged {
            let kind = event.kind();
            host.send(&AuditReport {
                occurred_unix_ms: now_unix_ms(),
                event,
            })
            .await;
            match host.recv().await {
                SignallingMessage::RelayError(e) => {
                    assert_eq!(e.code, RelayErrorCode::Unauthorized, "{kind}: {e:?}")
                }
                other => panic!("{kind} from a host was not refused: {other:?}"),
            }
        }
        assert_eq!(
            audit_records(&relay).len(),
            before,
            "a refused report reached the audit log"
        );
        assert!(!audit_records(&relay)
            .iter()
            .any(|r| matches!(r.event, AuditEvent::IntrusionDetected { .. })));

        // The connection is still good for what a host may report.
        host.send(&AuditReport {
            occurred_unix_ms: now_unix_ms(),
            event: AuditEvent::InputDropped {
                host_id: text(&host_id),
                session_id: [1; 32],
                count: 3,
            },
        })
        .await;
        assert!(matches!(host.recv().await, SignallingMessage::Ack(_)));
        relay.stop().await;
    })
    .await;
}

#[tokio::test]
async fn host_audit_report_with_a_forged_old_time_is_stored_at_the_relay_time() {
    bounded(async {
        let relay = TestRelay::start().await;
        let host_key = key("host");
        let (mut host, host_id) = enrolled_host(&relay, &host_key, "DxFLEX").await;

        let sent_at = now_unix_ms();
        host.send(&AuditReport {
            // 1 January 2001: a host backdating its own record.
            occurred_unix_ms: 978_307_200_000,
            event: AuditEvent::InputDropped {
                host_id: text(&host_id),
                session_id: [1; 32],
                count: 5,
            },
        })
        .await;
        assert!(matches!(host.recv().await, SignallingMessage::Ack(_)));
        let acked_at = now_unix_ms();

        let record = audit_records(&relay)
            .into_iter()
            .find(|r| matches!(r.event, AuditEvent::InputDropped { count: 5, .. }))
            .expect("the report was recorded");
        assert!(
            (sent_at..=acked_at).contains(&record.time_unix_ms),
            "record time {} is not the relay's clock ({sent_at}..={acked_at})",
            record.time_unix_ms
        );
        relay.stop().await;
    })
    .await;
}
