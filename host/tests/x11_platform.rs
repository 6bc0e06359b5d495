//! The host's X11 platform layer against a real X server (Xvfb): capture
//! reads exactly the pixels the server shows, injected input reaches the
//! focused window, and nothing stays held after control ends.
//!
//! The target window is `assent-instrument-panel` (root package), which
//! prints every key press and click it receives.

#[path = "../../src/lab/xvfb.rs"]
mod xvfb;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

use assent_host::capture::{ScreenSource, X11Screen};
use assent_host::control::{EnigoInput, InputSink, MouseButton};
use x11rb::connection::Connection;
// RandR comes through enigo's x11rb features.
use x11rb::protocol::randr::{ConnectionExt as _, Rotation};
use x11rb::protocol::xproto::{ChangeGCAux, ConnectionExt as _, CreateGCAux, Rectangle, Window};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;
use xvfb::Xvfb;

const WIDTH: u32 = 640;
const HEIGHT: u32 = 400;
/// How long to wait for the panel to report something.
const PANEL_TIMEOUT: Duration = Duration::from_secs(20);

const SHIFT_L: u32 = 0xffe1;

/// The panel binary, built once per test process: it lives in the root
/// package, so cargo does not build it for this crate's tests on its own.
fn panel_binary() -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "assent",
                "--bin",
                "assent-instrument-panel",
            ])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building assent-instrument-panel failed");
    });
    let mut dir = std::env::current_exe().expect("test binary path");
    dir.pop(); // deps/
    dir.pop(); // debug/
    dir.join("assent-instrument-panel")
}

/// A running instrument panel and the lines it prints.
struct Panel {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Panel {
    /// Starts the panel on `display` and waits until it has drawn itself.
    fn start(display: &str, still: bool) -> Panel {
        let mut command = Command::new(panel_binary());
        command
            .env("DISPLAY", display)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        if still {
            command.arg("--still");
        }
        let mut child = command.spawn().expect("start assent-instrument-panel");
        let stdout = child.stdout.take().expect("panel stdout is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let panel = Panel { child, lines };
        assert_eq!(panel.next_line(), "ready");
        panel
    }

    fn next_line(&self) -> String {
        self.lines
            .recv_timeout(PANEL_TIMEOUT)
            .expect("the instrument panel printed nothing in time")
    }

    /// The next key or click report, skipping modifier keys (they report
    /// too, but what they mean shows in the keys that follow).
    fn next_input(&self) -> String {
        loop {
            let line = self.next_line();
            let keysym = line
                .strip_prefix("key ")
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse::<u32>().ok());
            if !matches!(keysym, Some(0xffe1..=0xffee)) {
                return line;
            }
        }
    }
}

impl Drop for Panel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Types one character through the sink: press and release its keysym.
fn type_char(input: &mut EnigoInput, c: char) {
    input.key(c as u32, true).unwrap();
    input.key(c as u32, false).unwrap();
}

/// Puts the pointer over the panel: with no window manager, keyboard focus
/// follows the pointer.
fn focus_panel(input: &mut EnigoInput) {
    input
        .pointer_move(WIDTH as i32 / 2, HEIGHT as i32 / 2)
        .unwrap();
}

/// Colour bytes (B, G, R) of a BGRX image with rows `stride` bytes apart.
fn colour_rows(width: u32, height: u32, stride: usize, bgrx: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(width as usize * height as usize * 3);
    for row in bgrx.chunks(stride).take(height as usize) {
        for px in row[..width as usize * 4].chunks_exact(4) {
            out.extend_from_slice(&px[..3]);
        }
    }
    out
}

#[test]
fn capture_matches_what_the_x_server_shows_pixel_for_pixel() {
    let xvfb = Xvfb::start(WIDTH, HEIGHT);
    let _panel = Panel::start(xvfb.display(), true);
    let mut screen = X11Screen::open(Some(xvfb.display())).unwrap();
    assert_eq!(screen.size(), (WIDTH, HEIGHT));

    let frame = screen.capture().unwrap();
    assert_eq!((frame.width, frame.height), (WIDTH, HEIGHT));
    assert!(frame.stride >= WIDTH as usize * 4);
    let captured = colour_rows(frame.width, frame.height, frame.stride, frame.bgrx);

    let (width, height, shown) = xvfb.screen_bgrx();
    assert_eq!((width, height), (WIDTH, HEIGHT));
    let shown = colour_rows(width, height, width as usize * 4, &shown);

    let differing = captured
        .chunks_exact(3)
        .zip(shown.chunks_exact(3))
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(
        differing, 0,
        "{differing} pixels differ from the X server's framebuffer"
    );
    // Equal but blank would prove nothing: the panel draws many colours.
    let mut colours: Vec<&[u8]> = shown.chunks_exact(3).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() >= 5,
        "the panel drew only {} colours",
        colours.len()
    );
}

/// A plain X client that paints the root window and resizes the screen.
struct XClient {
    conn: RustConnection,
    root: Window,
    gc: u32,
}

impl XClient {
    fn connect(display: &str) -> XClient {
        let (conn, screen_index) = x11rb::connect(Some(display)).unwrap();
        let root = conn.setup().roots[screen_index].root;
        let gc = conn.generate_id().unwrap();
        conn.create_gc(gc, root, &CreateGCAux::new()).unwrap();
        XClient { conn, root, gc }
    }

    /// Fills the whole root window with one colour (0xRRGGBB).
    fn paint_root(&self, rgb: u32) {
        self.conn
            .change_gc(self.gc, &ChangeGCAux::new().foreground(rgb))
            .unwrap();
        let everything = Rectangle {
            x: 0,
            y: 0,
            width: u16::MAX,
            height: u16::MAX,
        };
        self.conn
            .poly_fill_rectangle(self.root, self.gc, &[everything])
            .unwrap();
        self.conn.sync().unwrap();
    }

    /// Changes the screen size as `xrandr --fb` would: the CRTC goes off
    /// first, since its mode may not fit the new size. Xvfb allows sizes up
    /// to the one it started with.
    fn resize_screen(&self, width: u16, height: u16) {
        let resources = self
            .conn
            .randr_get_screen_resources_current(self.root)
            .unwrap()
            .reply()
            .unwrap();
        self.conn
            .randr_set_crtc_config(
                resources.crtcs[0],
                x11rb::CURRENT_TIME,
                resources.config_timestamp,
                0,
                0,
                0,
                Rotation::ROTATE0,
                &[],
            )
            .unwrap()
            .reply()
            .unwrap();
        // Physical size in mm: any plausible value.
        self.conn
            .randr_set_screen_size(
                self.root,
                width,
                height,
                u32::from(width) / 4,
                u32::from(height) / 4,
            )
            .unwrap()
            .check()
            .unwrap();
    }
}

/// B, G, R of an 0xRRGGBB colour, as a BGRX capture holds it.
fn bgr(rgb: u32) -> [u8; 3] {
    let [_, r, g, b] = rgb.to_be_bytes();
    [b, g, r]
}

#[test]
fn capture_shows_a_change_drawn_just_before_it() {
    let xvfb = Xvfb::start(WIDTH, HEIGHT);
    let client = XClient::connect(xvfb.display());
    let mut screen = X11Screen::open(Some(xvfb.display())).unwrap();
    for rgb in [0x112233, 0x445566, 0x778899] {
        client.paint_root(rgb);
        let frame = screen.capture().unwrap();
        assert_eq!(
            frame.bgrx[..3],
            bgr(rgb),
            "capture returned an older screen than the one drawn before it"
        );
    }
}

#[test]
fn capture_follows_a_resolution_change() {
    let xvfb = Xvfb::start(WIDTH, HEIGHT);
    let client = XClient::connect(xvfb.display());
    let mut screen = X11Screen::open(Some(xvfb.display())).unwrap();
    assert_eq!(screen.capture().unwrap().width, WIDTH);

    client.resize_screen(320, 200);
    client.paint_root(0x336699);

    let frame = screen.capture().unwrap();
    assert_eq!((frame.width, frame.height), (320, 200));
    assert_eq!(frame.bgrx.len(), 320 * 200 * 4);
    let last = frame.bgrx.len() - 4;
    assert_eq!(frame.bgrx[last..last + 3], bgr(0x336699));
    assert_eq!(screen.size(), (320, 200));
}

#[test]
fn pointer_reaches_screen_area_added_by_a_resolution_change() {
    let xvfb = Xvfb::start(WIDTH, HEIGHT);
    let client = XClient::connect(xvfb.display());
    client.resize_screen(320, 200);
    let mut input = EnigoInput::new(Some(xvfb.display())).unwrap();
    let mut screen = X11Screen::open(Some(xvfb.display())).unwrap();

    client.resize_screen(WIDTH as u16, HEIGHT as u16);
    input.pointer_move(600, 350).unwrap();

    let cursor = screen.cursor().unwrap().expect("pointer is on this screen");
    assert_eq!((cursor.x, cursor.y), (600, 350));
}

#[test]
fn typed_text_and_a_click_reach_the_focused_window() {
    let xvfb = Xvfb::start(WIDTH, HEIGHT);
    let panel = Panel::start(xvfb.display(), true);
    let mut input = EnigoInput::new(Some(xvfb.display())).unwrap();
    focus_panel(&mut input);

    // 'A' is not on any key's first level: enigo binds a spare keycode.
    for c in ['A', 'q', '1'] {
        type_char(&mut input, c);
    }
    input.pointer_move(100, 60).unwrap();
    input.button(MouseButton::Left, true).unwrap();
    input.button(MouseButton::Left, false).unwrap();
    drop(input);

    assert_eq!(panel.next_input(), "key 65 A");
    assert_eq!(panel.next_input(), "key 113 q");
    assert_eq!(panel.next_input(), "key 49 1");
    assert_eq!(panel.next_input(), "click 1 100 60");
}

#[test]
fn release_all_leaves_no_key_held() {
    let xvfb = Xvfb::start(WIDTH, HEIGHT);
    let panel = Panel::start(xvfb.display(), true);
    let mut input = EnigoInput::new(Some(xvfb.display())).unwrap();
    focus_panel(&mut input);

    input.key(SHIFT_L, true).unwrap();
    type_char(&mut input, 'a');
    // Shift really is down: the same key types a capital.
    assert_eq!(panel.next_input(), "key 65 A");

    input.release_all().unwrap();
    type_char(&mut input, 'a');
    assert_eq!(panel.next_input(), "key 97 a");
}

#[test]
fn dropping_the_injector_leaves_no_key_held() {
    let xvfb = Xvfb::start(WIDTH, HEIGHT);
    let panel = Panel::start(xvfb.display(), true);
    let mut input = EnigoInput::new(Some(xvfb.display())).unwrap();
    focus_panel(&mut input);
    input.key(SHIFT_L, true).unwrap();
    type_char(&mut input, 'b');
    assert_eq!(panel.next_input(), "key 66 B");

    drop(input);

    let mut input = EnigoInput::new(Some(xvfb.display())).unwrap();
    type_char(&mut input, 'b');
    assert_eq!(panel.next_input(), "key 98 b");
}

#[test]
fn cursor_position_follows_pointer_moves() {
    let xvfb = Xvfb::start(WIDTH, HEIGHT);
    let mut screen = X11Screen::open(Some(xvfb.display())).unwrap();
    let mut input = EnigoInput::new(Some(xvfb.display())).unwrap();

    input.pointer_move(123, 45).unwrap();
    let first = screen.cursor().unwrap().expect("pointer is on this screen");
    assert_eq!((first.x, first.y), (123, 45));
    assert!(
        first.shape.is_some(),
        "the first update carries the cursor image"
    );

    input.pointer_move(500, 300).unwrap();
    let second = screen.cursor().unwrap().expect("pointer is on this screen");
    assert_eq!((second.x, second.y), (500, 300));
    assert!(
        second.shape.is_none(),
        "an unchanged cursor image is not resent"
    );

    // Off-screen targets are clamped to the last pixel.
    input.pointer_move(10_000, -50).unwrap();
    let clamped = screen.cursor().unwrap().expect("pointer is on this screen");
    assert_eq!((clamped.x, clamped.y), (WIDTH as i32 - 1, 0));
}
