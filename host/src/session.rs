//! The driver of one consented session on the host (R9, R10, R12). The
//! rules (admission, prompts and their deadlines, grants after their audit
//! record, revocations first, the channel table) are
//! [`assent_proto::host_session::HostSession`]'s; this loop feeds it what
//! the control channel, the technician, the helper tasks and the relay say,
//! and carries out its actions in order. The screen task captures nothing
//! and the input task holds no injector unless the matching grant is in
//! force; capture and injection are reached through [`Platform`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use assent_net::channel::{channel_of, ChannelError};
use assent_net::{accept_channel, sealed_with, FramedRecv, FramedSend};
use assent_proto::allowlist::{AllowListEntry, VerifiedAllowList};
use assent_proto::consent::CapabilitySet;
use assent_proto::handshake::{Channel, SessionKeys};
pub use assent_proto::host_session::CONTROL_CUT;
use assent_proto::host_session::{Action, AuditId, HostSession, PromptId};
use assent_proto::messages::audit_event::AuditEvent;
use assent_proto::messages::consent::{Capability, SessionEnd, SessionError};
use assent_proto::messages::session::SessionMessage;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::allowlist_watch::{watch_during_session, AllowListWatch};
use crate::platform::Platform;
use crate::relay_link::{host_text, now_unix, RelayLink};
use crate::remote_input;
use crate::screen_stream::{self, ScreenSettings};
use crate::technician::{Answer, Technician, TechnicianCommand, COMMAND_HELP};

#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// How long a consent prompt stays open before it counts as a refusal.
    pub consent_timeout: Duration,
    pub screen: ScreenSettings,
    /// The screen to stream and where input goes.
    pub platform: Platform,
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
    /// The engineer is re-checked against each newer list (R7).
    pub allowlist: AllowListWatch,
}

/// What the session's helper tasks tell the control loop.
pub enum SessionEvent {
    /// The technician answered a prompt (silence needs no event: the
    /// session times its prompts out itself).
    Answered(PromptId, bool),
    ChannelOpened(Channel, FramedSend, FramedRecv),
    ChannelRefused(String),
    InputDropped(u64),
    /// A helper task hit something the engineer should hear about.
    Problem(SessionError),
    /// A helper task refused what only an attacker sends (R21).
    Tampered(String),
    /// Something the relay must record (file transfers).
    Audit(AuditEvent),
    /// The operator's newer allowlist, verified and not a rollback.
    AllowList(VerifiedAllowList),
    /// A list the relay served that was refused (forged or older).
    AllowListRefused(String),
}

/// The relay's answer to one audit record the session asked for.
enum AuditAck {
    Recorded(AuditId),
    Failed(AuditId, String),
}

/// Runs until either side ends the session; returns why it ended. The
/// rules are [`HostSession`]'s; this loop feeds it what happens and
/// carries out its actions in order.
pub async fn run_session(setup: SessionSetup, options: SessionOptions) -> Result<String> {
    let SessionSetup {
        session_id,
        host_id,
        viewer,
        keys,
        control_send,
        control_recv,
        connection,
        link,
        technician,
        mut commands,
        receive_dir,
        data_dir,
        allowlist,
    } = setup;
    let mut session = HostSession::new(
        &host_id,
        session_id,
        &viewer,
        keys,
        options.consent_timeout,
        Instant::now(),
    )
    .context("the handshake's session keys had the control channel taken")?;
    let Some(Action::Admit(control_keys)) = session.poll() else {
        bail!("the session did not start with its control channel");
    };
    let (mut control, mut control_in) = sealed_with(control_keys, control_send, control_recv);
    let engineer = session.engineer().to_owned();
    let (grants_tx, grants) = watch::channel(CapabilitySet::EMPTY);
    let gates = Gates {
        grants: grants_tx,
        control: remote_input::ControlGate::default(),
    };
    let (events_tx, mut events) = mpsc::channel::<SessionEvent>(64);
    tokio::spawn(watch_during_session(
        link.clone(),
        allowlist,
        events_tx.clone(),
    ));
    let (audits, mut acks, auditor) = start_auditor(link);
    let mut prompts: HashMap<PromptId, JoinHandle<()>> = HashMap::new();
    // Streams of channels the session kept, until it admits them.
    let mut opened: HashMap<Channel, (FramedSend, FramedRecv)> = HashMap::new();

    tokio::spawn(accept_channels(
        connection.clone(),
        session_id,
        events_tx.clone(),
    ));
    println!("{COMMAND_HELP}");
    // The technician's Stop / End session buttons (GUI mode), kept current.
    technician.show_session_window(&engineer, grants.clone());
    #[cfg(feature = "file-transfer")]
    let mut files = crate::file_transfer::FilesHandle::new(receive_dir, options.max_file_size);
    #[cfg(not(feature = "file-transfer"))]
    let _ = (receive_dir, options.max_file_size);

    let end = 'session: loop {
        while let Some(action) = session.poll() {
            match action {
                Action::Send(message) => {
                    if let Err(e) = control.send(&message).await {
                        session.end(format!("the control channel failed: {e}"));
                    }
                }
                Action::ShowPrompt {
                    id,
                    question,
                    deadline,
                    ..
                } => {
                    let technician = technician.clone();
                    let events = events_tx.clone();
                    prompts.insert(
                        id,
                        tokio::spawn(async move {
                            let yes = match technician.ask(&question, deadline).await {
                                Answer::Yes => true,
                                Answer::No => false,
                                Answer::NoAnswer => return,
                            };
                            let _ = events.send(SessionEvent::Answered(id, yes)).await;
                        }),
                    );
                }
                Action::ClosePrompt(id) => {
                    if let Some(prompt) = prompts.remove(&id) {
                        // Dropping `ask` closes the prompt and its dialog.
                        prompt.abort();
                    }
                }
                Action::SetGrants(set) => gates.set(set),
                Action::Admit(keys) => {
                    let channel = keys.channel;
                    let Some((send, recv)) = opened.remove(&channel) else {
                        warn!(?channel, "admitted a channel whose streams are gone");
                        continue;
                    };
                    let (send, recv) = sealed_with(keys, send, recv);
                    match channel {
                        Channel::Screen => {
                            let open_screen = options.platform.screen.clone();
                            tokio::spawn(screen_stream::run_with_source(
                                send,
                                grants.clone(),
                                options.screen.clone(),
                                events_tx.clone(),
                                move || open_screen(),
                            ));
                        }
                        Channel::Input => {
                            tokio::spawn(remote_input::run(
                                recv,
                                grants.clone(),
                                gates.control.clone(),
                                technician.prompt_open(),
                                options.platform.input.clone(),
                                events_tx.clone(),
                            ));
                        }
                        #[cfg(feature = "file-transfer")]
                        Channel::Files => files.attach(
                            send,
                            recv,
                            grants.clone(),
                            technician.clone(),
                            events_tx.clone(),
                            crate::file_transfer::TransferContext {
                                host_id: host_id.clone(),
                                session_id,
                                engineer: engineer.clone(),
                            },
                        ),
                        // Status only, no screen or control: no consent
                        // asked once the engineer is admitted (R10, R15).
                        Channel::Notifications => {
                            tokio::spawn(crate::notifications::session_feed::run(
                                send,
                                data_dir.clone(),
                            ));
                        }
                        // Taken when the session started, above.
                        Channel::Control => {}
                    }
                }
                Action::Audit { id, event } => {
                    if audits.send((id, event)).is_err() {
                        session.audit_failed(id, "the audit task stopped");
                    }
                }
                Action::Notice(line) => println!("{line}"),
                Action::End { reason } => break 'session reason,
            }
        }
        tokio::select! {
            message = control_in.recv() => match message {
                Ok(Some((message, _))) => session.handle_viewer(message, Instant::now()),
                Ok(None) => session.control_closed(),
                Err(ChannelError::Decode(e)) => session.handle_undecodable(&e),
                // Reordered, dropped or forged in transit: nothing after it
                // can be trusted on this stream (R21).
                Err(e @ ChannelError::Record(_)) => {
                    session.tampered(&format!("the control channel refused a record: {e}"));
                    session.end(format!("the control channel failed: {e}"));
                }
                // A lost relay often shows first as a failed read here.
                Err(e) => session.end(match connection.close_reason() {
                    Some(closed) => format!("the relay connection was lost ({closed})"),
                    None => format!("the control channel failed: {e}"),
                }),
            },
            event = events.recv() => match event {
                Some(SessionEvent::Answered(id, yes)) => {
                    prompts.remove(&id);
                    session.answer(id, yes, Instant::now());
                }
                Some(SessionEvent::ChannelOpened(channel, send, recv)) => {
                    // A refused duplicate's streams are dropped here.
                    if session.channel_opened(channel).is_ok() {
                        opened.insert(channel, (send, recv));
                    }
                }
                Some(SessionEvent::ChannelRefused(why)) => session.channel_unavailable(&why),
                Some(SessionEvent::InputDropped(count)) => {
                    println!("dropped {count} input event(s) from the engineer: remote control is not granted, or a consent prompt is open");
                    session.record(AuditEvent::InputDropped { host_id: host_text(&host_id), session_id, count });
                }
                Some(SessionEvent::Problem(error)) => session.tell_engineer(error),
                Some(SessionEvent::Tampered(detail)) => session.tampered(&detail),
                Some(SessionEvent::Audit(event)) => session.record(event),
                Some(SessionEvent::AllowList(list)) => session.allowlist_replaced(&list, now_unix()),
                Some(SessionEvent::AllowListRefused(why)) => session.allowlist_refused(&why),
                None => session.end("internal error: the session's tasks are gone".to_owned()),
            },
            ack = acks.recv() => match ack {
                Some(AuditAck::Recorded(id)) => session.audit_recorded(id, Instant::now()),
                Some(AuditAck::Failed(id, why)) => session.audit_failed(id, &why),
                None => session.end("internal error: the audit task is gone".to_owned()),
            },
            command = commands.recv() => match command {
                Some(TechnicianCommand::Revoke(capability)) => session.revoke(capability),
                Some(TechnicianCommand::RevokeAll) => session.revoke_all(),
                Some(TechnicianCommand::SendFile(path)) => {
                    #[cfg(feature = "file-transfer")]
                    files.send(path);
                    #[cfg(not(feature = "file-transfer"))]
                    println!("{}: {}", path.display(), assent_proto::wire::FILE_TRANSFER_UNAVAILABLE);
                }
                Some(TechnicianCommand::EndSession) | None => session.end("the technician ended the session".to_owned()),
            },
            _ = sleep_until(session.poll_timeout()) => session.handle_timeout(Instant::now()),
            closed = connection.closed() => session.end(format!("the relay connection was lost ({closed})")),
            _ = tokio::signal::ctrl_c() => session.end("the technician pressed Ctrl-C".to_owned()),
        }
    };
    // No grant survives: HostSession withdrew them all (SetGrants) before
    // its End, and that action was carried out above.
    for (_, prompt) in prompts.drain() {
        prompt.abort();
    }
    // Sealed, so the engineer can tell our end from a cut stream.
    let _ = control.send(&session_end(&end)).await;
    control.finish();
    // What the session recorded last (a revocation, say) is not lost.
    drop(audits);
    if tokio::time::timeout(AUDIT_FLUSH_TIMEOUT, auditor)
        .await
        .is_err()
    {
        warn!("the relay did not take the session's last audit records in time");
    }
    Ok(end)
}

/// How long the end of a session waits for its audit records to be taken.
const AUDIT_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

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
struct Gates {
    grants: watch::Sender<CapabilitySet>,
    control: remote_input::ControlGate,
}

impl Gates {
    /// Narrows before it widens: a withdrawn capability is stopped before
    /// this returns (R10).
    fn set(&self, grants: CapabilitySet) {
        if grants.allows(Capability::RemoteControl) {
            self.control.open();
        } else {
            // Blocks for one injection in progress at most.
            self.control.close();
        }
        self.grants.send_replace(grants);
    }
}

/// Records the session's audit events at the relay, one at a time and in
/// order, and reports each outcome; a grant waits for its record (R12).
fn start_auditor(
    link: RelayLink,
) -> (
    mpsc::UnboundedSender<(AuditId, AuditEvent)>,
    mpsc::UnboundedReceiver<AuditAck>,
    JoinHandle<()>,
) {
    let (records, mut queue) = mpsc::unbounded_channel::<(AuditId, AuditEvent)>();
    let (acks_tx, acks) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        while let Some((id, event)) = queue.recv().await {
            let ack = match link.audit(event).await {
                Ok(()) => AuditAck::Recorded(id),
                Err(e) => AuditAck::Failed(id, format!("{e:#}")),
            };
            let _ = acks_tx.send(ack);
        }
    });
    (records, acks, task)
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
