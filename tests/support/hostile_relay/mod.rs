//! A hostile relay for the malicious-relay suite (R21, issue 12): a QUIC
//! man-in-the-middle that holds the lab relay's own certificate and key, so
//! the host and the viewer, which pin that certificate, take it for the
//! relay. For each client it opens its own connection to the real
//! `assent-relay` and forwards every stream frame by frame (read with the
//! project's own codec), honestly unless a [`Tamper`] rule says otherwise,
//! and it can open channels of its own to the host ([`HostileRelay::open_duplicates`]).
//! Everything it forwards goes into a [`Ledger`] for the checks each test
//! ends with. Assent sends no QUIC datagrams (every endpoint refuses them),
//! so streams are all there is to forward.

pub mod ledger;
mod pipe;
pub mod tamper;

use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use assent_net::{CertFingerprint, ConnectionLimits, RelayTrust};
use assent_proto::handshake::Direction;
use assent_proto::messages::signalling::{ChannelKind, ClientRole, OpenChannel};
use assent_proto::wire::{Frame, FrameDecoder, Message, MessageType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use ledger::{Ledger, RecordId};
use tamper::Tamper;

use super::lab::{Lab, WAIT};
use pipe::{ConnectionTag, Pipe, StreamTag};

pub struct HostileRelay {
    /// Where host and viewer should look for the relay.
    pub addr: String,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// State the connection tasks share with the test.
pub(crate) struct Shared {
    relay: SocketAddr,
    pin: CertFingerprint,
    pub(crate) ledger: Ledger,
    rules: Mutex<Vec<Tamper>>,
    fired: (Mutex<Vec<&'static str>>, Condvar),
    /// The proxy's connection from the host, once it said it is one.
    connections: Mutex<Vec<(Arc<ConnectionTag>, quinn::Connection)>>,
    /// Records the viewer sealed towards the host, in order, for replay.
    recorded: Mutex<Vec<(OpenChannel, Vec<u8>)>>,
    /// Every signed allowlist the relay served to a host, in order.
    allowlists: Mutex<Vec<Frame>>,
}

impl Shared {
    /// The first rule that acts on `frame` at `at`, taken (each acts once).
    fn take_rule(&self, frame: &Frame, at: &tamper::At) -> Option<Tamper> {
        let mut rules = self.rules.lock().unwrap();
        let i = rules.iter().position(|r| r.applies(frame, at))?;
        Some(rules.remove(i))
    }

    fn fired(&self, name: &'static str) {
        let (fired, changed) = &self.fired;
        fired.lock().unwrap().push(name);
        changed.notify_all();
    }

    fn record(&self, open: &OpenChannel, frame: &[u8]) {
        self.recorded
            .lock()
            .unwrap()
            .push((open.clone(), frame.to_vec()));
    }
}

/// What the host did with a channel the hostile relay opened itself.
#[derive(Debug)]
pub struct Duplicate {
    pub channel: ChannelKind,
    /// Recorded records replayed on it.
    pub replayed: usize,
    /// The host ended it (within 60 s, without serving a frame).
    pub ended: bool,
    /// Frames the host sent on it.
    pub served: Vec<MessageType>,
}

impl HostileRelay {
    /// Starts in front of `lab`'s relay, with its certificate and key.
    pub fn start(lab: &Lab) -> HostileRelay {
        let chain = CertificateDer::pem_file_iter(lab.relay_dir().join("relay-cert.pem"))
            .expect("the lab relay's certificate")
            .collect::<Result<Vec<_>, _>>()
            .expect("PEM certificates");
        let key = PrivateKeyDer::from_pem_file(lab.relay_dir().join("relay-key.pem"))
            .expect("the lab relay's private key");
        let shared = Arc::new(Shared {
            relay: lab
                .relay_addr
                .parse()
                .expect("the relay listens on an address"),
            pin: lab.relay_pin.parse().expect("the relay pin"),
            ledger: Ledger::default(),
            rules: Mutex::new(Vec::new()),
            fired: (Mutex::new(Vec::new()), Condvar::new()),
            connections: Mutex::new(Vec::new()),
            recorded: Mutex::new(Vec::new()),
            allowlists: Mutex::new(Vec::new()),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let endpoint = runtime.block_on(async {
            let config = assent_net::server_config(chain, key, &ConnectionLimits::default())
                .expect("a server config with the relay's certificate");
            assent_net::server_endpoint("127.0.0.1:0".parse().unwrap(), config).unwrap()
        });
        let addr = endpoint.local_addr().unwrap().to_string();
        runtime.spawn(accept(endpoint, shared.clone()));
        HostileRelay {
            addr,
            shared,
            runtime: Some(runtime),
        }
    }

    /// Adds an attack; it acts once, on the first frame it matches.
    pub fn tamper(&self, rule: Tamper) {
        self.shared.rules.lock().unwrap().push(rule);
    }

    /// Waits until `count` rules named `name` ([`Tamper::name`]) have acted.
    pub fn wait_fired(&self, name: &str, count: usize) {
        let (fired, changed) = &self.shared.fired;
        let deadline = Instant::now() + WAIT;
        let mut guard = fired.lock().unwrap();
        while guard.iter().filter(|n| **n == name).count() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the hostile relay never did {name:?}");
            guard = changed.wait_timeout(guard, left).unwrap().0;
        }
    }

    /// The `AllowListDocument` frames the relay served to hosts so far
    /// (to serve an older one later with [`Tamper::ReplaceAllowList`]).
    pub fn allowlists_served(&self) -> Vec<Frame> {
        self.shared.allowlists.lock().unwrap().clone()
    }

    pub fn ledger(&self) -> &Ledger {
        &self.shared.ledger
    }

    /// Opens one more channel of each of `kinds` to the host, in the
    /// session the host's channels belong to, replays on it every record
    /// the viewer sealed on the real one, and waits for the host to end it.
    pub fn open_duplicates(&self, kinds: &[ChannelKind]) -> Vec<Duplicate> {
        let host = self.host_connection();
        let recorded = self.shared.recorded.lock().unwrap().clone();
        let session_id = recorded
            .first()
            .map(|(open, _)| open.session_id)
            .expect("the viewer sealed something to replay");
        let runtime = self.runtime.as_ref().unwrap();
        let tasks: Vec<_> = kinds
            .iter()
            .map(|&channel| {
                let replay: Vec<Vec<u8>> = recorded
                    .iter()
                    .filter(|(open, _)| open.channel == channel)
                    .map(|(_, frame)| frame.clone())
                    .collect();
                let open = OpenChannel {
                    session_id,
                    channel,
                };
                runtime.spawn(duplicate(host.clone(), open, replay, self.shared.clone()))
            })
            .collect();
        runtime.block_on(async {
            let mut outcomes = Vec::new();
            for task in tasks {
                outcomes.push(task.await.unwrap());
            }
            outcomes
        })
    }

    fn host_connection(&self) -> quinn::Connection {
        let connections = self.shared.connections.lock().unwrap();
        connections
            .iter()
            .rev()
            .find(|(tag, _)| tag.role.get() == Some(&ClientRole::Host))
            .map(|(_, c)| c.clone())
            .expect("the host is connected through the hostile relay")
    }
}

impl Drop for HostileRelay {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn accept(endpoint: quinn::Endpoint, shared: Arc<Shared>) {
    let upstream = assent_net::client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
    while let Some(incoming) = endpoint.accept().await {
        let (shared, upstream) = (shared.clone(), upstream.clone());
        tokio::spawn(async move {
            let Ok(down) = incoming.await else { return };
            let config = assent_net::client_config(RelayTrust::Pinned(shared.pin)).unwrap();
            let up = match assent_net::connect(&upstream, shared.relay, "localhost", config).await {
                Ok(up) => up,
                Err(e) => {
                    down.close(1u32.into(), e.to_string().as_bytes());
                    return;
                }
            };
            splice_connection(down, up, shared).await;
        });
    }
}

/// Forwards every stream each side opens, both ways, until one side closes;
/// then closes the other the same way.
async fn splice_connection(down: quinn::Connection, up: quinn::Connection, shared: Arc<Shared>) {
    let tag = Arc::new(ConnectionTag {
        role: Default::default(),
    });
    shared
        .connections
        .lock()
        .unwrap()
        .push((tag.clone(), down.clone()));
    let (from_down, from_up) = (PipeTasks::default(), PipeTasks::default());
    let accept_from_client = tokio::spawn(streams(
        Side::new(&down, &from_down),
        Side::new(&up, &from_up),
        true,
        tag.clone(),
        shared.clone(),
    ));
    let accept_from_relay = tokio::spawn(streams(
        Side::new(&up, &from_up),
        Side::new(&down, &from_down),
        false,
        tag,
        shared,
    ));
    let (closed, other, drained) = tokio::select! {
        e = down.closed() => (e, &up, &from_down),
        e = up.closed() => (e, &down, &from_up),
    };
    accept_from_client.abort();
    accept_from_relay.abort();
    // A side that wrote its last frame, finished and closed must still have
    // that frame delivered (a viewer's HandshakeAbort): let what was read
    // from it reach the other side before that is closed too.
    drained.wait(DRAIN).await;
    match closed {
        quinn::ConnectionError::ApplicationClosed(close) => {
            other.close(close.error_code, &close.reason)
        }
        e => other.close(0u32.into(), e.to_string().as_bytes()),
    }
}

/// How long a closing side's last frames may take to reach the other side.
const DRAIN: Duration = Duration::from_secs(3);

/// The pipes that read from one side of a spliced connection.
#[derive(Default, Clone)]
struct PipeTasks(Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>);

impl PipeTasks {
    fn spawn(&self, pipe: Pipe) {
        let mut tasks = self.0.lock().unwrap();
        tasks.retain(|task| !task.is_finished());
        tasks.push(tokio::spawn(pipe.run()));
    }

    /// Until every pipe has forwarded what it read and ended, or `limit`.
    async fn wait(&self, limit: Duration) {
        let tasks = std::mem::take(&mut *self.0.lock().unwrap());
        let _ = tokio::time::timeout(limit, async {
            for task in tasks {
                let _ = task.await;
            }
        })
        .await;
    }
}

/// One connection of a splice and the pipes reading from it.
struct Side {
    connection: quinn::Connection,
    pipes: PipeTasks,
}

impl Side {
    fn new(connection: &quinn::Connection, pipes: &PipeTasks) -> Side {
        Side {
            connection: connection.clone(),
            pipes: pipes.clone(),
        }
    }
}

/// Each stream `opener` opens is opened on `peer` too and piped both ways.
/// `client_opens`: the opener is the host or viewer (not the relay).
async fn streams(
    opener: Side,
    peer: Side,
    client_opens: bool,
    connection: Arc<ConnectionTag>,
    shared: Arc<Shared>,
) {
    while let Ok((opener_send, opener_recv)) = opener.connection.accept_bi().await {
        let Ok((peer_send, peer_recv)) = peer.connection.open_bi().await else {
            return;
        };
        let stream = Arc::new(StreamTag::default());
        let (client_send, client_recv, relay_send, relay_recv) = if client_opens {
            (opener_send, opener_recv, peer_send, peer_recv)
        } else {
            (peer_send, peer_recv, opener_send, opener_recv)
        };
        let pipe = |from, to, from_sender| Pipe {
            from,
            to,
            from_sender,
            connection: connection.clone(),
            stream: stream.clone(),
            shared: shared.clone(),
            place: "forwarded",
        };
        // The opener's half first: its first frame names the stream.
        let (first, second) = if client_opens {
            (
                pipe(client_recv, relay_send, true),
                pipe(relay_recv, client_send, false),
            )
        } else {
            (
                pipe(relay_recv, client_send, false),
                pipe(client_recv, relay_send, true),
            )
        };
        opener.pipes.spawn(first);
        peer.pipes.spawn(second);
    }
}

/// One channel the hostile relay opens to the host itself.
async fn duplicate(
    host: quinn::Connection,
    open: OpenChannel,
    replay: Vec<Vec<u8>>,
    shared: Arc<Shared>,
) -> Duplicate {
    let (mut send, mut recv) = host.open_bi().await.expect("a stream to the host");
    send.write_all(&open.to_frame().unwrap()).await.unwrap();
    let mut replayed = 0;
    for frame in &replay {
        // The host may refuse before the replay ends: that is the point.
        if send.write_all(frame).await.is_err() {
            break;
        }
        replayed += 1;
    }
    let ledger_stream = shared.ledger.new_stream();
    let mut decoder = FrameDecoder::new();
    let mut served = Vec::new();
    // Until the host ends it (a refusal) or serves a frame on it.
    let read = async {
        while let Ok(Some(chunk)) = recv.read_chunk(64 * 1024, true).await {
            shared.ledger.bytes(ledger_stream, &chunk.bytes);
            let mut input = &chunk.bytes[..];
            while let Ok(Some(frame)) = decoder.decode(&mut input) {
                if frame.message_type == MessageType::SealedRecord {
                    if let Some(seq) = frame.payload.get(..8) {
                        let id = RecordId {
                            session_id: open.session_id,
                            channel: open.channel as u8,
                            direction: Direction::HostToViewer,
                            seq: u64::from_be_bytes(seq.try_into().unwrap()),
                        };
                        shared.ledger.sealed(id, "duplicate");
                    }
                }
                served.push(frame.message_type);
            }
            if !served.is_empty() {
                return false;
            }
        }
        true
    };
    // A served channel the host sends nothing on (input) never ends.
    let ended = tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .unwrap_or(false);
    Duplicate {
        channel: open.channel,
        replayed,
        ended,
        served,
    }
}
