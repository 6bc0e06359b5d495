//! Capture-to-display latency on loopback (issue 5; goal p50 < 50 ms): the
//! time from a change appearing on the host's X display to the viewer
//! holding a decoded framebuffer that shows it.
//!
//! Run: `cargo bench --bench screen_latency -- [CHANGES]` (default 100).
//!
//! Everything is real except the two ends' user interfaces: a private Xvfb,
//! the host's own screen task (`assent_host::screen_stream::run`: capture
//! thread with `X11Screen`, `TileEncoder`, `FramePacer` at the default 6
//! Mbit/s and 30 fps, `SealedSend`), a real relay in process (`RelayServer`
//! over QUIC, SQLite, sealed audit log), host and viewer signalling through
//! `assent_net::RelayClient`, the end-to-end handshake, and on
//! the viewer side `SealedRecv` and `Framebuffer::apply` as the viewer's
//! session does it. Relay, host and viewer each get their own tokio runtime,
//! as they would have their own process; all share this machine's cores.
//!
//! A change is a filled rectangle of a colour never shown before, drawn with
//! x11rb on a window covering the screen. Its clock starts once the X server
//! has answered a round trip after the fill (the pixels are then on the
//! display) and stops when the viewer, right after applying a complete
//! frame, finds the rectangle's centre pixel in that colour. Changes are
//! spaced by a pause with random jitter, so each starts from an idle screen
//! (as a click would) at a random phase of the 30 fps capture clock.
//! Not included: presenting the frame in the viewer's window (≈ 2 ms,
//! measured separately, see BENCHMARKS.md).
//!
//! Afterwards, with the stream stopped, the same kind of change is captured,
//! encoded and applied directly, to show what the pipeline's steps cost.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use assent::lab::xvfb::Xvfb;
use assent_host::capture::{ScreenSource, X11Screen};
use assent_host::screen_stream::{self, ScreenSettings};
use assent_host::session::SessionEvent;
use assent_net::{
    accept_channel, open_channel, server_config, server_endpoint, CertFingerprint,
    ConnectionLimits, FramedRecv, FramedSend, RelayClient, RelayTarget, RelayTrust, SealedRecv,
    SealedSend,
};
use assent_proto::allowlist::{AllowList, AllowListEntry};
use assent_proto::consent::CapabilitySet;
use assent_proto::handshake::host::HostCredentials;
use assent_proto::handshake::viewer::{self, ViewerConfig};
use assent_proto::handshake::{Channel, SessionKeys};
use assent_proto::instrument::InstrumentProfile;
use assent_proto::messages::consent::Capability;
use assent_proto::messages::handshake::{HostFinish, HostHello, ViewerFinish, ViewerHello};
use assent_proto::messages::session::SessionMessage;
use assent_proto::messages::signalling::{
    ChannelKind, ClientRole, ConnectRequest, EnrollRequest, EnrolmentToken, FileTransferInstall,
    LocationCode, SessionId, SignallingMessage, SupportOpen, ViewerLogin,
};
use assent_proto::pacing::PacingSettings;
use assent_proto::password::{OneTimePassword, StretchParams};
use assent_proto::screen_codec::{EncoderSettings, Framebuffer, TileEncoder};
use assent_proto::wire::{Bytes, List, Text};
use assent_relay::metrics::RelayMetrics;
use assent_relay::notifier::{Notifier, OutboxNotifier};
use assent_relay::server::{AuditLog, RelayServer, RelayState, ServerSettings};
use assent_relay::store::{DataKey, EnrolmentGrant, SqliteStore, StateStore};
use rand_core::{OsRng, RngCore};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, watch};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    ChangeGCAux, ConnectionExt as _, CreateGCAux, CreateWindowAux, Gcontext, Rectangle, Segment,
    Window, WindowClass,
};
use x11rb::rust_connection::RustConnection;

/// An instrument PC's screen.
const SCREEN: (u16, u16) = (1920, 1080);
const DEFAULT_CHANGES: usize = 100;
/// Changes before the measured ones: the first full frame, caches.
const WARM_UP_CHANGES: usize = 3;
/// A button-sized change.
const RECT: (u16, u16) = (120, 40);
/// Quiet time after a change was seen, plus up to one capture interval and
/// more of jitter so changes do not lock to the capture clock.
const PAUSE: Duration = Duration::from_millis(250);
const JITTER_MS: u32 = 100;
/// A change not seen within this is a failure, not a sample.
const SEEN_LIMIT: Duration = Duration::from_secs(10);
const BACKGROUND: u32 = 0x00_20_24_28;
const GRID: u32 = 0x00_50_58_60;
const SESSION: SessionId = [0x51; 32];
const ENGINEER_EMAIL: &str = "erin@support.example";

fn main() -> Result<()> {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this
    // binary without it. A half-minute measurement is not a test: say so.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("screen_latency is a measurement: run `cargo bench --bench screen_latency`");
        return Ok(());
    }
    let changes = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .map(|arg| arg.parse::<usize>().context("CHANGES must be a number"))
        .transpose()?
        .unwrap_or(DEFAULT_CHANGES);
    println!("load average at start: {}", load_average());

    let xvfb = Xvfb::start(u32::from(SCREEN.0), u32::from(SCREEN.1));
    let canvas = Canvas::open(xvfb.display())?;
    let runtime = |name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name(name)
            .enable_all()
            .build()
            .context("starting a tokio runtime")
    };
    let (relay_rt, host_rt, viewer_rt) = (runtime("relay")?, runtime("host")?, runtime("viewer")?);

    let relay = Relay::start(&relay_rt)?;
    let Paired {
        mut host_keys,
        mut viewer_keys,
        host_screen,
        viewer_screen,
        connections,
    } = Paired::start(&relay, &host_rt, &viewer_rt)?;

    let (grants_tx, grants) =
        watch::channel(CapabilitySet::EMPTY.with(Capability::ScreenView, true));
    let (events_tx, mut events) = mpsc::channel::<SessionEvent>(8);
    let settings = ScreenSettings {
        display: Some(xvfb.display().to_owned()),
        pacing: PacingSettings::default(),
    };
    let host_task = host_rt.spawn(screen_stream::run(
        SealedSend::new(
            host_screen,
            Channel::Screen,
            host_keys.take_channel(Channel::Screen).unwrap().sealer,
        ),
        grants,
        settings,
        events_tx,
    ));
    let watch = Arc::new(PixelWatch::default());
    let viewer_task = viewer_rt.spawn(show_screen(
        SealedRecv::new(
            viewer_screen,
            Channel::Screen,
            viewer_keys.take_channel(Channel::Screen).unwrap().opener,
        ),
        watch.clone(),
    ));

    let mut samples = Vec::with_capacity(changes);
    for i in 0..WARM_UP_CHANGES + changes {
        let (rect, centre) = random_rect();
        let colour = change_colour(i);
        watch.arm(centre, colour);
        let (sent_at, drawn_at) = canvas.fill(rect, colour)?;
        let Some(shown) = watch.wait(SEEN_LIMIT) else {
            let host = match events.try_recv() {
                Ok(SessionEvent::Problem(problem)) => format!("{problem:?}"),
                Ok(_) => "an unexpected session event".into(),
                Err(_) => "no problem reported".into(),
            };
            bail!(
                "change {i} not shown within {SEEN_LIMIT:?} (host: {host}; viewer task \
                 finished: {})",
                viewer_task.is_finished()
            );
        };
        if i >= WARM_UP_CHANGES {
            samples.push(Sample {
                latency: shown.at.saturating_duration_since(drawn_at),
                draw_round_trip: drawn_at - sent_at,
                bytes: shown.bytes,
                decode: shown.decode,
            });
        }
        std::thread::sleep(PAUSE + Duration::from_millis(u64::from(OsRng.next_u32() % JITTER_MS)));
    }
    println!("load average after the stream: {}", load_average());

    // Revoking screen view stops the capture thread (as the technician would).
    grants_tx.send_replace(CapabilitySet::EMPTY);
    std::thread::sleep(Duration::from_millis(300));
    host_task.abort();
    viewer_task.abort();
    let steps = pipeline_steps(&canvas, xvfb.display(), changes)?;

    report(&samples, &steps);
    drop(connections);
    relay.stop(&relay_rt);
    Ok(())
}

/// A relay in this process, as `assent-relay serve` builds it (SQLite and
/// the sealed audit log in a temp dir), serving on its own runtime.
struct Relay {
    target: RelayTarget,
    store: Arc<dyn StateStore>,
    outbox: PathBuf,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Relay {
    fn start(runtime: &Runtime) -> Result<Relay> {
        let _entered = runtime.enter();
        let dir = tempfile::tempdir().context("creating the relay's temp dir")?;
        let data_key = DataKey::generate(&mut OsRng);
        let store: Arc<dyn StateStore> =
            Arc::new(SqliteStore::open(&dir.path().join("relay.db"), &data_key)?);
        let outbox = dir.path().join("outbox");
        let notifier: Arc<dyn Notifier> = Arc::new(OutboxNotifier::new(outbox.clone()));
        let audit = AuditLog::new(store.clone(), data_key.audit_key());
        let settings = ServerSettings {
            shutdown_grace: Duration::from_secs(1),
            ..ServerSettings::default()
        };
        let metrics = Arc::new(RelayMetrics::new());
        let state = RelayState::new(settings, store.clone(), audit, metrics, notifier);
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
        let der = cert.cert.der().clone();
        let pin = CertFingerprint::of(&der);
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let config = server_config(vec![der], key, &ConnectionLimits::default())?;
        let server = RelayServer::new(server_endpoint("127.0.0.1:0".parse()?, config)?, state);
        let addr = server.local_addr()?;
        let (shutdown, watch) = watch::channel(false);
        let task = runtime.spawn(server.run(watch));
        Ok(Relay {
            target: RelayTarget {
                addr,
                server_name: "localhost".into(),
                trust: RelayTrust::Pinned(pin),
            },
            store,
            outbox,
            shutdown,
            task,
            _dir: dir,
        })
    }

    fn stop(self, runtime: &Runtime) {
        let _ = self.shutdown.send(true);
        let _ = runtime.block_on(self.task);
    }
}

/// The handshake's keys and the Screen channel at both ends, through the relay.
struct Paired {
    host_keys: SessionKeys,
    viewer_keys: SessionKeys,
    host_screen: FramedSend,
    viewer_screen: FramedRecv,
    /// Kept open for the whole run: host and viewer connections, their
    /// control channels and the viewer's unused screen send half.
    connections: (RelayClient, RelayClient, Vec<FramedSend>, Vec<FramedRecv>),
}

impl Paired {
    /// Enrolled host with a support request, logged-in viewer, `Paired`, the
    /// end-to-end handshake on the Control channel, then the Screen channel:
    /// the steps of relay/tests/curious_relay.rs, with the real signalling
    /// client. Each end does its network work on its own runtime.
    fn start(relay: &Relay, host_rt: &Runtime, viewer_rt: &Runtime) -> Result<Paired> {
        let key = assent_proto::test_keys::key;
        let (host_key, viewer_key, operator) = (key("host"), key("viewer"), key("operator"));
        // The operator's invitation (issue 13), straight into the store.
        let token = EnrolmentToken::generate(InstrumentProfile::Phi, &mut OsRng);
        relay.store.issue_enrolment_token(&EnrolmentGrant {
            token_hash: token.hash(),
            instrument_model: Text::new("DxFLEX")?,
            instrument_id: Text::new("INSTR-0042")?,
            serial_number: Text::new("SN-998877")?,
            profile: InstrumentProfile::Phi,
            issued_unix_ms: 0,
            expires_unix_ms: u64::MAX / 2,
        })?;
        let (host, host_id) = host_rt.block_on(async {
            let (mut host, challenge) =
                RelayClient::open(&relay.target, ClientRole::Host, "bench").await?;
            let mut enroll = EnrollRequest {
                registrant_email: Text::new("tech.person@lab.example")?,
                registrant_name: Text::new("Tess Technician")?,
                instrument_model: Text::new("DxFLEX")?,
                instrument_id: Text::new("INSTR-0042")?,
                serial_number: Text::new("SN-998877")?,
                host_key: host_key.public().clone(),
                file_transfer: FileTransferInstall::CompiledOut,
                enrolment_token: Some(token),
                signature: Bytes::default(),
            };
            enroll.sign(&host_key, &challenge, &mut OsRng);
            let host_id = match host.request(&enroll).await? {
                SignallingMessage::EnrollAccepted(accepted) => accepted.host_id,
                other => bail!("enrolment refused: {other:?}"),
            };
            match host
                .request(&SupportOpen {
                    session_id: SESSION,
                })
                .await?
            {
                SignallingMessage::SupportOpened(_) => Ok((host, host_id)),
                other => bail!("support request refused: {other:?}"),
            }
        })?;

        let allowed = AllowListEntry {
            viewer: viewer_key.public().clone(),
            name: Text::new("Erin Engineer")?,
            email: Text::new(ENGINEER_EMAIL)?,
            expires_unix: 4_000_000_000,
        };
        relay.store.put_allowlist_entry(&allowed)?;
        let (viewer, paired) = viewer_rt.block_on(async {
            let (mut viewer, challenge) =
                RelayClient::open(&relay.target, ClientRole::Viewer, "bench").await?;
            let mut login = ViewerLogin {
                viewer_key: viewer_key.public().clone(),
                device_id: [9; 16],
                signature: Bytes::default(),
            };
            login.sign(&viewer_key, &challenge, &mut OsRng);
            let mut answer = viewer.request(&login).await?;
            if let SignallingMessage::LocationChallenge(_) = answer {
                // A new device (R8): the e-mailed code, from the outbox.
                let code = OutboxNotifier::read_latest_code(&relay.outbox, ENGINEER_EMAIL)?
                    .context("no location code in the relay's outbox")?;
                let code = LocationCode {
                    code: Text::new(code.as_str())?,
                };
                answer = viewer.request(&code).await?;
            }
            if !matches!(answer, SignallingMessage::LoginAccepted(_)) {
                bail!("viewer login refused: {answer:?}");
            }
            match viewer.request(&ConnectRequest { host_id }).await? {
                SignallingMessage::Paired(paired) => Ok((viewer, paired)),
                other => bail!("not paired: {other:?}"),
            }
        })?;

        let password = OneTimePassword::generate(&mut OsRng);
        let now = 1_800_000_000;
        let allowlist = AllowList {
            serial: 1,
            issued_unix: now - 10,
            expires_unix: now + 3600,
            entries: List::new(vec![AllowListEntry {
                expires_unix: now + 3600,
                ..allowed
            }])?,
        }
        .sign(&operator, &mut OsRng)
        .verify(operator.public(), now)?;
        // Paid once before streaming starts; it does not touch what is measured.
        let stretch = StretchParams::fast_for_tests();
        let credentials = HostCredentials::new(host_key.clone(), &password, SESSION, &stretch)?;

        // The handshake alternates between the ends; each step runs on its
        // end's runtime.
        let (mut v_send, mut v_recv) = viewer_rt.block_on(open_channel(
            &viewer.connection,
            SESSION,
            ChannelKind::Control,
        ))?;
        let (expect_host_hello, hello) = viewer::start(
            ViewerConfig {
                identity: viewer_key.clone(),
                password: &password,
                session_id: SESSION,
                expected_host: paired.host_fingerprint,
                stretch,
            },
            &mut OsRng,
        )?;
        viewer_rt.block_on(v_send.send(&hello))?;
        let (_, mut h_send, mut h_recv) = host_rt
            .block_on(accept_channel(&host.connection))?
            .context("the relay opened no control channel")?;
        let hello: ViewerHello = host_rt.block_on(h_recv.recv())?.context("eof")?.decode()?;
        let (expect_finish, host_hello) =
            credentials.respond(&allowlist, now, &hello, &mut OsRng)?;
        host_rt.block_on(h_send.send(&host_hello))?;
        let host_hello: HostHello = viewer_rt
            .block_on(v_recv.recv())?
            .context("eof")?
            .decode()?;
        let (expect_host_finish, finish) =
            expect_host_hello.receive_host_hello(&host_hello, &mut OsRng)?;
        viewer_rt.block_on(v_send.send(&finish))?;
        let finish: ViewerFinish = host_rt.block_on(h_recv.recv())?.context("eof")?.decode()?;
        let (host_keys, host_finish) = expect_finish.receive_viewer_finish(&finish)?;
        host_rt.block_on(h_send.send(&host_finish))?;
        let host_finish: HostFinish = viewer_rt
            .block_on(v_recv.recv())?
            .context("eof")?
            .decode()?;
        let viewer_keys = expect_host_finish.receive_host_finish(&host_finish)?;

        let (sv_send, viewer_screen) = viewer_rt.block_on(open_channel(
            &viewer.connection,
            SESSION,
            ChannelKind::Screen,
        ))?;
        let (open, host_screen, sh_recv) = host_rt
            .block_on(accept_channel(&host.connection))?
            .context("the relay opened no screen channel")?;
        if open.channel != ChannelKind::Screen {
            bail!(
                "expected the Screen channel, the relay opened {:?}",
                open.channel
            );
        }
        Ok(Paired {
            host_keys,
            viewer_keys,
            host_screen,
            viewer_screen,
            connections: (
                host,
                viewer,
                vec![v_send, h_send, sv_send],
                vec![v_recv, h_recv, sh_recv],
            ),
        })
    }
}

/// Where the change is and when the viewer first showed it.
#[derive(Default)]
struct PixelWatch {
    armed: Mutex<Option<Armed>>,
    shown: Condvar,
}

struct Armed {
    at: (u32, u32),
    /// The colour as B, G, R bytes of a BGRX pixel.
    bgr: [u8; 3],
    shown: Option<Shown>,
}

#[derive(Clone, Copy)]
struct Shown {
    at: Instant,
    /// Wire bytes of the frame that showed it (all its updates).
    bytes: usize,
    /// Time spent in `Framebuffer::apply` for that frame.
    decode: Duration,
}

impl PixelWatch {
    fn arm(&self, at: (u32, u32), colour: u32) {
        let [b, g, r, _] = colour.to_le_bytes();
        *lock(&self.armed) = Some(Armed {
            at,
            bgr: [b, g, r],
            shown: None,
        });
    }

    /// Called by the viewer after each complete frame.
    fn check(
        &self,
        framebuffer: &Framebuffer,
        applied_at: Instant,
        bytes: usize,
        decode: Duration,
    ) {
        let mut armed = lock(&self.armed);
        let Some(armed) = armed.as_mut().filter(|a| a.shown.is_none()) else {
            return;
        };
        let (x, y) = armed.at;
        let i = (y as usize * framebuffer.width() as usize + x as usize) * 4;
        if framebuffer.bgrx().get(i..i + 3) == Some(&armed.bgr[..]) {
            armed.shown = Some(Shown {
                at: applied_at,
                bytes,
                decode,
            });
            self.shown.notify_all();
        }
    }

    fn wait(&self, limit: Duration) -> Option<Shown> {
        let armed = lock(&self.armed);
        let (armed, _) = self
            .shown
            .wait_timeout_while(armed, limit, |a| {
                a.as_ref().is_some_and(|a| a.shown.is_none())
            })
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        armed.as_ref().and_then(|a| a.shown)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The viewer's screen channel, as its session handles it
/// (viewer/src/session.rs `on_screen`) minus the window.
async fn show_screen(mut screen: SealedRecv, watch: Arc<PixelWatch>) -> Result<()> {
    let mut framebuffer: Option<Framebuffer> = None;
    let (mut frame_bytes, mut frame_decode) = (0, Duration::ZERO);
    while let Some((message, wire_len)) = screen.recv().await? {
        match message {
            SessionMessage::ScreenInfo(info) => match framebuffer.as_mut() {
                Some(framebuffer) => framebuffer.reset(info.width, info.height)?,
                None => framebuffer = Some(Framebuffer::new(info.width, info.height)?),
            },
            SessionMessage::FrameUpdate(update) => {
                let framebuffer = match framebuffer.as_mut() {
                    Some(framebuffer) => framebuffer,
                    None => framebuffer.insert(Framebuffer::new(update.width, update.height)?),
                };
                let started = Instant::now();
                let applied = framebuffer.apply(&update)?;
                let applied_at = Instant::now();
                frame_bytes += wire_len;
                frame_decode += applied_at - started;
                if applied.frame_complete {
                    watch.check(framebuffer, applied_at, frame_bytes, frame_decode);
                    (frame_bytes, frame_decode) = (0, Duration::ZERO);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A window covering the screen, with a grid so tiles are not all flat.
struct Canvas {
    conn: RustConnection,
    window: Window,
    gc: Gcontext,
}

impl Canvas {
    fn open(display: &str) -> Result<Canvas> {
        let (conn, screen_index) =
            x11rb::connect(Some(display)).with_context(|| format!("connecting to {display}"))?;
        let screen = &conn.setup().roots[screen_index];
        let (root, width, height) = (screen.root, screen.width_in_pixels, screen.height_in_pixels);
        let window = conn.generate_id()?;
        conn.create_window(
            x11rb::COPY_DEPTH_FROM_PARENT,
            window,
            root,
            0,
            0,
            width,
            height,
            0,
            WindowClass::INPUT_OUTPUT,
            x11rb::COPY_FROM_PARENT,
            &CreateWindowAux::new()
                .background_pixel(BACKGROUND)
                .override_redirect(1),
        )?;
        let gc = conn.generate_id()?;
        conn.create_gc(gc, window, &CreateGCAux::new().foreground(GRID))?;
        conn.map_window(window)?;
        let step = 24;
        let mut grid: Vec<Segment> = (0..width as i16)
            .step_by(step)
            .map(|x| Segment {
                x1: x,
                y1: 0,
                x2: x,
                y2: height as i16,
            })
            .collect();
        grid.extend((0..height as i16).step_by(step).map(|y| Segment {
            x1: 0,
            y1: y,
            x2: width as i16,
            y2: y,
        }));
        conn.poly_segment(window, gc, &grid)?;
        conn.flush()?;
        conn.get_input_focus()?.reply()?;
        Ok(Canvas { conn, window, gc })
    }

    /// Fills `rect` with `colour`; returns the instants before the request
    /// was sent and after the X server answered a round trip behind it (the
    /// pixels are then on screen; this is where the clock starts).
    fn fill(&self, rect: Rectangle, colour: u32) -> Result<(Instant, Instant)> {
        let sent_at = Instant::now();
        self.conn
            .change_gc(self.gc, &ChangeGCAux::new().foreground(colour))?;
        self.conn
            .poly_fill_rectangle(self.window, self.gc, &[rect])?;
        self.conn.flush()?;
        self.conn.get_input_focus()?.reply()?;
        Ok((sent_at, Instant::now()))
    }
}

/// A button-sized rectangle at a random place, and its centre.
fn random_rect() -> (Rectangle, (u32, u32)) {
    let x = OsRng.next_u32() % u32::from(SCREEN.0 - RECT.0);
    let y = OsRng.next_u32() % u32::from(SCREEN.1 - RECT.1);
    let rect = Rectangle {
        x: x as i16,
        y: y as i16,
        width: RECT.0,
        height: RECT.1,
    };
    let centre = (x + u32::from(RECT.0) / 2, y + u32::from(RECT.1) / 2);
    (rect, centre)
}

/// A colour no earlier change used and the background does not contain
/// (red 0xC0, green and blue count up).
fn change_colour(i: usize) -> u32 {
    0x00_C0_00_00 | (i as u32 & 0xFFFF)
}

struct Sample {
    latency: Duration,
    /// From sending the fill to the round trip's answer: how late the clock
    /// may start (this thread shares two busy cores).
    draw_round_trip: Duration,
    bytes: usize,
    decode: Duration,
}

/// Capture, encode and apply of one change, measured directly with the
/// stream stopped (the host task does not expose its own timings).
#[derive(Default)]
struct Steps {
    capture: Vec<Duration>,
    encode: Vec<Duration>,
    apply: Vec<Duration>,
    still_capture_encode: Vec<Duration>,
}

fn pipeline_steps(canvas: &Canvas, display: &str, changes: usize) -> Result<Steps> {
    let mut screen = X11Screen::open(Some(display))?;
    let mut encoder = TileEncoder::new(EncoderSettings::default());
    let (width, height) = screen.size();
    let mut framebuffer = Framebuffer::new(width, height)?;
    // The first frame is a full one: not what a change costs.
    for update in encoder.encode(&screen.capture()?, 0)? {
        framebuffer.apply(&update)?;
    }
    let mut steps = Steps::default();
    for i in 0..changes {
        let (rect, _) = random_rect();
        canvas.fill(rect, change_colour(0x8000 + i))?;
        let started = Instant::now();
        let frame = screen.capture()?;
        let captured = Instant::now();
        let updates = encoder.encode(&frame, i as u64 + 1)?;
        let encoded = Instant::now();
        for update in &updates {
            framebuffer.apply(update)?;
        }
        steps.capture.push(captured - started);
        steps.encode.push(encoded - captured);
        steps.apply.push(encoded.elapsed());

        let started = Instant::now();
        let unchanged = encoder.encode(&screen.capture()?, 0)?;
        steps.still_capture_encode.push(started.elapsed());
        if !unchanged.is_empty() {
            bail!("an unchanged screen produced {} updates", unchanged.len());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(steps)
}

fn report(samples: &[Sample], steps: &Steps) {
    let mut latency: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    let mut decode: Vec<Duration> = samples.iter().map(|s| s.decode).collect();
    let mut bytes: Vec<usize> = samples.iter().map(|s| s.bytes).collect();
    bytes.sort_unstable();
    println!();
    println!(
        "capture-to-display latency, {} changes of {}x{} px on a {}x{} screen, default pacing \
         (6 Mbit/s, 30 fps), through the relay on loopback (window present not included):",
        samples.len(),
        RECT.0,
        RECT.1,
        SCREEN.0,
        SCREEN.1
    );
    println!("  {}  (goal p50 < 50 ms)", summary(&mut latency));
    let mut round_trip: Vec<Duration> = samples.iter().map(|s| s.draw_round_trip).collect();
    println!(
        "  fill request to round-trip answer (the clock starts at its end): {}",
        summary(&mut round_trip)
    );
    println!(
        "  frame that showed the change: {} B median on the wire (min {}, max {}); viewer \
         apply {}",
        bytes[bytes.len() / 2],
        bytes[0],
        bytes[bytes.len() - 1],
        summary(&mut decode)
    );
    println!("pipeline steps for the same kind of change, stream stopped:");
    for (name, times) in [
        ("capture (X11Screen, MIT-SHM)", &steps.capture),
        ("encode (TileEncoder, zstd 3)", &steps.encode),
        ("apply (Framebuffer)", &steps.apply),
        (
            "unchanged screen: capture + encode",
            &steps.still_capture_encode,
        ),
    ] {
        println!("  {name}: {}", summary(&mut times.clone()));
    }
    println!("load average at the end: {}", load_average());
}

/// p50, p95, mean and max of `times` (sorted in place).
fn summary(times: &mut [Duration]) -> String {
    if times.is_empty() {
        return "no samples".into();
    }
    times.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    format!(
        "p50 {:.2} ms, p95 {:.2} ms, mean {:.2} ms, min {:.2} ms, max {:.2} ms",
        ms(percentile(times, 50)),
        ms(percentile(times, 95)),
        ms(mean),
        ms(times[0]),
        ms(times[times.len() - 1]),
    )
}

/// Nearest-rank percentile of sorted `times`.
fn percentile(times: &[Duration], p: usize) -> Duration {
    let rank = (p * times.len()).div_ceil(100).max(1);
    times[rank - 1]
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
