//! `assent-net`: the IO plumbing relay, host and viewer share, written once.
//!
//! `assent-proto` knows bytes and states; this crate moves those bytes over
//! QUIC. It owns no protocol rule of its own beyond the transport ones below,
//! and every binary gets them the same way.
//!
//! | module | owns | requirements |
//! | --- | --- | --- |
//! | [`trust`] | relay certificate fingerprints, pinning and operator-CA verification | R2 |
//! | [`endpoint`] | QUIC/TLS 1.3 configs with bounded limits, outbound-only client endpoints, `connect` | R1, R2 |
//! | [`framing`] | proto frames on QUIC streams, bounded reads, typed stream errors | bad input |
//! | [`file_exchange`] | the Files channel driver: offers, answers, chunks, verify-then-rename (absent from PHI builds) | R10–R12 |
//! | [`file_store`] | received files: temporary file, hash check, rename; never partial (absent from PHI builds) | R11, bad input |
//! | [`relay_client`] | host/viewer side of relay signalling: connect, hello, challenge, request/answer | R1, R2 |
//! | [`channel`] | end-to-end channels through the relay: open/accept, sealed records per channel | R3 |
//! | [`error`] | [`NetError`], one variant per thing a caller can act on | — |
//!
//! Only the relay listens (R1): [`server_endpoint`] is for `assent-relay`;
//! host and viewer use [`client_endpoint`], which accepts no incoming
//! connections. Relay certificates are always verified (R2): there is no
//! "insecure" switch in this crate. TLS 1.3 only, `ring` provider only, and
//! every connection must negotiate [`ALPN`].

#![forbid(unsafe_code)]

pub mod channel;
pub mod endpoint;
pub mod error;
#[cfg(feature = "file-transfer")]
pub mod file_exchange;
#[cfg(feature = "file-transfer")]
pub mod file_store;
pub mod framing;
pub mod relay_client;
pub mod trust;

#[cfg(test)]
mod test_support;

#[cfg(feature = "test-support")]
pub mod loopback;

pub use channel::{
    accept_channel, open_channel, seal_channel, sealed_with, ChannelError, SealedCount,
    SealedRecord, SealedRecv, SealedSend,
};
pub use endpoint::{
    client_config, client_endpoint, connect, connect_within, ephemeral_bind_addr, server_config,
    server_endpoint, ConnectionLimits, CONNECT_TIMEOUT,
};
pub use error::NetError;
pub use framing::{framed, FramedRecv, FramedSend, MALFORMED_FRAME_CODE, READ_CHUNK_MAX};
pub use relay_client::{RelayClient, RelayClientError, RelayTarget};
pub use trust::{CertFingerprint, InvalidCertFingerprint, RelayTrust};

/// The one QUIC application protocol this build speaks. It names the wire
/// version (`PROTOCOL.md`, "Versioning"); a peer offering anything else is
/// refused during the handshake.
pub const ALPN: &[u8] = b"assent/1";
