//! What the revocation tests and the revocation bench share (issue 12): one
//! session's keys from the real handshake (`test_keys::session_keys`), a real QUIC connection on
//! loopback carrying its channels (the relay is left out: it forwards these
//! bytes unchanged), the host's screen stream over a synthetic screen that
//! changes at every capture, the host's file exchange, and viewer ends that
//! keep count of what they open.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use assent_host::capture::{CaptureError, ScreenSource};
use assent_host::file_transfer::{FilesHandle, TransferContext};
use assent_host::screen_stream::{self, ScreenSettings};
use assent_host::session::SessionEvent;
use assent_host::technician::{PromptMode, PromptSettings, Technician};
use assent_net::loopback::LoopbackPair;
use assent_net::{
    accept_channel, open_channel, FramedRecv, FramedSend, SealedCount, SealedRecv, SealedSend,
};
use assent_proto::consent::CapabilitySet;
use assent_proto::file_transfer::{IncomingTransfer, TransferLimits};
use assent_proto::handshake::{Channel, SessionKeys};
use assent_proto::messages::consent::Capability;
use assent_proto::messages::screen::CursorUpdate;
use assent_proto::messages::session::SessionMessage;
use assent_proto::messages::signalling::ChannelKind;
use assent_proto::pacing::PacingSettings;
use assent_proto::screen_codec::CapturedFrame;
use assent_proto::test_keys;
use assent_proto::wire::MessageType;
use tokio::sync::{mpsc, watch};

/// Nothing here takes long; a hang is a failure.
const LIMIT: Duration = Duration::from_secs(60);
pub const SESSION: [u8; 32] = [0x12; 32];

/// A QUIC connection on loopback, viewer to host.
pub struct Pair {
    pub viewer: quinn::Connection,
    pub host: quinn::Connection,
    keys: (SessionKeys, SessionKeys),
    /// Keeps the endpoints, and so the connections, alive.
    _loopback: LoopbackPair,
}

/// Both ends of one sealed channel: the host's and the viewer's.
pub struct SealedChannel {
    pub host: (SealedSend, SealedRecv),
    pub viewer: (SealedSend, SealedRecv),
}

impl Pair {
    pub async fn connect() -> Self {
        let loopback = LoopbackPair::connect().await;
        Self {
            viewer: loopback.viewer.clone(),
            host: loopback.host.clone(),
            keys: test_keys::session_keys(SESSION),
            _loopback: loopback,
        }
    }

    /// The viewer opens `channel`, the host accepts it; both sealed with
    /// the session's keys for it.
    pub async fn channel(&mut self, channel: Channel) -> SealedChannel {
        let (viewer_send, viewer_recv) =
            open_channel(&self.viewer, SESSION, ChannelKind::from(channel))
                .await
                .unwrap();
        let (open, host_send, host_recv) = accept_channel(&self.host).await.unwrap().unwrap();
        assert_eq!(open.channel, ChannelKind::from(channel));
        let viewer = self.keys.0.take_channel(channel).unwrap();
        let host = self.keys.1.take_channel(channel).unwrap();
        let seal =
            |send: FramedSend, recv: FramedRecv, keys: assent_proto::handshake::ChannelKeys| {
                (
                    SealedSend::new(send, channel, keys.sealer),
                    SealedRecv::new(recv, channel, keys.opener),
                )
            };
        SealedChannel {
            host: seal(host_send, host_recv, host),
            viewer: seal(viewer_send, viewer_recv, viewer),
        }
    }
}

/// Grants with only `capability`.
pub fn only(capability: Capability) -> CapabilitySet {
    CapabilitySet::EMPTY.with(capability, true)
}

/// Revokes everything as `session::Gates::set(capability, false)` does a
/// capability (a grants update); returns how long it took to return, after
/// which the host has taken the revoke.
pub fn revoke(grants: &watch::Sender<CapabilitySet>) -> Duration {
    let start = Instant::now();
    grants.send_modify(|g| *g = CapabilitySet::EMPTY);
    start.elapsed()
}

/// Session events the host's tasks report; nobody here acts on them.
fn ignored_events() -> mpsc::Sender<SessionEvent> {
    let (events, mut queue) = mpsc::channel(8);
    tokio::spawn(async move { while queue.recv().await.is_some() {} });
    events
}

/// Starts the host's screen stream on `send`, following `grants`, over a
/// noise screen of `size` with pacing out of the way (the host sends as
/// fast as it can). The receiver hears each time the capture thread lets
/// a screen go.
pub fn stream_noise(
    send: SealedSend,
    grants: watch::Receiver<CapabilitySet>,
    size: (u32, u32),
) -> mpsc::UnboundedReceiver<()> {
    let settings = ScreenSettings {
        display: None,
        pacing: PacingSettings {
            budget_bits_per_sec: u64::MAX / 16,
            max_fps: 240,
            burst: Duration::ZERO,
        },
    };
    let (dropped_tx, dropped) = mpsc::unbounded_channel();
    tokio::spawn(screen_stream::run_with_source(
        send,
        grants,
        settings,
        ignored_events(),
        move || Ok(NoiseScreen::new(size, dropped_tx.clone())),
    ));
    dropped
}

/// The host's file transfer on `channel`, following `grants`, with a
/// terminal-only technician and no receive directory.
pub async fn host_files(
    channel: (SealedSend, SealedRecv),
    grants: watch::Receiver<CapabilitySet>,
) -> FilesHandle {
    let prompts = PromptSettings {
        mode: PromptMode::Terminal,
        display: None,
    };
    let (technician, _commands) = Technician::start_with_input(&prompts, std::io::empty())
        .await
        .unwrap();
    let context = TransferContext {
        host_id: "revocation-host".into(),
        session_id: SESSION,
        engineer: "Eve Engineer".into(),
    };
    let mut files = FilesHandle::new(None, u64::MAX);
    let (send, recv) = channel;
    files.attach(send, recv, grants, technician, ignored_events(), context);
    files
}

/// A file of `len` bytes of noise to send, in `dir`.
pub fn noise_file(dir: &tempfile::TempDir, len: usize) -> PathBuf {
    let path = dir.path().join("instrument-log.bin");
    std::fs::write(&path, noise(len)).unwrap();
    path
}

/// A screen whose every pixel changes at every capture (noise), so each
/// frame is a full update of incompressible tiles: the host is sealing
/// most of the time it streams. Tells `dropped` when the capture thread
/// lets it go, which happens only after the stream stopped sending.
pub struct NoiseScreen {
    size: (u32, u32),
    pixels: Vec<u8>,
    state: u64,
    dropped: mpsc::UnboundedSender<()>,
}

impl NoiseScreen {
    pub fn new(size: (u32, u32), dropped: mpsc::UnboundedSender<()>) -> Self {
        Self {
            size,
            pixels: vec![0; size.0 as usize * size.1 as usize * 4],
            state: 0x9e37_79b9_7f4a_7c15,
            dropped,
        }
    }
}

impl ScreenSource for NoiseScreen {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn capture(&mut self) -> Result<CapturedFrame<'_>, CaptureError> {
        for word in self.pixels.chunks_exact_mut(8) {
            // xorshift64: cheap, and no two frames alike.
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            word.copy_from_slice(&self.state.to_le_bytes());
        }
        Ok(CapturedFrame {
            width: self.size.0,
            height: self.size.1,
            stride: self.size.0 as usize * 4,
            bgrx: &self.pixels,
        })
    }

    fn cursor(&mut self) -> Result<Option<CursorUpdate>, CaptureError> {
        Ok(None)
    }
}

impl Drop for NoiseScreen {
    fn drop(&mut self) {
        let _ = self.dropped.send(());
    }
}

/// What the viewer's end of the Files channel has seen, in order.
#[derive(Debug, Default, Clone)]
pub struct FilesSeen {
    /// The kind of every record opened: index `i` is the host's `i`-th seal.
    pub kinds: Vec<MessageType>,
    /// File chunks received, over all transfers.
    pub chunks: u64,
    /// Why each aborted transfer was aborted, in order.
    pub aborts: Vec<String>,
}

/// The viewer's end of the Files channel: accepts every offer at once and
/// reads as fast as it can, keeping nothing but what it saw.
pub fn file_sink(channel: (SealedSend, SealedRecv)) -> watch::Receiver<FilesSeen> {
    let (mut send, mut recv) = channel;
    let (seen_tx, seen) = watch::channel(FilesSeen::default());
    let limits = TransferLimits {
        max_file_size: u64::MAX,
    };
    tokio::spawn(async move {
        while let Ok(Some((message, _))) = recv.recv().await {
            seen_tx.send_modify(|seen| {
                seen.kinds.push(message.message_type());
                match &message {
                    SessionMessage::FileChunk(_) => seen.chunks += 1,
                    SessionMessage::FileAbort(abort) => seen.aborts.push(abort.reason.to_string()),
                    _ => {}
                }
            });
            if let SessionMessage::FileOffer(offer) = message {
                let accept = IncomingTransfer::new(&offer, &limits).unwrap().acceptance();
                if send.send(&accept.into()).await.is_err() {
                    return;
                }
            }
        }
    });
    seen
}

/// Counts every record the viewer opens on `recv`.
pub fn count_records(mut recv: SealedRecv) -> watch::Receiver<u64> {
    let (count_tx, count) = watch::channel(0u64);
    tokio::spawn(async move {
        while let Ok(Some(_)) = recv.recv().await {
            count_tx.send_modify(|n| *n += 1);
        }
    });
    count
}

/// Returns once `count` records were sealed. Polled: the sealer tells no
/// one, and the moment matters (the host is sealing right then).
pub async fn sealed_beyond(sealed: &SealedCount, count: u64) {
    while sealed.get() < count {
        tokio::task::yield_now().await;
    }
}

/// `future`'s output, or a panic naming `what` after a minute.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Incompressible bytes, different every time.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64 ^ len as u64;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}
