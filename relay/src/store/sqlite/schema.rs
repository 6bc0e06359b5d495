//! The SQLite schema as a list of migrations. `meta.schema_version` counts
//! the ones applied; a relay applies the rest on open, and refuses a database
//! written by a newer relay. Sealed columns (see `sealing`) are BLOBs named
//! after what they hold; everything else in clear is either public (host keys
//! and fingerprints, the instrument model) or a keyed hash.

use rand_core::OsRng;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::super::sealing::ColumnSealer;
use super::super::StoreError;

/// Migration `i` takes the schema from version `i` to `i + 1`. Append only:
/// never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE hosts (
        host_id TEXT PRIMARY KEY,
        host_key_fingerprint BLOB NOT NULL UNIQUE,
        host_key BLOB NOT NULL,
        instrument_model TEXT NOT NULL,
        -- sealed: registrant e-mail and name, instrument ID, serial number
        registrant BLOB NOT NULL,
        file_transfer INTEGER NOT NULL,
        enrolled_unix_ms INTEGER NOT NULL,
        online INTEGER NOT NULL,
        last_seen_unix_ms INTEGER
    ) STRICT;
    CREATE TABLE presence (
        id INTEGER PRIMARY KEY,
        host_id TEXT NOT NULL REFERENCES hosts (host_id) ON DELETE CASCADE,
        event INTEGER NOT NULL,
        at_unix_ms INTEGER NOT NULL,
        -- sealed: the address the host connected from
        source BLOB NOT NULL
    ) STRICT;
    CREATE INDEX presence_by_host ON presence (host_id, id);
    CREATE TABLE allowlist_entries (
        fingerprint BLOB PRIMARY KEY,
        -- sealed: the whole entry (key, name, e-mail, expiry)
        entry BLOB NOT NULL
    ) STRICT;
    CREATE TABLE signed_allowlists (
        serial INTEGER PRIMARY KEY,
        -- sealed: the signed document (its body names every engineer)
        document BLOB NOT NULL
    ) STRICT;
    CREATE TABLE lockouts (
        -- keyed hash of the scope (identity, source address)
        scope BLOB PRIMARY KEY,
        failures INTEGER NOT NULL,
        burned INTEGER NOT NULL,
        remaining_wait_ms INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE locations (
        -- keyed hash of viewer, device and network
        location BLOB PRIMARY KEY,
        viewer BLOB NOT NULL,
        confirmed_unix_ms INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX locations_by_viewer ON locations (viewer);
    CREATE TABLE pending_codes (
        location BLOB PRIMARY KEY,
        viewer BLOB NOT NULL,
        -- sealed: hash of the code
        code_hash BLOB NOT NULL,
        issued_unix_ms INTEGER NOT NULL,
        expires_unix_ms INTEGER NOT NULL,
        attempts_left INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX pending_codes_by_viewer ON pending_codes (viewer);
    -- Audit records are sealed by the chain itself (R12) under the audit key.
    CREATE TABLE audit_records (
        seq INTEGER PRIMARY KEY,
        nonce BLOB NOT NULL,
        ciphertext BLOB NOT NULL
    ) STRICT;
    CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        next_seq INTEGER NOT NULL,
        last_hash BLOB NOT NULL
    ) STRICT;
    INSERT INTO audit_head (id, next_seq, last_hash) VALUES (1, 0, zeroblob(32));",
    // 2: signed releases and their packages (R16). Not sealed: a release is
    // meant for every host, and hosts check its signature, not the relay.
    // A package counts only once `complete`, set in the commit that adds its
    // first release row, so a half-uploaded package is never served.
    "CREATE TABLE release_packages (
        sha256 BLOB PRIMARY KEY,
        size INTEGER NOT NULL,
        complete INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE release_package_pieces (
        sha256 BLOB NOT NULL REFERENCES release_packages (sha256) ON DELETE CASCADE,
        piece INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (sha256, piece)
    ) STRICT;
    CREATE TABLE releases (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        component TEXT NOT NULL,
        target TEXT NOT NULL,
        version TEXT NOT NULL,
        sha256 BLOB NOT NULL REFERENCES release_packages (sha256),
        size INTEGER NOT NULL,
        rollback INTEGER NOT NULL,
        published_unix_ms INTEGER NOT NULL,
        -- the signed manifest exactly as the operator signed it
        signed BLOB NOT NULL
    ) STRICT;
    CREATE INDEX releases_latest ON releases (component, target, id);",
    // 3: host notifications (R15).
    "CREATE TABLE notification_hosts (
        host_id TEXT PRIMARY KEY REFERENCES hosts (host_id) ON DELETE CASCADE,
        last_seq INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE active_notifications (
        host_id TEXT NOT NULL REFERENCES hosts (host_id) ON DELETE CASCADE,
        -- keyed hash of the notification ID
        notification BLOB NOT NULL,
        severity INTEGER NOT NULL,
        received_unix_ms INTEGER NOT NULL,
        -- sealed: the whole notification (ID, source, kind, title, detail)
        body BLOB NOT NULL,
        PRIMARY KEY (host_id, notification)
    ) STRICT;
    CREATE TABLE notification_events (
        -- AUTOINCREMENT: an event number is never reused, also after pruning
        event INTEGER PRIMARY KEY AUTOINCREMENT,
        host_id TEXT NOT NULL REFERENCES hosts (host_id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        change INTEGER NOT NULL,
        severity INTEGER NOT NULL,
        recorded_unix_ms INTEGER NOT NULL,
        -- sealed: the raise or clear as the host sent it
        body BLOB NOT NULL
    ) STRICT;
    CREATE INDEX notification_events_by_host ON notification_events (host_id, event);",
    // 4: one-time enrolment tokens (issue 13). Only the hash of a token is
    // kept; a spent token keeps its row, naming the host it enrolled.
    "CREATE TABLE enrolment_tokens (
        token_hash BLOB PRIMARY KEY,
        token_id TEXT NOT NULL UNIQUE,
        instrument_model TEXT NOT NULL,
        -- sealed: instrument ID and serial number the token is bound to
        binding BLOB NOT NULL,
        profile INTEGER NOT NULL,
        issued_unix_ms INTEGER NOT NULL,
        expires_unix_ms INTEGER NOT NULL,
        used_unix_ms INTEGER,
        used_by_host TEXT,
        revoked_unix_ms INTEGER
    ) STRICT;",
    // 5: the operator's signed freshness statement per component and target
    // (issue 13): public and signed, so stored as it was signed.
    "CREATE TABLE release_freshness (
        component TEXT NOT NULL,
        target TEXT NOT NULL,
        statement BLOB NOT NULL,
        PRIMARY KEY (component, target)
    ) STRICT;",
];

/// The schema version this relay writes.
pub(super) fn supported_version() -> i64 {
    // A handful of migrations; the count always fits.
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// Checks the data key, then applies missing migrations, all in one
/// transaction: a crash leaves the old schema or the new one.
pub(super) fn migrate(conn: &mut Connection, sealer: &ColumnSealer) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value ANY NOT NULL) STRICT",
    )?;
    let version: i64 = tx
        .query_row(
            "SELECT value FROM meta WHERE name = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let supported = supported_version();
    if version > supported {
        return Err(StoreError::SchemaTooNew {
            found: version,
            supported,
        });
    }
    let key_check: Option<Vec<u8>> = tx
        .query_row("SELECT value FROM meta WHERE name = 'key_check'", [], |r| {
            r.get(0)
        })
        .optional()?;
    match key_check {
        Some(sealed) if !sealer.matches_key_check(&sealed) => return Err(StoreError::WrongDataKey),
        Some(_) => {}
        None if version == 0 => {
            tx.execute(
                "INSERT INTO meta (name, value) VALUES ('key_check', ?1)",
                [sealer.key_check(&mut OsRng)?],
            )?;
        }
        None => {
            return Err(StoreError::Corrupt {
                table: "meta",
                detail: "the data key check is missing".into(),
            })
        }
    }
    let start = usize::try_from(version).map_err(|_| StoreError::Corrupt {
        table: "meta",
        detail: format!("schema version {version}"),
    })?;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(start) {
        tx.execute_batch(migration)?;
        tx.execute(
            "INSERT INTO meta (name, value) VALUES ('schema_version', ?1) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            params![i64::try_from(index + 1).unwrap_or(i64::MAX)],
        )?;
    }
    tx.commit()?;
    Ok(())
}
