//! Where a session reads the screen and injects input: X11 on the instrument
//! PC, synthetic ones in tests. The session and its tasks are the same
//! either way; only these two openers differ. Each is called on the thread
//! that uses what it opens (an X11 connection is not `Send`), once per grant.

use std::sync::Arc;

use crate::capture::{CaptureError, ScreenSource, X11Screen};
use crate::control::{EnigoInput, InputError, InputSink};

/// Opens the screen to stream, at each screen-view grant.
pub type OpenScreen = Arc<dyn Fn() -> Result<Box<dyn ScreenSource>, CaptureError> + Send + Sync>;
/// Opens the input sink to inject into, at the first input after a grant.
pub type OpenInput = Arc<dyn Fn() -> Result<Box<dyn InputSink>, InputError> + Send + Sync>;

/// The screen and input of one host.
#[derive(Clone)]
pub struct Platform {
    pub screen: OpenScreen,
    pub input: OpenInput,
}

impl Platform {
    /// The X display `display` (`None`: `$DISPLAY`), through scrap/x11rb
    /// for the screen and XTest (enigo) for input.
    pub fn x11(display: Option<String>) -> Self {
        let screen_display = display.clone();
        Self {
            screen: Arc::new(move || {
                X11Screen::open(screen_display.as_deref())
                    .map(|screen| Box::new(screen) as Box<dyn ScreenSource>)
            }),
            input: Arc::new(move || {
                EnigoInput::new(display.as_deref()).map(|sink| Box::new(sink) as Box<dyn InputSink>)
            }),
        }
    }
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform").finish_non_exhaustive()
    }
}
