//! Remote control (R10). Input from the engineer is injected only while
//! control is granted: the injector exists only then (it is created on the
//! grant, on its own thread, and dropped on revocation after releasing every
//! held key and button — no stuck keys). Input that arrives without the grant
//! is dropped and counted for the audit log; a flood is rate-limited.

use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use assent_net::SealedRecv;
use assent_proto::messages::session::SessionMessage;
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use crate::control::{
    EnigoInput, InputKind, InputRateLimiter, InputSink, DEFAULT_INPUT_BURST, DEFAULT_INPUT_RATE,
};
use crate::session::{Grants, SessionEvent};

/// How often dropped-input counts are reported (and audited).
const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Receives input for the whole session.
pub async fn run(
    mut recv: SealedRecv,
    mut grants: watch::Receiver<Grants>,
    display: Option<String>,
    events: mpsc::Sender<SessionEvent>,
) {
    let mut injector: Option<Injector> = None;
    let mut limiter = InputRateLimiter::new(DEFAULT_INPUT_RATE, DEFAULT_INPUT_BURST);
    let mut dropped = 0u64;
    let mut report = tokio::time::interval(DROP_REPORT_INTERVAL);
    loop {
        tokio::select! {
            message = recv.recv() => match message {
                Ok(Some((message, _))) => {
                    if !grants.borrow().control {
                        dropped += 1;
                        continue;
                    }
                    if !limiter.admit(Instant::now(), kind_of(&message)) {
                        continue;
                    }
                    let injector = injector.get_or_insert_with(|| Injector::start(display.clone()));
                    injector.inject(message);
                }
                Ok(None) => break,
                Err(e) => {
                    warn!(error = %e, "input channel closed");
                    break;
                }
            },
            changed = grants.changed() => {
                if changed.is_err() {
                    break;
                }
                if !grants.borrow().control {
                    // Revoked: release everything and drop the injector now.
                    injector = None;
                }
            }
            _ = report.tick(), if dropped > 0 => {
                let _ = events.send(SessionEvent::InputDropped(dropped)).await;
                dropped = 0;
            }
        }
    }
    drop(injector);
    if dropped > 0 {
        let _ = events.send(SessionEvent::InputDropped(dropped)).await;
    }
}

enum Command {
    Inject(SessionMessage),
}

/// The input injector, on its own thread (enigo's X connection is not
/// `Send`). Dropping it releases held keys and ends the thread.
struct Injector {
    commands: Option<std_mpsc::Sender<Command>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Injector {
    fn start(display: Option<String>) -> Self {
        let (commands, queue) = std_mpsc::channel::<Command>();
        let thread = std::thread::Builder::new()
            .name("input-injector".into())
            .spawn(move || {
                let mut sink = match EnigoInput::new(display.as_deref()) {
                    Ok(sink) => sink,
                    Err(e) => {
                        warn!(error = %e, "cannot inject input");
                        return;
                    }
                };
                while let Ok(Command::Inject(message)) = queue.recv() {
                    deliver(&mut sink, message);
                }
                if let Err(e) = sink.release_all() {
                    warn!(error = %e, "releasing held keys failed");
                }
            })
            .expect("spawn the input thread");
        Self {
            commands: Some(commands),
            thread: Some(thread),
        }
    }

    fn inject(&mut self, message: SessionMessage) {
        if let Some(commands) = &self.commands {
            let _ = commands.send(Command::Inject(message));
        }
    }
}

impl Drop for Injector {
    fn drop(&mut self) {
        // Closing the queue makes the thread release everything and exit.
        self.commands = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn deliver(sink: &mut impl InputSink, message: SessionMessage) {
    let result = match message {
        SessionMessage::PointerMove(m) => sink.pointer_move(m.x, m.y),
        SessionMessage::PointerButton(b) => sink.button(b.button, b.pressed),
        SessionMessage::Wheel(w) => sink.wheel(w.dx, w.dy),
        SessionMessage::KeyEvent(k) => sink.key(k.keysym, k.pressed),
        other => {
            debug!(kind = ?other.message_type(), "not an input event");
            Ok(())
        }
    };
    if let Err(e) = result {
        warn!(error = %e, "input injection failed");
    }
}

/// Releases always pass the rate limit: dropping one would leave a key stuck.
fn kind_of(message: &SessionMessage) -> InputKind {
    match message {
        SessionMessage::KeyEvent(k) if !k.pressed => InputKind::Release,
        SessionMessage::PointerButton(b) if !b.pressed => InputKind::Release,
        _ => InputKind::Action,
    }
}
