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
//!
//! A revocation is immediate although injection is slower than the network
//! (enigo waits after each XTest event): the queue in front of the injector
//! is bounded, and the [`ControlGate`] is checked at the moment of each
//! injection, so events still queued when control is revoked are discarded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use assent_net::SealedRecv;
use assent_proto::messages::session::SessionMessage;
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use crate::control::{
    InputKind, InputRateLimiter, InputSink, DEFAULT_INPUT_BURST, DEFAULT_INPUT_RATE,
};
use crate::platform::OpenInput;
use crate::session::SessionEvent;
use assent_proto::consent::CapabilitySet;
use assent_proto::messages::consent::Capability;

/// How often dropped-input counts are reported (and audited).
const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Events waiting for the injector at most; more are dropped. A fraction of
/// a second of input at the rate limit, so a slow injector never builds a
/// backlog that outlives the engineer's intent.
pub const INJECT_QUEUE_EVENTS: usize = 64;

/// A slow injector's cost per event (issue 12 puts enigo's XTest path at
/// about this): what the revocation tests and benchmark inject against.
pub const XTEST_EVENT_COST: Duration = Duration::from_millis(12);

/// Whether remote control is in force at the moment an event is injected
/// (R10). The injector holds the gate's lock while it checks it and injects
/// one event; [`close`](Self::close) clears the flag first (so no later
/// injection starts, even if the injector wins the lock again: std's mutex is
/// not fair) and then takes the lock, so once it returns no event is being
/// injected and none will be until the gate opens again.
#[derive(Clone, Default)]
pub struct ControlGate(Arc<GateState>);

#[derive(Default)]
struct GateState {
    open: AtomicBool,
    injecting: Mutex<()>,
}

impl ControlGate {
    fn lock(&self) -> MutexGuard<'_, ()> {
        // A panic while injecting leaves nothing inconsistent behind.
        self.0
            .injecting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Control granted (after its audit record is stored).
    pub fn open(&self) {
        self.0.open.store(true, Ordering::SeqCst);
    }

    /// Control revoked: waits for an injection in progress (one event at
    /// most) and stops every later one.
    pub fn close(&self) {
        self.0.open.store(false, Ordering::SeqCst);
        drop(self.lock());
    }

    /// Runs `inject` only while the gate is open, holding it open meanwhile.
    fn inject_if_open(&self, inject: impl FnOnce()) -> bool {
        let _injecting = self.lock();
        let open = self.0.open.load(Ordering::SeqCst);
        if open {
            inject();
        }
        open
    }
}

/// Receives input for the whole session; `prompt_open` is
/// `Technician::prompt_open()`, `gate` the session's [`ControlGate`].
pub async fn run(
    mut recv: SealedRecv,
    mut grants: watch::Receiver<CapabilitySet>,
    gate: ControlGate,
    mut prompt_open: watch::Receiver<bool>,
    open_input: OpenInput,
    events: mpsc::Sender<SessionEvent>,
) {
    let mut prompts_possible = true;
    let mut injector: Option<Injector> = None;
    let mut limiter = InputRateLimiter::new(DEFAULT_INPUT_RATE, DEFAULT_INPUT_BURST);
    let mut dropped = 0u64;
    let mut overflowed = 0u64;
    let mut report = tokio::time::interval(DROP_REPORT_INTERVAL);
    loop {
        tokio::select! {
            message = recv.recv() => match message {
                Ok(Some((message, _))) => {
                    if !may_inject(grants.borrow().allows(Capability::RemoteControl), *prompt_open.borrow()) {
                        dropped += 1;
                        continue;
                    }
                    if !limiter.admit(Instant::now(), kind_of(&message)) {
                        continue;
                    }
                    let injector = injector.get_or_insert_with(|| {
                        let open_input = open_input.clone();
                        Injector::start(move || open_input(), gate.clone(), prompt_open.clone())
                    });
                    if !injector.inject(message) {
                        overflowed += 1;
                        if overflowed.is_power_of_two() {
                            warn!(overflowed, "input arrives faster than it can be injected; dropping events");
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    warn!(error = %e, "input channel closed");
                    // A refused record is tampering in transit (R21): say so
                    // to both ends rather than go quiet.
                    if let assent_net::ChannelError::Record(_) = e {
                        let why = format!("the input channel refused a record and takes no more input: {e}");
                        let _ = events.send(SessionEvent::Tampered(why)).await;
                    }
                    break;
                }
            },
            changed = grants.changed() => {
                if changed.is_err() {
                    break;
                }
                if !grants.borrow().allows(Capability::RemoteControl) {
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

/// The input injector, on its own thread (enigo's X connection is not
/// `Send`). Dropping it releases held keys and ends the thread.
pub struct Injector {
    commands: Option<std_mpsc::SyncSender<SessionMessage>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Injector {
    /// `make_sink` runs on the injector's thread. `gate` and `prompt_open`
    /// are checked again at each injection: events queued before control
    /// was revoked or a prompt opened must not reach the screen.
    pub fn start<S: InputSink>(
        make_sink: impl FnOnce() -> Result<S, crate::control::InputError> + Send + 'static,
        gate: ControlGate,
        prompt_open: watch::Receiver<bool>,
    ) -> Self {
        let (commands, queue) = std_mpsc::sync_channel::<SessionMessage>(INJECT_QUEUE_EVENTS);
        let thread = std::thread::Builder::new()
            .name("input-injector".into())
            .spawn(move || {
                let mut sink = match make_sink() {
                    Ok(sink) => sink,
                    Err(e) => {
                        warn!(error = %e, "cannot inject input");
                        return;
                    }
                };
                while let Ok(message) = queue.recv() {
                    if *prompt_open.borrow() && kind_of(&message) != InputKind::Release {
                        continue;
                    }
                    gate.inject_if_open(|| deliver(&mut sink, message));
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

    /// Queues one event; false if the queue is full and it was dropped.
    pub fn inject(&mut self, message: SessionMessage) -> bool {
        match &self.commands {
            Some(commands) => !matches!(
                commands.try_send(message),
                Err(std_mpsc::TrySendError::Full(_))
            ),
            None => false,
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
    use crate::control::{InputInjector, InputLog};
    use assent_proto::messages::input::PointerMove;

    /// An open gate and an injector over a recording sink as slow as
    /// XTest, whose thread first runs `before_sink`; with the log of what
    /// was injected and a receiver that hears of each injection.
    fn slow_injector(
        before_sink: impl FnOnce() + Send + 'static,
    ) -> (Injector, ControlGate, InputLog, std_mpsc::Receiver<()>) {
        let gate = ControlGate::default();
        gate.open();
        let (injected_tx, injected) = std_mpsc::channel();
        let (sink, log) = InputInjector::slow_recording(1920, 1080, XTEST_EVENT_COST, injected_tx);
        // No prompt is ever open; the sender may go.
        let (_, prompt_open) = watch::channel(false);
        let injector = Injector::start(
            move || {
                before_sink();
                Ok(sink)
            },
            gate.clone(),
            prompt_open,
        );
        (injector, gate, log, injected)
    }

    #[test]
    fn nothing_queued_is_injected_once_control_is_revoked() {
        let (mut injector, gate, log, injected) = slow_injector(|| {});
        let queued = INJECT_QUEUE_EVENTS as i32;
        for x in 0..queued {
            assert!(injector.inject(PointerMove { x, y: 0 }.into()));
        }
        injected.recv().unwrap();
        gate.close();
        let at_revoke = log.events().len();
        // Joining the thread lets it handle everything still queued.
        drop(injector);
        assert_eq!(
            log.events().len(),
            at_revoke,
            "events injected after the revoke: {:?}",
            &log.events()[at_revoke..]
        );
        assert!(at_revoke < queued as usize, "the backlog was still there");
    }

    #[test]
    fn the_queue_in_front_of_the_injector_is_bounded() {
        // The sink is made only once the test has filled the queue.
        let (release_tx, release) = std_mpsc::channel::<()>();
        let (mut injector, gate, _log, injected) = slow_injector(move || {
            let _ = release.recv();
        });
        let mut refused = 0;
        for x in 0..(INJECT_QUEUE_EVENTS as i32 + 10) {
            if !injector.inject(PointerMove { x, y: 0 }.into()) {
                refused += 1;
            }
        }
        assert_eq!(refused, 10, "only {INJECT_QUEUE_EVENTS} events wait");
        gate.close();
        release_tx.send(()).unwrap();
        drop(injector);
        assert!(
            injected.try_recv().is_err(),
            "nothing injected after the revoke"
        );
    }

    #[test]
    fn input_is_injected_only_with_control_granted_and_no_prompt_open() {
        assert!(may_inject(true, false));
        assert!(!may_inject(true, true), "an open prompt pauses control");
        assert!(!may_inject(false, false));
        assert!(!may_inject(false, true));
    }
}
