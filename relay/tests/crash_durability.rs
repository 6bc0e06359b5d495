//! R12: an audit record the relay acknowledged survives `kill -9`. A host
//! streams audit reports at the real relay binary, which is killed mid-stream;
//! after restart every acknowledged record is there and the chain verifies.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use assent_proto::audit::{open_record, verify};
use assent_proto::messages::audit_event::{AuditEvent, AuditReport};
use assent_proto::messages::signalling::SignallingMessage;
use assent_proto::wire::Text;
use assent_relay::store::{DataKey, SqliteStore, StateStore};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_session_loses_no_acknowledged_audit_record() {
    let dir = tempfile::tempdir().unwrap();
    let process = RelayProcess::spawn(dir.path());
    let token = process.issue_token("Navios EX");
    let RelayProcess {
        child: mut relay,
        address: target,
        ..
    } = process;

    let acked = Arc::new(AtomicU64::new(0));
    let counter = acked.clone();
    let enrolled_id = Arc::new(std::sync::Mutex::new(String::new()));
    let reporter_id = enrolled_id.clone();
    let reporter = tokio::spawn(async move {
        let host_key = key("host");
        let (mut host, host_id) = enrolled_host_at(&target, &host_key, "Navios EX", token).await;
        *reporter_id.lock().unwrap() = host_id.clone();
        for i in 0.. {
            let report = AuditReport {
                occurred_unix_ms: i,
                event: AuditEvent::InputDropped {
                    host_id: Text::new(&host_id).unwrap(),
                    session_id: [1; 32],
                    count: i,
                },
            };
            if host.send.send(&report).await.is_err() {
                return;
            }
            match host.recv.recv().await {
                Ok(Some(frame))
                    if matches!(
                        SignallingMessage::decode(&frame),
                        Ok(SignallingMessage::Ack(_))
                    ) =>
                {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                _ => return,
            }
        }
    });
    // Let some reports through, then kill the relay without warning.
    tokio::time::timeout(Duration::from_secs(60), async {
        while acked.load(Ordering::SeqCst) < 25 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("reports were acknowledged");
    relay.kill().unwrap(); // SIGKILL
    relay.wait().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), reporter).await;
    let acknowledged = acked.load(Ordering::SeqCst);

    // A restarted relay knows the host is no longer connected.
    let mut restarted = RelayProcess::spawn(dir.path());
    restarted.child.kill().unwrap();
    restarted.child.wait().unwrap();

    // After the crash: every acknowledged report is on disk, in an intact chain.
    let key = DataKey::load(&dir.path().join("data.key")).unwrap();
    let store = SqliteStore::open(&dir.path().join("relay.db"), &key).unwrap();
    let records = store.audit_records(0, 100_000).unwrap();
    verify(
        &key.audit_key(),
        &records,
        Some(&store.audit_head().unwrap()),
    )
    .expect("chain intact after kill -9");
    let reported = records
        .iter()
        .filter(|r| {
            matches!(
                open_record(&key.audit_key(), r).unwrap().event,
                AuditEvent::InputDropped { .. }
            )
        })
        .count() as u64;
    let host_id = enrolled_id.lock().unwrap().clone();
    let latest = &store.presence_history(&host_id, 1).unwrap()[0];
    assert_eq!(latest.event, assent_relay::store::PresenceEvent::Offline);
    assert!(!store.host(&host_id).unwrap().unwrap().online);
    assert!(
        reported >= acknowledged,
        "{acknowledged} reports were acknowledged but only {reported} are on disk"
    );
}
