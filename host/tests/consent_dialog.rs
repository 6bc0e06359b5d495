//! The technician's consent dialog and session window on a real X server
//! (Xvfb), clicked through XTEST the way a person's mouse would be: Allow
//! grants, Deny refuses, silence is no answer, an early click is ignored,
//! the terminal still answers, remote input is paused while the dialog is
//! open, and the session window's buttons send the terminal's commands.

#[path = "../../src/lab/xvfb.rs"]
mod xvfb;

use std::io::{BufReader, Read};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use assent_host::consent_dialog::layout::{
    DialogLayout, Rect, SessionButton, SessionLayout, DIALOG_TITLE,
};
use assent_host::consent_dialog::paint::{ALLOW, BORDER, DENY, DISABLED, PRESSED, STOP};
use assent_host::consent_dialog::ARMING_DELAY;
use assent_host::technician::{Answer, PromptMode, PromptSettings, Technician, TechnicianCommand};
use assent_proto::consent::CapabilitySet;
use assent_proto::messages::consent::Capability;
use tokio::sync::{mpsc, watch};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    ClientMessageEvent, ConnectionExt as _, EventMask, Window, BUTTON_PRESS_EVENT,
    BUTTON_RELEASE_EVENT, MOTION_NOTIFY_EVENT,
};
use x11rb::protocol::xtest::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;
use xvfb::Xvfb;

const WIDTH: u32 = 800;
const HEIGHT: u32 = 600;
/// Generous: tests share two cores with the compiler.
const WAIT: Duration = Duration::from_secs(20);
const QUESTION: &str = "Erin Engineer <erin@example.com> asks for REMOTE CONTROL. Allow?";
const ENGINEER: &str = "Erin Engineer <erin@example.com>";

/// An Xvfb with a pointer the test moves and clicks through XTEST.
struct Screen {
    xvfb: Xvfb,
    conn: RustConnection,
    root: Window,
}

impl Screen {
    fn start() -> Screen {
        let xvfb = Xvfb::start(WIDTH, HEIGHT);
        let (conn, screen) = x11rb::connect(Some(xvfb.display())).expect("connect to Xvfb");
        let root = conn.setup().roots[screen].root;
        Screen { xvfb, conn, root }
    }

    fn color_at(&self, (x, y): (i32, i32)) -> u32 {
        let (width, _, pixels) = self.xvfb.screen_bgrx();
        let at = (y as usize * width as usize + x as usize) * 4;
        let px = &pixels[at..at + 4];
        u32::from(px[2]) << 16 | u32::from(px[1]) << 8 | u32::from(px[0])
    }

    /// Waits until the pixel at `point` is one of `colors`; returns it.
    fn wait_for(&self, point: (i32, i32), colors: &[u32], what: &str) -> u32 {
        let deadline = Instant::now() + WAIT;
        loop {
            let color = self.color_at(point);
            if colors.contains(&color) {
                return color;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: pixel {point:?} stays {color:06x}, expected one of {colors:06x?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the pixel at `point` is none of `colors` any more.
    fn wait_until_gone(&self, point: (i32, i32), colors: &[u32], what: &str) {
        let deadline = Instant::now() + WAIT;
        while colors.contains(&self.color_at(point)) {
            assert!(
                Instant::now() < deadline,
                "{what}: still shown at {point:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Asserts the dialog is off the screen now: once `ask` has returned,
    /// nothing may click it and no capture may show it.
    fn assert_gone(&self, point: (i32, i32), what: &str) {
        let color = self.color_at(point);
        assert!(
            !DIALOG_COLORS.contains(&color),
            "{what}: still shown at {point:?} after the answer"
        );
    }

    fn atom(&self, name: &[u8]) -> u32 {
        let cookie = self.conn.intern_atom(false, name).expect("intern an atom");
        cookie.reply().expect("the atom's id").atom
    }

    /// The top-level window whose `_NET_WM_NAME` is `title`.
    fn window_titled(&self, title: &str) -> Option<Window> {
        let conn = &self.conn;
        let net_wm_name = self.atom(b"_NET_WM_NAME");
        let utf8 = self.atom(b"UTF8_STRING");
        let tree = conn.query_tree(self.root).unwrap().reply().unwrap();
        tree.children.into_iter().find(|&window| {
            conn.get_property(false, window, net_wm_name, utf8, 0, 256)
                .ok()
                .and_then(|cookie| cookie.reply().ok())
                .is_some_and(|reply| reply.value == title.as_bytes())
        })
    }

    /// Asks `window` to close, as a window manager's close button does.
    fn close_window(&self, window: Window) {
        let conn = &self.conn;
        let protocols = self.atom(b"WM_PROTOCOLS");
        let delete = self.atom(b"WM_DELETE_WINDOW");
        let event = ClientMessageEvent::new(32, window, protocols, [delete, 0, 0, 0, 0]);
        conn.send_event(false, window, EventMask::NO_EVENT, event)
            .expect("send WM_DELETE_WINDOW");
        conn.sync().expect("the X server took the request");
    }

    /// A left click at screen point (x, y), as the local mouse would make it.
    fn click(&self, (x, y): (i32, i32)) {
        let (x, y) = (x as i16, y as i16);
        let conn = &self.conn;
        conn.xtest_fake_input(MOTION_NOTIFY_EVENT, 0, 0, self.root, x, y, 0)
            .expect("move the pointer");
        conn.xtest_fake_input(BUTTON_PRESS_EVENT, 1, 0, self.root, x, y, 0)
            .expect("press");
        conn.xtest_fake_input(BUTTON_RELEASE_EVENT, 1, 0, self.root, x, y, 0)
            .expect("release");
        conn.sync().expect("the X server took the click");
    }
}

/// Lines for the technician's terminal, sent by the test.
struct TerminalLines {
    lines: std_mpsc::Receiver<Vec<u8>>,
    pending: Vec<u8>,
}

impl Read for TerminalLines {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() {
            match self.lines.recv() {
                Ok(line) => self.pending = line,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

/// A technician with the dialog on `screen` and a terminal the test types into.
async fn technician_on(
    screen: &Screen,
) -> (
    Technician,
    mpsc::UnboundedReceiver<TechnicianCommand>,
    std_mpsc::Sender<Vec<u8>>,
) {
    let (terminal, lines) = std_mpsc::channel();
    let input = BufReader::new(TerminalLines {
        lines,
        pending: Vec::new(),
    });
    let settings = PromptSettings {
        mode: PromptMode::Gui,
        display: Some(screen.xvfb.display().to_owned()),
    };
    let (technician, commands) = Technician::start_with_input(&settings, input)
        .await
        .expect("the dialog opens on Xvfb");
    assert!(technician.has_dialog());
    (technician, commands, terminal)
}

/// `button` of a window at `window`, in screen coordinates.
fn on_screen(window: Rect, button: Rect) -> Rect {
    Rect::new(
        window.x + button.x,
        window.y + button.y,
        button.width,
        button.height,
    )
}

/// A point inside `button` away from its centred label.
fn probe(button: Rect) -> (i32, i32) {
    (button.x + 3, button.y + 3)
}

fn ask(technician: &Technician, timeout: Duration) -> tokio::task::JoinHandle<Answer> {
    let technician = technician.clone();
    let deadline = std::time::Instant::now() + timeout;
    tokio::spawn(async move { technician.ask(QUESTION, deadline).await })
}

async fn answer_of(asking: tokio::task::JoinHandle<Answer>) -> Answer {
    tokio::time::timeout(WAIT, asking)
        .await
        .expect("the prompt ends")
        .expect("the prompt task")
}

struct Buttons {
    allow: Rect,
    deny: Rect,
}

fn dialog_buttons() -> Buttons {
    let layout = DialogLayout::new(QUESTION, WIDTH as i32, HEIGHT as i32);
    Buttons {
        allow: on_screen(layout.window, layout.allow),
        deny: on_screen(layout.window, layout.deny),
    }
}

const DIALOG_COLORS: &[u32] = &[ALLOW, DENY, DISABLED, PRESSED];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicking_allow_grants_and_remote_input_is_paused_while_the_dialog_is_open() {
    let screen = Screen::start();
    let (technician, _commands, _terminal) = technician_on(&screen).await;
    let paused = technician.prompt_open();
    let buttons = dialog_buttons();
    let before = screen.color_at(probe(buttons.allow));
    assert!(!*paused.borrow());

    let asking = ask(&technician, Duration::from_secs(60));
    screen.wait_for(probe(buttons.allow), &[ALLOW], "the armed Allow button");
    assert_ne!(before, ALLOW, "the dialog changed the screen");
    assert!(
        *paused.borrow(),
        "remote input is paused while the dialog is open"
    );
    assert!(!asking.is_finished());

    screen.click(buttons.allow.center());
    assert_eq!(answer_of(asking).await, Answer::Yes);
    assert!(!*paused.borrow(), "input resumes once answered");
    screen.assert_gone(probe(buttons.allow), "the answered dialog");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicking_deny_refuses() {
    let screen = Screen::start();
    let (technician, _commands, _terminal) = technician_on(&screen).await;
    let buttons = dialog_buttons();

    let asking = ask(&technician, Duration::from_secs(60));
    screen.wait_for(probe(buttons.deny), &[DENY], "the armed Deny button");
    screen.click(buttons.deny.center());
    assert_eq!(answer_of(asking).await, Answer::No);
    screen.assert_gone(probe(buttons.deny), "the refused dialog");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_dialog_is_no_answer_and_goes_away() {
    let screen = Screen::start();
    let (technician, _commands, _terminal) = technician_on(&screen).await;
    let paused = technician.prompt_open();
    let buttons = dialog_buttons();

    let asking = ask(&technician, Duration::from_secs(3));
    screen.wait_for(probe(buttons.allow), &[DISABLED, ALLOW], "the dialog");
    assert_eq!(answer_of(asking).await, Answer::NoAnswer);
    assert!(!*paused.borrow());
    screen.assert_gone(probe(buttons.allow), "the expired dialog");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_before_the_dialog_is_armed_is_ignored() {
    // Input already on its way when the dialog opens must not answer it.
    let screen = Screen::start();
    let (technician, _commands, _terminal) = technician_on(&screen).await;
    let buttons = dialog_buttons();

    let asking = ask(&technician, Duration::from_secs(60));
    let shown = screen.wait_for(probe(buttons.allow), &[DISABLED, ALLOW], "the dialog");
    assert_eq!(shown, DISABLED, "the buttons start disabled");
    screen.click(buttons.allow.center());
    std::thread::sleep(ARMING_DELAY + Duration::from_millis(300));
    assert!(!asking.is_finished(), "the early click answered the prompt");

    screen.wait_for(probe(buttons.allow), &[ALLOW], "the armed Allow button");
    screen.click(buttons.allow.center());
    assert_eq!(answer_of(asking).await, Answer::Yes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_answers_too_and_closes_the_dialog() {
    let screen = Screen::start();
    let (technician, _commands, terminal) = technician_on(&screen).await;
    let buttons = dialog_buttons();

    let mut answerable = technician.prompt_answerable();
    let asking = ask(&technician, Duration::from_secs(60));
    screen.wait_for(probe(buttons.allow), &[DISABLED, ALLOW], "the dialog");
    // The terminal takes answers once the prompt has armed, as the dialog.
    tokio::time::timeout(WAIT, answerable.wait_for(|a| *a))
        .await
        .expect("the terminal prompt arms")
        .unwrap();
    terminal.send(b"n\n".to_vec()).unwrap();
    assert_eq!(answer_of(asking).await, Answer::No);
    screen.assert_gone(probe(buttons.allow), "the dialog answered on the terminal");

    // The next prompt gets a fresh dialog, answered by a click.
    let asking = ask(&technician, Duration::from_secs(60));
    screen.wait_for(probe(buttons.allow), &[ALLOW], "the second dialog");
    screen.click(buttons.allow.center());
    assert_eq!(answer_of(asking).await, Answer::Yes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_dialog_refuses_and_its_title_names_the_technician() {
    let screen = Screen::start();
    let (technician, _commands, _terminal) = technician_on(&screen).await;
    let buttons = dialog_buttons();

    let asking = ask(&technician, Duration::from_secs(60));
    screen.wait_for(probe(buttons.allow), &[DISABLED, ALLOW], "the dialog");
    let dialog = screen
        .window_titled(DIALOG_TITLE)
        .expect("a window titled as the technician's approval");
    screen.close_window(dialog);
    assert_eq!(answer_of(asking).await, Answer::No);
    screen.assert_gone(probe(buttons.allow), "the closed dialog");
}

async fn next_command(
    commands: &mut mpsc::UnboundedReceiver<TechnicianCommand>,
) -> TechnicianCommand {
    tokio::time::timeout(WAIT, commands.recv())
        .await
        .expect("a command from the session window")
        .expect("the command stream is open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_window_stop_revokes_that_capability_and_end_session_ends() {
    let screen = Screen::start();
    let (technician, mut commands, _terminal) = technician_on(&screen).await;
    let (grants_tx, grants) = watch::channel(
        [Capability::ScreenView, Capability::RemoteControl]
            .into_iter()
            .collect::<CapabilitySet>(),
    );
    technician.show_session_window(ENGINEER, grants);

    let both = SessionLayout::new(
        ENGINEER,
        &[Capability::ScreenView, Capability::RemoteControl],
        WIDTH as i32,
    );
    let stop = SessionButton::Stop(Capability::RemoteControl);
    let stop_control = on_screen(both.window, both.button(stop).unwrap());
    screen.wait_for(
        probe(stop_control),
        &[STOP],
        "the Stop button for remote control",
    );
    screen.click(stop_control.center());
    assert_eq!(
        next_command(&mut commands).await,
        TechnicianCommand::Revoke(Capability::RemoteControl)
    );

    // The session applies the revocation; the window follows the grants.
    grants_tx.send_replace(CapabilitySet::EMPTY.with(Capability::ScreenView, true));
    let screen_only = SessionLayout::new(ENGINEER, &[Capability::ScreenView], WIDTH as i32);
    let end = on_screen(screen_only.window, screen_only.end_session);
    screen.wait_for(probe(end), &[BORDER], "End session after the update");
    screen.click(end.center());
    assert_eq!(
        next_command(&mut commands).await,
        TechnicianCommand::EndSession
    );

    // The session is over when it drops its grants.
    drop(grants_tx);
    screen.wait_until_gone(probe(end), &[BORDER, PRESSED], "the session window");
}
