//! The relay server (R1–R3, R6–R9, R12–R14): accepts QUIC connections, runs
//! each client's signalling (login, enrolment, support requests, pairing),
//! and splices the paired viewer's channel streams to its host as opaque bytes.
//!
//! Security rules live in named places: who may log in (`login`), who may
//! reach a host and how often (`viewer`, [`crate::board`],
//! [`crate::intrusion`], [`LockoutBook`]), what is recorded ([`AuditLog`]).

mod audit_log;
mod forward;
mod host;
mod lockouts;
mod login;
mod viewer;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use assent_net::{framed, FramedRecv, FramedSend, NetError};
use assent_proto::identity::Fingerprint;
use assent_proto::lockout::LockoutPolicy;
use assent_proto::messages::audit_event::AuditEvent;
use assent_proto::messages::signalling::{RelayError, RelayErrorCode, SessionId};
use assent_proto::wire::Text;
use tokio::sync::watch;
use tracing::{debug, info, warn};

pub use audit_log::AuditLog;
pub use lockouts::LockoutBook;

use crate::board::SupportBoard;
use crate::intrusion::{Admission, AdmissionControl, IdsEvent, IdsLimits, IntrusionDetector};
use crate::metrics::RelayMetrics;
use crate::notifier::{CodeRateLimiter, Notifier};
use crate::store::StateStore;

/// Settings the server needs (derived from `RelayConfig` by `main`).
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub relay_name: String,
    pub support_request_ttl: Duration,
    pub max_open_requests: usize,
    pub lockout: LockoutPolicy,
    pub ids: IdsLimits,
    pub location_code_ttl: Duration,
    pub location_codes_per_hour: u32,
    pub network_prefix_v4: u8,
    pub network_prefix_v6: u8,
    /// How long a client may take for each login step.
    pub login_timeout: Duration,
    pub shutdown_grace: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            relay_name: "assent-relay".into(),
            support_request_ttl: Duration::from_secs(30 * 60),
            max_open_requests: 10_000,
            lockout: LockoutPolicy::default(),
            ids: IdsLimits::default(),
            location_code_ttl: Duration::from_secs(15 * 60),
            location_codes_per_hour: 5,
            network_prefix_v4: 24,
            network_prefix_v6: 48,
            login_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// A host's connection, as the board keeps it: enough to open streams to it.
#[derive(Debug, Clone)]
pub(crate) struct HostLink {
    pub host_id: String,
    pub connection: quinn::Connection,
}

/// Who paired with a support session, for lockout and audit when the host
/// reports a failed handshake.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PairedViewer {
    pub viewer: Fingerprint,
    pub source: IpAddr,
}

/// Everything the connection tasks share.
pub struct RelayState {
    pub(crate) settings: ServerSettings,
    pub(crate) store: Arc<dyn StateStore>,
    pub(crate) audit: AuditLog,
    pub(crate) metrics: Arc<RelayMetrics>,
    pub(crate) notifier: Arc<dyn Notifier>,
    pub(crate) lockouts: LockoutBook,
    pub(crate) board: Mutex<SupportBoard<HostLink>>,
    pub(crate) paired: Mutex<HashMap<SessionId, PairedViewer>>,
    pub(crate) ids: Mutex<IntrusionDetector>,
    pub(crate) admission: Mutex<AdmissionControl>,
    pub(crate) code_limiter: Mutex<CodeRateLimiter>,
    forward_observer: std::sync::OnceLock<ForwardObserver>,
}

/// Sees every byte the relay forwards between a viewer and a host, exactly as
/// forwarded. Used to prove the relay handles only ciphertext (R3).
pub type ForwardObserver = Arc<dyn Fn(&[u8]) + Send + Sync>;

impl RelayState {
    pub fn new(
        settings: ServerSettings,
        store: Arc<dyn StateStore>,
        audit: AuditLog,
        metrics: Arc<RelayMetrics>,
        notifier: Arc<dyn Notifier>,
    ) -> Arc<Self> {
        Arc::new(Self {
            board: Mutex::new(SupportBoard::new(
                settings.support_request_ttl,
                settings.max_open_requests,
            )),
            paired: Mutex::new(HashMap::new()),
            ids: Mutex::new(IntrusionDetector::new(settings.ids.clone())),
            admission: Mutex::new(AdmissionControl::new(settings.ids.admission.clone())),
            code_limiter: Mutex::new(CodeRateLimiter::new(settings.location_codes_per_hour)),
            forward_observer: std::sync::OnceLock::new(),
            lockouts: LockoutBook::new(store.clone(), settings.lockout),
            settings,
            store,
            audit,
            metrics,
            notifier,
        })
    }

    /// Installs the forwarding observer (once); false if one is already set.
    pub fn observe_forwarding(&self, observer: ForwardObserver) -> bool {
        self.forward_observer.set(observer).is_ok()
    }

    pub(crate) fn forwarded(&self, bytes: &[u8]) {
        self.metrics.add_bytes_forwarded(bytes.len() as u64);
        if let Some(observer) = self.forward_observer.get() {
            observer(bytes);
        }
    }

    /// Runs a store call off the async threads (SQLite blocks, audit fsyncs).
    pub(crate) async fn with_store<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn StateStore) -> Result<T, crate::store::StoreError> + Send + 'static,
    ) -> Result<T, ServerError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || call(store.as_ref()))
            .await
            .map_err(|e| ServerError::Internal(format!("store task failed: {e}")))?
            .map_err(ServerError::Store)
    }

    /// Logs, counts and audits an intrusion detection (R14), with the
    /// identity ban it led to, if any (addresses are never banned).
    pub(crate) async fn report_ids(&self, event: IdsEvent) {
        let detail = match event.banned {
            Some((viewer, until)) => format!(
                "{}; engineer identity {viewer} blocked for {} s",
                event.detail,
                until.saturating_duration_since(Instant::now()).as_secs()
            ),
            None => event.detail.clone(),
        };
        warn!(kind = event.kind.label(), source = %event.source, %detail, "intrusion detected");
        self.metrics.ids_event(event.kind);
        let audit = AuditEvent::IntrusionDetected {
            source: text(&event.source.to_string()),
            kind: text(event.kind.label()),
            detail: text(&detail),
        };
        if let Err(e) = self.audit.record(audit).await {
            warn!(error = %e, "could not audit an intrusion event");
        }
    }

    /// Refuses an engineer identity banned for scanning or guessing.
    pub(crate) fn ids_check_viewer(&self, viewer: Fingerprint) -> Result<(), RelayError> {
        let ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        ids.check_viewer(viewer, Instant::now()).map_err(|blocked| {
            RelayError::new(
                RelayErrorCode::Throttled,
                &blocked.to_string(),
                Some(blocked.remaining.as_secs().max(1)),
            )
        })
    }
}

/// One accepted connection not yet logged in: it counts against the
/// admission budget until dropped (login done, or the connection ended).
struct Unauthenticated<'a> {
    state: &'a RelayState,
    ip: IpAddr,
}

impl Drop for Unauthenticated<'_> {
    fn drop(&mut self) {
        self.state
            .admission
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .finished(self.ip);
    }
}

/// Why serving one client stopped; logged, and told to the client when useful.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("state store: {0}")]
    Store(crate::store::StoreError),
    #[error("audit log: {0}")]
    Audit(String),
    #[error("client refused: {}", .0.message)]
    Refused(RelayError),
    #[error("client closed the signalling stream")]
    Closed,
    #[error("{0}")]
    Internal(String),
}

/// The relay: an endpoint plus shared state.
pub struct RelayServer {
    endpoint: quinn::Endpoint,
    state: Arc<RelayState>,
}

impl RelayServer {
    pub fn new(endpoint: quinn::Endpoint, state: Arc<RelayState>) -> Self {
        Self { endpoint, state }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Serves until `shutdown` turns true: then stops accepting, gives
    /// sessions the grace period to finish, and closes the endpoint.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut tasks = tokio::task::JoinSet::new();
        let mut sweep = tokio::time::interval(Duration::from_secs(30));
        loop {
            tokio::select! {
                incoming = self.endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    let state = self.state.clone();
                    tasks.spawn(async move { serve_incoming(state, incoming).await });
                }
                _ = sweep.tick() => self.sweep_expired(),
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        info!(
            open = tasks.len(),
            "relay stopping: no new connections; waiting for sessions to finish"
        );
        self.endpoint.set_server_config(None);
        let grace = self.state.settings.shutdown_grace;
        let drained =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            warn!(
                grace_secs = grace.as_secs(),
                "grace period over; closing remaining sessions"
            );
            tasks.abort_all();
        }
        self.endpoint
            .close(quinn::VarInt::from_u32(0), b"relay shutting down");
        self.endpoint.wait_idle().await;
    }

    fn sweep_expired(&self) {
        let expired = self
            .state
            .board
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .expire(Instant::now());
        for host_id in expired {
            debug!(%host_id, "support request expired");
        }
    }
}

async fn serve_incoming(state: Arc<RelayState>, incoming: quinn::Incoming) {
    let source = incoming.remote_address();
    let ip = canonical_ip(source.ip());
    let now = Instant::now();
    let flood = state
        .ids
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .on_connection(ip, now);
    if let Some(event) = flood {
        state.report_ids(event).await;
    }
    let admission = state
        .admission
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .admit(
            SocketAddr::new(ip, source.port()),
            incoming.remote_address_validated(),
            incoming.may_retry(),
            now,
        );
    match admission {
        Admission::Accept => {}
        Admission::Retry => {
            // Stateless: the client must echo the token from its own address.
            state.metrics.connection_retried();
            if let Err(e) = incoming.retry() {
                e.into_incoming().refuse();
            }
            return;
        }
        Admission::Refuse(why) => {
            // This attempt only; the address and its logged-in clients go on.
            state.metrics.connection_throttled();
            debug!(%source, budget = why.label(), "connection attempt throttled");
            incoming.refuse();
            return;
        }
    }
    let unauthenticated = Unauthenticated { state: &state, ip };
    let connection = match incoming.await {
        Ok(connection) => connection,
        Err(e) => {
            debug!(%source, error = %e, "handshake with client failed");
            return;
        }
    };
    let _open = state.metrics.track_connection();
    match serve_connection(&state, &connection, ip, unauthenticated).await {
        Ok(()) | Err(ServerError::Closed) => {}
        Err(e) => debug!(%source, error = %e, "client connection ended"),
    }
    connection.close(quinn::VarInt::from_u32(0), b"bye");
}

/// One client: the first stream it opens is its signalling stream.
async fn serve_connection(
    state: &Arc<RelayState>,
    connection: &quinn::Connection,
    source: IpAddr,
    unauthenticated: Unauthenticated<'_>,
) -> Result<(), ServerError> {
    let (send, recv) = tokio::time::timeout(state.settings.login_timeout, connection.accept_bi())
        .await
        .map_err(|_| ServerError::Closed)?
        .map_err(|e| ServerError::Net(NetError::Connection(e)))?;
    let (mut send, mut recv) = framed(send, recv);
    recv.set_recv_timeout(Some(state.settings.login_timeout));
    let logged_in = login::login(state, &mut send, &mut recv, source).await;
    // Logged in (or refused): no longer part of the unauthenticated budget.
    drop(unauthenticated);
    let result = match logged_in {
        Ok(login::LoggedIn::Host(host)) => {
            recv.set_recv_timeout(None);
            host::serve(state, connection, host, &mut send, &mut recv, source).await
        }
        Ok(login::LoggedIn::Viewer(viewer)) => {
            recv.set_recv_timeout(None);
            viewer::serve(state, connection, viewer, &mut send, &mut recv, source).await
        }
        Err(e) => Err(e),
    };
    if let Err(ServerError::Refused(error)) = &result {
        if send.send(error).await.is_ok() {
            send.finish_and_wait(Duration::from_secs(2)).await;
        }
    }
    if let Err(ServerError::Net(NetError::Decode(error))) = &result {
        // Tell the client what was wrong before closing; other connections go on.
        if send
            .send(&RelayError::from_decode_error(error))
            .await
            .is_ok()
        {
            send.finish_and_wait(Duration::from_secs(2)).await;
        }
        state.metrics.frame_rejected();
        let event = state
            .ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .on_malformed_frame(source, Instant::now());
        if let Some(event) = event {
            state.report_ids(event).await;
        }
    }
    result
}

/// Receives the next frame on the signalling stream; end of stream is `Closed`.
pub(crate) async fn next_frame(
    recv: &mut FramedRecv,
) -> Result<assent_proto::wire::Frame, ServerError> {
    recv.recv().await?.ok_or(ServerError::Closed)
}

/// Sends a refusal and keeps the connection (the client may try something else).
pub(crate) async fn refuse(
    send: &mut FramedSend,
    code: RelayErrorCode,
    message: &str,
    retry_after_secs: Option<u64>,
) -> Result<(), ServerError> {
    send.send(&RelayError::new(code, message, retry_after_secs))
        .await
        .map_err(ServerError::Net)
}

/// IPv4-mapped IPv6 sources count as the IPv4 address (one source, one budget).
pub(crate) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The network a source belongs to, for new-location checks (R8).
pub(crate) fn network_of(ip: IpAddr, v4_prefix: u8, v6_prefix: u8) -> String {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => {
            let prefix = v4_prefix.min(32);
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            let net = std::net::Ipv4Addr::from(u32::from(v4) & mask);
            format!("{net}/{prefix}")
        }
        IpAddr::V6(v6) => {
            let prefix = v6_prefix.min(128);
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            let net = std::net::Ipv6Addr::from(u128::from(v6) & mask);
            format!("{net}/{prefix}")
        }
    }
}

pub(crate) fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Text for audit fields, shortened to fit rather than refused.
pub(crate) fn text<const MAX: usize>(value: &str) -> Text<MAX> {
    assent_proto::messages::session::lossy_text(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_group_sources_by_prefix() {
        let a: IpAddr = "203.0.113.7".parse().unwrap();
        let b: IpAddr = "203.0.113.200".parse().unwrap();
        let c: IpAddr = "203.0.114.7".parse().unwrap();
        assert_eq!(network_of(a, 24, 48), "203.0.113.0/24");
        assert_eq!(network_of(a, 24, 48), network_of(b, 24, 48));
        assert_ne!(network_of(a, 24, 48), network_of(c, 24, 48));
        let v6: IpAddr = "2001:db8:1:2::5".parse().unwrap();
        assert_eq!(network_of(v6, 24, 48), "2001:db8:1::/48");
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(network_of(mapped, 24, 48), "203.0.113.0/24");
    }
}
