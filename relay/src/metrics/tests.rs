use std::collections::HashMap;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use super::*;

/// A parsed exposition: family name -> (type, help), and sample -> value.
struct Exposition {
    families: HashMap<String, (String, String)>,
    samples: HashMap<String, u64>,
}

/// Parses the text format strictly enough that a malformed line fails.
fn parse_exposition(text: &str) -> Exposition {
    let mut families: HashMap<String, (String, String)> = HashMap::new();
    let mut samples = HashMap::new();
    let mut current: Option<String> = None;
    assert!(text.ends_with('\n'), "exposition must end with a newline");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP has a name and text");
            assert!(!help.is_empty(), "{name} has empty help");
            families.entry(name.to_owned()).or_default().1 = help.to_owned();
            current = Some(name.to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE has a name and kind");
            assert!(matches!(kind, "counter" | "gauge"), "{name}: type {kind}");
            assert_eq!(current.as_deref(), Some(name), "TYPE follows its HELP");
            families.entry(name.to_owned()).or_default().0 = kind.to_owned();
        } else {
            let (sample, value) = line.rsplit_once(' ').expect("sample has a value");
            let name = sample.split('{').next().unwrap_or(sample);
            assert_eq!(
                current.as_deref(),
                Some(name),
                "sample {sample} under its family"
            );
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "metric name {name}"
            );
            if let Some(labels) = sample.strip_prefix(name).filter(|l| !l.is_empty()) {
                assert!(
                    (labels.starts_with("{kind=\"") || labels.starts_with("{severity=\""))
                        && labels.ends_with("\"}"),
                    "{labels}"
                );
            }
            let value: u64 = value.parse().expect("value is an integer");
            assert!(
                samples.insert(sample.to_owned(), value).is_none(),
                "duplicate {sample}"
            );
        }
    }
    Exposition { families, samples }
}

#[test]
fn render_is_prometheus_text_with_help_and_type_for_every_family() {
    let metrics = RelayMetrics::new();
    let exposition = parse_exposition(&metrics.render());
    let expected = [
        ("connections_total", "counter"),
        ("connections_open", "gauge"),
        ("sessions_total", "counter"),
        ("sessions_active", "gauge"),
        ("bytes_forwarded_total", "counter"),
        ("auth_failures_total", "counter"),
        ("lockouts_total", "counter"),
        ("frames_rejected_total", "counter"),
        ("connections_throttled_total", "counter"),
        ("connections_retried_total", "counter"),
        ("ids_events_total", "counter"),
        ("notifications_total", "counter"),
        ("notifications_cleared_total", "counter"),
    ];
    assert_eq!(exposition.families.len(), expected.len());
    for (name, kind) in expected {
        let full = format!("assent_relay_{name}");
        let (got_kind, help) = &exposition.families[&full];
        assert_eq!(got_kind, kind, "{full}");
        assert!(!help.is_empty());
        if kind == "counter" {
            assert!(full.ends_with("_total"), "counter {full} ends in _total");
        }
    }
    for kind in IdsEventKind::ALL {
        let sample = format!("assent_relay_ids_events_total{{kind=\"{}\"}}", kind.label());
        assert_eq!(exposition.samples.get(&sample), Some(&0), "{sample}");
    }
}

#[test]
fn render_reports_every_counter_and_gauge_update() {
    let metrics = Arc::new(RelayMetrics::new());
    metrics.connection_opened();
    metrics.connection_opened();
    metrics.connection_closed();
    metrics.session_started();
    metrics.add_bytes_forwarded(1500);
    metrics.add_bytes_forwarded(500);
    metrics.auth_failure();
    metrics.auth_failure();
    metrics.auth_failure();
    metrics.lockout();
    metrics.frame_rejected();
    metrics.ids_event(IdsEventKind::ConnectionFlood);
    metrics.ids_event(IdsEventKind::ConnectionFlood);
    metrics.ids_event(IdsEventKind::HostIdScanning);
    let samples = parse_exposition(&metrics.render()).samples;
    let get = |name: &str| samples[&format!("assent_relay_{name}")];
    assert_eq!(get("connections_total"), 2);
    assert_eq!(get("connections_open"), 1);
    assert_eq!(get("sessions_total"), 1);
    assert_eq!(get("sessions_active"), 1);
    assert_eq!(get("bytes_forwarded_total"), 2000);
    assert_eq!(get("auth_failures_total"), 3);
    assert_eq!(get("lockouts_total"), 1);
    assert_eq!(get("frames_rejected_total"), 1);
    assert_eq!(get("ids_events_total{kind=\"connection_flood\"}"), 2);
    assert_eq!(get("ids_events_total{kind=\"host_id_scanning\"}"), 1);
    assert_eq!(get("ids_events_total{kind=\"password_guessing\"}"), 0);
    assert_eq!(get("ids_events_total{kind=\"malformed_frames\"}"), 0);
}

#[test]
fn notifications_are_counted_by_severity_label_and_clears_apart() {
    let metrics = RelayMetrics::new();
    metrics.notification_raised(Severity::Error);
    metrics.notification_raised(Severity::Error);
    metrics.notification_raised(Severity::Critical);
    metrics.notification_cleared();
    let samples = parse_exposition(&metrics.render()).samples;
    let get = |name: &str| samples[&format!("assent_relay_{name}")];
    assert_eq!(get("notifications_total{severity=\"error\"}"), 2);
    assert_eq!(get("notifications_total{severity=\"critical\"}"), 1);
    assert_eq!(get("notifications_total{severity=\"warning\"}"), 0);
    assert_eq!(get("notifications_total{severity=\"info\"}"), 0);
    assert_eq!(get("notifications_cleared_total"), 1);
}

#[test]
fn gauge_guards_lower_the_gauge_when_dropped() {
    let metrics = Arc::new(RelayMetrics::new());
    let connection = metrics.track_connection();
    let session = metrics.track_session();
    assert_eq!(metrics.snapshot().connections_open, 1);
    assert_eq!(metrics.snapshot().sessions_active, 1);
    drop(session);
    drop(connection);
    let snapshot = metrics.snapshot();
    assert_eq!(
        (snapshot.connections_open, snapshot.sessions_active),
        (0, 0)
    );
    assert_eq!(
        (snapshot.connections_total, snapshot.sessions_total),
        (1, 1)
    );
}

#[test]
fn gauges_never_wrap_below_zero() {
    let metrics = RelayMetrics::new();
    metrics.connection_closed();
    metrics.session_ended();
    let snapshot = metrics.snapshot();
    assert_eq!(
        (snapshot.connections_open, snapshot.sessions_active),
        (0, 0)
    );
}

struct TestServer {
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    metrics: Arc<RelayMetrics>,
}

impl TestServer {
    async fn start(limits: Limits) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let metrics = Arc::new(RelayMetrics::new());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with_limits(
            listener,
            Arc::clone(&metrics),
            async move {
                let _ = stopped.await;
            },
            limits,
        ));
        Self {
            addr,
            stop: Some(stop),
            task,
            metrics,
        }
    }

    /// Sends `request` raw and returns everything the server sends back.
    async fn exchange(&self, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(self.addr).await.expect("connect");
        stream.write_all(request).await.expect("send request");
        // Half-close: the request is complete, whatever it is.
        stream.shutdown().await.expect("half-close");
        let mut response = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
            .await
            .expect("server answers in time");
        if let Err(err) = read {
            // A connection closed unanswered may arrive as a reset.
            assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
        }
        String::from_utf8(response).expect("response is UTF-8")
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("server stops on shutdown")
            .expect("server task did not panic");
    }
}

fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or("")
}

#[tokio::test]
async fn get_metrics_over_tcp_returns_the_exposition_with_its_content_type() {
    let server = TestServer::start(LIMITS).await;
    server.metrics.auth_failure();
    let response = server
        .exchange(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    assert_eq!(status_line(&response), "HTTP/1.1 200 OK");
    let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
    assert!(head.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8"));
    assert!(head.contains(&format!("\r\nContent-Length: {}", body.len())));
    assert!(head.contains("\r\nConnection: close"));
    let samples = parse_exposition(body).samples;
    assert_eq!(samples["assent_relay_auth_failures_total"], 1);
    server.stop().await;
}

#[tokio::test]
async fn head_request_gets_headers_without_a_body() {
    let server = TestServer::start(LIMITS).await;
    let response = server.exchange(b"HEAD /metrics HTTP/1.0\r\n\r\n").await;
    assert_eq!(status_line(&response), "HTTP/1.1 200 OK");
    assert!(response.ends_with("\r\n\r\n"), "no body after the head");
    server.stop().await;
}

#[tokio::test]
async fn other_paths_get_404_and_other_methods_405() {
    let server = TestServer::start(LIMITS).await;
    let not_found = server.exchange(b"GET / HTTP/1.1\r\n\r\n").await;
    assert_eq!(status_line(&not_found), "HTTP/1.1 404 Not Found");
    let metrics_prefix = server.exchange(b"GET /metricsx HTTP/1.1\r\n\r\n").await;
    assert_eq!(status_line(&metrics_prefix), "HTTP/1.1 404 Not Found");
    let post = server.exchange(b"POST /metrics HTTP/1.1\r\n\r\n").await;
    assert_eq!(status_line(&post), "HTTP/1.1 405 Method Not Allowed");
    assert!(post.contains("\r\nAllow: GET, HEAD\r\n"));
    let query = server.exchange(b"GET /metrics?x=1 HTTP/1.1\r\n\r\n").await;
    assert_eq!(status_line(&query), "HTTP/1.1 200 OK");
    server.stop().await;
}

#[tokio::test]
async fn garbage_request_gets_400_and_the_server_keeps_serving() {
    let server = TestServer::start(LIMITS).await;
    for garbage in [
        &b"\x00\x01\x02\xff\xfe\r\n\r\n"[..],
        b"hello\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /metrics\r\n\r\n",
        b"GET metrics HTTP/1.1\r\n\r\n",
        b"GET /metrics HTTP/2.0 extra\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost: x",
    ] {
        let response = server.exchange(garbage).await;
        assert_eq!(
            status_line(&response),
            "HTTP/1.1 400 Bad Request",
            "request {garbage:?}"
        );
    }
    let response = server.exchange(b"GET /metrics HTTP/1.1\r\n\r\n").await;
    assert_eq!(status_line(&response), "HTTP/1.1 200 OK");
    server.stop().await;
}

#[tokio::test]
async fn request_head_over_8_kib_is_refused_with_431() {
    let server = TestServer::start(LIMITS).await;
    let mut request = b"GET /metrics HTTP/1.1\r\n".to_vec();
    while request.len() <= MAX_REQUEST_HEAD + 100 {
        request.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    request.extend_from_slice(b"\r\n");
    let response = server.exchange(&request).await;
    assert_eq!(
        status_line(&response),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    let response = server.exchange(b"GET /metrics HTTP/1.1\r\n\r\n").await;
    assert_eq!(status_line(&response), "HTTP/1.1 200 OK");
    server.stop().await;
}

#[tokio::test]
async fn silent_client_times_out_with_408_without_blocking_others() {
    let server = TestServer::start(Limits {
        read_timeout: Duration::from_millis(300),
        ..LIMITS
    })
    .await;
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    // Another client is served while the silent one holds its connection.
    let response = server.exchange(b"GET /metrics HTTP/1.1\r\n\r\n").await;
    assert_eq!(status_line(&response), "HTTP/1.1 200 OK");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut answer))
        .await
        .expect("silent client is dropped in time")
        .expect("read");
    let answer = String::from_utf8(answer).expect("UTF-8");
    assert_eq!(status_line(&answer), "HTTP/1.1 408 Request Timeout");
    server.stop().await;
}

#[tokio::test]
async fn connections_over_the_limit_are_closed_unanswered() {
    let server = TestServer::start(Limits {
        max_connections: 1,
        ..LIMITS
    })
    .await;
    // Holds the only slot by never finishing its request.
    let mut holder = TcpStream::connect(server.addr).await.expect("connect");
    holder
        .write_all(b"GET /metrics HTTP/1.1\r\n")
        .await
        .expect("send");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = server.exchange(b"GET /metrics HTTP/1.1\r\n\r\n").await;
    assert_eq!(refused, "", "no answer beyond the connection limit");
    holder.write_all(b"\r\n").await.expect("finish request");
    let mut answer = Vec::new();
    holder.read_to_end(&mut answer).await.expect("read");
    assert!(answer.starts_with(b"HTTP/1.1 200 OK\r\n"));
    server.stop().await;
}

#[tokio::test]
async fn shutdown_stops_the_server_even_with_a_client_mid_request() {
    let server = TestServer::start(LIMITS).await;
    let mut lingering = TcpStream::connect(server.addr).await.expect("connect");
    lingering.write_all(b"GET /met").await.expect("send");
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.stop().await;
}

#[test]
fn arbitrary_request_heads_never_panic() {
    let metrics = RelayMetrics::new();
    // A cheap deterministic generator: no extra dependency for a fuzz loop.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"GETHEAD /metrics?HTTP/1.01\r\n\x00\xff: ";
    for _ in 0..5_000 {
        let len = (next() % 64) as usize;
        let head: Vec<u8> = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let _ = respond(&head, &metrics).into_bytes();
        let _ = head_end(&head);
    }
}
