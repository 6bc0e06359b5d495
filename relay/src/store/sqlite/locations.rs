//! New-location confirmations and their pending codes (R8). A location is
//! stored only as a blind index (a keyed hash of viewer, device and network),
//! so the file shows neither where engineers work from nor which devices they
//! use, and the code hashes are sealed: a short code's hash alone would give
//! the code away.

use rand_core::OsRng;
use rusqlite::{params, OptionalExtension, Transaction};
use subtle::ConstantTimeEq;

use super::super::sealing::{Cell, ColumnSealer};
use super::super::{CodeRedemption, Location, PendingCode, PendingCodeStatus, StoreError};
use super::{from_sql_int, to_sql_int};
use assent_proto::identity::Fingerprint;

fn location_tag(sealer: &ColumnSealer, location: &Location) -> [u8; 32] {
    sealer.blind_index(
        "location",
        &[
            &location.viewer.0,
            &location.device_id,
            location.network.as_bytes(),
        ],
    )
}

pub(super) fn is_confirmed(
    tx: &Transaction<'_>,
    sealer: &ColumnSealer,
    location: &Location,
) -> Result<bool, StoreError> {
    let tag = location_tag(sealer, location);
    Ok(tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM locations WHERE location = ?1)",
        [&tag[..]],
        |r| r.get(0),
    )?)
}

pub(super) fn confirm(
    tx: &Transaction<'_>,
    sealer: &ColumnSealer,
    location: &Location,
    at_unix_ms: u64,
) -> Result<(), StoreError> {
    let tag = location_tag(sealer, location);
    tx.execute(
        "INSERT INTO locations (location, viewer, confirmed_unix_ms) VALUES (?1, ?2, ?3) \
         ON CONFLICT (location) DO UPDATE SET confirmed_unix_ms = excluded.confirmed_unix_ms",
        params![
            &tag[..],
            &location.viewer.0[..],
            to_sql_int(at_unix_ms, "confirmation time")?
        ],
    )?;
    Ok(())
}

pub(super) fn forget(tx: &Transaction<'_>, viewer: &Fingerprint) -> Result<u64, StoreError> {
    tx.execute(
        "DELETE FROM pending_codes WHERE viewer = ?1",
        [&viewer.0[..]],
    )?;
    let removed = tx.execute("DELETE FROM locations WHERE viewer = ?1", [&viewer.0[..]])?;
    Ok(removed as u64)
}

fn code_cell(tag: &str) -> Cell<'_> {
    Cell::new("pending_codes", "code_hash", tag)
}

pub(super) fn put_code(
    tx: &Transaction<'_>,
    sealer: &ColumnSealer,
    location: &Location,
    code: &PendingCode,
) -> Result<(), StoreError> {
    let tag = location_tag(sealer, location);
    let row = hex::encode(tag);
    let sealed = sealer.seal(&mut OsRng, &code_cell(&row), &code.code_hash)?;
    tx.execute(
        "INSERT INTO pending_codes \
         (location, viewer, code_hash, issued_unix_ms, expires_unix_ms, attempts_left) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (location) DO UPDATE SET code_hash = excluded.code_hash, \
         issued_unix_ms = excluded.issued_unix_ms, expires_unix_ms = excluded.expires_unix_ms, \
         attempts_left = excluded.attempts_left",
        params![
            &tag[..],
            &location.viewer.0[..],
            sealed,
            to_sql_int(code.issued_unix_ms, "code issue time")?,
            to_sql_int(code.expires_unix_ms, "code expiry time")?,
            code.attempts_left,
        ],
    )?;
    Ok(())
}

/// A `pending_codes` row, still sealed.
struct CodeRow {
    sealed_hash: Vec<u8>,
    status: PendingCodeStatus,
}

fn read_code(tx: &Transaction<'_>, tag: &[u8; 32]) -> Result<Option<CodeRow>, StoreError> {
    let row: Option<(Vec<u8>, i64, i64, i64)> = tx
        .query_row(
            "SELECT code_hash, issued_unix_ms, expires_unix_ms, attempts_left \
             FROM pending_codes WHERE location = ?1",
            [&tag[..]],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    row.map(|(sealed_hash, issued, expires, attempts)| {
        Ok(CodeRow {
            sealed_hash,
            status: PendingCodeStatus {
                issued_unix_ms: from_sql_int(issued, "pending_codes", "issue time")?,
                expires_unix_ms: from_sql_int(expires, "pending_codes", "expiry time")?,
                attempts_left: u32::try_from(attempts).map_err(|_| StoreError::Corrupt {
                    table: "pending_codes",
                    detail: format!("attempt count {attempts}"),
                })?,
            },
        })
    })
    .transpose()
}

pub(super) fn code_status(
    tx: &Transaction<'_>,
    sealer: &ColumnSealer,
    location: &Location,
) -> Result<Option<PendingCodeStatus>, StoreError> {
    let tag = location_tag(sealer, location);
    Ok(read_code(tx, &tag)?.map(|row| row.status))
}

pub(super) fn redeem(
    tx: &Transaction<'_>,
    sealer: &ColumnSealer,
    location: &Location,
    entered_hash: &[u8; 32],
    now_unix_ms: u64,
) -> Result<CodeRedemption, StoreError> {
    let tag = location_tag(sealer, location);
    let Some(row) = read_code(tx, &tag)? else {
        return Ok(CodeRedemption::NoPendingCode);
    };
    let remove = || tx.execute("DELETE FROM pending_codes WHERE location = ?1", [&tag[..]]);
    if now_unix_ms >= row.status.expires_unix_ms {
        remove()?;
        return Ok(CodeRedemption::Expired);
    }
    if row.status.attempts_left == 0 {
        remove()?;
        return Ok(CodeRedemption::Wrong { attempts_left: 0 });
    }
    let hex_tag = hex::encode(tag);
    let stored = sealer.open(&code_cell(&hex_tag), &row.sealed_hash)?;
    if bool::from(stored.as_slice().ct_eq(&entered_hash[..])) {
        remove()?;
        confirm(tx, sealer, location, now_unix_ms)?;
        return Ok(CodeRedemption::Confirmed);
    }
    let attempts_left = row.status.attempts_left - 1;
    if attempts_left == 0 {
        remove()?;
    } else {
        tx.execute(
            "UPDATE pending_codes SET attempts_left = ?2 WHERE location = ?1",
            params![&tag[..], attempts_left],
        )?;
    }
    Ok(CodeRedemption::Wrong { attempts_left })
}

pub(super) fn remove_expired(tx: &Transaction<'_>, now_unix_ms: u64) -> Result<u64, StoreError> {
    // Past i64::MAX every stored code has expired.
    let now = i64::try_from(now_unix_ms).unwrap_or(i64::MAX);
    let removed = tx.execute(
        "DELETE FROM pending_codes WHERE expires_unix_ms <= ?1",
        [now],
    )?;
    Ok(removed as u64)
}
