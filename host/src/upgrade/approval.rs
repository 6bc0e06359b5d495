//! The technician's approval of an upgrade (R16): one prompt for the
//! release, then one per capability it adds, each needing the capability's
//! name typed out (a reflexive "y" does not enable file transfer). Silence
//! and a closed terminal are refusals. On an instrument that holds patient
//! data no prompt can install file transfer (R11).

use std::io::BufRead;
use std::time::Duration;

use assent_proto::instrument::is_phi_model;
use assent_proto::release::{ReleaseCapability, ReleaseManifest, UpgradePlan};
use tokio::sync::mpsc;

/// Lines typed on the terminal, read by one thread so a prompt can time out.
pub struct Terminal {
    lines: mpsc::UnboundedReceiver<String>,
    timeout: Duration,
    /// A person types here: answers typed before a question are dropped.
    interactive: bool,
}

impl Terminal {
    pub fn stdin(timeout: Duration) -> Self {
        use std::io::IsTerminal;
        let mut terminal = Self::from_reader(std::io::BufReader::new(std::io::stdin()), timeout);
        terminal.interactive = std::io::stdin().is_terminal();
        terminal
    }

    /// Lines from `input` (tests type into it).
    pub fn from_reader(input: impl BufRead + Send + 'static, timeout: Duration) -> Self {
        let (sender, lines) = mpsc::unbounded_channel();
        // A thread, not a task: stdin reads block. It ends with the input.
        let _ = std::thread::Builder::new()
            .name("upgrade-terminal".into())
            .spawn(move || {
                for line in input.lines() {
                    let Ok(line) = line else { break };
                    if sender.send(line.trim().to_owned()).is_err() {
                        break;
                    }
                }
            });
        Self {
            lines,
            timeout,
            interactive: false,
        }
    }

    /// Prints `question` and waits for one line; `None` when the terminal
    /// is closed or nobody answers in time.
    pub async fn ask(&mut self, question: &str) -> Option<String> {
        if self.interactive {
            self.discard_typed_ahead();
        }
        println!(
            "{question} (refused automatically in {} s)",
            self.timeout.as_secs()
        );
        match tokio::time::timeout(self.timeout, self.lines.recv()).await {
            Ok(Some(line)) => Some(line),
            Ok(None) => {
                println!("    (terminal closed: refused)");
                None
            }
            Err(_) => {
                println!("    (no answer: refused)");
                None
            }
        }
    }
}

impl Terminal {
    /// A line typed before the question was shown cannot answer it (a
    /// stray Enter must not approve an install). Piped answers, as tests
    /// and scripts give them, are kept.
    fn discard_typed_ahead(&mut self) {
        // SAFETY: tcflush on fd 0 takes no pointers; a failure changes nothing.
        #[cfg(unix)]
        unsafe {
            libc::tcflush(libc::STDIN_FILENO, libc::TCIFLUSH);
        }
        while self.lines.try_recv().is_ok() {}
    }
}

/// Only an explicit yes installs.
pub fn is_yes(answer: Option<&str>) -> bool {
    matches!(
        answer.map(str::to_ascii_lowercase).as_deref(),
        Some("y" | "yes")
    )
}

/// A new capability is approved only by typing its name or "approve".
pub fn approves_capability(capability: ReleaseCapability, answer: Option<&str>) -> bool {
    matches!(answer, Some(a) if a == capability.name() || a == "approve")
}

/// What the technician reads before the install prompt.
pub fn summary(manifest: &ReleaseManifest, plan: &UpgradePlan) -> String {
    let mut out = format!(
        "assent-host {} → {}{}\n  target: {}\n  package: {} bytes, SHA-256 {}",
        plan.from,
        plan.to,
        if plan.rollback {
            " (signed by the operator as a rollback)"
        } else {
            ""
        },
        manifest.target.as_str(),
        manifest.size,
        super::installed::hex(&manifest.sha256),
    );
    let notes = manifest.notes.as_str().trim();
    if !notes.is_empty() {
        out.push_str("\n  notes:");
        for line in notes.lines() {
            out.push_str("\n    ");
            out.push_str(line);
        }
    }
    if !plan.new_capabilities.is_empty() {
        out.push_str(&format!(
            "\n  new capabilities (each asked separately): {}",
            names(&plan.new_capabilities)
        ));
    }
    if !plan.removed_capabilities.is_empty() {
        out.push_str(&format!(
            "\n  removed capabilities: {}",
            names(&plan.removed_capabilities)
        ));
    }
    out
}

pub fn names(capabilities: &[ReleaseCapability]) -> String {
    capabilities
        .iter()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The separate question for one new capability.
pub fn capability_question(capability: ReleaseCapability, instrument_model: &str) -> String {
    let what = match capability {
        ReleaseCapability::FileTransfer => format!(
            "!!! This release ADDS FILE TRANSFER. Once you approve it in a session, an engineer \
             can copy files to and from this instrument PC ({instrument_model}), including \
             instrument data files."
        ),
        ReleaseCapability::RemoteControl => {
            "This release adds REMOTE CONTROL: an engineer you approve in a session can use \
             the mouse and keyboard of this PC."
                .to_owned()
        }
        ReleaseCapability::ScreenView => {
            "This release adds SCREEN VIEW: an engineer you approve in a session can see this \
             screen."
                .to_owned()
        }
        ReleaseCapability::Notifications => {
            "This release adds NOTIFICATIONS: instrument and software status is reported to \
             support through the relay."
                .to_owned()
        }
    };
    format!(
        "{what}\nType \"{}\" (or \"approve\") to allow it; anything else refuses the whole upgrade:",
        capability.name()
    )
}

/// R11: on an instrument that holds patient data, no upgrade installs a
/// release with file transfer, whether or not the installed release already
/// has it. What is "installed" is only what `release.toml` or the running
/// program claims, not what the installer approved: a full build put there
/// with `--binary`, or a host re-classified as a PHI model, must not carry
/// file transfer on into further releases. host.toml records no installer's
/// approval of file transfer, so the refusal is outright; a full build on
/// such an instrument is installed only by enrolling it with
/// `--approve-file-transfer`.
pub fn phi_refusal(capabilities: &[ReleaseCapability], instrument_model: &str) -> Option<String> {
    (capabilities.contains(&ReleaseCapability::FileTransfer) && is_phi_model(instrument_model))
        .then(|| {
            format!(
                "this release includes file transfer, and {instrument_model:?} holds patient data \
                 (R11): an upgrade cannot install file transfer on this instrument. Publish and \
                 install the PHI build (file transfer compiled out), or install a full build by \
                 enrolling this instrument again with --approve-file-transfer"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_explicit_yes_approves_an_install() {
        assert!(is_yes(Some("y")));
        assert!(is_yes(Some("YES")));
        for no in [None, Some(""), Some("n"), Some("yep"), Some("approve")] {
            assert!(!is_yes(no), "{no:?}");
        }
    }

    #[test]
    fn a_new_capability_needs_its_name_or_approve_typed() {
        let ft = ReleaseCapability::FileTransfer;
        assert!(approves_capability(ft, Some("file-transfer")));
        assert!(approves_capability(ft, Some("approve")));
        for no in [None, Some("y"), Some("yes"), Some(""), Some("screen-view")] {
            assert!(!approves_capability(ft, no), "{no:?}");
        }
    }

    #[test]
    fn any_release_with_file_transfer_is_refused_on_a_phi_instrument() {
        use ReleaseCapability::*;
        // Whatever is installed: the rule looks at the release, not the plan.
        let full = [ScreenView, RemoteControl, FileTransfer, Notifications];
        assert!(phi_refusal(&full, "Navios EX").is_some());
        assert!(phi_refusal(&[FileTransfer], "aquios  cl").is_some());
        assert!(phi_refusal(&full, "DxH 900").is_none());
        let phi_build = [ScreenView, RemoteControl, Notifications];
        assert!(phi_refusal(&phi_build, "Navios EX").is_none());
    }

    /// A terminal nobody types into.
    struct Silent;

    impl std::io::Read for Silent {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            loop {
                std::thread::park();
            }
        }
    }

    #[tokio::test]
    async fn a_closed_terminal_and_silence_answer_nothing() {
        let mut closed = Terminal::from_reader(std::io::Cursor::new(""), Duration::from_secs(5));
        assert_eq!(closed.ask("install?").await, None);

        let mut silent =
            Terminal::from_reader(std::io::BufReader::new(Silent), Duration::from_millis(50));
        assert_eq!(silent.ask("install?").await, None);

        let mut typed = Terminal::from_reader(std::io::Cursor::new("y\n"), Duration::from_secs(5));
        assert_eq!(typed.ask("install?").await.as_deref(), Some("y"));
    }
}
