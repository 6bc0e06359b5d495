//! Relay signalling (R6–R9, R13, R15): what hosts, viewers and operator tools
//! say to the relay over their pinned TLS 1.3 QUIC connection. Everything
//! here is readable by the relay by design; nothing here is a session secret
//! (the password and session keys never appear, R3, R5).
//!
//! ```text
//! client                                   relay
//!   RelayHello (role, version) ->
//!                  <- RelayChallenge (nonce)
//!   EnrollRequest | HostLogin | ViewerLogin (signed over the nonce) ->
//!                  <- EnrollAccepted | LoginAccepted | LocationChallenge | RelayError
//! ```
//!
//! Login signatures are RSA-PSS over `context || 0 || nonce || message with
//! an empty signature field`, with one context per purpose, so a signature
//! for one relay challenge or one purpose is useless anywhere else. The
//! full flow is in `PROTOCOL.md` ("Relay signalling").

use rand_core::CryptoRngCore;

use super::audit_event::AuditReport;
use super::handshake::AbortReason;
use super::notification::{Notification, NotificationCleared};
use super::session::lossy_text;
use crate::allowlist::SignedAllowList;
use crate::identity::{Fingerprint, Identity, IdentityError, PublicIdentity, SIGNATURE_LEN};
use crate::release::{SignedFreshness, SignedRelease, COMPONENT_MAX, TARGET_MAX, VERSION_MAX};
use crate::wire::{Bytes, Field, Text};

mod enrolment_token;
#[cfg(test)]
mod tests;

pub use enrolment_token::{token_id, EnrolmentToken, TokenTextError};

/// Longest host ID the relay assigns, in bytes.
pub const HOST_ID_MAX: usize = 64;
/// A host's relay-assigned ID, what the technician reads to the engineer.
pub type HostId = Text<HOST_ID_MAX>;
/// A support session's random ID, chosen by the host.
pub type SessionId = [u8; 32];

/// Longest software version string, in bytes.
pub const SOFTWARE_VERSION_MAX: usize = 32;
/// Longest human-readable error text, in bytes.
pub const ERROR_MESSAGE_MAX: usize = 1024;
/// Longest e-mail address, in bytes (RFC 5321 path limit).
pub const EMAIL_MAX: usize = crate::allowlist::EMAIL_MAX;
/// Longest person's name, in bytes.
pub const NAME_MAX: usize = crate::allowlist::NAME_MAX;
/// Longest instrument model name, in bytes.
pub const INSTRUMENT_MODEL_MAX: usize = 128;
/// Longest instrument ID, in bytes.
pub const INSTRUMENT_ID_MAX: usize = 64;
/// Longest serial number, in bytes.
pub const SERIAL_NUMBER_MAX: usize = 64;
/// Longest masked e-mail hint (`j***@example.com`), in bytes.
pub const LOCATION_HINT_MAX: usize = 128;
/// Longest new-location confirmation code, in bytes.
pub const LOCATION_CODE_MAX: usize = 16;

/// Signature contexts; each is used for exactly one message.
pub const ENROL_SIGNATURE_CONTEXT: &str = "assent/1 relay enrol";
pub const HOST_LOGIN_SIGNATURE_CONTEXT: &str = "assent/1 relay host login";
pub const VIEWER_LOGIN_SIGNATURE_CONTEXT: &str = "assent/1 relay viewer login";

crate::wire_enum! {
    /// What a client is to the relay.
    pub enum ClientRole {
        /// `assent-host` on an instrument controller PC.
        Host = 1,
        /// `assent-viewer` on a support engineer's workstation.
        Viewer = 2,
        /// Operator tooling (admin CLI).
        Operator = 3,
    }
}

crate::wire_struct! {
    /// Client to relay, first message on a new connection.
    pub struct RelayHello : RelayHello {
        pub role: ClientRole,
        /// The client's release, for the operator's logs and upgrade checks.
        pub software_version: Text<SOFTWARE_VERSION_MAX>,
    }
}

crate::wire_enum! {
    /// What went wrong, as something the client can act on.
    pub enum RelayErrorCode {
        /// A frame did not decode; the stream is closed.
        Malformed = 1,
        /// A well-formed message at the wrong point of the conversation.
        UnexpectedMessage = 2,
        /// Signature or code did not verify, or the host is not enrolled.
        Unauthorized = 3,
        /// The viewer identity is not on the operator's allowlist (R7).
        NotAllowListed = 4,
        /// A new device or network must be confirmed by e-mailed code (R8).
        LocationUnconfirmed = 5,
        /// Too many failures; wait `retry_after_secs` (R6).
        LockedOut = 6,
        /// Too many requests; wait `retry_after_secs` (R14).
        Throttled = 7,
        /// No such host ID, or it has no open support request.
        NotFound = 8,
        /// The host is offline or already in a session.
        Unavailable = 9,
        /// The support request or confirmation code has expired.
        Expired = 10,
        /// Already enrolled, or a session with that ID is already open.
        Conflict = 11,
        /// The relay failed on its side; try again later.
        Internal = 12,
    }
}

crate::wire_struct! {
    /// Relay to client: a request was refused.
    pub struct RelayError : RelayError {
        pub code: RelayErrorCode,
        /// For the person at the client; says what failed and what to do.
        pub message: Text<ERROR_MESSAGE_MAX>,
        /// When waiting helps (lockout, throttling): seconds until a retry may succeed.
        pub retry_after_secs: Option<u64>,
    }
}

impl RelayError {
    /// Builds from any local text; over-long or control-laden text is trimmed.
    pub fn new(code: RelayErrorCode, message: &str, retry_after_secs: Option<u64>) -> Self {
        Self {
            code,
            message: lossy_text(message),
            retry_after_secs,
        }
    }

    /// The answer to a frame that did not decode.
    pub fn from_decode_error(error: &crate::wire::DecodeError) -> Self {
        Self::new(RelayErrorCode::Malformed, &error.to_string(), None)
    }
}

crate::wire_struct! {
    /// Relay to client, after `RelayHello`: a fresh random nonce the client
    /// signs to prove it holds its key.
    pub struct RelayChallenge : RelayChallenge {
        pub nonce: [u8; 32],
    }
}

crate::wire_enum! {
    /// What an enrolling host says about file transfer (R11), for the audit.
    pub enum FileTransferInstall {
        /// A PHI build: file transfer is compiled out.
        CompiledOut = 1,
        /// A full build on an instrument whose profile is `no-phi`.
        Included = 2,
        /// A full build on a PHI instrument, explicitly approved by the installer.
        ApprovedByInstaller = 3,
    }
}

crate::wire_struct! {
    /// Host to relay, once: register this instrument PC (R13) and its key (R4).
    pub struct EnrollRequest : EnrollRequest {
        pub registrant_email: Text<EMAIL_MAX>,
        pub registrant_name: Text<NAME_MAX>,
        pub instrument_model: Text<INSTRUMENT_MODEL_MAX>,
        pub instrument_id: Text<INSTRUMENT_ID_MAX>,
        pub serial_number: Text<SERIAL_NUMBER_MAX>,
        /// The host's RSA-4096 device key, created at enrolment.
        pub host_key: PublicIdentity,
        pub file_transfer: FileTransferInstall,
        /// The operator's one-time token for this instrument (issue 13);
        /// `None` is always refused, with a reason the installer can act on.
        pub enrolment_token: Option<EnrolmentToken>,
        /// By `host_key`, over the challenge and every field above.
        pub signature: Bytes<SIGNATURE_LEN>,
    }
}

crate::wire_struct! {
    /// Relay to host: enrolment recorded; keep this ID.
    pub struct EnrollAccepted : EnrollAccepted {
        pub host_id: HostId,
    }
}

crate::wire_struct! {
    /// Host to relay: log in as an enrolled host, signed with its device key.
    pub struct HostLogin : HostLogin {
        pub host_id: HostId,
        pub signature: Bytes<SIGNATURE_LEN>,
    }
}

crate::wire_struct! {
    /// Viewer to relay: log in as an engineer identity. The relay checks the
    /// allowlist (R7), then whether this device and network are known (R8).
    pub struct ViewerLogin : ViewerLogin {
        pub viewer_key: PublicIdentity,
        /// Random ID the viewer created once on this device; a new one is a new location.
        pub device_id: [u8; 16],
        pub signature: Bytes<SIGNATURE_LEN>,
    }
}

crate::wire_struct! {
    /// Relay to client: logged in; requests may follow.
    pub struct LoginAccepted : LoginAccepted {
        /// The relay's clock, so a host can warn about skew (R15).
        pub relay_unix_ms: u64,
    }
}

crate::wire_struct! {
    /// Host to relay: the technician started a support request (R9).
    /// Nothing can connect to the host without one.
    pub struct SupportOpen : SupportOpen {
        pub session_id: SessionId,
    }
}

crate::wire_struct! {
    /// Relay to host: the request is open for this long unless a viewer pairs.
    pub struct SupportOpened : SupportOpened {
        pub session_id: SessionId,
        pub expires_in_secs: u32,
    }
}

crate::wire_enum! {
    /// Why a support session ended.
    pub enum CloseReason {
        /// The technician or the engineer ended it.
        Finished = 1,
        /// Nobody paired before the request expired.
        Expired = 2,
        /// Too many wrong passwords; this password can no longer be used (R6).
        PasswordBurned = 3,
        /// The other side disconnected.
        PeerLeft = 4,
        /// The relay or the client is shutting down.
        Shutdown = 5,
        /// A protocol or internal error.
        Error = 6,
    }
}

crate::wire_struct! {
    /// Either way between a client and the relay: the session is over; the
    /// relay tells the other side and stops forwarding.
    pub struct SupportClose : SupportClose {
        pub session_id: SessionId,
        pub reason: CloseReason,
    }
}

crate::wire_struct! {
    /// Viewer to relay: connect to the host with this ID.
    pub struct ConnectRequest : ConnectRequest {
        pub host_id: HostId,
    }
}

crate::wire_struct! {
    /// Relay to viewer: this identity is new here (device or network); a
    /// code was e-mailed to its registered address (R8).
    pub struct LocationChallenge : LocationChallenge {
        pub expires_in_secs: u32,
        /// Masked address the code went to, so the engineer knows where to look.
        pub sent_to_hint: Text<LOCATION_HINT_MAX>,
    }
}

crate::wire_struct! {
    /// Viewer to relay: the code from the e-mail.
    pub struct LocationCode : LocationCode {
        pub code: Text<LOCATION_CODE_MAX>,
    }
}

crate::wire_struct! {
    /// Relay to viewer: paired with the host's open support request. The
    /// registered details let the engineer check they reached the right
    /// instrument; the fingerprint pins the host key for the handshake.
    pub struct Paired : Paired {
        pub session_id: SessionId,
        pub host_id: HostId,
        pub host_fingerprint: Fingerprint,
        pub instrument_model: Text<INSTRUMENT_MODEL_MAX>,
        pub instrument_id: Text<INSTRUMENT_ID_MAX>,
        pub serial_number: Text<SERIAL_NUMBER_MAX>,
        pub registrant_name: Text<NAME_MAX>,
    }
}

crate::wire_struct! {
    /// Host to relay: send the current signed allowlist (R7).
    pub struct AllowListRequest : AllowListRequest {
        /// Serial of the list the host already holds; the relay answers
        /// `Ack` instead of a document when it has nothing newer.
        pub known_serial: Option<u64>,
    }
}

crate::wire_struct! {
    /// Relay to host: the operator-signed allowlist; the host verifies it
    /// against its pinned operator key before using it.
    pub struct AllowListDocument : AllowListDocument {
        pub list: SignedAllowList,
    }
}

crate::wire_struct! {
    /// Host to relay: a viewer failed authentication in the end-to-end
    /// handshake, which the relay cannot see; feeds lockout (R6) and intrusion
    /// detection (R14).
    pub struct AuthFailureReport : AuthFailureReport {
        pub session_id: SessionId,
        pub viewer: Fingerprint,
        pub reason: AbortReason,
    }
}

crate::wire_struct! {
    /// Relay to client: the request before it (a report, a notification,
    /// an allowlist request with nothing newer) is done and durable. Acks
    /// come in the order the requests arrived on that stream.
    pub struct Ack : Ack {}
}

crate::wire_struct! {
    /// Host to relay (R15), after login: the highest notification `seq` the
    /// relay has stored for this host. Answered with [`NotificationSeq`].
    pub struct NotificationSeqQuery : NotificationSeqQuery {}
}

crate::wire_struct! {
    /// Relay to host: the highest notification `seq` stored for it, 0 if
    /// none. A new book numbering at or below it moves above it first.
    pub struct NotificationSeq : NotificationSeq {
        pub last_seq: u64,
    }
}

/// Largest piece of a release package in one [`PackageChunk`].
pub const PACKAGE_CHUNK_MAX: usize = 256 * 1024;

crate::wire_struct! {
    /// Host to relay (R16): the newest release published for this component
    /// and target. The relay answers with a [`ReleaseOffer`].
    pub struct ReleaseQuery : ReleaseQuery {
        pub component: Text<COMPONENT_MAX>,
        pub target: Text<TARGET_MAX>,
        /// What the host runs now, for the operator's logs.
        pub installed_version: Text<VERSION_MAX>,
    }
}

crate::wire_struct! {
    /// Relay to host: the most recently published signed release, if any.
    /// The host verifies it against its pinned release key; the relay's
    /// word counts for nothing.
    pub struct ReleaseOffer : ReleaseOffer {
        pub release: Option<SignedRelease>,
        /// The operator's signed statement of the latest release (freshness).
        pub freshness: Option<SignedFreshness>,
    }
}

crate::wire_struct! {
    /// Host to relay: the next piece of the package with this SHA-256.
    pub struct PackageRequest : PackageRequest {
        pub sha256: [u8; 32],
        pub offset: u64,
    }
}

crate::wire_struct! {
    /// Relay to host: package bytes from `offset`; empty at the end.
    pub struct PackageChunk : PackageChunk {
        pub offset: u64,
        /// Size of the whole package as the relay stores it.
        pub total: u64,
        pub data: Bytes<PACKAGE_CHUNK_MAX>,
    }
}

crate::wire_enum! {
    /// Which end-to-end channel a forwarded stream carries (each has its own
    /// record keys, see `handshake::Channel`).
    pub enum ChannelKind {
        Control = 1,
        Screen = 2,
        Input = 3,
        Files = 4,
        Notifications = 5,
    }
}

impl ChannelKind {
    /// The end-to-end channel this wire name stands for; `None` for a
    /// channel this build does not have (file transfer in a PHI build, R11).
    pub fn channel(self) -> Option<crate::handshake::Channel> {
        use crate::handshake::Channel;
        match self {
            ChannelKind::Control => Some(Channel::Control),
            ChannelKind::Screen => Some(Channel::Screen),
            ChannelKind::Input => Some(Channel::Input),
            #[cfg(feature = "file-transfer")]
            ChannelKind::Files => Some(Channel::Files),
            #[cfg(not(feature = "file-transfer"))]
            ChannelKind::Files => None,
            ChannelKind::Notifications => Some(Channel::Notifications),
        }
    }
}

impl From<crate::handshake::Channel> for ChannelKind {
    fn from(channel: crate::handshake::Channel) -> Self {
        use crate::handshake::Channel;
        match channel {
            Channel::Control => ChannelKind::Control,
            Channel::Screen => ChannelKind::Screen,
            Channel::Input => ChannelKind::Input,
            #[cfg(feature = "file-transfer")]
            Channel::Files => ChannelKind::Files,
            Channel::Notifications => ChannelKind::Notifications,
        }
    }
}

crate::wire_struct! {
    /// First frame on every forwarded stream: the viewer opens a stream to the
    /// relay with it, the relay opens one to the paired host with the same
    /// frame, then splices the two as opaque bytes (R3). The handshake runs
    /// on the `Control` stream.
    pub struct OpenChannel : OpenChannel {
        pub session_id: SessionId,
        pub channel: ChannelKind,
    }
}

/// A message signed by a client key over a relay challenge.
trait ChallengeSigned: Field + Clone {
    const CONTEXT: &'static str;
    fn signature_mut(&mut self) -> &mut Bytes<SIGNATURE_LEN>;
    fn signature(&self) -> &Bytes<SIGNATURE_LEN>;

    /// `nonce || encoding with the signature field empty`.
    fn signed_bytes(&self, challenge: &RelayChallenge) -> Vec<u8> {
        let mut unsigned = self.clone();
        *unsigned.signature_mut() = Bytes::default();
        let mut out = challenge.nonce.to_vec();
        unsigned.encode(&mut out);
        out
    }

    fn sign_with(
        &mut self,
        key: &Identity,
        challenge: &RelayChallenge,
        rng: &mut impl CryptoRngCore,
    ) {
        let signature = key.sign(rng, Self::CONTEXT, &self.signed_bytes(challenge));
        // RSA-4096 signatures are always SIGNATURE_LEN bytes (identity.rs).
        *self.signature_mut() = Bytes::new(signature).expect("RSA-4096 signature length");
    }

    fn verify_with(
        &self,
        key: &PublicIdentity,
        challenge: &RelayChallenge,
    ) -> Result<(), IdentityError> {
        key.verify(
            Self::CONTEXT,
            &self.signed_bytes(challenge),
            self.signature(),
        )
    }
}

macro_rules! challenge_signed {
    ($($ty:ty => $context:expr),* $(,)?) => {$(
        impl ChallengeSigned for $ty {
            const CONTEXT: &'static str = $context;
            fn signature_mut(&mut self) -> &mut Bytes<SIGNATURE_LEN> {
                &mut self.signature
            }
            fn signature(&self) -> &Bytes<SIGNATURE_LEN> {
                &self.signature
            }
        }
    )*};
}

challenge_signed! {
    EnrollRequest => ENROL_SIGNATURE_CONTEXT,
    HostLogin => HOST_LOGIN_SIGNATURE_CONTEXT,
    ViewerLogin => VIEWER_LOGIN_SIGNATURE_CONTEXT,
}

impl EnrollRequest {
    /// Signs with the host's new device key (which must be `host_key`).
    pub fn sign(
        &mut self,
        host: &Identity,
        challenge: &RelayChallenge,
        rng: &mut impl CryptoRngCore,
    ) {
        self.sign_with(host, challenge, rng);
    }

    /// Relay side: the request was signed over this challenge by the key it registers.
    pub fn verify(&self, challenge: &RelayChallenge) -> Result<(), IdentityError> {
        self.verify_with(&self.host_key, challenge)
    }
}

impl HostLogin {
    pub fn sign(
        &mut self,
        host: &Identity,
        challenge: &RelayChallenge,
        rng: &mut impl CryptoRngCore,
    ) {
        self.sign_with(host, challenge, rng);
    }

    /// Relay side: signed over this challenge by the key enrolled for `host_id`.
    pub fn verify(
        &self,
        challenge: &RelayChallenge,
        enrolled: &PublicIdentity,
    ) -> Result<(), IdentityError> {
        self.verify_with(enrolled, challenge)
    }
}

impl ViewerLogin {
    pub fn sign(
        &mut self,
        viewer: &Identity,
        challenge: &RelayChallenge,
        rng: &mut impl CryptoRngCore,
    ) {
        self.sign_with(viewer, challenge, rng);
    }

    /// Relay side: signed over this challenge by `viewer_key`. Whether that
    /// key may log in at all is the allowlist's question, asked separately.
    pub fn verify(&self, challenge: &RelayChallenge) -> Result<(), IdentityError> {
        self.verify_with(&self.viewer_key, challenge)
    }
}

crate::dispatch_enum! {
    /// Any message on a client's signalling connection to the relay.
    /// Notifications are here as well as in
    /// [`super::session::SessionMessage`]: the host reports them to the
    /// relay (R15), which stores them per host.
    pub enum SignallingMessage on "relay signalling" {
        RelayHello(RelayHello),
        RelayError(RelayError),
        RelayChallenge(RelayChallenge),
        EnrollRequest(EnrollRequest),
        EnrollAccepted(EnrollAccepted),
        HostLogin(HostLogin),
        ViewerLogin(ViewerLogin),
        LoginAccepted(LoginAccepted),
        SupportOpen(SupportOpen),
        SupportOpened(SupportOpened),
        SupportClose(SupportClose),
        ConnectRequest(ConnectRequest),
        LocationChallenge(LocationChallenge),
        LocationCode(LocationCode),
        Paired(Paired),
        AllowListRequest(AllowListRequest),
        AllowListDocument(AllowListDocument),
        AuthFailureReport(AuthFailureReport),
        AuditReport(AuditReport),
        Ack(Ack),
        OpenChannel(OpenChannel),
        Notification(Notification),
        NotificationCleared(NotificationCleared),
        ReleaseQuery(ReleaseQuery),
        ReleaseOffer(ReleaseOffer),
        PackageRequest(PackageRequest),
        PackageChunk(PackageChunk),
        NotificationSeqQuery(NotificationSeqQuery),
        NotificationSeq(NotificationSeq),
    }
}
