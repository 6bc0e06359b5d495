//! Host notifications (R15) over real QUIC with a real SQLite file: raises
//! and clears from a logged-in host are stored before they are acknowledged,
//! listed and followed by `assent-relay notifications list|watch`, stored
//! once when re-sent after a reconnect, sealed at rest, and bounded per host.

mod support;

use std::io::{BufRead, BufReader};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assent_proto::messages::notification::{
    Notification, NotificationCleared, NotificationKind, NotificationSource, Severity,
};
use assent_proto::messages::signalling::{RelayErrorCode, SignallingMessage};
use assent_proto::wire::Text;
use assent_relay::admin::{run_notifications, AdminContext, NotificationsCommand, StopFlag};
use assent_relay::server::ServerSettings;
use assent_relay::store::{NotificationFilter, NotificationLimits, SqliteStore};
use support::*;

const T0: u64 = 1_795_000_000_000;
const PUMP: &str = "Pump pressure low";

fn raise(seq: u64, id: &str, severity: Severity, title: &str, detail: &str) -> Notification {
    Notification {
        seq,
        id: Text::new(id).unwrap(),
        source: NotificationSource::InstrumentSoftware,
        severity,
        kind: NotificationKind::Failure,
        title: Text::new(title).unwrap(),
        detail: Text::new(detail).unwrap(),
        raised_unix_ms: T0 + seq,
    }
}

fn clear(seq: u64, id: &str) -> NotificationCleared {
    NotificationCleared {
        seq,
        id: Text::new(id).unwrap(),
        cleared_unix_ms: T0 + seq,
    }
}

async fn acked<M: assent_proto::wire::Message>(host: &mut Client, report: &M) {
    host.send(report).await;
    match host.recv().await {
        SignallingMessage::Ack(_) => {}
        other => panic!("report not acknowledged: {other:?}"),
    }
}

/// Runs `notifications ARGS` against the relay's store; what it printed.
fn notifications(relay: &TestRelay, args: &[&str]) -> String {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: NotificationsCommand,
    }
    let cli = <Cli as clap::Parser>::try_parse_from(
        std::iter::once("notifications").chain(args.iter().copied()),
    )
    .unwrap();
    let mut out = Vec::new();
    run_notifications(
        &cli.command,
        &mut AdminContext {
            store: relay.store.as_ref(),
            data_key: &relay.data_key,
            operator: None,
            now_unix: T0 / 1000,
            out: &mut out,
        },
        &StopFlag::new(false),
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn raised_notifications_are_listed_until_cleared_and_a_raise_replaces_its_id() {
    bounded(async {
        let relay = TestRelay::start().await;
        let (mut host, host_id) = enrolled_host(&relay, &key("host"), "DxFLEX").await;
        acked(
            &mut host,
            &raise(1, "pump-pressure", Severity::Warning, PUMP, "14 bar"),
        )
        .await;
        acked(
            &mut host,
            &raise(
                2,
                "disk-space-low",
                Severity::Info,
                "Disk space low",
                "9% free",
            ),
        )
        .await;
        acked(
            &mut host,
            &raise(3, "pump-pressure", Severity::Error, PUMP, "12 bar"),
        )
        .await;
        acked(
            &mut host,
            &raise(4, "door-open", Severity::Critical, "Door \"B\" open", ""),
        )
        .await;
        acked(&mut host, &clear(5, "disk-space-low")).await;
        // A clear for something not active changes nothing but is acknowledged.
        acked(&mut host, &clear(6, "never-raised")).await;

        let listed = notifications(&relay, &["list"]);
        let lines: Vec<&str> = listed.lines().collect();
        assert_eq!(lines.len(), 2, "{listed}");
        assert_eq!(
            lines[0],
            format!(
                "active host={host_id} id=pump-pressure severity=error {}",
                "source=instrument_software kind=failure title=\"Pump pressure low\" \
                 detail=\"12 bar\" raised_at=2026-11-18T11:06:40.003Z"
            )
        );
        let door = format!("active host={host_id} id=door-open severity=critical");
        assert!(lines[1].starts_with(&door), "{}", lines[1]);
        assert!(
            lines[1].contains(r#"title="Door \"B\" open" detail="""#),
            "{}",
            lines[1]
        );

        let critical = notifications(&relay, &["list", "--severity", "critical"]);
        assert_eq!(critical.lines().count(), 1, "{critical}");
        assert!(critical.contains("id=door-open"));
        let other_host = notifications(&relay, &["list", "--host", "H-NOBODY22"]);
        assert_eq!(other_host, "");
        let json = notifications(&relay, &["list", "--json", "--severity", "error"]);
        let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
        assert_eq!(first["host"], host_id.as_str());
        assert_eq!(first["id"], "pump-pressure");
        assert_eq!(first["detail"], "12 bar");

        let metrics = relay.metrics.snapshot();
        // info, warning, error, critical.
        assert_eq!(metrics.notifications_total, [1, 1, 1, 1]);
        assert_eq!(metrics.notifications_cleared_total, 1);
        let rendered = relay.metrics.render();
        let critical_count = "assent_relay_notifications_total{severity=\"critical\"} 1";
        assert!(rendered.contains(critical_count), "{rendered}");
        assert!(
            rendered.contains("assent_relay_notifications_cleared_total 1"),
            "{rendered}"
        );
        relay.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_report_sent_again_after_a_reconnect_is_acknowledged_and_stored_once() {
    bounded(async {
        let relay = TestRelay::start().await;
        let host_key = key("host");
        let (mut host, host_id) = enrolled_host(&relay, &host_key, "DxFLEX").await;
        let first = raise(
            7,
            "pump-pressure",
            Severity::Error,
            "Pump pressure low",
            "12 bar",
        );
        acked(&mut host, &first).await;
        acked(&mut host, &clear(8, "pump-pressure")).await;
        drop(host);

        // The host did not see the acks, reconnects and sends both again.
        let mut host = logged_in_host(&relay, &host_key, &host_id).await;
        acked(&mut host, &first).await;
        acked(&mut host, &clear(8, "pump-pressure")).await;
        // An older seq with new content is a duplicate too.
        acked(&mut host, &raise(6, "other", Severity::Critical, "Old", "")).await;

        let events = relay
            .store
            .notification_events(0, &NotificationFilter::default(), 100)
            .unwrap();
        assert_eq!(events.len(), 2, "{events:?}");
        let active = relay
            .store
            .active_notifications(&NotificationFilter::default(), 100)
            .unwrap();
        assert!(active.notifications.is_empty(), "{active:?}");
        assert_eq!(relay.metrics.snapshot().notifications_total, [0, 0, 1, 0]);
        assert_eq!(relay.metrics.snapshot().notifications_cleared_total, 1);

        // The next seq is taken.
        acked(
            &mut host,
            &raise(
                9,
                "pump-pressure",
                Severity::Error,
                "Pump pressure low",
                "11 bar",
            ),
        )
        .await;
        let active = relay
            .store
            .active_notifications(&NotificationFilter::default(), 100)
            .unwrap();
        assert_eq!(active.notifications.len(), 1);
        relay.stop().await;
    })
    .await;
}

/// A `Write` the watch thread and the test share.
#[derive(Clone, Default)]
struct SharedOutput(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedOutput {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    async fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.text();
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "watch never printed {needle:?}; it printed:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[tokio::test]
async fn watch_prints_the_active_ones_then_follows_raises_and_clears_from_another_connection() {
    bounded(async {
        let relay = TestRelay::start().await;
        let (mut host, host_id) = enrolled_host(&relay, &key("host"), "DxFLEX").await;
        acked(
            &mut host,
            &raise(
                1,
                "disk-space-low",
                Severity::Warning,
                "Disk space low",
                "9% free",
            ),
        )
        .await;

        // The watch opens the database file itself, as the CLI process does.
        let output = SharedOutput::default();
        let stop = Arc::new(StopFlag::new(false));
        let watcher = {
            let (output, stop) = (output.clone(), stop.clone());
            let db = relay.db_path.clone();
            let key_bytes = relay.data_key_bytes;
            std::thread::spawn(move || {
                let data_key = assent_relay::store::DataKey::from_bytes(key_bytes);
                let store = SqliteStore::open(&db, &data_key).unwrap();
                let cmd = NotificationsCommand::Watch {
                    filter: Default::default(),
                };
                let mut out = output;
                run_notifications(
                    &cmd,
                    &mut AdminContext {
                        store: &store,
                        data_key: &data_key,
                        operator: None,
                        now_unix: 0,
                        out: &mut out,
                    },
                    &stop,
                )
            })
        };
        output
            .wait_for(&format!(
                "active host={host_id} id=disk-space-low severity=warning"
            ))
            .await;

        acked(
            &mut host,
            &raise(2, "pump-pressure", Severity::Error, PUMP, "12 bar"),
        )
        .await;
        output
            .wait_for(&format!(
                "raised host={host_id} id=pump-pressure severity=error {}",
                "source=instrument_software kind=failure title=\"Pump pressure low\" \
                 detail=\"12 bar\""
            ))
            .await;
        acked(&mut host, &clear(3, "disk-space-low")).await;
        let text = output
            .wait_for(&format!(
                "cleared host={host_id} id=disk-space-low severity=warning"
            ))
            .await;
        let kinds: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(kinds, ["active", "raised", "cleared"], "{text}");

        stop.store(true, Ordering::Relaxed);
        let result = tokio::task::spawn_blocking(move || watcher.join().unwrap())
            .await
            .unwrap();
        result.expect("watch ends cleanly when stopped");
        relay.stop().await;
    })
    .await;
}

#[tokio::test]
async fn titles_and_details_are_sealed_in_the_database_file() {
    bounded(async {
        let relay = TestRelay::start().await;
        let (mut host, _) = enrolled_host(&relay, &key("host"), "DxFLEX").await;
        const TITLE: &str = "Sheath fluid Qx7731 nearly empty";
        const DETAIL: &str = "Reservoir Zq-4471 at 3 percent";
        const ID: &str = "sheath-zq4471";
        acked(&mut host, &raise(1, ID, Severity::Critical, TITLE, DETAIL)).await;
        acked(&mut host, &raise(2, "other", Severity::Info, "Other", "x")).await;
        acked(&mut host, &clear(3, "other")).await;
        // Positive control: the relay has it, in clear, through the store.
        let listed = notifications(&relay, &["list"]);
        assert!(
            listed.contains(TITLE) && listed.contains(DETAIL),
            "{listed}"
        );

        let mut on_disk = Vec::new();
        for suffix in ["", "-wal"] {
            let mut path = relay.db_path.clone().into_os_string();
            path.push(suffix);
            if let Ok(bytes) = std::fs::read(&path) {
                on_disk.extend_from_slice(&bytes);
            }
        }
        assert!(on_disk.len() > 4096);
        for secret in [TITLE, DETAIL, ID, "Sheath", "Qx7731"] {
            assert!(
                !on_disk
                    .windows(secret.len())
                    .any(|w| w == secret.as_bytes()),
                "{secret:?} is readable in the database file"
            );
        }
        relay.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_host_at_its_active_bound_is_refused_until_it_clears_and_its_history_is_pruned() {
    bounded(async {
        let limits = NotificationLimits {
            active_per_host: 2,
            history_per_host: 4,
        };
        let relay = TestRelay::start_with_limits(ServerSettings::default(), limits).await;
        let (mut host, host_id) = enrolled_host(&relay, &key("host"), "DxFLEX").await;
        acked(&mut host, &raise(1, "a", Severity::Info, "A", "")).await;
        acked(&mut host, &raise(2, "b", Severity::Info, "B", "")).await;
        // Replacing an active one is no new entry.
        acked(&mut host, &raise(3, "a", Severity::Warning, "A again", "")).await;
        host.send(&raise(4, "c", Severity::Info, "C", "")).await;
        match host.recv().await {
            SignallingMessage::RelayError(error) => {
                assert_eq!(error.code, RelayErrorCode::Unavailable);
                assert!(error.message.contains("clear some"), "{}", error.message);
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        acked(&mut host, &clear(5, "b")).await;
        acked(&mut host, &raise(6, "c", Severity::Info, "C", "")).await;
        for seq in 7..20 {
            acked(
                &mut host,
                &raise(seq, "c", Severity::Info, "C", &seq.to_string()),
            )
            .await;
        }
        let filter = NotificationFilter {
            host_id: Some(host_id.clone()),
            min_severity: None,
        };
        let events = relay.store.notification_events(0, &filter, 1000).unwrap();
        let numbers: Vec<u64> = events.iter().map(|e| e.event).collect();
        assert_eq!(numbers.len(), 4, "{numbers:?}");
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
        // The newest survive: the last one is seq 19.
        match &events[3].change {
            assent_relay::store::NotificationChange::Raised(n) => assert_eq!(n.seq, 19),
            other => panic!("{other:?}"),
        }
        let active = relay.store.active_notifications(&filter, 100).unwrap();
        assert_eq!(active.notifications.len(), 2);
        relay.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_oversized_notification_frame_is_refused_and_nothing_is_stored() {
    bounded(async {
        let relay = TestRelay::start().await;
        let (mut host, _) = enrolled_host(&relay, &key("host"), "DxFLEX").await;
        // A header announcing a notification larger than its 8 KiB bound.
        let mut header = assent_proto::wire::Header {
            message_type: assent_proto::wire::MessageType::Notification,
            len: 0,
        }
        .encode();
        header[5..9].copy_from_slice(&(64 * 1024 * 1024u32).to_be_bytes());
        host.send.send_raw(&header).await.unwrap();
        match host.recv().await {
            SignallingMessage::RelayError(e) => assert_eq!(e.code, RelayErrorCode::Malformed),
            other => panic!("oversized notification answered with {other:?}"),
        }
        let events = relay
            .store
            .notification_events(0, &NotificationFilter::default(), 10)
            .unwrap();
        assert!(events.is_empty());
        relay.stop().await;
    })
    .await;
}

/// Reads a child's stdout lines on a thread, so the test can wait with a deadline.
fn line_reader(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn next_line(lines: &std::sync::mpsc::Receiver<String>) -> String {
    lines
        .recv_timeout(Duration::from_secs(15))
        .expect("watch printed a line in time")
}

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "watch did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn_watch(data_dir: &std::path::Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_assent-relay"))
        .args(["notifications", "watch", "--data-dir"])
        .arg(data_dir)
        .env_remove("ASSENT_RELAY_DATA_KEY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap()
}

#[test]
fn the_watch_binary_follows_the_relay_binary_and_exits_0_on_sigterm_or_closed_output() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = RelayProcess::spawn(dir.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mut host, host_id) = runtime.block_on(enrolled_host_at(
        &relay.address,
        &key("host"),
        "DxFLEX",
        relay.issue_token("DxFLEX"),
    ));
    runtime.block_on(acked(
        &mut host,
        &raise(
            1,
            "pump-pressure",
            Severity::Error,
            "Pump pressure low",
            "12 bar",
        ),
    ));

    let mut watch = spawn_watch(dir.path());
    let lines = line_reader(watch.stdout.take().unwrap());
    assert_eq!(
        next_line(&lines),
        format!(
            "active host={host_id} id=pump-pressure severity=error {}",
            "source=instrument_software kind=failure title=\"Pump pressure low\" \
             detail=\"12 bar\" raised_at=2026-11-18T11:06:40.001Z"
        )
    );
    runtime.block_on(acked(
        &mut host,
        &raise(2, "door", Severity::Critical, "Door open", ""),
    ));
    assert!(
        next_line(&lines).starts_with(&format!("raised host={host_id} id=door severity=critical"))
    );
    runtime.block_on(acked(&mut host, &clear(3, "pump-pressure")));
    assert_eq!(
        next_line(&lines),
        format!(
            "cleared host={host_id} id=pump-pressure severity=error {}",
            "cleared_at=2026-11-18T11:06:40.003Z"
        )
    );
    let status = std::process::Command::new("kill")
        .args(["-TERM", &watch.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = wait_exit(&mut watch);
    assert!(exit.success(), "watch exited with {exit} on SIGTERM");

    // A reader that goes away ends the watch too, with success.
    let mut watch = spawn_watch(dir.path());
    let mut stdout = BufReader::new(watch.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("active host="), "{first}");
    drop(stdout);
    runtime.block_on(acked(
        &mut host,
        &raise(4, "door", Severity::Critical, "Door open", "again"),
    ));
    let exit = wait_exit(&mut watch);
    assert!(
        exit.success(),
        "watch exited with {exit} when its output closed"
    );

    let _ = relay.child.kill();
    let _ = relay.child.wait();
}
