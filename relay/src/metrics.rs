//! Operator metrics (issue 4; R14's IDS events among them): counters the
//! relay updates lock-free, rendered in the Prometheus text format 0.0.4 and
//! served over a deliberately tiny HTTP/1.1 endpoint.
//!
//! The endpoint is plain TCP and binds to loopback by default (the config
//! refuses anything else unless `metrics.allow_remote`). It answers one
//! request per connection, reads at most [`MAX_REQUEST_HEAD`] bytes for at
//! most a few seconds, and serves a bounded number of connections at once, so
//! whoever can reach it cannot tie up the relay.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use assent_proto::messages::notification::Severity;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

#[cfg(test)]
mod tests;

/// What the intrusion detector (R14) reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdsEventKind {
    PasswordGuessing,
    HostIdScanning,
    ConnectionFlood,
    MalformedFrames,
}

impl IdsEventKind {
    pub const ALL: [Self; 4] = [
        Self::PasswordGuessing,
        Self::HostIdScanning,
        Self::ConnectionFlood,
        Self::MalformedFrames,
    ];

    /// The `kind` label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::PasswordGuessing => "password_guessing",
            Self::HostIdScanning => "host_id_scanning",
            Self::ConnectionFlood => "connection_flood",
            Self::MalformedFrames => "malformed_frames",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::PasswordGuessing => 0,
            Self::HostIdScanning => 1,
            Self::ConnectionFlood => 2,
            Self::MalformedFrames => 3,
        }
    }
}

/// The relay's counters and gauges. Share it as `Arc<RelayMetrics>`.
#[derive(Debug, Default)]
pub struct RelayMetrics {
    connections_total: AtomicU64,
    connections_open: AtomicU64,
    sessions_total: AtomicU64,
    sessions_active: AtomicU64,
    bytes_forwarded_total: AtomicU64,
    auth_failures_total: AtomicU64,
    lockouts_total: AtomicU64,
    ids_events_total: [AtomicU64; IdsEventKind::ALL.len()],
    frames_rejected_total: AtomicU64,
    connections_throttled_total: AtomicU64,
    connections_retried_total: AtomicU64,
    /// Raises stored (R15), by severity in [`SEVERITIES`] order.
    notifications_total: [AtomicU64; SEVERITIES.len()],
    notifications_cleared_total: AtomicU64,
}

/// Notification severities as `severity` label values, lowest first.
pub const SEVERITIES: [(Severity, &str); 4] = [
    (Severity::Info, "info"),
    (Severity::Warning, "warning"),
    (Severity::Error, "error"),
    (Severity::Critical, "critical"),
];

fn severity_index(severity: Severity) -> usize {
    match severity {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Error => 2,
        Severity::Critical => 3,
    }
}

/// The values at one moment, for tests and the status page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    pub connections_total: u64,
    pub connections_open: u64,
    pub sessions_total: u64,
    pub sessions_active: u64,
    pub bytes_forwarded_total: u64,
    pub auth_failures_total: u64,
    pub lockouts_total: u64,
    /// In [`IdsEventKind::ALL`] order.
    pub ids_events_total: [u64; IdsEventKind::ALL.len()],
    pub frames_rejected_total: u64,
    /// Connection attempts refused by admission control (R14); the
    /// address is never blocked, only the attempt.
    pub connections_throttled_total: u64,
    /// Connection attempts answered with a QUIC Retry (address validation).
    pub connections_retried_total: u64,
    /// In [`SEVERITIES`] order.
    pub notifications_total: [u64; SEVERITIES.len()],
    pub notifications_cleared_total: u64,
}

/// Keeps a gauge raised while it lives, so an early return or a cancelled
/// task cannot leave a connection or session counted forever.
#[derive(Debug)]
pub struct GaugeGuard {
    metrics: Arc<RelayMetrics>,
    gauge: Gauge,
}

#[derive(Debug, Clone, Copy)]
enum Gauge {
    ConnectionsOpen,
    SessionsActive,
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        match self.gauge {
            Gauge::ConnectionsOpen => self.metrics.connection_closed(),
            Gauge::SessionsActive => self.metrics.session_ended(),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn lower(gauge: &AtomicU64) {
    // Saturating: a stray extra call must not wrap the gauge to 2^64 - 1.
    let _ = gauge.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
}

impl RelayMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn connection_opened(&self) {
        bump(&self.connections_total);
        bump(&self.connections_open);
    }

    pub fn connection_closed(&self) {
        lower(&self.connections_open);
    }

    /// Counts a connection as opened until the guard drops.
    pub fn track_connection(self: &Arc<Self>) -> GaugeGuard {
        self.connection_opened();
        self.guard(Gauge::ConnectionsOpen)
    }

    pub fn session_started(&self) {
        bump(&self.sessions_total);
        bump(&self.sessions_active);
    }

    pub fn session_ended(&self) {
        lower(&self.sessions_active);
    }

    /// Counts a session as active until the guard drops.
    pub fn track_session(self: &Arc<Self>) -> GaugeGuard {
        self.session_started();
        self.guard(Gauge::SessionsActive)
    }

    fn guard(self: &Arc<Self>, gauge: Gauge) -> GaugeGuard {
        GaugeGuard {
            metrics: Arc::clone(self),
            gauge,
        }
    }

    pub fn add_bytes_forwarded(&self, bytes: u64) {
        self.bytes_forwarded_total
            .fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn auth_failure(&self) {
        bump(&self.auth_failures_total);
    }

    pub fn lockout(&self) {
        bump(&self.lockouts_total);
    }

    pub fn ids_event(&self, kind: IdsEventKind) {
        bump(&self.ids_events_total[kind.index()]);
    }

    pub fn frame_rejected(&self) {
        bump(&self.frames_rejected_total);
    }

    pub fn connection_throttled(&self) {
        bump(&self.connections_throttled_total);
    }

    pub fn connection_retried(&self) {
        bump(&self.connections_retried_total);
    }

    /// A host's notification was stored (not counted again when re-sent).
    pub fn notification_raised(&self, severity: Severity) {
        bump(&self.notifications_total[severity_index(severity)]);
    }

    pub fn notification_cleared(&self) {
        bump(&self.notifications_cleared_total);
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        MetricsSnapshot {
            connections_total: get(&self.connections_total),
            connections_open: get(&self.connections_open),
            sessions_total: get(&self.sessions_total),
            sessions_active: get(&self.sessions_active),
            bytes_forwarded_total: get(&self.bytes_forwarded_total),
            auth_failures_total: get(&self.auth_failures_total),
            lockouts_total: get(&self.lockouts_total),
            ids_events_total: self.ids_events_total.each_ref().map(get),
            frames_rejected_total: get(&self.frames_rejected_total),
            connections_throttled_total: get(&self.connections_throttled_total),
            connections_retried_total: get(&self.connections_retried_total),
            notifications_total: self.notifications_total.each_ref().map(get),
            notifications_cleared_total: get(&self.notifications_cleared_total),
        }
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let s = self.snapshot();
        let mut out = String::with_capacity(2048);
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            family(&mut out, name, kind, help);
            let _ = writeln!(out, "assent_relay_{name} {value}");
        };
        metric(
            "connections_total",
            "counter",
            "QUIC connections accepted since the relay started.",
            s.connections_total,
        );
        metric(
            "connections_open",
            "gauge",
            "QUIC connections open now.",
            s.connections_open,
        );
        metric(
            "sessions_total",
            "counter",
            "Host-viewer sessions paired since the relay started.",
            s.sessions_total,
        );
        metric(
            "sessions_active",
            "gauge",
            "Host-viewer sessions being forwarded now.",
            s.sessions_active,
        );
        metric(
            "bytes_forwarded_total",
            "counter",
            "Session bytes forwarded between hosts and viewers (ciphertext).",
            s.bytes_forwarded_total,
        );
        metric(
            "auth_failures_total",
            "counter",
            "Failed authentications, reported by hosts or refused at the relay.",
            s.auth_failures_total,
        );
        metric(
            "lockouts_total",
            "counter",
            "Lockouts imposed (R6), including burned passwords.",
            s.lockouts_total,
        );
        metric(
            "frames_rejected_total",
            "counter",
            "Oversized or malformed frames refused.",
            s.frames_rejected_total,
        );
        metric(
            "connections_throttled_total",
            "counter",
            "Connection attempts refused by admission control before login; addresses are never blocked.",
            s.connections_throttled_total,
        );
        metric(
            "connections_retried_total",
            "counter",
            "Connection attempts sent a QUIC Retry to validate their address.",
            s.connections_retried_total,
        );
        family(
            &mut out,
            "ids_events_total",
            "counter",
            "Intrusion detection events (R14) by kind.",
        );
        for (kind, value) in IdsEventKind::ALL.iter().zip(s.ids_events_total) {
            let _ = writeln!(
                out,
                "assent_relay_ids_events_total{{kind=\"{}\"}} {value}",
                kind.label()
            );
        }
        family(
            &mut out,
            "notifications_total",
            "counter",
            "Host notifications stored (R15) by severity; a re-sent one counts once.",
        );
        for ((_, label), value) in SEVERITIES.iter().zip(s.notifications_total) {
            let _ = writeln!(
                out,
                "assent_relay_notifications_total{{severity=\"{label}\"}} {value}"
            );
        }
        family(
            &mut out,
            "notifications_cleared_total",
            "counter",
            "Host notifications cleared (R15).",
        );
        let _ = writeln!(
            out,
            "assent_relay_notifications_cleared_total {}",
            s.notifications_cleared_total
        );
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP assent_relay_{name} {help}");
    let _ = writeln!(out, "# TYPE assent_relay_{name} {kind}");
}

/// Longest request head (request line and headers) read.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// Bounds on what one client of the endpoint may cost.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Time to send the whole request head.
    read_timeout: Duration,
    write_timeout: Duration,
    /// Connections served at once; more are closed unanswered.
    max_connections: usize,
}

const LIMITS: Limits = Limits {
    read_timeout: Duration::from_secs(5),
    write_timeout: Duration::from_secs(5),
    max_connections: 32,
};

/// Serves `GET /metrics` on `listener` until `shutdown` completes; requests
/// still in flight then are dropped. Never returns early: a failed accept is
/// logged and retried.
pub async fn serve_metrics(
    listener: TcpListener,
    metrics: Arc<RelayMetrics>,
    shutdown: impl Future<Output = ()>,
) {
    serve_with_limits(listener, metrics, shutdown, LIMITS).await;
}

async fn serve_with_limits(
    listener: TcpListener,
    metrics: Arc<RelayMetrics>,
    shutdown: impl Future<Output = ()>,
    limits: Limits,
) {
    tokio::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut in_flight = JoinSet::new();
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                        tracing::debug!(%peer, "metrics endpoint busy; connection closed");
                        continue;
                    };
                    let metrics = Arc::clone(&metrics);
                    in_flight.spawn(async move {
                        answer(stream, &metrics, limits).await;
                        drop(slot);
                    });
                }
                Err(err) => {
                    // Typically out of file descriptors: wait rather than spin.
                    tracing::warn!(error = %err, "metrics endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    // Dropping the JoinSet aborts connections still being answered.
}

/// An HTTP response we send; always with `Connection: close`.
struct Response {
    status: &'static str,
    content_type: &'static str,
    extra_header: Option<&'static str>,
    body: String,
    /// HEAD: headers only.
    head_only: bool,
}

impl Response {
    fn text(status: &'static str, body: &str) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            extra_header: None,
            body: format!("{body}\n"),
            head_only: false,
        }
    }

    fn into_bytes(self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        if let Some(header) = self.extra_header {
            head.push_str(header);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        if !self.head_only {
            bytes.extend_from_slice(self.body.as_bytes());
        }
        bytes
    }
}

enum HeadError {
    /// Closed before sending anything: nothing to answer.
    Closed,
    TooLarge,
    /// Closed mid-request.
    Truncated,
    Io,
}

async fn answer(mut stream: TcpStream, metrics: &RelayMetrics, limits: Limits) {
    let response = match tokio::time::timeout(limits.read_timeout, read_head(&mut stream)).await {
        Ok(Ok(head)) => respond(&head, metrics),
        Ok(Err(HeadError::TooLarge)) => Response::text(
            "431 Request Header Fields Too Large",
            "request head over 8 KiB",
        ),
        Ok(Err(HeadError::Truncated)) => Response::text("400 Bad Request", "incomplete request"),
        Ok(Err(HeadError::Closed | HeadError::Io)) => return,
        Err(_elapsed) => Response::text("408 Request Timeout", "request took too long"),
    };
    let bytes = response.into_bytes();
    let _ = tokio::time::timeout(limits.write_timeout, async {
        stream.write_all(&bytes).await?;
        stream.shutdown().await?;
        // Read what the client is still sending before closing, so the
        // close does not reset the connection and destroy our answer.
        let mut sink = [0u8; 4096];
        let mut drained = 0usize;
        while drained < 64 * 1024 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => drained += n,
            }
        }
        Ok::<(), std::io::Error>(())
    })
    .await;
}

/// Reads up to the blank line that ends the request head.
async fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, HeadError> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|_| HeadError::Io)?;
        if n == 0 {
            return Err(if head.is_empty() {
                HeadError::Closed
            } else {
                HeadError::Truncated
            });
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(end) = head_end(&head) {
            if end > MAX_REQUEST_HEAD {
                return Err(HeadError::TooLarge);
            }
            head.truncate(end);
            return Ok(head);
        }
        if head.len() >= MAX_REQUEST_HEAD {
            return Err(HeadError::TooLarge);
        }
    }
}

fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = bytes.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The bytes the endpoint answers one request head with (`head` is untrusted
/// network input; public so the parser can be fuzzed).
pub fn response_to(head: &[u8], metrics: &RelayMetrics) -> Vec<u8> {
    respond(head, metrics).into_bytes()
}

fn respond(head: &[u8], metrics: &RelayMetrics) -> Response {
    let bad = || Response::text("400 Bad Request", "malformed request");
    let Ok(head) = std::str::from_utf8(head) else {
        return bad();
    };
    let request_line = head.lines().next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return bad();
    };
    let method_ok = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
    if !method_ok || !target.starts_with('/') || !version.starts_with("HTTP/1.") {
        return bad();
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => {
            let mut response = Response::text("405 Method Not Allowed", "use GET");
            response.extra_header = Some("Allow: GET, HEAD");
            return response;
        }
    };
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    let mut response = if path == "/metrics" {
        Response {
            status: "200 OK",
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            extra_header: None,
            body: metrics.render(),
            head_only: false,
        }
    } else {
        Response::text("404 Not Found", "not found; metrics are at /metrics")
    };
    response.head_only = head_only;
    response
}
