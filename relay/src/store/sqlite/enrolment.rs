//! Enrolment tokens in SQLite (issue 13). Redemption runs in the same
//! IMMEDIATE transaction as the host's registration, so of two concurrent
//! enrolments with one token exactly one commits, and a failed registration
//! leaves the token unused.

use assent_proto::instrument::InstrumentProfile;
use assent_proto::messages::signalling::{
    EnrolmentToken, HostId, INSTRUMENT_ID_MAX, SERIAL_NUMBER_MAX,
};
use assent_proto::wire::{Field, Text};
use rand_core::OsRng;
use rusqlite::{params, OptionalExtension, Row, Transaction};

use super::super::enrolment::{
    EnrolmentGrant, EnrolmentOutcome, EnrolmentRefusal, EnrolmentTokenRecord, EnrolmentTokenState,
};
use super::super::sealing::{Cell, ColumnSealer};
use super::super::{HostRegistration, StoreError};
use super::{from_sql_int, registry, to_sql_int};

assent_proto::wire_struct! {
    /// The sealed part of a token's binding.
    pub struct Binding {
        pub instrument_id: Text<INSTRUMENT_ID_MAX>,
        pub serial_number: Text<SERIAL_NUMBER_MAX>,
    }
}

const COLUMNS: &str = "token_hash, instrument_model, binding, profile, issued_unix_ms, \
                       expires_unix_ms, used_unix_ms, used_by_host, revoked_unix_ms";

fn cell(token_id: &str) -> Cell<'_> {
    Cell::new("enrolment_tokens", "binding", token_id)
}

pub(super) fn issue(
    tx: &Transaction<'_>,
    sealer: &ColumnSealer,
    grant: &EnrolmentGrant,
) -> Result<(), StoreError> {
    let token_id = grant.token_id();
    let binding = Binding {
        instrument_id: grant.instrument_id.clone(),
        serial_number: grant.serial_number.clone(),
    }
    .to_bytes();
    let sealed = sealer.seal(&mut OsRng, &cell(&token_id), &binding)?;
    let inserted = tx.execute(
        "INSERT OR IGNORE INTO enrolment_tokens (token_hash, token_id, instrument_model, binding, \
         profile, issued_unix_ms, expires_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            &grant.token_hash[..],
            token_id,
            grant.instrument_model.as_str(),
            sealed,
            grant.profile as u8,
            to_sql_int(grant.issued_unix_ms, "issue time")?,
            to_sql_int(grant.expires_unix_ms, "expiry time")?,
        ],
    )?;
    if inserted == 0 {
        return Err(StoreError::Conflict(format!(
            "an enrolment token with ID {token_id} already exists; issue another"
        )));
    }
    Ok(())
}

/// Checks the token and, if it admits the registration, spends it and
/// enrols the host, all in the caller's transaction.
pub(super) fn redeem(
    tx: &Transaction<'_>,
    sealer: &ColumnSealer,
    token: &EnrolmentToken,
    registration: &HostRegistration,
) -> Result<EnrolmentOutcome, StoreError> {
    let hash = token.hash();
    let sql = format!("SELECT {COLUMNS} FROM enrolment_tokens WHERE token_hash = ?1");
    let Some(row) = tx.query_row(&sql, [&hash[..]], TokenRow::read).optional()? else {
        return Ok(EnrolmentOutcome::Refused(EnrolmentRefusal::UnknownToken));
    };
    let record = row.decode(sealer)?;
    let refusal = match record.state {
        EnrolmentTokenState::Used { .. } => Some(EnrolmentRefusal::AlreadyUsed),
        EnrolmentTokenState::Revoked { .. } => Some(EnrolmentRefusal::Revoked),
        EnrolmentTokenState::Unused => record
            .grant
            .admits(token, registration, registration.enrolled_unix_ms)
            .err(),
    };
    if let Some(refusal) = refusal {
        return Ok(EnrolmentOutcome::Refused(refusal));
    }
    let host = registry::enroll(tx, sealer, registration)?;
    // `used_unix_ms IS NULL` again: the row cannot have changed inside this
    // IMMEDIATE transaction, but the update must never spend a token twice.
    let spent = tx.execute(
        "UPDATE enrolment_tokens SET used_unix_ms = ?2, used_by_host = ?3 \
         WHERE token_hash = ?1 AND used_unix_ms IS NULL AND revoked_unix_ms IS NULL",
        params![
            &hash[..],
            to_sql_int(registration.enrolled_unix_ms, "enrolment time")?,
            host.host_id.as_str()
        ],
    )?;
    if spent != 1 {
        return Err(StoreError::Conflict(
            "the enrolment token was spent concurrently; nothing was enrolled".into(),
        ));
    }
    Ok(EnrolmentOutcome::Enrolled(Box::new(host)))
}

pub(super) fn list(
    tx: &Transaction<'_>,
    sealer: &ColumnSealer,
) -> Result<Vec<EnrolmentTokenRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM enrolment_tokens ORDER BY issued_unix_ms, token_id LIMIT ?1"
    );
    let mut stmt = tx.prepare(&sql)?;
    let rows = stmt.query_map([super::page_limit(super::PAGE_MAX)], TokenRow::read)?;
    rows.map(|row| row?.decode(sealer)).collect()
}

/// Revokes an unused token; the grant it revoked, `None` if no unused
/// token has that ID.
pub(super) fn revoke(
    tx: &Transaction<'_>,
    sealer: &ColumnSealer,
    token_id: &str,
    now_unix_ms: u64,
) -> Result<Option<EnrolmentGrant>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM enrolment_tokens WHERE token_id = ?1 \
         AND used_unix_ms IS NULL AND revoked_unix_ms IS NULL"
    );
    let Some(row) = tx.query_row(&sql, [token_id], TokenRow::read).optional()? else {
        return Ok(None);
    };
    let record = row.decode(sealer)?;
    tx.execute(
        "UPDATE enrolment_tokens SET revoked_unix_ms = ?2 WHERE token_id = ?1",
        params![token_id, to_sql_int(now_unix_ms, "revocation time")?],
    )?;
    Ok(Some(record.grant))
}

/// An `enrolment_tokens` row as stored, before it is checked and unsealed.
struct TokenRow {
    token_hash: Vec<u8>,
    instrument_model: String,
    binding: Vec<u8>,
    profile: i64,
    issued_unix_ms: i64,
    expires_unix_ms: i64,
    used_unix_ms: Option<i64>,
    used_by_host: Option<String>,
    revoked_unix_ms: Option<i64>,
}

impl TokenRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            token_hash: row.get(0)?,
            instrument_model: row.get(1)?,
            binding: row.get(2)?,
            profile: row.get(3)?,
            issued_unix_ms: row.get(4)?,
            expires_unix_ms: row.get(5)?,
            used_unix_ms: row.get(6)?,
            used_by_host: row.get(7)?,
            revoked_unix_ms: row.get(8)?,
        })
    }

    fn decode(self, sealer: &ColumnSealer) -> Result<EnrolmentTokenRecord, StoreError> {
        const TABLE: &str = "enrolment_tokens";
        let corrupt = |detail: String| StoreError::Corrupt {
            table: TABLE,
            detail,
        };
        let token_hash: [u8; 32] = self
            .token_hash
            .as_slice()
            .try_into()
            .map_err(|_| corrupt("token hash is not 32 bytes".into()))?;
        let token_id = assent_proto::messages::signalling::token_id(&token_hash);
        let sealed = sealer.open(&cell(&token_id), &self.binding)?;
        let binding = Binding::from_bytes(&sealed)
            .map_err(|e| corrupt(format!("token {token_id} binding: {e}")))?;
        let profile = u8::try_from(self.profile)
            .ok()
            .and_then(|code| InstrumentProfile::from_bytes(&[code]).ok())
            .ok_or_else(|| corrupt(format!("token {token_id} profile {}", self.profile)))?;
        let instrument_model = Text::new(self.instrument_model)
            .map_err(|e| corrupt(format!("token {token_id} model: {e}")))?;
        let time = |t: i64| from_sql_int(t, TABLE, "time");
        let state = match (self.used_unix_ms, self.used_by_host, self.revoked_unix_ms) {
            (Some(at), Some(host), _) => EnrolmentTokenState::Used {
                at_unix_ms: time(at)?,
                host_id: HostId::new(host).map_err(|e| corrupt(e.to_string()))?,
            },
            (None, None, Some(at)) => EnrolmentTokenState::Revoked {
                at_unix_ms: time(at)?,
            },
            (None, None, None) => EnrolmentTokenState::Unused,
            _ => {
                return Err(corrupt(format!(
                    "token {token_id}: inconsistent use columns"
                )))
            }
        };
        Ok(EnrolmentTokenRecord {
            grant: EnrolmentGrant {
                token_hash,
                instrument_model,
                instrument_id: binding.instrument_id,
                serial_number: binding.serial_number,
                profile,
                issued_unix_ms: time(self.issued_unix_ms)?,
                expires_unix_ms: time(self.expires_unix_ms)?,
            },
            state,
        })
    }
}
