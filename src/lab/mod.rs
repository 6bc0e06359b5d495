//! A whole support lab on loopback, through the real binaries: an Xvfb
//! display with the instrument panel, `assent-relay serve` on a fresh data
//! directory, an allowlisted engineer identity for `assent-viewer`, and an
//! enrolled `assent-host` that pinned the operator's release key (R16). The end-to-end tests and the demo both use it;
//! tests hand in cached keys (RSA-4096 generation is slow), the demo makes
//! fresh ones with the programs' own `keygen` commands.

pub mod process;
pub mod xvfb;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use assent_proto::identity::Identity;
use assent_proto::instrument::InstrumentProfile;

pub use process::{Proc, WAIT};
use xvfb::Xvfb;

/// What the host asks before any capability: whether to let the engineer
/// in at all (R9).
pub const ADMISSION_PROMPT: &str = "Admit this engineer?";

/// What the host prints once a terminal prompt takes answers: lines typed
/// before it are ignored.
pub use assent_host::technician::ANSWER_NOW;

/// Answers the host's admission prompt with yes, as the technician would
/// once they recognise the engineer; returns the prompt's line.
pub fn admit_engineer(host: &mut Proc) -> String {
    answer(host, ADMISSION_PROMPT, "y")
}

/// Waits for the host's prompt containing `prompt`, then for it to take
/// answers, and types `answer`; returns the prompt's line.
pub fn answer(host: &mut Proc, prompt: &str, answer: &str) -> String {
    answer_from(host, 0, prompt, answer)
}

/// [`answer`] for a prompt shown at or after output line `from`.
pub fn answer_from(host: &mut Proc, from: usize, prompt: &str, answer: &str) -> String {
    let (at, line) = host.wait_for_from(from, prompt);
    host.wait_for_from(at, ANSWER_NOW);
    host.type_line(answer);
    line
}

pub const ENGINEER_NAME: &str = "Erin Engineer";
pub const ENGINEER_EMAIL: &str = "erin@support.example";
pub const SCREEN: (u32, u32) = (800, 600);
/// The release signing key and its public half in the relay's data
/// directory, as `assent-relay release keygen` writes them.
pub const RELEASE_KEY: &str = "release.key";
pub const RELEASE_PUB: &str = "release.pub.pem";

/// Where the identities come from.
pub enum LabKeys {
    /// Existing identities, written into place (tests).
    Provided {
        operator: Arc<Identity>,
        viewer: Arc<Identity>,
        host: Arc<Identity>,
    },
    /// Fresh RSA-4096 keys from `operator-keygen`, `keygen` and `enroll`.
    Generated,
}

pub struct LabOptions {
    /// Where `assent-relay`, `assent-viewer` and the instrument panel are.
    pub bin_dir: PathBuf,
    /// The `assent-host` build to run (the PHI build in its own test).
    pub host_binary: PathBuf,
    pub model: String,
    /// The profile the operator's enrolment token names (R11); `None`: the
    /// model's default, so a model the relay does not know is PHI.
    pub profile: Option<InstrumentProfile>,
    pub keys: LabKeys,
    /// Print what the relay and enrolment say, behind a prefix.
    pub echo: bool,
}

pub struct Lab {
    pub dir: tempfile::TempDir,
    pub xvfb: Xvfb,
    pub relay: Proc,
    pub relay_addr: String,
    /// Where the host and the viewer look for the relay: the relay itself,
    /// or a hostile relay in front of it ([`Lab::route_clients_through`]).
    pub clients_relay: String,
    pub relay_pin: String,
    pub host_id: String,
    pub viewer_identity: PathBuf,
    pub host_binary: PathBuf,
    /// The release signing key in the relay's data directory
    /// (`release.key`), when the host pinned one at enrolment.
    pub release_key: Option<PathBuf>,
    bin_dir: PathBuf,
}

impl Lab {
    /// Relay up, operator key in place, engineer allowlisted, host enrolled.
    /// Generated keys include a release key the host pins; with provided
    /// keys the host pins none (see [`Lab::start_with_release_key`]).
    pub fn start(options: LabOptions) -> Result<Lab> {
        Self::start_with(options, None)
    }

    /// [`Lab::start`] with provided keys plus `release` as the operator's
    /// release key, written to the relay's `release.key` and pinned by the
    /// host at enrolment.
    pub fn start_with_release_key(options: LabOptions, release: Arc<Identity>) -> Result<Lab> {
        Self::start_with(options, Some(release))
    }

    fn start_with(options: LabOptions, release: Option<Arc<Identity>>) -> Result<Lab> {
        let dir = tempfile::tempdir().context("creating the lab directory")?;
        let xvfb = Xvfb::start(SCREEN.0, SCREEN.1);
        let bin = |name: &str| options.bin_dir.join(name);
        let relay_dir = dir.path().join("relay");
        let viewer_dir = dir.path().join("viewer");
        let host_dir = dir.path().join("host");
        for d in [&relay_dir, &viewer_dir, &host_dir] {
            std::fs::create_dir_all(d)?;
            // Whatever the umask: the host refuses a data directory others can write.
            #[cfg(unix)]
            std::fs::set_permissions(
                d,
                <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o700),
            )?;
        }
        let viewer_identity = viewer_dir.join("viewer.key");
        let viewer_pub = viewer_dir.join("viewer.pub.pem");
        let operator_pub = relay_dir.join("operator.pub.pem");
        let release_key = relay_dir.join(RELEASE_KEY);
        let release_pub = relay_dir.join(RELEASE_PUB);
        let mut pin_release = release.is_some();
        if let Some(release) = &release {
            release.save(&release_key)?;
            std::fs::write(&release_pub, release.public().to_spki_pem())?;
        }
        match &options.keys {
            LabKeys::Provided {
                operator,
                viewer,
                host,
            } => {
                operator.save(&relay_dir.join("operator.key"))?;
                std::fs::write(&operator_pub, operator.public().to_spki_pem())?;
                viewer.save(&viewer_identity)?;
                std::fs::write(&viewer_pub, viewer.public().to_spki_pem())?;
                host.save(&host_dir.join("host.key"))?;
            }
            LabKeys::Generated => {
                // The two key generations are independent: run them side by side.
                let mut operator = Command::new(bin("assent-relay"));
                operator
                    .arg("--data-dir")
                    .arg(&relay_dir)
                    .arg("operator-keygen");
                let mut viewer = Command::new(bin("assent-viewer"));
                viewer.arg("--identity").arg(&viewer_identity).arg("keygen");
                let mut operator = start(&options, "operator-keygen", &mut operator)?;
                let mut viewer = start(&options, "viewer keygen", &mut viewer)?;
                let mut keygen = Command::new(bin("assent-relay"));
                keygen
                    .arg("--data-dir")
                    .arg(&relay_dir)
                    .args(["release", "keygen"]);
                let mut release_keygen = match release {
                    Some(_) => None,
                    None => Some(start(&options, "release keygen", &mut keygen)?),
                };
                finish(&mut operator)?;
                finish(&mut viewer)?;
                if let Some(keygen) = &mut release_keygen {
                    finish(keygen)?;
                }
                pin_release = true;
            }
        }
        let config = relay_dir.join("relay.toml");
        std::fs::write(
            &config,
            "[lockout]\nbase_wait_secs = 1\nmax_wait_secs = 4\nburn_after = 20\n",
        )?;

        let mut relay = start(
            &options,
            "assent-relay",
            &mut relay_command(&bin("assent-relay"), &relay_dir, "127.0.0.1:0"),
        )?;
        let pin = after(&relay, "relay certificate fingerprint: ")?;
        let relay_addr = after(&relay, "listening on ")?;
        relay.close_stdin();
        let mut allow = Command::new(bin("assent-relay"));
        allow
            .arg("--data-dir")
            .arg(&relay_dir)
            .args([
                "allowlist",
                "add",
                "--name",
                ENGINEER_NAME,
                "--email",
                ENGINEER_EMAIL,
            ])
            .arg("--key")
            .arg(&viewer_pub);
        finish(&mut start(&options, "allowlist add", &mut allow)?)?;

        // The operator invites this instrument (issue 13); the token is its
        // only way in.
        let token = issue_token(
            &bin("assent-relay"),
            &relay_dir,
            &options.model,
            ("INSTR-7", "SN-1234"),
            options.profile,
        )?;
        let mut enroll = Command::new(&options.host_binary);
        enroll
            .arg("--data-dir")
            .arg(&host_dir)
            .args(["enroll", "--relay", &relay_addr, "--relay-pin", &pin])
            .args(["--token", &token])
            .arg("--operator-key")
            .arg(&operator_pub)
            .args(["--email", "tess@lab.example", "--name", "Tess Technician"])
            .args(["--model", &options.model])
            .args(["--instrument-id", "INSTR-7", "--serial", "SN-1234"]);
        if pin_release {
            enroll.arg("--release-key").arg(&release_pub);
        }
        let mut enroll = start(&options, "assent-host enroll", &mut enroll)?;
        let host_id = after(&enroll, "enrolled: host ID ")?;
        finish(&mut enroll)?;
        Ok(Lab {
            dir,
            xvfb,
            relay,
            clients_relay: relay_addr.clone(),
            relay_addr,
            relay_pin: pin,
            host_id,
            viewer_identity,
            host_binary: options.host_binary,
            release_key: pin_release.then_some(release_key),
            bin_dir: options.bin_dir,
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The relay's data directory (keys, database, stored releases).
    pub fn relay_dir(&self) -> PathBuf {
        self.path("relay")
    }

    /// The host's data directory (`--data-dir` of `assent-host`).
    pub fn host_dir(&self) -> PathBuf {
        self.path("host")
    }

    /// `assent-host enroll` of a second instrument of `model` into
    /// `data_dir`, against this lab's relay and operator key, with a fresh
    /// enrolment token for it; callers add their own flags and run it.
    pub fn enroll_another(&self, data_dir: &Path, model: &str) -> Result<Command> {
        let token = issue_token(
            &self.bin("assent-relay"),
            &self.relay_dir(),
            model,
            ("I-2", "S-2"),
            None,
        )?;
        let mut command = Command::new(&self.host_binary);
        command
            .arg("--data-dir")
            .arg(data_dir)
            .args(["enroll", "--relay", &self.relay_addr])
            .args(["--relay-pin", &self.relay_pin])
            .args(["--token", &token])
            .arg("--operator-key")
            .arg(self.relay_dir().join("operator.pub.pem"))
            .args(["--email", "t@lab.example", "--name", "Tess"])
            .args(["--model", model])
            .args(["--instrument-id", "I-2", "--serial", "S-2"]);
        Ok(command)
    }

    /// `assent-relay release publish PACKAGE --manifest MANIFEST`, signed
    /// with `release_key` (default: the relay's own `release.key`).
    pub fn publish_release(
        &self,
        package: &Path,
        manifest: &Path,
        release_key: Option<&Path>,
    ) -> Result<String> {
        let mut command = Command::new(self.bin("assent-relay"));
        command
            .arg("--data-dir")
            .arg(self.relay_dir())
            .args(["release", "publish"])
            .arg(package)
            .arg("--manifest")
            .arg(manifest)
            .env_remove("ASSENT_RELAY_DATA_KEY");
        if let Some(key) = release_key {
            command.arg("--release-key").arg(key);
        }
        let out = command
            .output()
            .context("running assent-relay release publish")?;
        if !out.status.success() {
            bail!(
                "release publish failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Stops the relay (as a crash would) and starts it again on the same
    /// address and data directory: same certificate, same state.
    pub fn restart_relay(&mut self) -> Result<()> {
        self.relay.kill();
        let relay_dir = self.path("relay");
        let mut command = relay_command(&self.bin("assent-relay"), &relay_dir, &self.relay_addr);
        self.relay = Proc::start("assent-relay", &mut command, None)?;
        let pin = after(&self.relay, "relay certificate fingerprint: ")?;
        if pin != self.relay_pin {
            bail!("the restarted relay has another certificate: {pin}");
        }
        after(&self.relay, "listening on ")?;
        Ok(())
    }

    /// Points the host (its `host.toml`) and the viewer at `addr` instead
    /// of the relay: a man in the middle with the relay's certificate.
    pub fn route_clients_through(&mut self, addr: &str) -> Result<()> {
        let config = self.host_dir().join("host.toml");
        let text = std::fs::read_to_string(&config).context("reading host.toml")?;
        let old = format!("relay = \"{}\"", self.clients_relay);
        if !text.contains(&old) {
            bail!("host.toml has no line {old}:\n{text}");
        }
        std::fs::write(&config, text.replace(&old, &format!("relay = \"{addr}\"")))?;
        self.clients_relay = addr.to_owned();
        Ok(())
    }

    pub fn bin(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    /// The demo instrument screen on the lab's display; `still` keeps every
    /// value constant (for pixel comparisons).
    pub fn instrument_panel(&self, still: bool) -> Result<Proc> {
        let mut command = Command::new(self.bin("assent-instrument-panel"));
        command.env("DISPLAY", self.xvfb.display());
        if still {
            command.arg("--still");
        }
        let panel = Proc::start("assent-instrument-panel", &mut command, None)?;
        panel.try_wait_for("ready").map_err(|e| anyhow!(e))?;
        Ok(panel)
    }

    /// `assent-host support` on the lab display; returns it and the password.
    pub fn support(&self, extra: &[&str]) -> (Proc, String) {
        self.start_support(extra, None)
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    pub fn start_support(&self, extra: &[&str], echo: Option<&str>) -> Result<(Proc, String)> {
        let mut command = Command::new(&self.host_binary);
        command
            .arg("--data-dir")
            .arg(self.path("host"))
            .args(["support", "--display", self.xvfb.display()])
            .args(extra)
            // Tests answer on the terminal; a dialog on the shared screen
            // would also show in screenshots. The demo asks for it.
            .args(if extra.contains(&"--prompt") {
                &[][..]
            } else {
                &["--prompt", "terminal"][..]
            })
            .env("DISPLAY", self.xvfb.display());
        let host = Proc::start("assent-host support", &mut command, echo)?;
        let password = after(&host, "one-time password:")?.trim().to_owned();
        host.try_wait_for("Waiting for the engineer")
            .map_err(|e| anyhow!(e))?;
        Ok((host, password))
    }

    /// `assent-viewer connect --headless` with the password on stdin.
    pub fn viewer(&self, password: &str, args: &[&str]) -> Proc {
        self.viewer_as(&self.viewer_identity, password, args)
    }

    pub fn viewer_as(&self, identity: &Path, password: &str, args: &[&str]) -> Proc {
        let mut all = vec!["--headless"];
        all.extend_from_slice(args);
        self.start_viewer(identity, password, &all, None)
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Starts `assent-viewer connect`. The first login from this device
    /// needs the e-mailed code: it is read from the relay's outbox and typed
    /// in, as the engineer would; then the password is typed.
    pub fn start_viewer(
        &self,
        identity: &Path,
        password: &str,
        args: &[&str],
        echo: Option<&str>,
    ) -> Result<Proc> {
        let mut command = Command::new(self.bin("assent-viewer"));
        command
            .arg("--identity")
            .arg(identity)
            .args(["connect", &self.host_id, "--relay", &self.clients_relay])
            .args(["--relay-pin", &self.relay_pin, "--password-stdin"])
            .args(args);
        if args.contains(&"--headless") {
            command.env_remove("DISPLAY");
        }
        let mut viewer = Proc::start("assent-viewer", &mut command, echo)?;
        let outbox = self.path("relay").join("outbox");
        // Either the code is asked for, or the login went straight through.
        let deadline = Instant::now() + WAIT;
        loop {
            let text = viewer.stdout_text();
            if text.contains("code") && text.contains("e-mail") {
                let code = assent_relay::notifier::OutboxNotifier::read_latest_code(
                    &outbox,
                    ENGINEER_EMAIL,
                )?
                .context("no location code in the relay's outbox")?;
                viewer.type_line(code.as_str());
                break;
            }
            if text.contains("host key") || text.contains("refused") || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        viewer.type_line(password);
        Ok(viewer)
    }

    /// `assent-relay audit list` with `filters`.
    pub fn audit(&self, filters: &[&str]) -> Result<String> {
        let out = Command::new(self.bin("assent-relay"))
            .arg("--data-dir")
            .arg(self.path("relay"))
            .args(["audit", "list"])
            .args(filters)
            .env_remove("ASSENT_RELAY_DATA_KEY")
            .output()?;
        if !out.status.success() {
            bail!(
                "audit list failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// `assent-relay enrolment issue` for one instrument (model, then instrument
/// ID and serial); returns the token text it printed once.
fn issue_token(
    relay: &Path,
    relay_dir: &Path,
    model: &str,
    (instrument_id, serial): (&str, &str),
    profile: Option<InstrumentProfile>,
) -> Result<String> {
    let mut command = Command::new(relay);
    command
        .arg("--data-dir")
        .arg(relay_dir)
        .args(["enrolment", "issue", "--model", model])
        .args(["--instrument-id", instrument_id, "--serial", serial])
        .env_remove("ASSENT_RELAY_DATA_KEY");
    if let Some(profile) = profile {
        command.args(["--profile", profile.name()]);
    }
    let out = command
        .output()
        .context("running assent-relay enrolment issue")?;
    if !out.status.success() {
        bail!(
            "enrolment issue failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("enrolment token: "))
        .map(|token| token.trim().to_owned())
        .context("enrolment issue printed no token")
}

/// `assent-relay serve` on `listen` with the lab's config and data directory.
fn relay_command(binary: &Path, relay_dir: &Path, listen: &str) -> Command {
    let mut command = Command::new(binary);
    command
        .arg("--config")
        .arg(relay_dir.join("relay.toml"))
        .args([
            "serve",
            "--listen",
            listen,
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(relay_dir)
        .env_remove("ASSENT_RELAY_DATA_KEY");
    command
}

fn start(options: &LabOptions, name: &str, command: &mut Command) -> Result<Proc> {
    let echo = options.echo.then(|| format!("[{name}] "));
    Proc::start(name, command, echo.as_deref()).with_context(|| format!("starting {name}"))
}

/// Waits for `name` to exit successfully.
fn finish(proc: &mut Proc) -> Result<()> {
    let status = proc.wait_exit();
    if !status.success() {
        bail!("{} failed: {}", proc.name, proc.stderr_text().trim());
    }
    Ok(())
}

/// The rest of the first stdout line that starts with `prefix`.
fn after(proc: &Proc, prefix: &str) -> Result<String> {
    let line = proc.try_wait_for(prefix).map_err(|e| anyhow!(e))?;
    let start = line.find(prefix).map_or(0, |i| i + prefix.len());
    Ok(line[start..].trim().to_owned())
}
