//! `assent-instrument-panel`: a synthetic instrument screen for the demo and
//! the X11 tests. It covers the X screen with an "AQUIOS CL" status panel
//! whose values change every 500 ms, echoes typed text in an input line, and
//! reports every key press and click on stdout, so a test can check what
//! the host's input injection delivered and what its capture saw.
//!
//! Plain x11rb, no toolkit and no server fonts: text is a built-in 5×7
//! bitmap font drawn as filled rectangles, so the pixels are the same on
//! every X server.

use assent_host::consent_dialog::font::text_rects;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use x11rb::connection::Connection;
use x11rb::errors::ReplyOrIdError;
use x11rb::protocol::xproto::{
    AtomEnum, ClientMessageEvent, ConnectionExt as _, CreateGCAux, CreateWindowAux, EventMask,
    Keycode, Keysym, Mapping, PropMode, Rectangle, VisualClass, Window, WindowClass,
};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

const HELP: &str = "\
assent-instrument-panel: a synthetic AQUIOS CL status screen for Assent demos and tests

USAGE: assent-instrument-panel [--still]

Opens a window covering the X screen named by DISPLAY and draws an instrument
status panel whose values change every 500 ms. Text typed into the window
appears in its input line. Prints to stdout, one line each, flushed:
  ready                   once the window is mapped and drawn
  key <keysym> <char|?>   on every key press (keysym in decimal)
  click <button> <x> <y>  on every button press
Exits on SIGTERM or when the window is closed.

OPTIONS:
  --still    keep every value constant (for pixel-exact capture tests)
  --help     show this text
";

/// How often the values change.
const TICK: Duration = Duration::from_millis(500);
/// Flow samples the trace shows.
const TRACE_LEN: usize = 60;
/// Most characters the input line keeps.
const INPUT_MAX: usize = 48;

const BACKGROUND: u32 = 0x0b1d2e;
const HEADER: u32 = 0x1f4e79;
const WHITE: u32 = 0xffffff;
const LABEL: u32 = 0x9db4c8;
const VALUE: u32 = 0xf2d16b;
const GOOD: u32 = 0x4cd97b;
const TRACE: u32 = 0x5ec8f2;
const FRAME: u32 = 0x3a5873;

fn main() {
    let mut still = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--still" => still = true,
            "--help" | "-h" => {
                print!("{HELP}");
                return;
            }
            other => {
                eprintln!("assent-instrument-panel: unknown argument {other:?}; see --help");
                std::process::exit(2);
            }
        }
    }
    if let Err(e) = run(still) {
        eprintln!("assent-instrument-panel: {e}");
        std::process::exit(1);
    }
}

fn run(still: bool) -> Result<(), Box<dyn std::error::Error>> {
    let (conn, screen_index) = x11rb::connect(None).map_err(|e| {
        format!("cannot open the X display ({e}): set DISPLAY to a running X server")
    })?;
    let conn = Arc::new(conn);
    let screen = conn.setup().roots[screen_index].clone();
    let true_color = screen.allowed_depths.iter().any(|d| {
        d.depth == screen.root_depth
            && d.visuals
                .iter()
                .any(|v| v.visual_id == screen.root_visual && v.class == VisualClass::TRUE_COLOR)
    });
    if !true_color || screen.root_depth < 24 {
        return Err(
            "the X screen is not 24-bit TrueColor; start Xvfb with -screen 0 WxHx24".into(),
        );
    }
    let (width, height) = (screen.width_in_pixels, screen.height_in_pixels);

    let window = conn.generate_id()?;
    conn.create_window(
        screen.root_depth,
        window,
        screen.root,
        0,
        0,
        width,
        height,
        0,
        WindowClass::INPUT_OUTPUT,
        screen.root_visual,
        &CreateWindowAux::new()
            .background_pixel(BACKGROUND)
            .event_mask(
                EventMask::EXPOSURE
                    | EventMask::KEY_PRESS
                    | EventMask::BUTTON_PRESS
                    | EventMask::STRUCTURE_NOTIFY,
            ),
    )?;
    let wm_protocols = intern(&conn, b"WM_PROTOCOLS")?;
    let wm_delete = intern(&conn, b"WM_DELETE_WINDOW")?;
    let tick_atom = intern(&conn, b"ASSENT_PANEL_TICK")?;
    conn.change_property32(
        PropMode::REPLACE,
        window,
        wm_protocols,
        AtomEnum::ATOM,
        &[wm_delete],
    )?;
    conn.change_property8(
        PropMode::REPLACE,
        window,
        AtomEnum::WM_NAME,
        AtomEnum::STRING,
        b"AQUIOS CL - Assent demo instrument",
    )?;

    // Draw into a pixmap and copy it to the window, so a capture never sees
    // a half-drawn panel.
    let pixmap = conn.generate_id()?;
    conn.create_pixmap(screen.root_depth, pixmap, window, width, height)?;
    let gc = conn.generate_id()?;
    conn.create_gc(gc, pixmap, &CreateGCAux::new().graphics_exposures(0))?;

    let mut keymap = Keymap::load(&conn)?;
    let mut panel = Panel::new(width, height);
    conn.map_window(window)?;
    conn.flush()?;

    if !still {
        spawn_ticker(Arc::clone(&conn), window, tick_atom);
    }

    let mut announced = false;
    loop {
        let redraw = match conn.wait_for_event()? {
            Event::Expose(e) => e.count == 0,
            Event::KeyPress(e) => {
                let keysym = keymap.keysym(e.detail, u16::from(e.state));
                let text = printable(keysym);
                say(&format!(
                    "key {keysym} {}",
                    text.filter(|c| !c.is_whitespace()).unwrap_or('?')
                ));
                panel.type_key(keysym, text)
            }
            Event::ButtonPress(e) => {
                say(&format!("click {} {} {}", e.detail, e.event_x, e.event_y));
                panel.last_click = Some((e.detail, e.event_x, e.event_y));
                true
            }
            Event::MappingNotify(e) if e.request == Mapping::KEYBOARD => {
                // Input injection binds spare keycodes to new keysyms.
                keymap = Keymap::load(&conn)?;
                false
            }
            Event::ClientMessage(e) if e.type_ == tick_atom => {
                panel.advance();
                true
            }
            Event::ClientMessage(e) if e.data.as_data32()[0] == wm_delete => return Ok(()),
            Event::DestroyNotify(_) => return Ok(()),
            _ => false,
        };
        if redraw {
            let mut painter = Painter::default();
            panel.paint(&mut painter);
            painter.submit(&conn, pixmap, gc)?;
            conn.copy_area(pixmap, window, gc, 0, 0, 0, 0, width, height)?;
            if !announced {
                // A round trip: the server has drawn everything before we say so.
                conn.sync()?;
                say("ready");
                announced = true;
            }
            conn.flush()?;
        }
    }
}

fn intern(conn: &RustConnection, name: &[u8]) -> Result<u32, ReplyOrIdError> {
    Ok(conn.intern_atom(false, name)?.reply()?.atom)
}

/// Wakes the event loop every [`TICK`] with a client message to ourselves,
/// so it needs no timeout support (std has no poll on the X socket).
fn spawn_ticker(conn: Arc<RustConnection>, window: Window, tick_atom: u32) {
    std::thread::spawn(move || loop {
        std::thread::sleep(TICK);
        let event = ClientMessageEvent::new(32, window, tick_atom, [0u32; 5]);
        if conn
            .send_event(false, window, EventMask::NO_EVENT, event)
            .is_err()
            || conn.flush().is_err()
        {
            return;
        }
    });
}

/// One line on stdout, flushed at once: tests read it while we run.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (test gone) is no reason to stop the panel.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Keycode to keysym, from the server's keyboard mapping (group 1 only,
/// which is all a test or a US layout needs).
struct Keymap {
    min_keycode: Keycode,
    per_keycode: usize,
    keysyms: Vec<Keysym>,
}

impl Keymap {
    fn load(conn: &RustConnection) -> Result<Keymap, ReplyOrIdError> {
        let setup = conn.setup();
        let (min, max) = (setup.min_keycode, setup.max_keycode);
        let reply = conn.get_keyboard_mapping(min, max - min + 1)?.reply()?;
        Ok(Keymap {
            min_keycode: min,
            per_keycode: usize::from(reply.keysyms_per_keycode),
            keysyms: reply.keysyms,
        })
    }

    /// The keysym a key press means, following the core protocol's rules for
    /// Shift and Caps Lock.
    fn keysym(&self, keycode: Keycode, state: u16) -> Keysym {
        const SHIFT: u16 = 1;
        const LOCK: u16 = 2;
        let Some(index) = keycode.checked_sub(self.min_keycode) else {
            return 0;
        };
        let start = usize::from(index) * self.per_keycode;
        let syms = self
            .keysyms
            .get(start..start + self.per_keycode)
            .unwrap_or(&[]);
        let first = syms.first().copied().unwrap_or(0);
        let second = syms.get(1).copied().unwrap_or(0);
        let (lower, upper) = if second == 0 {
            (to_lower(first), to_upper(first))
        } else {
            (first, second)
        };
        if state & SHIFT != 0 {
            upper
        } else if state & LOCK != 0 {
            to_upper(lower)
        } else {
            lower
        }
    }
}

fn to_lower(keysym: Keysym) -> Keysym {
    match keysym {
        0x41..=0x5a => keysym + 0x20,
        _ => keysym,
    }
}

fn to_upper(keysym: Keysym) -> Keysym {
    match keysym {
        0x61..=0x7a => keysym - 0x20,
        _ => keysym,
    }
}

/// The character a keysym types, if any: Latin-1 keysyms are their code
/// point, `0x0100_0000 + n` is Unicode `n`.
fn printable(keysym: Keysym) -> Option<char> {
    let code = match keysym {
        0x20..=0x7e | 0xa0..=0xff => keysym,
        0x0100_0000..=0x0110_ffff => keysym - 0x0100_0000,
        _ => return None,
    };
    char::from_u32(code).filter(|c| !c.is_control())
}

/// What the panel shows.
struct Panel {
    width: u16,
    height: u16,
    tick: u64,
    typed: String,
    last_click: Option<(u8, i16, i16)>,
}

impl Panel {
    fn new(width: u16, height: u16) -> Panel {
        Panel {
            width,
            height,
            // Start with a full trace of history.
            tick: TRACE_LEN as u64,
            typed: String::new(),
            last_click: None,
        }
    }

    fn advance(&mut self) {
        self.tick += 1;
    }

    /// Applies a key to the input line; true when the line changed.
    fn type_key(&mut self, keysym: Keysym, text: Option<char>) -> bool {
        const BACKSPACE: Keysym = 0xff08;
        const RETURN: Keysym = 0xff0d;
        match (keysym, text) {
            (BACKSPACE, _) => self.typed.pop().is_some(),
            (RETURN, _) => {
                self.typed.clear();
                true
            }
            (_, Some(c)) if self.typed.chars().count() < INPUT_MAX => {
                self.typed.push(c);
                true
            }
            _ => false,
        }
    }

    /// Flow rate in µL/s at a tick: a smooth, deterministic wobble.
    fn flow_at(tick: u64) -> f64 {
        let t = tick as f64;
        12.0 + 2.5 * (t * 0.31).sin() + 0.8 * (t * 1.7).sin()
    }

    fn paint(&self, p: &mut Painter) {
        let (w, h) = (i32::from(self.width), i32::from(self.height));
        // One layout unit: 4 px at 1280 wide, never below 1.
        let u = (w.min(h * 16 / 10) / 320).max(1);
        let m = 4 * u;
        p.fill(BACKGROUND, 0, 0, w, h);

        let header = 14 * u + 2 * m;
        p.fill(HEADER, 0, 0, w, header);
        p.text(WHITE, m, m, 2 * u, "AQUIOS CL");
        let subtitle = "ASSENT DEMO INSTRUMENT";
        p.text(
            LABEL,
            w - m - text_width(subtitle, u),
            m + 4 * u,
            u,
            subtitle,
        );

        let completed = 1200 + self.tick / 4;
        let queued = 24 - completed % 25;
        let temperature = 37.0 + 0.3 * (self.tick as f64 * 0.1).sin();
        let flow = Self::flow_at(self.tick);
        let rows: [(&str, String, u32); 5] = [
            ("STATUS", "RUNNING".into(), GOOD),
            ("SAMPLES COMPLETED", completed.to_string(), VALUE),
            ("SAMPLES QUEUED", queued.to_string(), VALUE),
            ("TEMPERATURE", format!("{temperature:.1}°C"), VALUE),
            ("FLOW RATE", format!("{flow:.1} uL/s"), VALUE),
        ];
        let mut y = header + m;
        for (label, value, color) in &rows {
            p.text(LABEL, m, y + 4 * u, u, label);
            p.text(*color, m + 108 * u, y, 2 * u, value);
            y += 17 * u;
        }

        // Flow bar: full scale is 20 µL/s.
        let bar_w = w - 2 * m;
        p.fill(FRAME, m, y, bar_w, 6 * u);
        let filled = ((flow / 20.0).clamp(0.0, 1.0) * f64::from(bar_w - 2 * u)) as i32;
        p.fill(TRACE, m + u, y + u, filled, 4 * u);
        y += 6 * u + m;

        // Trace of the last TRACE_LEN flow samples.
        let trace_h = (h / 5).max(8 * u);
        p.fill(FRAME, m, y, bar_w, trace_h);
        p.fill(
            BACKGROUND,
            m + u / 2 + 1,
            y + u / 2 + 1,
            bar_w - u - 2,
            trace_h - u - 2,
        );
        let step = (bar_w / TRACE_LEN as i32).max(1);
        for i in 0..TRACE_LEN as u64 {
            let tick = (self.tick + i + 1).saturating_sub(TRACE_LEN as u64);
            let level = (Self::flow_at(tick) / 20.0).clamp(0.0, 1.0);
            let dot_y = y + trace_h - 2 * u - (level * f64::from(trace_h - 4 * u)) as i32;
            p.fill(
                TRACE,
                m + i as i32 * step + u,
                dot_y,
                step.min(2 * u).max(1),
                2 * u,
            );
        }
        y += trace_h + m;

        let input = format!("INPUT> {}_", self.typed);
        p.text(WHITE, m, y, 2 * u, &input);
        y += 14 * u + m;
        let click = match self.last_click {
            Some((button, x, cy)) => format!("LAST CLICK: BUTTON {button} AT {x},{cy}"),
            None => "LAST CLICK: NONE".to_owned(),
        };
        p.text(LABEL, m, y, u, &click);
    }
}

fn text_width(text: &str, scale: i32) -> i32 {
    text.chars().count() as i32 * 6 * scale
}

/// Collects filled rectangles per colour, then sends them in few requests.
#[derive(Default)]
struct Painter {
    /// (colour, rectangles), in drawing order.
    layers: Vec<(u32, Vec<Rectangle>)>,
}

impl Painter {
    fn fill(&mut self, color: u32, x: i32, y: i32, w: i32, h: i32) {
        if w <= 0 || h <= 0 {
            return;
        }
        let clamp16 = |v: i32| v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
        let rect = Rectangle {
            x: clamp16(x),
            y: clamp16(y),
            width: w.min(i32::from(u16::MAX)) as u16,
            height: h.min(i32::from(u16::MAX)) as u16,
        };
        match self.layers.last_mut() {
            Some((last, rects)) if *last == color => rects.push(rect),
            _ => self.layers.push((color, vec![rect])),
        }
    }

    /// Draws `text` with its top-left corner at (x, y), each font pixel a
    /// `scale`×`scale` square; runs of set pixels become one rectangle.
    fn text(&mut self, color: u32, x: i32, y: i32, scale: i32, text: &str) {
        for r in text_rects(text, x, y, scale) {
            self.fill(color, r.x, r.y, r.width, r.height);
        }
    }

    fn submit(self, conn: &RustConnection, pixmap: u32, gc: u32) -> Result<(), ReplyOrIdError> {
        use x11rb::protocol::xproto::ChangeGCAux;
        for (color, rects) in self.layers {
            conn.change_gc(gc, &ChangeGCAux::new().foreground(color))?;
            // Stay far below the core request size limit.
            for chunk in rects.chunks(4096) {
                conn.poly_fill_rectangle(pixmap, gc, chunk)?;
            }
        }
        Ok(())
    }
}
