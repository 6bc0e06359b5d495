//! A real relay on loopback (QUIC, SQLite in a temp dir, outbox notifier)
//! and minimal host and viewer clients that speak the signalling protocol.

#![allow(dead_code)] // each test binary uses a different part

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use assent_net::{
    client_config, client_endpoint, connect, framed, server_config, server_endpoint,
    CertFingerprint, ConnectionLimits, FramedRecv, FramedSend, RelayTrust,
};
use assent_proto::allowlist::AllowListEntry;
use assent_proto::identity::Identity;
use assent_proto::instrument::{default_profile, InstrumentProfile};
use assent_proto::lockout::LockoutPolicy;
use assent_proto::messages::signalling::{
    ClientRole, EnrollAccepted, EnrollRequest, EnrolmentToken, FileTransferInstall, HostLogin,
    RelayChallenge, RelayHello, SignallingMessage, ViewerLogin,
};
use assent_proto::wire::{Bytes, Frame, Message, Text};
use assent_relay::metrics::RelayMetrics;
use assent_relay::notifier::{Notifier, OutboxNotifier};
use assent_relay::server::{AuditLog, RelayServer, RelayState, ServerSettings};
use assent_relay::store::{DataKey, EnrolmentGrant, NotificationLimits, SqliteStore, StateStore};
use rand_core::OsRng;
use tokio::sync::watch;

/// Bounds every test: a hang is a failure, not a stuck CI.
pub async fn bounded<T>(body: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), body)
        .await
        .expect("test took longer than 60 s")
}

/// The shared, cached RSA-4096 test keys (see `assent_proto::test_keys`).
pub fn key(name: &str) -> Arc<Identity> {
    assent_proto::test_keys::key(name)
}

pub struct TestRelay {
    pub addr: SocketAddr,
    pub pin: CertFingerprint,
    pub store: Arc<dyn StateStore>,
    pub data_key: DataKey,
    /// The same key as bytes, for a second store on the same file (as the
    /// admin CLI, another process, opens it).
    pub data_key_bytes: [u8; 32],
    pub outbox: PathBuf,
    pub metrics: Arc<RelayMetrics>,
    pub db_path: PathBuf,
    pub state: Arc<RelayState>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl TestRelay {
    pub async fn start() -> Self {
        Self::start_with(ServerSettings {
            lockout: LockoutPolicy {
                base_wait: Duration::from_secs(5),
                max_wait: Duration::from_secs(60),
                burn_after: 6,
            },
            ..ServerSettings::default()
        })
        .await
    }

    pub async fn start_with(settings: ServerSettings) -> Self {
        Self::start_with_limits(settings, NotificationLimits::default()).await
    }

    /// A relay whose store keeps at most these notifications per host.
    pub async fn start_with_limits(settings: ServerSettings, limits: NotificationLimits) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut data_key_bytes = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut OsRng, &mut data_key_bytes);
        let data_key = DataKey::from_bytes(data_key_bytes);
        let db_path = dir.path().join("relay.db");
        let store: Arc<dyn StateStore> = Arc::new(
            SqliteStore::open(&db_path, &data_key)
                .unwrap()
                .with_notification_limits(limits),
        );
        let outbox = dir.path().join("outbox");
        let notifier: Arc<dyn Notifier> = Arc::new(OutboxNotifier::new(outbox.clone()));
        let metrics = Arc::new(RelayMetrics::new());
        let audit = AuditLog::new(store.clone(), data_key.audit_key());
        let state = RelayState::new(settings, store.clone(), audit, metrics.clone(), notifier);

        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert_der = cert.cert.der().clone();
        let pin = CertFingerprint::of(&cert_der);
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let config = server_config(vec![cert_der], key, &ConnectionLimits::default()).unwrap();
        let endpoint = server_endpoint("127.0.0.1:0".parse().unwrap(), config).unwrap();
        let server = RelayServer::new(endpoint, state.clone());
        let addr = server.local_addr().unwrap();
        let (shutdown, watch) = watch::channel(false);
        let task = tokio::spawn(server.run(watch));
        Self {
            addr,
            pin,
            store,
            data_key,
            data_key_bytes,
            outbox,
            metrics,
            db_path,
            state,
            shutdown,
            task,
            _dir: dir,
        }
    }

    pub fn allow(&self, viewer: &Identity, name: &str, email: &str) {
        self.store
            .put_allowlist_entry(&AllowListEntry {
                viewer: viewer.public().clone(),
                name: Text::new(name).unwrap(),
                email: Text::new(email).unwrap(),
                expires_unix: 4_000_000_000,
            })
            .unwrap();
    }

    pub fn outbox(&self) -> &Path {
        &self.outbox
    }

    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// A client connection with its signalling stream.
pub struct Client {
    pub connection: quinn::Connection,
    pub send: FramedSend,
    pub recv: FramedRecv,
    _endpoint: quinn::Endpoint,
}

/// Where a relay listens and the certificate pin to reach it.
#[derive(Debug, Clone, Copy)]
pub struct RelayAddress {
    pub addr: SocketAddr,
    pub pin: CertFingerprint,
}

impl TestRelay {
    pub fn address(&self) -> RelayAddress {
        RelayAddress {
            addr: self.addr,
            pin: self.pin,
        }
    }
}

impl Client {
    pub async fn connect(relay: &TestRelay, role: ClientRole) -> (Self, RelayChallenge) {
        Self::connect_to(&relay.address(), role).await
    }

    pub async fn connect_to(relay: &RelayAddress, role: ClientRole) -> (Self, RelayChallenge) {
        let endpoint = client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
        let config = client_config(RelayTrust::Pinned(relay.pin)).unwrap();
        let connection = connect(&endpoint, relay.addr, "localhost", config)
            .await
            .unwrap();
        let (send, recv) = connection.open_bi().await.unwrap();
        let (mut send, mut recv) = framed(send, recv);
        send.send(&RelayHello {
            role,
            software_version: Text::new("test").unwrap(),
        })
        .await
        .unwrap();
        let challenge: RelayChallenge = recv.recv().await.unwrap().unwrap().decode().unwrap();
        (
            Self {
                connection,
                send,
                recv,
                _endpoint: endpoint,
            },
            challenge,
        )
    }

    pub async fn send<M: Message>(&mut self, message: &M) {
        self.send.send(message).await.unwrap();
    }

    pub async fn recv(&mut self) -> SignallingMessage {
        let frame: Frame = self
            .recv
            .recv()
            .await
            .unwrap()
            .expect("relay closed the stream");
        SignallingMessage::decode(&frame).unwrap()
    }
}

/// The instrument ID and serial every test host registers.
pub const INSTRUMENT_ID: &str = "INSTR-0042";
pub const SERIAL: &str = "SN-998877";

/// An unused token for `model` with the test instrument ID and serial, in
/// `store`, with the profile the model gets by default, valid for an hour.
pub fn issue_token_in(store: &dyn StateStore, model: &str) -> EnrolmentToken {
    issue_token_for(
        store,
        model,
        INSTRUMENT_ID,
        SERIAL,
        default_profile(model),
        3_600_000,
    )
}

/// An unused token bound to exactly these details, valid for `valid_ms` from now.
pub fn issue_token_for(
    store: &dyn StateStore,
    model: &str,
    instrument_id: &str,
    serial: &str,
    profile: InstrumentProfile,
    valid_ms: u64,
) -> EnrolmentToken {
    let token = EnrolmentToken::generate(profile, &mut OsRng);
    let now = now_unix_ms();
    store
        .issue_enrolment_token(&EnrolmentGrant {
            token_hash: token.hash(),
            instrument_model: Text::new(model).unwrap(),
            instrument_id: Text::new(instrument_id).unwrap(),
            serial_number: Text::new(serial).unwrap(),
            profile,
            issued_unix_ms: now,
            expires_unix_ms: now + valid_ms,
        })
        .unwrap();
    token
}

pub fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

impl TestRelay {
    /// An unused token for `model` (see [`issue_token_in`]).
    pub fn issue_token(&self, model: &str) -> EnrolmentToken {
        issue_token_in(self.store.as_ref(), model)
    }
}

/// The test host's `EnrollRequest` for `model`, signed over `challenge`.
pub fn enroll_request(
    host: &Identity,
    challenge: &RelayChallenge,
    model: &str,
    token: Option<EnrolmentToken>,
) -> EnrollRequest {
    let mut request = EnrollRequest {
        registrant_email: Text::new("tech.person@lab.example").unwrap(),
        registrant_name: Text::new("Tess Technician").unwrap(),
        instrument_model: Text::new(model).unwrap(),
        instrument_id: Text::new(INSTRUMENT_ID).unwrap(),
        serial_number: Text::new(SERIAL).unwrap(),
        host_key: host.public().clone(),
        file_transfer: FileTransferInstall::CompiledOut,
        enrolment_token: token,
        signature: Bytes::default(),
    };
    request.sign(host, challenge, &mut OsRng);
    request
}

/// Enrols `host` with a fresh token and returns the logged-in client and its host ID.
pub async fn enrolled_host(relay: &TestRelay, host: &Identity, model: &str) -> (Client, String) {
    let token = relay.issue_token(model);
    enrolled_host_at(&relay.address(), host, model, token).await
}

pub async fn enrolled_host_at(
    relay: &RelayAddress,
    host: &Identity,
    model: &str,
    token: EnrolmentToken,
) -> (Client, String) {
    let (mut client, challenge) = Client::connect_to(relay, ClientRole::Host).await;
    client
        .send(&enroll_request(host, &challenge, model, Some(token)))
        .await;
    match client.recv().await {
        SignallingMessage::EnrollAccepted(EnrollAccepted { host_id }) => {
            (client, host_id.to_string())
        }
        other => panic!("enrolment refused: {other:?}"),
    }
}

/// Logs in an already enrolled host.
pub async fn logged_in_host(relay: &TestRelay, host: &Identity, host_id: &str) -> Client {
    let (mut client, challenge) = Client::connect(relay, ClientRole::Host).await;
    let mut login = HostLogin {
        host_id: Text::new(host_id).unwrap(),
        signature: Bytes::default(),
    };
    login.sign(host, &challenge, &mut OsRng);
    client.send(&login).await;
    match client.recv().await {
        SignallingMessage::LoginAccepted(_) => client,
        other => panic!("host login refused: {other:?}"),
    }
}

/// Sends `ViewerLogin` and returns the first answer (LoginAccepted,
/// LocationChallenge or RelayError).
pub async fn viewer_login(
    relay: &TestRelay,
    viewer: &Identity,
    device_id: [u8; 16],
) -> (Client, SignallingMessage) {
    let (mut client, challenge) = Client::connect(relay, ClientRole::Viewer).await;
    let mut login = ViewerLogin {
        viewer_key: viewer.public().clone(),
        device_id,
        signature: Bytes::default(),
    };
    login.sign(viewer, &challenge, &mut OsRng);
    client.send(&login).await;
    let answer = client.recv().await;
    (client, answer)
}

/// Logs a viewer in, confirming a new location through the outbox.
pub async fn logged_in_viewer(relay: &TestRelay, viewer: &Identity, email: &str) -> Client {
    let (mut client, answer) = viewer_login(relay, viewer, [9; 16]).await;
    match answer {
        SignallingMessage::LoginAccepted(_) => client,
        SignallingMessage::LocationChallenge(_) => {
            let code = OutboxNotifier::read_latest_code(relay.outbox(), email)
                .unwrap()
                .expect("a code was sent");
            client
                .send(&assent_proto::messages::signalling::LocationCode {
                    code: Text::new(code.as_str()).unwrap(),
                })
                .await;
            match client.recv().await {
                SignallingMessage::LoginAccepted(_) => client,
                other => panic!("location code refused: {other:?}"),
            }
        }
        other => panic!("viewer login refused: {other:?}"),
    }
}

/// The real `assent-relay` binary serving a fresh data directory on loopback.
pub struct RelayProcess {
    pub child: std::process::Child,
    pub address: RelayAddress,
    pub data_dir: PathBuf,
}

impl RelayProcess {
    /// A token for `model` and the test instrument, issued the operator's
    /// way: `assent-relay enrolment issue` on the relay's data directory.
    pub fn issue_token(&self, model: &str) -> EnrolmentToken {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_assent-relay"))
            .args(["enrolment", "issue", "--model", model])
            .args(["--instrument-id", INSTRUMENT_ID, "--serial", SERIAL])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env_remove("ASSENT_RELAY_DATA_KEY")
            .output()
            .expect("run assent-relay enrolment issue");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "enrolment issue failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = stdout
            .lines()
            .find_map(|l| l.strip_prefix("enrolment token: "))
            .expect("enrolment issue printed the token");
        EnrolmentToken::parse(text).expect("printed token parses")
    }

    /// Starts `assent-relay serve` and reads its pin and address from stdout.
    pub fn spawn(data_dir: &Path) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_assent-relay"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .env_remove("ASSENT_RELAY_DATA_KEY")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start assent-relay");
        let stdout = child.stdout.take().expect("piped stdout");
        let (mut pin, mut addr) = (None, None);
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("relay stdout");
            if let Some(fp) = line.strip_prefix("relay certificate fingerprint: ") {
                pin = Some(fp.parse::<CertFingerprint>().expect("fingerprint parses"));
            }
            if let Some(a) = line.strip_prefix("listening on ") {
                addr = Some(a.parse().expect("address parses"));
                break;
            }
        }
        Self {
            child,
            data_dir: data_dir.to_path_buf(),
            address: RelayAddress {
                addr: addr.expect("relay printed its address"),
                pin: pin.expect("relay printed its certificate fingerprint"),
            },
        }
    }
}
