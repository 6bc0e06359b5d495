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
use crate::notifications::ActiveNotifications;
use crate::session::{Frontend, SessionEnd, SessionEvent};
use crate::stats::ScreenStats;
use crate::window::keysym::char_keysym;
use crate::window::UserAction;
use assent_proto::consent::CapabilitySet;

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
    /// At the end, print the host's active notifications, one line each.
    pub notifications: bool,
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

    /// What `--stats` (the count) and `--notifications` (the count and the
    /// active list) print at the end.
    fn final_notifications(&self, notifications: &ActiveNotifications) -> Vec<String> {
        let mut lines = Vec::new();
        if self.options.stats || self.options.notifications {
            lines.push(notifications.count_line());
        }
        if self.options.notifications {
            lines.extend(notifications.active_lines());
        }
        lines
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
        granted: CapabilitySet,
        actions: &mut Vec<UserAction>,
    ) -> ControlFlow<SessionEnd> {
        let now = Instant::now();
        match event {
            SessionEvent::Decision(capability, DecisionOutcome::Granted) => {
                if self.options.wait_for_grant == Some(capability) {
                    self.grant_seen = true;
                }
                if capability == Capability::RemoteControl
                    && granted.allows(Capability::RemoteControl)
                {
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
        notifications: &ActiveNotifications,
    ) -> Result<()> {
        // The final screen, so a script sees the state at the end.
        if let Some(framebuffer) = framebuffer.filter(|_| self.frames > 0) {
            self.screenshot(framebuffer)?;
        }
        if self.options.stats {
            println!("{}", stats.summary(Instant::now()));
        }
        for line in self.final_notifications(notifications) {
            println!("{line}");
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
mod tests;
