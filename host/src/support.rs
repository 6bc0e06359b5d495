//! `assent-host support`: the technician starts a support request (R9).
//! The host logs in, verifies the signed allowlist (R7), makes a fresh
//! one-time password (R5) and waits. Each engineer attempt is a handshake on
//! a new control channel; a failed one is refused with a reason, reported
//! to the relay and counted against this password with doubling waits until
//! it is burned (R6). The first good handshake becomes the session.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use assent_net::{accept_channel, channel::channel_of, FramedRecv, FramedSend};
use assent_proto::allowlist::{AllowListEntry, VerifiedAllowList};
use assent_proto::handshake::host::HostCredentials;
use assent_proto::handshake::{Channel, HandshakeError, SessionKeys};
use assent_proto::lockout::{Lockout, LockoutError, LockoutPolicy};
use assent_proto::messages::audit_event::AuditEvent;
use assent_proto::messages::handshake::{AbortReason, HandshakeAbort, ViewerFinish, ViewerHello};
use assent_proto::messages::signalling::{
    AuthFailureReport, CloseReason, SignallingMessage, SupportClose, SupportOpen,
};
use assent_proto::password::{OneTimePassword, StretchParams};
use assent_proto::wire::{Frame, MessageType};
use rand_core::{OsRng, RngCore};
use tracing::{info, warn};

use crate::allowlist_serial::AcceptedSerial;
use crate::allowlist_watch::AllowListWatch;
use crate::config::HostFiles;
use crate::relay_link::{fetch_allowlist, host_text, login, now_unix, RelayLink};
use crate::session::{run_session, SessionOptions, SessionSetup};
use crate::technician::{PromptSettings, Technician, TechnicianCommand};

/// How long one handshake step may take before the attempt is dropped.
const HANDSHAKE_STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Handshakes one support request answers at most. Each costs the host an
/// RSA-4096 signature before the sender has proved anything, and only an
/// unfinished or tampered one is not counted against the password (a
/// hostile relay can start them with any allowlisted public key, and must
/// not be able to burn the password that way, R21). So they are bounded
/// instead: far above what an engineer retrying needs.
pub const MAX_HANDSHAKES_PER_REQUEST: u32 = 16;

pub struct SupportOptions {
    /// Where consent prompts appear (terminal, dialog or both).
    pub prompt: PromptSettings,
    pub session: SessionOptions,
    pub lockout: LockoutPolicy,
    pub stretch: StretchParams,
    /// How often the running session re-checks its engineer against the
    /// operator's allowlist (R7).
    pub allowlist_check: Duration,
}

/// A handshake that succeeded: keys, who the engineer is, and the control streams.
struct Admitted {
    keys: SessionKeys,
    viewer: AllowListEntry,
    send: FramedSend,
    recv: FramedRecv,
}

pub async fn run(files: &HostFiles, options: SupportOptions) -> Result<()> {
    let config = files.load_config()?;
    let identity = files.load_identity()?;
    let operator = files.load_operator_key()?;
    let target = config.relay_target()?;
    // Before anything is opened at the relay: a prompt that cannot be shown
    // must not leave a support request waiting.
    let (technician, mut commands) = Technician::start(&options.prompt).await?;

    let mut client = login(&target, &identity, &config.host_id).await?;
    let allowlist = fetch_allowlist(&mut client, &operator).await?;
    let accepted = AcceptedSerial::of(files);
    accepted.accept(&allowlist)?;
    let password = OneTimePassword::generate(&mut OsRng);
    let mut session_id = [0u8; 32];
    OsRng.fill_bytes(&mut session_id);
    let credentials = {
        let (identity, password_copy, stretch) = (
            identity.clone(),
            OneTimePassword::parse(&password.display_grouped())?,
            options.stretch,
        );
        tokio::task::spawn_blocking(move || {
            HostCredentials::new(identity, &password_copy, session_id, &stretch)
        })
        .await??
    };
    let opened = client
        .request(&SupportOpen { session_id })
        .await
        .context("opening the support request at the relay")?;
    let SignallingMessage::SupportOpened(opened) = opened else {
        bail!("the relay did not open the support request: {opened:?}");
    };
    let connection = client.connection.clone();
    let link = RelayLink::spawn(client, &config.host_id);

    println!("Support request open. Read these to the engineer:");
    println!("  host ID:            {}", config.host_id);
    println!("  one-time password:  {}", password.display_grouped());
    println!("  relay fingerprint:  {}", config.relay_pin);
    println!("  this host's key:    {}", identity.fingerprint());
    println!(
        "Waiting for the engineer (the request expires in {} s; Ctrl-C cancels).",
        opened.expires_in_secs
    );

    let context = AttemptContext {
        credentials: &credentials,
        allowlist: &allowlist,
    };
    let mut lockout = Lockout::new(options.lockout);
    let expires = tokio::time::sleep(Duration::from_secs(opened.expires_in_secs.into()));
    tokio::pin!(expires);
    let mut handshakes = 0u32;
    let admitted = loop {
        let incoming = tokio::select! {
            incoming = accept_channel(&connection) => incoming,
            _ = &mut expires => {
                close(&link, session_id, CloseReason::Expired).await;
                bail!("nobody connected before the support request expired; start a new one");
            }
            _ = tokio::signal::ctrl_c() => {
                close(&link, session_id, CloseReason::Finished).await;
                bail!("support request cancelled");
            }
            Some(TechnicianCommand::EndSession) = commands.recv() => {
                close(&link, session_id, CloseReason::Finished).await;
                bail!("support request cancelled");
            }
        };
        let Some((open, mut send, recv)) = incoming.context("the relay connection failed")? else {
            bail!("the relay closed the connection; start a new support request");
        };
        if open.session_id != session_id || channel_of(open.channel) != Some(Channel::Control) {
            // Data channels come only after a handshake; anything else is noise.
            send.send(&abort(
                AbortReason::UnknownSession,
                "open the control channel first",
            ))
            .await
            .ok();
            continue;
        }
        match lockout.check(Instant::now()) {
            Ok(()) => {}
            Err(e) => {
                send.send(&abort(AbortReason::LockedOut, &e.to_string()))
                    .await
                    .ok();
                if matches!(e, LockoutError::Burned { .. }) {
                    break None;
                }
                continue;
            }
        }
        if handshakes == MAX_HANDSHAKES_PER_REQUEST {
            let why = format!(
                "{MAX_HANDSHAKES_PER_REQUEST} handshakes were started on this support request \
                 and none succeeded"
            );
            send.send(&abort(AbortReason::LockedOut, &why)).await.ok();
            warn!(handshakes, "support request ended: too many handshakes");
            close(&link, session_id, CloseReason::PasswordBurned).await;
            bail!(
                "{why}; the password is spent. Start a new support request. If nobody was \
                 trying to connect, tell your operator: the relay or the network may be \
                 attacking the session"
            );
        }
        handshakes += 1;
        match attempt(&context, send, recv).await {
            Ok(admitted) => {
                lockout.record_success();
                break Some(admitted);
            }
            Err(failure) if failure.error.indicates_tampering() => {
                // R21: altered in transit (the relay) or forged; it tested no
                // password guess, so it is not the engineer's failure (R6).
                warn!(
                    error = %failure.error,
                    claimed_viewer = ?failure.viewer,
                    "engineer handshake tampered with or forged; not counted against the password"
                );
                println!(
                    "An engineer's connection attempt was refused: a handshake message was \
                     altered in transit or forged ({}). Not counted against the password.",
                    failure.error
                );
                let event = AuditEvent::SessionTampering {
                    host_id: host_text(&config.host_id),
                    session_id,
                    detail: assent_net::relay_client::text(&format!(
                        "handshake: {}",
                        failure.error
                    )),
                };
                if let Err(e) = link.audit(event).await {
                    warn!(error = %e, "could not record the tampered handshake at the relay");
                }
            }
            Err(failure) => {
                warn!(error = %failure.error, "engineer handshake failed");
                println!("An engineer's connection attempt failed: {}", failure.error);
                if failure.error.counts_as_password_failure() {
                    let outcome = lockout.record_failure(Instant::now());
                    println!("  {outcome}");
                    if let Some(viewer) = failure.viewer {
                        let report = AuthFailureReport {
                            session_id,
                            viewer,
                            reason: failure.error.abort_reason(),
                        };
                        if let Err(e) = link.call(report.into()).await {
                            warn!(error = %e, "could not report the failed attempt to the relay");
                        }
                    }
                    if matches!(outcome, LockoutError::Burned { .. }) {
                        break None;
                    }
                }
            }
        }
    };
    let Some(admitted) = admitted else {
        close(&link, session_id, CloseReason::PasswordBurned).await;
        bail!(
            "the password was burned after {} wrong attempts; start a new support request",
            lockout.failures()
        );
    };

    println!(
        "\nConnected: {} <{}> (key {}).",
        admitted.viewer.name,
        admitted.viewer.email,
        admitted.viewer.fingerprint()
    );
    link.audit(AuditEvent::SessionStarted {
        host_id: host_text(&config.host_id),
        session_id,
        viewer: *admitted.viewer.fingerprint().as_bytes(),
    })
    .await
    .context("recording the session start at the relay")?;

    let setup = SessionSetup {
        session_id,
        host_id: config.host_id.clone(),
        viewer: admitted.viewer,
        keys: admitted.keys,
        control_send: admitted.send,
        control_recv: admitted.recv,
        connection,
        link: link.clone(),
        technician,
        commands,
        receive_dir: config.receive_dir.clone(),
        data_dir: files.dir.clone(),
        allowlist: AllowListWatch {
            operator,
            accepted,
            serial: allowlist.serial(),
            every: options.allowlist_check,
        },
    };
    let end = run_session(setup, options.session).await;
    let reason = match &end {
        Ok(reason) => reason.clone(),
        Err(e) => format!("error: {e:#}"),
    };
    let _ = link
        .audit(AuditEvent::SessionEnded {
            host_id: host_text(&config.host_id),
            session_id,
            reason: assent_net::relay_client::text(&reason),
        })
        .await;
    close(&link, session_id, CloseReason::Finished).await;
    println!("Session ended: {reason}");
    end.map(|_| ())
}

struct AttemptContext<'a> {
    credentials: &'a HostCredentials,
    allowlist: &'a VerifiedAllowList,
}

struct Failure {
    error: AttemptError,
    viewer: Option<assent_proto::identity::Fingerprint>,
}

/// Why one engineer's handshake failed, as the host tells it apart.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// The viewer refused our `HostHello`, which left here signed and
    /// whole: it reached the viewer altered (R21).
    #[error("the engineer's viewer refused this host's handshake as it arrived: {}", .0.message)]
    ViewerRefused(HandshakeAbort),
    /// A frame arrived that is not the handshake message it should be.
    #[error("a handshake message did not decode: {0}")]
    Undecodable(assent_proto::wire::DecodeError),
    /// The stream ended, failed or timed out before the next flight.
    #[error("the engineer's viewer stopped answering mid-handshake")]
    Abandoned,
}

impl AttemptError {
    fn indicates_tampering(&self) -> bool {
        match self {
            AttemptError::Handshake(e) => {
                // The channel's OpenChannel named this session (checked before
                // the attempt), so a hello for another one was altered.
                e.indicates_tampering() || matches!(e, HandshakeError::UnknownSession)
            }
            AttemptError::ViewerRefused(abort) => matches!(
                abort.reason,
                AbortReason::BadSignature | AbortReason::HostKeyMismatch | AbortReason::Malformed
            ),
            AttemptError::Undecodable(_) => true,
            AttemptError::Abandoned => false,
        }
    }

    fn counts_as_password_failure(&self) -> bool {
        matches!(self, AttemptError::Handshake(e) if e.counts_as_password_failure())
    }

    fn abort_reason(&self) -> AbortReason {
        match self {
            AttemptError::Handshake(e) => e.abort_reason(),
            _ => AbortReason::Malformed,
        }
    }
}

/// One engineer's handshake on a fresh control channel.
async fn attempt(
    context: &AttemptContext<'_>,
    mut send: FramedSend,
    mut recv: FramedRecv,
) -> Result<Admitted, Failure> {
    recv.set_recv_timeout(Some(HANDSHAKE_STEP_TIMEOUT));
    let failed = |error, viewer| Failure { error, viewer };
    let hello: ViewerHello = next(&mut recv).await.map_err(|e| failed(e, None))?;
    let viewer = Some(hello.viewer_identity.fingerprint());
    let (expect_finish, host_hello) =
        match context
            .credentials
            .respond(context.allowlist, now_unix(), &hello, &mut OsRng)
        {
            Ok(step) => step,
            Err(error) => {
                send.send(&abort(error.abort_reason(), &error.to_string()))
                    .await
                    .ok();
                return Err(failed(error.into(), viewer));
            }
        };
    let entry = expect_finish.viewer().clone();
    if send.send(&host_hello).await.is_err() {
        return Err(failed(AttemptError::Abandoned, viewer));
    }
    let finish: ViewerFinish = next(&mut recv).await.map_err(|e| failed(e, viewer))?;
    match expect_finish.receive_viewer_finish(&finish) {
        Ok((keys, host_finish)) => {
            if send.send(&host_finish).await.is_err() {
                return Err(failed(AttemptError::Abandoned, viewer));
            }
            recv.set_recv_timeout(None);
            info!(viewer = %entry.fingerprint(), "engineer admitted");
            Ok(Admitted {
                keys,
                viewer: entry,
                send,
                recv,
            })
        }
        Err(error) => {
            send.send(&abort(error.abort_reason(), &error.to_string()))
                .await
                .ok();
            Err(failed(error.into(), viewer))
        }
    }
}

/// The next handshake message of type `M`: the viewer's abort, a frame
/// that is not `M`, and the stream's end are each their own failure.
async fn next<M: assent_proto::wire::Message>(recv: &mut FramedRecv) -> Result<M, AttemptError> {
    let frame: Frame = match recv.recv().await {
        Ok(Some(frame)) => frame,
        Ok(None) | Err(_) => return Err(AttemptError::Abandoned),
    };
    if frame.message_type == MessageType::HandshakeAbort {
        let refusal = frame.decode().map_err(AttemptError::Undecodable)?;
        return Err(AttemptError::ViewerRefused(refusal));
    }
    frame.decode().map_err(AttemptError::Undecodable)
}

fn abort(reason: AbortReason, message: &str) -> HandshakeAbort {
    HandshakeAbort {
        reason,
        message: assent_net::relay_client::text(message),
    }
}

async fn close(link: &RelayLink, session_id: [u8; 32], reason: CloseReason) {
    if let Err(e) = link.call(SupportClose { session_id, reason }.into()).await {
        warn!(error = %e, "could not close the support request at the relay");
    }
}
