//! A logged-in host's signalling (R9, R6, R12, R15, R16): open and close
//! support requests, fetch the signed allowlist, report failed handshakes,
//! audit events and notifications, and fetch signed releases and their
//! packages. Each report is durable before it is acknowledged.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use assent_net::{FramedRecv, FramedSend};
use assent_proto::lockout::LockoutError;
use assent_proto::messages::audit_event::AuditEvent;
use assent_proto::messages::signalling::{
    Ack, AllowListDocument, AuthFailureReport, NotificationSeq, PackageChunk, PackageRequest,
    RelayErrorCode, ReleaseOffer, SignallingMessage, SupportOpened,
};
use assent_proto::wire::Bytes;
use tracing::{debug, info, warn};

use super::lockouts::LockoutScope;
use super::{network_of, now_unix_ms, refuse, text, HostLink, RelayState, ServerError};
use crate::board::BoardError;
use crate::store::{HostRecord, NotificationIntake, PresenceEvent, StoreError};

pub(crate) async fn serve(
    state: &Arc<RelayState>,
    connection: &quinn::Connection,
    host: HostRecord,
    send: &mut FramedSend,
    recv: &mut FramedRecv,
    source: IpAddr,
) -> Result<(), ServerError> {
    let host_id = host.host_id.to_string();
    let result = serve_requests(state, connection, &host_id, send, recv).await;
    // Whatever ended the connection: the request closes and the host is offline.
    state
        .board
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .close_host(&host_id);
    let id = host_id.clone();
    let source = source.to_string();
    let _ = state
        .with_store(move |store| {
            store.record_presence(&id, PresenceEvent::Offline, now_unix_ms(), &source)
        })
        .await;
    info!(%host_id, "host offline");
    result
}

async fn serve_requests(
    state: &Arc<RelayState>,
    connection: &quinn::Connection,
    host_id: &str,
    send: &mut FramedSend,
    recv: &mut FramedRecv,
) -> Result<(), ServerError> {
    loop {
        let frame = match recv.recv().await? {
            Some(frame) => frame,
            None => return Ok(()),
        };
        let message = match SignallingMessage::decode(&frame) {
            Ok(message) => message,
            Err(e) => {
                send.send(&assent_proto::messages::signalling::RelayError::from_decode_error(&e))
                    .await?;
                continue;
            }
        };
        match message {
            SignallingMessage::SupportOpen(open) => {
                let link = HostLink {
                    host_id: host_id.to_owned(),
                    connection: connection.clone(),
                };
                let opened = state.board.lock().unwrap_or_else(|p| p.into_inner()).open(
                    host_id,
                    open.session_id,
                    link,
                    Instant::now(),
                );
                match opened {
                    Ok(expires_at) => {
                        info!(%host_id, "support request opened");
                        let secs = expires_at
                            .saturating_duration_since(Instant::now())
                            .as_secs();
                        send.send(&SupportOpened {
                            session_id: open.session_id,
                            expires_in_secs: u32::try_from(secs).unwrap_or(u32::MAX),
                        })
                        .await?;
                    }
                    Err(e @ BoardError::Full) => {
                        refuse(send, RelayErrorCode::Unavailable, &e.to_string(), Some(60)).await?
                    }
                    Err(e) => refuse(send, RelayErrorCode::Internal, &e.to_string(), None).await?,
                }
            }
            SignallingMessage::SupportClose(close) => {
                let closed = state
                    .board
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .close_host(host_id);
                if let Some((session_id, _)) = closed {
                    state
                        .paired
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&session_id);
                    state
                        .audit
                        .record(AuditEvent::SessionEnded {
                            host_id: text(host_id),
                            session_id,
                            reason: text(&format!("{:?}", close.reason)),
                        })
                        .await?;
                }
                send.send(&Ack {}).await?;
            }
            SignallingMessage::AllowListRequest(request) => {
                let latest = state
                    .with_store(|store| store.latest_signed_allowlist())
                    .await?;
                match latest {
                    Some(stored) if Some(stored.serial) > request.known_serial => {
                        send.send(&AllowListDocument {
                            list: stored.document,
                        })
                        .await?
                    }
                    Some(_) => send.send(&Ack {}).await?,
                    None => {
                        refuse(
                            send,
                            RelayErrorCode::NotFound,
                            "no allowlist has been published yet; the operator must run `assent-relay allowlist add`",
                            None,
                        )
                        .await?
                    }
                }
            }
            SignallingMessage::AuthFailureReport(report) => {
                auth_failure(state, host_id, &report).await?;
                send.send(&Ack {}).await?;
            }
            SignallingMessage::AuditReport(report) => {
                let kind = report.event.kind();
                if let Some(reason) = report_refusal(host_id, &report.event) {
                    warn!(%host_id, kind, reason, "audit report refused");
                    refuse(send, RelayErrorCode::Unauthorized, reason, None).await?;
                    continue;
                }
                // R21: the record carries the relay's clock; the host's claim
                // is only logged (the sealed record has no field for it).
                debug!(%host_id, kind, host_clock_unix_ms = report.occurred_unix_ms, "host audit report");
                state.audit.record(report.event).await?;
                send.send(&Ack {}).await?;
            }
            SignallingMessage::Notification(notification) => {
                let severity = notification.severity;
                let id = host_id.to_owned();
                let stored = state
                    .with_store(move |store| {
                        store.record_notification(&id, &notification, now_unix_ms())
                    })
                    .await;
                if let Some(recorded) = acknowledge(send, stored).await? {
                    if recorded {
                        state.metrics.notification_raised(severity);
                    }
                }
            }
            SignallingMessage::NotificationCleared(cleared) => {
                let id = host_id.to_owned();
                let stored = state
                    .with_store(move |store| {
                        store.record_notification_cleared(&id, &cleared, now_unix_ms())
                    })
                    .await;
                if acknowledge(send, stored).await? == Some(true) {
                    state.metrics.notification_cleared();
                }
            }
            SignallingMessage::ReleaseQuery(query) => {
                info!(%host_id, component = %query.component, target = %query.target, installed = %query.installed_version, "host asks for releases");
                let (latest, freshness) = state
                    .with_store(move |store| {
                        Ok((
                            store.latest_release(&query.component, &query.target)?,
                            store.release_freshness(&query.component, &query.target)?,
                        ))
                    })
                    .await?;
                send.send(&ReleaseOffer {
                    release: latest.map(|record| record.signed),
                    freshness,
                })
                .await?;
            }
            SignallingMessage::PackageRequest(request) => {
                package_chunk(state, send, request).await?;
            }
            SignallingMessage::NotificationSeqQuery(_) => {
                let id = host_id.to_owned();
                let last_seq = state
                    .with_store(move |store| store.notification_last_seq(&id))
                    .await?;
                send.send(&NotificationSeq { last_seq }).await?;
            }
            other => {
                refuse(
                    send,
                    RelayErrorCode::Malformed,
                    &format!("a host cannot send {:?}", other.message_type()),
                    None,
                )
                .await?
            }
        }
    }
}

/// R12/R21: why a host may not write `event` into the audit log, if it may
/// not. A host reports only events that name it, and only of the kinds a
/// host witnesses ([`AuditEvent::reportable_by_host`]); relay-wide and
/// relay-only kinds (intrusion alarms, grants, lockouts) are the relay's.
fn report_refusal(host_id: &str, event: &AuditEvent) -> Option<&'static str> {
    if !event.reportable_by_host() {
        Some("a host may not report this kind of audit event; the relay records it itself")
    } else if event.host_id() != Some(host_id) {
        Some("a host may only report its own events")
    } else {
        None
    }
}

/// R15: answers a notification report once the store has it: `Ack` (also
/// for a re-sent one, which is stored once), or a refusal when the host is
/// at its bound. `Some(true)` when the report changed the store.
async fn acknowledge(
    send: &mut FramedSend,
    stored: Result<NotificationIntake, ServerError>,
) -> Result<Option<bool>, ServerError> {
    match stored {
        Ok(intake) => {
            send.send(&Ack {}).await?;
            Ok(Some(matches!(intake, NotificationIntake::Recorded { .. })))
        }
        Err(ServerError::Store(StoreError::Full(message))) => {
            refuse(send, RelayErrorCode::Unavailable, &message, None).await?;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// R16: the next piece of a published package, read from the store in one
/// bounded piece. Only whole, published packages are served.
async fn package_chunk(
    state: &Arc<RelayState>,
    send: &mut FramedSend,
    request: PackageRequest,
) -> Result<(), ServerError> {
    let PackageRequest { sha256, offset } = request;
    let slice = state
        .with_store(move |store| store.package_slice(&sha256, offset))
        .await?;
    let Some(slice) = slice else {
        return refuse(
            send,
            RelayErrorCode::NotFound,
            &format!(
                "no published package has SHA-256 {}; ask for the current release again",
                hex::encode(sha256)
            ),
            None,
        )
        .await;
    };
    let data = Bytes::new(slice.data)
        .map_err(|e| ServerError::Internal(format!("stored package piece too large: {e}")))?;
    send.send(&PackageChunk {
        offset,
        total: slice.total,
        data,
    })
    .await?;
    Ok(())
}

/// R6/R14: the host saw a handshake fail (the relay cannot). The failure
/// counts against the viewer identity, its network and the session; the
/// viewer is unpaired and must ask again (and wait).
async fn auth_failure(
    state: &Arc<RelayState>,
    host_id: &str,
    report: &AuthFailureReport,
) -> Result<(), ServerError> {
    let paired = state
        .paired
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&report.session_id)
        .copied();
    // Only a session of this host, with the viewer it was paired with, counts.
    let owned = state
        .board
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .host_for(&report.session_id, &report.viewer)
        .is_ok_and(|link| link.host_id == host_id);
    let Some(paired) = paired.filter(|p| owned && p.viewer == report.viewer) else {
        return Ok(());
    };
    state.metrics.auth_failure();
    let network = network_of(
        paired.source,
        state.settings.network_prefix_v4,
        state.settings.network_prefix_v6,
    );
    let outcome = state
        .lockouts
        .record_failure(&[
            LockoutScope::Viewer(paired.viewer),
            LockoutScope::Source(network),
            LockoutScope::Session(report.session_id),
        ])
        .await?;
    let failures = match outcome {
        LockoutError::Locked { failures, .. } | LockoutError::Burned { failures } => failures,
    };
    state
        .audit
        .record(AuditEvent::AuthenticationFailed {
            host_id: text(host_id),
            viewer: *paired.viewer.as_bytes(),
            source: text(&paired.source.to_string()),
            failures,
        })
        .await?;
    state.metrics.lockout();
    let (wait_secs, burned) = match outcome {
        LockoutError::Locked { remaining, .. } => (remaining.as_secs().max(1), false),
        LockoutError::Burned { .. } => (0, true),
    };
    state
        .audit
        .record(AuditEvent::LockedOut {
            host_id: text(host_id),
            viewer: *paired.viewer.as_bytes(),
            source: text(&paired.source.to_string()),
            failures,
            wait_secs,
            burned,
        })
        .await?;
    info!(%host_id, viewer = %paired.viewer, failures, wait_secs, burned, "failed handshake; locked out");
    state
        .board
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .unpair(&report.session_id);
    let event = state
        .ids
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .on_viewer_auth_failure(paired.viewer, paired.source, host_id, Instant::now());
    if let Some(event) = event {
        state.report_ids(event).await;
    }
    Ok(())
}
