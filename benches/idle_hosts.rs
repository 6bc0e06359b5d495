//! Relay memory per idle registered host (issue 4): the real `assent-relay`
//! binary runs in a child process, a load generator here logs N host
//! connections in and leaves them idle, and the relay's resident set size is
//! read from /proc/<pid>/status before and after. The goal: 10,000 idle hosts
//! under 500 MiB RSS.
//!
//! Run: `cargo build --release -p assent-relay && cargo bench --bench idle_hosts -- [N]`
//! (N defaults to 10,000; `ASSENT_RELAY_BIN` overrides the binary's path).
//!
//! Each of the N connections is a real logged-in host as the relay sees it:
//! QUIC handshake, `RelayHello`, `HostLogin` signed over that connection's
//! own challenge, `LoginAccepted`, then an open signalling stream, a
//! `HostRecord`, a presence row and a task waiting for the host's next
//! message, kept alive by the client's QUIC keep-alives. Generating 10,000
//! RSA-4096 keys is out of reach, so all N log in as the same enrolled host:
//! the relay keeps per-connection state, not per-key state, for an idle host
//! (the registry row lives in SQLite, whose page cache is bounded), so the
//! figure is the same as for N distinct hosts. One difference: every
//! connection comes from 127.0.0.1, so intrusion detection tracks one source
//! instead of N (a few hundred bytes each, capped by `max_tracked_sources`).
//!
//! The generator stops by itself: connections are opened at a bounded rate,
//! every phase has a time limit, and the relay is sent SIGTERM (then killed)
//! however the run ends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use assent_net::{
    client_config, client_endpoint, connect, framed, CertFingerprint, FramedRecv, FramedSend,
    RelayTrust,
};
use assent_proto::identity::Identity;
use assent_proto::messages::signalling::{
    ClientRole, EnrollRequest, EnrolmentToken, FileTransferInstall, HostId, HostLogin,
    RelayChallenge, RelayHello, SignallingMessage,
};
use assent_proto::wire::{Bytes, Text};
use rand_core::OsRng;
use tokio::sync::Semaphore;

const DEFAULT_HOSTS: usize = 10_000;
const GOAL_BYTES: u64 = 500 * 1024 * 1024;
/// Client endpoints (UDP sockets) the connections are spread over.
const ENDPOINTS: usize = 8;
/// Logins in flight at once: bounds the rate and the relay's pending handshakes.
const IN_FLIGHT: usize = 16;
/// The whole measurement must finish within this (at 30-40 logins/s on two
/// cores, 10,000 hosts take four to six minutes).
const RUN_LIMIT: Duration = Duration::from_secs(20 * 60);
/// One host's connect and login.
const LOGIN_LIMIT: Duration = Duration::from_secs(60);
/// Quiet time before the second RSS reading, so allocator and queues settle.
const SETTLE: Duration = Duration::from_secs(10);

fn main() -> Result<()> {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this
    // binary without it. A minutes-long measurement is not a test: say so.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("idle_hosts is a measurement: run `cargo bench --bench idle_hosts`");
        return Ok(());
    }
    let hosts = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .map(|arg| arg.parse::<usize>().context("N must be a number of hosts"))
        .transpose()?
        .unwrap_or(DEFAULT_HOSTS);
    let dir = tempfile::tempdir().context("creating a temp dir")?;
    let relay = RelayProcess::start(dir.path())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let outcome =
        runtime.block_on(async { tokio::time::timeout(RUN_LIMIT, measure(&relay, hosts)).await });
    let stopped = relay.stop();
    outcome.map_err(|_| anyhow::anyhow!("gave up after {RUN_LIMIT:?}"))??;
    println!("relay stopped: {}", stopped?);
    Ok(())
}

async fn measure(relay: &RelayProcess, hosts: usize) -> Result<()> {
    let host_key = assent_proto::test_keys::key("host");
    let host_id = enrol(relay, &host_key).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let baseline = relay.memory()?;
    println!(
        "relay pid {} at {}: baseline RSS {:.1} MiB (started, host enrolled, no connections)",
        relay.child.id(),
        relay.addr,
        mib(baseline.rss)
    );

    let endpoints = (0..ENDPOINTS)
        .map(|_| client_endpoint("127.0.0.1:0".parse().expect("literal address")))
        .collect::<Result<Vec<_>, _>>()
        .context("binding client endpoints")?;
    let config = client_config(RelayTrust::Pinned(relay.pin)).context("client config")?;
    let started = Instant::now();
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut logins = tokio::task::JoinSet::new();
    for i in 0..hosts {
        let slot = slots.clone().acquire_owned().await.context("semaphore")?;
        let login = idle_host(
            endpoints[i % ENDPOINTS].clone(),
            config.clone(),
            relay.addr,
            host_key.clone(),
            host_id.clone(),
        );
        logins.spawn(async move {
            let host = tokio::time::timeout(LOGIN_LIMIT, login).await;
            drop(slot);
            host.map_err(|_| anyhow::anyhow!("a host login took over {LOGIN_LIMIT:?}"))?
        });
        if (i + 1) % 1000 == 0 {
            println!(
                "  {} logins started in {:.0} s",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let mut idle = Vec::with_capacity(hosts);
    while let Some(joined) = logins.join_next().await {
        idle.push(joined.context("login task")??);
    }
    let load_secs = started.elapsed().as_secs_f64();
    println!(
        "{hosts} hosts logged in and idle after {load_secs:.0} s ({:.0} logins/s)",
        hosts as f64 / load_secs
    );
    tokio::time::sleep(SETTLE).await;

    let open = relay.open_connections()?;
    let loaded = relay.memory()?;
    let closed_early = idle
        .iter()
        .filter(|h| h.connection.close_reason().is_some())
        .count();
    let per_host = loaded.rss.saturating_sub(baseline.rss) as f64 / hosts as f64;
    println!("relay connections open (its /metrics): {open}; closed by the relay meanwhile: {closed_early}");
    println!(
        "relay RSS with {hosts} idle hosts: {:.1} MiB (peak {:.1} MiB); {:.1} KiB per idle host above baseline",
        mib(loaded.rss),
        mib(loaded.peak),
        per_host / 1024.0
    );
    let projected = baseline.rss as f64 + per_host * DEFAULT_HOSTS as f64;
    println!(
        "goal: {DEFAULT_HOSTS} idle hosts under 500 MiB RSS -> {} ({} MiB measured at N={hosts}, {:.1} MiB projected at N={DEFAULT_HOSTS})",
        if loaded.rss < GOAL_BYTES && projected < GOAL_BYTES as f64 {
            "met"
        } else {
            "NOT met"
        },
        mib(loaded.rss).round(),
        projected / (1024.0 * 1024.0)
    );
    if open != hosts as u64 || closed_early != 0 {
        bail!(
            "the relay did not hold all {hosts} connections ({open} open); the figure is not valid"
        );
    }
    for endpoint in &endpoints {
        endpoint.close(0u32.into(), b"bench done");
    }
    drop(idle);
    Ok(())
}

/// Enrols `host_key` once (as `assent-host` does on first start).
async fn enrol(relay: &RelayProcess, host_key: &Identity) -> Result<HostId> {
    let endpoint = client_endpoint("127.0.0.1:0".parse().expect("literal address"))?;
    let config = client_config(RelayTrust::Pinned(relay.pin))?;
    let token = relay.issue_token("DxFLEX", "INSTR-0042", "SN-998877")?;
    let (connection, mut send, mut recv, challenge) =
        open_signalling(&endpoint, relay.addr, config).await?;
    let mut enroll = EnrollRequest {
        registrant_email: text("tech.person@lab.example"),
        registrant_name: text("Tess Technician"),
        instrument_model: text("DxFLEX"),
        instrument_id: text("INSTR-0042"),
        serial_number: text("SN-998877"),
        host_key: host_key.public().clone(),
        file_transfer: FileTransferInstall::CompiledOut,
        enrolment_token: Some(token),
        signature: Bytes::default(),
    };
    enroll.sign(host_key, &challenge, &mut OsRng);
    send.send(&enroll).await?;
    let host_id = match answer(&mut recv).await? {
        SignallingMessage::EnrollAccepted(accepted) => accepted.host_id,
        other => bail!("enrolment refused: {other:?}"),
    };
    connection.close(0u32.into(), b"enrolled");
    endpoint.wait_idle().await;
    Ok(host_id)
}

/// Connects, opens the signalling stream, says hello and reads the challenge
/// every login signs.
async fn open_signalling(
    endpoint: &quinn::Endpoint,
    relay: SocketAddr,
    config: quinn::ClientConfig,
) -> Result<(quinn::Connection, FramedSend, FramedRecv, RelayChallenge)> {
    let connection = connect(endpoint, relay, "localhost", config).await?;
    let (send, recv) = connection.open_bi().await?;
    let (mut send, mut recv) = framed(send, recv);
    send.send(&hello()).await?;
    match answer(&mut recv).await? {
        SignallingMessage::RelayChallenge(challenge) => Ok((connection, send, recv, challenge)),
        other => bail!("expected RelayChallenge, got {other:?}"),
    }
}

/// A logged-in host connection. The signalling stream is held, not used:
/// dropping it would finish it, and the relay would log the host out.
struct IdleHost {
    connection: quinn::Connection,
    _signalling: (FramedSend, FramedRecv),
}

/// One host connection, logged in and left idle.
async fn idle_host(
    endpoint: quinn::Endpoint,
    config: quinn::ClientConfig,
    relay: SocketAddr,
    host_key: Arc<Identity>,
    host_id: HostId,
) -> Result<IdleHost> {
    let (connection, mut send, mut recv, challenge) =
        open_signalling(&endpoint, relay, config).await?;
    let mut login = HostLogin {
        host_id,
        signature: Bytes::default(),
    };
    // RSA-4096 signing is the slow step; keep it off the async threads.
    let login = tokio::task::spawn_blocking(move || {
        login.sign(&host_key, &challenge, &mut OsRng);
        login
    })
    .await?;
    send.send(&login).await?;
    match answer(&mut recv).await? {
        SignallingMessage::LoginAccepted(_) => {}
        other => bail!("host login refused: {other:?}"),
    }
    Ok(IdleHost {
        connection,
        _signalling: (send, recv),
    })
}

fn hello() -> RelayHello {
    RelayHello {
        role: ClientRole::Host,
        software_version: text("bench"),
    }
}

fn text<const MAX: usize>(value: &str) -> Text<MAX> {
    Text::new(value).expect("literal text fits its field")
}

async fn answer(recv: &mut FramedRecv) -> Result<SignallingMessage> {
    let frame = recv
        .recv()
        .await?
        .context("relay closed the signalling stream")?;
    Ok(SignallingMessage::decode(&frame)?)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

struct Memory {
    rss: u64,
    peak: u64,
}

/// The relay child process; SIGTERM (then SIGKILL) on drop if not stopped.
struct RelayProcess {
    child: Child,
    config: PathBuf,
    addr: SocketAddr,
    pin: CertFingerprint,
    metrics: SocketAddr,
    stopped: bool,
}

impl RelayProcess {
    fn start(dir: &Path) -> Result<Self> {
        let binary = relay_binary()?;
        let metrics = free_tcp_port()?;
        let config = dir.join("relay.toml");
        // The flood detector would (rightly) block one source opening
        // thousands of connections a minute: raised for the load generator.
        std::fs::write(
            &config,
            format!(
                "name = \"bench relay\"\n\
                 listen = \"127.0.0.1:0\"\n\
                 data_dir = '{}'\n\
                 shutdown_grace_secs = 5\n\
                 [metrics]\nlisten = \"{metrics}\"\n\
                 [log]\nlevel = \"warn\"\n\
                 [ids]\nconnections_per_source_per_minute = 100000\n",
                dir.join("data").display()
            ),
        )?;
        let mut child = Command::new(&binary)
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("relay stdout")?;
        let (lines_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut relay = Self {
            child,
            config: config.clone(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            pin: CertFingerprint([0; 32]),
            metrics,
            stopped: false,
        };
        let (mut pin, mut addr) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(60);
        while pin.is_none() || addr.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines
                .recv_timeout(left)
                .context("the relay did not print its fingerprint and address within 60 s")?;
            if let Some(value) = line.strip_prefix("relay certificate fingerprint: ") {
                pin = Some(value.parse::<CertFingerprint>()?);
            } else if let Some(value) = line.strip_prefix("listening on ") {
                addr = Some(value.trim().parse::<SocketAddr>()?);
            }
        }
        (relay.pin, relay.addr) = (pin.unwrap_or(relay.pin), addr.unwrap_or(relay.addr));
        Ok(relay)
    }

    /// `assent-relay enrolment issue` against this relay's data, as an
    /// operator invites an instrument (issue 13).
    fn issue_token(
        &self,
        model: &str,
        instrument_id: &str,
        serial: &str,
    ) -> Result<EnrolmentToken> {
        let out = Command::new(relay_binary()?)
            .arg("--config")
            .arg(&self.config)
            .args(["enrolment", "issue", "--model", model])
            .args(["--instrument-id", instrument_id, "--serial", serial])
            .output()
            .context("running assent-relay enrolment issue")?;
        if !out.status.success() {
            bail!(
                "enrolment issue failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let text = stdout
            .lines()
            .find_map(|line| line.strip_prefix("enrolment token: "))
            .context("enrolment issue printed no token")?;
        Ok(EnrolmentToken::parse(text)?)
    }

    /// VmRSS and VmHWM of the relay process.
    fn memory(&self) -> Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .context("reading the relay's /proc status")?;
        let field = |name: &str| -> Result<u64> {
            let line = status
                .lines()
                .find(|l| l.starts_with(name))
                .with_context(|| format!("{name} missing from /proc status"))?;
            let kib: u64 = line[name.len()..]
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .with_context(|| format!("parsing {line:?}"))?;
            Ok(kib * 1024)
        };
        Ok(Memory {
            rss: field("VmRSS:")?,
            peak: field("VmHWM:")?,
        })
    }

    /// `assent_relay_connections_open` from the relay's /metrics endpoint.
    fn open_connections(&self) -> Result<u64> {
        let mut stream = TcpStream::connect_timeout(&self.metrics, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut body = String::new();
        stream.read_to_string(&mut body)?;
        body.lines()
            .find_map(|l| l.strip_prefix("assent_relay_connections_open "))
            .context("no connections_open gauge in /metrics")?
            .trim()
            .parse()
            .context("parsing connections_open")
    }

    /// SIGTERM, as an operator would; SIGKILL if it has not exited in 20 s.
    fn stop(mut self) -> Result<String> {
        self.stopped = true;
        terminate(&mut self.child)
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = terminate(&mut self.child);
        }
    }
}

fn terminate(child: &mut Child) -> Result<String> {
    let sent = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .is_ok_and(|s| s.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while sent && Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Ok(format!("exited after SIGTERM with {status}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill()?;
    let status = child.wait()?;
    Ok(format!("killed after SIGTERM did not stop it ({status})"))
}

/// `ASSENT_RELAY_BIN`, else `assent-relay` next to this bench's `deps/` directory.
fn relay_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("ASSENT_RELAY_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("locating the target directory")?;
    let binary = profile_dir.join("assent-relay");
    if !binary.exists() {
        bail!(
            "{} not found: run `cargo build --release -p assent-relay` first (or set ASSENT_RELAY_BIN)",
            binary.display()
        );
    }
    Ok(binary)
}

/// A loopback TCP port free right now, for the relay's metrics endpoint.
fn free_tcp_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}
