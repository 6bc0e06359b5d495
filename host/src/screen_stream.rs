//! Screen streaming (R10, R17). Nothing is captured before screen view is
//! granted: the capture thread starts on the grant and stops on revocation,
//! and each message is sealed under the grant ([`SealGate`]), so once a
//! revoke has returned not one more frame is sealed. Frames are lossless tiles (`screen_codec`), paced
//! to the bandwidth budget by lowering the frame rate, never the fidelity.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use assent_net::SealedSend;
use assent_proto::messages::consent::{Capability, SessionError, SessionErrorCode};
use assent_proto::messages::screen::ScreenInfo;
use assent_proto::messages::session::SessionMessage;
use assent_proto::pacing::{FramePacer, PacingSettings};
use assent_proto::screen_codec::{EncoderSettings, TileEncoder};
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use crate::capture::{CaptureError, ScreenSource, X11Screen};
use crate::grant_gate::SealGate;
use crate::session::SessionEvent;
use assent_proto::consent::CapabilitySet;

const SCREEN: Capability = Capability::ScreenView;

#[derive(Debug, Clone)]
pub struct ScreenSettings {
    /// X display to capture (`None`: `$DISPLAY`).
    pub display: Option<String>,
    pub pacing: PacingSettings,
}

/// Sends the X11 screen while it is granted, for the whole session.
pub async fn run(
    send: SealedSend,
    grants: watch::Receiver<CapabilitySet>,
    settings: ScreenSettings,
    events: mpsc::Sender<SessionEvent>,
) {
    let display = settings.display.clone();
    let open = move || X11Screen::open(display.as_deref());
    run_with_source(send, grants, settings, events, open).await;
}

/// [`run`] with the screen `open` returns (called on the capture thread at
/// each grant: an X11 capturer is not `Send`); tests pass a synthetic one.
pub async fn run_with_source<S, F>(
    mut send: SealedSend,
    mut grants: watch::Receiver<CapabilitySet>,
    settings: ScreenSettings,
    events: mpsc::Sender<SessionEvent>,
    open: F,
) where
    S: ScreenSource,
    F: Fn() -> Result<S, CaptureError> + Send + Sync + 'static,
{
    let open = Arc::new(open);
    let gate = SealGate::new(grants.clone(), SCREEN);
    loop {
        if grants.wait_for(|g| g.allows(SCREEN)).await.is_err() {
            return;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (batches, mut receiver) = mpsc::channel::<Result<Vec<SessionMessage>, String>>(2);
        {
            let (stop, pacing, open) = (stop.clone(), settings.pacing, open.clone());
            std::thread::Builder::new()
                .name("screen-capture".into())
                .spawn(move || capture_loop(open.as_ref(), pacing, &stop, &batches))
                .expect("spawn the capture thread");
        }
        let outcome = stream_while_granted(&mut send, &gate, &mut grants, &mut receiver).await;
        stop.store(true, Ordering::SeqCst);
        drop(receiver);
        match outcome {
            Streamed::Revoked => debug!("screen view revoked; capture stopped"),
            Streamed::ChannelClosed => return,
            Streamed::CaptureFailed(why) => {
                warn!(%why, "screen capture failed");
                let error = SessionError::new(
                    SessionErrorCode::Internal,
                    &format!("screen capture on the instrument failed: {why}"),
                );
                let _ = events.send(SessionEvent::Problem(error)).await;
                // Wait for the grant to be withdrawn and given again.
                if grants.wait_for(|g| !g.allows(SCREEN)).await.is_err() {
                    return;
                }
            }
        }
    }
}

enum Streamed {
    Revoked,
    ChannelClosed,
    CaptureFailed(String),
}

async fn stream_while_granted(
    send: &mut SealedSend,
    gate: &SealGate,
    grants: &mut watch::Receiver<CapabilitySet>,
    batches: &mut mpsc::Receiver<Result<Vec<SessionMessage>, String>>,
) -> Streamed {
    loop {
        tokio::select! {
            batch = batches.recv() => match batch {
                Some(Ok(messages)) => {
                    for message in messages {
                        // Checked and sealed under the grant: a frame
                        // captured before a revoke is not sealed after it.
                        let record = match gate.seal_if_granted(|| send.seal(&message)) {
                            None => return Streamed::Revoked,
                            Some(Ok(record)) => record,
                            Some(Err(e)) => {
                                warn!(error = %e, "cannot seal a screen message");
                                return Streamed::ChannelClosed;
                            }
                        };
                        if send.send_sealed(record).await.is_err() {
                            return Streamed::ChannelClosed;
                        }
                    }
                }
                Some(Err(why)) => return Streamed::CaptureFailed(why),
                None => return Streamed::CaptureFailed("the capture thread stopped".into()),
            },
            changed = grants.changed() => {
                if changed.is_err() || !grants.borrow().allows(SCREEN) {
                    return Streamed::Revoked;
                }
            }
        }
    }
}

/// Runs on its own thread: the X11 capturer is not `Send`.
fn capture_loop<S: ScreenSource>(
    open: &dyn Fn() -> Result<S, CaptureError>,
    pacing: PacingSettings,
    stop: &AtomicBool,
    batches: &mpsc::Sender<Result<Vec<SessionMessage>, String>>,
) {
    let fail = |why: String| {
        let _ = batches.blocking_send(Err(why));
    };
    let mut screen = match open() {
        Ok(screen) => screen,
        Err(e) => return fail(e.to_string()),
    };
    let mut encoder = TileEncoder::new(EncoderSettings::default());
    let mut pacer = FramePacer::new(pacing);
    let mut size = (0, 0);
    let mut frame_seq = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        let at = pacer.next_capture_at(now);
        if at > now {
            std::thread::sleep((at - now).min(Duration::from_millis(50)));
            continue;
        }
        let mut messages = Vec::new();
        let frame = match screen.capture() {
            Ok(frame) => frame,
            Err(e) => return fail(e.to_string()),
        };
        if (frame.width, frame.height) != size {
            size = (frame.width, frame.height);
            messages.push(
                ScreenInfo {
                    width: size.0,
                    height: size.1,
                }
                .into(),
            );
        }
        match encoder.encode(&frame, frame_seq) {
            Ok(updates) => messages.extend(updates.into_iter().map(SessionMessage::from)),
            Err(e) => return fail(e.to_string()),
        }
        frame_seq += 1;
        match screen.cursor() {
            Ok(Some(cursor)) => messages.push(cursor.into()),
            Ok(None) => {}
            Err(e) => debug!(error = %e, "cursor unavailable"),
        }
        let bytes: usize = messages.iter().map(approximate_len).sum();
        // The capture instant, so encode time does not count against the rate.
        pacer.on_frame_sent(bytes, now);
        if messages.is_empty() {
            continue;
        }
        if batches.blocking_send(Ok(messages)).is_err() {
            return;
        }
    }
}

/// Bytes a message costs on the wire (tile data dominates).
fn approximate_len(message: &SessionMessage) -> usize {
    match message {
        SessionMessage::FrameUpdate(update) => {
            64 + update
                .tiles
                .iter()
                .map(|t| 32 + t.data.len())
                .sum::<usize>()
        }
        _ => 64,
    }
}
