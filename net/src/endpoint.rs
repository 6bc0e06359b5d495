//! QUIC endpoints and connections (R1, R2): the relay's listening server
//! config, the outbound-only client endpoint hosts and viewers use, and
//! `connect` with a timeout and failures mapped to [`NetError`]s a person
//! can act on.
//!
//! Every config is TLS 1.3 only with the `ring` provider, requires
//! [`ALPN`], refuses 0-RTT (replayable early data has no place in a login
//! protocol) and bounds what a peer can make us hold: streams, receive
//! windows, pending handshakes.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{HandshakeData, QuicClientConfig, QuicServerConfig};
use quinn::{IdleTimeout, TransportConfig, TransportErrorCode, VarInt};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::AlertDescription;

use crate::trust::{pin_mismatch_in, provider, verifier_for, RelayTrust};
use crate::{NetError, ALPN};

#[cfg(test)]
mod tests;

/// How long [`connect`] waits for the relay's handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// UDP socket buffers every endpoint asks the kernel for. At a few hundred
/// MiB/s the default (≈208 KiB on Linux) overflows between two reads, and
/// each datagram dropped there costs a retransmission and halves QUIC's
/// congestion window. The kernel grants at most `net.core.rmem_max` /
/// `wmem_max` (see [`bind_udp`]).
pub const UDP_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// Buffer for datagrams of a handshake the relay has not accepted yet; we
/// take no 0-RTT data, so a handshake needs little.
const INCOMING_BUFFER: u64 = 64 * 1024;

/// What one peer may make the other hold for one connection. Defaults suit
/// a session over a 6 Mbit/s link (R17) with one 1 MiB record in flight per
/// stream; the worst case a connection can pin in receive buffers is
/// `connection_receive_window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A connection with no traffic for this long is closed. Clients send
    /// keep-alives at a third of it.
    pub idle_timeout: Duration,
    /// Bidirectional streams the peer may have open at once.
    pub max_bidi_streams: u32,
    /// Unidirectional streams the peer may have open at once.
    pub max_uni_streams: u32,
    /// Unread bytes the peer may send on one stream.
    pub stream_receive_window: u32,
    /// Unread bytes the peer may send on all streams together.
    pub connection_receive_window: u32,
    /// Handshakes in progress the relay holds before refusing new ones.
    pub max_pending_handshakes: u32,
}

/// Idle timeout clients ask for: how long a lost relay goes unnoticed.
pub const CLIENT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30),
            max_bidi_streams: 16,
            max_uni_streams: 8,
            stream_receive_window: 2 * 1024 * 1024,
            connection_receive_window: 8 * 1024 * 1024,
            max_pending_handshakes: 4096,
        }
    }
}

impl ConnectionLimits {
    /// QUIC transport settings for these limits; `keep_alive` only on clients.
    fn transport(&self, keep_alive: bool) -> Result<TransportConfig, NetError> {
        if self.idle_timeout < Duration::from_secs(1) {
            return Err(NetError::InvalidLimits(format!(
                "idle timeout {:?} is under 1 s",
                self.idle_timeout
            )));
        }
        if self.stream_receive_window == 0
            || self.stream_receive_window > self.connection_receive_window
        {
            return Err(NetError::InvalidLimits(format!(
                "stream receive window {} must be between 1 and the connection window {}",
                self.stream_receive_window, self.connection_receive_window
            )));
        }
        if self.max_pending_handshakes == 0 {
            return Err(NetError::InvalidLimits(
                "max pending handshakes must be at least 1".into(),
            ));
        }
        let idle = IdleTimeout::try_from(self.idle_timeout).map_err(|_| {
            NetError::InvalidLimits(format!("idle timeout {:?} is too long", self.idle_timeout))
        })?;
        let mut transport = TransportConfig::default();
        transport
            .max_idle_timeout(Some(idle))
            .keep_alive_interval(keep_alive.then(|| self.idle_timeout / 3))
            .max_concurrent_bidi_streams(VarInt::from_u32(self.max_bidi_streams))
            .max_concurrent_uni_streams(VarInt::from_u32(self.max_uni_streams))
            .stream_receive_window(VarInt::from_u32(self.stream_receive_window))
            .receive_window(VarInt::from_u32(self.connection_receive_window))
            .send_window(u64::from(self.connection_receive_window))
            // Assent sends everything on streams; refuse unreliable datagrams.
            .datagram_receive_buffer_size(None);
        Ok(transport)
    }
}

/// The relay's QUIC server config: `cert_chain` (end-entity first) and its
/// `key`, TLS 1.3, [`ALPN`] required, bounded by `limits`.
pub fn server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    limits: &ConnectionLimits,
) -> Result<quinn::ServerConfig, NetError> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| NetError::TlsSetup(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(cert_chain, key)
        .map_err(NetError::InvalidServerCertificate)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    // `max_early_data_size` stays 0: no 0-RTT.
    let quic = QuicServerConfig::try_from(tls).map_err(|e| NetError::TlsSetup(e.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    config
        .transport_config(Arc::new(limits.transport(false)?))
        .max_incoming(limits.max_pending_handshakes as usize)
        .incoming_buffer_size(INCOMING_BUFFER)
        .incoming_buffer_size_total(INCOMING_BUFFER * u64::from(limits.max_pending_handshakes));
    Ok(config)
}

/// A host's or viewer's QUIC client config: the relay is verified by
/// `trust` (R2), TLS 1.3, [`ALPN`] required, keep-alives on.
pub fn client_config(trust: RelayTrust) -> Result<quinn::ClientConfig, NetError> {
    client_config_with_alpn(trust, ALPN)
}

/// [`client_config`] offering another ALPN: only tests need it, to prove a
/// relay refuses other protocols.
fn client_config_with_alpn(
    trust: RelayTrust,
    alpn: &[u8],
) -> Result<quinn::ClientConfig, NetError> {
    let provider = provider();
    let verifier = verifier_for(trust, &provider)?;
    // `dangerous()` is rustls's name for "custom verifier"; ours verifies.
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| NetError::TlsSetup(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    tls.alpn_protocols = vec![alpn.to_vec()];
    let quic = QuicClientConfig::try_from(tls).map_err(|e| NetError::TlsSetup(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    // Host and viewer notice a vanished relay within 10 s (keep-alives every
    // 3 s keep a quiet but healthy session open); the smaller side wins.
    let limits = ConnectionLimits {
        idle_timeout: CLIENT_IDLE_TIMEOUT,
        ..ConnectionLimits::default()
    };
    config.transport_config(Arc::new(limits.transport(true)?));
    Ok(config)
}

/// The relay's listening endpoint on `addr` (UDP). Only `assent-relay` calls this (R1).
pub fn server_endpoint(
    addr: SocketAddr,
    config: quinn::ServerConfig,
) -> Result<quinn::Endpoint, NetError> {
    endpoint(addr, Some(config))
}

/// An outbound-only endpoint for hosts and viewers (R1): it has no server
/// config, so it answers no incoming handshake. Bind port 0 (see
/// [`ephemeral_bind_addr`]); the socket exists only to receive the relay's replies.
pub fn client_endpoint(bind: SocketAddr) -> Result<quinn::Endpoint, NetError> {
    endpoint(bind, None)
}

/// An endpoint on a socket from [`bind_udp`], on the current tokio runtime.
fn endpoint(
    addr: SocketAddr,
    server: Option<quinn::ServerConfig>,
) -> Result<quinn::Endpoint, NetError> {
    let bind_error = |source| NetError::Bind { addr, source };
    let socket = bind_udp(addr, server.is_none()).map_err(bind_error)?;
    let runtime = quinn::default_runtime()
        .ok_or_else(|| bind_error(std::io::Error::other("no tokio runtime is running")))?;
    quinn::Endpoint::new(quinn::EndpointConfig::default(), server, socket, runtime)
        .map_err(bind_error)
}

/// A UDP socket bound to `addr`, asking for [`UDP_BUFFER_BYTES`] each way.
/// A smaller grant is not an error: the endpoint works, with more loss
/// under load; it is logged with the sysctls to raise. A client on IPv6 is
/// made dual-stack where the system allows (as quinn's client endpoint
/// does); the relay's socket keeps the system's setting, so `[::]` and
/// `0.0.0.0` can still be bound separately.
fn bind_udp(addr: SocketAddr, client: bool) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if client && addr.is_ipv6() {
        if let Err(error) = socket.set_only_v6(false) {
            tracing::debug!(%error, "IPv6 client socket stays IPv6-only");
        }
    }
    let _ = socket.set_recv_buffer_size(UDP_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(UDP_BUFFER_BYTES);
    // Linux reports twice what it granted (its bookkeeping); a grant is
    // silently capped at net.core.rmem_max / wmem_max.
    let granted = |size: std::io::Result<usize>| size.map_or(0, |s| s / 2);
    let (receive, send) = (
        granted(socket.recv_buffer_size()),
        granted(socket.send_buffer_size()),
    );
    if receive < UDP_BUFFER_BYTES || send < UDP_BUFFER_BYTES {
        let advice = "UDP socket buffers are smaller than wanted; raise the sysctls \
                      net.core.rmem_max and net.core.wmem_max to 4194304 for full throughput";
        // The relay carries every session: its operator should know.
        if client {
            tracing::debug!(receive, send, "{advice}");
        } else {
            tracing::warn!(receive, send, "{advice}");
        }
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// The unspecified address of `relay`'s family with port 0: what a client binds.
pub fn ephemeral_bind_addr(relay: SocketAddr) -> SocketAddr {
    match relay {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

/// Connects to the relay, waiting at most [`CONNECT_TIMEOUT`].
/// `server_name` is checked against the certificate under
/// [`RelayTrust::OperatorCa`]; under a pin any valid name will do.
pub async fn connect(
    endpoint: &quinn::Endpoint,
    relay: SocketAddr,
    server_name: &str,
    config: quinn::ClientConfig,
) -> Result<quinn::Connection, NetError> {
    connect_within(endpoint, relay, server_name, config, CONNECT_TIMEOUT).await
}

/// [`connect`] with an explicit handshake timeout.
pub async fn connect_within(
    endpoint: &quinn::Endpoint,
    relay: SocketAddr,
    server_name: &str,
    config: quinn::ClientConfig,
    timeout: Duration,
) -> Result<quinn::Connection, NetError> {
    let connecting = endpoint
        .connect_with(config, relay, server_name)
        .map_err(|source| NetError::Connect { relay, source })?;
    let connection = match tokio::time::timeout(timeout, connecting).await {
        Err(_) => {
            return Err(NetError::ConnectTimeout {
                relay,
                after: timeout,
            })
        }
        Ok(Err(error)) => return Err(handshake_failure(error)),
        Ok(Ok(connection)) => connection,
    };
    // rustls already enforces ALPN for QUIC; checking the outcome keeps the
    // rule visible here and independent of that detail.
    if negotiated_alpn(&connection).as_deref() != Some(ALPN) {
        connection.close(VarInt::from_u32(0), b"wrong application protocol");
        return Err(NetError::AlpnRefused);
    }
    tracing::debug!(%relay, "connected to relay");
    Ok(connection)
}

/// The application protocol a connection negotiated.
fn negotiated_alpn(connection: &quinn::Connection) -> Option<Vec<u8>> {
    connection
        .handshake_data()?
        .downcast::<HandshakeData>()
        .ok()?
        .protocol
}

/// TLS alerts that mean "the certificate (or its key's signature) was not accepted".
const CERTIFICATE_ALERTS: [AlertDescription; 8] = [
    AlertDescription::BadCertificate,
    AlertDescription::UnsupportedCertificate,
    AlertDescription::CertificateRevoked,
    AlertDescription::CertificateExpired,
    AlertDescription::CertificateUnknown,
    AlertDescription::UnknownCA,
    AlertDescription::AccessDenied,
    AlertDescription::DecryptError,
];

fn is_alert(code: TransportErrorCode, alert: AlertDescription) -> bool {
    code == TransportErrorCode::crypto(u8::from(alert))
}

/// Turns a failed handshake into what the person at the client should check.
/// quinn keeps only a TLS error's alert code and text, so that is what we read.
fn handshake_failure(error: quinn::ConnectionError) -> NetError {
    match &error {
        // Our own TLS refused the relay.
        quinn::ConnectionError::TransportError(local) => {
            if let Some(mismatch) = pin_mismatch_in(&local.reason) {
                return mismatch;
            }
            if CERTIFICATE_ALERTS.iter().any(|a| is_alert(local.code, *a)) {
                return NetError::RelayCertificateUntrusted {
                    reason: local.reason.clone(),
                };
            }
            if is_alert(local.code, AlertDescription::NoApplicationProtocol) {
                return NetError::AlpnRefused;
            }
        }
        // The relay refused us.
        quinn::ConnectionError::ConnectionClosed(close)
            if is_alert(close.error_code, AlertDescription::NoApplicationProtocol) =>
        {
            return NetError::AlpnRefused;
        }
        _ => {}
    }
    NetError::Connection(error)
}
