//! The window thread: owns the X connection, creates, draws and destroys
//! the consent dialog and the session window, and turns clicks into
//! answers and technician commands.

use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use assent_proto::messages::consent::Capability;
use tokio::sync::mpsc;
use tracing::{debug, warn};
use x11rb::connection::Connection;
use x11rb::errors::{ConnectionError, ReplyError, ReplyOrIdError};
use x11rb::properties::{WmSizeHints, WmSizeHintsSpecification};
use x11rb::protocol::xproto::{
    Atom, AtomEnum, ButtonPressEvent, ConfigureWindowAux, ConnectionExt as _, CreateGCAux,
    CreateWindowAux, EventMask, Gcontext, Pixmap, PropMode, Rectangle, StackMode, Visibility,
    VisualClass, Window, WindowClass,
};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

use super::layout::{
    DialogButton, DialogLayout, Rect, SessionButton, SessionLayout, DIALOG_TITLE, SESSION_TITLE,
};
use super::paint::{dialog_scene, session_scene, DialogState, Scene};
use super::{display_name, AnswerSink, DialogError, Request, ARMING_DELAY};
use crate::technician::TechnicianCommand;

/// How often the thread looks at X events while the dialog is open; the X
/// connection and the request queue cannot be waited on together.
const DIALOG_POLL_INTERVAL: Duration = Duration::from_millis(20);
/// The same while only the session window is open (the whole session).
const SESSION_POLL_INTERVAL: Duration = Duration::from_millis(60);
/// Windows are raised at least this often, so an instrument UI that raises
/// itself cannot hide them for long; and at most this often, so two windows
/// that both want to be on top cannot fight.
const RAISE_INTERVAL: Duration = Duration::from_millis(500);
/// The left mouse button.
const PRIMARY_BUTTON: u8 = 1;
const WINDOW_CLASS: &[u8] = b"assent-host\0Assent\0";

x11rb::atom_manager! {
    Atoms: AtomsCookie {
        WM_PROTOCOLS,
        WM_DELETE_WINDOW,
        UTF8_STRING,
        _NET_WM_NAME,
        _NET_WM_WINDOW_TYPE,
        _NET_WM_WINDOW_TYPE_DIALOG,
        _NET_WM_WINDOW_TYPE_UTILITY,
        _NET_WM_STATE,
        _NET_WM_STATE_ABOVE,
    }
}

/// An open X connection and what the windows need to know about its screen.
pub(super) struct Display {
    conn: RustConnection,
    root: Window,
    depth: u8,
    visual: u32,
    width: i32,
    height: i32,
    atoms: Atoms,
}

impl Display {
    pub(super) fn connect(display: Option<&str>) -> Result<Self, DialogError> {
        let unavailable = |reason: String| DialogError::DisplayUnavailable {
            display: display_name(display),
            reason,
        };
        let (conn, screen_index) =
            x11rb::connect(display).map_err(|e| unavailable(e.to_string()))?;
        let screen = conn
            .setup()
            .roots
            .get(screen_index)
            .ok_or_else(|| unavailable(format!("the server has no screen {screen_index}")))?
            .clone();
        let true_color = screen.allowed_depths.iter().any(|d| {
            d.depth == screen.root_depth
                && d.visuals.iter().any(|v| {
                    v.visual_id == screen.root_visual && v.class == VisualClass::TRUE_COLOR
                })
        });
        if !true_color || screen.root_depth < 24 {
            return Err(DialogError::UnsupportedVisual {
                display: display_name(display),
            });
        }
        let atoms = Atoms::new(&conn)
            .map_err(|e| unavailable(e.to_string()))?
            .reply()
            .map_err(|e| unavailable(e.to_string()))?;
        Ok(Self {
            root: screen.root,
            depth: screen.root_depth,
            visual: screen.root_visual,
            width: i32::from(screen.width_in_pixels),
            height: i32::from(screen.height_in_pixels),
            atoms,
            conn,
        })
    }
}

/// Runs until every [`super::TechnicianWindows`] handle is dropped or the
/// X connection fails.
pub(super) fn run(
    display: Display,
    requests: std_mpsc::Receiver<Request>,
    answers: AnswerSink,
    commands: mpsc::UnboundedSender<TechnicianCommand>,
) {
    let mut windows = Windows {
        display,
        answers,
        commands,
        dialog: None,
        session: None,
    };
    if let Err(e) = windows.serve(&requests) {
        // The terminal keeps answering every prompt.
        warn!(error = %e, "the technician's windows stopped; answer on the terminal");
    }
    windows.close_all();
}

#[derive(Debug, thiserror::Error)]
enum WindowError {
    #[error("X connection: {0}")]
    Connection(#[from] ConnectionError),
    #[error("X request: {0}")]
    Reply(#[from] ReplyError),
    #[error("X request: {0}")]
    ReplyOrId(#[from] ReplyOrIdError),
}

struct Windows {
    display: Display,
    answers: AnswerSink,
    commands: mpsc::UnboundedSender<TechnicianCommand>,
    dialog: Option<OpenDialog>,
    session: Option<OpenSession>,
}

struct OpenDialog {
    id: u64,
    surface: Surface,
    layout: DialogLayout,
    deadline: Instant,
    /// When the window was first exposed; arming counts from here.
    visible_since: Option<Instant>,
    pressed: Option<DialogButton>,
    /// What was drawn last, to redraw only on change.
    drawn: Option<DialogState>,
}

impl OpenDialog {
    fn state(&self, now: Instant) -> DialogState {
        let left = self.deadline.saturating_duration_since(now);
        DialogState {
            remaining_secs: left.as_secs() + u64::from(left.subsec_nanos() > 0),
            armed: self.armed(now),
            pressed: self.pressed,
        }
    }

    fn armed(&self, now: Instant) -> bool {
        self.visible_since
            .is_some_and(|since| now.saturating_duration_since(since) >= ARMING_DELAY)
    }
}

struct OpenSession {
    surface: Surface,
    layout: SessionLayout,
    pressed: Option<SessionButton>,
}

impl Windows {
    fn serve(&mut self, requests: &std_mpsc::Receiver<Request>) -> Result<(), WindowError> {
        loop {
            let request = if self.dialog.is_none() && self.session.is_none() {
                match requests.recv() {
                    Ok(request) => Some(request),
                    Err(_) => return Ok(()),
                }
            } else {
                let interval = if self.dialog.is_some() {
                    DIALOG_POLL_INTERVAL
                } else {
                    SESSION_POLL_INTERVAL
                };
                match requests.recv_timeout(interval) {
                    Ok(request) => Some(request),
                    Err(std_mpsc::RecvTimeoutError::Timeout) => None,
                    Err(std_mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
                }
            };
            if let Some(request) = request {
                self.handle_request(request)?;
                while let Ok(request) = requests.try_recv() {
                    self.handle_request(request)?;
                }
            }
            while let Some(event) = self.display.conn.poll_for_event()? {
                self.handle_event(event)?;
            }
            self.tick(Instant::now())?;
            self.display.conn.flush()?;
        }
    }

    fn handle_request(&mut self, request: Request) -> Result<(), WindowError> {
        match request {
            Request::ShowPrompt {
                id,
                question,
                deadline,
            } => {
                self.close_dialog();
                let layout = DialogLayout::new(&question, self.display.width, self.display.height);
                let surface = Surface::create(&self.display, layout.window, Role::Dialog)?;
                self.dialog = Some(OpenDialog {
                    id,
                    surface,
                    layout,
                    deadline,
                    visible_since: None,
                    pressed: None,
                    drawn: None,
                });
            }
            Request::ClosePrompt { id, done } => {
                if self.dialog.as_ref().is_some_and(|d| d.id == id) {
                    self.close_dialog();
                }
                if let Some(done) = done {
                    // A round trip: the server has handled the destroy.
                    self.display.conn.sync()?;
                    let _ = done.send(());
                }
            }
            Request::ShowSession { engineer, granted } => {
                self.show_session(&engineer, &granted)?;
            }
            Request::CloseSession => {
                if let Some(session) = self.session.take() {
                    session.surface.destroy(&self.display);
                }
            }
        }
        Ok(())
    }

    fn show_session(&mut self, engineer: &str, granted: &[Capability]) -> Result<(), WindowError> {
        let layout = SessionLayout::new(engineer, granted, self.display.width);
        match &mut self.session {
            Some(session) => {
                session.surface.reshape(&self.display, layout.window)?;
                session.layout = layout;
                session.pressed = None;
            }
            None => {
                let surface = Surface::create(&self.display, layout.window, Role::Session)?;
                self.session = Some(OpenSession {
                    surface,
                    layout,
                    pressed: None,
                });
            }
        }
        self.draw_session()
    }

    fn handle_event(&mut self, event: Event) -> Result<(), WindowError> {
        let now = Instant::now();
        match event {
            Event::Expose(e) if e.count == 0 => {
                if let Some(dialog) = self
                    .dialog
                    .as_mut()
                    .filter(|d| d.surface.window == e.window)
                {
                    dialog.visible_since.get_or_insert(now);
                    dialog.drawn = None;
                } else if self.is_session(e.window) {
                    self.draw_session()?;
                }
            }
            Event::ButtonPress(e) if e.detail == PRIMARY_BUTTON => self.press(&e, now)?,
            Event::ButtonRelease(e) if e.detail == PRIMARY_BUTTON => self.release(&e, now)?,
            Event::ClientMessage(e) => {
                let [protocol, ..] = e.data.as_data32();
                if e.type_ != self.display.atoms.WM_PROTOCOLS
                    || protocol != self.display.atoms.WM_DELETE_WINDOW
                {
                    return Ok(());
                }
                if let Some(dialog) = self
                    .dialog
                    .as_ref()
                    .filter(|d| d.surface.window == e.window)
                {
                    // Closing the dialog is a refusal.
                    (self.answers)(dialog.id, false);
                    self.close_dialog();
                } else if self.is_session(e.window) {
                    // It stays while the session runs; its End session button ends it.
                    debug!("the session window cannot be closed while the session runs");
                }
            }
            Event::VisibilityNotify(e) if e.state != Visibility::UNOBSCURED => {
                if let Some(dialog) = self
                    .dialog
                    .as_mut()
                    .filter(|d| d.surface.window == e.window)
                {
                    dialog.surface.raise(&self.display, now)?;
                } else if self.dialog.is_none() {
                    // Only without a dialog, so the two never fight for the top.
                    if let Some(session) = self
                        .session
                        .as_mut()
                        .filter(|s| s.surface.window == e.window)
                    {
                        session.surface.raise(&self.display, now)?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn press(&mut self, e: &ButtonPressEvent, now: Instant) -> Result<(), WindowError> {
        let (x, y) = (i32::from(e.event_x), i32::from(e.event_y));
        if let Some(dialog) = self.dialog.as_mut().filter(|d| d.surface.window == e.event) {
            // Before arming a press is ignored, and so is its release.
            dialog.pressed = if dialog.armed(now) {
                dialog.layout.button_at(x, y)
            } else {
                None
            };
        } else if let Some(session) = self
            .session
            .as_mut()
            .filter(|s| s.surface.window == e.event)
        {
            session.pressed = session.layout.button_at(x, y);
            self.draw_session()?;
        }
        Ok(())
    }

    fn release(&mut self, e: &ButtonPressEvent, now: Instant) -> Result<(), WindowError> {
        let (x, y) = (i32::from(e.event_x), i32::from(e.event_y));
        if let Some(dialog) = self.dialog.as_mut().filter(|d| d.surface.window == e.event) {
            let Some(pressed) = dialog.pressed.take() else {
                return Ok(());
            };
            // A click is a press and a release on the same button.
            if dialog.armed(now) && dialog.layout.button_at(x, y) == Some(pressed) {
                (self.answers)(dialog.id, pressed == DialogButton::Allow);
                self.close_dialog();
            }
        } else if let Some(session) = self
            .session
            .as_mut()
            .filter(|s| s.surface.window == e.event)
        {
            let Some(pressed) = session.pressed.take() else {
                return Ok(());
            };
            if session.layout.button_at(x, y) == Some(pressed) {
                let command = match pressed {
                    SessionButton::Stop(capability) => TechnicianCommand::Revoke(capability),
                    SessionButton::EndSession => TechnicianCommand::EndSession,
                };
                debug!(?command, "from the session window");
                let _ = self.commands.send(command);
            }
            self.draw_session()?;
        }
        Ok(())
    }

    /// Countdown, arming, expiry and staying on top.
    fn tick(&mut self, now: Instant) -> Result<(), WindowError> {
        if let Some(dialog) = &mut self.dialog {
            if now >= dialog.deadline {
                // No answer: the asking side times out as a refusal.
                self.close_dialog();
            } else {
                let state = dialog.state(now);
                if dialog.visible_since.is_some() && dialog.drawn != Some(state) {
                    dialog
                        .surface
                        .draw(&self.display, &dialog_scene(&dialog.layout, state))?;
                    dialog.drawn = Some(state);
                }
                dialog.surface.keep_on_top(&self.display, now)?;
            }
        } else if let Some(session) = &mut self.session {
            session.surface.keep_on_top(&self.display, now)?;
        }
        Ok(())
    }

    fn is_session(&self, window: Window) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| s.surface.window == window)
    }

    fn draw_session(&self) -> Result<(), WindowError> {
        if let Some(session) = &self.session {
            let scene = session_scene(&session.layout, session.pressed);
            session.surface.draw(&self.display, &scene)?;
        }
        Ok(())
    }

    fn close_dialog(&mut self) {
        if let Some(dialog) = self.dialog.take() {
            dialog.surface.destroy(&self.display);
            let _ = self.display.conn.flush();
        }
    }

    fn close_all(&mut self) {
        self.close_dialog();
        if let Some(session) = self.session.take() {
            session.surface.destroy(&self.display);
        }
        let _ = self.display.conn.flush();
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Dialog,
    Session,
}

/// One top-level window with an off-screen pixmap it is drawn through, so
/// nothing half-drawn is ever visible.
struct Surface {
    window: Window,
    pixmap: Pixmap,
    gc: Gcontext,
    area: Rect,
    last_raise: Instant,
}

impl Surface {
    fn create(display: &Display, area: Rect, role: Role) -> Result<Self, WindowError> {
        let conn = &display.conn;
        let atoms = &display.atoms;
        let window = conn.generate_id()?;
        conn.create_window(
            display.depth,
            window,
            display.root,
            clamp16(area.x),
            clamp16(area.y),
            dimension(area.width),
            dimension(area.height),
            0,
            WindowClass::INPUT_OUTPUT,
            display.visual,
            &CreateWindowAux::new().event_mask(
                EventMask::EXPOSURE
                    | EventMask::BUTTON_PRESS
                    | EventMask::BUTTON_RELEASE
                    | EventMask::STRUCTURE_NOTIFY
                    | EventMask::VISIBILITY_CHANGE,
            ),
        )?;
        let (title, window_type) = match role {
            Role::Dialog => (DIALOG_TITLE, atoms._NET_WM_WINDOW_TYPE_DIALOG),
            Role::Session => (SESSION_TITLE, atoms._NET_WM_WINDOW_TYPE_UTILITY),
        };
        let latin1_title: Vec<u8> = title
            .chars()
            .map(|c| if c.is_ascii() { c as u8 } else { b'-' })
            .collect();
        conn.change_property8(
            PropMode::REPLACE,
            window,
            AtomEnum::WM_NAME,
            AtomEnum::STRING,
            &latin1_title,
        )?;
        conn.change_property8(
            PropMode::REPLACE,
            window,
            atoms._NET_WM_NAME,
            atoms.UTF8_STRING,
            title.as_bytes(),
        )?;
        conn.change_property8(
            PropMode::REPLACE,
            window,
            AtomEnum::WM_CLASS,
            AtomEnum::STRING,
            WINDOW_CLASS,
        )?;
        set_atoms(conn, window, atoms.WM_PROTOCOLS, &[atoms.WM_DELETE_WINDOW])?;
        set_atoms(conn, window, atoms._NET_WM_WINDOW_TYPE, &[window_type])?;
        set_atoms(
            conn,
            window,
            atoms._NET_WM_STATE,
            &[atoms._NET_WM_STATE_ABOVE],
        )?;
        size_hints(area).set_normal_hints(conn, window)?;
        let pixmap = conn.generate_id()?;
        conn.create_pixmap(
            display.depth,
            pixmap,
            window,
            dimension(area.width),
            dimension(area.height),
        )?;
        let gc = conn.generate_id()?;
        conn.create_gc(gc, pixmap, &CreateGCAux::new().graphics_exposures(0))?;
        conn.map_window(window)?;
        conn.configure_window(
            window,
            &ConfigureWindowAux::new().stack_mode(StackMode::ABOVE),
        )?;
        Ok(Self {
            window,
            pixmap,
            gc,
            area,
            last_raise: Instant::now(),
        })
    }

    /// Moves and resizes the window (the session window when grants change).
    fn reshape(&mut self, display: &Display, area: Rect) -> Result<(), WindowError> {
        if area == self.area {
            return Ok(());
        }
        let conn = &display.conn;
        size_hints(area).set_normal_hints(conn, self.window)?;
        conn.configure_window(
            self.window,
            &ConfigureWindowAux::new()
                .x(area.x)
                .y(area.y)
                .width(u32::from(dimension(area.width)))
                .height(u32::from(dimension(area.height))),
        )?;
        conn.free_pixmap(self.pixmap)?;
        conn.create_pixmap(
            display.depth,
            self.pixmap,
            self.window,
            dimension(area.width),
            dimension(area.height),
        )?;
        self.area = area;
        Ok(())
    }

    fn draw(&self, display: &Display, scene: &Scene) -> Result<(), WindowError> {
        use x11rb::protocol::xproto::ChangeGCAux;
        let conn = &display.conn;
        for (color, rects) in &scene.layers {
            conn.change_gc(self.gc, &ChangeGCAux::new().foreground(*color))?;
            let rects: Vec<Rectangle> = rects.iter().map(|r| rectangle(*r)).collect();
            // Stay far below the core request size limit.
            for chunk in rects.chunks(4096) {
                conn.poly_fill_rectangle(self.pixmap, self.gc, chunk)?;
            }
        }
        conn.copy_area(
            self.pixmap,
            self.window,
            self.gc,
            0,
            0,
            0,
            0,
            dimension(self.area.width),
            dimension(self.area.height),
        )?;
        Ok(())
    }

    fn raise(&mut self, display: &Display, now: Instant) -> Result<(), WindowError> {
        if now.saturating_duration_since(self.last_raise) < RAISE_INTERVAL / 2 {
            return Ok(());
        }
        self.last_raise = now;
        display.conn.configure_window(
            self.window,
            &ConfigureWindowAux::new().stack_mode(StackMode::ABOVE),
        )?;
        Ok(())
    }

    fn keep_on_top(&mut self, display: &Display, now: Instant) -> Result<(), WindowError> {
        if now.saturating_duration_since(self.last_raise) >= RAISE_INTERVAL {
            self.raise(display, now)?;
        }
        Ok(())
    }

    fn destroy(self, display: &Display) {
        let conn = &display.conn;
        // Errors here mean the connection is gone, and the windows with it.
        let _ = conn.free_gc(self.gc);
        let _ = conn.free_pixmap(self.pixmap);
        let _ = conn.destroy_window(self.window);
    }
}

fn set_atoms(
    conn: &RustConnection,
    window: Window,
    property: Atom,
    values: &[Atom],
) -> Result<(), ConnectionError> {
    conn.change_property32(PropMode::REPLACE, window, property, AtomEnum::ATOM, values)?;
    Ok(())
}

/// Position and a fixed size, so a window manager places it where asked
/// and does not let it be resized.
fn size_hints(area: Rect) -> WmSizeHints {
    let mut hints = WmSizeHints::new();
    hints.position = Some((WmSizeHintsSpecification::UserSpecified, area.x, area.y));
    hints.size = Some((
        WmSizeHintsSpecification::UserSpecified,
        area.width,
        area.height,
    ));
    hints.min_size = Some((area.width, area.height));
    hints.max_size = Some((area.width, area.height));
    hints
}

fn clamp16(v: i32) -> i16 {
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

fn dimension(v: i32) -> u16 {
    v.clamp(1, i32::from(u16::MAX)) as u16
}

fn rectangle(r: Rect) -> Rectangle {
    Rectangle {
        x: clamp16(r.x),
        y: clamp16(r.y),
        width: r.width.clamp(0, i32::from(u16::MAX)) as u16,
        height: r.height.clamp(0, i32::from(u16::MAX)) as u16,
    }
}
