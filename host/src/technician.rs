//! The technician at the instrument, through the terminal (R10): yes/no
//! prompts with a deadline, where silence is a refusal, and commands typed
//! at any time to revoke a grant, send a file or end the session.
//!
//! One thread reads stdin line by line. While a prompt is open the next line
//! answers it; otherwise a line is a command. Closed stdin answers nothing,
//! so every prompt times out as a refusal.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assent_proto::messages::consent::Capability;
use tokio::sync::{mpsc, oneshot};

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
}

/// Asks questions on the terminal; cheap to clone.
#[derive(Clone)]
pub struct Technician {
    open: Arc<Mutex<Option<OpenPrompt>>>,
    // One prompt at a time: a second waits until the first is answered.
    turn: Arc<tokio::sync::Mutex<u64>>,
}

impl Technician {
    /// Starts reading stdin; returns the prompter and the command stream.
    pub fn from_stdin() -> (Self, mpsc::UnboundedReceiver<TechnicianCommand>) {
        let (commands, receiver) = mpsc::unbounded_channel();
        let technician = Self {
            open: Arc::new(Mutex::new(None)),
            turn: Arc::new(tokio::sync::Mutex::new(0)),
        };
        let open = technician.open.clone();
        std::thread::Builder::new()
            .name("technician-stdin".into())
            .spawn(move || {
                for line in std::io::stdin().lock().lines() {
                    let Ok(line) = line else { break };
                    route_line(&open, &commands, line.trim());
                }
            })
            .expect("spawn the stdin reader");
        (technician, receiver)
    }

    /// Shows `question` and waits up to `timeout` for y/n.
    pub async fn ask(&self, question: &str, timeout: Duration) -> Answer {
        let mut turn = self.turn.lock().await;
        *turn += 1;
        let id = *turn;
        let (reply, answer) = oneshot::channel();
        *self.open.lock().unwrap_or_else(|p| p.into_inner()) = Some(OpenPrompt { id, reply });
        println!(
            "\n>>> {question} [y/N] (refused automatically in {} s)",
            timeout.as_secs()
        );
        let result = tokio::time::timeout(timeout, answer).await;
        // Close the prompt if it is still ours, so a late line is a command.
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.as_ref().is_some_and(|p| p.id == id) {
            *open = None;
        }
        drop(open);
        match result {
            Ok(Ok(true)) => Answer::Yes,
            Ok(Ok(false)) => Answer::No,
            _ => {
                println!("    (no answer: refused)");
                Answer::NoAnswer
            }
        }
    }
}

fn route_line(
    open: &Mutex<Option<OpenPrompt>>,
    commands: &mpsc::UnboundedSender<TechnicianCommand>,
    line: &str,
) {
    if let Some(prompt) = open.lock().unwrap_or_else(|p| p.into_inner()).take() {
        let yes = matches!(line.to_ascii_lowercase().as_str(), "y" | "yes");
        let _ = prompt.reply.send(yes);
        return;
    }
    match parse_command(line) {
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

    #[tokio::test]
    async fn a_line_while_a_prompt_is_open_answers_it_and_only_yes_grants() {
        let technician = Technician {
            open: Arc::new(Mutex::new(None)),
            turn: Arc::new(tokio::sync::Mutex::new(0)),
        };
        let (commands, mut received) = mpsc::unbounded_channel();
        for (line, expected) in [("y", Answer::Yes), ("n", Answer::No), ("maybe", Answer::No)] {
            let asking = {
                let t = technician.clone();
                tokio::spawn(async move { t.ask("allow?", Duration::from_secs(5)).await })
            };
            while technician.open.lock().unwrap().is_none() {
                tokio::task::yield_now().await;
            }
            route_line(&technician.open, &commands, line);
            assert_eq!(asking.await.unwrap(), expected, "{line}");
        }
        assert!(received.try_recv().is_err(), "answers are not commands");
    }

    #[tokio::test]
    async fn an_unanswered_prompt_is_a_refusal_and_a_late_line_is_a_command() {
        let technician = Technician {
            open: Arc::new(Mutex::new(None)),
            turn: Arc::new(tokio::sync::Mutex::new(0)),
        };
        let answer = technician.ask("allow?", Duration::from_millis(50)).await;
        assert_eq!(answer, Answer::NoAnswer);
        let (commands, mut received) = mpsc::unbounded_channel();
        route_line(&technician.open, &commands, "rc");
        assert_eq!(
            received.try_recv().unwrap(),
            TechnicianCommand::Revoke(Capability::RemoteControl)
        );
    }
}
