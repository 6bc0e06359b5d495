//! [`StateStore`] on one SQLite file: the embedded default. WAL journal,
//! `synchronous=FULL` (every commit is fsync'd before it returns, so an
//! acknowledged audit record survives `kill -9` or power loss), foreign keys
//! on, and every write in an IMMEDIATE transaction so other processes on the
//! same file (the admin CLI) queue behind it instead of failing mid-way.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use assent_proto::allowlist::{AllowListEntry, SignedAllowList};
use assent_proto::audit::{ChainHead, SealedAuditRecord};
use assent_proto::identity::Fingerprint;
use assent_proto::lockout::LockoutSnapshot;
use assent_proto::release::SignedFreshness;
use assent_proto::wire::{Bytes, Field, Reader};
use rand_core::OsRng;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use zeroize::Zeroizing;

use super::enrolment::{EnrolmentGrant, EnrolmentOutcome, EnrolmentTokenRecord};
use super::sealing::{Cell, ColumnSealer};
use super::{
    ActiveSnapshot, AuditSeal, CodeRedemption, DataKey, HostRecord, HostRegistration, Location,
    NotificationEvent, NotificationFilter, NotificationIntake, NotificationLimits, PackageSlice,
    PendingCode, PendingCodeStatus, PresenceEvent, PresenceRecord, ReleaseRecord, StateStore,
    StoreError, StoredAllowList, PAGE_MAX,
};
use assent_proto::messages::notification::{Notification, NotificationCleared};
use assent_proto::messages::signalling::EnrolmentToken;

mod enrolment;
mod locations;
mod notifications;
mod registry;
mod releases;
mod schema;

/// How long a write waits for another process holding the database.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The relay's state in one SQLite file, sealed under a [`DataKey`].
pub struct SqliteStore {
    conn: Mutex<Connection>,
    sealer: ColumnSealer,
    path: PathBuf,
    notification_limits: NotificationLimits,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

impl SqliteStore {
    /// Opens the database at `path`, creating it (owner-only on unix, not its
    /// directory) if absent, and brings its schema up to date. A database
    /// sealed under another data key is refused here, before anything is read.
    pub fn open(path: &Path, key: &DataKey) -> Result<Self, StoreError> {
        let open_err = |detail: String| StoreError::Open {
            path: path.to_path_buf(),
            detail,
        };
        create_owner_only(path).map_err(|e| open_err(e.to_string()))?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags)
            .map_err(|e| open_err(format!("{e}; is it an Assent relay database?")))?;
        configure(&conn).map_err(|e| open_err(e.to_string()))?;
        let sealer = key.sealer();
        schema::migrate(&mut conn, &sealer).map_err(|e| match e {
            StoreError::Database(detail) => open_err(detail),
            other => other,
        })?;
        Ok(Self {
            conn: Mutex::new(conn),
            sealer,
            path: path.to_path_buf(),
            notification_limits: NotificationLimits::default(),
        })
    }

    /// The same store with other per-host notification bounds (tests, and
    /// operators with unusually chatty instruments).
    pub fn with_notification_limits(mut self, limits: NotificationLimits) -> Self {
        self.notification_limits = limits;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic mid-call dropped its transaction, which rolled it back, so
        // the connection behind a poisoned lock is still consistent.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` in an IMMEDIATE transaction and commits if it succeeds.
    fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` in a read transaction, so several queries see one state.
    fn read<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        f(&tx)
    }

    fn lockout_scope(&self, scope: &str) -> [u8; 32] {
        self.sealer.blind_index("lockout", &[scope.as_bytes()])
    }
}

impl StateStore for SqliteStore {
    fn enroll_host(&self, registration: &HostRegistration) -> Result<HostRecord, StoreError> {
        self.write(|tx| registry::enroll(tx, &self.sealer, registration))
    }

    fn host(&self, host_id: &str) -> Result<Option<HostRecord>, StoreError> {
        self.read(|tx| registry::find(tx, &self.sealer, "host_id", &host_id))
    }

    fn host_by_key(&self, key: &Fingerprint) -> Result<Option<HostRecord>, StoreError> {
        self.read(|tx| registry::find(tx, &self.sealer, "host_key_fingerprint", &&key.0[..]))
    }

    fn list_hosts(&self) -> Result<Vec<HostRecord>, StoreError> {
        self.read(|tx| registry::list(tx, &self.sealer))
    }

    fn record_presence(
        &self,
        host_id: &str,
        event: PresenceEvent,
        at_unix_ms: u64,
        source: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            registry::record_presence(tx, &self.sealer, host_id, event, at_unix_ms, source)
        })
    }

    fn presence_history(
        &self,
        host_id: &str,
        limit: usize,
    ) -> Result<Vec<PresenceRecord>, StoreError> {
        self.read(|tx| registry::presence_history(tx, &self.sealer, host_id, limit))
    }

    fn put_allowlist_entry(&self, entry: &AllowListEntry) -> Result<(), StoreError> {
        let fingerprint = entry.fingerprint();
        let row = hex::encode(fingerprint.0);
        let plain = Zeroizing::new(entry.to_bytes());
        let sealed = self.sealer.seal(
            &mut OsRng,
            &Cell::new("allowlist_entries", "entry", &row),
            &plain,
        )?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO allowlist_entries (fingerprint, entry) VALUES (?1, ?2) \
                 ON CONFLICT (fingerprint) DO UPDATE SET entry = excluded.entry",
                params![&fingerprint.0[..], sealed],
            )?;
            Ok(())
        })
    }

    fn remove_allowlist_entry(&self, viewer: &Fingerprint) -> Result<bool, StoreError> {
        self.write(|tx| {
            let removed = tx.execute(
                "DELETE FROM allowlist_entries WHERE fingerprint = ?1",
                [&viewer.0[..]],
            )?;
            Ok(removed > 0)
        })
    }

    fn allowlist_entry(&self, viewer: &Fingerprint) -> Result<Option<AllowListEntry>, StoreError> {
        let sealed: Option<Vec<u8>> = self.read(|tx| {
            Ok(tx
                .query_row(
                    "SELECT entry FROM allowlist_entries WHERE fingerprint = ?1",
                    [&viewer.0[..]],
                    |r| r.get(0),
                )
                .optional()?)
        })?;
        sealed
            .map(|sealed| self.decode_allowlist_entry(&viewer.0, &sealed))
            .transpose()
    }

    fn allowlist_entries(&self) -> Result<Vec<AllowListEntry>, StoreError> {
        let rows = self.read(|tx| {
            let mut stmt = tx
                .prepare("SELECT fingerprint, entry FROM allowlist_entries ORDER BY fingerprint")?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        rows.into_iter()
            .map(|(fingerprint, sealed)| self.decode_allowlist_entry(&fingerprint, &sealed))
            .collect()
    }

    fn next_allowlist_serial(&self) -> Result<u64, StoreError> {
        let latest = self.read(latest_serial)?;
        latest.map_or(Ok(1), |serial| {
            serial
                .checked_add(1)
                .ok_or_else(|| StoreError::Invalid("allowlist serials are exhausted".into()))
        })
    }

    fn store_signed_allowlist(&self, document: &SignedAllowList) -> Result<u64, StoreError> {
        // The serial is the first field of the signed body.
        let serial = Reader::new(&document.body).u64().map_err(|e| {
            StoreError::Invalid(format!("signed allowlist body has no serial: {e}"))
        })?;
        let serial_sql = to_sql_int(serial, "allowlist serial")?;
        let plain = document.to_bytes();
        let sealed = self.sealer.seal(
            &mut OsRng,
            &Cell::new("signed_allowlists", "document", &serial.to_string()),
            &plain,
        )?;
        self.write(|tx| {
            if let Some(latest) = latest_serial(tx)? {
                if serial <= latest {
                    return Err(StoreError::Conflict(format!(
                        "allowlist serial {serial} is not newer than the stored serial {latest}; sign the list again with serial {}",
                        latest.saturating_add(1)
                    )));
                }
            }
            tx.execute(
                "INSERT INTO signed_allowlists (serial, document) VALUES (?1, ?2)",
                params![serial_sql, sealed],
            )?;
            Ok(serial)
        })
    }

    fn latest_signed_allowlist(&self) -> Result<Option<StoredAllowList>, StoreError> {
        let row: Option<(i64, Vec<u8>)> = self.read(|tx| {
            Ok(tx
                .query_row(
                    "SELECT serial, document FROM signed_allowlists ORDER BY serial DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?)
        })?;
        let Some((serial, sealed)) = row else {
            return Ok(None);
        };
        let serial = from_sql_int(serial, "signed_allowlists", "serial")?;
        let plain = self.sealer.open(
            &Cell::new("signed_allowlists", "document", &serial.to_string()),
            &sealed,
        )?;
        let document = SignedAllowList::from_bytes(&plain).map_err(|e| StoreError::Corrupt {
            table: "signed_allowlists",
            detail: format!("serial {serial}: {e}"),
        })?;
        Ok(Some(StoredAllowList { serial, document }))
    }

    fn save_lockout(&self, scope: &str, snapshot: &LockoutSnapshot) -> Result<(), StoreError> {
        let tag = self.lockout_scope(scope);
        self.write(|tx| put_lockout(tx, &tag, snapshot))
    }

    fn load_lockout(&self, scope: &str) -> Result<Option<LockoutSnapshot>, StoreError> {
        let tag = self.lockout_scope(scope);
        self.read(|tx| get_lockout(tx, &tag))
    }

    fn update_lockout(
        &self,
        scope: &str,
        update: &mut dyn FnMut(Option<LockoutSnapshot>) -> LockoutSnapshot,
    ) -> Result<LockoutSnapshot, StoreError> {
        let tag = self.lockout_scope(scope);
        self.write(|tx| {
            let next = update(get_lockout(tx, &tag)?);
            put_lockout(tx, &tag, &next)?;
            Ok(next)
        })
    }

    fn clear_lockout(&self, scope: &str) -> Result<bool, StoreError> {
        let tag = self.lockout_scope(scope);
        self.write(|tx| Ok(tx.execute("DELETE FROM lockouts WHERE scope = ?1", [&tag[..]])? > 0))
    }

    fn is_location_confirmed(&self, location: &Location) -> Result<bool, StoreError> {
        self.read(|tx| locations::is_confirmed(tx, &self.sealer, location))
    }

    fn confirm_location(&self, location: &Location, at_unix_ms: u64) -> Result<(), StoreError> {
        self.write(|tx| locations::confirm(tx, &self.sealer, location, at_unix_ms))
    }

    fn forget_locations(&self, viewer: &Fingerprint) -> Result<u64, StoreError> {
        self.write(|tx| locations::forget(tx, viewer))
    }

    fn put_pending_code(&self, location: &Location, code: &PendingCode) -> Result<(), StoreError> {
        self.write(|tx| locations::put_code(tx, &self.sealer, location, code))
    }

    fn pending_code(&self, location: &Location) -> Result<Option<PendingCodeStatus>, StoreError> {
        self.read(|tx| locations::code_status(tx, &self.sealer, location))
    }

    fn redeem_pending_code(
        &self,
        location: &Location,
        entered_hash: &[u8; 32],
        now_unix_ms: u64,
    ) -> Result<CodeRedemption, StoreError> {
        self.write(|tx| locations::redeem(tx, &self.sealer, location, entered_hash, now_unix_ms))
    }

    fn remove_expired_codes(&self, now_unix_ms: u64) -> Result<u64, StoreError> {
        self.write(|tx| locations::remove_expired(tx, now_unix_ms))
    }

    fn append_audit(&self, seal: &mut AuditSeal<'_>) -> Result<SealedAuditRecord, StoreError> {
        self.write(|tx| {
            let head = read_audit_head(tx)?;
            let (record, next) = seal(&head)?;
            let expected_next = head.next_seq.checked_add(1);
            if record.seq != head.next_seq || Some(next.next_seq) != expected_next {
                return Err(StoreError::Invalid(format!(
                    "audit seal returned record {} and head {} for head {}; seal with the head the store passes",
                    record.seq, next.next_seq, head.next_seq
                )));
            }
            tx.execute(
                "INSERT INTO audit_records (seq, nonce, ciphertext) VALUES (?1, ?2, ?3)",
                params![
                    to_sql_int(record.seq, "audit sequence number")?,
                    &record.nonce[..],
                    record.ciphertext.as_slice()
                ],
            )?;
            tx.execute(
                "UPDATE audit_head SET next_seq = ?1, last_hash = ?2 WHERE id = 1",
                params![
                    to_sql_int(next.next_seq, "audit sequence number")?,
                    &next.last_hash[..]
                ],
            )?;
            Ok(record)
        })
    }

    fn issue_enrolment_token(&self, grant: &EnrolmentGrant) -> Result<(), StoreError> {
        self.write(|tx| enrolment::issue(tx, &self.sealer, grant))
    }

    fn enroll_host_with_token(
        &self,
        token: &EnrolmentToken,
        registration: &HostRegistration,
    ) -> Result<EnrolmentOutcome, StoreError> {
        self.write(|tx| enrolment::redeem(tx, &self.sealer, token, registration))
    }

    fn enrolment_tokens(&self) -> Result<Vec<EnrolmentTokenRecord>, StoreError> {
        self.read(|tx| enrolment::list(tx, &self.sealer))
    }

    fn revoke_enrolment_token(
        &self,
        token_id: &str,
        now_unix_ms: u64,
    ) -> Result<Option<EnrolmentGrant>, StoreError> {
        self.write(|tx| enrolment::revoke(tx, &self.sealer, token_id, now_unix_ms))
    }

    fn record_notification(
        &self,
        host_id: &str,
        notification: &Notification,
        received_unix_ms: u64,
    ) -> Result<NotificationIntake, StoreError> {
        self.write(|tx| {
            notifications::raise(
                tx,
                &self.sealer,
                &self.notification_limits,
                host_id,
                notification,
                received_unix_ms,
            )
        })
    }

    fn record_notification_cleared(
        &self,
        host_id: &str,
        cleared: &NotificationCleared,
        received_unix_ms: u64,
    ) -> Result<NotificationIntake, StoreError> {
        self.write(|tx| {
            notifications::clear(
                tx,
                &self.sealer,
                &self.notification_limits,
                host_id,
                cleared,
                received_unix_ms,
            )
        })
    }

    fn notification_last_seq(&self, host_id: &str) -> Result<u64, StoreError> {
        self.read(|tx| notifications::last_seq(tx, host_id).map(Option::unwrap_or_default))
    }

    fn active_notifications(
        &self,
        filter: &NotificationFilter,
        limit: usize,
    ) -> Result<ActiveSnapshot, StoreError> {
        self.read(|tx| notifications::active(tx, &self.sealer, filter, limit))
    }

    fn notification_events(
        &self,
        after_event: u64,
        filter: &NotificationFilter,
        limit: usize,
    ) -> Result<Vec<NotificationEvent>, StoreError> {
        self.read(|tx| notifications::events(tx, &self.sealer, after_event, filter, limit))
    }

    fn publish_release(
        &self,
        release: &ReleaseRecord,
        package: &mut dyn std::io::Read,
    ) -> Result<(), StoreError> {
        releases::publish(self, release, package)
    }

    fn latest_release(
        &self,
        component: &str,
        target: &str,
    ) -> Result<Option<ReleaseRecord>, StoreError> {
        self.read(|tx| releases::latest(tx, component, target))
    }

    fn set_release_freshness(
        &self,
        component: &str,
        target: &str,
        statement: &SignedFreshness,
    ) -> Result<(), StoreError> {
        self.write(|tx| releases::set_freshness(tx, component, target, statement))
    }

    fn release_freshness(
        &self,
        component: &str,
        target: &str,
    ) -> Result<Option<SignedFreshness>, StoreError> {
        self.read(|tx| releases::freshness(tx, component, target))
    }

    fn releases(&self, limit: usize) -> Result<Vec<ReleaseRecord>, StoreError> {
        self.read(|tx| releases::list(tx, limit))
    }

    fn package_slice(
        &self,
        sha256: &[u8; 32],
        offset: u64,
    ) -> Result<Option<PackageSlice>, StoreError> {
        self.read(|tx| releases::slice(tx, sha256, offset))
    }

    fn audit_head(&self) -> Result<ChainHead, StoreError> {
        self.read(read_audit_head)
    }

    fn audit_records(
        &self,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<SealedAuditRecord>, StoreError> {
        // Beyond i64::MAX nothing can be stored, so nothing is returned.
        let Ok(from) = i64::try_from(from_seq) else {
            return Ok(Vec::new());
        };
        let rows = self.read(|tx| {
            let mut stmt = tx.prepare(
                "SELECT seq, nonce, ciphertext FROM audit_records \
                 WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![from, page_limit(limit)], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        rows.into_iter()
            .map(|(seq, nonce, ciphertext)| {
                let corrupt = |detail: &str| StoreError::Corrupt {
                    table: "audit_records",
                    detail: format!("record {seq}: {detail}"),
                };
                Ok(SealedAuditRecord {
                    seq: from_sql_int(seq, "audit_records", "sequence number")?,
                    nonce: nonce
                        .try_into()
                        .map_err(|_| corrupt("nonce is not 24 bytes"))?,
                    ciphertext: Bytes::new(ciphertext)
                        .map_err(|_| corrupt("ciphertext is over the size limit"))?,
                })
            })
            .collect()
    }

    fn audit_count(&self) -> Result<u64, StoreError> {
        let count: i64 = self
            .read(|tx| Ok(tx.query_row("SELECT COUNT(*) FROM audit_records", [], |r| r.get(0))?))?;
        from_sql_int(count, "audit_records", "count")
    }
}

impl SqliteStore {
    fn decode_allowlist_entry(
        &self,
        fingerprint: &[u8],
        sealed: &[u8],
    ) -> Result<AllowListEntry, StoreError> {
        let row = hex::encode(fingerprint);
        let plain = self
            .sealer
            .open(&Cell::new("allowlist_entries", "entry", &row), sealed)?;
        let entry = AllowListEntry::from_bytes(&plain).map_err(|e| StoreError::Corrupt {
            table: "allowlist_entries",
            detail: format!("entry {row}: {e}"),
        })?;
        if entry.fingerprint().0[..] != *fingerprint {
            return Err(StoreError::Corrupt {
                table: "allowlist_entries",
                detail: format!("entry {row} holds the key of another viewer"),
            });
        }
        Ok(entry)
    }
}

fn latest_serial(tx: &rusqlite::Transaction<'_>) -> Result<Option<u64>, StoreError> {
    let serial: Option<i64> =
        tx.query_row("SELECT MAX(serial) FROM signed_allowlists", [], |r| {
            r.get(0)
        })?;
    serial
        .map(|s| from_sql_int(s, "signed_allowlists", "serial"))
        .transpose()
}

fn get_lockout(
    tx: &rusqlite::Transaction<'_>,
    tag: &[u8; 32],
) -> Result<Option<LockoutSnapshot>, StoreError> {
    let row: Option<(i64, bool, i64)> = tx
        .query_row(
            "SELECT failures, burned, remaining_wait_ms FROM lockouts WHERE scope = ?1",
            [&tag[..]],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    row.map(|(failures, burned, remaining)| {
        Ok(LockoutSnapshot {
            failures: u32::try_from(failures).map_err(|_| StoreError::Corrupt {
                table: "lockouts",
                detail: format!("failure count {failures}"),
            })?,
            burned,
            remaining_wait_ms: from_sql_int(remaining, "lockouts", "remaining wait")?,
        })
    })
    .transpose()
}

fn put_lockout(
    tx: &rusqlite::Transaction<'_>,
    tag: &[u8; 32],
    snapshot: &LockoutSnapshot,
) -> Result<(), StoreError> {
    // Beyond i64::MAX ms (292 million years) a wait is as good as forever.
    let remaining = i64::try_from(snapshot.remaining_wait_ms).unwrap_or(i64::MAX);
    tx.execute(
        "INSERT INTO lockouts (scope, failures, burned, remaining_wait_ms) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (scope) DO UPDATE SET failures = excluded.failures, \
         burned = excluded.burned, remaining_wait_ms = excluded.remaining_wait_ms",
        params![&tag[..], snapshot.failures, snapshot.burned, remaining],
    )?;
    Ok(())
}

fn read_audit_head(tx: &rusqlite::Transaction<'_>) -> Result<ChainHead, StoreError> {
    let (next_seq, last_hash): (i64, Vec<u8>) = tx
        .query_row(
            "SELECT next_seq, last_hash FROM audit_head WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or_else(|| StoreError::Corrupt {
            table: "audit_head",
            detail: "the chain head row is missing".into(),
        })?;
    Ok(ChainHead {
        next_seq: from_sql_int(next_seq, "audit_head", "next sequence number")?,
        last_hash: last_hash.try_into().map_err(|_| StoreError::Corrupt {
            table: "audit_head",
            detail: "last hash is not 32 bytes".into(),
        })?,
    })
}

fn page_limit(limit: usize) -> i64 {
    // PAGE_MAX is far below i64::MAX.
    i64::try_from(limit.min(PAGE_MAX)).unwrap_or(0)
}

/// SQLite integers are signed; values past i64::MAX are refused, not wrapped.
fn to_sql_int(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::Invalid(format!("{what} {value} is beyond what the store holds")))
}

fn from_sql_int(value: i64, table: &'static str, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt {
        table,
        detail: format!("negative {what} {value}"),
    })
}

/// WAL, fsync on every commit, foreign keys, and a wait instead of an
/// immediate "database is locked" when another process is writing.
fn configure(conn: &Connection) -> Result<(), String> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| e.to_string())?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| format!("{e}; is it an Assent relay database?"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!(
            "cannot use the WAL journal (SQLite kept {mode}); put the database on a local file system"
        ));
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        .map_err(|e| e.to_string())
}

/// Creates the database file owner-only before SQLite opens it (SQLite gives
/// its `-wal` and `-shm` files the same mode). An existing file is kept as is.
fn create_owner_only(path: &Path) -> std::io::Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => return Ok(()),
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file",
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        // Another process created it meanwhile: open theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(std::io::Error::new(
            e.kind(),
            "its directory does not exist; create it first",
        )),
        Err(e) => Err(e),
    }
}
