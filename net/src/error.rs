//! [`NetError`]: every way the IO plumbing fails, one variant per thing a
//! caller can act on, with messages that say what to check.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use assent_proto::wire::DecodeError;

use crate::trust::CertFingerprint;

/// Why a QUIC endpoint, connection or framed stream failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The relay's own certificate chain or private key was refused (R2).
    #[error("relay certificate or key refused: {0}; check the certificate and key files")]
    InvalidServerCertificate(#[source] rustls::Error),

    /// An operator CA certificate given to a client could not be used (R2).
    #[error("operator CA refused: {0}; check the CA certificate file the operator gave you")]
    InvalidOperatorCa(String),

    /// A [`ConnectionLimits`](crate::ConnectionLimits) value is out of range.
    #[error("invalid connection limits: {0}")]
    InvalidLimits(String),

    /// Building the TLS configuration failed (a build problem, not a peer's).
    #[error("TLS setup failed: {0}")]
    TlsSetup(String),

    /// The UDP socket could not be opened.
    #[error(
        "could not bind UDP socket {addr}: {source}; check the address and that the port is free"
    )]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },

    /// The connection attempt could not even start (bad server name, endpoint closed).
    #[error("cannot resolve relay address {relay:?}: {why}")]
    UnresolvableRelay { relay: String, why: String },

    #[error("could not start a connection to relay {relay}: {source}")]
    Connect {
        relay: SocketAddr,
        #[source]
        source: quinn::ConnectError,
    },

    /// The relay did not complete a handshake in time.
    #[error("relay {relay} did not answer within {after:?}; check the address, that UDP to that port is allowed, and that the relay is running")]
    ConnectTimeout { relay: SocketAddr, after: Duration },

    /// The relay presented a certificate other than the pinned one (R2).
    #[error("relay certificate fingerprint {got} does not match the pinned {expected}; check the fingerprint the operator gave you")]
    RelayCertificateMismatch {
        expected: CertFingerprint,
        got: CertFingerprint,
    },

    /// The relay's certificate did not verify against the operator CA, or
    /// its handshake signature did not verify (R2).
    #[error("relay certificate not trusted: {reason}; check the operator CA and the relay name")]
    RelayCertificateUntrusted { reason: String },

    /// The peer does not speak [`ALPN`](crate::ALPN).
    #[error(
        "peer does not speak {}; check the address and that relay and client versions match",
        String::from_utf8_lossy(crate::ALPN)
    )]
    AlpnRefused,

    /// The connection failed or was closed.
    #[error("connection lost: {0}")]
    Connection(#[from] quinn::ConnectionError),

    /// Writing to a stream failed (stopped by the peer, connection lost).
    #[error("sending on stream failed: {0}")]
    Write(#[from] quinn::WriteError),

    /// The stream was already finished or reset locally.
    #[error("stream already finished or reset")]
    ClosedStream(#[from] quinn::ClosedStream),

    /// Reading from a stream failed (reset by the peer, connection lost).
    #[error("receiving on stream failed: {0}")]
    Read(#[from] quinn::ReadError),

    /// An outgoing message or frame is over its type's bound; nothing was sent.
    #[error("outgoing message refused: {0}")]
    Encode(#[source] DecodeError),

    /// The peer sent a malformed frame; the stream is stopped and unusable.
    #[error("malformed frame from peer: {0}; the stream was stopped")]
    Decode(#[source] DecodeError),

    /// The peer finished the stream in the middle of a frame.
    #[error("stream ended in the middle of a frame")]
    TruncatedFrame,

    /// No complete frame arrived within the stream's receive timeout.
    #[error("no frame received within {0:?}")]
    RecvTimeout(Duration),
}
