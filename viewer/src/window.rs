//! The engineer's window onto the instrument PC (winit + softbuffer, X11).
//!
//! It owns everything on screen and at the keyboard; the session code owns
//! the network. The two talk through [`WindowCommand`] (session to window,
//! via a cloneable, `Send` [`WindowRemote`]) and [`UserAction`] (window to
//! session, via a tokio channel), so the window never blocks on the network
//! and the session never touches the display.
//!
//! # What it shows
//!
//! - The remote screen **1:1, pixel-exact, never scaled** (engineers read
//!   exact values off instrument screens). On the first frame, and when the
//!   remote resolution changes, the window asks to be the remote size (at
//!   most the monitor size). A larger window shows the image at its top-left
//!   corner on a dark background; a smaller window shows a cropped view that
//!   pans with Ctrl+Alt+arrows, and input coordinates follow the pan.
//! - The title: `<title> — screen ✓ control ✗ files ✗ — <latest status>`,
//!   with `· 2 notifications (ERROR)` after the grants while the host has
//!   active notifications (their lines go to the terminal).
//! - A small inverting cross at the remote cursor when the host reports one.
//! - When screen view is revoked the last frame is dropped, so nothing stale
//!   looks live.
//!
//! # Input (R10)
//!
//! Pointer moves, buttons, wheel and keys become
//! [`SessionMessage`] input messages in remote coordinates and X11 keysyms,
//! and are sent **only while remote control is granted**: the host enforces
//! the grant, but the viewer does not even send without it. A key or button
//! release is sent only for a press that was sent; when the window loses
//! focus every held key and button is released on the host; when control is
//! revoked nothing more is sent and the host releases what it holds.
//! Auto-repeat is left to the host's X server.
//!
//! # Engineer shortcuts (never forwarded to the host)
//!
//! | keys | action |
//! | --- | --- |
//! | Ctrl+Alt+S | ask the technician for screen view |
//! | Ctrl+Alt+C | ask the technician for remote control |
//! | Ctrl+Alt+F | ask the technician for file transfer |
//! | Ctrl+Alt+U | send a file to the host (the path is asked for on the terminal; needs file transfer granted) |
//! | Ctrl+Alt+arrows | pan the view when the window is smaller than the remote screen |
//!
//! The same list, as text for `--help`, is [`SHORTCUT_HELP`]. Ctrl and Alt
//! themselves are ordinary keys: while control is granted the
//! host sees them go down and up around a shortcut, with nothing between.
//!
//! # Threads
//!
//! winit allows one event loop per process. [`ViewerWindow`] owns it and is
//! not `Send`: create it and [`ViewerWindow::run`] it on the same thread
//! (any thread, not only `main`).

mod app;
mod input;
pub mod keysym;
mod shortcuts;
pub mod surface;
pub mod viewport;

use std::sync::Arc;

use crate::notifications::NotificationSummary;
use anyhow::anyhow;
use assent_proto::consent::CapabilitySet;
use assent_proto::messages::consent::Capability;
use assent_proto::messages::session::SessionMessage;
use tokio::sync::mpsc::UnboundedSender;
use winit::error::EventLoopError;
use winit::event_loop::{EventLoop, EventLoopProxy};
use winit::platform::x11::EventLoopBuilderExtX11;

/// The engineer's window shortcuts, for `--help` (`after_help`).
pub const SHORTCUT_HELP: &str = "\
Window shortcuts (never sent to the host):
  Ctrl+Alt+S       ask the technician for screen view
  Ctrl+Alt+C       ask the technician for remote control
  Ctrl+Alt+F       ask the technician for file transfer
  Ctrl+Alt+U       send a file to the host (once file transfer is granted)
  Ctrl+Alt+arrows  pan the view when the window is smaller than the remote screen";

/// What the session tells the window.
#[derive(Debug, Clone)]
pub enum WindowCommand {
    /// A complete, current remote screen: 0x00RRGGBB per pixel, row-major,
    /// `width * height` entries. A frame of the wrong length is ignored.
    Frame {
        width: u32,
        height: u32,
        pixels: Arc<Vec<u32>>,
    },
    /// Where the host's pointer is, in remote pixels.
    Cursor { x: i32, y: i32, visible: bool },
    /// What the technician has granted right now.
    /// The capabilities the technician has granted (R10), as last reported.
    Capabilities(CapabilitySet),
    /// How many notifications the host has active, and the worst.
    Notifications(NotificationSummary),
    /// One line for the engineer, e.g. "file report.csv received (12 KiB)".
    Status(String),
    /// The session ended: the reason goes into the title and the window
    /// closes; [`ViewerWindow::run`] returns.
    Close(String),
}

/// What the engineer did in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserAction {
    /// Only `PointerMove`, `PointerButton`, `Wheel` and `KeyEvent`, and only
    /// while control is granted.
    Input(SessionMessage),
    /// Ask the technician for a capability (a shortcut).
    RequestCapability(Capability),
    /// The engineer wants to send a file; the session asks for the path.
    SendFile,
    /// The engineer closed the window.
    Closed,
}

/// The session's handle on the window: cloneable and `Send`.
#[derive(Debug, Clone)]
pub struct WindowRemote {
    proxy: EventLoopProxy<WindowCommand>,
}

impl WindowRemote {
    /// Hands a command to the window; `false` once the window is gone.
    pub fn send(&self, cmd: WindowCommand) -> bool {
        self.proxy.send_event(cmd).is_ok()
    }
}

/// The window and its event loop; not `Send` (see the module doc).
pub struct ViewerWindow {
    event_loop: EventLoop<WindowCommand>,
    title: String,
}

impl ViewerWindow {
    /// Connects to the X display (`DISPLAY`). Fails with a message naming
    /// `--headless` when there is no display, and when a window was already
    /// opened in this process (winit allows one event loop per process).
    pub fn new(title: &str) -> anyhow::Result<(ViewerWindow, WindowRemote)> {
        let event_loop = EventLoop::<WindowCommand>::with_user_event()
            .with_any_thread(true)
            .build()
            .map_err(event_loop_error)?;
        let remote = WindowRemote {
            proxy: event_loop.create_proxy(),
        };
        let window = ViewerWindow {
            event_loop,
            title: title.to_string(),
        };
        Ok((window, remote))
    }

    /// Opens the window and runs it until the engineer closes it (sending
    /// [`UserAction::Closed`]), the session sends [`WindowCommand::Close`],
    /// or `actions`' receiver is dropped.
    pub fn run(self, actions: UnboundedSender<UserAction>) -> anyhow::Result<()> {
        let mut app = app::ViewerApp::new(self.title, actions);
        self.event_loop
            .run_app(&mut app)
            .map_err(|e| anyhow!("the viewer window's event loop failed: {e}"))?;
        app.finish()
    }
}

fn event_loop_error(e: EventLoopError) -> anyhow::Error {
    match e {
        EventLoopError::RecreationAttempt => anyhow!(
            "the viewer window was already opened once in this process; \
             winit allows one window event loop per process"
        ),
        other => {
            let display = std::env::var("DISPLAY").unwrap_or_default();
            let display = if display.is_empty() {
                "DISPLAY is not set".to_string()
            } else {
                format!("DISPLAY={display}")
            };
            anyhow!("no display: use --headless ({display}; cannot open an X11 window: {other})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remote_and_its_commands_can_cross_threads() {
        fn assert_send<T: Send + 'static>() {}
        assert_send::<WindowRemote>();
        assert_send::<WindowCommand>();
        assert_send::<UserAction>();
    }

    #[test]
    fn a_missing_display_error_tells_the_engineer_to_use_headless() {
        let e = event_loop_error(EventLoopError::ExitFailure(1));
        assert!(
            e.to_string().starts_with("no display: use --headless"),
            "{e}"
        );
        let again = event_loop_error(EventLoopError::RecreationAttempt);
        assert!(again.to_string().contains("once"), "{again}");
    }
}
