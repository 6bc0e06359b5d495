//! Pairing latency and memory while one client floods handshakes (issue 13,
//! R14): a relay with its default intrusion and admission settings, fifty
//! host connections and an engineer on 127.0.0.1, and a flooder on the same
//! address starting QUIC handshakes from one socket as fast as two loops
//! can. Figures go to BENCHMARKS.md.
//!
//! The relay (on its own tokio runtime), the fifty host clients and the
//! engineer run in this process over real QUIC, so the memory figure is
//! theirs together; the flooder runs in a child process. Keys: three cached RSA-4096
//! test keys; the fifty hosts log in as them in turn.
//!
//! Run: `cargo bench --bench flood` (under `cargo test --benches` it only
//! says how to run it).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use assent_net::{
    client_config, client_endpoint, connect, framed, server_config, server_endpoint,
    CertFingerprint, ConnectionLimits, FramedRecv, FramedSend, RelayTrust,
};
use assent_proto::allowlist::AllowListEntry;
use assent_proto::identity::Identity;
use assent_proto::instrument::InstrumentProfile;
use assent_proto::messages::signalling::{
    ChannelKind, ClientRole, ConnectRequest, EnrollRequest, EnrolmentToken, FileTransferInstall,
    HostId, HostLogin, LocationCode, OpenChannel, RelayChallenge, RelayHello, SignallingMessage,
    SupportOpen, ViewerLogin,
};
use assent_proto::wire::{Bytes, Message, Text};
use assent_relay::metrics::RelayMetrics;
use assent_relay::notifier::{Notifier, OutboxNotifier};
use assent_relay::server::{AuditLog, RelayServer, RelayState, ServerSettings};
use assent_relay::store::{DataKey, EnrolmentGrant, SqliteStore, StateStore};
use rand_core::OsRng;
use tokio::sync::watch;

const SESSION: [u8; 32] = [7; 32];
const ENGINEER_EMAIL: &str = "erin@support.example";
const HOSTS: usize = 50;
const PAIRINGS: usize = 200;
const NEW_LOGINS: usize = 20;

/// Set in the flooder child: `ADDR PIN` of the relay to flood.
const FLOOD_CHILD: &str = "ASSENT_BENCH_FLOOD_TARGET";

fn main() {
    if let Ok(target) = std::env::var(FLOOD_CHILD) {
        return flood_child(&target);
    }
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("flood: a measurement; run `cargo bench --bench flood`");
        return;
    }
    let relay_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("relay-worker")
        .enable_all()
        .build()
        .expect("relay runtime");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");
    runtime.block_on(measure(relay_runtime.handle()));
}

async fn measure(relay_runtime: &tokio::runtime::Handle) {
    let relay = Relay::start(relay_runtime);
    let keys = ["host", "operator", "release"].map(assent_proto::test_keys::key);
    let mut host_ids = Vec::new();
    let mut hosts = Vec::new();
    for key in &keys {
        let (host, host_id) = enrol(&relay, key).await;
        hosts.push(host);
        host_ids.push(host_id);
    }
    while hosts.len() < HOSTS {
        let i = hosts.len() % keys.len();
        hosts.push(login_host(&relay, &keys[i], &host_ids[i]).await);
    }
    let open = SupportOpen {
        session_id: SESSION,
    };
    assert!(matches!(
        hosts[0].request(&open).await,
        SignallingMessage::SupportOpened(_)
    ));
    let mut viewer = login_viewer(&relay).await;
    let open_channel = OpenChannel {
        session_id: SESSION,
        channel: ChannelKind::Screen,
    }
    .to_frame()
    .expect("OpenChannel");

    let quiet = pairings(&mut viewer, &hosts[0], &host_ids[0], &open_channel).await;
    let quiet_memory = memory();
    // As another host: when a connection of a host ends, the relay closes that
    // host's support request, which the pairings use.
    let quiet_logins = new_logins(&relay, &keys[1], &host_ids[1]).await;

    let flood = Flooder::start(&relay);
    flood.until_refused(1000).await;
    let flood_start = Instant::now();
    let (before_refused, before_accepted) = flood.counts();
    let flooded = pairings(&mut viewer, &hosts[0], &host_ids[0], &open_channel).await;
    let flooded_logins = new_logins(&relay, &keys[1], &host_ids[1]).await;
    let flooded_memory = memory();
    let (refused, accepted) = flood.counts();
    let seconds = flood_start.elapsed().as_secs_f64();
    flood.stop();

    println!("relay defaults; {HOSTS} hosts logged in; everything on 127.0.0.1");
    report("no flood", &quiet, &quiet_logins, quiet_memory);
    report("under flood", &flooded, &flooded_logins, flooded_memory);
    println!(
        "flood while measuring: {:.0} handshake attempts/s from one socket, {:.0} refused/s, {:.1} accepted/s; relay throttled {} in all",
        ((refused - before_refused) + (accepted - before_accepted)) as f64 / seconds,
        (refused - before_refused) as f64 / seconds,
        (accepted - before_accepted) as f64 / seconds,
        relay.metrics.snapshot().connections_throttled_total,
    );
    for host in &mut hosts {
        let query = assent_proto::messages::signalling::NotificationSeqQuery {};
        assert!(matches!(
            host.request(&query).await,
            SignallingMessage::NotificationSeq(_)
        ));
    }
    println!("all {HOSTS} hosts still served after the flood");
}

fn report(label: &str, pairings: &[Duration], logins: &[Duration], (rss, peak): (u64, u64)) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{label}: pairing ConnectRequest -> first byte at host ({} samples) p50 {:.2} ms, p99 {:.2} ms; \
         new host connect+login ({} samples) p50 {:.1} ms, max {:.1} ms; process RSS {:.1} MiB (peak {:.1} MiB)",
        pairings.len(),
        ms(percentile(pairings, 50)),
        ms(percentile(pairings, 99)),
        logins.len(),
        ms(percentile(logins, 50)),
        ms(percentile(logins, 100)),
        rss as f64 / 1048576.0,
        peak as f64 / 1048576.0,
    );
}

async fn pairings(
    viewer: &mut Client,
    host: &Client,
    host_id: &HostId,
    open_channel: &[u8],
) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(PAIRINGS);
    for _ in 0..PAIRINGS {
        let start = Instant::now();
        let request = ConnectRequest {
            host_id: host_id.clone(),
        };
        assert!(matches!(
            viewer.request(&request).await,
            SignallingMessage::Paired(_)
        ));
        let (mut to_relay, mut from_relay) = viewer.connection.open_bi().await.expect("open");
        let mut first = open_channel.to_vec();
        first.push(0x5a);
        to_relay.write_all(&first).await.expect("write");
        let (mut host_send, mut host_recv) = host.connection.accept_bi().await.expect("accept");
        let mut received = vec![0u8; first.len()];
        host_recv.read_exact(&mut received).await.expect("read");
        samples.push(start.elapsed());
        to_relay.finish().expect("finish");
        host_recv.read_to_end(16).await.expect("read end");
        host_send.finish().expect("finish");
        from_relay.read_to_end(16).await.expect("read end");
    }
    samples.sort_unstable();
    samples
}

async fn new_logins(relay: &Relay, key: &Identity, host_id: &HostId) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(NEW_LOGINS);
    for _ in 0..NEW_LOGINS {
        let start = Instant::now();
        let host = login_host(relay, key, host_id).await;
        samples.push(start.elapsed());
        host.connection.close(0u32.into(), b"done");
    }
    samples.sort_unstable();
    samples
}

fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    let rank = (sorted.len() * pct).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// VmRSS and VmHWM of this process, in bytes.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The flooder runs in a child process (this binary again), so the memory
/// figure is the relay's and its legitimate clients', not the flooder's.
struct Flooder {
    child: std::process::Child,
    refused: Arc<AtomicU64>,
    accepted: Arc<AtomicU64>,
}

impl Flooder {
    fn start(relay: &Relay) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new(std::env::current_exe().expect("own path"))
            .env(FLOOD_CHILD, format!("{} {}", relay.addr, relay.pin))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the flooder");
        let stdout = child.stdout.take().expect("piped stdout");
        let (refused, accepted) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (r, a) = (refused.clone(), accepted.clone());
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let mut counts = line.split(' ').filter_map(|n| n.parse::<u64>().ok());
                if let (Some(refused), Some(accepted)) = (counts.next(), counts.next()) {
                    r.store(refused, Ordering::Relaxed);
                    a.store(accepted, Ordering::Relaxed);
                }
            }
        });
        Self {
            child,
            refused,
            accepted,
        }
    }

    /// Waits (polling the child's reports; a measurement, not a test)
    /// until the relay has refused `n` attempts.
    async fn until_refused(&self, n: u64) {
        while self.refused.load(Ordering::Relaxed) < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn counts(&self) -> (u64, u64) {
        (
            self.refused.load(Ordering::Relaxed),
            self.accepted.load(Ordering::Relaxed),
        )
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child: one socket, two loops of handshakes as fast as they go; each
/// accepted connection is dropped at once. Prints "refused accepted" counts.
fn flood_child(target: &str) {
    let (addr, pin) = target.split_once(' ').expect("ADDR PIN");
    let addr: SocketAddr = addr.parse().expect("address");
    let pin: CertFingerprint = pin.parse().expect("pin");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("flooder runtime");
    runtime.block_on(async move {
        let endpoint = client_endpoint("127.0.0.1:0".parse().expect("address")).expect("bind");
        let config = client_config(RelayTrust::Pinned(pin)).expect("client config");
        let (refused, accepted) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        for _ in 0..2 {
            let (endpoint, config) = (endpoint.clone(), config.clone());
            let (refused, accepted) = (refused.clone(), accepted.clone());
            tokio::spawn(async move {
                loop {
                    match connect(&endpoint, addr, "localhost", config.clone()).await {
                        Ok(c) => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                            c.close(0u32.into(), b"flood");
                        }
                        Err(_) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            println!(
                "{} {}",
                refused.load(Ordering::Relaxed),
                accepted.load(Ordering::Relaxed)
            );
        }
    });
}

struct Relay {
    addr: SocketAddr,
    pin: CertFingerprint,
    store: Arc<dyn StateStore>,
    outbox: PathBuf,
    metrics: Arc<RelayMetrics>,
    _shutdown: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Relay {
    fn start(runtime: &tokio::runtime::Handle) -> Self {
        let _entered = runtime.enter();
        let dir = tempfile::tempdir().expect("temp dir");
        let data_key = DataKey::generate(&mut OsRng);
        let store: Arc<dyn StateStore> = Arc::new(
            SqliteStore::open(&dir.path().join("relay.db"), &data_key).expect("state store"),
        );
        let outbox = dir.path().join("outbox");
        let notifier: Arc<dyn Notifier> = Arc::new(OutboxNotifier::new(outbox.clone()));
        let audit = AuditLog::new(store.clone(), data_key.audit_key());
        let metrics = Arc::new(RelayMetrics::new());
        let state = RelayState::new(
            ServerSettings::default(),
            store.clone(),
            audit,
            metrics.clone(),
            notifier,
        );
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let der = cert.cert.der().clone();
        let pin = CertFingerprint::of(&der);
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let config = server_config(vec![der], key, &ConnectionLimits::default()).expect("config");
        let endpoint =
            server_endpoint("127.0.0.1:0".parse().expect("address"), config).expect("bind relay");
        let server = RelayServer::new(endpoint, state);
        let addr = server.local_addr().expect("relay address");
        let (shutdown, watch) = watch::channel(false);
        runtime.spawn(server.run(watch));
        Self {
            addr,
            pin,
            store,
            outbox,
            metrics,
            _shutdown: shutdown,
            _dir: dir,
        }
    }
}

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
            .expect("connect to the relay under flood");
        let (send, recv) = connection.open_bi().await.expect("signalling stream");
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
        match client.request(&hello).await {
            SignallingMessage::RelayChallenge(challenge) => (client, challenge),
            other => panic!("expected RelayChallenge, got {other:?}"),
        }
    }

    async fn request<M: Message>(&mut self, message: &M) -> SignallingMessage {
        self.send.send(message).await.expect("send");
        let frame = self.recv.recv().await.expect("read").expect("stream open");
        SignallingMessage::decode(&frame).expect("decode")
    }
}

async fn enrol(relay: &Relay, key: &Identity) -> (Client, HostId) {
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
    let (mut host, challenge) = Client::connect(relay, ClientRole::Host).await;
    let mut enroll = EnrollRequest {
        registrant_email: text("tech.person@lab.example"),
        registrant_name: text("Tess Technician"),
        instrument_model: text("DxFLEX"),
        instrument_id: text("INSTR-0042"),
        serial_number: text("SN-998877"),
        host_key: key.public().clone(),
        file_transfer: FileTransferInstall::CompiledOut,
        enrolment_token: Some(token),
        signature: Bytes::default(),
    };
    enroll.sign(key, &challenge, &mut OsRng);
    match host.request(&enroll).await {
        SignallingMessage::EnrollAccepted(accepted) => (host, accepted.host_id),
        other => panic!("enrolment refused: {other:?}"),
    }
}

async fn login_host(relay: &Relay, key: &Identity, host_id: &HostId) -> Client {
    let (mut host, challenge) = Client::connect(relay, ClientRole::Host).await;
    let mut login = HostLogin {
        host_id: host_id.clone(),
        signature: Bytes::default(),
    };
    login.sign(key, &challenge, &mut OsRng);
    match host.request(&login).await {
        SignallingMessage::LoginAccepted(_) => host,
        other => panic!("host login refused: {other:?}"),
    }
}

async fn login_viewer(relay: &Relay) -> Client {
    let key = assent_proto::test_keys::key("viewer");
    relay
        .store
        .put_allowlist_entry(&AllowListEntry {
            viewer: key.public().clone(),
            name: text("Erin Engineer"),
            email: text(ENGINEER_EMAIL),
            expires_unix: 4_000_000_000,
        })
        .expect("allowlist");
    let (mut viewer, challenge) = Client::connect(relay, ClientRole::Viewer).await;
    let mut login = ViewerLogin {
        viewer_key: key.public().clone(),
        device_id: [9; 16],
        signature: Bytes::default(),
    };
    login.sign(&key, &challenge, &mut OsRng);
    match viewer.request(&login).await {
        SignallingMessage::LoginAccepted(_) => viewer,
        SignallingMessage::LocationChallenge(_) => {
            let code = OutboxNotifier::read_latest_code(&relay.outbox, ENGINEER_EMAIL)
                .expect("outbox")
                .expect("code sent");
            match viewer
                .request(&LocationCode {
                    code: text(code.as_str()),
                })
                .await
            {
                SignallingMessage::LoginAccepted(_) => viewer,
                other => panic!("location code refused: {other:?}"),
            }
        }
        other => panic!("viewer login refused: {other:?}"),
    }
}

fn text<const MAX: usize>(value: &str) -> Text<MAX> {
    Text::new(value).expect("short text")
}
