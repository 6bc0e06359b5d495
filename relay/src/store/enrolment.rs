//! One-time enrolment tokens (issue 13, R13): what the store keeps of each
//! token an operator issued, and the rule that decides whether a host's
//! `EnrollRequest` may use it. Only the token's hash is stored; the binding
//! (instrument ID, serial) is sealed like the host registry.

use std::fmt;

use assent_proto::instrument::{normalise_model, InstrumentProfile};
use assent_proto::messages::signalling::{
    token_id, EnrolmentToken, FileTransferInstall, HostId, INSTRUMENT_ID_MAX, INSTRUMENT_MODEL_MAX,
    SERIAL_NUMBER_MAX,
};
use assent_proto::wire::Text;

use super::{HostRecord, HostRegistration};

/// What an operator issued a token for.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrolmentGrant {
    /// [`EnrolmentToken::hash`]; the secret itself is never stored.
    pub token_hash: [u8; 32],
    pub instrument_model: Text<INSTRUMENT_MODEL_MAX>,
    pub instrument_id: Text<INSTRUMENT_ID_MAX>,
    pub serial_number: Text<SERIAL_NUMBER_MAX>,
    pub profile: InstrumentProfile,
    pub issued_unix_ms: u64,
    /// The first millisecond the token no longer works.
    pub expires_unix_ms: u64,
}

impl EnrolmentGrant {
    /// The token's public ID (listings, audit, `enrolment revoke`).
    pub fn token_id(&self) -> String {
        token_id(&self.token_hash)
    }

    /// Whether a host presenting `token` may enrol `registration` at
    /// `now_unix_ms` with this grant, apart from whether it was used.
    pub fn admits(
        &self,
        token: &EnrolmentToken,
        registration: &HostRegistration,
        now_unix_ms: u64,
    ) -> Result<(), EnrolmentRefusal> {
        if now_unix_ms >= self.expires_unix_ms {
            return Err(EnrolmentRefusal::Expired);
        }
        // Spelling variants of the bound model are the same model; the ID
        // and serial must be exactly those issued.
        let model_matches = normalise_model(&self.instrument_model)
            == normalise_model(&registration.instrument_model);
        if !model_matches {
            return Err(EnrolmentRefusal::DetailsDiffer("model"));
        }
        if self.instrument_id != registration.instrument_id {
            return Err(EnrolmentRefusal::DetailsDiffer("instrument ID"));
        }
        if self.serial_number != registration.serial_number {
            return Err(EnrolmentRefusal::DetailsDiffer("serial number"));
        }
        if token.profile != self.profile {
            return Err(EnrolmentRefusal::DetailsDiffer("profile"));
        }
        // R11: on a PHI instrument a full build needs the installer's approval.
        if self.profile == InstrumentProfile::Phi
            && registration.file_transfer == FileTransferInstall::Included
        {
            return Err(EnrolmentRefusal::FileTransferNotApproved);
        }
        Ok(())
    }
}

impl fmt::Debug for EnrolmentGrant {
    // Instrument ID and serial are sealed data (R13); logs get the rest.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrolmentGrant")
            .field("token_id", &self.token_id())
            .field("instrument_model", &self.instrument_model)
            .field("instrument_id", &"<sealed>")
            .field("serial_number", &"<sealed>")
            .field("profile", &self.profile)
            .field("issued_unix_ms", &self.issued_unix_ms)
            .field("expires_unix_ms", &self.expires_unix_ms)
            .finish()
    }
}

/// Where a token stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrolmentTokenState {
    Unused,
    Used { at_unix_ms: u64, host_id: HostId },
    Revoked { at_unix_ms: u64 },
}

/// A stored token, as `enrolment list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentTokenRecord {
    pub grant: EnrolmentGrant,
    pub state: EnrolmentTokenState,
}

/// Why an enrolment was refused; each is audited and counted (R14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnrolmentRefusal {
    #[error("enrolment needs a one-time token from your operator (`assent-relay enrolment issue`); pass it with --token")]
    NoToken,
    #[error("this enrolment token is not known to the relay; check it was copied exactly, or ask your operator for a new one")]
    UnknownToken,
    #[error("this enrolment token was already used; each token enrols one host, ask your operator for a new one")]
    AlreadyUsed,
    #[error("this enrolment token was revoked by the operator; ask for a new one")]
    Revoked,
    #[error("this enrolment token has expired; ask your operator for a new one")]
    Expired,
    #[error("the {0} differs from the one this enrolment token was issued for; enter the instrument's details exactly as the operator registered them")]
    DetailsDiffer(&'static str),
    #[error("the token marks this instrument as holding patient data (R11): install the PHI build, or approve file transfer at installation")]
    FileTransferNotApproved,
}

/// How [`super::StateStore::enroll_host_with_token`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrolmentOutcome {
    /// Registered; the token is spent in the same commit. Boxed: a host
    /// record is large beside a refusal.
    Enrolled(Box<HostRecord>),
    /// Nothing changed; the token is as it was.
    Refused(EnrolmentRefusal),
}
