//! What gets audited (R12), as wire types: hosts report these to the relay in
//! an [`AuditReport`], and the relay records its own (connection requests,
//! lockouts, intrusion alarms) into the sealed chain of [`crate::audit`].
//!
//! Events cover the R12 list (connection requests granted and refused,
//! authentication failures, lockouts, consent decisions, file transfers) plus
//! what R6, R10, R11 and R14 make worth recording. Identities are the SHA-256
//! fingerprints of their SPKI, as raw 32-byte arrays.

use crate::instrument::InstrumentProfile;
use crate::messages::consent::Capability;
#[cfg(feature = "file-transfer")]
use crate::messages::file_transfer::TransferDirection;
use crate::wire::{DecodeError, Field, Reader, Text};

/// Wire tag of [`AuditEvent::FileTransfer`]; a PHI build (R11) recognises it
/// only to say "not available" instead of "unknown".
#[cfg(any(test, not(feature = "file-transfer")))]
const FILE_TRANSFER_TAG: u8 = 5;

crate::wire_enum! {
    /// One step of an upgrade on a host (R16); every step is audited.
    pub enum UpgradeStepCode {
        /// A signed release newer than the installed one was found.
        Available = 1,
        /// The technician approved installing the release.
        Approved = 2,
        /// The technician declined (or did not answer).
        Declined = 3,
        /// The technician approved a capability the release adds.
        CapabilityApproved = 4,
        /// The technician declined a capability the release adds.
        CapabilityDeclined = 5,
        /// The release was verified and swapped in.
        Installed = 6,
        /// Signature, key, hash, size, version or target check failed.
        Refused = 7,
        /// The previous binary was restored.
        RolledBack = 8,
    }
}

impl UpgradeStepCode {
    /// Stable snake_case name, for audit listings.
    pub fn name(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Approved => "approved",
            Self::Declined => "declined",
            Self::CapabilityApproved => "capability_approved",
            Self::CapabilityDeclined => "capability_declined",
            Self::Installed => "installed",
            Self::Refused => "refused",
            Self::RolledBack => "rolled_back",
        }
    }
}

crate::wire_enum! {
    /// How a consent prompt ended (R10).
    pub enum ConsentOutcomeCode {
        Granted = 1,
        Refused = 2,
        /// Unanswered prompts are refusals; recorded apart so audits can tell.
        TimedOut = 3,
        Revoked = 4,
    }
}

/// Declares the event enum once: variant, wire tag, stable kind name and
/// fields in wire order. Encoder, decoder and [`AuditEvent::KINDS`] are all
/// generated from this one table, so a tag cannot drift between them.
macro_rules! audit_events {
    ($(
        $(#[doc = $doc:literal])*
        $(#[cfg($cfg:meta)])?
        $variant:ident = $tag:literal, $kind:literal {
            $( $(#[doc = $fdoc:literal])* $field:ident : $fty:ty ),* $(,)?
        }
    )*) => {
        /// One audited event. Encoded as a one-byte tag followed by the
        /// variant's fields in declaration order.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum AuditEvent {
            $(
                $(#[doc = $doc])*
                $(#[cfg($cfg)])?
                $variant { $( $(#[doc = $fdoc])* $field: $fty ),* },
            )*
        }

        impl AuditEvent {
            /// Every kind name this build knows, in tag order (for filters and help text).
            pub const KINDS: &'static [&'static str] = &[ $( $(#[cfg($cfg)])? $kind, )* ];

            /// Stable snake_case name of the event kind, for filtering (`audit list --kind`).
            pub fn kind(&self) -> &'static str {
                match self {
                    $( $(#[cfg($cfg)])? Self::$variant { .. } => $kind, )*
                }
            }
        }

        impl Field for AuditEvent {
            fn encode(&self, out: &mut Vec<u8>) {
                match self {
                    $(
                        $(#[cfg($cfg)])?
                        Self::$variant { $( $field ),* } => {
                            out.push($tag);
                            $( Field::encode($field, out); )*
                        }
                    )*
                }
            }

            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                match r.u8()? {
                    $(
                        $(#[cfg($cfg)])?
                        $tag => Ok(Self::$variant { $( $field: Field::decode(r)? ),* }),
                    )*
                    #[cfg(not(feature = "file-transfer"))]
                    FILE_TRANSFER_TAG => Err(DecodeError::Unavailable(
                        crate::wire::FILE_TRANSFER_UNAVAILABLE,
                    )),
                    v => Err(DecodeError::InvalidValue {
                        what: "audit event",
                        value: u64::from(v),
                    }),
                }
            }
        }
    };
}

audit_events! {
    /// A viewer asked to reach a host; recorded granted or refused (R7, R8, R12).
    ConnectionRequest = 1, "connection_request" {
        host_id: Text<64>,
        /// Viewer identity fingerprint.
        viewer: [u8; 32],
        /// Source address or prefix the request came from.
        source: Text<64>,
        granted: bool,
        /// Why it was refused (or how it was granted), for the operator.
        reason: Text<256>,
    }
    /// A session password or identity check failed (R5, R6).
    AuthenticationFailed = 2, "authentication_failed" {
        host_id: Text<64>,
        viewer: [u8; 32],
        source: Text<64>,
        /// Consecutive failures so far, including this one.
        failures: u32,
    }
    /// Exponential lockout engaged (R6); `burned` when the password is spent.
    LockedOut = 3, "locked_out" {
        host_id: Text<64>,
        viewer: [u8; 32],
        source: Text<64>,
        failures: u32,
        /// Seconds before the next attempt is allowed.
        wait_secs: u64,
        burned: bool,
    }
    /// The technician answered (or ignored, or revoked) one capability (R10).
    ConsentDecision = 4, "consent_decision" {
        host_id: Text<64>,
        session_id: [u8; 32],
        capability: Capability,
        outcome: ConsentOutcomeCode,
    }
    /// A file crossed the session (R12: name, size, hash, direction).
    /// Absent from PHI builds (R11).
    #[cfg(feature = "file-transfer")]
    FileTransfer = 5, "file_transfer" {
        host_id: Text<64>,
        session_id: [u8; 32],
        name: Text<255>,
        size: u64,
        /// SHA-256 of the file contents as transferred.
        sha256: [u8; 32],
        direction: TransferDirection,
    }
    /// Input arrived without remote-control consent and was dropped (R10).
    InputDropped = 6, "input_dropped" {
        host_id: Text<64>,
        session_id: [u8; 32],
        /// Input events dropped since the last report.
        count: u64,
    }
    /// The relay noticed an abnormal pattern: guessing, scanning, floods (R14).
    IntrusionDetected = 7, "intrusion_detected" {
        source: Text<64>,
        /// Short pattern name, e.g. `password_guessing`.
        kind: Text<64>,
        detail: Text<256>,
    }
    /// A host device enrolled with the relay (R13).
    HostEnrolled = 8, "host_enrolled" {
        host_id: Text<64>,
        /// Host identity fingerprint.
        host: [u8; 32],
        /// Instrument model, e.g. `Navios EX`.
        model: Text<128>,
    }
    /// An end-to-end session was established (R9).
    SessionStarted = 9, "session_started" {
        host_id: Text<64>,
        session_id: [u8; 32],
        viewer: [u8; 32],
    }
    /// A session ended, and why.
    SessionEnded = 10, "session_ended" {
        host_id: Text<64>,
        session_id: [u8; 32],
        reason: Text<256>,
    }
    /// The installer approved adding file transfer to a host (R11, R16).
    FileTransferCapabilityApproved = 11, "file_transfer_capability_approved" {
        host_id: Text<64>,
        model: Text<128>,
    }
    /// A step of checking, approving, installing or rolling back a release (R16).
    Upgrade = 12, "upgrade" {
        host_id: Text<64>,
        /// The release concerned, `MAJOR.MINOR.PATCH`.
        version: Text<32>,
        step: UpgradeStepCode,
        /// The capability for capability steps, the reason for refusals.
        detail: Text<256>,
    }
    /// The host refused something only an attacker sends (a hostile relay,
    /// or a forged peer): a second channel of one kind, a tampered record
    /// (R3, R21). Not counted as a password failure.
    SessionTampering = 13, "session_tampering" {
        host_id: Text<64>,
        session_id: [u8; 32],
        detail: Text<256>,
    }
    /// The technician admitted (or refused, or ignored) the engineer the
    /// handshake authenticated, before any capability prompt (R9).
    EngineerDecision = 14, "engineer_decision" {
        host_id: Text<64>,
        session_id: [u8; 32],
        /// The engineer's identity fingerprint, as shown to the technician.
        viewer: [u8; 32],
        /// `granted`, `refused` or `timed_out`.
        outcome: ConsentOutcomeCode,
    }
    // Enrolment by invitation (issue 13) starts at tag 20, leaving 15-19 to
    // kinds added beside it.
    /// An operator issued a one-time enrolment token for one instrument.
    EnrolmentTokenIssued = 20, "enrolment_token_issued" {
        /// The token's public ID (hash prefix), never the secret.
        token_id: Text<32>,
        model: Text<128>,
        instrument_id: Text<64>,
        serial_number: Text<64>,
        profile: InstrumentProfile,
        expires_unix_ms: u64,
    }
    /// A host enrolled with a token; the token is now spent.
    EnrolmentTokenUsed = 21, "enrolment_token_used" {
        token_id: Text<32>,
        host_id: Text<64>,
        /// Host identity fingerprint.
        host: [u8; 32],
    }
    /// An enrolment was refused: no token, unknown, spent, revoked or
    /// expired token, or details other than those it was issued for.
    EnrolmentRefused = 22, "enrolment_refused" {
        /// Empty when the request carried no token.
        token_id: Text<32>,
        source: Text<64>,
        /// Host identity fingerprint the request offered.
        host: [u8; 32],
        reason: Text<256>,
    }
    /// An operator revoked an unused token.
    EnrolmentTokenRevoked = 23, "enrolment_token_revoked" {
        token_id: Text<32>,
    }
}

impl AuditEvent {
    /// The host the event concerns; `None` for relay-wide events.
    pub fn host_id(&self) -> Option<&str> {
        match self {
            Self::ConnectionRequest { host_id, .. }
            | Self::AuthenticationFailed { host_id, .. }
            | Self::LockedOut { host_id, .. }
            | Self::ConsentDecision { host_id, .. }
            | Self::InputDropped { host_id, .. }
            | Self::HostEnrolled { host_id, .. }
            | Self::SessionStarted { host_id, .. }
            | Self::SessionEnded { host_id, .. }
            | Self::FileTransferCapabilityApproved { host_id, .. }
            | Self::Upgrade { host_id, .. }
            | Self::SessionTampering { host_id, .. }
            | Self::EngineerDecision { host_id, .. } => Some(host_id.as_str()),
            #[cfg(feature = "file-transfer")]
            Self::FileTransfer { host_id, .. } => Some(host_id.as_str()),
            Self::EnrolmentTokenUsed { host_id, .. } => Some(host_id.as_str()),
            Self::IntrusionDetected { .. }
            | Self::EnrolmentTokenIssued { .. }
            | Self::EnrolmentRefused { .. }
            | Self::EnrolmentTokenRevoked { .. } => None,
        }
    }

    /// Whether a host may report this kind in an [`AuditReport`] (R12, R21):
    /// only what happens on the host itself (consent, dropped input, file
    /// transfers, session start and end, upgrades). Connection requests,
    /// authentication failures, lockouts, enrolment, installer approvals and
    /// intrusion alarms are the relay's own to record; a host that could write
    /// them could fake grants, alarms or a clean record. No wildcard: a new
    /// kind must be placed on one side or the other.
    pub fn reportable_by_host(&self) -> bool {
        match self {
            Self::ConsentDecision { .. }
            | Self::InputDropped { .. }
            | Self::SessionStarted { .. }
            | Self::SessionEnded { .. }
            | Self::Upgrade { .. }
            | Self::SessionTampering { .. }
            | Self::EngineerDecision { .. } => true,
            #[cfg(feature = "file-transfer")]
            Self::FileTransfer { .. } => true,
            Self::ConnectionRequest { .. }
            | Self::AuthenticationFailed { .. }
            | Self::LockedOut { .. }
            | Self::IntrusionDetected { .. }
            | Self::HostEnrolled { .. }
            | Self::FileTransferCapabilityApproved { .. }
            | Self::EnrolmentTokenIssued { .. }
            | Self::EnrolmentTokenUsed { .. }
            | Self::EnrolmentRefused { .. }
            | Self::EnrolmentTokenRevoked { .. } => false,
        }
    }
}

crate::wire_struct! {
    /// A host reporting one event to the relay, which records it (R12) if
    /// [`AuditEvent::reportable_by_host`] and it names the reporting host.
    /// The record's time is the relay's clock on receipt; `occurred_unix_ms`
    /// is the host's claim, logged by the relay but not sealed (R21).
    pub struct AuditReport : AuditReport {
        pub occurred_unix_ms: u64,
        pub event: AuditEvent,
    }
}

#[cfg(test)]
pub(crate) mod tests;
