//! Hosts and their presence history (R13). The registrant's e-mail and name,
//! the instrument ID and the serial number are sealed together as one value
//! bound to the host ID; the address a host connected from is sealed in each
//! presence row, bound to that row.

use assent_proto::identity::PublicIdentity;
use assent_proto::messages::signalling::{
    FileTransferInstall, HostId, EMAIL_MAX, INSTRUMENT_ID_MAX, NAME_MAX, SERIAL_NUMBER_MAX,
};
use assent_proto::wire::{Field, Text};
use rand_core::OsRng;
use rusqlite::{params, OptionalExtension, Row, ToSql, Transaction};
use zeroize::Zeroizing;

use super::super::sealing::{Cell, ColumnSealer};
use super::super::{
    generate_host_id, HostRecord, HostRegistration, PresenceEvent, PresenceRecord, StoreError,
    SOURCE_MAX,
};
use super::{from_sql_int, page_limit, to_sql_int};

/// Fresh host IDs tried before giving up (a collision is ~1 in 10^11 per try).
const HOST_ID_ATTEMPTS: usize = 8;

assent_proto::wire_struct! {
    /// The sealed part of a host's registration, as one value.
    pub struct Registrant {
        pub email: Text<EMAIL_MAX>,
        pub name: Text<NAME_MAX>,
        pub instrument_id: Text<INSTRUMENT_ID_MAX>,
        pub serial_number: Text<SERIAL_NUMBER_MAX>,
    }
}

const HOST_COLUMNS: &str = "host_id, host_key, instrument_model, registrant, file_transfer, \
                            enrolled_unix_ms, online, last_seen_unix_ms";

/// A `hosts` row as stored, before it is checked and unsealed.
struct HostRow {
    host_id: String,
    host_key: Vec<u8>,
    instrument_model: String,
    registrant: Vec<u8>,
    file_transfer: i64,
    enrolled_unix_ms: i64,
    online: bool,
    last_seen_unix_ms: Option<i64>,
}

impl HostRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            host_id: row.get(0)?,
            host_key: row.get(1)?,
            instrument_model: row.get(2)?,
            registrant: row.get(3)?,
            file_transfer: row.get(4)?,
            enrolled_unix_ms: row.get(5)?,
            online: row.get(6)?,
            last_seen_unix_ms: row.get(7)?,
        })
    }

    fn decode(self, sealer: &ColumnSealer) -> Result<HostRecord, StoreError> {
        let corrupt = |detail: String| StoreError::Corrupt {
            table: "hosts",
            detail: format!("host {}: {detail}", self.host_id),
        };
        let host_key = PublicIdentity::from_spki_der(&self.host_key)
            .map_err(|e| corrupt(format!("host key: {e}")))?;
        let instrument_model =
            Text::new(self.instrument_model.clone()).map_err(|e| corrupt(e.to_string()))?;
        let sealed = sealer.open(
            &Cell::new("hosts", "registrant", &self.host_id),
            &self.registrant,
        )?;
        let registrant =
            Registrant::from_bytes(&sealed).map_err(|e| corrupt(format!("registrant: {e}")))?;
        let file_transfer = u8::try_from(self.file_transfer)
            .ok()
            .and_then(|code| FileTransferInstall::from_bytes(&[code]).ok())
            .ok_or_else(|| corrupt(format!("file transfer code {}", self.file_transfer)))?;
        let enrolled_unix_ms = from_sql_int(self.enrolled_unix_ms, "hosts", "enrolment time")?;
        let last_seen_unix_ms = self
            .last_seen_unix_ms
            .map(|t| from_sql_int(t, "hosts", "last seen time"))
            .transpose()?;
        let host_id = HostId::new(self.host_id.clone()).map_err(|e| corrupt(e.to_string()))?;
        Ok(HostRecord {
            host_id,
            registration: HostRegistration {
                registrant_email: registrant.email,
                registrant_name: registrant.name,
                instrument_model,
                instrument_id: registrant.instrument_id,
                serial_number: registrant.serial_number,
                host_key,
                file_transfer,
                enrolled_unix_ms,
            },
            online: self.online,
            last_seen_unix_ms,
        })
    }
}

pub(super) fn enroll(
    tx: &Transaction<'_>,
    sealer: &ColumnSealer,
    registration: &HostRegistration,
) -> Result<HostRecord, StoreError> {
    let fingerprint = registration.host_key.fingerprint();
    let enrolled = to_sql_int(registration.enrolled_unix_ms, "enrolment time")?;
    let existing: Option<String> = tx
        .query_row(
            "SELECT host_id FROM hosts WHERE host_key_fingerprint = ?1",
            [&fingerprint.0[..]],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(existing) = existing {
        return Err(StoreError::Conflict(format!(
            "host key {fingerprint} is already enrolled as host {existing}; a host enrols once, then logs in with its host ID"
        )));
    }
    let registrant = Zeroizing::new(
        Registrant {
            email: registration.registrant_email.clone(),
            name: registration.registrant_name.clone(),
            instrument_id: registration.instrument_id.clone(),
            serial_number: registration.serial_number.clone(),
        }
        .to_bytes(),
    );
    for _ in 0..HOST_ID_ATTEMPTS {
        let host_id = generate_host_id(&mut OsRng);
        if is_enrolled(tx, &host_id)? {
            continue;
        }
        let cell = Cell::new("hosts", "registrant", &host_id);
        let sealed = sealer.seal(&mut OsRng, &cell, &registrant)?;
        tx.execute(
            "INSERT INTO hosts (host_id, host_key_fingerprint, host_key, instrument_model, \
             registrant, file_transfer, enrolled_unix_ms, online, last_seen_unix_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, FALSE, NULL)",
            params![
                host_id.as_str(),
                &fingerprint.0[..],
                registration.host_key.spki_der(),
                registration.instrument_model.as_str(),
                sealed,
                registration.file_transfer as u8,
                enrolled,
            ],
        )?;
        return Ok(HostRecord {
            host_id,
            registration: registration.clone(),
            online: false,
            last_seen_unix_ms: None,
        });
    }
    Err(StoreError::Conflict(format!(
        "no free host ID after {HOST_ID_ATTEMPTS} tries; check the random number generator"
    )))
}

/// The host whose `column` equals `value` (`host_id` or `host_key_fingerprint`).
pub(super) fn find(
    tx: &Transaction<'_>,
    sealer: &ColumnSealer,
    column: &'static str,
    value: &dyn ToSql,
) -> Result<Option<HostRecord>, StoreError> {
    let sql = format!("SELECT {HOST_COLUMNS} FROM hosts WHERE {column} = ?1");
    tx.query_row(&sql, [value], HostRow::read)
        .optional()?
        .map(|row| row.decode(sealer))
        .transpose()
}

pub(super) fn list(
    tx: &Transaction<'_>,
    sealer: &ColumnSealer,
) -> Result<Vec<HostRecord>, StoreError> {
    let sql = format!("SELECT {HOST_COLUMNS} FROM hosts ORDER BY host_id");
    let mut stmt = tx.prepare(&sql)?;
    let rows = stmt.query_map([], HostRow::read)?;
    rows.map(|row| row?.decode(sealer)).collect()
}

fn is_enrolled(tx: &Transaction<'_>, host_id: &str) -> Result<bool, StoreError> {
    Ok(tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM hosts WHERE host_id = ?1)",
        [host_id],
        |r| r.get(0),
    )?)
}

fn require_host(tx: &Transaction<'_>, host_id: &str) -> Result<(), StoreError> {
    if is_enrolled(tx, host_id)? {
        Ok(())
    } else {
        Err(StoreError::NotFound {
            what: "host",
            key: host_id.to_owned(),
        })
    }
}

pub(super) fn record_presence(
    tx: &Transaction<'_>,
    sealer: &ColumnSealer,
    host_id: &str,
    event: PresenceEvent,
    at_unix_ms: u64,
    source: &str,
) -> Result<(), StoreError> {
    if source.len() > SOURCE_MAX {
        return Err(StoreError::Invalid(format!(
            "connection source of {} bytes exceeds {SOURCE_MAX}",
            source.len()
        )));
    }
    let at = to_sql_int(at_unix_ms, "presence time")?;
    require_host(tx, host_id)?;
    tx.execute(
        "UPDATE hosts SET online = ?2, \
         last_seen_unix_ms = MAX(COALESCE(last_seen_unix_ms, ?3), ?3) \
         WHERE host_id = ?1",
        params![host_id, event == PresenceEvent::Online, at],
    )?;
    // The row ID is chosen here so the sealed source can be bound to it.
    let id: i64 = tx.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM presence", [], |r| {
        r.get(0)
    })?;
    let row = id.to_string();
    let sealed = sealer.seal(
        &mut OsRng,
        &Cell::new("presence", "source", &row),
        source.as_bytes(),
    )?;
    tx.execute(
        "INSERT INTO presence (id, host_id, event, at_unix_ms, source) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, host_id, presence_code(event), at, sealed],
    )?;
    Ok(())
}

pub(super) fn presence_history(
    tx: &Transaction<'_>,
    sealer: &ColumnSealer,
    host_id: &str,
    limit: usize,
) -> Result<Vec<PresenceRecord>, StoreError> {
    require_host(tx, host_id)?;
    let mut stmt = tx.prepare(
        "SELECT id, event, at_unix_ms, source FROM presence \
         WHERE host_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![host_id, page_limit(limit)], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, Vec<u8>>(3)?,
        ))
    })?;
    rows.map(|row| {
        let (id, event, at, sealed) = row?;
        let corrupt = |detail: String| StoreError::Corrupt {
            table: "presence",
            detail: format!("row {id}: {detail}"),
        };
        let event =
            presence_event(event).ok_or_else(|| corrupt(format!("unknown event code {event}")))?;
        let source = sealer.open(&Cell::new("presence", "source", &id.to_string()), &sealed)?;
        let source = String::from_utf8(source.to_vec())
            .map_err(|_| corrupt("source is not UTF-8".into()))?;
        Ok(PresenceRecord {
            event,
            at_unix_ms: from_sql_int(at, "presence", "time")?,
            source,
        })
    })
    .collect()
}

fn presence_code(event: PresenceEvent) -> i64 {
    match event {
        PresenceEvent::Online => 1,
        PresenceEvent::Offline => 2,
    }
}

fn presence_event(code: i64) -> Option<PresenceEvent> {
    match code {
        1 => Some(PresenceEvent::Online),
        2 => Some(PresenceEvent::Offline),
        _ => None,
    }
}
