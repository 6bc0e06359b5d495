//! End-to-end handshake messages (R3–R5). The relay forwards them blind; the
//! state machines that produce and check them are in [`crate::handshake`].
//!
//! ```text
//! viewer                                   host
//!   ViewerHello  (x25519, SPAKE2, RSA key) ->
//!             <- HostHello (x25519, SPAKE2, RSA key, RSA signature)
//!   ViewerFinish (RSA signature, key confirmation) ->
//!             <- HostFinish (key confirmation)
//! ```

use crate::identity::PublicIdentity;
use crate::wire::{Bytes, Text};

/// SPAKE2 (Ed25519 group) messages are 33 bytes; a little headroom, no more.
pub const PAKE_MESSAGE_MAX: usize = 64;
/// RSA-4096 signatures are exactly 512 bytes.
pub const SIGNATURE_MAX: usize = 512;

crate::wire_struct! {
    /// First flight, viewer to host.
    pub struct ViewerHello : ViewerHello {
        /// The support session the host opened (learned from the relay's `Paired`).
        pub session_id: [u8; 32],
        pub viewer_nonce: [u8; 32],
        /// Ephemeral x25519 public key.
        pub viewer_ephemeral: [u8; 32],
        /// SPAKE2 side-A message over the argon2id-stretched password.
        pub viewer_pake: Bytes<PAKE_MESSAGE_MAX>,
        /// The engineer's RSA-4096 identity; the host checks it against the allowlist first.
        pub viewer_identity: PublicIdentity,
    }
}

crate::wire_struct! {
    /// Second flight, host to viewer.
    pub struct HostHello : HostHello {
        pub host_nonce: [u8; 32],
        pub host_ephemeral: [u8; 32],
        /// SPAKE2 side-B message.
        pub host_pake: Bytes<PAKE_MESSAGE_MAX>,
        pub host_identity: PublicIdentity,
        /// RSA-PSS over the transcript hash up to and including the fields above.
        pub signature: Bytes<SIGNATURE_MAX>,
    }
}

crate::wire_struct! {
    /// Third flight, viewer to host: proves the viewer's identity and that it
    /// knows the password, before the host reveals anything password-dependent.
    pub struct ViewerFinish : ViewerFinish {
        /// Over the transcript through `confirm`, so it covers the whole
        /// message: a corrupted `confirm` is tampering, not a wrong password.
        pub signature: Bytes<SIGNATURE_MAX>,
        /// HMAC under the viewer confirmation key.
        pub confirm: [u8; 32],
    }
}

crate::wire_struct! {
    /// Fourth flight, host to viewer: the host's key confirmation.
    pub struct HostFinish : HostFinish {
        pub confirm: [u8; 32],
    }
}

crate::wire_enum! {
    /// Why a handshake was abandoned, told to the peer.
    pub enum AbortReason {
        Malformed = 1,
        UnknownSession = 2,
        NotAllowListed = 3,
        BadSignature = 4,
        WrongPassword = 5,
        LockedOut = 6,
        HostKeyMismatch = 7,
        Internal = 8,
    }
}

crate::wire_struct! {
    /// Either side may abort; the message is for humans and logs.
    pub struct HandshakeAbort : HandshakeAbort {
        pub reason: AbortReason,
        pub message: Text<256>,
    }
}
