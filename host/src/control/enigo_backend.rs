//! [`EnigoBackend`]: input injection on X11 through enigo's x11rb backend
//! (XTest fake input). Keysyms the keyboard map lacks are bound to a spare
//! keycode by enigo for as long as it lives.

use std::time::{Duration, Instant};

use enigo::{Axis, Button, Coordinate, Direction, Enigo, Key, Keyboard, Mouse, Settings};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ChangeWindowAttributesAux, ConnectionExt as _, EventMask, Window};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;

use super::{InjectionBackend, InputError, InputInjector, MouseButton};

/// Input injection into an X display, with the [`InputInjector`] rules.
pub type EnigoInput = InputInjector<EnigoBackend>;

/// How long to let the X server deliver the last key events before enigo
/// unbinds the spare keycodes it borrowed on drop; unbinding earlier turns
/// still-queued keystrokes into nothing (XTest delays events by enigo's
/// per-key delay of about 12 ms).
const SETTLE_BEFORE_UNBIND: Duration = Duration::from_millis(60);

/// Raw XTest injection through enigo.
pub struct EnigoBackend {
    enigo: Enigo,
    last_key_at: Option<Instant>,
    /// Receives the root window's ConfigureNotify, so a resolution change
    /// moves the pointer clamp without a round trip per move.
    root_events: RustConnection,
    root: Window,
}

impl InputInjector<EnigoBackend> {
    /// Connects to `display` (e.g. `":0"`), or to `$DISPLAY` when `None`, and
    /// clamps the pointer to that display's screen.
    ///
    /// Dropping it may block for up to 60 ms (see [`EnigoBackend`]'s drop);
    /// drop it on a blocking thread, not on an async executor.
    pub fn new(display: Option<&str>) -> Result<EnigoInput, InputError> {
        let no_display = |detail: String| InputError::NoDisplay { detail };
        if display.is_none() && std::env::var_os("DISPLAY").is_none_or(|d| d.is_empty()) {
            return Err(no_display("DISPLAY is not set".into()));
        }
        let lost = |e: &dyn std::fmt::Display| no_display(format!("X connection failed: {e}"));
        let (root_events, screen) = x11rb::connect(display).map_err(|e| {
            no_display(format!(
                "cannot connect to {}: {e}",
                display.unwrap_or("$DISPLAY")
            ))
        })?;
        let root_screen = &root_events.setup().roots[screen];
        let (root, width, height) = (
            root_screen.root,
            u32::from(root_screen.width_in_pixels),
            u32::from(root_screen.height_in_pixels),
        );
        root_events
            .change_window_attributes(
                root,
                &ChangeWindowAttributesAux::new().event_mask(EventMask::STRUCTURE_NOTIFY),
            )
            .map_err(|e| lost(&e))?;
        root_events.flush().map_err(|e| lost(&e))?;
        let settings = Settings {
            x11_display: display.map(str::to_owned),
            // InputInjector releases keys and buttons itself; enigo's own
            // release covers keys only.
            release_keys_when_dropped: false,
            ..Settings::default()
        };
        let enigo = Enigo::new(&settings).map_err(|e| no_display(format!("enigo: {e}")))?;
        Ok(InputInjector::with_backend(
            EnigoBackend {
                enigo,
                last_key_at: None,
                root_events,
                root,
            },
            width,
            height,
        ))
    }
}

impl InjectionBackend for EnigoBackend {
    fn move_pointer(&mut self, x: i32, y: i32) -> Result<(), InputError> {
        self.enigo
            .move_mouse(x, y, Coordinate::Abs)
            .map_err(injection_failed)
    }

    fn button(&mut self, button: MouseButton, pressed: bool) -> Result<(), InputError> {
        let button = match button {
            MouseButton::Left => Button::Left,
            MouseButton::Middle => Button::Middle,
            MouseButton::Right => Button::Right,
            MouseButton::Back => Button::Back,
            MouseButton::Forward => Button::Forward,
        };
        self.enigo
            .button(button, direction(pressed))
            .map_err(injection_failed)
    }

    fn scroll(&mut self, dx: i32, dy: i32) -> Result<(), InputError> {
        if dx != 0 {
            self.enigo
                .scroll(dx, Axis::Horizontal)
                .map_err(injection_failed)?;
        }
        if dy != 0 {
            self.enigo
                .scroll(dy, Axis::Vertical)
                .map_err(injection_failed)?;
        }
        Ok(())
    }

    fn key(&mut self, keysym: u32, pressed: bool) -> Result<(), InputError> {
        // On X11 `Key::Other` is the raw keysym: no lossy mapping table.
        self.last_key_at = Some(Instant::now());
        self.enigo
            .key(Key::Other(keysym), direction(pressed))
            .map_err(injection_failed)
    }

    fn screen_size_changed(&mut self) -> Option<(u32, u32)> {
        let mut latest = None;
        // A broken connection shows up as an injection error soon enough.
        while let Ok(Some(event)) = self.root_events.poll_for_event() {
            if let Event::ConfigureNotify(e) = event {
                if e.window == self.root {
                    latest = Some((u32::from(e.width), u32::from(e.height)));
                }
            }
        }
        latest
    }
}

impl Drop for EnigoBackend {
    fn drop(&mut self) {
        if let Some(wait) = self
            .last_key_at
            .and_then(|at| SETTLE_BEFORE_UNBIND.checked_sub(at.elapsed()))
        {
            std::thread::sleep(wait);
        }
    }
}

fn direction(pressed: bool) -> Direction {
    if pressed {
        Direction::Press
    } else {
        Direction::Release
    }
}

fn injection_failed(error: enigo::InputError) -> InputError {
    InputError::InjectionFailed {
        reason: error.to_string(),
    }
}
