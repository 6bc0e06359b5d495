//! [`RecordingSink`]: an [`InputInjector`] that records instead of injecting,
//! for tests of the code that drives an [`InputSink`](super::InputSink). The
//! log outlives the sink, so tests can see what its drop released.

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use super::{InjectionBackend, InputError, InputInjector, MouseButton};

/// The [`InputInjector`] rules over a recording backend.
pub type RecordingSink = InputInjector<RecordingBackend>;

/// One event that reached the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InjectedInput {
    PointerMove { x: i32, y: i32 },
    Button { button: MouseButton, pressed: bool },
    Scroll { dx: i32, dy: i32 },
    Key { keysym: u32, pressed: bool },
}

/// Shared view of what a [`RecordingBackend`] received.
#[derive(Debug, Clone, Default)]
pub struct InputLog(Arc<Mutex<Vec<InjectedInput>>>);

impl InputLog {
    /// Everything injected so far, oldest first.
    pub fn events(&self) -> Vec<InjectedInput> {
        self.lock().clone()
    }

    fn push(&self, event: InjectedInput) {
        self.lock().push(event);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<InjectedInput>> {
        // A test that panicked while holding the lock leaves a usable log.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Records every event; never fails.
#[derive(Debug, Default)]
pub struct RecordingBackend {
    log: InputLog,
    pace: Option<Pace>,
}

/// A recording backend as slow as a real one, and telling when it injected.
#[derive(Debug)]
struct Pace {
    per_event: Duration,
    injected: mpsc::Sender<()>,
}

impl RecordingBackend {
    fn record(&mut self, event: InjectedInput) -> Result<(), InputError> {
        if let Some(pace) = &self.pace {
            // Simulated injection cost, not synchronisation.
            std::thread::sleep(pace.per_event);
        }
        self.log.push(event);
        if let Some(pace) = &self.pace {
            let _ = pace.injected.send(());
        }
        Ok(())
    }
}

impl InputInjector<RecordingBackend> {
    /// A recording sink for a `width`×`height` screen and the log it fills.
    pub fn recording(width: u32, height: u32) -> (RecordingSink, InputLog) {
        let log = InputLog::default();
        let backend = RecordingBackend {
            log: log.clone(),
            pace: None,
        };
        (InputInjector::with_backend(backend, width, height), log)
    }

    /// A recording sink that takes `per_event` for each event, as enigo's
    /// XTest injection does (about 12 ms), and sends on `injected` after each.
    pub fn slow_recording(
        width: u32,
        height: u32,
        per_event: Duration,
        injected: mpsc::Sender<()>,
    ) -> (RecordingSink, InputLog) {
        let log = InputLog::default();
        let sink = Self::slow_recording_to(&log, width, height, per_event, injected);
        (sink, log)
    }

    /// [`InputInjector::slow_recording`] into an existing `log`, so sinks
    /// opened one after another (one per grant) record in one place.
    pub fn slow_recording_to(
        log: &InputLog,
        width: u32,
        height: u32,
        per_event: Duration,
        injected: mpsc::Sender<()>,
    ) -> RecordingSink {
        let backend = RecordingBackend {
            log: log.clone(),
            pace: Some(Pace {
                per_event,
                injected,
            }),
        };
        InputInjector::with_backend(backend, width, height)
    }
}

impl InjectionBackend for RecordingBackend {
    fn move_pointer(&mut self, x: i32, y: i32) -> Result<(), InputError> {
        self.record(InjectedInput::PointerMove { x, y })
    }
    fn button(&mut self, button: MouseButton, pressed: bool) -> Result<(), InputError> {
        self.record(InjectedInput::Button { button, pressed })
    }
    fn scroll(&mut self, dx: i32, dy: i32) -> Result<(), InputError> {
        self.record(InjectedInput::Scroll { dx, dy })
    }
    fn key(&mut self, keysym: u32, pressed: bool) -> Result<(), InputError> {
        self.record(InjectedInput::Key { keysym, pressed })
    }
}
