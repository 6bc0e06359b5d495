//! HKDF key schedule: the x25519 secret and the SPAKE2 key both feed one
//! extract, salted with the transcript, so keys need the ephemeral secrets
//! *and* the password (R3, R5), and differ per channel and direction.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::Role;
use crate::identity::PublicIdentity;
use crate::record::{RecordOpener, RecordSealer, RekeyPolicy, TrafficKey};

/// An end-to-end channel; each has its own keys in each direction and maps to
/// its own QUIC stream in the shells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Control,
    Screen,
    Input,
    #[cfg(feature = "file-transfer")]
    Files,
    Notifications,
}

impl Channel {
    fn label(self) -> &'static [u8] {
        match self {
            Channel::Control => b"control",
            Channel::Screen => b"screen",
            Channel::Input => b"input",
            #[cfg(feature = "file-transfer")]
            Channel::Files => b"files",
            Channel::Notifications => b"notifications",
        }
    }
}

/// Direction of traffic on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    ViewerToHost,
    HostToViewer,
}

impl Direction {
    fn label(self) -> &'static [u8] {
        match self {
            Direction::ViewerToHost => b"viewer->host",
            Direction::HostToViewer => b"host->viewer",
        }
    }

    fn sent_by(role: Role) -> Self {
        match role {
            Role::Viewer => Direction::ViewerToHost,
            Role::Host => Direction::HostToViewer,
        }
    }
}

/// Secrets after both ephemeral keys and PAKE messages are known, before
/// either side has confirmed. Only the handshake states hold this.
pub(super) struct HandshakeSecrets {
    prk: Zeroizing<[u8; 32]>,
}

impl HandshakeSecrets {
    /// HKDF-Extract(salt = transcript hash after HostHello, ikm = dh || pake).
    pub(super) fn derive(dh: &[u8; 32], pake: &[u8], transcript_hash: &[u8; 32]) -> Self {
        let mut ikm = Zeroizing::new(Vec::with_capacity(32 + pake.len()));
        ikm.extend_from_slice(dh);
        ikm.extend_from_slice(pake);
        let (prk, _) = Hkdf::<Sha256>::extract(Some(transcript_hash), &ikm);
        Self {
            prk: Zeroizing::new(prk.into()),
        }
    }

    fn expand(&self, info: &[&[u8]]) -> Zeroizing<[u8; 32]> {
        let hk = Hkdf::<Sha256>::from_prk(&*self.prk).expect("32-byte PRK is valid for SHA-256");
        let mut out = Zeroizing::new([0u8; 32]);
        hk.expand_multi_info(info, &mut *out)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        out
    }

    /// Key confirmation MAC for `role` over `transcript_hash`.
    pub(super) fn confirmation(&self, role: Role, transcript_hash: &[u8; 32]) -> [u8; 32] {
        let label: &[u8] = match role {
            Role::Viewer => b"assent/1 confirm viewer",
            Role::Host => b"assent/1 confirm host",
        };
        let key = self.expand(&[label]);
        let mut mac = Hmac::<Sha256>::new_from_slice(&*key).expect("HMAC takes any key length");
        mac.update(transcript_hash);
        mac.finalize().into_bytes().into()
    }

    /// Constant-time check of the peer's confirmation.
    pub(super) fn check_confirmation(
        &self,
        role: Role,
        transcript_hash: &[u8; 32],
        received: &[u8; 32],
    ) -> bool {
        use subtle::ConstantTimeEq;
        self.confirmation(role, transcript_hash)
            .ct_eq(received)
            .into()
    }

    /// The traffic secret, bound to the complete transcript.
    pub(super) fn into_session_keys(
        self,
        role: Role,
        final_transcript: &[u8; 32],
        session_id: [u8; 32],
        peer: PublicIdentity,
    ) -> SessionKeys {
        let traffic = self.expand(&[b"assent/1 traffic", final_transcript]);
        SessionKeys {
            traffic,
            role,
            session_id,
            peer,
            transcript_hash: *final_transcript,
        }
    }
}

/// The result of a completed handshake: the peer's verified identity and the
/// secret from which every channel's record keys are derived.
pub struct SessionKeys {
    traffic: Zeroizing<[u8; 32]>,
    role: Role,
    session_id: [u8; 32],
    peer: PublicIdentity,
    transcript_hash: [u8; 32],
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeys")
            .field("role", &self.role)
            .field("peer", &self.peer.fingerprint())
            .finish_non_exhaustive()
    }
}

impl SessionKeys {
    /// The peer's identity, whose signature over the transcript verified.
    pub fn peer(&self) -> &PublicIdentity {
        &self.peer
    }

    pub fn session_id(&self) -> &[u8; 32] {
        &self.session_id
    }

    /// Both ends compute the same value; shells may show it for out-of-band comparison.
    pub fn transcript_hash(&self) -> &[u8; 32] {
        &self.transcript_hash
    }

    fn key(&self, channel: Channel, direction: Direction) -> TrafficKey {
        let hk = Hkdf::<Sha256>::from_prk(&*self.traffic).expect("32-byte PRK is valid");
        let mut key = [0u8; 32];
        hk.expand_multi_info(
            &[b"assent/1 key ", channel.label(), b" ", direction.label()],
            &mut key,
        )
        .expect("32 bytes is a valid HKDF-SHA256 output length");
        let key_out = TrafficKey::from_bytes(key);
        zeroize::Zeroize::zeroize(&mut key);
        key_out
    }

    /// Seals what this end sends on `channel`.
    pub fn sealer(&self, channel: Channel, policy: RekeyPolicy) -> RecordSealer {
        RecordSealer::new(self.key(channel, Direction::sent_by(self.role)), policy)
    }

    /// Opens what the peer sends on `channel`.
    pub fn opener(&self, channel: Channel, policy: RekeyPolicy) -> RecordOpener {
        let peer_role = match self.role {
            Role::Viewer => Role::Host,
            Role::Host => Role::Viewer,
        };
        RecordOpener::new(self.key(channel, Direction::sent_by(peer_role)), policy)
    }
}
