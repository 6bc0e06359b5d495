//! Consent messages (R10): the engineer asks for each capability separately,
//! the technician answers each, and may revoke any grant at any time. The
//! state machine that enforces it is [`crate::consent`]; these are only what
//! crosses the wire, inside end-to-end records.
//!
//! On a PHI build (R11) a request for file transfer does not decode: it fails
//! with [`DecodeError::Unavailable`], which the host answers with
//! [`SessionError::from_decode_error`] ("file transfer is not available on
//! this instrument") and carries on.

use crate::wire::{DecodeError, Field, Reader, Text};

/// What an engineer may ask the technician for, one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    ScreenView,
    RemoteControl,
    /// Absent from PHI builds (R11).
    #[cfg(feature = "file-transfer")]
    FileTransfer,
}

impl Capability {
    /// Every capability this build can grant.
    pub const ALL: &'static [Capability] = &[
        Capability::ScreenView,
        Capability::RemoteControl,
        #[cfg(feature = "file-transfer")]
        Capability::FileTransfer,
    ];

    pub fn code(self) -> u8 {
        match self {
            Capability::ScreenView => 1,
            Capability::RemoteControl => 2,
            #[cfg(feature = "file-transfer")]
            Capability::FileTransfer => 3,
        }
    }

    /// Wire value to capability. On a PHI build, file transfer's code is
    /// recognised only to refuse it clearly.
    pub fn from_code(code: u8) -> Result<Self, DecodeError> {
        match code {
            1 => Ok(Capability::ScreenView),
            2 => Ok(Capability::RemoteControl),
            #[cfg(feature = "file-transfer")]
            3 => Ok(Capability::FileTransfer),
            #[cfg(not(feature = "file-transfer"))]
            3 => Err(DecodeError::Unavailable(
                crate::wire::FILE_TRANSFER_UNAVAILABLE,
            )),
            v => Err(DecodeError::InvalidValue {
                what: "capability",
                value: u64::from(v),
            }),
        }
    }

    /// How the technician's prompt names it.
    pub fn label(self) -> &'static str {
        match self {
            Capability::ScreenView => "screen view",
            Capability::RemoteControl => "remote control",
            #[cfg(feature = "file-transfer")]
            Capability::FileTransfer => "file transfer",
        }
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

impl Field for Capability {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.code());
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::from_code(r.u8()?)
    }
}

crate::wire_struct! {
    /// Viewer to host: ask the technician for one capability.
    pub struct CapabilityRequest : CapabilityRequest {
        pub capability: Capability,
    }
}

crate::wire_enum! {
    /// How a capability prompt ended. Anything but `Granted` is a denial.
    pub enum DecisionOutcome {
        Granted = 1,
        /// The technician said no.
        Refused = 2,
        /// Nobody answered before the prompt's deadline (R10: silence is no).
        TimedOut = 3,
    }
}

crate::wire_struct! {
    /// Host to viewer: how the technician answered one request.
    pub struct CapabilityDecision : CapabilityDecision {
        pub capability: Capability,
        pub outcome: DecisionOutcome,
    }
}

crate::wire_struct! {
    /// Host to viewer: a grant was withdrawn. The host stops the capability
    /// before sending this; the viewer learns, it does not enforce.
    pub struct CapabilityRevoked : CapabilityRevoked {
        pub capability: Capability,
    }
}

/// Longest reason in a [`SessionEnd`], in bytes.
pub const SESSION_END_REASON_MAX: usize = 256;

crate::wire_struct! {
    /// Either side: "I end the session", sealed on the control channel
    /// before the sender finishes its stream. A control stream that ends
    /// without it was cut by someone else (the relay or the network), and
    /// is reported as such, never as the peer's choice (R21).
    pub struct SessionEnd : SessionEnd {
        pub reason: Text<SESSION_END_REASON_MAX>,
    }
}

/// Longest human-readable text in a [`SessionError`], in bytes.
pub const SESSION_ERROR_MESSAGE_MAX: usize = 1024;

crate::wire_enum! {
    /// What kind of thing a peer did that the session refuses.
    pub enum SessionErrorCode {
        /// A message that did not decode; the session may close.
        Malformed = 1,
        /// A capability this build does not have (file transfer on a PHI build).
        Unavailable = 2,
        /// A message for a capability that is not granted (dropped, audited).
        NotGranted = 3,
        /// Too many messages too fast; later ones are dropped.
        RateLimited = 4,
        /// The sender failed on its own side (disk full, capture failed).
        Internal = 5,
        /// A request that does not fit the current state (a capability
        /// already awaiting an answer or already granted).
        InvalidState = 6,
    }
}

crate::wire_struct! {
    /// Either direction: a request was refused; the session goes on unless
    /// the sender also closes it.
    pub struct SessionError : SessionError {
        pub code: SessionErrorCode,
        /// For the person at the other end; says what failed and what to do.
        pub message: Text<SESSION_ERROR_MESSAGE_MAX>,
    }
}

impl SessionError {
    /// Builds from any local text; over-long or control-laden text is
    /// trimmed rather than failing (see [`super::session::lossy_text`]).
    pub fn new(code: SessionErrorCode, message: &str) -> Self {
        Self {
            code,
            message: super::session::lossy_text(message),
        }
    }

    /// The answer to a message that failed to decode. `Unavailable` (file
    /// transfer on a PHI build) keeps its message, so the engineer reads
    /// exactly why.
    pub fn from_decode_error(error: &DecodeError) -> Self {
        let code = match error {
            DecodeError::Unavailable(_) => SessionErrorCode::Unavailable,
            _ => SessionErrorCode::Malformed,
        };
        Self::new(code, &error.to_string())
    }
}

#[cfg(test)]
pub(crate) mod strategies {
    use proptest::prelude::*;

    use super::*;
    use crate::messages::session::test_support::{largest, largest_is, text};

    largest_is! {
        Capability => Capability::ScreenView,
        DecisionOutcome => DecisionOutcome::TimedOut,
        SessionErrorCode => SessionErrorCode::Internal,
    }

    pub(crate) fn capability() -> impl Strategy<Value = Capability> {
        proptest::sample::select(Capability::ALL)
    }

    pub(crate) fn capability_request() -> impl Strategy<Value = CapabilityRequest> {
        capability().prop_map(|capability| CapabilityRequest { capability })
    }

    pub(crate) fn capability_decision() -> impl Strategy<Value = CapabilityDecision> {
        let outcome = proptest::sample::select(vec![
            DecisionOutcome::Granted,
            DecisionOutcome::Refused,
            DecisionOutcome::TimedOut,
        ]);
        (capability(), outcome).prop_map(|(capability, outcome)| CapabilityDecision {
            capability,
            outcome,
        })
    }

    pub(crate) fn capability_revoked() -> impl Strategy<Value = CapabilityRevoked> {
        capability().prop_map(|capability| CapabilityRevoked { capability })
    }

    pub(crate) fn session_error() -> impl Strategy<Value = SessionError> {
        let code = proptest::sample::select(vec![
            SessionErrorCode::Malformed,
            SessionErrorCode::Unavailable,
            SessionErrorCode::NotGranted,
            SessionErrorCode::RateLimited,
            SessionErrorCode::Internal,
            SessionErrorCode::InvalidState,
        ]);
        (code, text()).prop_map(|(code, message)| SessionError { code, message })
    }

    pub(crate) fn session_end() -> impl Strategy<Value = SessionEnd> {
        text().prop_map(|reason| SessionEnd { reason })
    }

    /// The longest instance of every consent message.
    pub(crate) fn largest_instances() -> Vec<crate::messages::session::SessionMessage> {
        vec![
            CapabilityRequest {
                capability: largest(),
            }
            .into(),
            CapabilityDecision {
                capability: largest(),
                outcome: largest(),
            }
            .into(),
            CapabilityRevoked {
                capability: largest(),
            }
            .into(),
            SessionError {
                code: largest(),
                message: largest(),
            }
            .into(),
            SessionEnd { reason: largest() }.into(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Message, FILE_TRANSFER_UNAVAILABLE};

    #[test]
    fn every_capability_code_round_trips_and_unknown_codes_are_refused() {
        for cap in Capability::ALL {
            assert_eq!(Capability::from_bytes(&cap.to_bytes()), Ok(*cap));
        }
        for code in [0u8, 4, 0xff] {
            assert_eq!(
                Capability::from_bytes(&[code]),
                Err(DecodeError::InvalidValue {
                    what: "capability",
                    value: u64::from(code)
                })
            );
        }
    }

    #[cfg(not(feature = "file-transfer"))]
    #[test]
    fn phi_build_refuses_a_file_transfer_request_with_the_clear_message() {
        let err = CapabilityRequest::from_bytes(&[3]).unwrap_err();
        assert_eq!(err, DecodeError::Unavailable(FILE_TRANSFER_UNAVAILABLE));
        let answer = SessionError::from_decode_error(&err);
        assert_eq!(answer.code, SessionErrorCode::Unavailable);
        assert_eq!(answer.message.as_str(), FILE_TRANSFER_UNAVAILABLE);
        assert!(answer.to_frame().is_ok());
    }

    #[cfg(feature = "file-transfer")]
    #[test]
    fn full_build_decodes_a_file_transfer_request() {
        assert_eq!(
            CapabilityRequest::from_bytes(&[3]),
            Ok(CapabilityRequest {
                capability: Capability::FileTransfer
            })
        );
        // The PHI host's answer still decodes on a full-build viewer.
        let answer =
            SessionError::from_decode_error(&DecodeError::Unavailable(FILE_TRANSFER_UNAVAILABLE));
        assert_eq!(
            SessionError::from_frame(&answer.to_frame().unwrap()),
            Ok(answer)
        );
    }

    #[test]
    fn session_error_text_is_trimmed_to_fit_and_cleaned_of_control_characters() {
        let long = "é".repeat(SESSION_ERROR_MESSAGE_MAX);
        let error = SessionError::new(SessionErrorCode::Internal, &long);
        assert!(error.message.len() <= SESSION_ERROR_MESSAGE_MAX);
        assert!(error.message.len() >= SESSION_ERROR_MESSAGE_MAX - 1);
        let error = SessionError::new(SessionErrorCode::Internal, "disk\u{1b}[31m full\r");
        assert_eq!(error.message.as_str(), "disk [31m full ");
    }

    #[test]
    fn an_unknown_decision_outcome_is_refused() {
        assert_eq!(
            CapabilityDecision::from_bytes(&[1, 4]),
            Err(DecodeError::InvalidValue {
                what: "DecisionOutcome",
                value: 4
            })
        );
    }
}
