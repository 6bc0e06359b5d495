//! Upgrade utility (R16): `assent-host upgrade check|install|rollback`.
//! Releases are verified against the release key pinned at enrolment,
//! assessed against what is installed (target, component, version order,
//! new capabilities), downloaded over the host's own outbound relay
//! connection (R1), approved by the technician (and each new capability
//! separately), swapped in atomically with the previous binary kept, and
//! audited at every step (R12).
//!
//! | module | owns |
//! | --- | --- |
//! | [`installed`] | this build's version/target/capabilities, `release.toml` |
//! | [`offer`] | the relay's offer: verify and assess; the checked download |
//! | [`approval`] | terminal prompts, capability approval, the PHI rule (R11) |
//! | [`binary_file`] | staging beside the binary, atomic swap, rollback |
//! | [`install`] | the audited install and rollback flows |
//! | [`lock`] | one install or rollback at a time per binary |

pub mod approval;
pub mod binary_file;
pub mod install;
pub mod installed;
pub mod lock;
pub mod offer;
pub mod periodic;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};

pub use install::{audit_step, connect, record_check, InstallOutcome};
pub use installed::{InstalledState, ReleaseRecord};
pub use offer::{check, AvailableRelease, CheckOutcome};

use crate::config::HostFiles;

/// `assent-host upgrade ...`.
#[derive(clap::Subcommand)]
pub enum UpgradeCommand {
    /// Ask the relay for the newest signed release and say whether it would
    /// install and what it changes. Exits non-zero when the offered release
    /// is refused (bad signature, wrong key, downgrade, other target).
    Check(BinaryArgs),
    /// Download, verify and install the newest signed release. You are
    /// asked to approve the install, and again for each capability it adds;
    /// no answer is a refusal. The replaced binary is kept as
    /// `<binary>.previous`.
    Install(PromptArgs),
    /// Put the binary the last install replaced (`<binary>.previous`) back
    /// in place, after you confirm. The binary rolled back from is
    /// discarded.
    Rollback(RollbackArgs),
}

#[derive(clap::Args)]
pub struct BinaryArgs {
    /// The assent-host binary to upgrade (default: this program).
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct PromptArgs {
    #[command(flatten)]
    pub binary: BinaryArgs,
    /// Seconds each question waits for your answer before refusing.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub answer_timeout: u64,
}

#[derive(clap::Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub prompt: PromptArgs,
    /// Restore `<binary>.previous` even though release.toml records no
    /// install that kept it, so its SHA-256 cannot be checked.
    #[arg(long)]
    pub force: bool,
}

impl BinaryArgs {
    fn resolve(self) -> Result<PathBuf> {
        match self.binary {
            Some(binary) if binary.is_file() => Ok(binary),
            Some(binary) => bail!("--binary {} is not a file", binary.display()),
            None => installed::default_binary(),
        }
    }
}

pub async fn run_cli(files: &HostFiles, command: UpgradeCommand) -> Result<()> {
    match command {
        UpgradeCommand::Check(args) => run_check(files, &args.resolve()?).await,
        UpgradeCommand::Install(args) => {
            let binary = args.binary.resolve()?;
            let mut terminal = approval::Terminal::stdin(Duration::from_secs(args.answer_timeout));
            // Ctrl-C drops the install, and with it any staging file.
            let outcome = tokio::select! {
                outcome = install::install(files, &binary, &mut terminal) => outcome?,
                _ = tokio::signal::ctrl_c() => bail!("interrupted; nothing was installed"),
            };
            match outcome {
                InstallOutcome::NothingPublished => {
                    println!("up to date: no release is published for this host")
                }
                InstallOutcome::UpToDate(version) => {
                    println!("up to date: assent-host {version} is installed")
                }
                InstallOutcome::Installed(_) => {}
            }
            Ok(())
        }
        UpgradeCommand::Rollback(RollbackArgs { prompt, force }) => {
            let binary = prompt.binary.resolve()?;
            let mut terminal =
                approval::Terminal::stdin(Duration::from_secs(prompt.answer_timeout));
            install::rollback(files, &binary, &mut terminal, force).await
        }
    }
}

async fn run_check(files: &HostFiles, binary: &std::path::Path) -> Result<()> {
    let release_key = files.load_release_key()?;
    let state = InstalledState::at(files, binary)?;
    let (_, link) = connect(files).await?;
    let (outcome, freshness) = check(&link, &release_key, &state.release, &state.withdrawn).await?;
    if let Some(warning) = freshness.warning() {
        eprintln!("warning: {warning}");
    }
    record_check(&link, &outcome).await?;
    match outcome {
        CheckOutcome::NothingPublished => println!(
            "up to date: assent-host {} (no release is published for {})",
            state.release.version, state.release.target
        ),
        CheckOutcome::UpToDate { version } => {
            println!("up to date: assent-host {version} is installed")
        }
        CheckOutcome::Available(available) => {
            println!(
                "upgrade available: {}",
                approval::summary(&available.manifest, &available.plan)
            );
            let model = files.load_config()?.instrument_model;
            if let Some(why) = approval::phi_refusal(&available.manifest.capabilities, &model) {
                bail!(
                    "release {} cannot be installed here: {why}",
                    available.plan.to
                );
            }
            println!("install it with `assent-host upgrade install`");
        }
        CheckOutcome::Refused {
            claimed_version,
            reason,
        } => bail!("release {claimed_version} refused: {reason}"),
    }
    Ok(())
}
