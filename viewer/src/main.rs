//! `assent-viewer`: the support engineer's client. It connects out to the
//! relay (R1, R2), logs in with the engineer's enrolled key (R4, R7, R8),
//! proves the technician's one-time password end to end (R5), and shows the
//! instrument's screen once the technician grants it (R10).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use assent_net::relay_client::RelayTarget;
use assent_net::CertFingerprint;
use assent_proto::messages::consent::Capability;
use assent_viewer::connect::{self, Prompts};
use assent_viewer::files::{self, FilesPlan, DEFAULT_DOWNLOAD_DIR};
use assent_viewer::gui::WindowFrontend;
use assent_viewer::headless::{Click, Headless, HeadlessOptions};
use assent_viewer::identity::ViewerFiles;
use assent_viewer::session::{self, Frontend};
use assent_viewer::window::{UserAction, ViewerWindow, WindowCommand};
use clap::{Parser, Subcommand, ValueEnum};
use tokio::sync::mpsc;

/// Assent viewer: the support engineer connects to an instrument host
/// through the relay with the technician's one-time password.
///
/// First run `assent-viewer keygen` and send the public key it writes to
/// your Assent operator. Then, when a technician starts a support request
/// and reads you the host ID and password, run `assent-viewer connect`.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// The engineer's private key [default: $XDG_CONFIG_HOME/assent-viewer/viewer.key,
    /// or ~/.config/assent-viewer/viewer.key]. The public key (`viewer.pub.pem`)
    /// and the device ID (`device-id`) live beside it.
    #[arg(
        long,
        global = true,
        env = "ASSENT_VIEWER_IDENTITY",
        value_name = "PATH"
    )]
    identity: Option<PathBuf>,
    /// Log filter (tracing `EnvFilter` syntax) for stderr, e.g. `info`.
    #[arg(
        long,
        global = true,
        env = "ASSENT_LOG",
        default_value = "warn,winit=error"
    )]
    log: String,
    /// Print the wire protocol version this viewer speaks and exit.
    #[arg(long)]
    protocol_version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Create this engineer's RSA-4096 identity (once). Writes the private
    /// key (owner-only), the public key to send to the operator, and prints
    /// its fingerprint. Never replaces an existing identity.
    Keygen,
    /// Connect to a host whose technician has started a support request.
    Connect(Box<ConnectArgs>),
}

/// What can be asked of the technician.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CapabilityArg {
    /// Screen view.
    Screen,
    /// Remote control (keyboard and mouse).
    Control,
    /// File transfer.
    Files,
}

impl From<CapabilityArg> for Capability {
    fn from(arg: CapabilityArg) -> Self {
        match arg {
            CapabilityArg::Screen => Capability::ScreenView,
            CapabilityArg::Control => Capability::RemoteControl,
            CapabilityArg::Files => Capability::FileTransfer,
        }
    }
}

/// What `connect` prints, for scripts; shown by `connect --help`.
const OUTPUT_LINES: &str = "\
Output lines (stdout) that scripts may rely on:
  paired with host ID                 then the host's registered details
  session established with host ID
  requested: CAP                      CAP: screen view, remote control, file transfer
  granted: CAP | refused: CAP | timed out: CAP | revoked: CAP
  request failed: CAP                 the host refused the request (e.g. PHI build)
  host error (CODE): MESSAGE
  screen: WxH
  frame N complete WxH                headless
  screenshot written: PATH            headless
  clicked | typed                     headless, after remote control is granted
  file sending: PATH                  a file to the host is offered
  file sent: NAME (SIZE bytes)        every byte of it left this side
  file offered: NAME (SIZE bytes, sha256 HEX)   the host offers a file
  file received: NAME (SIZE bytes, SHA-256 verified) -> PATH
  file transfer failed: NAME: ERROR   either way; nothing partial is kept
  notification [SEVERITY] TITLE — DETAIL (SOURCE, KIND, id ID)   raised or updated on the host
  notification cleared: ID
  notifications: N active             at the end, with --stats or --notifications
  active notification [SEVERITY] ...  at the end, one per active one, with --notifications
  stats: frames=N bytes=N kbit/s=X fps=X interval_ms_mean=.. interval_ms_p50=.. assembly_ms_mean=.. assembly_ms_p50=..
  session ended: REASON
Errors go to stderr. Exit status 0 only when the run did what it was asked:
a refused capability, a handshake refusal (wrong password, lockout, not on
the allowlist), a relay refusal or a lost connection exit 1.";

#[derive(clap::Args)]
#[command(after_long_help = OUTPUT_LINES)]
struct ConnectArgs {
    /// The host ID the technician reads to you.
    #[arg(value_name = "HOST-ID")]
    host_id: String,
    /// The relay, host:port (UDP).
    #[arg(long, env = "ASSENT_VIEWER_RELAY", value_name = "HOST:PORT")]
    relay: String,
    /// SHA-256 fingerprint of the relay's certificate, as the operator gave
    /// it (the relay prints it at first start). The connection is refused
    /// if the relay presents any other certificate.
    #[arg(long, env = "ASSENT_VIEWER_RELAY_PIN", value_name = "FINGERPRINT")]
    relay_pin: CertFingerprint,
    /// Name to present to the relay (any name works under a pin).
    #[arg(long, default_value = "localhost", value_name = "NAME")]
    relay_name: String,
    /// Read the one-time password as one line of stdin instead of asking on
    /// the terminal. If the relay also asks for an e-mailed location code,
    /// that line comes first.
    #[arg(long)]
    password_stdin: bool,
    /// Capabilities to ask the technician for, one after another, e.g.
    /// `--request screen,control`. Each is granted or refused separately;
    /// headless, a refusal or an unanswered prompt ends the run as a failure.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "screen",
        value_name = "CAP"
    )]
    request: Vec<CapabilityArg>,
    /// No window: for scripts and tests. The default when $DISPLAY is unset;
    /// implied by every option below.
    #[arg(long)]
    headless: bool,
    /// Headless: write the screen as PNG after the first complete frame
    /// and again at the end (each write replaces the file whole).
    #[arg(long, value_name = "PATH")]
    screenshot: Option<PathBuf>,
    /// Headless: end successfully after N complete frames.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    frames: Option<u64>,
    /// Headless: end after this many seconds (fractions allowed); it is a
    /// failure if something asked for (frames, input, a grant) is still missing.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    duration: Option<Duration>,
    /// Headless: print frame count, bytes, bitrate, frame rate and frame
    /// timing at the end (`stats: frames=.. bytes=.. kbit/s=.. fps=..`).
    #[arg(long)]
    stats: bool,
    /// Headless: type this text on the host once remote control is granted
    /// (never before). `\n` in the text presses Return, `\t` Tab, `\\` is a
    /// backslash. Requests control.
    #[arg(long = "type", value_name = "TEXT")]
    type_text: Option<String>,
    /// Headless: click at X,Y (remote pixels) with BUTTON (left, middle,
    /// right; default left) once remote control is granted. Requests control.
    #[arg(long, value_name = "X,Y[,BUTTON]")]
    click: Option<Click>,
    /// Headless: wait until the technician grants CAP; a refusal is a
    /// failure. With nothing else to do, the run ends on the grant.
    #[arg(long, value_enum, value_name = "CAP")]
    wait_for_grant: Option<CapabilityArg>,
    /// Where files from the host are stored (created when file transfer is
    /// granted). A file is kept only after its SHA-256 verified, and never
    /// replaces an existing file. Files are accepted only while file
    /// transfer is granted.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DOWNLOAD_DIR, value_parser = files::parse_download_dir)]
    download_dir: PathBuf,
    /// Headless: send this file to the host once file transfer is granted
    /// (repeat for more; they go one after another, and the technician
    /// accepts each). The run ends after the last one; a failed one fails
    /// the run. Requests file transfer.
    #[arg(long = "send", value_name = "PATH", value_parser = files::parse_file_to_send)]
    send: Vec<PathBuf>,
    /// Headless: end only after N files from the host were received and
    /// verified. Requests file transfer.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    receive: Option<u64>,
    /// Headless: at the end, print the host's notifications still active,
    /// one `active notification [SEVERITY] ...` line each, after a
    /// `notifications: N active` line. Changes are printed as they arrive
    /// in every mode.
    #[arg(long)]
    notifications: bool,
}

impl ConnectArgs {
    /// Any of the headless-only options given.
    fn scripted(&self) -> bool {
        self.screenshot.is_some()
            || self.frames.is_some()
            || self.duration.is_some()
            || self.stats
            || self.type_text.is_some()
            || self.click.is_some()
            || self.wait_for_grant.is_some()
            || !self.send.is_empty()
            || self.receive.is_some()
            || self.notifications
    }

    fn runs_headless(&self, has_display: bool) -> bool {
        self.headless || self.scripted() || !has_display
    }
}

fn parse_seconds(value: &str) -> Result<Duration, String> {
    let secs: f64 = value
        .parse()
        .map_err(|_| format!("{value:?} is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 1e9) {
        return Err(format!("{value} s is not a duration from 0 to 10^9 s"));
    }
    Ok(Duration::from_secs_f64(secs))
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
        eprintln!("assent-viewer: give a command (keygen, connect); see --help");
        return ExitCode::from(2);
    };
    let files = ViewerFiles::new(cli.identity.unwrap_or_else(ViewerFiles::default_key_path));
    let result = match command {
        Command::Keygen => keygen(&files),
        Command::Connect(args) => connect(&files, *args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("assent-viewer: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn keygen(files: &ViewerFiles) -> Result<()> {
    files.check_absent()?;
    println!("generating an RSA-4096 identity (this takes a few seconds)...");
    let made = files.generate()?;
    println!("identity written: {}", made.key.display());
    println!("public key written: {}", made.public_key.display());
    println!("fingerprint: {}", made.fingerprint);
    println!(
        "Send {} to your Assent operator, who enrols it with\n  assent-relay allowlist add --key {} --name \"YOUR NAME\" --email YOU@EXAMPLE\nKeep {} private; it never leaves this computer.",
        made.public_key.display(),
        made.public_key.display(),
        made.key.display()
    );
    Ok(())
}

/// Everything a connection needs, loaded before any network traffic.
struct Plan {
    target: RelayTarget,
    host_id: String,
    identity: Arc<assent_proto::identity::Identity>,
    device_id: [u8; 16],
    prompts: Prompts,
    requests: Vec<Capability>,
    files: FilesPlan,
}

fn connect(files: &ViewerFiles, args: ConnectArgs) -> Result<()> {
    let identity = files.load()?;
    let device_id = files.device_id()?;
    let target = RelayTarget::pinned(&args.relay, &args.relay_name, args.relay_pin)?;
    let headless_options = HeadlessOptions {
        screenshot: args.screenshot.clone(),
        frames: args.frames,
        duration: args.duration,
        stats: args.stats,
        type_text: args
            .type_text
            .as_deref()
            .map(assent_viewer::headless::unescape),
        click: args.click,
        wait_for_grant: args.wait_for_grant.map(Capability::from),
        send: args.send.clone(),
        receive: args.receive,
        notifications: args.notifications,
    };
    let mut requests: Vec<Capability> = args.request.iter().map(|&c| c.into()).collect();
    for needed in headless_options.needed() {
        if !requests.contains(&needed) {
            requests.push(needed);
        }
    }
    requests.dedup();
    let plan = Plan {
        target,
        host_id: args.host_id.clone(),
        identity,
        device_id,
        prompts: Prompts {
            password_stdin: args.password_stdin,
        },
        requests,
        files: headless_options.files_plan(args.download_dir.clone()),
    };
    let has_display = std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty());
    if !args.headless && !args.scripted() && !has_display {
        eprintln!("no display ($DISPLAY is not set): running headless");
    }
    if args.runs_headless(has_display) {
        let runtime = runtime()?;
        let mut frontend = Headless::new(headless_options, &plan.requests, Instant::now());
        let result = runtime.block_on(run_session(plan, &mut frontend, None));
        runtime.shutdown_timeout(Duration::from_secs(1));
        result
    } else {
        run_windowed(plan)
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Connects and runs the session; the frontend decides how it is shown.
async fn run_session(
    plan: Plan,
    frontend: &mut dyn Frontend,
    actions: Option<mpsc::UnboundedReceiver<UserAction>>,
) -> Result<()> {
    let established = connect::establish(
        &plan.target,
        plan.identity,
        plan.device_id,
        &plan.host_id,
        plan.prompts,
    )
    .await?;
    session::run(established, &plan.requests, plan.files, frontend, actions)
        .await
        .map(|_| ())
}

/// The window on this (main) thread, the session on a runtime thread.
fn run_windowed(plan: Plan) -> Result<()> {
    let title = format!("Assent — host {}", plan.host_id);
    let (window, remote) = ViewerWindow::new(&title)?;
    let (actions_tx, mut actions_rx) = mpsc::unbounded_channel();
    let session = std::thread::Builder::new()
        .name("session".into())
        .spawn(move || -> Result<()> {
            let runtime = runtime()?;
            let mut frontend = WindowFrontend::new(remote.clone());
            let result = runtime.block_on(async {
                // The engineer may close the window while still at the
                // password prompt: stop there too.
                let established = tokio::select! {
                    established = connect::establish(&plan.target, plan.identity, plan.device_id, &plan.host_id, plan.prompts) => established?,
                    _ = wait_for_close(&mut actions_rx) => {
                        return Err(anyhow!("the viewer window was closed before the session started"));
                    }
                };
                session::run(established, &plan.requests, plan.files, &mut frontend, Some(actions_rx))
                    .await
                    .map(|_| ())
            });
            if let Err(e) = &result {
                remote.send(WindowCommand::Close(format!("{e:#}")));
            }
            runtime.shutdown_timeout(Duration::from_secs(1));
            result
        })
        .context("starting the session thread")?;
    let shown = window.run(actions_tx);
    let ended = session
        .join()
        .map_err(|_| anyhow!("the session thread panicked"))?;
    ended.and(shown)
}

/// Until the window says it closed (or drops its sender).
async fn wait_for_close(actions: &mut mpsc::UnboundedReceiver<UserAction>) {
    while let Some(action) = actions.recv().await {
        if action == UserAction::Closed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn try_connect_args(extra: &[&str]) -> Result<ConnectArgs, clap::Error> {
        let pin = "ab".repeat(32);
        let mut argv = vec![
            "assent-viewer",
            "connect",
            "H-1",
            "--relay",
            "127.0.0.1:443",
            "--relay-pin",
            &pin,
        ];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv)?.command {
            Some(Command::Connect(args)) => Ok(*args),
            _ => panic!("not a connect command"),
        }
    }

    fn connect_args(extra: &[&str]) -> ConnectArgs {
        try_connect_args(extra).unwrap()
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_window_opens_only_with_a_display_and_no_scripted_option() {
        assert!(!connect_args(&[]).runs_headless(true));
        assert!(connect_args(&[]).runs_headless(false));
        assert!(connect_args(&["--headless"]).runs_headless(true));
        for option in [
            &["--frames", "2"][..],
            &["--stats"],
            &["--type", "x"],
            &["--click", "1,2"],
            &["--duration", "0.5"],
            &["--wait-for-grant", "control"],
            &["--screenshot", "s.png"],
            &["--receive", "1"],
            &["--notifications"],
        ] {
            assert!(connect_args(option).runs_headless(true), "{option:?}");
        }
    }

    #[test]
    fn requests_are_a_comma_list_defaulting_to_screen() {
        assert_eq!(connect_args(&[]).request, vec![CapabilityArg::Screen]);
        assert_eq!(
            connect_args(&["--request", "screen,control,files"]).request,
            vec![
                CapabilityArg::Screen,
                CapabilityArg::Control,
                CapabilityArg::Files
            ]
        );
    }

    #[test]
    fn files_to_send_are_repeatable_run_headless_and_request_file_transfer() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
        std::fs::write(&a, b"a").unwrap();
        std::fs::write(&b, b"b").unwrap();
        let args = connect_args(&["--send", a.to_str().unwrap(), "--send", b.to_str().unwrap()]);
        assert_eq!(args.send, vec![a, b]);
        assert!(args.runs_headless(true));
        assert_eq!(args.download_dir, PathBuf::from(DEFAULT_DOWNLOAD_DIR));
    }

    #[test]
    fn a_missing_file_to_send_or_a_file_as_download_dir_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let missing = dir.path().join("missing.csv");
        for extra in [
            ["--send", missing.to_str().unwrap()],
            ["--send", dir.path().to_str().unwrap()],
            ["--download-dir", file.to_str().unwrap()],
        ] {
            assert!(try_connect_args(&extra).is_err(), "{extra:?}");
        }
    }

    #[test]
    fn a_duration_must_be_a_positive_number_of_seconds() {
        assert_eq!(parse_seconds("1.5"), Ok(Duration::from_millis(1500)));
        for bad in ["0", "-1", "soon", "NaN", "inf"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }
}
