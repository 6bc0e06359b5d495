//! A keyed session with the host (R3, R10), whatever shows it (window or
//! headless). It opens the screen and input channels, asks the technician
//! for each capability one at a time, decodes the screen, follows grants
//! and revocations, and sends input only while remote control is granted.
//! The host enforces consent; the viewer never sends what is not granted.
//!
//! File transfer ([`crate::files`]): the files channel is opened just before
//! file transfer is first requested, so a session that never asks for it
//! (e.g. with a PHI host, R11) never touches it.
//!
//! Notifications ([`crate::notifications`], R15): one receive-only channel
//! opened with the others; each change is printed, and a host that never
//! serves it or breaks it costs that channel only, never the session.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use assent_net::channel::ChannelError;
use assent_net::relay_client::RelayClient;
use assent_net::{open_channel, seal_channel, SealedRecv, SealedSend};
use assent_proto::handshake::{Channel, SessionKeys};
use assent_proto::messages::consent::{
    Capability, CapabilityRequest, DecisionOutcome, SessionErrorCode,
};
use assent_proto::messages::session::SessionMessage;
use assent_proto::messages::signalling::{ChannelKind, SignallingMessage};
use assent_proto::screen_codec::Framebuffer;
use assent_proto::wire::FILE_TRANSFER_UNAVAILABLE;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::connect::Established;
use crate::files::{FileReport, FileTransfers, FilesPlan};
use crate::notifications::{
    ActiveNotifications, FeedEvent, NotificationChannel, NotificationSummary,
};
use crate::stats::ScreenStats;
use crate::window::UserAction;
use assent_proto::consent::CapabilitySet;

/// Gap between input events sent in one burst (`--type`): the host admits
/// about 1000 a second with a burst of 200 and drops the rest.
const INPUT_PACE: Duration = Duration::from_millis(2);

/// What the session reports to whatever shows it.
#[derive(Debug)]
pub enum SessionEvent<'a> {
    Decision(Capability, DecisionOutcome),
    Revoked(Capability),
    /// The host's screen size (again on a resolution change).
    ScreenSize {
        width: u32,
        height: u32,
    },
    /// A frame completed; `number` counts complete frames from 1.
    Frame {
        number: u64,
        framebuffer: &'a Framebuffer,
    },
    Cursor {
        x: i32,
        y: i32,
        visible: bool,
    },
    /// The host refused a capability request without asking the technician
    /// (e.g. file transfer on a PHI instrument, R11); with the host's words.
    RequestFailed(Capability, &'a str),
    /// A line for the engineer (host errors, refusals of requests).
    Status(&'a str),
    /// A file offered, received, sent or failed (already printed).
    File(&'a FileReport),
    /// The host's active notifications changed (the change already printed).
    Notifications(NotificationSummary),
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// The frontend finished what it was asked to do.
    Done(String),
    /// The host or the engineer ended it normally.
    Ended(String),
    /// Something broke: the relay connection, a channel, the screen stream.
    Failed(String),
}

impl SessionEnd {
    pub fn reason(&self) -> &str {
        match self {
            SessionEnd::Done(r) | SessionEnd::Ended(r) | SessionEnd::Failed(r) => r,
        }
    }
}

/// The window or the headless runner.
pub trait Frontend {
    /// Something happened; push what to do into `actions`. `Break` ends the
    /// session (e.g. enough frames, or a needed capability was refused).
    fn on_event(
        &mut self,
        event: SessionEvent<'_>,
        granted: CapabilitySet,
        actions: &mut Vec<UserAction>,
    ) -> ControlFlow<SessionEnd>;

    /// When the frontend wants [`Frontend::on_deadline`] called.
    fn deadline(&self) -> Option<Instant> {
        None
    }

    fn on_deadline(&mut self, _actions: &mut Vec<UserAction>) -> ControlFlow<SessionEnd> {
        ControlFlow::Continue(())
    }

    /// The session is over; `framebuffer` is the last screen, if any, and
    /// `notifications` the host's notifications still active.
    fn finish(
        &mut self,
        end: &SessionEnd,
        framebuffer: Option<&Framebuffer>,
        stats: &ScreenStats,
        notifications: &ActiveNotifications,
    ) -> Result<()>;
}

/// Capability requests, one in flight at a time (R10: the technician
/// answers one prompt after another).
#[derive(Debug, Default)]
struct Requests {
    queue: VecDeque<Capability>,
    awaiting: Option<Capability>,
}

impl Requests {
    fn push(&mut self, capability: Capability) {
        if self.awaiting != Some(capability) && !self.queue.contains(&capability) {
            self.queue.push_back(capability);
        }
    }

    /// The next request to send, if none is in flight.
    fn next(&mut self) -> Option<Capability> {
        if self.awaiting.is_some() {
            return None;
        }
        self.awaiting = self.queue.pop_front();
        self.awaiting
    }

    /// The technician's answer to `capability` arrived.
    fn answered(&mut self, capability: Capability) {
        if self.awaiting == Some(capability) {
            self.awaiting = None;
        }
    }

    /// The host refused the request in flight without a decision; returns it.
    fn fail_awaiting(&mut self) -> Option<Capability> {
        self.awaiting.take()
    }

    /// A host error failed a request. A PHI host (R11) says that file
    /// transfer is unavailable both to the request and to the files channel
    /// opened before it: that answer fails only a file-transfer request, never
    /// whichever request is in flight when the second copy arrives.
    fn fail_on_error(&mut self, message: &str) -> Option<Capability> {
        if message == FILE_TRANSFER_UNAVAILABLE && self.awaiting != Some(Capability::FileTransfer) {
            return None;
        }
        self.fail_awaiting()
    }
}

/// The open session and its channels.
struct Channels {
    control: SealedSend,
    control_in: SealedRecv,
    screen: SealedSend,
    screen_in: Option<SealedRecv>,
    input: SealedSend,
    notifications: NotificationChannel,
    /// Kept to open the files channel on the first file-transfer request;
    /// dropped once it is open.
    files_keys: Option<SessionKeys>,
    session_id: [u8; 32],
}

/// Runs the session until it ends; returns how it ended.
pub async fn run(
    established: Established,
    requests: &[Capability],
    files: FilesPlan,
    frontend: &mut dyn Frontend,
    mut user_actions: Option<mpsc::UnboundedReceiver<UserAction>>,
) -> Result<SessionEnd> {
    let Established {
        mut relay,
        paired,
        mut keys,
        control_send,
        control_recv,
    } = established;
    let connection = relay.connection.clone();
    let session_id = paired.session_id;
    let open = |kind| open_channel(&connection, session_id, kind);
    let (screen_send, screen_recv) = open(ChannelKind::Screen)
        .await
        .context("opening the screen channel")?;
    let (input_send, input_recv) = open(ChannelKind::Input)
        .await
        .context("opening the input channel")?;
    // The host never sends on the input channel; its receive half is unused.
    drop(input_recv);
    // Each channel's keys are taken once; none is taken yet in a new session.
    const FRESH: &str = "a new session has taken no channel keys";
    let notifications = match open(ChannelKind::Notifications).await {
        Ok((send, recv)) => {
            let opener = keys
                .take_channel(Channel::Notifications)
                .expect(FRESH)
                .opener;
            NotificationChannel::new(send, SealedRecv::new(recv, Channel::Notifications, opener))
        }
        Err(e) => {
            warn!(error = %e, "cannot open the notifications channel; the session goes on without notifications");
            NotificationChannel::absent()
        }
    };
    let (control, control_in) =
        seal_channel(&mut keys, Channel::Control, control_send, control_recv).expect(FRESH);
    let (screen, screen_in) =
        seal_channel(&mut keys, Channel::Screen, screen_send, screen_recv).expect(FRESH);
    let input = SealedSend::new(
        input_send,
        Channel::Input,
        keys.take_channel(Channel::Input).expect(FRESH).sealer,
    );
    let mut channels = Channels {
        control,
        control_in,
        screen,
        screen_in: Some(screen_in),
        input,
        notifications,
        files_keys: Some(keys),
        session_id,
    };
    let mut state = SessionState {
        requests: Requests::default(),
        granted: CapabilitySet::EMPTY,
        framebuffer: None,
        stats: ScreenStats::default(),
        dropped_input: 0,
        files: FileTransfers::new(files),
        notifications: ActiveNotifications::default(),
    };
    for &capability in requests {
        state.requests.push(capability);
    }
    let end = drive(
        &mut relay,
        &mut channels,
        &mut state,
        frontend,
        &mut user_actions,
    )
    .await;
    let end = match end {
        Ok(end) => end,
        Err(e) => SessionEnd::Failed(format!("{e:#}")),
    };
    // Finish every stream so the host reads a clean end, then leave. The
    // sealed SessionEnd first: it tells the host this end is ours, not a
    // stream the relay cut (R21).
    state.files.shutdown().await;
    let goodbye = assent_proto::messages::consent::SessionEnd {
        reason: assent_net::relay_client::text(end.reason()),
    };
    let _ = channels.control.send(&goodbye.into()).await;
    channels.control.finish();
    channels.screen.finish();
    channels.input.finish();
    channels.notifications.close();
    relay.close().await;
    frontend.finish(
        &end,
        state.framebuffer.as_ref(),
        &state.stats,
        &state.notifications,
    )?;
    Ok(end)
}

struct SessionState {
    requests: Requests,
    granted: CapabilitySet,
    framebuffer: Option<Framebuffer>,
    stats: ScreenStats,
    /// Input dropped because control was not granted (told once).
    dropped_input: u64,
    files: FileTransfers,
    notifications: ActiveNotifications,
}

async fn drive(
    relay: &mut RelayClient,
    channels: &mut Channels,
    state: &mut SessionState,
    frontend: &mut dyn Frontend,
    user_actions: &mut Option<mpsc::UnboundedReceiver<UserAction>>,
) -> Result<SessionEnd> {
    let connection = relay.connection.clone();
    let mut actions = Vec::new();
    loop {
        send_next_request(&connection, channels, state).await?;
        let reports = state
            .files
            .follow_grant(state.granted.allows(Capability::FileTransfer))
            .await;
        if let ControlFlow::Break(end) = show_files(&reports, state, frontend, &mut actions) {
            return Ok(end);
        }
        for (i, action) in actions.drain(..).enumerate() {
            // A scripted burst is paced below the host's input rate limit.
            if i > 0 && matches!(action, UserAction::Input(_)) {
                tokio::time::sleep(INPUT_PACE).await;
            }
            if let ControlFlow::Break(end) = act(channels, state, frontend, action).await? {
                return Ok(end);
            }
        }
        let deadline = frontend.deadline();
        let flow = tokio::select! {
            message = channels.control_in.recv() => match message {
                Ok(Some((message, _))) => on_control(message, state, frontend, &mut actions),
                // Only the host's sealed SessionEnd ends the session cleanly.
                Ok(None) => ControlFlow::Break(SessionEnd::Failed(
                    "the host's control channel closed without its sealed end of session: the relay or the network cut it".into(),
                )),
                Err(e) => ControlFlow::Break(channel_failed("control", e)),
            },
            message = recv_screen(&mut channels.screen_in) => match message {
                Ok(Some((message, len))) => on_screen(message, len, state, frontend, &mut actions),
                Ok(None) => {
                    debug!("the host closed the screen channel");
                    channels.screen_in = None;
                    ControlFlow::Continue(())
                }
                Err(e) => ControlFlow::Break(channel_failed("screen", e)),
            },
            action = next_action(user_actions) => match action {
                Some(action) => {
                    actions.push(action);
                    ControlFlow::Continue(())
                }
                None => ControlFlow::Break(SessionEnd::Ended("the viewer window was closed".into())),
            },
            input = state.files.next() => {
                let reports = state.files.handle(input).await;
                show_files(&reports, state, frontend, &mut actions)
            }
            event = channels.notifications.next(&mut state.notifications) => {
                on_notifications(event, state, frontend, &mut actions)
            }
            signal = relay.next() => on_signalling(signal),
            _ = sleep_until(deadline) => frontend.on_deadline(&mut actions),
            closed = connection.closed() => {
                ControlFlow::Break(SessionEnd::Failed(format!("the relay connection was lost ({closed})")))
            }
            _ = tokio::signal::ctrl_c() => ControlFlow::Break(SessionEnd::Ended("interrupted (Ctrl-C)".into())),
        };
        if let ControlFlow::Break(end) = flow {
            return Ok(end);
        }
    }
}

async fn send_next_request(
    connection: &quinn::Connection,
    channels: &mut Channels,
    state: &mut SessionState,
) -> Result<()> {
    if let Some(capability) = state.requests.next() {
        if capability == Capability::FileTransfer && state.files.needs_channel() {
            // Open before asking, so the host serves the channel by the time
            // the technician grants it and sends a file.
            if let Some(mut keys) = channels.files_keys.take() {
                let (send, recv) =
                    open_channel(connection, channels.session_id, ChannelKind::Files)
                        .await
                        .context("opening the files channel")?;
                let (send, recv) = seal_channel(&mut keys, Channel::Files, send, recv)
                    .context("sealing the files channel")?;
                state.files.attach(send, recv);
            }
        }
        println!("requested: {}", capability.label());
        channels
            .control
            .send(&CapabilityRequest { capability }.into())
            .await
            .context("asking the host for a capability")?;
    }
    Ok(())
}

/// Prints file reports and tells the frontend.
fn show_files(
    reports: &[FileReport],
    state: &SessionState,
    frontend: &mut dyn Frontend,
    actions: &mut Vec<UserAction>,
) -> ControlFlow<SessionEnd> {
    for report in reports {
        if report.is_printed() {
            println!("{}", report.line());
        }
        frontend.on_event(SessionEvent::File(report), state.granted, actions)?;
    }
    ControlFlow::Continue(())
}

/// Carries out one thing the engineer (or the headless script) wants.
async fn act(
    channels: &mut Channels,
    state: &mut SessionState,
    frontend: &mut dyn Frontend,
    action: UserAction,
) -> Result<ControlFlow<SessionEnd>> {
    match action {
        UserAction::Input(message) => {
            // R10: the viewer itself never sends input without the grant.
            if !state.granted.allows(Capability::RemoteControl) {
                state.dropped_input += 1;
                if state.dropped_input == 1 {
                    println!("input not sent: remote control is not granted");
                }
                return Ok(ControlFlow::Continue(()));
            }
            if message.channel() != Channel::Input {
                warn!(kind = ?message.message_type(), "not an input message; not sent");
                return Ok(ControlFlow::Continue(()));
            }
            if let Err(e) = channels.input.send(&message).await {
                return Ok(ControlFlow::Break(channel_failed("input", e)));
            }
        }
        UserAction::RequestCapability(capability) => {
            if state.granted.allows(capability) {
                println!("already granted: {}", capability.label());
            } else {
                state.requests.push(capability);
            }
        }
        UserAction::SendFile => {
            let note = state.files.ask_for_path();
            let mut actions = Vec::new();
            return Ok(show_files(&[note], state, frontend, &mut actions));
        }
        UserAction::Closed => {
            return Ok(ControlFlow::Break(SessionEnd::Ended(
                "the viewer window was closed".into(),
            )))
        }
    }
    Ok(ControlFlow::Continue(()))
}

fn on_control(
    message: SessionMessage,
    state: &mut SessionState,
    frontend: &mut dyn Frontend,
    actions: &mut Vec<UserAction>,
) -> ControlFlow<SessionEnd> {
    match message {
        SessionMessage::CapabilityDecision(decision) => {
            let capability = decision.capability;
            state.requests.answered(capability);
            let is_granted = decision.outcome == DecisionOutcome::Granted;
            state.granted.set(capability, is_granted);
            let verb = match decision.outcome {
                DecisionOutcome::Granted => "granted",
                DecisionOutcome::Refused => "refused",
                DecisionOutcome::TimedOut => "timed out",
            };
            println!("{verb}: {}", capability.label());
            frontend.on_event(
                SessionEvent::Decision(capability, decision.outcome),
                state.granted,
                actions,
            )
        }
        SessionMessage::CapabilityRevoked(revoked) => {
            state.granted.set(revoked.capability, false);
            println!("revoked: {}", revoked.capability.label());
            frontend.on_event(
                SessionEvent::Revoked(revoked.capability),
                state.granted,
                actions,
            )
        }
        SessionMessage::SessionEnd(end) => ControlFlow::Break(SessionEnd::Ended(format!(
            "the host ended the session ({})",
            end.reason.as_str()
        ))),
        SessionMessage::SessionError(error) => {
            let line = format!("host error ({:?}): {}", error.code, error.message);
            println!("{line}");
            // A refused request (already pending, or file transfer on a PHI
            // build) answers the request in flight: requests go one at a time.
            let failed = matches!(
                error.code,
                SessionErrorCode::InvalidState | SessionErrorCode::Unavailable
            )
            .then(|| state.requests.fail_on_error(error.message.as_str()))
            .flatten();
            match failed {
                Some(capability) => {
                    println!("request failed: {}", capability.label());
                    frontend.on_event(
                        SessionEvent::RequestFailed(capability, &line),
                        state.granted,
                        actions,
                    )
                }
                None => frontend.on_event(SessionEvent::Status(&line), state.granted, actions),
            }
        }
        other => {
            warn!(kind = ?other.message_type(), "unexpected message on the control channel; ignored");
            ControlFlow::Continue(())
        }
    }
}

fn on_screen(
    message: SessionMessage,
    wire_len: usize,
    state: &mut SessionState,
    frontend: &mut dyn Frontend,
    actions: &mut Vec<UserAction>,
) -> ControlFlow<SessionEnd> {
    let now = Instant::now();
    state.stats.on_bytes(wire_len, now);
    match message {
        SessionMessage::ScreenInfo(info) => {
            let sized = match state.framebuffer.as_mut() {
                Some(framebuffer) => framebuffer.reset(info.width, info.height),
                None => Framebuffer::new(info.width, info.height).map(|fb| {
                    state.framebuffer = Some(fb);
                }),
            };
            if let Err(e) = sized {
                return ControlFlow::Break(SessionEnd::Failed(format!(
                    "the host's screen cannot be shown: {e}"
                )));
            }
            println!("screen: {}x{}", info.width, info.height);
            frontend.on_event(
                SessionEvent::ScreenSize {
                    width: info.width,
                    height: info.height,
                },
                state.granted,
                actions,
            )
        }
        SessionMessage::FrameUpdate(update) => {
            let framebuffer = match state.framebuffer.as_mut() {
                Some(framebuffer) => framebuffer,
                None => match Framebuffer::new(update.width, update.height) {
                    Ok(fb) => state.framebuffer.insert(fb),
                    Err(e) => {
                        return ControlFlow::Break(SessionEnd::Failed(format!(
                            "the host's screen cannot be shown: {e}"
                        )))
                    }
                },
            };
            let applied = match framebuffer.apply(&update) {
                Ok(applied) => applied,
                Err(e) => {
                    return ControlFlow::Break(SessionEnd::Failed(format!(
                        "the host sent a screen update that does not decode: {e}"
                    )))
                }
            };
            state.stats.on_update(applied.frame_complete, now);
            if !applied.frame_complete {
                return ControlFlow::Continue(());
            }
            frontend.on_event(
                SessionEvent::Frame {
                    number: state.stats.frames(),
                    framebuffer,
                },
                state.granted,
                actions,
            )
        }
        SessionMessage::CursorUpdate(cursor) => frontend.on_event(
            SessionEvent::Cursor {
                x: cursor.x,
                y: cursor.y,
                visible: cursor.visible,
            },
            state.granted,
            actions,
        ),
        // SealedRecv refuses anything that is not a screen message.
        _ => ControlFlow::Continue(()),
    }
}

/// Shows a change to the host's notifications. The channel's end, clean or
/// not, is logged and the session goes on (an older host never serves it).
fn on_notifications(
    event: FeedEvent,
    state: &SessionState,
    frontend: &mut dyn Frontend,
    actions: &mut Vec<UserAction>,
) -> ControlFlow<SessionEnd> {
    match event {
        FeedEvent::Changed(change) => {
            println!("{}", change.line());
            frontend.on_event(
                SessionEvent::Notifications(state.notifications.summary()),
                state.granted,
                actions,
            )
        }
        FeedEvent::Ended => {
            debug!("the host finished the notifications channel");
            ControlFlow::Continue(())
        }
        FeedEvent::Failed(why) => {
            warn!(error = %why, "closed the notifications channel; the session goes on without live notifications");
            ControlFlow::Continue(())
        }
    }
}

fn on_signalling(
    signal: Result<SignallingMessage, assent_net::RelayClientError>,
) -> ControlFlow<SessionEnd> {
    match signal {
        Ok(SignallingMessage::SupportClose(close)) => ControlFlow::Break(SessionEnd::Ended(
            format!("the relay closed the session ({:?})", close.reason),
        )),
        Ok(SignallingMessage::RelayError(e)) => {
            println!("relay: {}", e.message);
            ControlFlow::Continue(())
        }
        Ok(other) => {
            debug!(kind = ?other.message_type(), "signalling message ignored during the session");
            ControlFlow::Continue(())
        }
        Err(e) => ControlFlow::Break(SessionEnd::Failed(format!(
            "the relay connection was lost ({e})"
        ))),
    }
}

fn channel_failed(channel: &str, error: ChannelError) -> SessionEnd {
    SessionEnd::Failed(format!("the {channel} channel failed: {error}"))
}

async fn recv_screen(
    screen: &mut Option<SealedRecv>,
) -> Result<Option<(SessionMessage, usize)>, ChannelError> {
    match screen {
        Some(recv) => recv.recv().await,
        None => std::future::pending().await,
    }
}

async fn next_action(
    actions: &mut Option<mpsc::UnboundedReceiver<UserAction>>,
) -> Option<UserAction> {
    match actions {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
