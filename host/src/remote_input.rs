//! Remote control (R10). Input from the engineer is injected only while
//! control is granted: the injector exists only then (it is created on the
//! grant, on its own thread, and dropped on revocation after releasing every
//! held key and button — no stuck keys). Input that arrives without the grant
//! is dropped and counted for the audit log; a flood is rate-limited.
//!
//! While the technician has a consent prompt open, input is dropped (and
//! counted) even with control granted, and the injector is released: the
//! engineer must not be able to answer their own request in the dialog or
//! type `y` into the technician's terminal (R10).

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

/// Receives input for the whole session; `prompt_open` is
/// `Technician::prompt_open()`.
pub async fn run(
    mut recv: SealedRecv,
    mut grants: watch::Receiver<Grants>,
    mut prompt_open: watch::Receiver<bool>,
    display: Option<String>,
    events: mpsc::Sender<SessionEvent>,
) {
    let mut prompts_possible = true;
    let mut injector: Option<Injector> = None;
    let mut limiter = InputRateLimiter::new(DEFAULT_INPUT_RATE, DEFAULT_INPUT_BURST);
    let mut dropped = 0u64;
    let mut report = tokio::time::interval(DROP_REPORT_INTERVAL);
    loop {
        tokio::select! {
            message = recv.recv() => match message {
                Ok(Some((message, _))) => {
                    if !may_inject(grants.borrow().control, *prompt_open.borrow()) {
                        dropped += 1;
                        continue;
                    }
                    if !limiter.admit(Instant::now(), kind_of(&message)) {
                        continue;
                    }
                    let injector = injector.get_or_insert_with(|| Injector::start(display.clone(), prompt_open.clone()));
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
            changed = prompt_open.changed(), if prompts_possible => {
                if changed.is_err() {
                    // The technician is gone: no prompt can open any more.
                    prompts_possible = false;
                } else if *prompt_open.borrow() {
                    // A prompt opened: release everything the engineer held.
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
    /// `prompt_open` is checked again here: events queued before a prompt
    /// opened must not reach its dialog.
    fn start(display: Option<String>, prompt_open: watch::Receiver<bool>) -> Self {
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
                    if *prompt_open.borrow() && kind_of(&message) != InputKind::Release {
                        continue;
                    }
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

/// Engineer input reaches the X server only with control granted and no
/// consent prompt open (R10).
fn may_inject(control_granted: bool, prompt_open: bool) -> bool {
    control_granted && !prompt_open
}

/// Releases always pass the rate limit: dropping one would leave a key stuck.
fn kind_of(message: &SessionMessage) -> InputKind {
    match message {
        SessionMessage::KeyEvent(k) if !k.pressed => InputKind::Release,
        SessionMessage::PointerButton(b) if !b.pressed => InputKind::Release,
        _ => InputKind::Action,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_injected_only_with_control_granted_and_no_prompt_open() {
        assert!(may_inject(true, false));
        assert!(!may_inject(true, true), "an open prompt pauses control");
        assert!(!may_inject(false, false));
        assert!(!may_inject(false, true));
    }
}
