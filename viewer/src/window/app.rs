//! The winit application: turns window events into [`UserAction`]s through
//! the input gate and the shortcuts, and session commands into pixels and
//! the title. All policy lives in the sibling modules; this is the wiring.

use std::rc::Rc;

use assent_proto::messages::consent::Capability;
use tokio::sync::mpsc::UnboundedSender;
use winit::application::ApplicationHandler;
use winit::dpi::PhysicalSize;
use winit::event::{ElementState, KeyEvent, MouseScrollDelta, WindowEvent};
use winit::event_loop::ActiveEventLoop;
use winit::keyboard::ModifiersState;
use winit::window::{Window, WindowId};

use super::input::{proto_button, InputGate, PIXELS_PER_NOTCH};
use super::keysym::keysym_for;
use super::shortcuts::{shortcut_for, Shortcut};
use super::surface::{RemoteFrame, ScreenSurface};
use super::viewport::Viewport;
use super::{UserAction, WindowCommand};
use crate::notifications::NotificationSummary;
use assent_proto::consent::CapabilitySet;

/// Window size before the first frame says how big the remote screen is.
const INITIAL_SIZE: (u32, u32) = (960, 600);

/// Longest status text kept for the title, in characters.
const STATUS_MAX_CHARS: usize = 160;

pub(super) struct ViewerApp {
    title: String,
    actions: UnboundedSender<UserAction>,
    window: Option<Rc<Window>>,
    surface: Option<ScreenSurface>,
    frame: Option<RemoteFrame>,
    cursor: Option<(i32, i32)>,
    viewport: Viewport,
    capabilities: CapabilitySet,
    notifications: NotificationSummary,
    status: Option<String>,
    gate: InputGate,
    modifiers: ModifiersState,
    /// Last pointer position in window pixels, while over the window.
    pointer: Option<(f64, f64)>,
    error: Option<anyhow::Error>,
}

impl ViewerApp {
    pub(super) fn new(title: String, actions: UnboundedSender<UserAction>) -> ViewerApp {
        ViewerApp {
            title,
            actions,
            window: None,
            surface: None,
            frame: None,
            cursor: None,
            viewport: Viewport::new(INITIAL_SIZE, (0, 0)),
            capabilities: CapabilitySet::EMPTY,
            notifications: NotificationSummary::default(),
            status: None,
            gate: InputGate::default(),
            modifiers: ModifiersState::empty(),
            pointer: None,
            error: None,
        }
    }

    /// How the run ended: an error that stopped the loop, or `Ok`.
    pub(super) fn finish(self) -> anyhow::Result<()> {
        self.error.map_or(Ok(()), Err)
    }

    fn fail(&mut self, event_loop: &ActiveEventLoop, error: anyhow::Error) {
        tracing::error!(error = %error, "viewer window stops");
        self.error.get_or_insert(error);
        event_loop.exit();
    }

    /// Hands an action to the session; if nobody listens any more the window
    /// has no purpose and closes.
    fn act(&mut self, event_loop: &ActiveEventLoop, action: UserAction) {
        if self.actions.send(action).is_err() {
            tracing::debug!("session no longer listens to the window; closing it");
            event_loop.exit();
        }
    }

    fn create_window(&mut self, event_loop: &ActiveEventLoop) -> anyhow::Result<()> {
        let size = self.frame.as_ref().map_or(INITIAL_SIZE, RemoteFrame::size);
        let attributes = Window::default_attributes()
            .with_title(self.window_title())
            .with_inner_size(PhysicalSize::new(size.0, size.1));
        let window = Rc::new(
            event_loop
                .create_window(attributes)
                .map_err(|e| anyhow::anyhow!("cannot create the viewer window: {e}"))?,
        );
        let inner = window.inner_size();
        self.viewport.set_window_size((inner.width, inner.height));
        self.surface = Some(ScreenSurface::new(window.clone())?);
        window.request_redraw();
        self.window = Some(window);
        Ok(())
    }

    fn window_title(&self) -> String {
        window_title(
            &self.title,
            self.capabilities,
            self.notifications,
            self.status.as_deref(),
        )
    }

    fn refresh_title(&self) {
        if let Some(window) = &self.window {
            window.set_title(&self.window_title());
        }
    }

    fn request_redraw(&self) {
        if let Some(window) = &self.window {
            window.request_redraw();
        }
    }

    fn set_status(&mut self, status: &str) {
        self.status = Some(clean_status(status));
        self.refresh_title();
    }

    fn show_frame(&mut self, frame: RemoteFrame) {
        let size = frame.size();
        if self.viewport.remote_size() != size {
            self.viewport.set_remote_size(size);
            self.fit_window_to(size);
        }
        self.frame = Some(frame);
        self.request_redraw();
    }

    /// Asks for a window the size of the remote screen (capped at the
    /// monitor), so it shows 1:1 without panning when it can.
    fn fit_window_to(&mut self, (width, height): (u32, u32)) {
        let Some(window) = &self.window else {
            return;
        };
        let (mut w, mut h) = (width, height);
        if let Some(monitor) = window.current_monitor() {
            let max = monitor.size();
            if max.width > 0 && max.height > 0 {
                (w, h) = (w.min(max.width), h.min(max.height));
            }
        }
        if let Some(applied) = window.request_inner_size(PhysicalSize::new(w, h)) {
            self.viewport
                .set_window_size((applied.width, applied.height));
        }
    }

    fn apply(&mut self, event_loop: &ActiveEventLoop, cmd: WindowCommand) {
        match cmd {
            WindowCommand::Frame {
                width,
                height,
                pixels,
            } => match RemoteFrame::new(width, height, pixels) {
                Some(frame) => self.show_frame(frame),
                None => tracing::warn!(width, height, "frame with the wrong pixel count ignored"),
            },
            WindowCommand::Cursor { x, y, visible } => {
                let cursor = visible.then_some((x, y));
                if cursor != self.cursor {
                    self.cursor = cursor;
                    self.request_redraw();
                }
            }
            WindowCommand::Capabilities(granted) => {
                self.gate
                    .set_control(granted.allows(Capability::RemoteControl));
                if !granted.allows(Capability::ScreenView) {
                    self.frame = None;
                    self.cursor = None;
                    self.request_redraw();
                }
                self.capabilities = granted;
                self.refresh_title();
            }
            WindowCommand::Notifications(summary) => {
                if summary != self.notifications {
                    self.notifications = summary;
                    self.refresh_title();
                }
            }
            WindowCommand::Status(status) => self.set_status(&status),
            WindowCommand::Close(reason) => {
                self.gate.set_control(false);
                self.set_status(&format!("session ended: {reason}"));
                event_loop.exit();
            }
        }
    }

    fn shortcut(&mut self, event_loop: &ActiveEventLoop, shortcut: Shortcut) {
        let request = |capability: Capability| UserAction::RequestCapability(capability);
        match shortcut {
            Shortcut::RequestScreen => {
                self.set_status("asked the technician for screen view");
                self.act(event_loop, request(Capability::ScreenView));
            }
            Shortcut::RequestControl => {
                self.set_status("asked the technician for remote control");
                self.act(event_loop, request(Capability::RemoteControl));
            }
            Shortcut::RequestFiles => {
                self.set_status("asked the technician for file transfer");
                self.act(event_loop, request(Capability::FileTransfer));
            }
            Shortcut::SendFile if self.capabilities.allows(Capability::FileTransfer) => {
                self.set_status("type the path of the file to send in the terminal");
                self.act(event_loop, UserAction::SendFile);
            }
            Shortcut::SendFile => {
                self.set_status("file transfer is not granted: press Ctrl+Alt+F to ask for it");
            }
            Shortcut::Pan(dx, dy) => {
                self.viewport.pan(dx, dy);
                self.request_redraw();
            }
        }
    }

    fn keyboard(&mut self, event_loop: &ActiveEventLoop, event: KeyEvent, is_synthetic: bool) {
        let pressed = event.state == ElementState::Pressed;
        // winit invents presses for keys already down when focus arrives;
        // the engineer did not press them in this window.
        if pressed && is_synthetic {
            return;
        }
        if pressed {
            if let Some(shortcut) =
                shortcut_for(self.modifiers, &event.logical_key, event.physical_key)
            {
                // The press is consumed, so the gate never sends its release.
                self.shortcut(event_loop, shortcut);
                return;
            }
        }
        let keysym = keysym_for(&event.logical_key, event.location, event.physical_key);
        if let Some(message) = self
            .gate
            .key(event.physical_key, keysym, pressed, event.repeat)
        {
            self.act(event_loop, UserAction::Input(message));
        }
    }

    fn pointer_remote(&self) -> Option<(i32, i32)> {
        let (x, y) = self.pointer?;
        self.viewport.to_remote(x, y)
    }

    fn redraw(&mut self, event_loop: &ActiveEventLoop) {
        let Some(surface) = &mut self.surface else {
            return;
        };
        if let Err(e) = surface.present(&self.viewport, self.frame.as_ref(), self.cursor) {
            self.fail(event_loop, e.into());
        }
    }
}

impl ApplicationHandler<WindowCommand> for ViewerApp {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.window.is_none() {
            if let Err(e) = self.create_window(event_loop) {
                self.fail(event_loop, e);
            }
        }
    }

    fn user_event(&mut self, event_loop: &ActiveEventLoop, cmd: WindowCommand) {
        self.apply(event_loop, cmd);
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        match event {
            WindowEvent::CloseRequested => {
                self.act(event_loop, UserAction::Closed);
                event_loop.exit();
            }
            WindowEvent::Resized(size) => {
                self.viewport.set_window_size((size.width, size.height));
                self.request_redraw();
            }
            WindowEvent::RedrawRequested => self.redraw(event_loop),
            WindowEvent::Focused(false) => {
                for message in self.gate.release_all() {
                    self.act(event_loop, UserAction::Input(message));
                }
            }
            WindowEvent::ModifiersChanged(modifiers) => self.modifiers = modifiers.state(),
            WindowEvent::KeyboardInput {
                event,
                is_synthetic,
                ..
            } => self.keyboard(event_loop, event, is_synthetic),
            WindowEvent::CursorMoved { position, .. } => {
                self.pointer = Some((position.x, position.y));
                let remote = if self.gate.dragging() {
                    self.viewport.to_remote_clamped(position.x, position.y)
                } else {
                    self.viewport.to_remote(position.x, position.y)
                };
                if let Some(message) = self.gate.pointer_moved(remote) {
                    self.act(event_loop, UserAction::Input(message));
                }
            }
            WindowEvent::CursorLeft { .. } => self.pointer = None,
            WindowEvent::MouseInput { state, button, .. } => {
                let over_image = self.pointer_remote().is_some();
                let message = proto_button(button).and_then(|button| {
                    self.gate
                        .button(button, state == ElementState::Pressed, over_image)
                });
                if let Some(message) = message {
                    self.act(event_loop, UserAction::Input(message));
                }
            }
            WindowEvent::MouseWheel { delta, .. } if self.pointer_remote().is_some() => {
                let (x, y) = match delta {
                    MouseScrollDelta::LineDelta(x, y) => (f64::from(x), f64::from(y)),
                    MouseScrollDelta::PixelDelta(p) => {
                        (p.x / PIXELS_PER_NOTCH, p.y / PIXELS_PER_NOTCH)
                    }
                };
                if let Some(message) = self.gate.wheel(x, y) {
                    self.act(event_loop, UserAction::Input(message));
                }
            }
            _ => {}
        }
    }

    fn exiting(&mut self, _event_loop: &ActiveEventLoop) {
        // The surface refers to the window: drop it first.
        self.surface = None;
        self.window = None;
    }
}

/// `<title> — screen ✓ control ✗ files ✗ · 2 notifications (ERROR) — <status>`.
pub(super) fn window_title(
    title: &str,
    granted: CapabilitySet,
    notifications: NotificationSummary,
    status: Option<&str>,
) -> String {
    let mark = |on: bool| if on { '✓' } else { '✗' };
    let mut out = format!(
        "{title} — screen {} control {} files {}",
        mark(granted.allows(Capability::ScreenView)),
        mark(granted.allows(Capability::RemoteControl)),
        mark(granted.allows(Capability::FileTransfer))
    );
    if let Some(label) = notifications.label() {
        out.push_str(" · ");
        out.push_str(&label);
    }
    if let Some(status) = status.filter(|s| !s.is_empty()) {
        out.push_str(" — ");
        out.push_str(status);
    }
    out
}

/// A status line fit for a title: one line, no control characters, bounded.
fn clean_status(status: &str) -> String {
    status
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(STATUS_MAX_CHARS)
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use assent_proto::messages::notification::Severity;

    #[test]
    fn the_title_shows_each_capability_and_the_latest_status() {
        let granted = CapabilitySet::EMPTY
            .with(Capability::ScreenView, true)
            .with(Capability::FileTransfer, true);
        assert_eq!(
            window_title(
                "Assent — lab-pc-7",
                granted,
                NotificationSummary::default(),
                Some("file a.csv received (12 KiB)")
            ),
            "Assent — lab-pc-7 — screen ✓ control ✗ files ✓ — file a.csv received (12 KiB)"
        );
        assert_eq!(
            window_title(
                "Assent",
                CapabilitySet::EMPTY,
                NotificationSummary::default(),
                None
            ),
            "Assent — screen ✗ control ✗ files ✗"
        );
    }

    #[test]
    fn the_title_shows_the_notification_count_and_worst_severity_after_the_grants() {
        let notifications = NotificationSummary {
            active: 2,
            highest: Some(Severity::Error),
        };
        assert_eq!(
            window_title(
                "Assent",
                CapabilitySet::EMPTY,
                notifications,
                Some("screen view: Granted")
            ),
            "Assent — screen ✗ control ✗ files ✗ · 2 notifications (ERROR) — screen view: Granted"
        );
    }

    #[test]
    fn a_status_is_one_bounded_line_in_the_title() {
        assert_eq!(clean_status("two\nlines\r\u{7}"), "two lines");
        assert_eq!(
            clean_status(&"x".repeat(1000)).chars().count(),
            STATUS_MAX_CHARS
        );
    }
}
