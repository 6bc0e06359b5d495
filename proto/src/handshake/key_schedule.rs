//! HKDF key schedule: the x25519 secret and the SPAKE2 key both feed one
//! extract, salted with the transcript, so keys need the ephemeral secrets
//! *and* the password (R3, R5), and differ per channel and direction.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::Role;
use crate::identity::PublicIdentity;
use crate::messages::signalling::ChannelKind;
use crate::record::{RecordBinding, RecordOpener, RecordSealer, RekeyPolicy, TrafficKey};

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

    /// The channel's wire code (as in `OpenChannel`), bound into every
    /// record's associated data.
    fn code(self) -> u8 {
        ChannelKind::from(self) as u8
    }

    /// Bit of this channel in [`SessionKeys`]'s record of channels taken.
    fn bit(self) -> u8 {
        1 << self.code()
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

    fn code(self) -> u8 {
        match self {
            Direction::ViewerToHost => 1,
            Direction::HostToViewer => 2,
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
            taken: 0,
        }
    }
}

/// The result of a completed handshake: the peer's verified identity and the
/// secret from which every channel's record keys are derived.
///
/// Each channel's keys are handed out once per session ([`Self::take_channel`]),
/// as a [`ChannelKeys`] that cannot be copied. Two streams can therefore never
/// seal under one (key, nonce): a relay that opens a second screen channel
/// gets a refusal, not the screen encrypted twice under one keystream (R3, R21).
pub struct SessionKeys {
    traffic: Zeroizing<[u8; 32]>,
    role: Role,
    session_id: [u8; 32],
    peer: PublicIdentity,
    transcript_hash: [u8; 32],
    /// One bit per channel whose keys were taken.
    taken: u8,
}

/// The sealer and opener of one channel, both directions, taken once.
#[derive(Debug)]
pub struct ChannelKeys {
    pub channel: Channel,
    /// Seals what this end sends on the channel.
    pub sealer: RecordSealer,
    /// Opens what the peer sends on the channel.
    pub opener: RecordOpener,
}

/// A channel's keys were asked for a second time in one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the {0:?} channel is already open in this session; a second one is refused (its keys are used once)")]
pub struct ChannelAlreadyOpen(pub Channel);

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

    /// Whether `channel`'s keys have been taken.
    pub fn is_open(&self, channel: Channel) -> bool {
        self.taken & channel.bit() != 0
    }

    /// The keys of `channel`, once: a second call for the same channel is
    /// refused, so no key and sequence number ever seal twice. Both ends
    /// rekey by the default [`RekeyPolicy`], which is part of the protocol.
    pub fn take_channel(&mut self, channel: Channel) -> Result<ChannelKeys, ChannelAlreadyOpen> {
        if self.is_open(channel) {
            return Err(ChannelAlreadyOpen(channel));
        }
        self.taken |= channel.bit();
        let peer_role = match self.role {
            Role::Viewer => Role::Host,
            Role::Host => Role::Viewer,
        };
        let policy = RekeyPolicy::default();
        let ours = Direction::sent_by(self.role);
        let theirs = Direction::sent_by(peer_role);
        Ok(ChannelKeys {
            channel,
            sealer: RecordSealer::new(self.key(channel, ours), binding(channel, ours), policy),
            opener: RecordOpener::new(self.key(channel, theirs), binding(channel, theirs), policy),
        })
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
}

fn binding(channel: Channel, direction: Direction) -> RecordBinding {
    RecordBinding::new(channel.code(), direction.code())
}

#[cfg(any(test, feature = "test-support"))]
impl SessionKeys {
    /// Keys from a fixed secret, for tests of what uses a session's keys
    /// (the session state machine, the shells), not of the handshake. The
    /// two roles made with one `secret` open each other's records.
    pub fn for_tests(
        role: Role,
        secret: [u8; 32],
        session_id: [u8; 32],
        peer: PublicIdentity,
    ) -> Self {
        SessionKeys {
            traffic: Zeroizing::new(secret),
            role,
            session_id,
            peer,
            transcript_hash: [0; 32],
            taken: 0,
        }
    }
}
