//! `assent-host`: the instrument-side agent a technician runs. It enrols the
//! instrument once, stays connected to the relay, and opens support
//! requests in which the technician approves each capability (R5–R11).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use assent_host::allowlist_watch::SESSION_CHECK_DEFAULT;
use assent_host::config::{default_data_dir, HostFiles};
use assent_host::enroll::{self, EnrollArgs};
use assent_host::platform::Platform;
use assent_host::screen_stream::ScreenSettings;
use assent_host::session::SessionOptions;
use assent_host::support::{self, SupportOptions};
use assent_host::technician::{PromptMode, PromptSettings};
use assent_proto::lockout::LockoutPolicy;
use assent_proto::pacing::PacingSettings;
use assent_proto::password::StretchParams;
use clap::{Parser, Subcommand};

/// Assent host: runs on the instrument PC. It only ever connects out to the
/// relay (it opens no listening socket). Nothing reaches this computer until
/// the technician starts a support request and reads the one-time password
/// to the engineer; then the technician approves screen view, remote control
/// and file transfer one at a time, and can revoke each at any moment.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// Where the host keeps its identity, pins and config.
    #[arg(long, global = true, env = "ASSENT_HOST_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `assent_host=debug`.
    #[arg(long, global = true, env = "ASSENT_LOG", default_value = "warn")]
    log: String,
    /// Print the wire protocol version this host speaks and exit.
    #[arg(long)]
    protocol_version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Enrol this instrument PC with a relay (once): creates its RSA-4096
    /// identity and registers the instrument.
    Enroll(EnrollArgs),
    /// Stay connected to the relay (the always-on service): presence,
    /// allowlist refresh, reconnect with backoff, the notification intake
    /// and Assent's own checks, periodic upgrade checks.
    Run(assent_host::run::RunArgs),
    /// Show this instrument's active notifications (R15).
    Notifications(assent_host::notifications::NotificationsArgs),
    /// Check for, install or roll back signed releases of assent-host (R16).
    #[command(subcommand)]
    Upgrade(assent_host::upgrade::UpgradeCommand),
    /// Start a support request: shows the host ID and a fresh one-time
    /// password, then asks you about each capability the engineer requests.
    /// Consent prompts are answered in a dialog on the display or on this
    /// terminal (y/N), whichever first; unanswered prompts are refused.
    Support(SupportArgs),
}

#[derive(clap::Args)]
struct SupportArgs {
    /// Seconds a consent prompt waits for your answer before refusing.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    consent_timeout: u64,
    /// Screen bandwidth budget in kbit/s; the frame rate drops to stay
    /// within it, the image quality never does.
    #[arg(long, default_value_t = 6000, value_parser = clap::value_parser!(u64).range(100..=1_000_000))]
    bandwidth_kbit: u64,
    /// X display to share and control (default: $DISPLAY).
    #[arg(long)]
    display: Option<String>,
    /// Where consent prompts appear: `auto` adds a dialog (and a session
    /// window with Stop buttons) on the display when it can be opened,
    /// `terminal` asks only here, `gui` fails without the dialog. The
    /// terminal always answers too.
    #[arg(long, value_enum, default_value_t = PromptMode::Auto)]
    prompt: PromptMode,
    /// Largest file an engineer may send, in MiB.
    #[arg(long, default_value_t = 2048)]
    max_file_mib: u64,
    /// How often, in seconds, a running session asks the relay for a newer
    /// engineer allowlist; an engineer the operator removed is disconnected
    /// within this, and you are told why.
    #[arg(long, default_value_t = SESSION_CHECK_DEFAULT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600))]
    allowlist_check_secs: u64,
    /// Test hook: wait after the first wrong password, in ms (default 5 s;
    /// never below 100 ms). The relay enforces its own lockout as well.
    #[arg(long, hide = true, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(100..))]
    lockout_base_ms: u64,
    /// Test hook: wrong passwords after which the password is burned (1–6).
    #[arg(long, hide = true, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=6))]
    lockout_burn_after: u32,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.protocol_version {
        println!(
            "assent wire protocol v{}",
            assent_proto::wire::PROTOCOL_VERSION
        );
        return ExitCode::SUCCESS;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .try_init();
    let Some(command) = cli.command else {
        eprintln!("assent-host: give a command (enroll, run, support, notifications, upgrade); see --help");
        return ExitCode::from(2);
    };
    let files = HostFiles::new(cli.data_dir.unwrap_or_else(default_data_dir));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("assent-host: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(&files, command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("assent-host: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(files: &HostFiles, command: Command) -> Result<()> {
    match command {
        Command::Enroll(args) => enroll::run(files, args).await,
        Command::Run(args) => assent_host::run::run(files, args).await,
        Command::Notifications(args) => assent_host::notifications::run_cli(files, args).await,
        Command::Upgrade(command) => assent_host::upgrade::run_cli(files, command).await,
        Command::Support(args) => {
            let options = SupportOptions {
                prompt: PromptSettings {
                    mode: args.prompt,
                    display: args.display.clone(),
                },
                session: SessionOptions {
                    consent_timeout: Duration::from_secs(args.consent_timeout),
                    screen: ScreenSettings {
                        display: args.display.clone(),
                        pacing: PacingSettings {
                            budget_bits_per_sec: args.bandwidth_kbit * 1000,
                            ..PacingSettings::default()
                        },
                    },
                    platform: Platform::x11(args.display),
                    max_file_size: args.max_file_mib.saturating_mul(1024 * 1024),
                },
                lockout: LockoutPolicy {
                    base_wait: Duration::from_millis(args.lockout_base_ms),
                    burn_after: args.lockout_burn_after,
                    ..LockoutPolicy::default()
                },
                stretch: StretchParams::default(),
                allowlist_check: Duration::from_secs(args.allowlist_check_secs),
            };
            support::run(files, options).await
        }
    }
}
