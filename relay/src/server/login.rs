//! Logging in (R4, R7, R8): every client proves its key by signing a fresh
//! challenge. Hosts enrol once, with an operator's one-time token, or log in
//! as an enrolled host; viewers must be
//! on the allowlist, not locked out, and at a confirmed location — all decided
//! here, before any host learns the viewer exists.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use assent_net::{FramedRecv, FramedSend};
use assent_proto::allowlist::AllowListEntry;
use assent_proto::identity::Fingerprint;
use assent_proto::messages::audit_event::AuditEvent;
use assent_proto::messages::signalling::{
    ClientRole, EnrollAccepted, EnrollRequest, EnrolmentToken, FileTransferInstall,
    LocationChallenge, LoginAccepted, RelayChallenge, RelayErrorCode, RelayHello,
    SignallingMessage,
};
use rand_core::{OsRng, RngCore};
use tracing::info;

use super::lockouts::LockoutScope;
use super::{network_of, next_frame, now_unix_ms, refuse, text, RelayState, ServerError};
use crate::notifier::{code_hash, LocationCode, LocationCodeMessage};
use crate::store::{
    CodeRedemption, EnrolmentOutcome, EnrolmentRefusal, HostRecord, HostRegistration, Location,
    PendingCode, PresenceEvent, StoreError,
};
use assent_proto::messages::signalling::RelayError;

/// Who a client turned out to be.
pub(crate) enum LoggedIn {
    Host(HostRecord),
    Viewer(ViewerSession),
}

/// A logged-in engineer.
#[derive(Debug, Clone)]
pub(crate) struct ViewerSession {
    pub fingerprint: Fingerprint,
    pub entry: AllowListEntry,
}

fn refused(code: RelayErrorCode, message: &str) -> ServerError {
    ServerError::Refused(RelayError::new(code, message, None))
}

pub(crate) async fn login(
    state: &Arc<RelayState>,
    send: &mut FramedSend,
    recv: &mut FramedRecv,
    source: IpAddr,
) -> Result<LoggedIn, ServerError> {
    let hello: RelayHello = match SignallingMessage::decode(&next_frame(recv).await?) {
        Ok(SignallingMessage::RelayHello(hello)) => hello,
        _ => {
            return Err(refused(
                RelayErrorCode::Malformed,
                "expected RelayHello first",
            ))
        }
    };
    let mut nonce = [0u8; 32];
    OsRng.fill_bytes(&mut nonce);
    let challenge = RelayChallenge { nonce };
    send.send(&challenge).await?;

    let frame = next_frame(recv).await?;
    let message = SignallingMessage::decode(&frame)
        .map_err(|e| ServerError::Refused(RelayError::from_decode_error(&e)))?;
    match (hello.role, message) {
        (ClientRole::Host, SignallingMessage::EnrollRequest(request)) => {
            enrol_host(state, send, source, &challenge, &request).await
        }
        (ClientRole::Host, SignallingMessage::HostLogin(login)) => {
            let host_id = login.host_id.to_string();
            let record = state
                .with_store(move |store| store.host(&host_id))
                .await?
                .ok_or_else(|| {
                    refused(RelayErrorCode::NotFound, "no host is enrolled with that ID")
                })?;
            login
                .verify(&challenge, &record.registration.host_key)
                .map_err(|_| {
                    refused(
                        RelayErrorCode::Unauthorized,
                        "host login signature does not verify",
                    )
                })?;
            send.send(&LoginAccepted {
                relay_unix_ms: now_unix_ms(),
            })
            .await?;
            host_online(state, &record, source).await?;
            Ok(LoggedIn::Host(record))
        }
        (ClientRole::Viewer, SignallingMessage::ViewerLogin(login)) => {
            login.verify(&challenge).map_err(|_| {
                refused(
                    RelayErrorCode::Unauthorized,
                    "viewer login signature does not verify",
                )
            })?;
            let fingerprint = login.viewer_key.fingerprint();
            let entry = allowed_viewer(state, fingerprint, source).await?;
            let network = network_of(
                source,
                state.settings.network_prefix_v4,
                state.settings.network_prefix_v6,
            );
            state
                .lockouts
                .check(&[
                    LockoutScope::Viewer(fingerprint),
                    LockoutScope::Source(network.clone()),
                ])
                .await
                .map_err(|locked| {
                    ServerError::Refused(RelayError::new(
                        RelayErrorCode::LockedOut,
                        &locked.to_string(),
                        retry_after(&locked),
                    ))
                })?;
            let location = Location {
                viewer: fingerprint,
                device_id: login.device_id,
                network,
            };
            confirm_location(state, send, recv, &entry, location).await?;
            send.send(&LoginAccepted {
                relay_unix_ms: now_unix_ms(),
            })
            .await?;
            info!(viewer = %fingerprint, "engineer logged in");
            Ok(LoggedIn::Viewer(ViewerSession { fingerprint, entry }))
        }
        (role, other) => Err(refused(
            RelayErrorCode::Malformed,
            &format!("{:?} cannot log in with {:?}", role, other.message_type()),
        )),
    }
}

/// Issue 13: a host enrols only with an operator's one-time token bound to
/// its instrument details. Every refusal is audited and counted by intrusion
/// detection (R14); a use is audited with the host it enrolled.
async fn enrol_host(
    state: &Arc<RelayState>,
    send: &mut FramedSend,
    source: IpAddr,
    challenge: &RelayChallenge,
    request: &EnrollRequest,
) -> Result<LoggedIn, ServerError> {
    request.verify(challenge).map_err(|_| {
        refused(
            RelayErrorCode::Unauthorized,
            "enrolment signature does not verify",
        )
    })?;
    let registration = HostRegistration::from_request(request, now_unix_ms());
    let host = *request.host_key.fingerprint().as_bytes();
    let outcome = match &request.enrolment_token {
        None => EnrolmentOutcome::Refused(EnrolmentRefusal::NoToken),
        Some(token) => {
            let token = token.clone();
            state
                .with_store(move |store| store.enroll_host_with_token(&token, &registration))
                .await
                .map_err(|e| match e {
                    ServerError::Store(StoreError::Conflict(_)) => refused(
                        RelayErrorCode::Conflict,
                        "this host key is already enrolled; log in with its host ID instead",
                    ),
                    other => other,
                })?
        }
    };
    let token_id = request
        .enrolment_token
        .as_ref()
        .map(EnrolmentToken::id)
        .unwrap_or_default();
    let record = match outcome {
        EnrolmentOutcome::Enrolled(record) => *record,
        EnrolmentOutcome::Refused(refusal) => {
            state
                .audit
                .record(AuditEvent::EnrolmentRefused {
                    token_id: text(&token_id),
                    source: text(&source.to_string()),
                    host,
                    reason: text(&refusal.to_string()),
                })
                .await?;
            info!(%source, token = %token_id, reason = %refusal, "enrolment refused");
            // Counted like a failed authentication against the pseudo-host
            // "enrolment", so token guessing trips the same limits (R14).
            let event = state
                .ids
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .on_auth_failure(source, "enrolment", Instant::now());
            if let Some(event) = event {
                state.report_ids(event).await;
            }
            let code = match refusal {
                EnrolmentRefusal::Expired => RelayErrorCode::Expired,
                _ => RelayErrorCode::Unauthorized,
            };
            return Err(refused(code, &refusal.to_string()));
        }
    };
    let host_id = record.host_id.clone();
    state
        .audit
        .record(AuditEvent::EnrolmentTokenUsed {
            token_id: text(&token_id),
            host_id: host_id.clone(),
            host,
        })
        .await?;
    state
        .audit
        .record(AuditEvent::HostEnrolled {
            host_id: host_id.clone(),
            host,
            model: record.registration.instrument_model.clone(),
        })
        .await?;
    if request.file_transfer == FileTransferInstall::ApprovedByInstaller {
        state
            .audit
            .record(AuditEvent::FileTransferCapabilityApproved {
                host_id: host_id.clone(),
                model: record.registration.instrument_model.clone(),
            })
            .await?;
    }
    info!(%host_id, model = %record.registration.instrument_model, token = %token_id, "host enrolled");
    send.send(&EnrollAccepted { host_id }).await?;
    host_online(state, &record, source).await?;
    Ok(LoggedIn::Host(record))
}

pub(crate) fn retry_after(locked: &assent_proto::lockout::LockoutError) -> Option<u64> {
    match locked {
        assent_proto::lockout::LockoutError::Locked { remaining, .. } => {
            Some(remaining.as_secs().max(1))
        }
        assent_proto::lockout::LockoutError::Burned { .. } => None,
    }
}

async fn host_online(
    state: &Arc<RelayState>,
    record: &HostRecord,
    source: IpAddr,
) -> Result<(), ServerError> {
    let host_id = record.host_id.to_string();
    let source = source.to_string();
    state
        .with_store(move |store| {
            store.record_presence(&host_id, PresenceEvent::Online, now_unix_ms(), &source)
        })
        .await
}

/// R7: only identities the operator enrolled, unexpired. Refusals are audited.
async fn allowed_viewer(
    state: &Arc<RelayState>,
    fingerprint: Fingerprint,
    source: IpAddr,
) -> Result<AllowListEntry, ServerError> {
    let entry = state
        .with_store(move |store| store.allowlist_entry(&fingerprint))
        .await?;
    let now_secs = now_unix_ms() / 1000;
    let reason = match &entry {
        None => Some("viewer identity is not on the allowlist"),
        Some(entry) if entry.expires_unix <= now_secs => Some("viewer identity has expired"),
        Some(_) => None,
    };
    match (entry, reason) {
        (Some(entry), None) => Ok(entry),
        (_, reason) => {
            let reason = reason.unwrap_or("refused");
            state
                .audit
                .record(AuditEvent::ConnectionRequest {
                    host_id: text(""),
                    viewer: *fingerprint.as_bytes(),
                    source: text(&source.to_string()),
                    granted: false,
                    reason: text(reason),
                })
                .await?;
            info!(viewer = %fingerprint, %source, reason, "viewer refused at login");
            Err(refused(
                RelayErrorCode::NotAllowListed,
                &format!("{reason}; ask your operator to enrol fingerprint {fingerprint}"),
            ))
        }
    }
}

/// R8: a new device or network must be confirmed with a code sent to the
/// engineer's registered e-mail before the login is accepted.
async fn confirm_location(
    state: &Arc<RelayState>,
    send: &mut FramedSend,
    recv: &mut FramedRecv,
    entry: &AllowListEntry,
    location: Location,
) -> Result<(), ServerError> {
    let known = location.clone();
    if state
        .with_store(move |store| store.is_location_confirmed(&known))
        .await?
    {
        return Ok(());
    }
    let email = entry.email.to_string();
    state
        .code_limiter
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .try_acquire(&email, Instant::now())
        .map_err(|limited| {
            ServerError::Refused(RelayError::new(
                RelayErrorCode::Throttled,
                &limited.to_string(),
                Some(3600),
            ))
        })?;

    let code = LocationCode::generate(&mut OsRng);
    let now_ms = now_unix_ms();
    let ttl = state.settings.location_code_ttl;
    let pending = PendingCode {
        code_hash: code_hash(&code, location.viewer.as_bytes(), &location.device_id),
        issued_unix_ms: now_ms,
        expires_unix_ms: now_ms + ttl.as_millis() as u64,
        attempts_left: 3,
    };
    let stored_location = location.clone();
    state
        .with_store(move |store| store.put_pending_code(&stored_location, &pending))
        .await?;
    let message = LocationCodeMessage {
        to_email: email.clone(),
        viewer_name: entry.name.to_string(),
        code,
        sent_at_unix: now_ms / 1000,
        expires_at_unix: (now_ms / 1000) + ttl.as_secs(),
        relay_name: state.settings.relay_name.clone(),
        location: format!("a new device or network ({})", location.network),
    };
    let notifier = state.notifier.clone();
    tokio::task::spawn_blocking(move || notifier.send(&message))
        .await
        .map_err(|e| ServerError::Internal(format!("notifier task failed: {e}")))?
        .map_err(|e| {
            refused(
                RelayErrorCode::Internal,
                &format!("could not send the confirmation code: {e}"),
            )
        })?;
    send.send(&LocationChallenge {
        expires_in_secs: u32::try_from(ttl.as_secs()).unwrap_or(u32::MAX),
        sent_to_hint: text(&mask_email(&email)),
    })
    .await?;

    recv.set_recv_timeout(Some(ttl.min(Duration::from_secs(15 * 60))));
    loop {
        let entered = match SignallingMessage::decode(&next_frame(recv).await?) {
            Ok(SignallingMessage::LocationCode(entered)) => entered,
            _ => {
                return Err(refused(
                    RelayErrorCode::Malformed,
                    "expected the LocationCode",
                ))
            }
        };
        let Ok(code) = LocationCode::parse(&entered.code) else {
            refuse(
                send,
                RelayErrorCode::LocationUnconfirmed,
                "that is not a confirmation code; enter the digits from the e-mail",
                None,
            )
            .await?;
            continue;
        };
        let hash = code_hash(&code, location.viewer.as_bytes(), &location.device_id);
        let at = location.clone();
        let outcome = state
            .with_store(move |store| store.redeem_pending_code(&at, &hash, now_unix_ms()))
            .await?;
        match outcome {
            CodeRedemption::Confirmed => return Ok(()),
            CodeRedemption::Wrong { attempts_left } if attempts_left > 0 => {
                refuse(
                    send,
                    RelayErrorCode::LocationUnconfirmed,
                    &format!("wrong confirmation code; {attempts_left} attempts left"),
                    None,
                )
                .await?;
            }
            CodeRedemption::Wrong { .. } | CodeRedemption::NoPendingCode => {
                return Err(refused(
                    RelayErrorCode::LocationUnconfirmed,
                    "too many wrong codes; log in again to get a new one",
                ))
            }
            CodeRedemption::Expired => {
                return Err(refused(
                    RelayErrorCode::Expired,
                    "the confirmation code expired; log in again to get a new one",
                ))
            }
        }
    }
}

/// "e***@example.com": enough to know where to look, not the whole address.
fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}
