//! The end-to-end handshake (R3, R4, R5) as typed states, rustls style: each
//! state is a struct consumed into the next, so "signature not yet verified"
//! is a type that cannot produce traffic keys.
//!
//! Viewer: [`viewer::start`] → [`viewer::ExpectHostHello`] →
//! [`viewer::ExpectHostFinish`] → [`SessionKeys`].
//! Host: [`host::HostCredentials`] → [`host::ExpectViewerFinish`] → [`SessionKeys`].
//!
//! What it guarantees and why a relay in the middle cannot break it is argued
//! in `PROTOCOL.md` ("Handshake").

pub mod host;
mod key_schedule;
mod transcript;
pub mod viewer;

#[cfg(test)]
mod tests;

pub use key_schedule::{Channel, ChannelAlreadyOpen, ChannelKeys, Direction, SessionKeys};

use crate::allowlist::AllowListError;
use crate::identity::Fingerprint;
use crate::messages::handshake::AbortReason;
use crate::password::PasswordError;
use crate::wire::DecodeError;

/// Which end of the handshake we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Viewer,
    Host,
}

/// SPAKE2 identities, fixed per role so both sides agree on A/B order.
const PAKE_ID_VIEWER: &[u8] = b"assent/1 viewer";
const PAKE_ID_HOST: &[u8] = b"assent/1 host";

/// Signature contexts: a signature made for one purpose never verifies for another.
const CONTEXT_HOST_SIGNATURE: &str = "assent/1 handshake host signature";
const CONTEXT_VIEWER_SIGNATURE: &str = "assent/1 handshake viewer signature";

/// Why a handshake failed. Each variant maps to an [`AbortReason`] the shell
/// sends to the peer, and the shells decide lockout from it (R6).
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("malformed handshake message: {0}")]
    Malformed(#[from] DecodeError),
    #[error("handshake is for another support session")]
    UnknownSession,
    #[error("viewer identity refused: {0}")]
    NotAllowListed(#[source] AllowListError),
    #[error("host identity {got} is not the expected host {expected}; refusing to connect")]
    HostKeyMismatch {
        expected: Fingerprint,
        got: Fingerprint,
    },
    /// Tampering or forgery, never a wrong password: each signature covers
    /// everything its signer sent, including the viewer's key confirmation.
    #[error("{0:?} signature over the handshake does not verify: the connection was tampered with or the peer is an impostor")]
    BadSignature(Role),
    /// The viewer's key confirmation is wrong under its valid signature: the
    /// engineer really typed a wrong password.
    #[error("wrong session password")]
    WrongPassword,
    /// The host sends its confirmation only after the viewer's checked
    /// out, so a wrong one was altered in transit (or forged).
    #[error("host could not confirm the session keys although it accepted the password: the connection was tampered with")]
    HostConfirmationFailed,
    #[error("peer sent a low-order x25519 key")]
    LowOrderKey,
    #[error("peer sent an invalid SPAKE2 message")]
    BadPakeMessage,
    #[error("could not stretch the password: {0}")]
    Stretch(#[from] PasswordError),
}

impl HandshakeError {
    /// What to tell the peer in a `HandshakeAbort`.
    pub fn abort_reason(&self) -> AbortReason {
        match self {
            HandshakeError::Malformed(_)
            | HandshakeError::LowOrderKey
            | HandshakeError::BadPakeMessage => AbortReason::Malformed,
            HandshakeError::UnknownSession => AbortReason::UnknownSession,
            HandshakeError::NotAllowListed(_) => AbortReason::NotAllowListed,
            HandshakeError::HostKeyMismatch { .. } => AbortReason::HostKeyMismatch,
            HandshakeError::BadSignature(_) => AbortReason::BadSignature,
            HandshakeError::WrongPassword | HandshakeError::HostConfirmationFailed => {
                AbortReason::WrongPassword
            }
            HandshakeError::Stretch(_) => AbortReason::Internal,
        }
    }

    /// True when the failure must count against the password (R6). Every
    /// attempt that got far enough to test a password guess counts; a bad
    /// signature does not (the host checks it before the guess), so a relay
    /// that corrupts a flight cannot burn the password (R21).
    pub fn counts_as_password_failure(&self) -> bool {
        matches!(self, HandshakeError::WrongPassword)
    }

    /// True when a handshake message was altered in transit or forged: the
    /// shell logs it as tampering, not as the engineer's failure (R21). An
    /// honest peer never sends an invalid SPAKE2 or x25519 key, and the
    /// host's confirmation follows a password that checked out.
    pub fn indicates_tampering(&self) -> bool {
        matches!(
            self,
            HandshakeError::BadSignature(_)
                | HandshakeError::BadPakeMessage
                | HandshakeError::LowOrderKey
                | HandshakeError::HostConfirmationFailed
        )
    }
}

/// The bytes of a `HostHello` the host signs: every field but the signature.
fn host_hello_signed_part(hello: &crate::messages::handshake::HostHello) -> Vec<u8> {
    use crate::wire::Field;
    let mut out = Vec::with_capacity(1024);
    hello.host_nonce.encode(&mut out);
    hello.host_ephemeral.encode(&mut out);
    hello.host_pake.encode(&mut out);
    hello.host_identity.encode(&mut out);
    out
}
