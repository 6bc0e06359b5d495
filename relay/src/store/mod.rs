//! The relay's durable state behind one trait, [`StateStore`]: the host
//! registry and presence history (R13), the viewer allowlist and the signed
//! lists issued from it (R7), lockout counters (R6), new-location
//! confirmations and their pending codes (R8), the sealed audit chain (R12),
//! host notifications (R15, [`notifications`]) and signed releases with
//! their packages (R16, [`releases`]).
//!
//! SQLite ([`SqliteStore`], one WAL file) is the embedded default. The trait
//! speaks only domain types and does every read-modify-write (audit append,
//! lockout update, code redemption) as one call, so a PostgreSQL store shared
//! by several relays can implement each as one transaction.
//!
//! Sensitive columns are sealed under a [`DataKey`] (R13), so the database
//! file alone reveals no registrant, engineer or address; see [`sealing`].
//! Sessions are not stored apart: the audit chain records `SessionStarted`,
//! `SessionEnded` and every event in between, which is the session log R13
//! asks for.

use std::fmt;
use std::path::PathBuf;

use assent_proto::allowlist::{AllowListEntry, SignedAllowList};
use assent_proto::audit::{AuditError, ChainHead, SealedAuditRecord};
use assent_proto::identity::{Fingerprint, PublicIdentity};
use assent_proto::lockout::LockoutSnapshot;
use assent_proto::messages::notification::{Notification, NotificationCleared};
use assent_proto::messages::signalling::{
    EnrollRequest, EnrolmentToken, FileTransferInstall, HostId, EMAIL_MAX, INSTRUMENT_ID_MAX,
    INSTRUMENT_MODEL_MAX, NAME_MAX, SERIAL_NUMBER_MAX,
};
use assent_proto::release::SignedFreshness;
use assent_proto::wire::Text;
use rand_core::CryptoRngCore;

pub mod enrolment;
pub mod notifications;
pub mod releases;
mod sealing;
mod sqlite;

pub use sealing::{DataKey, DataKeyError};
pub use sqlite::SqliteStore;

pub use enrolment::{
    EnrolmentGrant, EnrolmentOutcome, EnrolmentRefusal, EnrolmentTokenRecord, EnrolmentTokenState,
};
pub use notifications::{
    ActiveNotification, ActiveSnapshot, NotificationChange, NotificationEvent, NotificationFilter,
    NotificationIntake, NotificationLimits,
};
pub use releases::{PackageSlice, ReleaseRecord, PACKAGE_PIECE};

#[cfg(test)]
mod tests;

/// Most rows one page of a listing returns (presence history, audit records),
/// whatever limit the caller asks for: a page never costs unbounded memory.
pub const PAGE_MAX: usize = 10_000;
/// Longest connection source (address, or address and port) stored with presence.
pub const SOURCE_MAX: usize = 256;
/// Host IDs are `H-` and this many characters of the password alphabet.
pub const HOST_ID_CHARS: usize = 8;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} {key} is not known to this relay")]
    NotFound { what: &'static str, key: String },
    #[error("{0}")]
    Conflict(String),
    #[error("state database is damaged in table {table}: {detail}; restore it from a backup")]
    Corrupt { table: &'static str, detail: String },
    #[error("database was sealed with a different data key; start the relay with the data key this database was created with")]
    WrongDataKey,
    #[error("state database has schema version {found}, newer than the {supported} this relay knows; upgrade the relay")]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("value refused by the state store: {0}")]
    Invalid(String),
    /// A per-host bound was reached (e.g. active notifications); the message
    /// says which and what frees room.
    #[error("{0}")]
    Full(String),
    #[error("audit record could not be sealed: {0}")]
    Audit(#[from] AuditError),
    #[error("cannot open state database {}: {detail}", path.display())]
    Open { path: PathBuf, detail: String },
    #[error("state database error: {0}; check disk space and permissions, then retry")]
    Database(String),
}

/// What a host registers once at enrolment (R13), with its device key (R4).
#[derive(Clone, PartialEq, Eq)]
pub struct HostRegistration {
    pub registrant_email: Text<EMAIL_MAX>,
    pub registrant_name: Text<NAME_MAX>,
    pub instrument_model: Text<INSTRUMENT_MODEL_MAX>,
    pub instrument_id: Text<INSTRUMENT_ID_MAX>,
    pub serial_number: Text<SERIAL_NUMBER_MAX>,
    pub host_key: PublicIdentity,
    pub file_transfer: FileTransferInstall,
    pub enrolled_unix_ms: u64,
}

impl HostRegistration {
    /// The registration an `EnrollRequest` asks for; check its signature first.
    pub fn from_request(request: &EnrollRequest, enrolled_unix_ms: u64) -> Self {
        Self {
            registrant_email: request.registrant_email.clone(),
            registrant_name: request.registrant_name.clone(),
            instrument_model: request.instrument_model.clone(),
            instrument_id: request.instrument_id.clone(),
            serial_number: request.serial_number.clone(),
            host_key: request.host_key.clone(),
            file_transfer: request.file_transfer,
            enrolled_unix_ms,
        }
    }
}

impl fmt::Debug for HostRegistration {
    // Personal and identifying data stays out of logs (R13); the model and
    // key fingerprint are enough to tell hosts apart there.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostRegistration")
            .field("registrant_email", &"<sealed>")
            .field("registrant_name", &"<sealed>")
            .field("instrument_model", &self.instrument_model)
            .field("instrument_id", &"<sealed>")
            .field("serial_number", &"<sealed>")
            .field("host_key", &self.host_key)
            .field("file_transfer", &self.file_transfer)
            .field("enrolled_unix_ms", &self.enrolled_unix_ms)
            .finish()
    }
}

/// An enrolled host as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRecord {
    pub host_id: HostId,
    pub registration: HostRegistration,
    /// As of the last presence event recorded.
    pub online: bool,
    pub last_seen_unix_ms: Option<u64>,
}

impl HostRecord {
    pub fn fingerprint(&self) -> Fingerprint {
        self.registration.host_key.fingerprint()
    }
}

/// A host connecting to or leaving the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PresenceEvent {
    Online,
    Offline,
}

/// One entry of a host's online history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceRecord {
    pub event: PresenceEvent,
    pub at_unix_ms: u64,
    /// Where the host connected from (sealed at rest).
    pub source: String,
}

/// A signed allowlist as stored, with the serial its body carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAllowList {
    pub serial: u64,
    pub document: SignedAllowList,
}

/// Where a viewer identity connects from (R8): its device and its network
/// (e.g. the /24 or /48 prefix the caller derived from the source address).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    pub viewer: Fingerprint,
    pub device_id: [u8; 16],
    pub network: String,
}

/// A new-location confirmation code waiting to be entered (R8). Only a hash
/// of the code is ever stored, and that hash is sealed too: a short code's
/// plain hash would give the code away to anyone reading the file.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingCode {
    pub code_hash: [u8; 32],
    pub issued_unix_ms: u64,
    pub expires_unix_ms: u64,
    pub attempts_left: u32,
}

impl fmt::Debug for PendingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingCode")
            .field("code_hash", &"<redacted>")
            .field("issued_unix_ms", &self.issued_unix_ms)
            .field("expires_unix_ms", &self.expires_unix_ms)
            .field("attempts_left", &self.attempts_left)
            .finish()
    }
}

/// What is known about a pending code without its hash: enough to rate-limit
/// sending new codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingCodeStatus {
    pub issued_unix_ms: u64,
    pub expires_unix_ms: u64,
    pub attempts_left: u32,
}

/// How entering a confirmation code ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRedemption {
    /// The code matched: the location is now confirmed and the code is gone.
    Confirmed,
    /// The code did not match; at 0 attempts left the code is gone.
    Wrong { attempts_left: u32 },
    /// The code had expired and is gone; send a new one.
    Expired,
    /// No code is waiting for this location.
    NoPendingCode,
}

/// The seal step of [`StateStore::append_audit`]: given the head read inside
/// the store's transaction, returns the sealed record and the head after it
/// (normally `|head| head.seal_next(&key, &mut rng, now_ms, event)`).
pub type AuditSeal<'a> =
    dyn FnMut(&ChainHead) -> Result<(SealedAuditRecord, ChainHead), AuditError> + 'a;

/// Everything the relay keeps. Methods are synchronous (the async server calls
/// them through `spawn_blocking`) and each is atomic on its own.
pub trait StateStore: Send + Sync {
    // Registry and presence (R13).

    /// Registers a host and assigns its host ID. A host key already enrolled
    /// is a `Conflict`: a host enrols once. The server enrols only through
    /// [`StateStore::enroll_host_with_token`]; this is the registry primitive.
    fn enroll_host(&self, registration: &HostRegistration) -> Result<HostRecord, StoreError>;

    // Enrolment tokens (issue 13). Only token hashes are stored.

    /// Stores a newly issued token; a hash already stored is a `Conflict`.
    fn issue_enrolment_token(&self, grant: &EnrolmentGrant) -> Result<(), StoreError>;
    /// In one transaction: finds the token by hash, checks it is unused,
    /// unrevoked, unexpired at `registration.enrolled_unix_ms` and bound to
    /// these details ([`EnrolmentGrant::admits`]), then enrols the host and
    /// spends the token. Of concurrent calls with one token, one enrols.
    /// A refusal or an error changes nothing.
    fn enroll_host_with_token(
        &self,
        token: &EnrolmentToken,
        registration: &HostRegistration,
    ) -> Result<EnrolmentOutcome, StoreError>;
    /// Every token, oldest first (at most [`PAGE_MAX`]).
    fn enrolment_tokens(&self) -> Result<Vec<EnrolmentTokenRecord>, StoreError>;
    /// Revokes the unused token with this ID; `None` if there is none.
    fn revoke_enrolment_token(
        &self,
        token_id: &str,
        now_unix_ms: u64,
    ) -> Result<Option<EnrolmentGrant>, StoreError>;
    fn host(&self, host_id: &str) -> Result<Option<HostRecord>, StoreError>;
    fn host_by_key(&self, key: &Fingerprint) -> Result<Option<HostRecord>, StoreError>;
    /// Every enrolled host, in host ID order.
    fn list_hosts(&self) -> Result<Vec<HostRecord>, StoreError>;
    /// Records a connect or disconnect and updates online status and last seen.
    fn record_presence(
        &self,
        host_id: &str,
        event: PresenceEvent,
        at_unix_ms: u64,
        source: &str,
    ) -> Result<(), StoreError>;
    /// The host's most recent presence events, newest first (at most [`PAGE_MAX`]).
    fn presence_history(
        &self,
        host_id: &str,
        limit: usize,
    ) -> Result<Vec<PresenceRecord>, StoreError>;

    // Allowlist (R7).

    /// Adds a viewer identity, or replaces its entry.
    fn put_allowlist_entry(&self, entry: &AllowListEntry) -> Result<(), StoreError>;
    /// Whether an entry was there to remove.
    fn remove_allowlist_entry(&self, viewer: &Fingerprint) -> Result<bool, StoreError>;
    fn allowlist_entry(&self, viewer: &Fingerprint) -> Result<Option<AllowListEntry>, StoreError>;
    /// Every entry, in fingerprint order.
    fn allowlist_entries(&self) -> Result<Vec<AllowListEntry>, StoreError>;
    /// The serial the next signed list should carry.
    fn next_allowlist_serial(&self) -> Result<u64, StoreError>;
    /// Keeps a signed list; its serial (read from the body) must be newer than
    /// every stored one, else `Conflict` (another relay issued first: re-sign).
    fn store_signed_allowlist(&self, document: &SignedAllowList) -> Result<u64, StoreError>;
    fn latest_signed_allowlist(&self) -> Result<Option<StoredAllowList>, StoreError>;

    // Lockout (R6). Scope keys name what is locked ("viewer:FP", "source:NET");
    // they are stored only as keyed hashes.

    fn save_lockout(&self, scope: &str, snapshot: &LockoutSnapshot) -> Result<(), StoreError>;
    fn load_lockout(&self, scope: &str) -> Result<Option<LockoutSnapshot>, StoreError>;
    /// Read-modify-write in one transaction, so relays sharing the store
    /// cannot lose each other's failures. Returns the stored result.
    fn update_lockout(
        &self,
        scope: &str,
        update: &mut dyn FnMut(Option<LockoutSnapshot>) -> LockoutSnapshot,
    ) -> Result<LockoutSnapshot, StoreError>;
    /// Whether a lockout was there to clear.
    fn clear_lockout(&self, scope: &str) -> Result<bool, StoreError>;

    // New locations (R8). Locations are stored only as keyed hashes.

    fn is_location_confirmed(&self, location: &Location) -> Result<bool, StoreError>;
    fn confirm_location(&self, location: &Location, at_unix_ms: u64) -> Result<(), StoreError>;
    /// Forgets every confirmed location and pending code of a viewer (e.g.
    /// when it leaves the allowlist); returns how many locations were dropped.
    fn forget_locations(&self, viewer: &Fingerprint) -> Result<u64, StoreError>;
    /// Stores a fresh code for a location, replacing any earlier one.
    fn put_pending_code(&self, location: &Location, code: &PendingCode) -> Result<(), StoreError>;
    fn pending_code(&self, location: &Location) -> Result<Option<PendingCodeStatus>, StoreError>;
    /// Checks an entered code (by its hash) in one transaction: expiry, the
    /// comparison, using up an attempt, and on success confirming the location.
    fn redeem_pending_code(
        &self,
        location: &Location,
        entered_hash: &[u8; 32],
        now_unix_ms: u64,
    ) -> Result<CodeRedemption, StoreError>;
    /// Drops codes expired by `now_unix_ms`; returns how many.
    fn remove_expired_codes(&self, now_unix_ms: u64) -> Result<u64, StoreError>;

    // Audit (R12).

    /// In one transaction: reads the head, calls `seal` with it, stores the
    /// record and the new head, and commits durably (fsync'd) before
    /// returning, so an acknowledged action always has its record.
    fn append_audit(&self, seal: &mut AuditSeal<'_>) -> Result<SealedAuditRecord, StoreError>;
    fn audit_head(&self) -> Result<ChainHead, StoreError>;
    /// Records from `from_seq` on, in sequence order (at most [`PAGE_MAX`]).
    fn audit_records(
        &self,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<SealedAuditRecord>, StoreError>;
    fn audit_count(&self) -> Result<u64, StoreError>;

    // Notifications (R15). Each report is durable (fsync'd) when these return.

    /// Stores a raise (replacing the active one with its ID) and logs it,
    /// unless its `seq` is not above the host's last accepted one
    /// (`Duplicate`). A new ID beyond the host's active limit is `Full`.
    fn record_notification(
        &self,
        host_id: &str,
        notification: &Notification,
        received_unix_ms: u64,
    ) -> Result<NotificationIntake, StoreError>;
    /// Removes the active notification with the report's ID and logs the
    /// clear; `NothingActive` if none was, `Duplicate` as for raises.
    fn record_notification_cleared(
        &self,
        host_id: &str,
        cleared: &NotificationCleared,
        received_unix_ms: u64,
    ) -> Result<NotificationIntake, StoreError>;
    /// The highest `seq` stored for `host_id` (0 before its first report),
    /// told to the host at login so a host that started its numbering again
    /// can move above it instead of having new reports taken as repeats.
    fn notification_last_seq(&self, host_id: &str) -> Result<u64, StoreError>;
    /// Active notifications matching `filter` (by host, then ID hash; at most
    /// `limit`, capped at [`PAGE_MAX`]) and the last log event, read together.
    fn active_notifications(
        &self,
        filter: &NotificationFilter,
        limit: usize,
    ) -> Result<ActiveSnapshot, StoreError>;
    /// Log events after `after_event` matching `filter`, oldest first (at
    /// most `limit`, capped at [`PAGE_MAX`]). Cheap enough to poll.
    fn notification_events(
        &self,
        after_event: u64,
        filter: &NotificationFilter,
        limit: usize,
    ) -> Result<Vec<NotificationEvent>, StoreError>;

    // Releases (R16).

    /// Stores a release and its package, read from `package` in bounded
    /// pieces. The bytes must match `release.size` and `release.sha256`,
    /// else nothing is published (`Invalid`). The release becomes visible
    /// only with its whole package, in one commit.
    fn publish_release(
        &self,
        release: &ReleaseRecord,
        package: &mut dyn std::io::Read,
    ) -> Result<(), StoreError>;
    /// The most recently published release for a component and target.
    fn latest_release(
        &self,
        component: &str,
        target: &str,
    ) -> Result<Option<ReleaseRecord>, StoreError>;
    /// Replaces the freshness statement served for a component and target.
    fn set_release_freshness(
        &self,
        component: &str,
        target: &str,
        statement: &SignedFreshness,
    ) -> Result<(), StoreError>;
    /// The freshness statement served beside [`StateStore::latest_release`].
    fn release_freshness(
        &self,
        component: &str,
        target: &str,
    ) -> Result<Option<SignedFreshness>, StoreError>;
    /// Published releases, newest first (at most `limit`, capped at [`PAGE_MAX`]).
    fn releases(&self, limit: usize) -> Result<Vec<ReleaseRecord>, StoreError>;
    /// Up to [`PACKAGE_PIECE`] bytes of a published package from `offset`
    /// (empty at or after its end); `None` if no published package has this hash.
    fn package_slice(
        &self,
        sha256: &[u8; 32],
        offset: u64,
    ) -> Result<Option<PackageSlice>, StoreError>;
}

/// A fresh host ID: `H-` and [`HOST_ID_CHARS`] characters of the session
/// password alphabet (no look-alikes, so it can be read over the phone),
/// about 39 bits. Stores retry on the rare collision.
pub fn generate_host_id(rng: &mut impl CryptoRngCore) -> HostId {
    use assent_proto::password::ALPHABET;
    // Bytes at or above the largest multiple of the alphabet size are
    // skipped, so every character is equally likely.
    let limit = 256 / ALPHABET.len() * ALPHABET.len();
    let mut id = String::with_capacity(2 + HOST_ID_CHARS);
    id.push_str("H-");
    let mut random = [0u8; 32];
    while id.len() < 2 + HOST_ID_CHARS {
        rng.fill_bytes(&mut random);
        for &byte in random.iter().filter(|&&b| usize::from(b) < limit) {
            if id.len() == 2 + HOST_ID_CHARS {
                break;
            }
            id.push(char::from(ALPHABET[usize::from(byte) % ALPHABET.len()]));
        }
    }
    // Ten ASCII characters always fit in a 64-byte `HostId`.
    HostId::new(id).unwrap_or_default()
}
