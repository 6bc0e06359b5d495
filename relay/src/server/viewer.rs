//! A logged-in engineer (R7, R9, R14): asks for a host by ID, is paired with
//! its open support request, then opens channel streams that the relay
//! splices to the host as opaque bytes (R3).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use assent_net::{framed, FramedRecv, FramedSend};
use assent_proto::messages::audit_event::AuditEvent;
use assent_proto::messages::signalling::{
    ConnectRequest, OpenChannel, Paired, RelayErrorCode, SignallingMessage,
};
use tracing::{debug, info};

use super::lockouts::LockoutScope;
use super::login::{retry_after, ViewerSession};
use super::{forward, network_of, refuse, text, PairedViewer, RelayState, ServerError};
use crate::board::BoardError;

/// How long a new channel stream may take to name its session.
const OPEN_CHANNEL_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) async fn serve(
    state: &Arc<RelayState>,
    connection: &quinn::Connection,
    viewer: ViewerSession,
    send: &mut FramedSend,
    recv: &mut FramedRecv,
    source: IpAddr,
) -> Result<(), ServerError> {
    let channels = tokio::spawn(accept_channels(
        state.clone(),
        connection.clone(),
        viewer.clone(),
    ));
    let result = serve_requests(state, &viewer, send, recv, source).await;
    channels.abort();
    result
}

async fn serve_requests(
    state: &Arc<RelayState>,
    viewer: &ViewerSession,
    send: &mut FramedSend,
    recv: &mut FramedRecv,
    source: IpAddr,
) -> Result<(), ServerError> {
    loop {
        let Some(frame) = recv.recv().await? else {
            return Ok(());
        };
        match SignallingMessage::decode(&frame) {
            Ok(SignallingMessage::ConnectRequest(request)) => {
                connect(state, viewer, &request, send, source).await?
            }
            Ok(other) => {
                refuse(
                    send,
                    RelayErrorCode::Malformed,
                    &format!("a viewer cannot send {:?} here", other.message_type()),
                    None,
                )
                .await?
            }
            Err(e) => {
                send.send(&assent_proto::messages::signalling::RelayError::from_decode_error(&e))
                    .await?
            }
        }
    }
}

/// R9: pairs only with a host whose technician opened a support request;
/// lockout (R6) and scanning detection (R14) apply first.
async fn connect(
    state: &Arc<RelayState>,
    viewer: &ViewerSession,
    request: &ConnectRequest,
    send: &mut FramedSend,
    source: IpAddr,
) -> Result<(), ServerError> {
    let host_id = request.host_id.to_string();
    let network = network_of(
        source,
        state.settings.network_prefix_v4,
        state.settings.network_prefix_v6,
    );
    if let Err(locked) = state
        .lockouts
        .check(&[
            LockoutScope::Viewer(viewer.fingerprint),
            LockoutScope::Source(network),
        ])
        .await
    {
        audit_request(state, viewer, &host_id, source, false, &locked.to_string()).await?;
        return refuse(
            send,
            RelayErrorCode::LockedOut,
            &locked.to_string(),
            retry_after(&locked),
        )
        .await;
    }
    if let Err(blocked) = state.ids_check_viewer(viewer.fingerprint) {
        return send.send(&blocked).await.map_err(ServerError::Net);
    }
    let id = host_id.clone();
    let host = state.with_store(move |store| store.host(&id)).await?;
    let paired = host.as_ref().map(|_| {
        state.board.lock().unwrap_or_else(|p| p.into_inner()).pair(
            &host_id,
            viewer.fingerprint,
            Instant::now(),
        )
    });
    let (host, session_id) = match (host, paired) {
        (Some(host), Some(Ok((session_id, _link)))) => (host, session_id),
        (_, Some(Err(BoardError::Busy(_)))) => {
            let reason = "host is already in a session with another engineer";
            audit_request(state, viewer, &host_id, source, false, reason).await?;
            return refuse(send, RelayErrorCode::Unavailable, reason, None).await;
        }
        _ => {
            // Unknown host, or no open request: the same answer, so host IDs
            // cannot be probed; repeated misses are scanning (R14).
            let reason =
                "no open support request for that host ID; ask the technician to start one";
            audit_request(state, viewer, &host_id, source, false, reason).await?;
            let event = state
                .ids
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .on_unknown_host(viewer.fingerprint, source, &host_id, Instant::now());
            if let Some(event) = event {
                state.report_ids(event).await;
            }
            return refuse(send, RelayErrorCode::NotFound, reason, None).await;
        }
    };
    state
        .paired
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(
            session_id,
            PairedViewer {
                viewer: viewer.fingerprint,
                source,
            },
        );
    audit_request(
        state,
        viewer,
        &host_id,
        source,
        true,
        "paired with the open support request",
    )
    .await?;
    info!(%host_id, viewer = %viewer.fingerprint, engineer = %viewer.entry.name, "paired");
    let registration = &host.registration;
    send.send(&Paired {
        session_id,
        host_id: host.host_id.clone(),
        host_fingerprint: host.fingerprint(),
        instrument_model: registration.instrument_model.clone(),
        instrument_id: registration.instrument_id.clone(),
        serial_number: registration.serial_number.clone(),
        registrant_name: registration.registrant_name.clone(),
    })
    .await?;
    Ok(())
}

async fn audit_request(
    state: &Arc<RelayState>,
    viewer: &ViewerSession,
    host_id: &str,
    source: IpAddr,
    granted: bool,
    reason: &str,
) -> Result<(), ServerError> {
    state
        .audit
        .record(AuditEvent::ConnectionRequest {
            host_id: text(host_id),
            viewer: *viewer.fingerprint.as_bytes(),
            source: text(&source.to_string()),
            granted,
            reason: text(reason),
        })
        .await
        .map(|_| ())
}

/// Every further stream the viewer opens is a channel of a paired session.
async fn accept_channels(
    state: Arc<RelayState>,
    connection: quinn::Connection,
    viewer: ViewerSession,
) {
    while let Ok((send, recv)) = connection.accept_bi().await {
        let state = state.clone();
        let viewer = viewer.clone();
        tokio::spawn(async move {
            if let Err(e) = open_channel(&state, &viewer, send, recv).await {
                debug!(viewer = %viewer.fingerprint, error = %e, "channel refused or ended");
            }
        });
    }
}

async fn open_channel(
    state: &Arc<RelayState>,
    viewer: &ViewerSession,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
) -> Result<(), ServerError> {
    let (mut viewer_send, mut viewer_recv) = framed(send, recv);
    viewer_recv.set_recv_timeout(Some(OPEN_CHANNEL_TIMEOUT));
    let frame = viewer_recv.recv().await?.ok_or(ServerError::Closed)?;
    let open: OpenChannel = match frame.decode() {
        Ok(open) => open,
        Err(e) => {
            viewer_send
                .send(&assent_proto::messages::signalling::RelayError::from_decode_error(&e))
                .await?;
            return Err(ServerError::Internal(
                "first frame of a channel was not OpenChannel".into(),
            ));
        }
    };
    let link = state
        .board
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .host_for(&open.session_id, &viewer.fingerprint);
    let link = match link {
        Ok(link) => link,
        Err(e) => {
            refuse(
                &mut viewer_send,
                RelayErrorCode::NotFound,
                &e.to_string(),
                None,
            )
            .await?;
            return Err(ServerError::Internal(e.to_string()));
        }
    };
    let (host_send, host_recv) = link
        .connection
        .open_bi()
        .await
        .map_err(|e| ServerError::Net(assent_net::NetError::Connection(e)))?;
    let (mut host_send, host_recv) = framed(host_send, host_recv);
    host_send.send(&open).await?;
    debug!(host_id = %link.host_id, channel = ?open.channel, "channel open; forwarding");
    let (viewer_recv, leftover) = viewer_recv.into_raw()?;
    let _session = state.metrics.track_session();
    forward::splice(
        state,
        forward::Half {
            recv: viewer_recv,
            leftover,
            send: viewer_send.into_inner(),
        },
        forward::Half {
            recv: host_recv.into_raw()?.0,
            leftover: Vec::new(),
            send: host_send.into_inner(),
        },
    )
    .await;
    Ok(())
}
