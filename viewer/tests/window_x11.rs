//! The viewer window on a real X server (a private Xvfb per test, no window
//! manager, so the window sits at the screen's origin): what it draws is
//! read back from Xvfb's framebuffer, and input is real X input (XTEST).
//!
//! winit allows one event loop per process, so each test re-runs this test
//! binary filtered to itself, with a marker in the environment, and the
//! child does the work ([`in_own_process`]).
//!
//! The frame-cost measurement is ignored by default; run it with
//! `cargo test -p assent-viewer --test window_x11 -- --ignored --nocapture`.

#[path = "../../src/lab/xvfb.rs"]
mod xvfb;

#[path = "window_x11/fake_input.rs"]
mod fake_input;
#[path = "window_x11/present_cost.rs"]
mod present_cost;

use std::process::Command;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use assent_proto::consent::CapabilitySet;
use assent_proto::messages::consent::Capability;
use assent_proto::messages::input::{KeyEvent, MouseButton, PointerButton, PointerMove};
use assent_proto::messages::session::SessionMessage;
use assent_viewer::window::{UserAction, ViewerWindow, WindowCommand, WindowRemote};
use fake_input::FakeInput;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use xvfb::Xvfb;

/// Marks the child process and names the one test it runs.
const CHILD_ENV: &str = "ASSENT_WINDOW_X11_CHILD";
/// Generous: tests share two cores with the compiler.
const WAIT: Duration = Duration::from_secs(20);
/// How long to watch for something that must not happen.
const QUIET: Duration = Duration::from_millis(700);

const XK_A: u32 = 0x61;
const XK_B: u32 = 0x62;
const XK_C: u32 = 0x63;
const XK_U: u32 = 0x75;
const XK_CONTROL_L: u32 = 0xffe3;
const XK_ALT_L: u32 = 0xffe9;

/// Runs `body` in a fresh process running only the test `name` (one winit
/// event loop per process), and fails if that child fails or runs nothing.
fn in_own_process(name: &str, body: impl FnOnce()) {
    if std::env::var(CHILD_ENV).as_deref() == Ok(name) {
        body();
        return;
    }
    let output = Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            name,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, name)
        .output()
        .expect("re-run the test binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(output.status.success(), "{name} failed in its own process");
    assert!(
        stdout.contains("1 passed"),
        "{name} did not run in its own process"
    );
}

/// Declares a test that runs in its own process.
macro_rules! own_process_test {
    ($(#[$meta:meta])* fn $name:ident() $body:block) => {
        $(#[$meta])*
        #[test]
        fn $name() {
            in_own_process(stringify!($name), || $body)
        }
    };
}

/// A viewer window on a private X server, run on its own thread.
struct OpenWindow {
    xvfb: Xvfb,
    remote: WindowRemote,
    actions: UnboundedReceiver<UserAction>,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

impl OpenWindow {
    fn start(screen_width: u32, screen_height: u32) -> OpenWindow {
        let xvfb = Xvfb::start(screen_width, screen_height);
        // winit reads DISPLAY; this child process runs one test, on one
        // thread, so nothing reads the environment concurrently.
        std::env::set_var("DISPLAY", xvfb.display());
        let (actions_tx, actions) = unbounded_channel();
        let (remote_tx, remote_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let (window, remote) = ViewerWindow::new("Assent — test host")?;
            let _ = remote_tx.send(remote);
            window.run(actions_tx)
        });
        let remote = match remote_rx.recv_timeout(WAIT) {
            Ok(remote) => remote,
            Err(_) => panic!("window did not open: {:?}", thread.join()),
        };
        OpenWindow {
            xvfb,
            remote,
            actions,
            thread: Some(thread),
        }
    }

    fn send(&self, cmd: WindowCommand) {
        assert!(self.remote.send(cmd), "the window is gone");
    }

    fn grant(&self, screen: bool, control: bool, files: bool) {
        self.send(WindowCommand::Capabilities(
            CapabilitySet::EMPTY
                .with(Capability::ScreenView, screen)
                .with(Capability::RemoteControl, control)
                .with(Capability::FileTransfer, files),
        ));
    }

    fn show(&self, width: u32, height: u32, pixels: Vec<u32>) {
        self.send(WindowCommand::Frame {
            width,
            height,
            pixels: Arc::new(pixels),
        });
    }

    /// Waits until the top-left `width`x`height` of the X screen equals
    /// `expected` (0x00RRGGBB), or fails showing the first difference.
    fn wait_for_screen(&self, width: u32, height: u32, expected: &[u32]) {
        let deadline = Instant::now() + WAIT;
        loop {
            let mismatch = first_mismatch(&self.xvfb, width, height, expected);
            let Some((x, y, got, want)) = mismatch else {
                return;
            };
            assert!(
                Instant::now() < deadline,
                "screen pixel ({x}, {y}) is {got:#08x}, the frame has {want:#08x}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Collects actions until `done` returns true for one of them.
    fn actions_until(&mut self, done: impl Fn(&UserAction) -> bool) -> Vec<UserAction> {
        self.actions_until_poking(|| {}, done)
    }

    /// Like [`OpenWindow::actions_until`], calling `poke` every 200 ms
    /// meanwhile (to repeat input until some command has landed).
    fn actions_until_poking(
        &mut self,
        mut poke: impl FnMut(),
        done: impl Fn(&UserAction) -> bool,
    ) -> Vec<UserAction> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        let mut next_poke = Instant::now();
        loop {
            if Instant::now() >= next_poke {
                poke();
                next_poke = Instant::now() + Duration::from_millis(200);
            }
            while let Ok(action) = self.actions.try_recv() {
                let finished = done(&action);
                seen.push(action);
                if finished {
                    return seen;
                }
            }
            assert!(Instant::now() < deadline, "still waiting; saw {seen:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every action that arrives within [`QUIET`].
    fn actions_for_a_while(&mut self) -> Vec<UserAction> {
        std::thread::sleep(QUIET);
        std::iter::from_fn(|| self.actions.try_recv().ok()).collect()
    }

    /// Waits for the window's thread; `run`'s result.
    fn join(&mut self) -> anyhow::Result<()> {
        let thread = self.thread.take().expect("joined once");
        let deadline = Instant::now() + WAIT;
        while !thread.is_finished() {
            assert!(Instant::now() < deadline, "the window did not close");
            std::thread::sleep(Duration::from_millis(20));
        }
        thread.join().expect("window thread panicked")
    }
}

impl Drop for OpenWindow {
    /// Closes the window before Xvfb goes: Xlib ends the whole process when
    /// its server vanishes under a live window.
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.remote.send(WindowCommand::Close("test over".into()));
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

fn first_mismatch(
    xvfb: &Xvfb,
    width: u32,
    height: u32,
    expected: &[u32],
) -> Option<(u32, u32, u32, u32)> {
    let (screen_width, _, bgrx) = xvfb.screen_bgrx();
    for y in 0..height {
        for x in 0..width {
            let i = ((y * screen_width + x) * 4) as usize;
            let got = u32::from_le_bytes([bgrx[i], bgrx[i + 1], bgrx[i + 2], 0]);
            let want = expected[(y * width + x) as usize] & 0x00ff_ffff;
            if got != want {
                return Some((x, y, got, want));
            }
        }
    }
    None
}

/// A frame where neighbouring pixels differ in every channel, so any
/// offset, scaling, channel swap or smoothing shows.
fn pattern(width: u32, height: u32, seed: u32) -> Vec<u32> {
    (0..width * height)
        .map(|i| (i ^ seed).wrapping_mul(2_654_435_761).rotate_left(7) & 0x00ff_ffff)
        .collect()
}

fn input(message: impl Into<SessionMessage>) -> UserAction {
    UserAction::Input(message.into())
}

fn key(keysym: u32, pressed: bool) -> UserAction {
    input(KeyEvent { keysym, pressed })
}

fn is_input(action: &UserAction) -> bool {
    matches!(action, UserAction::Input(_))
}

own_process_test! {
    fn a_frame_is_drawn_pixel_exact_at_the_window_origin() {
        let window = OpenWindow::start(640, 480);
        let frame = pattern(320, 200, 1);
        window.grant(true, false, false);
        window.show(320, 200, frame.clone());
        window.wait_for_screen(320, 200, &frame);
        // A new frame replaces the old one completely.
        let next = pattern(320, 200, 2);
        window.show(320, 200, next.clone());
        window.wait_for_screen(320, 200, &next);
    }
}

own_process_test! {
    fn a_frame_larger_than_the_monitor_is_cropped_not_scaled() {
        let window = OpenWindow::start(320, 240);
        let frame = pattern(400, 300, 3);
        window.grant(true, false, false);
        window.show(400, 300, frame.clone());
        let top_left: Vec<u32> = frame
            .chunks_exact(400)
            .take(240)
            .flat_map(|row| row[..320].iter().copied())
            .collect();
        window.wait_for_screen(320, 240, &top_left);
    }
}

own_process_test! {
    fn revoking_screen_view_clears_the_last_frame() {
        let window = OpenWindow::start(640, 480);
        let frame = pattern(64, 48, 4);
        window.grant(true, false, false);
        window.show(64, 48, frame.clone());
        window.wait_for_screen(64, 48, &frame);
        window.grant(false, false, false);
        let background = vec![assent_viewer::window::surface::BACKGROUND; 64 * 48];
        window.wait_for_screen(64, 48, &background);
    }
}

own_process_test! {
    fn input_reaches_the_session_only_while_control_is_granted() {
        let mut window = OpenWindow::start(640, 480);
        let x = FakeInput::open(window.xvfb.display());
        window.grant(true, false, false);
        window.show(320, 200, pattern(320, 200, 5));
        window.wait_for_screen(320, 200, &pattern(320, 200, 5));

        // Not granted: pointer, button and key go nowhere.
        x.move_to(50, 60);
        x.focus_window_under_pointer();
        x.button(1, true);
        x.button(1, false);
        x.key(XK_A, true);
        x.key(XK_A, false);
        let before_grant = window.actions_for_a_while();
        assert!(!before_grant.iter().any(is_input), "sent without control: {before_grant:?}");

        window.grant(true, true, false);
        // The grant and X events travel different ways; keep moving until
        // the grant has landed, then check what comes through exactly.
        let moved = window.actions_until_poking(
            || {
                x.move_to(70, 80);
                x.move_to(71, 80);
            },
            |a| *a == input(PointerMove { x: 71, y: 80 }),
        );
        assert!(moved.iter().all(|a| matches!(a, UserAction::Input(SessionMessage::PointerMove(_)))), "{moved:?}");
        x.button(3, true);
        x.button(3, false);
        x.key(XK_A, true);
        x.key(XK_A, false);
        let granted = window.actions_until(|a| *a == key(XK_A, false));
        assert_eq!(
            granted,
            vec![
                input(PointerButton { button: MouseButton::Right, pressed: true }),
                input(PointerButton { button: MouseButton::Right, pressed: false }),
                key(XK_A, true),
                key(XK_A, false),
            ]
        );

        window.grant(true, false, false);
        std::thread::sleep(QUIET);
        x.move_to(90, 90);
        x.key(XK_B, true);
        x.key(XK_B, false);
        let after_revoke = window.actions_for_a_while();
        assert!(!after_revoke.iter().any(is_input), "sent after revoke: {after_revoke:?}");
    }
}

own_process_test! {
    fn engineer_shortcuts_act_on_the_viewer_and_never_reach_the_host() {
        let mut window = OpenWindow::start(640, 480);
        let x = FakeInput::open(window.xvfb.display());
        window.grant(true, true, false);
        window.show(320, 200, pattern(320, 200, 6));
        window.wait_for_screen(320, 200, &pattern(320, 200, 6));
        x.move_to(10, 10);
        x.focus_window_under_pointer();

        x.key(XK_CONTROL_L, true);
        x.key(XK_ALT_L, true);
        x.key(XK_C, true);
        x.key(XK_C, false);
        // Files not granted: Ctrl+Alt+U only explains, it asks for no path.
        x.key(XK_U, true);
        x.key(XK_U, false);
        x.key(XK_ALT_L, false);
        x.key(XK_CONTROL_L, false);
        let seen = window.actions_until(|a| *a == key(XK_CONTROL_L, false));
        assert!(
            seen.contains(&UserAction::RequestCapability(Capability::RemoteControl)),
            "{seen:?}"
        );
        assert!(!seen.contains(&UserAction::SendFile), "{seen:?}");
        let forwarded_letters: Vec<_> = seen
            .iter()
            .filter(|a| matches!(a, UserAction::Input(SessionMessage::KeyEvent(k)) if k.keysym != XK_CONTROL_L && k.keysym != XK_ALT_L))
            .collect();
        assert!(forwarded_letters.is_empty(), "shortcut keys forwarded: {forwarded_letters:?}");

        window.grant(true, true, true);
        std::thread::sleep(QUIET);
        x.key(XK_CONTROL_L, true);
        x.key(XK_ALT_L, true);
        x.key(XK_U, true);
        x.key(XK_U, false);
        x.key(XK_ALT_L, false);
        x.key(XK_CONTROL_L, false);
        let seen = window.actions_until(|a| *a == key(XK_CONTROL_L, false));
        assert!(seen.contains(&UserAction::SendFile), "{seen:?}");
        assert!(!seen.contains(&key(XK_U, true)), "{seen:?}");
    }
}

own_process_test! {
    fn losing_focus_releases_the_keys_the_host_holds() {
        let mut window = OpenWindow::start(640, 480);
        let x = FakeInput::open(window.xvfb.display());
        window.grant(true, true, false);
        window.show(320, 200, pattern(320, 200, 7));
        window.wait_for_screen(320, 200, &pattern(320, 200, 7));
        x.move_to(100, 100);
        x.focus_window_under_pointer();
        x.key(XK_A, true);
        window.actions_until(|a| *a == key(XK_A, true));

        // Focus moves elsewhere while A is still down.
        x.focus_root();
        window.actions_until(|a| *a == key(XK_A, false));
        x.key(XK_A, false);
        let after = window.actions_for_a_while();
        assert!(!after.contains(&key(XK_A, false)), "released twice: {after:?}");
    }
}

own_process_test! {
    fn closing_the_session_closes_the_window_and_the_remote_sees_it_gone() {
        let mut window = OpenWindow::start(640, 480);
        window.grant(true, false, false);
        window.send(WindowCommand::Close("the technician ended the session".into()));
        window.join().expect("run returns Ok after Close");
        assert!(!window.remote.send(WindowCommand::Status("late".into())));
    }
}

own_process_test! {
    fn without_a_display_the_window_refuses_and_points_to_headless() {
        std::env::set_var("DISPLAY", "");
        let error = match ViewerWindow::new("Assent") {
            Ok(_) => panic!("a window opened without a display"),
            Err(e) => e.to_string(),
        };
        assert!(error.starts_with("no display: use --headless"), "{error}");
    }
}

own_process_test! {
    /// Not a check but a measurement (issue 5 picks the window stack by
    /// frame cost): prints the cost of presenting a 1920x1080 frame.
    #[ignore = "measurement; run with --ignored --nocapture"]
    fn measure_presenting_a_1080p_frame() {
        present_cost::measure(100);
    }
}
