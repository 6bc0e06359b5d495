//! `audit` commands against a real store (R12): filters, chain verification
//! naming the first broken record, and exports.

use assent_proto::audit::{BreakKind, ChainBreak};
use assent_proto::messages::audit_event::{AuditEvent, ConsentOutcomeCode};
use assent_proto::messages::consent::Capability;
use assent_proto::messages::file_transfer::TransferDirection;

use crate::admin::test_support::*;
use crate::admin::{AdminError, AuditCommand, AuditFilter, AuditOutcome, ListArgs};
use crate::store::StateStore;

fn viewer_fp() -> [u8; 32] {
    viewer_key().fingerprint().0
}

fn other_fp() -> [u8; 32] {
    second_viewer_key().fingerprint().0
}

const HOUR_MS: u64 = 3_600_000;
/// 2026-11-18T00:00:00Z in milliseconds: the audit fixture's day.
const DAY0_MS: u64 = 1_794_960_000_000;

/// One of each interesting kind, an hour apart from 00:00 on DAY0:
/// 0 request (A, viewer), 1 auth failure (B, other), 2 session S (A, viewer),
/// 3 consent in S, 4 file in S, 5 consent in T (B, other's session),
/// 6 session S ends, 7 intrusion (no host), 8 enrolment of B (next day).
fn audit_fixture() -> Fixture {
    let fx = Fixture::new();
    let s = [0x5a; 32];
    let t = [0x7b; 32];
    let events = [
        AuditEvent::ConnectionRequest {
            host_id: text(HOST_A),
            viewer: viewer_fp(),
            source: text("198.51.100.7"),
            granted: true,
            reason: text("listed"),
        },
        AuditEvent::AuthenticationFailed {
            host_id: text(HOST_B),
            viewer: other_fp(),
            source: text("203.0.113.9"),
            failures: 2,
        },
        AuditEvent::SessionStarted {
            host_id: text(HOST_A),
            session_id: s,
            viewer: viewer_fp(),
        },
        AuditEvent::ConsentDecision {
            host_id: text(HOST_A),
            session_id: s,
            capability: Capability::ScreenView,
            outcome: ConsentOutcomeCode::Granted,
        },
        AuditEvent::FileTransfer {
            host_id: text(HOST_A),
            session_id: s,
            name: text("run log.csv"),
            size: 4096,
            sha256: [0xcd; 32],
            direction: TransferDirection::FromHost,
        },
        AuditEvent::ConsentDecision {
            host_id: text(HOST_B),
            session_id: t,
            capability: Capability::RemoteControl,
            outcome: ConsentOutcomeCode::Refused,
        },
        AuditEvent::SessionEnded {
            host_id: text(HOST_A),
            session_id: s,
            reason: text("viewer closed"),
        },
        AuditEvent::IntrusionDetected {
            source: text("192.0.2.1"),
            kind: text("password_guessing"),
            detail: text("40 failures across 12 hosts"),
        },
    ];
    for (i, event) in (0u64..).zip(events) {
        fx.append(DAY0_MS + i * HOUR_MS, event);
    }
    fx.append(
        DAY0_MS + 25 * HOUR_MS,
        AuditEvent::HostEnrolled {
            host_id: text(HOST_B),
            host: [0xee; 32],
            model: text("Navios EX"),
        },
    );
    fx
}

#[test]
fn audit_list_shows_every_record_with_utc_time_kind_host_and_details() {
    let fx = audit_fixture();
    let (outcome, out) = fx.audit(&["list"]);
    assert_eq!(outcome, AuditOutcome::Complete);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("SEQ") && lines[0].contains("KIND"));
    assert_eq!(lines.len(), 10, "{out}");
    let first = lines[1];
    assert!(first.contains("2026-11-18T00:00:00.000Z"), "{first}");
    assert!(first.contains("connection_request"), "{first}");
    assert!(first.contains(HOST_A), "{first}");
    // Identities are shortened, never dumped.
    let short = format!("viewer={}…", hex::encode(&viewer_fp()[..4]));
    assert!(first.contains(&short), "{first}");
    assert!(!first.contains(&hex::encode(viewer_fp())), "{first}");
    assert!(first.contains("granted=yes reason=listed"), "{first}");
    assert!(lines[5].contains("name=\"run log.csv\" size=4096"), "{out}");
    assert!(
        lines[8].contains(" - "),
        "relay-wide event has no host: {out}"
    );
}

#[test]
fn audit_list_filters_by_kind_host_and_time() {
    let fx = audit_fixture();
    assert_eq!(fx.listed(&["--kind", "consent_decision"]), vec![3, 5]);
    assert_eq!(
        fx.listed(&["--kind", "consent_decision", "--kind", "intrusion_detected"]),
        vec![3, 5, 7]
    );
    assert_eq!(fx.listed(&["--host", HOST_B]), vec![1, 5, 8]);
    assert_eq!(fx.listed(&["--host", "h-bbbb3333"]), vec![1, 5, 8]);
    assert_eq!(
        fx.listed(&["--host", HOST_A, "--kind", "consent_decision"]),
        vec![3]
    );
    // --since is inclusive, --until exclusive; a bare date covers its whole day.
    assert_eq!(
        fx.listed(&[
            "--since",
            "2026-11-18T02:00:00Z",
            "--until",
            "2026-11-18T04:00:00Z"
        ]),
        vec![2, 3]
    );
    assert_eq!(
        fx.listed(&["--until", "2026-11-18"]),
        (0..8).collect::<Vec<_>>()
    );
    assert_eq!(fx.listed(&["--since", "2026-11-19"]), vec![8]);
    assert_eq!(
        fx.listed(&["--since", "2026-11-18T07:00:00+01:00"]),
        vec![6, 7, 8]
    );
    assert_eq!(fx.listed(&["--limit", "2"]), vec![0, 1]);
    assert_eq!(fx.listed(&["--host", "H-NOSUCHHOST"]), Vec::<u64>::new());
}

#[test]
fn audit_list_by_viewer_includes_the_sessions_that_viewer_started() {
    let fx = audit_fixture();
    let full = hex::encode(viewer_fp());
    // Request, session start, its consent and file transfer, its end.
    assert_eq!(fx.listed(&["--viewer", &full]), vec![0, 2, 3, 4, 6]);
    let prefix = &hex::encode(other_fp())[..8];
    assert_eq!(fx.listed(&["--viewer", prefix]), vec![1]);
    let grouped = viewer_key().fingerprint().to_string();
    assert_eq!(
        fx.listed(&["--viewer", &grouped, "--kind", "consent_decision"]),
        vec![3]
    );
    // Too short a prefix could match anyone: refused.
    assert!(parse(&["audit", "list", "--viewer", "ab12"]).is_err());
    assert!(parse(&["audit", "list", "--viewer", "not-hex!"]).is_err());
}

#[test]
fn unknown_kind_is_refused_with_the_list_of_kinds() {
    let error = match parse(&["audit", "list", "--kind", "coffee_break"]) {
        Err(error) => error.to_string(),
        Ok(_) => panic!("an unknown kind parsed"),
    };
    for kind in AuditEvent::KINDS {
        assert!(error.contains(kind), "{error}");
    }
    // The same check holds when the arguments are built in code.
    let fx = Fixture::new();
    let args = ListArgs {
        filter: AuditFilter {
            kinds: vec!["coffee_break".into()],
            ..AuditFilter::default()
        },
        limit: None,
    };
    let error = fx
        .try_audit(&AuditCommand::List(args))
        .0
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("coffee_break") && error.contains("session_started"),
        "{error}"
    );
}

#[test]
fn audit_list_escapes_control_and_bidi_characters_in_reported_text() {
    let fx = Fixture::new();
    fx.append(
        DAY0_MS,
        AuditEvent::SessionEnded {
            host_id: text(HOST_A),
            session_id: [1; 32],
            reason: text("done\n       9  FAKE LINE \u{202e}gnp.exe"),
        },
    );
    let (_, out) = fx.audit(&["list"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.contains("done\\n"), "{out}");
    assert!(out.contains("\\u{202e}"), "{out}");
    assert!(!out.contains('\u{202e}'), "{out}");
}

#[test]
fn audit_verify_passes_on_an_intact_log_and_prints_its_head() {
    let fx = Fixture::new();
    let (outcome, out) = fx.audit(&["verify"]);
    assert_eq!(outcome, AuditOutcome::Complete);
    assert!(out.contains("audit log verified: 0 record(s)"), "{out}");

    let fx = audit_fixture();
    let (outcome, out) = fx.audit(&["verify"]);
    assert!(outcome.is_ok());
    let head = fx.store.audit_head().unwrap();
    assert_eq!(
        out.trim(),
        format!(
            "audit log verified: 9 record(s), head 9:{}",
            hex::encode(head.last_hash)
        )
    );
}

#[test]
fn audit_verify_names_an_edited_record() {
    let fx = audit_fixture();
    let raw = fx.raw();
    let mut ciphertext: Vec<u8> = raw
        .query_row(
            "SELECT ciphertext FROM audit_records WHERE seq = 4",
            [],
            |r| r.get(0),
        )
        .unwrap();
    ciphertext[3] ^= 0x80;
    raw.execute(
        "UPDATE audit_records SET ciphertext = ?1 WHERE seq = 4",
        [ciphertext],
    )
    .unwrap();
    let (outcome, _) = fx.audit(&["verify"]);
    assert_eq!(
        outcome,
        AuditOutcome::Broken(ChainBreak {
            seq: 4,
            problem: BreakKind::Undecryptable
        })
    );
    assert!(!outcome.is_ok());
    assert_eq!(outcome.exit_code(), std::process::ExitCode::FAILURE);
    assert!(outcome.to_string().contains("audit record 4"), "{outcome}");

    // Listing shows the damaged record whatever the filters, and reports it.
    let (outcome, out) = fx.audit(&["list", "--host", HOST_B]);
    assert_eq!(
        outcome,
        AuditOutcome::Unreadable {
            count: 1,
            first_seq: 4
        }
    );
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("4  UNREADABLE")),
        "{out}"
    );
}

#[test]
fn audit_verify_names_a_deleted_record_and_a_cut_off_tail() {
    let fx = audit_fixture();
    let raw = fx.raw();
    raw.execute("DELETE FROM audit_records WHERE seq = 2", [])
        .unwrap();
    let (outcome, _) = fx.audit(&["verify"]);
    assert_eq!(
        outcome,
        AuditOutcome::Broken(ChainBreak {
            seq: 2,
            problem: BreakKind::Missing { found: 3 }
        })
    );
    // The stored head catches records removed from the end.
    let fx = audit_fixture();
    fx.raw()
        .execute("DELETE FROM audit_records WHERE seq >= 7", [])
        .unwrap();
    let (outcome, _) = fx.audit(&["verify"]);
    assert_eq!(
        outcome,
        AuditOutcome::Broken(ChainBreak {
            seq: 7,
            problem: BreakKind::TruncatedTail { expected_next: 9 }
        })
    );
}

#[test]
fn audit_commands_page_through_logs_longer_than_one_page() {
    let fx = Fixture::new();
    for i in 0..1_203u64 {
        fx.append(
            DAY0_MS + i,
            AuditEvent::InputDropped {
                host_id: text(if i % 2 == 0 { HOST_A } else { HOST_B }),
                session_id: [2; 32],
                count: i,
            },
        );
    }
    let (outcome, out) = fx.audit(&["verify"]);
    assert!(outcome.is_ok());
    assert!(out.contains("1203 record(s)"), "{out}");
    let listed = fx.listed(&["--host", HOST_B]);
    assert_eq!(listed.len(), 601);
    assert_eq!(listed.last(), Some(&1_201));
}

#[test]
fn audit_export_writes_one_json_object_per_record() {
    let fx = audit_fixture();
    let (outcome, out) = fx.audit(&["export", "--format", "jsonl"]);
    assert_eq!(outcome, AuditOutcome::Complete);
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(rows.len(), 9);
    for (seq, row) in (0u64..).zip(&rows) {
        assert_eq!(row["seq"], seq);
        assert!(row["time"].as_str().unwrap().ends_with('Z'));
    }
    let first = &rows[0];
    assert_eq!(first["time"], "2026-11-18T00:00:00.000Z");
    assert_eq!(first["time_unix_ms"], DAY0_MS);
    assert_eq!(first["kind"], "connection_request");
    assert_eq!(first["host_id"], HOST_A);
    assert_eq!(first["event"]["viewer"], hex::encode(viewer_fp()));
    assert_eq!(first["event"]["granted"], true);
    let file = &rows[4];
    assert_eq!(file["event"]["sha256"], hex::encode([0xcd; 32]));
    assert_eq!(file["event"]["name"], "run log.csv");
    assert_eq!(file["event"]["direction"], "from_host");
    assert_eq!(rows[3]["event"]["capability"], "screen_view");
    assert_eq!(rows[7]["host_id"], serde_json::Value::Null);
    assert_eq!(rows[7]["event"]["pattern"], "password_guessing");
    // Filters apply to exports too.
    let (_, out) = fx.audit(&["export", "--kind", "session_started"]);
    assert_eq!(out.lines().count(), 1);
}

#[test]
fn audit_export_to_a_file_is_owner_only_complete_and_never_overwrites() {
    let fx = audit_fixture();
    let path = fx.dir.path().join("audit.jsonl");
    let path_arg = path.to_str().unwrap();
    let (outcome, out) = fx.audit(&["export", "--output", path_arg]);
    assert!(outcome.is_ok());
    assert!(out.contains("exported 9 audit record(s)"), "{out}");
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(written.lines().count(), 9);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let error = fx
        .try_audit(&audit_cmd(&["export", "-o", path_arg]))
        .0
        .unwrap_err();
    assert!(matches!(
        error.downcast_ref::<AdminError>(),
        Some(AdminError::OutputExists(_))
    ));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), written);
    let leftovers: Vec<_> = std::fs::read_dir(fx.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn audit_export_reports_unreadable_records_as_error_lines() {
    let fx = audit_fixture();
    fx.raw()
        .execute(
            "UPDATE audit_records SET nonce = zeroblob(24) WHERE seq = 1",
            [],
        )
        .unwrap();
    let (outcome, out) = fx.audit(&["export"]);
    assert_eq!(
        outcome,
        AuditOutcome::Unreadable {
            count: 1,
            first_seq: 1
        }
    );
    let second: serde_json::Value = serde_json::from_str(out.lines().nth(1).unwrap()).unwrap();
    assert_eq!(second["seq"], 1);
    assert!(second["error"]
        .as_str()
        .unwrap()
        .contains("cannot be decrypted"));
    assert_eq!(out.lines().count(), 9);
}
