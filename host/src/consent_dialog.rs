//! The technician's windows on the host's X display (R10): the consent
//! dialog (question, countdown, Allow / Deny) and the session window (one
//! Stop button per granted capability, End session).
//!
//! One thread owns the X connection and every window; callers talk to it
//! through [`TechnicianWindows`], whose methods only queue a request and
//! never block, so the tokio runtime is never held up by X.
//!
//! Who may press these buttons: while a consent dialog is open the
//! technician pauses remote input (`Technician::prompt_open`), so the
//! engineer cannot click Allow on their own request; the dialog also ignores
//! clicks for [`ARMING_DELAY`] after it appears, so input already on its way
//! to the X server when it opened cannot press it either. The session window
//! is always open and is not paused: its buttons only ever take rights away
//! (Stop) or end the session, so an engineer pressing them gains nothing.

pub mod font;
pub mod layout;
pub mod paint;
mod x11;

use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use assent_proto::messages::consent::Capability;
use tokio::sync::{mpsc, oneshot};

use crate::technician::TechnicianCommand;

/// A dialog's buttons do nothing for this long after it appears.
pub const ARMING_DELAY: Duration = Duration::from_millis(600);

/// Why the technician's windows cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum DialogError {
    #[error("cannot open the X display {display} for the consent dialog ({reason}); set DISPLAY or --display, or use --prompt terminal")]
    DisplayUnavailable { display: String, reason: String },
    #[error("the X display {display} is not 24-bit TrueColor, which the consent dialog needs; use --prompt terminal")]
    UnsupportedVisual { display: String },
}

/// Called on the window thread when the technician answers prompt `id` in
/// the dialog: `true` for Allow, `false` for Deny or closing the window.
pub type AnswerSink = Box<dyn Fn(u64, bool) + Send>;

/// What the window thread is asked to do.
#[derive(Debug)]
enum Request {
    ShowPrompt {
        id: u64,
        question: String,
        deadline: Instant,
    },
    ClosePrompt {
        id: u64,
        /// Told once the X server has removed the window.
        done: Option<oneshot::Sender<()>>,
    },
    ShowSession {
        engineer: String,
        granted: Vec<Capability>,
    },
    CloseSession,
}

/// A handle to the window thread. Dropping the last handle closes every
/// window and ends the thread.
#[derive(Debug)]
pub struct TechnicianWindows {
    requests: std_mpsc::Sender<Request>,
}

impl TechnicianWindows {
    /// Opens `display` (`None`: `$DISPLAY`) and starts the window thread.
    /// Blocks while connecting: call it from a blocking context.
    ///
    /// Dialog answers go to `answers`; the session window's buttons send
    /// the same [`TechnicianCommand`]s the terminal keys do, on `commands`.
    pub fn open(
        display: Option<&str>,
        answers: AnswerSink,
        commands: mpsc::UnboundedSender<TechnicianCommand>,
    ) -> Result<Self, DialogError> {
        let connection = x11::Display::connect(display)?;
        let (requests, queue) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("technician-windows".into())
            .spawn(move || x11::run(connection, queue, answers, commands))
            .map_err(|e| DialogError::DisplayUnavailable {
                display: display_name(display),
                reason: format!("cannot start the window thread: {e}"),
            })?;
        Ok(Self { requests })
    }

    /// Shows the consent dialog for prompt `id` until it is answered,
    /// closed, or `deadline` passes; replaces any dialog already open.
    pub fn show_prompt(&self, id: u64, question: &str, deadline: Instant) {
        self.send(Request::ShowPrompt {
            id,
            question: question.to_owned(),
            deadline,
        });
    }

    /// Closes the dialog of prompt `id` (answered elsewhere or timed out);
    /// a dialog for a later prompt stays.
    pub fn close_prompt(&self, id: u64) {
        self.send(Request::ClosePrompt { id, done: None });
    }

    /// [`close_prompt`](Self::close_prompt), then waits (at most `limit`)
    /// until the X server has removed the dialog, so nothing can click it
    /// and no screen capture shows it once this returns.
    pub async fn close_prompt_and_wait(&self, id: u64, limit: Duration) {
        let (done, closed) = oneshot::channel();
        self.send(Request::ClosePrompt {
            id,
            done: Some(done),
        });
        let _ = tokio::time::timeout(limit, closed).await;
    }

    /// Shows (or updates) the session window with what is granted now.
    pub fn show_session(&self, engineer: &str, granted: &[Capability]) {
        self.send(Request::ShowSession {
            engineer: engineer.to_owned(),
            granted: granted.to_vec(),
        });
    }

    pub fn close_session(&self) {
        self.send(Request::CloseSession);
    }

    fn send(&self, request: Request) {
        // A dead window thread (the X server went away) leaves the terminal,
        // which answers every prompt as well.
        if self.requests.send(request).is_err() {
            tracing::debug!("the technician's windows are gone; the terminal still answers");
        }
    }
}

fn display_name(display: Option<&str>) -> String {
    display
        .map(str::to_owned)
        .or_else(|| std::env::var("DISPLAY").ok())
        .unwrap_or_else(|| "(DISPLAY is not set)".to_owned())
}
