//! Host notifications (R15) in SQLite: the active set per host, the event
//! log `watch` follows, and each host's last accepted `seq`. Notification
//! IDs are found by keyed hash; every body (ID, title, detail…) is sealed,
//! bound to its row.

use assent_proto::messages::notification::{Notification, NotificationCleared, Severity};
use assent_proto::wire::Field;
use rand_core::OsRng;
use rusqlite::{params, OptionalExtension, Transaction};

use super::super::notifications::severity_rank;
use super::super::sealing::{Cell, ColumnSealer};
use super::super::{
    ActiveNotification, ActiveSnapshot, NotificationChange, NotificationEvent, NotificationFilter,
    NotificationIntake, NotificationLimits, StoreError,
};
use super::{from_sql_int, page_limit, to_sql_int};

const RAISED: i64 = 1;
const CLEARED: i64 = 2;

/// The highest `seq` accepted from `host_id`, if any.
pub(super) fn last_seq(tx: &Transaction<'_>, host_id: &str) -> Result<Option<u64>, StoreError> {
    let last: Option<i64> = tx
        .query_row(
            "SELECT last_seq FROM notification_hosts WHERE host_id = ?1",
            [host_id],
            |r| r.get(0),
        )
        .optional()?;
    last.map(|last| from_sql_int(last, "notification_hosts", "seq"))
        .transpose()
}

/// The report's place in the host's sequence: `Err` with the intake to
/// return when it was seen before.
fn check_seq(
    tx: &Transaction<'_>,
    host_id: &str,
    seq: u64,
) -> Result<Result<(), NotificationIntake>, StoreError> {
    Ok(match last_seq(tx, host_id)? {
        Some(last_seq) if seq <= last_seq => Err(NotificationIntake::Duplicate { last_seq }),
        _ => Ok(()),
    })
}

fn accept_seq(tx: &Transaction<'_>, host_id: &str, seq: u64) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO notification_hosts (host_id, last_seq) VALUES (?1, ?2) \
         ON CONFLICT (host_id) DO UPDATE SET last_seq = excluded.last_seq",
        params![host_id, to_sql_int(seq, "notification seq")?],
    )?;
    Ok(())
}

fn id_index(sealer: &ColumnSealer, host_id: &str, id: &str) -> [u8; 32] {
    sealer.blind_index("notification", &[host_id.as_bytes(), id.as_bytes()])
}

fn active_row(host_id: &str, index: &[u8]) -> String {
    format!("{host_id}/{}", hex::encode(index))
}

fn event_row(host_id: &str, seq: u64) -> String {
    format!("{host_id}/{seq}")
}

/// Appends to the log and prunes the host's oldest events beyond the limit.
#[allow(clippy::too_many_arguments)]
fn log_event(
    tx: &Transaction<'_>,
    sealer: &ColumnSealer,
    limits: &NotificationLimits,
    host_id: &str,
    seq: u64,
    change: i64,
    severity: Severity,
    at_unix_ms: u64,
    body: &[u8],
) -> Result<u64, StoreError> {
    let sealed = sealer.seal(
        &mut OsRng,
        &Cell::new("notification_events", "body", &event_row(host_id, seq)),
        body,
    )?;
    tx.execute(
        "INSERT INTO notification_events (host_id, seq, change, severity, recorded_unix_ms, body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            host_id,
            to_sql_int(seq, "notification seq")?,
            change,
            severity_rank(severity),
            to_sql_int(at_unix_ms, "notification time")?,
            sealed
        ],
    )?;
    let event = from_sql_int(tx.last_insert_rowid(), "notification_events", "event")?;
    let keep = i64::try_from(limits.history_per_host).unwrap_or(i64::MAX);
    tx.execute(
        "DELETE FROM notification_events WHERE host_id = ?1 AND event <= \
         (SELECT event FROM notification_events WHERE host_id = ?1 \
          ORDER BY event DESC LIMIT 1 OFFSET ?2)",
        params![host_id, keep],
    )?;
    Ok(event)
}

pub(super) fn raise(
    tx: &Transaction<'_>,
    sealer: &ColumnSealer,
    limits: &NotificationLimits,
    host_id: &str,
    notification: &Notification,
    now_ms: u64,
) -> Result<NotificationIntake, StoreError> {
    if let Err(duplicate) = check_seq(tx, host_id, notification.seq)? {
        return Ok(duplicate);
    }
    let index = id_index(sealer, host_id, &notification.id);
    let replaces = tx
        .query_row(
            "SELECT 1 FROM active_notifications WHERE host_id = ?1 AND notification = ?2",
            params![host_id, &index[..]],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !replaces {
        let active: i64 = tx.query_row(
            "SELECT count(*) FROM active_notifications WHERE host_id = ?1",
            [host_id],
            |r| r.get(0),
        )?;
        if usize::try_from(active).unwrap_or(usize::MAX) >= limits.active_per_host {
            return Err(StoreError::Full(format!(
                "host {host_id} already has {active} active notifications, the most the relay keeps per host; clear some before raising new ones"
            )));
        }
    }
    let body = notification.to_bytes();
    let sealed = sealer.seal(
        &mut OsRng,
        &Cell::new("active_notifications", "body", &active_row(host_id, &index)),
        &body,
    )?;
    tx.execute(
        "INSERT INTO active_notifications (host_id, notification, severity, received_unix_ms, body) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (host_id, notification) DO UPDATE SET \
         severity = excluded.severity, received_unix_ms = excluded.received_unix_ms, body = excluded.body",
        params![
            host_id,
            &index[..],
            severity_rank(notification.severity),
            to_sql_int(now_ms, "notification time")?,
            sealed
        ],
    )?;
    let event = log_event(
        tx,
        sealer,
        limits,
        host_id,
        notification.seq,
        RAISED,
        notification.severity,
        now_ms,
        &body,
    )?;
    accept_seq(tx, host_id, notification.seq)?;
    Ok(NotificationIntake::Recorded { event })
}

pub(super) fn clear(
    tx: &Transaction<'_>,
    sealer: &ColumnSealer,
    limits: &NotificationLimits,
    host_id: &str,
    cleared: &NotificationCleared,
    now_ms: u64,
) -> Result<NotificationIntake, StoreError> {
    if let Err(duplicate) = check_seq(tx, host_id, cleared.seq)? {
        return Ok(duplicate);
    }
    accept_seq(tx, host_id, cleared.seq)?;
    let index = id_index(sealer, host_id, &cleared.id);
    let severity: Option<i64> = tx
        .query_row(
            "DELETE FROM active_notifications WHERE host_id = ?1 AND notification = ?2 \
             RETURNING severity",
            params![host_id, &index[..]],
            |r| r.get(0),
        )
        .optional()?;
    let Some(severity) = severity else {
        return Ok(NotificationIntake::NothingActive);
    };
    let severity = decode_severity(severity, "active_notifications")?;
    let event = log_event(
        tx,
        sealer,
        limits,
        host_id,
        cleared.seq,
        CLEARED,
        severity,
        now_ms,
        &cleared.to_bytes(),
    )?;
    Ok(NotificationIntake::Recorded { event })
}

fn decode_severity(value: i64, table: &'static str) -> Result<Severity, StoreError> {
    u8::try_from(value)
        .ok()
        .and_then(|v| Severity::from_bytes(&[v]).ok())
        .ok_or_else(|| StoreError::Corrupt {
            table,
            detail: format!("unknown severity {value}"),
        })
}

fn min_rank(filter: &NotificationFilter) -> u8 {
    filter.min_severity.map_or(0, severity_rank)
}

pub(super) fn active(
    tx: &Transaction<'_>,
    sealer: &ColumnSealer,
    filter: &NotificationFilter,
    limit: usize,
) -> Result<ActiveSnapshot, StoreError> {
    let last_event: i64 = tx.query_row(
        "SELECT coalesce(max(event), 0) FROM notification_events",
        [],
        |r| r.get(0),
    )?;
    let limit = page_limit(limit);
    // Ties in the millisecond go by arrival (rowid): `notification` is a
    // keyed hash, so ordering by it shuffled notifications stored together.
    let mut stmt = tx.prepare(
        "SELECT host_id, notification, received_unix_ms, body FROM active_notifications \
         WHERE (?1 IS NULL OR host_id = ?1) AND severity >= ?2 \
         ORDER BY host_id, received_unix_ms, rowid LIMIT ?3",
    )?;
    let rows = stmt.query_map(
        params![filter.host_id, min_rank(filter), limit.saturating_add(1)],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        },
    )?;
    let mut notifications = Vec::new();
    let mut truncated = false;
    for row in rows {
        let (host_id, index, received, sealed) = row?;
        if notifications.len() as i64 >= limit {
            truncated = true;
            break;
        }
        let cell_row = active_row(&host_id, &index);
        let plain = sealer.open(
            &Cell::new("active_notifications", "body", &cell_row),
            &sealed,
        )?;
        let notification = Notification::from_bytes(&plain).map_err(|e| StoreError::Corrupt {
            table: "active_notifications",
            detail: format!("{cell_row}: {e}"),
        })?;
        notifications.push(ActiveNotification {
            host_id,
            notification,
            received_unix_ms: from_sql_int(received, "active_notifications", "time")?,
        });
    }
    Ok(ActiveSnapshot {
        notifications,
        last_event: from_sql_int(last_event, "notification_events", "event")?,
        truncated,
    })
}

pub(super) fn events(
    tx: &Transaction<'_>,
    sealer: &ColumnSealer,
    after_event: u64,
    filter: &NotificationFilter,
    limit: usize,
) -> Result<Vec<NotificationEvent>, StoreError> {
    // Beyond i64::MAX nothing is stored, so nothing comes after it.
    let Ok(after) = i64::try_from(after_event) else {
        return Ok(Vec::new());
    };
    let mut stmt = tx.prepare_cached(
        "SELECT event, host_id, seq, change, severity, recorded_unix_ms, body \
         FROM notification_events \
         WHERE event > ?1 AND (?2 IS NULL OR host_id = ?2) AND severity >= ?3 \
         ORDER BY event LIMIT ?4",
    )?;
    let rows = stmt.query_map(
        params![after, filter.host_id, min_rank(filter), page_limit(limit)],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, Vec<u8>>(6)?,
            ))
        },
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (event, host_id, seq, change, severity, recorded, sealed) = row?;
        let seq = from_sql_int(seq, "notification_events", "seq")?;
        let cell_row = event_row(&host_id, seq);
        let plain = sealer.open(
            &Cell::new("notification_events", "body", &cell_row),
            &sealed,
        )?;
        let corrupt = |detail: String| StoreError::Corrupt {
            table: "notification_events",
            detail: format!("event {event}: {detail}"),
        };
        let change = match change {
            RAISED => NotificationChange::Raised(
                Notification::from_bytes(&plain).map_err(|e| corrupt(e.to_string()))?,
            ),
            CLEARED => NotificationChange::Cleared {
                cleared: NotificationCleared::from_bytes(&plain)
                    .map_err(|e| corrupt(e.to_string()))?,
                severity: decode_severity(severity, "notification_events")?,
            },
            other => return Err(corrupt(format!("unknown change {other}"))),
        };
        out.push(NotificationEvent {
            event: from_sql_int(event, "notification_events", "event")?,
            host_id,
            recorded_unix_ms: from_sql_int(recorded, "notification_events", "time")?,
            change,
        });
    }
    Ok(out)
}
