//! A consented session (R10), enforced here on the host. The engineer asks
//! for each capability on the control channel; the technician answers each
//! prompt, and silence is a refusal. Every decision is durable in the
//! relay's audit log before it takes effect (R12); a revocation takes effect
//! first and is recorded after. The screen task captures nothing and the
//! input task holds no injector unless the matching grant is in force.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use assent_net::channel::{channel_of, ChannelError};
use assent_net::{accept_channel, seal_channel, FramedRecv, FramedSend, SealedSend};
use assent_proto::allowlist::AllowListEntry;
use assent_proto::consent::{ConsentDecision, ConsentOutcome, DenyReason, SessionConsent};
use assent_proto::handshake::{Channel, SessionKeys};
use assent_proto::messages::audit_event::{AuditEvent, ConsentOutcomeCode};
use assent_proto::messages::consent::{
    Capability, CapabilityDecision, CapabilityRevoked, DecisionOutcome, SessionEnd, SessionError,
    SessionErrorCode,
};
use assent_proto::messages::session::SessionMessage;
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use crate::relay_link::{host_text, RelayLink};
use crate::remote_input;
use crate::screen_stream::{self, ScreenSettings};
use crate::technician::{Answer, Technician, TechnicianCommand, COMMAND_HELP};

/// What the technician has granted right now; tasks watch it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grants {
    pub screen: bool,
    pub control: bool,
    pub files: bool,
}

impl Grants {
    pub fn allows(&self, capability: Capability) -> bool {
        match capability {
            Capability::ScreenView => self.screen,
            Capability::RemoteControl => self.control,
            #[cfg(feature = "file-transfer")]
            Capability::FileTransfer => self.files,
        }
    }

    fn set(&mut self, capability: Capability, granted: bool) {
        match capability {
            Capability::ScreenView => self.screen = granted,
            Capability::RemoteControl => self.control = granted,
            #[cfg(feature = "file-transfer")]
            Capability::FileTransfer => self.files = granted,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// How long a consent prompt stays open before it counts as a refusal.
    pub consent_timeout: Duration,
    pub screen: ScreenSettings,
    /// X display for input injection (`None`: `$DISPLAY`).
    pub display: Option<String>,
    /// Largest file the engineer may send.
    pub max_file_size: u64,
}

pub struct SessionSetup {
    pub session_id: [u8; 32],
    pub host_id: String,
    pub viewer: AllowListEntry,
    pub keys: SessionKeys,
    pub control_send: FramedSend,
    pub control_recv: FramedRecv,
    pub connection: quinn::Connection,
    pub link: RelayLink,
    pub technician: Technician,
    pub commands: mpsc::UnboundedReceiver<TechnicianCommand>,
    pub receive_dir: Option<PathBuf>,
    /// The host data directory, whose notification book the
    /// notifications channel shows the engineer (R15).
    pub data_dir: PathBuf,
}

/// What the session's helper tasks tell the control loop.
pub enum SessionEvent {
    Answered(Capability, Answer),
    ChannelOpened(Channel, FramedSend, FramedRecv),
    ChannelRefused(String),
    InputDropped(u64),
    /// A helper task hit something the engineer should hear about.
    Problem(SessionError),
    /// Something the relay must record (file transfers).
    Audit(AuditEvent),
}

/// Runs until either side ends the session; returns why it ended.
pub async fn run_session(setup: SessionSetup, options: SessionOptions) -> Result<String> {
    let SessionSetup {
        session_id,
        host_id,
        viewer,
        mut keys,
        control_send,
        control_recv,
        connection,
        link,
        technician,
        mut commands,
        receive_dir,
        data_dir,
    } = setup;
    let (mut control, mut control_in) =
        seal_channel(&mut keys, Channel::Control, control_send, control_recv)
            .context("the handshake's session keys had the control channel taken")?;
    let (grants_tx, grants) = watch::channel(Grants::default());
    let control_gate = remote_input::ControlGate::default();
    let gates = Gates {
        grants: &grants_tx,
        control: &control_gate,
    };
    let (events_tx, mut events) = mpsc::channel::<SessionEvent>(64);
    let mut consent = SessionConsent::new(options.consent_timeout);
    let audit = Auditor {
        link: link.clone(),
        host_id: host_id.clone(),
        session_id,
    };

    tokio::spawn(accept_channels(
        connection.clone(),
        session_id,
        events_tx.clone(),
    ));
    println!("{COMMAND_HELP}");
    // Who is asking, with the key the handshake proved, so the technician
    // can compare it with what the engineer reads out (R9).
    let engineer = format!(
        "{} <{}> (key {})",
        viewer.name,
        viewer.email,
        viewer.fingerprint()
    );
    // The technician's Stop / End session buttons (GUI mode), kept current.
    technician.show_session_window(&engineer, grants.clone());
    #[cfg(feature = "file-transfer")]
    let mut files = crate::file_transfer::FilesHandle::new(receive_dir, options.max_file_size);
    #[cfg(not(feature = "file-transfer"))]
    let _ = (receive_dir, options.max_file_size);

    let end = loop {
        let deadline = consent.next_deadline();
        tokio::select! {
            message = control_in.recv() => match message {
                Ok(Some((SessionMessage::CapabilityRequest(request), _))) => {
                    let capability = request.capability;
                    match consent.request(capability, Instant::now()) {
                        Ok(deadline) => {
                            let question = format!("{engineer} asks for {}. Allow?", capability.label().to_uppercase());
                            let technician = technician.clone();
                            let events = events_tx.clone();
                            // The consent's own deadline: one clock per prompt.
                            tokio::spawn(async move {
                                let answer = technician.ask(&question, deadline).await;
                                let _ = events.send(SessionEvent::Answered(capability, answer)).await;
                            });
                        }
                        Err(e) => {
                            control.send(&SessionError::new(SessionErrorCode::InvalidState, &e.to_string()).into()).await?;
                        }
                    }
                }
                Ok(Some((SessionMessage::SessionError(e), _))) => {
                    println!("engineer's side reports: {}", e.message);
                }
                Ok(Some((SessionMessage::SessionEnd(end), _))) => {
                    break format!("the engineer ended the session ({})", end.reason.as_str());
                }
                Ok(Some((other, _))) => {
                    let refusal = SessionError::new(SessionErrorCode::InvalidState, &format!("{:?} is not expected from the viewer", other.message_type()));
                    control.send(&refusal.into()).await?;
                }
                // Only a sealed SessionEnd is the engineer's word (R21).
                Ok(None) => break CONTROL_CUT.to_owned(),
                // A request this build cannot decode (file transfer on a PHI
                // build): refuse it with the reason and go on (R11).
                Err(ChannelError::Decode(e)) => {
                    control.send(&SessionError::from_decode_error(&e).into()).await?;
                }
                // A lost relay often shows first as a failed read here.
                Err(e) => break match connection.close_reason() {
                    Some(closed) => format!("the relay connection was lost ({closed})"),
                    None => format!("the control channel failed: {e}"),
                },
            },
            event = events.recv() => {
                let Some(event) = event else { break "internal error".to_owned() };
                match event {
                    SessionEvent::Answered(capability, answer) => {
                        let now = Instant::now();
                        // Silence expires every overdue prompt, not only this one.
                        let decisions: Vec<_> = match answer {
                            Answer::NoAnswer => consent.expire(now),
                            _ => consent.answer(capability, answer == Answer::Yes, now).into_iter().collect(),
                        };
                        for decision in decisions {
                            apply(decision, &gates, &audit, &mut control).await?;
                        }
                    }
                    SessionEvent::ChannelOpened(channel, send, recv) => {
                        // Each channel once: a second one would seal under the
                        // same keys and nonces (R3). Only a hostile relay or a
                        // forged viewer opens one; refuse it and go on.
                        let (send, recv) = match seal_channel(&mut keys, channel, send, recv) {
                            Ok(sealed) => sealed,
                            Err(refused) => {
                                warn!(error = %refused, "refused a duplicate channel");
                                println!("refused a channel: {refused}");
                                control.send(&SessionError::new(SessionErrorCode::InvalidState, &refused.to_string()).into()).await?;
                                audit.record(AuditEvent::SessionTampering { host_id: host_text(&audit.host_id), session_id, detail: assent_net::relay_client::text(&refused.to_string()) }).await?;
                                continue;
                            }
                        };
                        let channel_grants = grants.clone();
                        match channel {
                            Channel::Screen => {
                                tokio::spawn(screen_stream::run(send, channel_grants, options.screen.clone(), events_tx.clone()));
                            }
                            Channel::Input => {
                                tokio::spawn(remote_input::run(recv, channel_grants, control_gate.clone(), technician.prompt_open(), options.display.clone(), events_tx.clone()));
                            }
                            #[cfg(feature = "file-transfer")]
                            Channel::Files => {
                                files.attach(
                                    send,
                                    recv,
                                    channel_grants,
                                    technician.clone(),
                                    events_tx.clone(),
                                    crate::file_transfer::TransferContext { host_id: host_id.clone(), session_id, engineer: engineer.clone() },
                                );
                            }
                            // Status only, no screen or control: no consent asked (R10, R15).
                            Channel::Notifications => {
                                tokio::spawn(crate::notifications::session_feed::run(send, data_dir.clone()));
                            }
                            // Its keys went to the handshake's stream, so
                            // seal_channel refused a second one above.
                            Channel::Control => {}
                        }
                    }
                    SessionEvent::ChannelRefused(why) => {
                        control.send(&SessionError::new(SessionErrorCode::Unavailable, &why).into()).await?;
                    }
                    SessionEvent::InputDropped(count) => {
                        println!("dropped {count} input event(s) from the engineer: remote control is not granted, or a consent prompt is open");
                        audit.record(AuditEvent::InputDropped { host_id: host_text(&host_id), session_id, count }).await?;
                    }
                    SessionEvent::Problem(error) => {
                        println!("{}", error.message);
                        control.send(&error.into()).await?;
                    }
                    SessionEvent::Audit(event) => audit.record(event).await?,
                }
            }
            command = commands.recv() => match command {
                Some(TechnicianCommand::Revoke(capability)) => {
                    match consent.revoke(capability) {
                        Ok(decision) => apply(decision, &gates, &audit, &mut control).await?,
                        Err(e) => println!("{e}"),
                    }
                }
                Some(TechnicianCommand::RevokeAll) => {
                    for decision in consent.revoke_all() {
                        apply(decision, &gates, &audit, &mut control).await?;
                    }
                }
                Some(TechnicianCommand::SendFile(path)) => {
                    #[cfg(feature = "file-transfer")]
                    files.send(path);
                    #[cfg(not(feature = "file-transfer"))]
                    println!("{}: {}", path.display(), assent_proto::wire::FILE_TRANSFER_UNAVAILABLE);
                }
                Some(TechnicianCommand::EndSession) | None => break "the technician ended the session".to_owned(),
            },
            _ = sleep_until(deadline) => {
                for decision in consent.expire(Instant::now()) {
                    apply(decision, &gates, &audit, &mut control).await?;
                }
            }
            closed = connection.closed() => break format!("the relay connection was lost ({closed})"),
            _ = tokio::signal::ctrl_c() => break "the technician pressed Ctrl-C".to_owned(),
        }
    };
    // Everything stops now: no grant survives the session.
    gates.revoke_all();
    // Sealed, so the engineer can tell our end from a cut stream.
    let _ = control.send(&session_end(&end)).await;
    control.finish();
    Ok(end)
}

/// Why a session ended when its control stream closed without the
/// engineer's sealed [`SessionEnd`]: someone else closed it.
pub const CONTROL_CUT: &str = "the control channel closed without the engineer's sealed end of \
     session: the relay or the network cut it";

fn session_end(reason: &str) -> SessionMessage {
    SessionEnd {
        reason: assent_net::relay_client::text(reason),
    }
    .into()
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Where grants take effect: the tasks' view of them and, for remote
/// control, the gate checked at each injection.
struct Gates<'a> {
    grants: &'a watch::Sender<Grants>,
    control: &'a remote_input::ControlGate,
}

impl Gates<'_> {
    fn set(&self, capability: Capability, granted: bool) {
        if capability == Capability::RemoteControl {
            if granted {
                self.control.open();
            } else {
                // Blocks for one injection in progress at most (R10).
                self.control.close();
            }
        }
        self.grants.send_modify(|g| g.set(capability, granted));
    }

    fn revoke_all(&self) {
        self.control.close();
        self.grants.send_replace(Grants::default());
    }
}

/// Applies one consent decision: revocations stop at once and are recorded
/// after; grants are recorded first and then take effect (R10, R12).
async fn apply(
    decision: ConsentDecision,
    gates: &Gates<'_>,
    audit: &Auditor,
    control: &mut SealedSend,
) -> Result<()> {
    let capability = decision.capability;
    let granted = decision.outcome == ConsentOutcome::Granted;
    if !granted {
        gates.set(capability, false);
    }
    let outcome = match decision.outcome {
        ConsentOutcome::Granted => ConsentOutcomeCode::Granted,
        ConsentOutcome::Denied(DenyReason::Refused) => ConsentOutcomeCode::Refused,
        ConsentOutcome::Denied(DenyReason::TimedOut) => ConsentOutcomeCode::TimedOut,
        ConsentOutcome::Revoked => ConsentOutcomeCode::Revoked,
    };
    audit
        .record(AuditEvent::ConsentDecision {
            host_id: host_text(&audit.host_id),
            session_id: audit.session_id,
            capability,
            outcome,
        })
        .await?;
    if granted {
        gates.set(capability, true);
    }
    println!(
        "{} is now {}",
        capability.label(),
        describe(decision.outcome)
    );
    let message: SessionMessage = match decision.outcome {
        ConsentOutcome::Revoked => CapabilityRevoked { capability }.into(),
        ConsentOutcome::Granted => decided(capability, DecisionOutcome::Granted),
        ConsentOutcome::Denied(DenyReason::Refused) => {
            decided(capability, DecisionOutcome::Refused)
        }
        ConsentOutcome::Denied(DenyReason::TimedOut) => {
            decided(capability, DecisionOutcome::TimedOut)
        }
    };
    control
        .send(&message)
        .await
        .context("telling the engineer")?;
    Ok(())
}

fn decided(capability: Capability, outcome: DecisionOutcome) -> SessionMessage {
    CapabilityDecision {
        capability,
        outcome,
    }
    .into()
}

fn describe(outcome: ConsentOutcome) -> &'static str {
    match outcome {
        ConsentOutcome::Granted => "GRANTED",
        ConsentOutcome::Denied(DenyReason::Refused) => "refused",
        ConsentOutcome::Denied(DenyReason::TimedOut) => "refused (no answer)",
        ConsentOutcome::Revoked => "REVOKED",
    }
}

/// Records session events at the relay, durably, before acting on them.
struct Auditor {
    link: RelayLink,
    host_id: String,
    session_id: [u8; 32],
}

impl Auditor {
    async fn record(&self, event: AuditEvent) -> Result<()> {
        self.link
            .audit(event)
            .await
            .context("the relay could not record an audit event; stopping the session")
    }
}

/// Takes the data channels the viewer opens after the handshake.
async fn accept_channels(
    connection: quinn::Connection,
    session_id: [u8; 32],
    events: mpsc::Sender<SessionEvent>,
) {
    loop {
        let (open, send, recv) = match accept_channel(&connection).await {
            Ok(Some(stream)) => stream,
            Ok(None) => return,
            Err(ChannelError::Net(e)) => {
                debug!(error = %e, "no more channels");
                return;
            }
            Err(e) => {
                warn!(error = %e, "refused a malformed channel");
                continue;
            }
        };
        if open.session_id != session_id {
            warn!(channel = ?open.channel, "refused a channel for another session");
            continue;
        }
        let event = match channel_of(open.channel) {
            None => SessionEvent::ChannelRefused(
                assent_proto::wire::FILE_TRANSFER_UNAVAILABLE.to_owned(),
            ),
            // The session's keys decide whether the channel may open.
            Some(channel) => SessionEvent::ChannelOpened(channel, send, recv),
        };
        if events.send(event).await.is_err() {
            return;
        }
    }
}
