//! The technician at the instrument (R10): yes/no prompts with a deadline,
//! where silence is a refusal, and commands at any time to revoke a grant,
//! send a file or end the session.
//!
//! One thread reads stdin line by line. While a prompt is open the next line
//! answers it; otherwise a line is a command. Closed stdin answers nothing,
//! so every prompt times out as a refusal. Where the host has a display the
//! same prompt is also a dialog and the session has a window with Stop
//! buttons ([`crate::consent_dialog`]); whichever answers first wins. While
//! a prompt is open remote input is paused ([`Technician::prompt_open`]).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assent_proto::consent::CapabilitySet;
use assent_proto::messages::consent::Capability;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::debug;

use crate::consent_dialog::{AnswerSink, DialogError, TechnicianWindows, ARMING_DELAY};

/// What the technician can type during a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TechnicianCommand {
    Revoke(Capability),
    RevokeAll,
    SendFile(PathBuf),
    EndSession,
}

/// How a prompt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    NoAnswer,
}

pub const COMMAND_HELP: &str = "\
  while the session runs, type a command and press Enter:
    rs   revoke screen view        rc   revoke remote control
    rf   revoke file transfer      r    revoke everything
    send PATH   send a file to the engineer (needs file transfer granted)
    q    end the session";

struct OpenPrompt {
    id: u64,
    reply: oneshot::Sender<bool>,
    /// Before this, a terminal line does not answer: it was typed before
    /// the question could be read (the dialog arms its buttons alike).
    armed_at: Instant,
}

/// What a terminal line did to the open prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineAnswer {
    Answered,
    /// Typed before the prompt armed: ignored, the prompt stays open.
    TooSoon,
    NoPrompt,
}

/// Printed once a terminal prompt takes answers (scripts wait for it).
pub const ANSWER_NOW: &str = "    answer now: y or n";

/// The prompt waiting for an answer, if any. The terminal and the dialog
/// both answer through it, so whichever answers first wins and the other
/// finds it empty.
#[derive(Clone, Default)]
struct PromptSlot(Arc<Mutex<Option<OpenPrompt>>>);

impl PromptSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<OpenPrompt>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open(&self, id: u64, reply: oneshot::Sender<bool>, now: Instant) {
        *self.lock() = Some(OpenPrompt {
            id,
            reply,
            armed_at: now + ARMING_DELAY,
        });
    }

    /// Answers prompt `id` if it is still the open one; false if it was
    /// answered already or has closed (a late click on a stale dialog).
    fn answer(&self, id: u64, yes: bool) -> bool {
        let mut open = self.lock();
        if open.as_ref().is_some_and(|p| p.id == id) {
            if let Some(prompt) = open.take() {
                return prompt.reply.send(yes).is_ok();
            }
        }
        false
    }

    /// Answers whatever prompt is open with a terminal line typed at
    /// `now`, unless the prompt has not armed yet.
    fn answer_open(&self, yes: bool, now: Instant) -> LineAnswer {
        let mut open = self.lock();
        match open.as_ref() {
            None => LineAnswer::NoPrompt,
            Some(prompt) if now < prompt.armed_at => LineAnswer::TooSoon,
            Some(_) => {
                if let Some(prompt) = open.take() {
                    let _ = prompt.reply.send(yes);
                }
                LineAnswer::Answered
            }
        }
    }

    /// Refuses whatever prompt is open, armed or not (a stop command):
    /// refusing is always safe. False if none is open.
    fn refuse_open(&self) -> bool {
        match self.lock().take() {
            Some(prompt) => {
                let _ = prompt.reply.send(false);
                true
            }
            None => false,
        }
    }

    fn close(&self, id: u64) {
        let mut open = self.lock();
        if open.as_ref().is_some_and(|p| p.id == id) {
            *open = None;
        }
    }

    #[cfg(test)]
    fn is_open(&self) -> bool {
        self.lock().is_some()
    }
}

/// Where consent prompts are shown (`--prompt`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PromptMode {
    /// The dialog when the X display can be opened, else the terminal.
    #[default]
    Auto,
    /// Only the terminal.
    Terminal,
    /// The dialog (and the terminal); fails when the display cannot be opened.
    Gui,
}

/// How the technician is asked.
#[derive(Debug, Clone, Default)]
pub struct PromptSettings {
    pub mode: PromptMode,
    /// X display for the dialog (`None`: `$DISPLAY`).
    pub display: Option<String>,
}

/// How long opening the display may take before `auto` gives up on it.
const DISPLAY_OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an answered prompt waits for its dialog to leave the screen.
const DIALOG_CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Asks the technician: on the terminal always, and in a dialog on the
/// host's display when there is one. Cheap to clone.
#[derive(Clone)]
pub struct Technician {
    prompt: PromptSlot,
    // One prompt at a time: a second waits until the first is answered.
    turn: Arc<tokio::sync::Mutex<u64>>,
    /// True while a prompt is open: remote input is paused (R10), so the
    /// engineer cannot answer their own request.
    prompt_open: Arc<watch::Sender<bool>>,
    /// True while the open prompt takes terminal answers (armed).
    prompt_answerable: Arc<watch::Sender<bool>>,
    windows: Option<Arc<TechnicianWindows>>,
}

impl Technician {
    /// Starts reading stdin and, as `settings` say, opens the dialog
    /// display; returns the prompter and the command stream (terminal keys
    /// and session-window buttons alike). `auto` falls back to the terminal when the display cannot be
    /// opened; `gui` fails then.
    pub async fn start(
        settings: &PromptSettings,
    ) -> Result<(Self, mpsc::UnboundedReceiver<TechnicianCommand>), DialogError> {
        Self::start_with_input(settings, BufReader::new(std::io::stdin())).await
    }

    /// [`Technician::start`] with terminal lines from `input` instead of
    /// stdin (tests type into it).
    pub async fn start_with_input(
        settings: &PromptSettings,
        input: impl BufRead + Send + 'static,
    ) -> Result<(Self, mpsc::UnboundedReceiver<TechnicianCommand>), DialogError> {
        let (commands, receiver) = mpsc::unbounded_channel();
        let mut technician = Self::terminal_only();
        if settings.mode != PromptMode::Terminal {
            match open_windows(settings, &technician.prompt, commands.clone()).await {
                Ok(windows) => technician.windows = Some(Arc::new(windows)),
                Err(e) if settings.mode == PromptMode::Auto => {
                    debug!(error = %e, "no consent dialog; prompts are on the terminal only");
                }
                Err(e) => return Err(e),
            }
        }
        technician.read_lines(input, commands);
        Ok((technician, receiver))
    }

    fn terminal_only() -> Self {
        Self {
            prompt: PromptSlot::default(),
            turn: Arc::new(tokio::sync::Mutex::new(0)),
            prompt_open: Arc::new(watch::channel(false).0),
            prompt_answerable: Arc::new(watch::channel(false).0),
            windows: None,
        }
    }

    fn read_lines(
        &self,
        input: impl BufRead + Send + 'static,
        commands: mpsc::UnboundedSender<TechnicianCommand>,
    ) {
        let prompt = self.prompt.clone();
        std::thread::Builder::new()
            .name("technician-stdin".into())
            .spawn(move || {
                for line in input.lines() {
                    let Ok(line) = line else { break };
                    route_line(&prompt, &commands, line.trim(), Instant::now());
                }
            })
            .expect("spawn the stdin reader");
    }

    /// Whether prompts are also shown in a dialog.
    pub fn has_dialog(&self) -> bool {
        self.windows.is_some()
    }

    /// True while a consent prompt is open. Remote input must be dropped
    /// while it is, or the engineer could answer their own request.
    pub fn prompt_open(&self) -> watch::Receiver<bool> {
        self.prompt_open.subscribe()
    }

    /// True from the moment the open prompt takes terminal answers (when
    /// it prints [`ANSWER_NOW`]) until it closes: what a program driving
    /// the terminal waits for before it types.
    pub fn prompt_answerable(&self) -> watch::Receiver<bool> {
        self.prompt_answerable.subscribe()
    }

    /// Shows `question` and waits until `deadline` for an answer: y/n on
    /// the terminal or Allow/Deny in the dialog, whichever comes first.
    /// The deadline is the caller's (the session's consent clock, R10):
    /// a prompt whose deadline passed while another prompt held the
    /// technician's attention is never shown, and counts as unanswered.
    pub async fn ask(&self, question: &str, deadline: Instant) -> Answer {
        let mut turn = self.turn.lock().await;
        let Some(timeout) = deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
        else {
            println!(
                "\n>>> {question}\n    (its time ran out while another prompt was open: refused)"
            );
            return Answer::NoAnswer;
        };
        *turn += 1;
        let id = *turn;
        let (reply, answer) = oneshot::channel();
        // Pause remote input before anything can be clicked; the guard
        // closes everything even if this future is dropped.
        let open = OpenGuard::open(self, id, reply, Instant::now());
        discard_typed_ahead_input();
        println!(
            "\n>>> {question} [y/N] (refused automatically in {} s)",
            timeout.as_secs()
        );
        if let Some(windows) = &self.windows {
            windows.show_prompt(id, question, deadline);
        }
        let answerable = self.prompt_answerable.clone();
        let answer = async move {
            let mut answer = answer;
            tokio::select! {
                early = &mut answer => return early,
                _ = tokio::time::sleep(ARMING_DELAY) => println!("{ANSWER_NOW}"),
            }
            answerable.send_replace(true);
            answer.await
        };
        let answer = match tokio::time::timeout_at(deadline.into(), answer).await {
            Ok(Ok(true)) => Answer::Yes,
            Ok(Ok(false)) => Answer::No,
            _ => {
                println!("    (no answer: refused)");
                Answer::NoAnswer
            }
        };
        open.close().await;
        answer
    }

    /// Shows the session window (where there is a display) listing what is
    /// granted, with a Stop button each and End session; its buttons send
    /// the same commands as the terminal keys. It follows `grants` and
    /// closes when the session drops the sender. Call once per session,
    /// inside the runtime.
    pub fn show_session_window(&self, engineer: &str, mut grants: watch::Receiver<CapabilitySet>) {
        let Some(windows) = self.windows.clone() else {
            return;
        };
        let engineer = engineer.to_owned();
        tokio::spawn(async move {
            loop {
                let now = *grants.borrow_and_update();
                windows.show_session(&engineer, &now.iter().collect::<Vec<_>>());
                if grants.changed().await.is_err() {
                    break;
                }
            }
            windows.close_session();
        });
    }
}

async fn open_windows(
    settings: &PromptSettings,
    prompt: &PromptSlot,
    commands: mpsc::UnboundedSender<TechnicianCommand>,
) -> Result<TechnicianWindows, DialogError> {
    let display = settings.display.clone();
    let slot = prompt.clone();
    let answers: AnswerSink = Box::new(move |id, yes| {
        slot.answer(id, yes);
    });
    let opening = tokio::task::spawn_blocking(move || {
        TechnicianWindows::open(display.as_deref(), answers, commands)
    });
    let unavailable = |reason: String| DialogError::DisplayUnavailable {
        display: settings
            .display
            .clone()
            .or_else(|| std::env::var("DISPLAY").ok())
            .unwrap_or_default(),
        reason,
    };
    match tokio::time::timeout(DISPLAY_OPEN_TIMEOUT, opening).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(unavailable(e.to_string())),
        Err(_) => Err(unavailable(format!(
            "no answer within {} s",
            DISPLAY_OPEN_TIMEOUT.as_secs()
        ))),
    }
}

/// An open prompt: created with input paused and the prompt in the slot;
/// closing (or dropping) it closes the prompt and the dialog, then resumes
/// input.
struct OpenGuard<'a> {
    technician: &'a Technician,
    id: u64,
    closed: bool,
}

impl<'a> OpenGuard<'a> {
    fn open(
        technician: &'a Technician,
        id: u64,
        reply: oneshot::Sender<bool>,
        now: Instant,
    ) -> Self {
        technician.prompt_open.send_replace(true);
        technician.prompt.open(id, reply, now);
        Self {
            technician,
            id,
            closed: false,
        }
    }

    /// Resumes input only once the dialog is off the screen, so no input
    /// from the engineer can reach it and the grant's first frame does not
    /// show it.
    async fn close(mut self) {
        self.technician.prompt_answerable.send_replace(false);
        self.technician.prompt.close(self.id);
        if let Some(windows) = &self.technician.windows {
            windows
                .close_prompt_and_wait(self.id, DIALOG_CLOSE_WAIT)
                .await;
        }
        self.technician.prompt_open.send_replace(false);
        self.closed = true;
    }
}

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        // Cancelled: close without waiting. Closed in this order, a stale
        // dialog click finds no prompt to answer.
        self.technician.prompt_answerable.send_replace(false);
        self.technician.prompt.close(self.id);
        if let Some(windows) = &self.technician.windows {
            windows.close_prompt(self.id);
        }
        self.technician.prompt_open.send_replace(false);
    }
}

/// Routes one terminal line typed at `now`: an answer to the open prompt,
/// or a command.
fn route_line(
    prompt: &PromptSlot,
    commands: &mpsc::UnboundedSender<TechnicianCommand>,
    line: &str,
    now: Instant,
) {
    let command = parse_command(line);
    // A revocation or the end of the session is never taken for a mere
    // "no": it refuses the open prompt and is carried out too (R10).
    if let Some(
        stop @ (TechnicianCommand::Revoke(_)
        | TechnicianCommand::RevokeAll
        | TechnicianCommand::EndSession),
    ) = command
    {
        if prompt.refuse_open() {
            println!("    (refused, and {line:?} carried out)");
        }
        let _ = commands.send(stop);
        return;
    }
    let yes = matches!(line.to_ascii_lowercase().as_str(), "y" | "yes");
    match prompt.answer_open(yes, now) {
        LineAnswer::Answered => return,
        LineAnswer::TooSoon => {
            println!(
                "    (ignored {line:?}: typed before the question could be read; answer again)"
            );
            return;
        }
        LineAnswer::NoPrompt => {}
    }
    match command {
        Some(command) => {
            let _ = commands.send(command);
        }
        None if line.is_empty() => {}
        None => println!("unknown command {line:?}\n{COMMAND_HELP}"),
    }
}

pub fn parse_command(line: &str) -> Option<TechnicianCommand> {
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    Some(match word {
        "rs" => TechnicianCommand::Revoke(Capability::ScreenView),
        "rc" => TechnicianCommand::Revoke(Capability::RemoteControl),
        #[cfg(feature = "file-transfer")]
        "rf" => TechnicianCommand::Revoke(Capability::FileTransfer),
        "r" => TechnicianCommand::RevokeAll,
        "q" | "quit" => TechnicianCommand::EndSession,
        "send" if !rest.trim().is_empty() => {
            TechnicianCommand::SendFile(PathBuf::from(rest.trim()))
        }
        _ => return None,
    })
}

/// Throws away a half-typed terminal line before a prompt opens, so text
/// typed earlier (possibly by an engineer with remote control of this
/// desktop) cannot become the answer when the technician presses Enter.
fn discard_typed_ahead_input() {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        // SAFETY: tcflush on fd 0 takes no pointers; a failure changes nothing.
        unsafe {
            libc::tcflush(libc::STDIN_FILENO, libc::TCIFLUSH);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoke_commands_name_one_capability_each() {
        assert_eq!(
            parse_command("rc"),
            Some(TechnicianCommand::Revoke(Capability::RemoteControl))
        );
        assert_eq!(
            parse_command("rs"),
            Some(TechnicianCommand::Revoke(Capability::ScreenView))
        );
        assert_eq!(parse_command("r"), Some(TechnicianCommand::RevokeAll));
        assert_eq!(
            parse_command("send /tmp/a b.csv"),
            Some(TechnicianCommand::SendFile("/tmp/a b.csv".into()))
        );
        assert_eq!(parse_command("send"), None);
        assert_eq!(parse_command("yes"), None);
    }

    /// `technician.ask(question, deadline)` on a task of its own.
    fn asking(
        technician: &Technician,
        question: &'static str,
        deadline: Instant,
    ) -> tokio::task::JoinHandle<Answer> {
        let technician = technician.clone();
        tokio::spawn(async move { technician.ask(question, deadline).await })
    }

    /// Waits until `technician` has a prompt open.
    async fn until_open(technician: &Technician) {
        while !technician.prompt.is_open() {
            tokio::task::yield_now().await;
        }
    }

    /// A moment at which every prompt opened so far takes terminal answers.
    fn armed() -> Instant {
        Instant::now() + ARMING_DELAY
    }

    #[test]
    fn a_line_typed_before_the_prompt_arms_does_not_answer_it() {
        let slot = PromptSlot::default();
        let (commands, mut received) = mpsc::unbounded_channel();
        let (reply, mut answer) = oneshot::channel();
        let opened = Instant::now();
        slot.open(1, reply, opened);
        // Typed ahead, or by whoever had the keyboard a moment ago.
        let early = opened + ARMING_DELAY - Duration::from_millis(1);
        route_line(&slot, &commands, "y", early);
        assert!(slot.is_open(), "the prompt still waits");
        assert!(answer.try_recv().is_err());
        assert!(received.try_recv().is_err(), "nor is it a command");
        // Once armed, the same line answers.
        route_line(&slot, &commands, "y", opened + ARMING_DELAY);
        assert_eq!(answer.try_recv(), Ok(true));
    }

    #[test]
    fn a_stop_command_refuses_a_prompt_even_before_it_arms() {
        let slot = PromptSlot::default();
        let (commands, mut received) = mpsc::unbounded_channel();
        let (reply, mut answer) = oneshot::channel();
        let opened = Instant::now();
        slot.open(1, reply, opened);
        route_line(&slot, &commands, "r", opened);
        assert_eq!(answer.try_recv(), Ok(false));
        assert_eq!(received.try_recv().unwrap(), TechnicianCommand::RevokeAll);
    }

    #[tokio::test]
    async fn a_line_while_a_prompt_is_open_answers_it_and_only_yes_grants() {
        let technician = Technician::terminal_only();
        let (commands, mut received) = mpsc::unbounded_channel();
        for (line, expected) in [("y", Answer::Yes), ("n", Answer::No), ("maybe", Answer::No)] {
            let asking = asking(
                &technician,
                "allow?",
                Instant::now() + Duration::from_secs(5),
            );
            until_open(&technician).await;
            route_line(&technician.prompt, &commands, line, armed());
            assert_eq!(asking.await.unwrap(), expected, "{line}");
        }
        assert!(received.try_recv().is_err(), "answers are not commands");
    }

    #[tokio::test]
    async fn a_revocation_typed_while_a_prompt_is_open_refuses_it_and_is_carried_out() {
        let technician = Technician::terminal_only();
        let (commands, mut received) = mpsc::unbounded_channel();
        for (line, command) in [
            ("rc", TechnicianCommand::Revoke(Capability::RemoteControl)),
            ("r", TechnicianCommand::RevokeAll),
            ("q", TechnicianCommand::EndSession),
        ] {
            let asking = asking(
                &technician,
                "allow?",
                Instant::now() + Duration::from_secs(5),
            );
            until_open(&technician).await;
            route_line(&technician.prompt, &commands, line, armed());
            assert_eq!(asking.await.unwrap(), Answer::No, "{line}");
            assert_eq!(received.try_recv().unwrap(), command, "{line}");
        }
    }

    #[tokio::test]
    async fn a_prompt_whose_deadline_passed_behind_another_is_never_shown() {
        // R10: one deadline per prompt. The second request's deadline runs
        // out while the first prompt is open; it must not be shown after.
        let technician = Technician::terminal_only();
        let (commands, _received) = mpsc::unbounded_channel();
        let first = asking(
            &technician,
            "first?",
            Instant::now() + Duration::from_secs(30),
        );
        until_open(&technician).await;
        let second_deadline = Instant::now() + Duration::from_millis(20);
        let second = asking(&technician, "second?", second_deadline);
        // The event under test is the passing of the deadline itself.
        tokio::time::sleep_until(second_deadline.into()).await;
        route_line(&technician.prompt, &commands, "y", armed());
        assert_eq!(first.await.unwrap(), Answer::Yes);
        tokio::select! {
            answer = second => assert_eq!(answer.unwrap(), Answer::NoAnswer),
            () = until_open(&technician) => panic!("the second prompt was shown after its deadline"),
        }
    }

    #[tokio::test]
    async fn an_unanswered_prompt_is_a_refusal_and_a_late_line_is_a_command() {
        let technician = Technician::terminal_only();
        let answer = technician
            .ask("allow?", Instant::now() + Duration::from_millis(50))
            .await;
        assert_eq!(answer, Answer::NoAnswer);
        let (commands, mut received) = mpsc::unbounded_channel();
        route_line(&technician.prompt, &commands, "rc", armed());
        assert_eq!(
            received.try_recv().unwrap(),
            TechnicianCommand::Revoke(Capability::RemoteControl)
        );
    }

    #[tokio::test]
    async fn remote_input_is_paused_exactly_while_a_prompt_is_open() {
        let technician = Technician::terminal_only();
        let paused = technician.prompt_open();
        assert!(!*paused.borrow(), "no prompt, no pause");
        let asking = asking(
            &technician,
            "allow?",
            Instant::now() + Duration::from_secs(5),
        );
        until_open(&technician).await;
        assert!(*paused.borrow(), "paused while the prompt is open");
        assert_eq!(
            technician.prompt.answer_open(true, armed()),
            LineAnswer::Answered
        );
        assert_eq!(asking.await.unwrap(), Answer::Yes);
        assert!(!*paused.borrow(), "resumed once answered");

        technician
            .ask("allow?", Instant::now() + Duration::from_millis(20))
            .await;
        assert!(!*paused.borrow(), "resumed after a timeout");
    }

    #[tokio::test]
    async fn a_cancelled_prompt_does_not_leave_input_paused() {
        let technician = Technician::terminal_only();
        let paused = technician.prompt_open();
        let asking = asking(
            &technician,
            "allow?",
            Instant::now() + Duration::from_secs(60),
        );
        until_open(&technician).await;
        asking.abort();
        let _ = asking.await;
        assert!(!*paused.borrow());
        assert!(!technician.prompt.is_open(), "the prompt closed with it");
    }

    #[test]
    fn the_first_answer_wins_and_the_second_finds_no_prompt() {
        let slot = PromptSlot::default();
        let (reply, mut answer) = oneshot::channel();
        slot.open(1, reply, Instant::now());
        assert!(slot.answer(1, false), "the dialog answers first");
        assert_eq!(
            slot.answer_open(true, armed()),
            LineAnswer::NoPrompt,
            "the terminal line is too late"
        );
        assert_eq!(answer.try_recv(), Ok(false));
    }

    #[test]
    fn a_click_on_a_stale_dialog_cannot_answer_the_next_prompt() {
        let slot = PromptSlot::default();
        let (first, _) = oneshot::channel();
        slot.open(1, first, Instant::now());
        slot.close(1);
        let (second, mut answer) = oneshot::channel();
        slot.open(2, second, Instant::now());
        assert!(!slot.answer(1, true), "prompt 1 is over");
        assert!(slot.is_open(), "prompt 2 still waits");
        assert!(answer.try_recv().is_err());
        assert!(slot.answer(2, false));
        assert_eq!(answer.try_recv(), Ok(false));
    }

    /// A display nothing listens on (unix socket absent, TCP port refused).
    const NO_DISPLAY: &str = ":4999";

    #[tokio::test]
    async fn auto_falls_back_to_the_terminal_without_a_display() {
        let settings = PromptSettings {
            mode: PromptMode::Auto,
            display: Some(NO_DISPLAY.into()),
        };
        let (technician, _commands) = Technician::start_with_input(&settings, std::io::empty())
            .await
            .expect("auto never fails for want of a display");
        assert!(!technician.has_dialog());
    }

    #[tokio::test]
    async fn gui_without_a_display_fails_with_a_way_out() {
        let settings = PromptSettings {
            mode: PromptMode::Gui,
            display: Some(NO_DISPLAY.into()),
        };
        let Err(e) = Technician::start_with_input(&settings, std::io::empty()).await else {
            panic!("gui must not silently run without its dialog");
        };
        assert!(matches!(e, DialogError::DisplayUnavailable { .. }), "{e:?}");
        assert!(e.to_string().contains("--prompt terminal"), "{e}");
    }

    #[tokio::test]
    async fn terminal_mode_never_opens_a_dialog() {
        let settings = PromptSettings {
            mode: PromptMode::Terminal,
            display: None,
        };
        let (technician, _commands) = Technician::start_with_input(&settings, std::io::empty())
            .await
            .unwrap();
        assert!(!technician.has_dialog());
    }
}
