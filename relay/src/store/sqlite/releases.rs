//! Signed releases and their packages (R16) in SQLite. A package is written
//! in pieces over several short transactions (so a large upload never holds
//! the database from the running relay for long), hashed as it goes, and
//! becomes servable only in the final commit that also adds its release row.

use std::io::Read;

use assent_proto::release::{SignedFreshness, SignedRelease, PACKAGE_MAX};
use assent_proto::wire::Field;
use rusqlite::{params, OptionalExtension, Row, Transaction};
use sha2::{Digest, Sha256};

use super::super::{PackageSlice, ReleaseRecord, StoreError, PACKAGE_PIECE};
use super::{from_sql_int, page_limit, to_sql_int, SqliteStore};

/// Pieces written per transaction (4 MiB).
const PIECES_PER_COMMIT: usize = 16;

const RELEASE_COLUMNS: &str =
    "component, target, version, sha256, size, rollback, published_unix_ms, signed";

pub(super) fn publish(
    store: &SqliteStore,
    release: &ReleaseRecord,
    package: &mut dyn Read,
) -> Result<(), StoreError> {
    if release.size > PACKAGE_MAX {
        return Err(StoreError::Invalid(format!(
            "package of {} bytes is larger than the {PACKAGE_MAX}-byte limit",
            release.size
        )));
    }
    let sha = &release.sha256[..];
    let size = to_sql_int(release.size, "package size")?;
    // A package already stored whole (an earlier release of the same bytes)
    // is only hashed again, to check the caller's numbers.
    let already_stored = store.write(|tx| {
        let complete: Option<bool> = tx
            .query_row(
                "SELECT complete FROM release_packages WHERE sha256 = ?1",
                [sha],
                |r| r.get(0),
            )
            .optional()?;
        if complete == Some(true) {
            return Ok(true);
        }
        // Leftovers of an upload that failed or was killed are replaced.
        tx.execute("DELETE FROM release_packages WHERE sha256 = ?1", [sha])?;
        tx.execute(
            "INSERT INTO release_packages (sha256, size, complete) VALUES (?1, ?2, 0)",
            params![sha, size],
        )?;
        Ok(false)
    })?;
    let uploaded = upload(store, release, package, already_stored);
    if let Err(error) = uploaded {
        if !already_stored {
            // Best effort: an unfinished package is never served anyway.
            let _ = store.write(|tx| {
                tx.execute(
                    "DELETE FROM release_packages WHERE sha256 = ?1 AND complete = 0",
                    [sha],
                )?;
                Ok(())
            });
        }
        return Err(error);
    }
    let signed = release.signed.to_bytes();
    store.write(|tx| {
        // Only if every byte is there: a concurrent publish of the same
        // package may have replaced the row (and its pieces) meanwhile.
        let marked = tx.execute(
            "UPDATE release_packages SET complete = 1 WHERE sha256 = ?1 AND size = ?2
               AND (SELECT COALESCE(SUM(length(data)), 0) FROM release_package_pieces
                    WHERE sha256 = ?1) = ?2",
            params![sha, size],
        )?;
        if marked != 1 {
            return Err(StoreError::Conflict(
                "the package was replaced while it was being stored; publish again".into(),
            ));
        }
        tx.execute(
            &format!(
                "INSERT INTO releases ({RELEASE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ),
            params![
                release.component,
                release.target,
                release.version,
                sha,
                size,
                release.rollback,
                to_sql_int(release.published_unix_ms, "publication time")?,
                signed,
            ],
        )?;
        Ok(())
    })
}

/// Reads the whole package, hashing it, and (unless it is stored already)
/// writes it in pieces. Refuses bytes beyond the stated size at once, and a
/// short package or a hash mismatch at the end.
fn upload(
    store: &SqliteStore,
    release: &ReleaseRecord,
    package: &mut dyn Read,
    already_stored: bool,
) -> Result<(), StoreError> {
    let mut hasher = Sha256::new();
    let mut received: u64 = 0;
    let mut batch: Vec<(i64, Vec<u8>)> = Vec::with_capacity(PIECES_PER_COMMIT);
    let mut piece_index: i64 = 0;
    loop {
        let piece = read_piece(package)?;
        if piece.is_empty() {
            break;
        }
        received = received.saturating_add(piece.len() as u64);
        if received > release.size {
            return Err(StoreError::Invalid(format!(
                "package is larger than the {} bytes its manifest states",
                release.size
            )));
        }
        hasher.update(&piece);
        if !already_stored {
            batch.push((piece_index, piece));
            if batch.len() == PIECES_PER_COMMIT {
                write_pieces(store, &release.sha256, &mut batch)?;
            }
        }
        piece_index += 1;
    }
    write_pieces(store, &release.sha256, &mut batch)?;
    if received != release.size {
        return Err(StoreError::Invalid(format!(
            "package is truncated: {received} of {} bytes",
            release.size
        )));
    }
    let digest: [u8; 32] = hasher.finalize().into();
    if digest != release.sha256 {
        return Err(StoreError::Invalid(
            "package SHA-256 does not match its manifest; it changed while being published".into(),
        ));
    }
    Ok(())
}

/// Up to one piece; shorter only at the end of the package.
fn read_piece(package: &mut dyn Read) -> Result<Vec<u8>, StoreError> {
    let mut piece = vec![0u8; PACKAGE_PIECE];
    let mut filled = 0;
    while filled < piece.len() {
        match package.read(&mut piece[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(StoreError::Invalid(format!("reading the package: {e}"))),
        }
    }
    piece.truncate(filled);
    Ok(piece)
}

fn write_pieces(
    store: &SqliteStore,
    sha256: &[u8; 32],
    batch: &mut Vec<(i64, Vec<u8>)>,
) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    store.write(|tx| {
        let mut insert = tx.prepare_cached(
            "INSERT INTO release_package_pieces (sha256, piece, data) VALUES (?1, ?2, ?3)",
        )?;
        for (index, data) in batch.iter() {
            insert.execute(params![&sha256[..], index, data])?;
        }
        Ok(())
    })?;
    batch.clear();
    Ok(())
}

pub(super) fn latest(
    tx: &Transaction<'_>,
    component: &str,
    target: &str,
) -> Result<Option<ReleaseRecord>, StoreError> {
    let row = tx
        .query_row(
            &format!(
                "SELECT id, {RELEASE_COLUMNS} FROM releases \
                 WHERE component = ?1 AND target = ?2 ORDER BY id DESC LIMIT 1"
            ),
            [component, target],
            ReleaseRow::read,
        )
        .optional()?;
    row.map(ReleaseRow::decode).transpose()
}

pub(super) fn set_freshness(
    tx: &Transaction<'_>,
    component: &str,
    target: &str,
    statement: &SignedFreshness,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO release_freshness (component, target, statement) VALUES (?1, ?2, ?3) \
         ON CONFLICT (component, target) DO UPDATE SET statement = excluded.statement",
        params![component, target, statement.to_bytes()],
    )?;
    Ok(())
}

pub(super) fn freshness(
    tx: &Transaction<'_>,
    component: &str,
    target: &str,
) -> Result<Option<SignedFreshness>, StoreError> {
    let bytes: Option<Vec<u8>> = tx
        .query_row(
            "SELECT statement FROM release_freshness WHERE component = ?1 AND target = ?2",
            [component, target],
            |r| r.get(0),
        )
        .optional()?;
    bytes
        .map(|b| {
            SignedFreshness::from_bytes(&b).map_err(|e| StoreError::Corrupt {
                table: "release_freshness",
                detail: e.to_string(),
            })
        })
        .transpose()
}

pub(super) fn list(tx: &Transaction<'_>, limit: usize) -> Result<Vec<ReleaseRecord>, StoreError> {
    let mut stmt = tx.prepare(&format!(
        "SELECT id, {RELEASE_COLUMNS} FROM releases ORDER BY id DESC LIMIT ?1"
    ))?;
    let rows = stmt.query_map([page_limit(limit)], ReleaseRow::read)?;
    rows.map(|row| row.map_err(StoreError::from).and_then(ReleaseRow::decode))
        .collect()
}

pub(super) fn slice(
    tx: &Transaction<'_>,
    sha256: &[u8; 32],
    offset: u64,
) -> Result<Option<PackageSlice>, StoreError> {
    let package: Option<(i64, bool)> = tx
        .query_row(
            "SELECT size, complete FROM release_packages WHERE sha256 = ?1",
            [&sha256[..]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((size, true)) = package else {
        return Ok(None);
    };
    let total = from_sql_int(size, "release_packages", "size")?;
    if offset >= total {
        return Ok(Some(PackageSlice {
            total,
            data: Vec::new(),
        }));
    }
    let piece_len = PACKAGE_PIECE as u64;
    let piece = to_sql_int(offset / piece_len, "package piece")?;
    // substr on a BLOB counts bytes from 1: only the rest of this one piece is read.
    let within = to_sql_int(offset % piece_len + 1, "package offset")?;
    let data: Vec<u8> = tx
        .query_row(
            "SELECT substr(data, ?3) FROM release_package_pieces WHERE sha256 = ?1 AND piece = ?2",
            params![&sha256[..], piece, within],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| StoreError::Corrupt {
            table: "release_package_pieces",
            detail: format!(
                "package {} lacks piece {piece}; publish it again",
                hex::encode(sha256)
            ),
        })?;
    Ok(Some(PackageSlice { total, data }))
}

struct ReleaseRow {
    id: i64,
    component: String,
    target: String,
    version: String,
    sha256: Vec<u8>,
    size: i64,
    rollback: bool,
    published_unix_ms: i64,
    signed: Vec<u8>,
}

impl ReleaseRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            component: row.get(1)?,
            target: row.get(2)?,
            version: row.get(3)?,
            sha256: row.get(4)?,
            size: row.get(5)?,
            rollback: row.get(6)?,
            published_unix_ms: row.get(7)?,
            signed: row.get(8)?,
        })
    }

    fn decode(self) -> Result<ReleaseRecord, StoreError> {
        let corrupt = |detail: String| StoreError::Corrupt {
            table: "releases",
            detail: format!("release {}: {detail}", self.id),
        };
        Ok(ReleaseRecord {
            sha256: self
                .sha256
                .as_slice()
                .try_into()
                .map_err(|_| corrupt("hash is not 32 bytes".into()))?,
            size: from_sql_int(self.size, "releases", "size")?,
            published_unix_ms: from_sql_int(self.published_unix_ms, "releases", "time")?,
            signed: SignedRelease::from_bytes(&self.signed)
                .map_err(|e| corrupt(format!("signed manifest: {e}")))?,
            rollback: self.rollback,
            component: self.component,
            target: self.target,
            version: self.version,
        })
    }
}
