//! The state store against real SQLite files: each rule the relay relies on
//! (R6, R7, R8, R12, R13), including what the database file reveals on disk.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assent_proto::allowlist::{AllowList, AllowListEntry};
use assent_proto::audit::{verify, AuditKey, BreakKind, ChainBreak, ChainHead};
use assent_proto::identity::Identity;
use assent_proto::lockout::{Lockout, LockoutError, LockoutPolicy, LockoutSnapshot};
use assent_proto::messages::audit_event::AuditEvent;
use assent_proto::messages::file_transfer::TransferDirection;
use assent_proto::messages::signalling::FileTransferInstall;
use assent_proto::wire::{List, Text};
use rand_core::OsRng;
use tempfile::TempDir;

use super::*;

// Test keys: the shared, cached RSA-4096 keys of `assent_proto::test_keys`.
fn host_key() -> &'static Identity {
    assent_proto::test_keys::host()
}
fn second_host_key() -> &'static Identity {
    assent_proto::test_keys::other()
}
fn viewer_key() -> &'static Identity {
    assent_proto::test_keys::viewer()
}
fn operator_key() -> &'static Identity {
    assent_proto::test_keys::operator()
}

const NAME: &str = "Zebulon Quartermaine";
const EMAIL: &str = "zq-7731@haematology.example";
const SERIAL: &str = "SN-QX-99817";
const INSTRUMENT_ID: &str = "LAB4-NAVIOS-0042";
const FILE_NAME: &str = "patient-export-4471.csv";
const SOURCE: &str = "198.51.100.77:50123";
const NETWORK: &str = "203.0.113.0/24";
const T0: u64 = 1_795_000_000_000;

fn data_key() -> DataKey {
    DataKey::from_bytes([0x42; 32])
}

fn audit_key() -> AuditKey {
    data_key().audit_key()
}

struct Db {
    // Held so the directory outlives the store.
    _dir: TempDir,
    path: PathBuf,
}

impl Db {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        Self { _dir: dir, path }
    }

    fn open(&self) -> SqliteStore {
        SqliteStore::open(&self.path, &data_key()).unwrap()
    }

    /// A second, raw connection: what someone with the file but not the key has.
    fn raw(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.path).unwrap()
    }
}

fn text<const N: usize>(s: &str) -> Text<N> {
    Text::new(s).unwrap()
}

fn registration(key: &Identity, name: &str, email: &str, serial: &str) -> HostRegistration {
    HostRegistration {
        registrant_email: text(email),
        registrant_name: text(name),
        instrument_model: text("Navios EX"),
        instrument_id: text(INSTRUMENT_ID),
        serial_number: text(serial),
        host_key: key.public().clone(),
        file_transfer: FileTransferInstall::CompiledOut,
        enrolled_unix_ms: T0,
    }
}

fn enroll_first(store: &SqliteStore) -> HostRecord {
    store
        .enroll_host(&registration(host_key(), NAME, EMAIL, SERIAL))
        .unwrap()
}

fn allowlist_entry(name: &str) -> AllowListEntry {
    AllowListEntry {
        viewer: viewer_key().public().clone(),
        name: text(name),
        email: text("engineer@service.example"),
        expires_unix: u64::MAX,
    }
}

fn location(network: &str) -> Location {
    Location {
        viewer: viewer_key().fingerprint(),
        device_id: [7; 16],
        network: network.to_owned(),
    }
}

fn code(hash: [u8; 32], attempts_left: u32) -> PendingCode {
    PendingCode {
        code_hash: hash,
        issued_unix_ms: T0,
        expires_unix_ms: T0 + 600_000,
        attempts_left,
    }
}

fn transfer_event(i: u64) -> AuditEvent {
    AuditEvent::FileTransfer {
        host_id: text("H-TESTHOST"),
        session_id: [i as u8; 32],
        name: text(FILE_NAME),
        size: 1000 + i,
        sha256: [9; 32],
        direction: TransferDirection::FromHost,
    }
}

/// Appends `n` file-transfer events through the store.
fn append_events(store: &SqliteStore, n: u64) {
    let key = audit_key();
    for i in 0..n {
        store
            .append_audit(&mut |head: &ChainHead| {
                head.seal_next(&key, &mut OsRng, T0 + i, transfer_event(i))
            })
            .unwrap();
    }
}

fn all_records(store: &SqliteStore) -> Vec<assent_proto::audit::SealedAuditRecord> {
    store.audit_records(0, PAGE_MAX).unwrap()
}

// Registry and presence (R13).

#[test]
fn enrolled_host_is_found_by_id_and_by_key_and_listed() {
    let db = Db::new();
    let store = db.open();
    let enrolled = enroll_first(&store);
    assert_eq!(enrolled.registration.registrant_email.as_str(), EMAIL);
    assert!(!enrolled.online);

    assert_eq!(
        store.host(&enrolled.host_id).unwrap(),
        Some(enrolled.clone())
    );
    assert_eq!(
        store.host_by_key(&host_key().fingerprint()).unwrap(),
        Some(enrolled.clone())
    );
    assert_eq!(store.list_hosts().unwrap(), vec![enrolled.clone()]);
    assert_eq!(store.host("H-NOSUCHID").unwrap(), None);
    assert_eq!(
        store.host_by_key(&viewer_key().fingerprint()).unwrap(),
        None
    );

    // The registry is durable: a restarted relay finds the same host.
    drop(store);
    assert_eq!(db.open().host(&enrolled.host_id).unwrap(), Some(enrolled));
}

#[test]
fn enrolling_the_same_host_key_twice_is_a_conflict() {
    let db = Db::new();
    let store = db.open();
    let first = enroll_first(&store);
    let again = store.enroll_host(&registration(
        host_key(),
        "Someone Else",
        "x@y.example",
        "SN-2",
    ));
    match again {
        Err(StoreError::Conflict(message)) => assert!(message.contains(first.host_id.as_str())),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // A different key enrols fine, under a different ID.
    let second = store
        .enroll_host(&registration(second_host_key(), NAME, EMAIL, "SN-3"))
        .unwrap();
    assert_ne!(first.host_id, second.host_id);
    assert_eq!(store.list_hosts().unwrap().len(), 2);
}

#[test]
fn host_ids_are_short_and_safe_to_read_aloud() {
    use assent_proto::password::ALPHABET;
    for _ in 0..200 {
        let id = generate_host_id(&mut OsRng);
        assert_eq!(id.len(), 2 + HOST_ID_CHARS, "{id}");
        assert!(id.starts_with("H-"));
        assert!(id.bytes().skip(2).all(|b| ALPHABET.contains(&b)), "{id}");
    }
}

#[test]
fn presence_history_is_newest_first_and_sets_online_and_last_seen() {
    let db = Db::new();
    let store = db.open();
    let host = enroll_first(&store);
    let id = host.host_id.as_str();
    store
        .record_presence(id, PresenceEvent::Online, T0 + 1, SOURCE)
        .unwrap();
    let after_online = store.host(id).unwrap().unwrap();
    assert!(after_online.online);
    assert_eq!(after_online.last_seen_unix_ms, Some(T0 + 1));

    store
        .record_presence(id, PresenceEvent::Offline, T0 + 2, SOURCE)
        .unwrap();
    store
        .record_presence(id, PresenceEvent::Online, T0 + 3, "192.0.2.1:4433")
        .unwrap();
    let history = store.presence_history(id, 10).unwrap();
    let events: Vec<_> = history.iter().map(|p| (p.event, p.at_unix_ms)).collect();
    assert_eq!(
        events,
        vec![
            (PresenceEvent::Online, T0 + 3),
            (PresenceEvent::Offline, T0 + 2),
            (PresenceEvent::Online, T0 + 1),
        ]
    );
    assert_eq!(history[0].source, "192.0.2.1:4433");
    assert_eq!(history[2].source, SOURCE);
    assert_eq!(store.presence_history(id, 1).unwrap().len(), 1);
    let now = store.host(id).unwrap().unwrap();
    assert!(now.online);
    assert_eq!(now.last_seen_unix_ms, Some(T0 + 3));
}

#[test]
fn presence_of_an_unknown_host_is_not_found() {
    let store = Db::new().open();
    assert!(matches!(
        store.record_presence("H-NOSUCHID", PresenceEvent::Online, T0, SOURCE),
        Err(StoreError::NotFound { what: "host", .. })
    ));
    assert!(matches!(
        store.presence_history("H-NOSUCHID", 10),
        Err(StoreError::NotFound { .. })
    ));
}

// Allowlist (R7).

#[test]
fn allowlist_entries_are_put_replaced_removed_and_listed() {
    let store = Db::new().open();
    let fingerprint = viewer_key().fingerprint();
    assert_eq!(store.allowlist_entries().unwrap(), vec![]);
    store
        .put_allowlist_entry(&allowlist_entry("Ana Field"))
        .unwrap();
    assert_eq!(
        store.allowlist_entry(&fingerprint).unwrap(),
        Some(allowlist_entry("Ana Field"))
    );
    // Putting the same identity again replaces its entry.
    store
        .put_allowlist_entry(&allowlist_entry("Ana Field-Smith"))
        .unwrap();
    assert_eq!(
        store.allowlist_entries().unwrap(),
        vec![allowlist_entry("Ana Field-Smith")]
    );
    assert!(store.remove_allowlist_entry(&fingerprint).unwrap());
    assert!(!store.remove_allowlist_entry(&fingerprint).unwrap());
    assert_eq!(store.allowlist_entry(&fingerprint).unwrap(), None);
}

#[test]
fn signed_allowlist_round_trips_and_an_older_serial_is_refused() {
    let store = Db::new().open();
    assert_eq!(store.latest_signed_allowlist().unwrap(), None);
    assert_eq!(store.next_allowlist_serial().unwrap(), 1);
    let signed = |serial| {
        AllowList {
            serial,
            issued_unix: 1_795_000_000,
            expires_unix: 1_800_000_000,
            entries: List::new(vec![allowlist_entry("Ana Field")]).unwrap(),
        }
        .sign(operator_key(), &mut OsRng)
    };
    let first = signed(1);
    assert_eq!(store.store_signed_allowlist(&first).unwrap(), 1);
    let second = signed(2);
    assert_eq!(store.store_signed_allowlist(&second).unwrap(), 2);
    assert_eq!(store.next_allowlist_serial().unwrap(), 3);

    let latest = store.latest_signed_allowlist().unwrap().unwrap();
    assert_eq!(latest.serial, 2);
    assert_eq!(latest.document, second);
    // What comes back still verifies under the operator key.
    let verified = latest
        .document
        .verify(operator_key().public(), 1_795_000_001)
        .unwrap();
    assert_eq!(verified.entries(), &[allowlist_entry("Ana Field")]);

    // Rolling back (or a second relay issuing the same serial) is refused.
    assert!(matches!(
        store.store_signed_allowlist(&first),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.store_signed_allowlist(&signed(2)),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.latest_signed_allowlist().unwrap().unwrap().document,
        second
    );
}

// Lockout (R6).

#[test]
fn lockout_survives_reopening_the_database() {
    let db = Db::new();
    let policy = LockoutPolicy::default();
    let scope = "viewer:abcd/source:198.51.100.0/24";
    let now = Instant::now();
    let mut lockout = Lockout::new(policy);
    for i in 0..3 {
        lockout.record_failure(now + Duration::from_millis(i));
    }
    let store = db.open();
    store.save_lockout(scope, &lockout.snapshot(now)).unwrap();
    drop(store);

    // A restarted relay still refuses: the wait starts again in full.
    let snapshot = db.open().load_lockout(scope).unwrap().unwrap();
    assert_eq!(snapshot.failures, 3);
    let restored = Lockout::restore(policy, &snapshot, Instant::now());
    assert!(matches!(
        restored.check(Instant::now()),
        Err(LockoutError::Locked { failures: 3, .. })
    ));

    let store = db.open();
    assert_eq!(store.load_lockout("another scope").unwrap(), None);
    assert!(store.clear_lockout(scope).unwrap());
    assert_eq!(store.load_lockout(scope).unwrap(), None);
    assert!(!store.clear_lockout(scope).unwrap());
}

#[test]
fn lockout_update_reads_and_writes_in_one_step() {
    let store = Db::new().open();
    let add_failure = &mut |current: Option<LockoutSnapshot>| {
        let failures = current.map_or(0, |s| s.failures) + 1;
        LockoutSnapshot {
            failures,
            burned: failures >= 3,
            remaining_wait_ms: 5_000,
        }
    };
    for expected in 1..=3 {
        let stored = store
            .update_lockout("source:192.0.2.0/24", add_failure)
            .unwrap();
        assert_eq!(stored.failures, expected);
    }
    let snapshot = store.load_lockout("source:192.0.2.0/24").unwrap().unwrap();
    assert!(snapshot.burned);
    // An unrepresentably long wait is kept as the longest one.
    let forever = LockoutSnapshot {
        failures: 1,
        burned: false,
        remaining_wait_ms: u64::MAX,
    };
    store.save_lockout("x", &forever).unwrap();
    let back = store.load_lockout("x").unwrap().unwrap();
    assert_eq!(back.remaining_wait_ms, i64::MAX as u64);
}

// New locations (R8).

#[test]
fn location_is_confirmed_only_after_the_right_code() {
    let store = Db::new().open();
    let here = location(NETWORK);
    assert!(!store.is_location_confirmed(&here).unwrap());
    assert_eq!(
        store.redeem_pending_code(&here, &[1; 32], T0).unwrap(),
        CodeRedemption::NoPendingCode
    );
    store.put_pending_code(&here, &code([1; 32], 3)).unwrap();
    let status = store.pending_code(&here).unwrap().unwrap();
    assert_eq!((status.issued_unix_ms, status.attempts_left), (T0, 3));
    assert!(!store.is_location_confirmed(&here).unwrap());

    assert_eq!(
        store.redeem_pending_code(&here, &[1; 32], T0 + 1).unwrap(),
        CodeRedemption::Confirmed
    );
    assert!(store.is_location_confirmed(&here).unwrap());
    assert_eq!(
        store.pending_code(&here).unwrap(),
        None,
        "a code works once"
    );

    // Another network or device of the same viewer is still new.
    assert!(!store
        .is_location_confirmed(&location("192.0.2.0/24"))
        .unwrap());
    let other_device = Location {
        device_id: [8; 16],
        ..here.clone()
    };
    assert!(!store.is_location_confirmed(&other_device).unwrap());

    // Forgetting the viewer drops its locations.
    assert_eq!(store.forget_locations(&here.viewer).unwrap(), 1);
    assert!(!store.is_location_confirmed(&here).unwrap());
}

#[test]
fn wrong_codes_use_up_attempts_and_then_the_code_is_gone() {
    let store = Db::new().open();
    let here = location(NETWORK);
    store.put_pending_code(&here, &code([1; 32], 2)).unwrap();
    assert_eq!(
        store.redeem_pending_code(&here, &[2; 32], T0).unwrap(),
        CodeRedemption::Wrong { attempts_left: 1 }
    );
    assert_eq!(
        store.redeem_pending_code(&here, &[3; 32], T0).unwrap(),
        CodeRedemption::Wrong { attempts_left: 0 }
    );
    // Even the right code is useless now.
    assert_eq!(
        store.redeem_pending_code(&here, &[1; 32], T0).unwrap(),
        CodeRedemption::NoPendingCode
    );
    assert!(!store.is_location_confirmed(&here).unwrap());
}

#[test]
fn expired_code_is_refused_and_removed() {
    let store = Db::new().open();
    let here = location(NETWORK);
    store.put_pending_code(&here, &code([1; 32], 3)).unwrap();
    assert_eq!(
        store
            .redeem_pending_code(&here, &[1; 32], T0 + 600_000)
            .unwrap(),
        CodeRedemption::Expired
    );
    assert!(!store.is_location_confirmed(&here).unwrap());
    assert_eq!(store.pending_code(&here).unwrap(), None);

    store.put_pending_code(&here, &code([1; 32], 3)).unwrap();
    assert_eq!(store.remove_expired_codes(T0 + 599_999).unwrap(), 0);
    assert_eq!(store.remove_expired_codes(T0 + 600_000).unwrap(), 1);
}

// Audit (R12).

#[test]
fn audit_records_and_head_survive_reopening_and_verify() {
    let db = Db::new();
    let store = db.open();
    assert_eq!(store.audit_head().unwrap(), ChainHead::GENESIS);
    append_events(&store, 5);
    let head = store.audit_head().unwrap();
    assert_eq!(head.next_seq, 5);
    drop(store);

    let store = db.open();
    assert_eq!(store.audit_count().unwrap(), 5);
    assert_eq!(store.audit_head().unwrap(), head);
    let records = all_records(&store);
    let verified = verify(&audit_key(), &records, Some(&head)).unwrap();
    assert_eq!((verified.records, verified.head), (5, head));
    // Pages continue where asked.
    let page = store.audit_records(3, 10).unwrap();
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![3, 4]);
    assert_eq!(store.audit_records(0, 2).unwrap().len(), 2);
    // The chain continues after the restart.
    append_events(&store, 1);
    verify(
        &audit_key(),
        all_records(&store),
        Some(&store.audit_head().unwrap()),
    )
    .unwrap();
}

#[test]
fn failed_or_misnumbered_seal_stores_nothing() {
    let store = Db::new().open();
    append_events(&store, 2);
    let head = store.audit_head().unwrap();
    let failing = store
        .append_audit(&mut |_: &ChainHead| Err(assent_proto::audit::AuditError::SequenceExhausted));
    assert!(matches!(failing, Err(StoreError::Audit(_))));
    // A record sealed for another position (a stale head) is refused.
    let key = audit_key();
    let stale = store.append_audit(&mut |_: &ChainHead| {
        ChainHead::GENESIS.seal_next(&key, &mut OsRng, T0, transfer_event(0))
    });
    assert!(matches!(stale, Err(StoreError::Invalid(_))));
    assert_eq!(store.audit_head().unwrap(), head);
    assert_eq!(store.audit_count().unwrap(), 2);
}

#[test]
fn editing_an_audit_row_is_caught_by_verify() {
    let db = Db::new();
    let store = db.open();
    append_events(&store, 5);
    let raw = db.raw();
    let mut ciphertext: Vec<u8> = raw
        .query_row(
            "SELECT ciphertext FROM audit_records WHERE seq = 2",
            [],
            |r| r.get(0),
        )
        .unwrap();
    ciphertext[10] ^= 0x01;
    raw.execute(
        "UPDATE audit_records SET ciphertext = ?1 WHERE seq = 2",
        [ciphertext],
    )
    .unwrap();
    assert_eq!(
        verify(&audit_key(), all_records(&store), None),
        Err(ChainBreak {
            seq: 2,
            problem: BreakKind::Undecryptable
        })
    );
}

#[test]
fn deleting_an_audit_row_is_caught_by_verify() {
    let db = Db::new();
    let store = db.open();
    append_events(&store, 5);
    let head = store.audit_head().unwrap();
    let raw = db.raw();
    raw.execute("DELETE FROM audit_records WHERE seq = 2", [])
        .unwrap();
    assert_eq!(
        verify(&audit_key(), all_records(&store), None),
        Err(ChainBreak {
            seq: 2,
            problem: BreakKind::Missing { found: 3 }
        })
    );
    // Cutting off the newest record is caught against the stored head.
    raw.execute("DELETE FROM audit_records WHERE seq >= 2", [])
        .unwrap();
    assert_eq!(
        verify(&audit_key(), all_records(&store), Some(&head)),
        Err(ChainBreak {
            seq: 2,
            problem: BreakKind::TruncatedTail { expected_next: 5 }
        })
    );
}

#[test]
fn two_relays_on_one_database_extend_one_chain() {
    // Two stores on one file stand in for two relays sharing state: each
    // append reads the head inside its own transaction, so none is lost.
    let db = Db::new();
    let stores: Vec<std::sync::Arc<dyn StateStore>> = vec![
        std::sync::Arc::new(db.open()),
        std::sync::Arc::new(db.open()),
    ];
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let store = stores[(t % 2) as usize].clone();
            std::thread::spawn(move || {
                let key = audit_key();
                for i in 0..10 {
                    store
                        .append_audit(&mut |head: &ChainHead| {
                            head.seal_next(&key, &mut OsRng, T0 + i, transfer_event(t))
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let head = stores[0].audit_head().unwrap();
    assert_eq!(head.next_seq, 40);
    let records = stores[1].audit_records(0, PAGE_MAX).unwrap();
    assert_eq!(
        verify(&audit_key(), &records, Some(&head)).unwrap().records,
        40
    );
}

// Sealing at rest (R13).

/// Every file SQLite keeps for the database, as it is on disk now.
fn database_files(path: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| PathBuf::from(format!("{}{suffix}", path.display())))
        .filter_map(|p| std::fs::read(&p).ok().map(|bytes| (p, bytes)))
        .collect()
}

fn assert_reveals_none(path: &Path, secrets: &[&str]) {
    let files = database_files(path);
    assert!(!files.is_empty());
    for (file, bytes) in files {
        for secret in secrets {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} contains {secret:?} in clear",
                file.display()
            );
        }
    }
}

#[test]
fn database_file_reveals_no_registrant_data() {
    let db = Db::new();
    let store = db.open();
    let host = enroll_first(&store);
    store
        .record_presence(&host.host_id, PresenceEvent::Online, T0, SOURCE)
        .unwrap();
    store.put_allowlist_entry(&allowlist_entry(NAME)).unwrap();
    store
        .save_lockout(
            &format!("source:{SOURCE}"),
            &LockoutSnapshot {
                failures: 1,
                burned: false,
                remaining_wait_ms: 5_000,
            },
        )
        .unwrap();
    store
        .put_pending_code(&location(NETWORK), &code([1; 32], 3))
        .unwrap();
    store.confirm_location(&location(NETWORK), T0).unwrap();
    append_events(&store, 1);

    let secrets = [
        NAME,
        EMAIL,
        SERIAL,
        INSTRUMENT_ID,
        FILE_NAME,
        SOURCE,
        NETWORK,
    ];
    // While the relay runs (recent writes still in the WAL)...
    assert!(PathBuf::from(format!("{}-wal", db.path.display())).exists());
    assert_reveals_none(&db.path, &secrets);
    // ...and after it closes (checkpointed into the main file).
    drop(store);
    assert_reveals_none(&db.path, &secrets);
    // The check can fail: the test strings do reach the database, sealed.
    assert_eq!(
        db.open()
            .host(&host.host_id)
            .unwrap()
            .unwrap()
            .registration
            .serial_number
            .as_str(),
        SERIAL
    );
}

#[test]
fn sealed_value_moved_to_another_row_fails_to_open() {
    let db = Db::new();
    let store = db.open();
    let first = enroll_first(&store);
    let second = store
        .enroll_host(&registration(
            second_host_key(),
            "Other Person",
            "o@p.example",
            "SN-2",
        ))
        .unwrap();
    db.raw()
        .execute(
            "UPDATE hosts SET registrant = (SELECT registrant FROM hosts WHERE host_id = ?1) \
             WHERE host_id = ?2",
            [first.host_id.as_str(), second.host_id.as_str()],
        )
        .unwrap();
    assert!(matches!(
        store.host(&second.host_id),
        Err(StoreError::Corrupt { table: "hosts", .. })
    ));
    // The row it came from still opens.
    assert_eq!(store.host(&first.host_id).unwrap(), Some(first));
}

#[test]
fn database_sealed_with_another_data_key_is_refused_at_open() {
    let db = Db::new();
    enroll_first(&db.open());
    let wrong = DataKey::from_bytes([0x43; 32]);
    let refused = SqliteStore::open(&db.path, &wrong);
    match refused {
        Err(e @ StoreError::WrongDataKey) => {
            assert!(e.to_string().contains("sealed with a different data key"))
        }
        other => panic!("expected WrongDataKey, got {other:?}"),
    }
    // The right key still opens it.
    assert_eq!(db.open().list_hosts().unwrap().len(), 1);
}

#[test]
fn database_from_a_newer_relay_is_refused() {
    let db = Db::new();
    drop(db.open());
    db.raw()
        .execute(
            "UPDATE meta SET value = 99 WHERE name = 'schema_version'",
            [],
        )
        .unwrap();
    assert!(matches!(
        SqliteStore::open(&db.path, &data_key()),
        Err(StoreError::SchemaTooNew { found: 99, .. })
    ));
}

#[cfg(unix)]
#[test]
fn database_files_are_created_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let db = Db::new();
    let store = db.open();
    enroll_first(&store);
    for (file, _) in database_files(&db.path) {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
}

#[test]
fn missing_directory_is_reported_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent").join("relay.db");
    match SqliteStore::open(&path, &data_key()) {
        Err(e @ StoreError::Open { .. }) => assert!(e.to_string().contains("does not exist")),
        other => panic!("expected an open error, got {other:?}"),
    }
    assert!(!dir.path().join("absent").exists());
}
