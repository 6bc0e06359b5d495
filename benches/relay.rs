//! Relay benchmarks (issue 4, R3, R9): forwarding throughput host→viewer
//! through a real relay against a direct quinn connection on the same
//! loopback, and pairing latency from a viewer's `ConnectRequest` to the
//! first forwarded byte at the host. Figures go to BENCHMARKS.md.
//!
//! Everything runs in this process over real QUIC: the relay on its own tokio
//! runtime (SQLite in a temp dir, the sealed audit log fsync'd as in
//! production), and on another one enrolled host with an open support request
//! and one logged-in, location-confirmed viewer. Criterion reports each
//! figure; the summary printed at the end times both forwarding paths
//! interleaved in the same run and prints their ratio, the CPU each used, and
//! the pairing p50/p99. On a machine where host, relay and viewer share the
//! same cores, the relay path does twice the QUIC work per byte (a second
//! hop), so read the ratio together with the CPU figures.
//!
//! Run: `cargo bench --bench relay`.
//!
//! With `ASSENT_BENCH_RELAY_CORE=N` the relay's threads run on core N only and
//! everything else (host, viewer, and both ends of the direct connection) on
//! the other cores: a relay on its own machine, as deployed, with the
//! endpoints given the same cores on both paths. Every other forwarding
//! transfer (criterion's and the summary's) then runs with the relay on the
//! next CPU (with 2 CPUs: the relay's and the endpoints' cores swapped), so
//! a core that runs slower for a while (a busy neighbour on a virtual
//! machine's host) weighs on both paths alike; the summary prints the ratio
//! of each half too.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use assent_net::{
    client_config, client_endpoint, connect, framed, server_config, server_endpoint,
    CertFingerprint, ConnectionLimits, FramedRecv, FramedSend, RelayTrust,
};
use assent_proto::allowlist::AllowListEntry;
use assent_proto::instrument::InstrumentProfile;
use assent_proto::messages::signalling::{
    ChannelKind, ClientRole, ConnectRequest, EnrollRequest, EnrolmentToken, FileTransferInstall,
    HostId, LocationCode, OpenChannel, RelayChallenge, RelayHello, SessionId, SignallingMessage,
    SupportOpen, ViewerLogin,
};
use assent_proto::wire::{Bytes, Message, Text};
use assent_relay::intrusion::IdsLimits;
use assent_relay::metrics::RelayMetrics;
use assent_relay::notifier::{Notifier, OutboxNotifier};
use assent_relay::server::{AuditLog, RelayServer, RelayState, ServerSettings};
use assent_relay::store::{DataKey, EnrolmentGrant, SqliteStore, StateStore};
use criterion::{Criterion, Throughput};
use rand_core::{OsRng, RngCore};
use tokio::runtime::Runtime;
use tokio::sync::watch;

#[path = "relay/placement.rs"]
mod placement;
use placement::CorePlacement;

/// Bytes per forwarded transfer: large enough that stream setup is noise
/// next to the steady-state transfer (one RTT on loopback vs tens of ms).
const PAYLOAD: usize = 8 * 1024 * 1024;
const SESSION: SessionId = [7; 32];
const ENGINEER_EMAIL: &str = "erin@support.example";
/// Interleaved transfers per path in the summary (even: with the relay on
/// its own core, half on each core).
const SUMMARY_TRANSFERS: usize = 16;
/// Pairings timed one by one in the summary.
const SUMMARY_PAIRINGS: usize = 200;
/// Name of the relay runtime's threads, to tell their CPU time apart.
const RELAY_THREADS: &str = "relay-worker";

fn main() {
    let placement = CorePlacement::from_env();
    placement.pin_endpoints();
    // As many workers as cores to run on, as a process pinned there would
    // have (tokio's default is every core of the machine).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(placement.endpoint_cores())
        .on_thread_start(move || placement.current().pin_endpoints())
        .enable_all()
        .build()
        .expect("start the tokio runtime");
    // The relay gets its own runtime, as it would have its own process.
    let relay_runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name(RELAY_THREADS)
        .worker_threads(placement.relay_cores())
        .on_thread_start(move || placement.current().pin_relay())
        .enable_all()
        .build()
        .expect("start the relay's tokio runtime");
    let mut session = runtime.block_on(Session::start(relay_runtime.handle()));
    let direct = runtime.block_on(Direct::start());
    let mut payload = vec![0u8; PAYLOAD];
    // Random bytes, like the end-to-end ciphertext the relay really forwards.
    OsRng.fill_bytes(&mut payload);

    let mut criterion = Criterion::default().configure_from_args();
    forwarding(
        &mut criterion,
        &runtime,
        &session,
        &direct,
        &payload,
        placement,
    );
    pairing(&mut criterion, &runtime, &mut session);
    criterion.final_summary();

    // `cargo test --benches` runs each benchmark once without `--bench`;
    // the summary is a measurement, so only `cargo bench` prints it.
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    runtime.block_on(async {
        if benchmarking {
            println!("\n{}", placement.describe());
            summary(&mut session, &direct, &payload, placement).await;
        }
        direct.close();
        session.stop().await;
    });
}

fn forwarding(
    c: &mut Criterion,
    runtime: &Runtime,
    session: &Session,
    direct: &Direct,
    payload: &[u8],
    placement: CorePlacement,
) {
    // As in the summary: with the relay on its own core, every other
    // transfer runs with the relay moved (moving is not timed).
    let placements = [placement, placement.relay_on_next_cpu()];
    let mut group = c.benchmark_group("forwarding");
    group
        .throughput(Throughput::Bytes(PAYLOAD as u64))
        .sample_size(20)
        .measurement_time(Duration::from_secs(15));
    group.bench_function("through_relay", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for (_, placement) in (0..iters).zip(placements.iter().cycle()) {
                    placement.repin_running_threads();
                    let start = Instant::now();
                    session.forward(payload).await;
                    total += start.elapsed();
                }
                total
            })
        })
    });
    group.bench_function("direct_quinn", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for (_, placement) in (0..iters).zip(placements.iter().cycle()) {
                    placement.repin_running_threads();
                    let start = Instant::now();
                    direct.transfer(payload).await;
                    total += start.elapsed();
                }
                total
            })
        })
    });
    group.finish();
    placement.repin_running_threads();
}

fn pairing(c: &mut Criterion, runtime: &Runtime, session: &mut Session) {
    let mut group = c.benchmark_group("pairing");
    // About 1 ms each: 100 samples need ~8 s.
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("request_to_first_byte", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += session.pair_to_first_byte().await;
                }
                total
            })
        })
    });
    group.finish();
}

/// Both paths interleaved, so they see the same machine state, then pairing
/// percentiles (criterion reports the median, not the tail).
///
/// With the relay on its own core, every other round moves the relay to
/// the next CPU (with 2 CPUs: swaps the relay's and the endpoints' cores): on a virtual machine one core can run
/// slower than the other for seconds (a busy neighbour on the physical
/// core), which would otherwise weigh on one path only.
async fn summary(session: &mut Session, direct: &Direct, payload: &[u8], placement: CorePlacement) {
    let placements = [placement, placement.relay_on_next_cpu()];
    let mut relayed = PathTimes::default();
    let mut straight = PathTimes::default();
    for round in 0..SUMMARY_TRANSFERS {
        placements[round % 2].repin_running_threads();
        relayed.time(session.forward(payload)).await;
        straight.time(direct.transfer(payload)).await;
    }
    placement.repin_running_threads();
    report_forwarding(&relayed, &straight, placement.cores());
    for (first, placement) in placements.into_iter().enumerate() {
        if let CorePlacement::RelayOn { core, .. } = placement {
            println!(
                "  rounds with the relay on core {core}: ratio {:.2} (medians of {})",
                straight.median_of_rounds(first, 2).as_secs_f64()
                    / relayed.median_of_rounds(first, 2).as_secs_f64(),
                SUMMARY_TRANSFERS / 2,
            );
        }
    }
    report_pairing(session).await;
}

fn report_forwarding(relayed: &PathTimes, straight: &PathTimes, cores: usize) {
    let (relayed_median, straight_median) = (relayed.median(), straight.median());
    let mib_per_s = |d: Duration| PAYLOAD as f64 / d.as_secs_f64() / (1024.0 * 1024.0);
    println!();
    println!(
        "forwarding host->viewer, median of {SUMMARY_TRANSFERS} interleaved 8 MiB transfers each \
         (cores busy = CPU time / wall time, of {cores} cores):"
    );
    println!(
        "  through relay {:.0} MiB/s ({:.1} ms; {})",
        mib_per_s(relayed_median),
        relayed_median.as_secs_f64() * 1e3,
        relayed.load(),
    );
    println!(
        "  direct quinn  {:.0} MiB/s ({:.1} ms; {})",
        mib_per_s(straight_median),
        straight_median.as_secs_f64() * 1e3,
        straight.load(),
    );
    println!(
        "  ratio through_relay/direct = {:.2} (goal >= 0.8)",
        straight_median.as_secs_f64() / relayed_median.as_secs_f64(),
    );
    if let Some(cpu) = relayed.relay_cpu_per_transfer() {
        // What the relay alone costs, for sizing a relay on its own cores.
        println!(
            "  relay threads: {:.1} ms CPU per 8 MiB forwarded = {:.0} MiB/s per fully busy core",
            cpu.as_secs_f64() * 1e3,
            mib_per_s(cpu),
        );
    }
}

async fn report_pairing(session: &mut Session) {
    let mut samples = Vec::with_capacity(SUMMARY_PAIRINGS);
    for _ in 0..SUMMARY_PAIRINGS {
        samples.push(session.pair_to_first_byte().await);
    }
    samples.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "pairing ConnectRequest -> first forwarded byte at host, {SUMMARY_PAIRINGS} samples: \
         p50 {:.3} ms, p99 {:.3} ms, min {:.3} ms, max {:.3} ms (goal p50 < 5 ms)",
        ms(percentile(&samples, 50)),
        ms(percentile(&samples, 99)),
        ms(samples[0]),
        ms(samples[samples.len() - 1]),
    );
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    // For an even count the median is the lower middle value, for both paths alike.
    let rank = (sorted.len() * pct).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// Wall time of each transfer on one path, and what the machine spent on
/// them: this shows what limits a path here.
#[derive(Default)]
struct PathTimes {
    walls: Vec<Duration>,
    spent: Option<Counters>,
}

impl PathTimes {
    async fn time(&mut self, transfer: impl std::future::Future<Output = ()>) {
        let (wall, before) = (Instant::now(), Counters::read());
        transfer.await;
        self.walls.push(wall.elapsed());
        self.spent = match (before, Counters::read()) {
            (Some(before), Some(after)) => Some(self.spent.unwrap_or_default().add(before, after)),
            _ => None,
        };
    }

    /// CPU time the relay's threads spent per transfer, on average.
    fn relay_cpu_per_transfer(&self) -> Option<Duration> {
        let transfers = u32::try_from(self.walls.len()).ok().filter(|&n| n > 0)?;
        self.spent.map(|spent| spent.relay_cpu / transfers)
    }

    fn median(&self) -> Duration {
        self.median_of_rounds(0, 1)
    }

    /// Median of the transfers in rounds `first`, `first + step`, ...
    fn median_of_rounds(&self, first: usize, step: usize) -> Duration {
        let mut sorted: Vec<Duration> = self
            .walls
            .iter()
            .skip(first)
            .step_by(step)
            .copied()
            .collect();
        sorted.sort_unstable();
        percentile(&sorted, 50)
    }

    /// "1.83 cores busy (relay 0.95), 349 UDP receive-buffer drops".
    fn load(&self) -> String {
        let wall: Duration = self.walls.iter().sum();
        let cores = |cpu: Duration| cpu.as_secs_f64() / wall.as_secs_f64();
        self.spent.map_or_else(
            || "CPU unknown".into(),
            |spent| {
                format!(
                    "{:.2} cores busy (relay threads {:.2}), {} UDP receive-buffer drops",
                    cores(spent.process_cpu),
                    cores(spent.relay_cpu),
                    spent.udp_drops
                )
            },
        )
    }
}

/// CPU time (user + system) of this process and of the relay's threads, and
/// the host's `Udp: RcvbufErrors` (datagrams dropped on a full socket buffer).
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    process_cpu: Duration,
    relay_cpu: Duration,
    udp_drops: u64,
}

impl Counters {
    fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let mut relay_cpu = Duration::ZERO;
        for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let path = task.path();
            let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            if comm.trim_end() == RELAY_THREADS {
                let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
                relay_cpu += cpu_time(&stat).unwrap_or_default();
            }
        }
        let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
        let mut udp = snmp.lines().filter(|l| l.starts_with("Udp: "));
        let (names, values) = (udp.next()?, udp.next()?);
        let column = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
        Some(Self {
            process_cpu: cpu_time(&stat)?,
            relay_cpu,
            udp_drops: values.split_whitespace().nth(column)?.parse().ok()?,
        })
    }

    fn add(self, before: Self, after: Self) -> Self {
        Self {
            process_cpu: self.process_cpu + after.process_cpu.saturating_sub(before.process_cpu),
            relay_cpu: self.relay_cpu + after.relay_cpu.saturating_sub(before.relay_cpu),
            udp_drops: self.udp_drops + after.udp_drops.saturating_sub(before.udp_drops),
        }
    }
}

/// utime + stime from a /proc `stat` line.
fn cpu_time(stat: &str) -> Option<Duration> {
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // /proc reports in USER_HZ, which Linux fixes at 100 for user space.
    Some(Duration::from_millis(ticks * 10))
}

fn text<const MAX: usize>(value: &str) -> Text<MAX> {
    Text::new(value).expect("literal text fits its field")
}

/// A self-signed certificate and the server config that presents it.
fn self_signed_server() -> (quinn::ServerConfig, CertFingerprint) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])
        .expect("generate a self-signed certificate");
    let der = cert.cert.der().clone();
    let pin = CertFingerprint::of(&der);
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let config = server_config(vec![der], key, &ConnectionLimits::default())
        .expect("build the QUIC server config");
    (config, pin)
}

/// A relay in this process, as `assent-relay serve` builds it.
struct Relay {
    addr: SocketAddr,
    pin: CertFingerprint,
    store: Arc<dyn StateStore>,
    outbox: PathBuf,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Relay {
    fn start(runtime: &tokio::runtime::Handle) -> Self {
        let _relay_runtime = runtime.enter();
        let dir = tempfile::tempdir().expect("create a temp dir");
        let data_key = DataKey::generate(&mut OsRng);
        let store: Arc<dyn StateStore> = Arc::new(
            SqliteStore::open(&dir.path().join("relay.db"), &data_key)
                .expect("open the state store"),
        );
        let outbox = dir.path().join("outbox");
        let notifier: Arc<dyn Notifier> = Arc::new(OutboxNotifier::new(outbox.clone()));
        let audit = AuditLog::new(store.clone(), data_key.audit_key());
        let settings = ServerSettings {
            // A handful of connections from one address; raised anyway so the
            // flood detector can never be what a figure measures.
            ids: IdsLimits {
                connections_per_minute: 100_000,
                ..IdsLimits::default()
            },
            shutdown_grace: Duration::from_secs(1),
            ..ServerSettings::default()
        };
        let metrics = Arc::new(RelayMetrics::new());
        let state = RelayState::new(settings, store.clone(), audit, metrics, notifier);
        let (config, pin) = self_signed_server();
        let endpoint =
            server_endpoint("127.0.0.1:0".parse().expect("address"), config).expect("bind relay");
        let server = RelayServer::new(endpoint, state);
        let addr = server.local_addr().expect("relay address");
        let (shutdown, watch) = watch::channel(false);
        let task = runtime.spawn(server.run(watch));
        Self {
            addr,
            pin,
            store,
            outbox,
            shutdown,
            task,
            _dir: dir,
        }
    }
}

/// A host or viewer connection with its signalling stream.
struct Client {
    connection: quinn::Connection,
    send: FramedSend,
    recv: FramedRecv,
    _endpoint: quinn::Endpoint,
}

impl Client {
    async fn connect(relay: &Relay, role: ClientRole) -> (Self, RelayChallenge) {
        let endpoint = client_endpoint("127.0.0.1:0".parse().expect("address")).expect("bind");
        let config = client_config(RelayTrust::Pinned(relay.pin)).expect("client config");
        let connection = connect(&endpoint, relay.addr, "localhost", config)
            .await
            .expect("connect to the relay");
        let (send, recv) = connection.open_bi().await.expect("open signalling stream");
        let (send, recv) = framed(send, recv);
        let mut client = Self {
            connection,
            send,
            recv,
            _endpoint: endpoint,
        };
        let hello = RelayHello {
            role,
            software_version: text("bench"),
        };
        let challenge = match client.request(&hello).await {
            SignallingMessage::RelayChallenge(challenge) => challenge,
            other => panic!("expected RelayChallenge, got {other:?}"),
        };
        (client, challenge)
    }

    async fn request<M: Message>(&mut self, message: &M) -> SignallingMessage {
        self.send.send(message).await.expect("send to the relay");
        let frame = self
            .recv
            .recv()
            .await
            .expect("read from the relay")
            .expect("relay closed the signalling stream");
        SignallingMessage::decode(&frame).expect("decode the relay's answer")
    }
}

/// An enrolled host with an open support request and a logged-in viewer.
struct Session {
    relay: Relay,
    host: Client,
    viewer: Client,
    host_id: HostId,
    open_channel: Vec<u8>,
}

impl Session {
    async fn start(relay_runtime: &tokio::runtime::Handle) -> Self {
        let relay = Relay::start(relay_runtime);
        let (host_key, viewer_key) = (
            assent_proto::test_keys::key("host"),
            assent_proto::test_keys::key("viewer"),
        );

        // The operator's invitation (issue 13), straight into the store.
        let token = EnrolmentToken::generate(InstrumentProfile::Phi, &mut OsRng);
        relay
            .store
            .issue_enrolment_token(&EnrolmentGrant {
                token_hash: token.hash(),
                instrument_model: text("DxFLEX"),
                instrument_id: text("INSTR-0042"),
                serial_number: text("SN-998877"),
                profile: InstrumentProfile::Phi,
                issued_unix_ms: 0,
                expires_unix_ms: u64::MAX / 2,
            })
            .expect("issue the enrolment token");
        let (mut host, challenge) = Client::connect(&relay, ClientRole::Host).await;
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
        enroll.sign(&host_key, &challenge, &mut OsRng);
        let host_id = match host.request(&enroll).await {
            SignallingMessage::EnrollAccepted(accepted) => accepted.host_id,
            other => panic!("enrolment refused: {other:?}"),
        };
        let open = SupportOpen {
            session_id: SESSION,
        };
        match host.request(&open).await {
            SignallingMessage::SupportOpened(_) => {}
            other => panic!("support request refused: {other:?}"),
        }

        relay
            .store
            .put_allowlist_entry(&AllowListEntry {
                viewer: viewer_key.public().clone(),
                name: text("Erin Engineer"),
                email: text(ENGINEER_EMAIL),
                expires_unix: 4_000_000_000,
            })
            .expect("allowlist the viewer");
        let (mut viewer, challenge) = Client::connect(&relay, ClientRole::Viewer).await;
        let mut login = ViewerLogin {
            viewer_key: viewer_key.public().clone(),
            device_id: [9; 16],
            signature: Bytes::default(),
        };
        login.sign(&viewer_key, &challenge, &mut OsRng);
        match viewer.request(&login).await {
            SignallingMessage::LoginAccepted(_) => {}
            SignallingMessage::LocationChallenge(_) => {
                let code = OutboxNotifier::read_latest_code(&relay.outbox, ENGINEER_EMAIL)
                    .expect("read the outbox")
                    .expect("a confirmation code was sent");
                let entered = LocationCode {
                    code: text(code.as_str()),
                };
                match viewer.request(&entered).await {
                    SignallingMessage::LoginAccepted(_) => {}
                    other => panic!("location code refused: {other:?}"),
                }
            }
            other => panic!("viewer login refused: {other:?}"),
        }
        let open_channel = OpenChannel {
            session_id: SESSION,
            channel: ChannelKind::Screen,
        }
        .to_frame()
        .expect("encode OpenChannel");
        let mut session = Self {
            relay,
            host,
            viewer,
            host_id,
            open_channel,
        };
        session.pair().await;
        session
    }

    async fn pair(&mut self) {
        let request = ConnectRequest {
            host_id: self.host_id.clone(),
        };
        match self.viewer.request(&request).await {
            SignallingMessage::Paired(paired) => assert_eq!(paired.session_id, SESSION),
            other => panic!("not paired: {other:?}"),
        }
    }

    /// `payload` host→viewer over a new forwarded channel, as a session opens
    /// its screen channel. The connections (and their congestion windows)
    /// persist across transfers; a fresh stream costs one loopback round
    /// trip, noise next to 8 MiB, and gives each transfer the same windows
    /// as [`Direct::transfer`].
    async fn forward(&self, payload: &[u8]) {
        let (mut to_relay, from_relay) = self.viewer.connection.open_bi().await.expect("open");
        to_relay.write_all(&self.open_channel).await.expect("write");
        to_relay.finish().expect("finish");
        let (host_send, mut host_recv) = self.host.connection.accept_bi().await.expect("accept");
        let opened = host_recv.read_to_end(1024).await.expect("read OpenChannel");
        assert_eq!(opened, self.open_channel);
        let ((), received) = tokio::join!(send_all(host_send, payload), receive_all(from_relay));
        assert_eq!(received, payload.len());
    }

    /// ConnectRequest → Paired → OpenChannel + one byte → the host reads it.
    /// Returns the time that took; closing the channel is not timed.
    async fn pair_to_first_byte(&mut self) -> Duration {
        let start = Instant::now();
        self.pair().await;
        let (mut to_relay, mut from_relay) = self.viewer.connection.open_bi().await.expect("open");
        let mut first = self.open_channel.clone();
        first.push(0x5a);
        to_relay.write_all(&first).await.expect("write");
        let (mut host_send, mut host_recv) =
            self.host.connection.accept_bi().await.expect("accept");
        let mut received = vec![0u8; first.len()];
        host_recv.read_exact(&mut received).await.expect("read");
        let elapsed = start.elapsed();
        assert_eq!(received, first);

        to_relay.finish().expect("finish");
        let rest = host_recv.read_to_end(16).await.expect("read end");
        assert!(rest.is_empty());
        host_send.finish().expect("finish");
        let rest = from_relay.read_to_end(16).await.expect("read end");
        assert!(rest.is_empty());
        elapsed
    }

    async fn stop(self) {
        self.viewer.connection.close(0u32.into(), b"done");
        self.host.connection.close(0u32.into(), b"done");
        let _ = self.relay.shutdown.send(true);
        let _ = self.relay.task.await;
    }
}

/// Two endpoints with the same assent-net transport settings, connected
/// directly: the baseline the relay is compared with.
struct Direct {
    /// Plays the host: accepts the stream and sends.
    server: quinn::Connection,
    /// Plays the viewer: opens the stream and receives.
    client: quinn::Connection,
    endpoints: [quinn::Endpoint; 2],
    open_channel: Vec<u8>,
}

impl Direct {
    async fn start() -> Self {
        let (config, pin) = self_signed_server();
        let server_ep =
            server_endpoint("127.0.0.1:0".parse().expect("address"), config).expect("bind");
        let addr = server_ep.local_addr().expect("address");
        let client_ep = client_endpoint("127.0.0.1:0".parse().expect("address")).expect("bind");
        let config = client_config(RelayTrust::Pinned(pin)).expect("client config");
        let (client, server) =
            tokio::join!(connect(&client_ep, addr, "localhost", config), async {
                server_ep
                    .accept()
                    .await
                    .expect("incoming connection")
                    .await
                    .expect("handshake")
            });
        let open_channel = OpenChannel {
            session_id: SESSION,
            channel: ChannelKind::Screen,
        }
        .to_frame()
        .expect("encode OpenChannel");
        Self {
            server,
            client: client.expect("connect directly"),
            endpoints: [server_ep, client_ep],
            open_channel,
        }
    }

    /// The same exchange as [`Session::forward`], without the relay.
    async fn transfer(&self, payload: &[u8]) {
        let (mut to_server, from_server) = self.client.open_bi().await.expect("open");
        to_server
            .write_all(&self.open_channel)
            .await
            .expect("write");
        to_server.finish().expect("finish");
        let (server_send, mut server_recv) = self.server.accept_bi().await.expect("accept");
        let opened = server_recv.read_to_end(1024).await.expect("read");
        assert_eq!(opened, self.open_channel);
        let ((), received) = tokio::join!(send_all(server_send, payload), receive_all(from_server));
        assert_eq!(received, payload.len());
    }

    fn close(&self) {
        for endpoint in &self.endpoints {
            endpoint.close(0u32.into(), b"done");
        }
    }
}

async fn send_all(mut send: quinn::SendStream, payload: &[u8]) {
    send.write_all(payload).await.expect("send payload");
    send.finish().expect("finish payload");
}

/// Reads to the end without copying; returns the byte count.
async fn receive_all(mut recv: quinn::RecvStream) -> usize {
    let mut total = 0;
    while let Some(chunk) = recv.read_chunk(usize::MAX, true).await.expect("receive") {
        total += chunk.bytes.len();
    }
    total
}
