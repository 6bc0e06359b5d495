//! `connect --headless`: the session without a window, for scripts and
//! tests. It writes screenshots, counts frames, measures the stream, types
//! or clicks once remote control is granted (never before: R10), and waits
//! for files to be sent or received ([`FileGoals`]).
//!
//! Everything it reports is one stable line on stdout (see `--help`).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use assent_proto::messages::consent::{Capability, DecisionOutcome};
use assent_proto::messages::input::{KeyEvent, MouseButton, PointerButton, PointerMove};
use assent_proto::messages::session::SessionMessage;
use assent_proto::screen_codec::Framebuffer;

use crate::atomic_file::{write_atomically, Readable};
use crate::files::{FileGoals, FilesPlan};
use crate::session::{Frontend, SessionEnd, SessionEvent};
use crate::stats::ScreenStats;
use crate::window::keysym::char_keysym;
use crate::window::{GrantedCapabilities, UserAction};

/// How long to let input reach the host before a run that only typed or
/// clicked ends (closing the connection at once could cut it off).
const INPUT_SETTLE: Duration = Duration::from_millis(500);

/// What a headless run is asked to do.
#[derive(Debug, Clone, Default)]
pub struct HeadlessOptions {
    pub screenshot: Option<PathBuf>,
    pub frames: Option<u64>,
    pub duration: Option<Duration>,
    pub stats: bool,
    pub type_text: Option<String>,
    pub click: Option<Click>,
    pub wait_for_grant: Option<Capability>,
    /// Files to send to the host once file transfer is granted.
    pub send: Vec<PathBuf>,
    /// End only after this many files from the host were received.
    pub receive: Option<u64>,
}

impl HeadlessOptions {
    /// Capabilities this run cannot do without; they are requested even
    /// if `--request` did not name them.
    pub fn needed(&self) -> Vec<Capability> {
        let mut needed = Vec::new();
        if self.frames.is_some() || self.screenshot.is_some() {
            needed.push(Capability::ScreenView);
        }
        if self.type_text.is_some() || self.click.is_some() {
            needed.push(Capability::RemoteControl);
        }
        if !self.send.is_empty() || self.receive.is_some() {
            needed.push(Capability::FileTransfer);
        }
        if let Some(capability) = self.wait_for_grant {
            if !needed.contains(&capability) {
                needed.push(capability);
            }
        }
        needed
    }

    fn has_goal(&self) -> bool {
        self.frames.is_some()
            || self.type_text.is_some()
            || self.click.is_some()
            || self.wait_for_grant.is_some()
            || !self.send.is_empty()
            || self.receive.is_some()
    }

    /// What the session does with files for this run.
    pub fn files_plan(&self, download_dir: PathBuf) -> FilesPlan {
        FilesPlan {
            download_dir,
            send: self.send.clone(),
        }
    }
}

/// A click at a remote position: `X,Y[,BUTTON]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Click {
    pub x: i32,
    pub y: i32,
    pub button: MouseButton,
}

impl FromStr for Click {
    type Err = String;

    /// `X,Y` or `X,Y,BUTTON`; BUTTON is left, middle, right (or 1, 2, 3).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let (x, y, button) = match parts.as_slice() {
            [x, y] => (x, y, "left"),
            [x, y, button] => (x, y, *button),
            _ => {
                return Err(format!(
                    "{s:?} is not X,Y or X,Y,BUTTON (e.g. 200,150,left)"
                ))
            }
        };
        let coordinate = |v: &str, name: &str| {
            v.parse::<i32>()
                .map_err(|_| format!("{name} {v:?} in {s:?} is not a whole number of pixels"))
        };
        let button = match button.to_ascii_lowercase().as_str() {
            "left" | "1" => MouseButton::Left,
            "middle" | "2" => MouseButton::Middle,
            "right" | "3" => MouseButton::Right,
            other => return Err(format!("button {other:?} is not left, middle or right")),
        };
        Ok(Click {
            x: coordinate(x, "X")?,
            y: coordinate(y, "Y")?,
            button,
        })
    }
}

/// `--type` text as typed on a shell line: `\n` is a newline (Return),
/// `\t` a tab and `\\` a backslash; any other backslash is itself.
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let escaped = match (c, chars.peek()) {
            ('\\', Some('n')) => Some('\n'),
            ('\\', Some('t')) => Some('\t'),
            ('\\', Some('\\')) => Some('\\'),
            _ => None,
        };
        match escaped {
            Some(e) => {
                chars.next();
                out.push(e);
            }
            None => out.push(c),
        }
    }
    out
}

/// The key presses and releases that type `text` on the host, as X11
/// keysyms (printable ASCII is its own keysym; a newline is Return).
pub fn type_events(text: &str) -> Vec<SessionMessage> {
    text.chars()
        .flat_map(|c| {
            let keysym = char_keysym(c);
            [true, false].map(|pressed| KeyEvent { keysym, pressed }.into())
        })
        .collect()
}

/// Move there, press, release.
pub fn click_events(click: Click) -> Vec<SessionMessage> {
    vec![
        PointerMove {
            x: click.x,
            y: click.y,
        }
        .into(),
        PointerButton {
            button: click.button,
            pressed: true,
        }
        .into(),
        PointerButton {
            button: click.button,
            pressed: false,
        }
        .into(),
    ]
}

/// Writes RGBA pixels as a PNG, atomically (temporary file, then rename).
pub fn write_png(path: &Path, width: u32, height: u32, rgba: &[u8]) -> Result<()> {
    let mut encoded = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut encoded, width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().context("encoding the PNG")?;
        writer.write_image_data(rgba).context("encoding the PNG")?;
        writer.finish().context("encoding the PNG")?;
    }
    write_atomically(path, &encoded, Readable::Everyone)
        .with_context(|| format!("writing {}", path.display()))
}

/// The headless frontend. A script asked for each capability it requested,
/// so a refusal (or an unanswered prompt) of any of them ends the run as a
/// failure; a revocation is reported and the run goes on.
pub struct Headless {
    options: HeadlessOptions,
    requested: Vec<Capability>,
    started: Instant,
    frames: u64,
    screenshot_taken: bool,
    input_sent_at: Option<Instant>,
    grant_seen: bool,
    files: FileGoals,
}

impl Headless {
    /// `requested`: every capability the session asks for.
    pub fn new(options: HeadlessOptions, requested: &[Capability], now: Instant) -> Self {
        Self {
            requested: requested.to_vec(),
            files: FileGoals::new(options.send.len(), options.receive),
            options,
            started: now,
            frames: 0,
            screenshot_taken: false,
            input_sent_at: None,
            grant_seen: false,
        }
    }

    fn wants_input(&self) -> bool {
        self.options.type_text.is_some() || self.options.click.is_some()
    }

    fn input_done(&self, now: Instant) -> bool {
        !self.wants_input()
            || self
                .input_sent_at
                .is_some_and(|at| now.saturating_duration_since(at) >= INPUT_SETTLE)
    }

    /// Every goal met (and there was one): the run is over.
    fn check_done(&self, now: Instant) -> ControlFlow<SessionEnd> {
        let frames_done = self.options.frames.is_none_or(|n| self.frames >= n);
        let grant_done = self.options.wait_for_grant.is_none() || self.grant_seen;
        let files_done = self.files.done(now);
        if self.options.has_goal()
            && frames_done
            && grant_done
            && self.input_done(now)
            && files_done
        {
            return ControlFlow::Break(SessionEnd::Done("everything asked for is done".into()));
        }
        ControlFlow::Continue(())
    }

    /// What is still missing, for a run that ended early.
    fn unmet_goals(&self) -> Vec<String> {
        let mut unmet = Vec::new();
        if let Some(n) = self.options.frames.filter(|&n| self.frames < n) {
            unmet.push(format!("only {} of {n} frames arrived", self.frames));
        }
        if let Some(capability) = self.options.wait_for_grant.filter(|_| !self.grant_seen) {
            unmet.push(format!("{} was never granted", capability.label()));
        }
        if self.wants_input() && self.input_sent_at.is_none() {
            unmet.push("input was not sent: remote control was never granted".into());
        }
        unmet.extend(self.files.unmet());
        unmet
    }

    fn screenshot(&mut self, framebuffer: &Framebuffer) -> Result<()> {
        let Some(path) = &self.options.screenshot else {
            return Ok(());
        };
        write_png(
            path,
            framebuffer.width(),
            framebuffer.height(),
            &framebuffer.to_rgba(),
        )?;
        println!("screenshot written: {}", path.display());
        Ok(())
    }

    fn send_input(&mut self, actions: &mut Vec<UserAction>, now: Instant) {
        if self.input_sent_at.is_some() || !self.wants_input() {
            return;
        }
        self.input_sent_at = Some(now);
        if let Some(click) = self.options.click {
            actions.extend(click_events(click).into_iter().map(UserAction::Input));
            println!("clicked");
        }
        if let Some(text) = &self.options.type_text {
            actions.extend(type_events(text).into_iter().map(UserAction::Input));
            println!("typed");
        }
    }
}

impl Frontend for Headless {
    fn on_event(
        &mut self,
        event: SessionEvent<'_>,
        granted: GrantedCapabilities,
        actions: &mut Vec<UserAction>,
    ) -> ControlFlow<SessionEnd> {
        let now = Instant::now();
        match event {
            SessionEvent::Decision(capability, DecisionOutcome::Granted) => {
                if self.options.wait_for_grant == Some(capability) {
                    self.grant_seen = true;
                }
                if capability == Capability::RemoteControl && granted.control {
                    self.send_input(actions, now);
                }
            }
            SessionEvent::Decision(capability, _) if self.requested.contains(&capability) => {
                return ControlFlow::Break(SessionEnd::Failed(format!(
                    "the technician did not grant {}",
                    capability.label()
                )));
            }
            SessionEvent::RequestFailed(capability, why)
                if self.requested.contains(&capability) =>
            {
                return ControlFlow::Break(SessionEnd::Failed(format!(
                    "the host refused the request for {}: {why}",
                    capability.label()
                )));
            }
            SessionEvent::File(report) => {
                if let Err(e) = self.files.on_report(report, now) {
                    return ControlFlow::Break(SessionEnd::Failed(e));
                }
            }
            SessionEvent::Frame {
                number,
                framebuffer,
            } => {
                self.frames = number;
                println!(
                    "frame {number} complete {}x{}",
                    framebuffer.width(),
                    framebuffer.height()
                );
                if !self.screenshot_taken {
                    self.screenshot_taken = true;
                    if let Err(e) = self.screenshot(framebuffer) {
                        return ControlFlow::Break(SessionEnd::Failed(format!("{e:#}")));
                    }
                }
            }
            _ => {}
        }
        self.check_done(now)
    }

    fn deadline(&self) -> Option<Instant> {
        let now = Instant::now();
        let until = self.options.duration.map(|d| self.started + d);
        let settle = self
            .input_sent_at
            .filter(|_| !self.input_done(now))
            .map(|at| at + INPUT_SETTLE);
        [until, settle, self.files.deadline(now)]
            .into_iter()
            .flatten()
            .min()
    }

    fn on_deadline(&mut self, _actions: &mut Vec<UserAction>) -> ControlFlow<SessionEnd> {
        let now = Instant::now();
        self.check_done(now)?;
        match self.options.duration {
            Some(d) if now >= self.started + d => {
                let unmet = self.unmet_goals();
                if unmet.is_empty() {
                    ControlFlow::Break(SessionEnd::Done(format!(
                        "--duration of {} s elapsed",
                        d.as_secs_f64()
                    )))
                } else {
                    ControlFlow::Break(SessionEnd::Failed(format!(
                        "--duration of {} s elapsed: {}",
                        d.as_secs_f64(),
                        unmet.join("; ")
                    )))
                }
            }
            _ => ControlFlow::Continue(()),
        }
    }

    fn finish(
        &mut self,
        end: &SessionEnd,
        framebuffer: Option<&Framebuffer>,
        stats: &ScreenStats,
    ) -> Result<()> {
        // The final screen, so a script sees the state at the end.
        if let Some(framebuffer) = framebuffer.filter(|_| self.frames > 0) {
            self.screenshot(framebuffer)?;
        }
        if self.options.stats {
            println!("{}", stats.summary(Instant::now()));
        }
        println!("session ended: {}", end.reason());
        let unmet = self.unmet_goals();
        match end {
            SessionEnd::Failed(reason) => anyhow::bail!("{reason}"),
            SessionEnd::Ended(reason) if !unmet.is_empty() => {
                anyhow::bail!("{reason} before the run was done: {}", unmet.join("; "))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::FileReport;
    use assent_proto::messages::file_transfer::TransferDirection;

    fn keys(events: &[SessionMessage]) -> Vec<(u32, bool)> {
        events
            .iter()
            .map(|m| match m {
                SessionMessage::KeyEvent(k) => (k.keysym, k.pressed),
                other => panic!("not a key: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn typed_ascii_characters_are_their_own_keysyms_each_pressed_then_released() {
        assert_eq!(
            keys(&type_events("aZ 7~")),
            vec![
                (0x61, true),
                (0x61, false),
                (0x5a, true),
                (0x5a, false),
                (0x20, true),
                (0x20, false),
                (0x37, true),
                (0x37, false),
                (0x7e, true),
                (0x7e, false),
            ]
        );
    }

    #[test]
    fn a_typed_newline_is_the_return_key() {
        assert_eq!(
            keys(&type_events("\n")),
            vec![(0xff0d, true), (0xff0d, false)]
        );
    }

    #[test]
    fn shell_escapes_in_typed_text_become_return_tab_and_backslash() {
        assert_eq!(unescape(r"ok\n"), "ok\n");
        assert_eq!(unescape(r"a\tb"), "a\tb");
        assert_eq!(unescape(r"c:\\x"), "c:\\x");
        assert_eq!(unescape(r"\q\"), "\\q\\", "other backslashes stay");
        assert_eq!(
            keys(&type_events(&unescape(r"\n"))),
            vec![(0xff0d, true), (0xff0d, false)]
        );
    }

    #[test]
    fn typed_input_travels_on_the_input_channel() {
        for message in type_events("x\n").iter().chain(&click_events(Click {
            x: 1,
            y: 2,
            button: MouseButton::Left,
        })) {
            assert_eq!(message.channel(), assent_proto::handshake::Channel::Input);
        }
    }

    #[test]
    fn a_click_is_parsed_with_left_as_the_default_button() {
        assert_eq!(
            "200,150".parse::<Click>(),
            Ok(Click {
                x: 200,
                y: 150,
                button: MouseButton::Left
            })
        );
        assert_eq!(
            " 3 , 4 , Right".parse::<Click>(),
            Ok(Click {
                x: 3,
                y: 4,
                button: MouseButton::Right
            })
        );
        assert_eq!(
            "0,0,2".parse::<Click>().unwrap().button,
            MouseButton::Middle
        );
    }

    #[test]
    fn a_malformed_click_is_refused_with_what_was_wrong() {
        for (input, says) in [
            ("200", "X,Y"),
            ("1,2,3,4", "X,Y"),
            ("a,2", "X \"a\""),
            ("1,9999999999", "Y"),
            ("1,2,thumb", "button"),
        ] {
            let e = input.parse::<Click>().unwrap_err();
            assert!(e.contains(says), "{input}: {e}");
        }
    }

    #[test]
    fn a_click_moves_then_presses_then_releases() {
        let events = click_events(Click {
            x: 10,
            y: 20,
            button: MouseButton::Right,
        });
        assert_eq!(
            events,
            vec![
                PointerMove { x: 10, y: 20 }.into(),
                PointerButton {
                    button: MouseButton::Right,
                    pressed: true
                }
                .into(),
                PointerButton {
                    button: MouseButton::Right,
                    pressed: false
                }
                .into(),
            ]
        );
    }

    #[test]
    fn a_written_png_decodes_to_the_same_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shot.png");
        let (width, height) = (3u32, 2u32);
        let rgba: Vec<u8> = (0..width * height * 4)
            .map(|i| (i * 37 % 256) as u8)
            .collect();
        write_png(&path, width, height, &rgba).unwrap();

        let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
        let mut reader = png::Decoder::new(file).read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!((info.width, info.height), (width, height));
        assert_eq!(info.color_type, png::ColorType::Rgba);
        assert_eq!(&pixels[..info.buffer_size()], rgba.as_slice());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn a_png_is_replaced_whole_never_left_half_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shot.png");
        write_png(&path, 1, 1, &[1, 2, 3, 255]).unwrap();
        write_png(&path, 2, 1, &[4, 5, 6, 255, 7, 8, 9, 255]).unwrap();
        let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
        let reader = png::Decoder::new(file).read_info().unwrap();
        assert_eq!(reader.info().width, 2);
    }

    #[test]
    fn typing_and_clicking_need_remote_control_and_frames_need_screen_view() {
        let options = HeadlessOptions {
            frames: Some(1),
            type_text: Some("x".into()),
            wait_for_grant: Some(Capability::FileTransfer),
            ..HeadlessOptions::default()
        };
        assert_eq!(
            options.needed(),
            vec![
                Capability::ScreenView,
                Capability::RemoteControl,
                Capability::FileTransfer
            ]
        );
        assert!(HeadlessOptions::default().needed().is_empty());
    }

    #[test]
    fn sending_or_receiving_files_needs_file_transfer_and_is_a_goal() {
        for options in [
            HeadlessOptions {
                send: vec!["a.csv".into()],
                ..HeadlessOptions::default()
            },
            HeadlessOptions {
                receive: Some(1),
                ..HeadlessOptions::default()
            },
        ] {
            assert_eq!(options.needed(), vec![Capability::FileTransfer]);
            assert!(options.has_goal());
        }
    }

    #[test]
    fn a_run_that_sends_files_ends_after_the_last_one_and_fails_on_a_failed_one() {
        let options = HeadlessOptions {
            send: vec!["/x/a.csv".into()],
            ..HeadlessOptions::default()
        };
        let requested = [Capability::FileTransfer];
        let granted = GrantedCapabilities {
            files: true,
            ..GrantedCapabilities::default()
        };
        let sent = FileReport::Sent {
            name: "a.csv".into(),
            size: 3,
        };
        let mut headless = Headless::new(options.clone(), &requested, Instant::now());
        let flow = headless.on_event(SessionEvent::File(&sent), granted, &mut Vec::new());
        assert_eq!(flow, ControlFlow::Continue(()), "it settles first");
        let settled = headless.deadline().expect("a settle deadline");
        assert!(settled <= Instant::now() + FileGoals::SETTLE);
        assert!(matches!(
            headless.check_done(settled),
            ControlFlow::Break(SessionEnd::Done(_))
        ));

        let mut headless = Headless::new(options, &requested, Instant::now());
        let failed = FileReport::Failed {
            name: "a.csv".into(),
            error: "the technician refused the file".into(),
            direction: TransferDirection::ToHost,
        };
        let flow = headless.on_event(SessionEvent::File(&failed), granted, &mut Vec::new());
        assert!(
            matches!(flow, ControlFlow::Break(SessionEnd::Failed(ref r)) if r.contains("refused the file")),
            "{flow:?}"
        );
    }

    #[test]
    fn input_is_sent_only_on_the_remote_control_grant_and_only_once() {
        let options = HeadlessOptions {
            type_text: Some("hi".into()),
            ..HeadlessOptions::default()
        };
        let mut headless = Headless::new(options, &[Capability::RemoteControl], Instant::now());
        let mut actions = Vec::new();
        let screen_only = GrantedCapabilities {
            screen: true,
            ..GrantedCapabilities::default()
        };
        let _ = headless.on_event(
            SessionEvent::Decision(Capability::ScreenView, DecisionOutcome::Granted),
            screen_only,
            &mut actions,
        );
        assert!(actions.is_empty(), "no input before control is granted");
        let control = GrantedCapabilities {
            control: true,
            ..screen_only
        };
        let _ = headless.on_event(
            SessionEvent::Decision(Capability::RemoteControl, DecisionOutcome::Granted),
            control,
            &mut actions,
        );
        assert_eq!(actions.len(), 4, "h and i, each pressed and released");
        let _ = headless.on_event(
            SessionEvent::Decision(Capability::RemoteControl, DecisionOutcome::Granted),
            control,
            &mut actions,
        );
        assert_eq!(actions.len(), 4, "typed once");
    }

    #[test]
    fn a_refused_or_unanswered_requested_capability_ends_the_run_as_a_failure() {
        for outcome in [DecisionOutcome::Refused, DecisionOutcome::TimedOut] {
            let mut headless = Headless::new(
                HeadlessOptions::default(),
                &[Capability::ScreenView],
                Instant::now(),
            );
            let flow = headless.on_event(
                SessionEvent::Decision(Capability::ScreenView, outcome),
                GrantedCapabilities::default(),
                &mut Vec::new(),
            );
            assert!(
                matches!(flow, ControlFlow::Break(SessionEnd::Failed(ref r)) if r.contains("screen view")),
                "{flow:?}"
            );
        }
    }

    #[test]
    fn a_revocation_is_reported_but_does_not_end_the_run() {
        let mut headless = Headless::new(
            HeadlessOptions::default(),
            &[Capability::ScreenView],
            Instant::now(),
        );
        let flow = headless.on_event(
            SessionEvent::Revoked(Capability::ScreenView),
            GrantedCapabilities::default(),
            &mut Vec::new(),
        );
        assert_eq!(flow, ControlFlow::Continue(()));
    }

    #[test]
    fn a_host_ending_the_session_before_the_frames_arrived_is_a_failure() {
        let options = HeadlessOptions {
            frames: Some(3),
            ..HeadlessOptions::default()
        };
        let mut headless = Headless::new(options, &[Capability::ScreenView], Instant::now());
        let end = SessionEnd::Ended("the host ended the session".into());
        let e = headless
            .finish(&end, None, &ScreenStats::default())
            .unwrap_err();
        assert!(e.to_string().contains("only 0 of 3 frames"), "{e}");
        let mut no_goal = Headless::new(HeadlessOptions::default(), &[], Instant::now());
        assert!(no_goal.finish(&end, None, &ScreenStats::default()).is_ok());
    }
}
