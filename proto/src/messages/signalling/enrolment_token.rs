//! The one-time enrolment token (issue 13, R13): an operator issues it for one
//! instrument (model, instrument ID, serial, profile), the installer passes it
//! to `assent-host enroll --token`, and the relay admits one enrolment with it.
//!
//! Text form: `aet-<profile>-<64 lowercase hex digits>`, e.g.
//! `aet-phi-3f1c…`. The profile is in the clear so the host can decide R11
//! before connecting; the relay checks it against what it issued, so editing
//! it only gets the enrolment refused. The relay keeps only
//! [`EnrolmentToken::hash`], never the secret.

use std::fmt;

use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};

use crate::instrument::InstrumentProfile;
use crate::wire::{DecodeError, Field, Reader};

/// Domain separation for the stored hash of a token secret.
const TOKEN_HASH_CONTEXT: &[u8] = b"assent/1 enrolment token\0";
/// Prefix of the text form.
const TEXT_PREFIX: &str = "aet-";

/// An enrolment token as the host presents it in `EnrollRequest`. Written
/// out rather than by `wire_struct!` so that `Debug` can hide the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrolmentToken {
    /// The profile the operator issued the token with (R11).
    pub profile: InstrumentProfile,
    /// 256 random bits; the relay stores only their hash.
    pub secret: [u8; 32],
}

impl Field for EnrolmentToken {
    fn encode(&self, out: &mut Vec<u8>) {
        self.profile.encode(out);
        self.secret.encode(out);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            profile: Field::decode(r)?,
            secret: Field::decode(r)?,
        })
    }
}

/// Why token text did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenTextError {
    #[error("an enrolment token looks like aet-phi-<64 hex digits> or aet-no-phi-<64 hex digits>; copy it exactly as `assent-relay enrolment issue` printed it")]
    Malformed,
}

impl EnrolmentToken {
    /// A fresh token for `profile`.
    pub fn generate(profile: InstrumentProfile, rng: &mut impl CryptoRngCore) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        Self { profile, secret }
    }

    /// What the relay stores and looks the token up by.
    pub fn hash(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(TOKEN_HASH_CONTEXT);
        hasher.update(self.secret);
        hasher.finalize().into()
    }

    /// A public name for the token (listings, audit, revocation): the first
    /// 8 bytes of its hash in hex. Reveals nothing of the secret.
    pub fn id(&self) -> String {
        token_id(&self.hash())
    }

    /// Parses the text form; surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<Self, TokenTextError> {
        let rest = text
            .trim()
            .strip_prefix(TEXT_PREFIX)
            .ok_or(TokenTextError::Malformed)?;
        let (profile, hex) = rest.rsplit_once('-').ok_or(TokenTextError::Malformed)?;
        let profile = InstrumentProfile::from_name(profile).ok_or(TokenTextError::Malformed)?;
        if hex.len() != 64 {
            return Err(TokenTextError::Malformed);
        }
        let mut secret = [0u8; 32];
        for (byte, pair) in secret.iter_mut().zip(hex.as_bytes().chunks(2)) {
            let digit = |c: u8| (c as char).to_digit(16).ok_or(TokenTextError::Malformed);
            *byte = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
        }
        Ok(Self { profile, secret })
    }

    /// The text form, shown once to the operator.
    pub fn to_text(&self) -> String {
        let mut out = format!("{TEXT_PREFIX}{}-", self.profile.name());
        for byte in self.secret {
            out.push_str(&format!("{byte:02x}"));
        }
        out
    }
}

/// [`EnrolmentToken::id`] from a stored hash.
pub fn token_id(hash: &[u8; 32]) -> String {
    hash[..8].iter().map(|b| format!("{b:02x}")).collect()
}

impl fmt::Debug for EnrolmentToken {
    // The secret never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrolmentToken")
            .field("profile", &self.profile)
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_text_round_trips_and_names_its_profile() {
        for profile in [InstrumentProfile::Phi, InstrumentProfile::NoPhi] {
            let token = EnrolmentToken::generate(profile, &mut rand_core::OsRng);
            let text = token.to_text();
            assert!(text.starts_with(&format!("aet-{}-", profile.name())));
            assert_eq!(EnrolmentToken::parse(&format!(" {text}\n")), Ok(token));
        }
    }

    #[test]
    fn malformed_token_text_is_refused() {
        let good = EnrolmentToken::generate(InstrumentProfile::Phi, &mut rand_core::OsRng);
        let text = good.to_text();
        for bad in [
            "",
            "aet-phi-",
            &text[..text.len() - 1],
            &format!("{text}0"),
            &text.replace("aet-", "xyz-"),
            &text.replace("-phi-", "-maybe-"),
            &format!("{}g", &text[..text.len() - 1]),
            "aet-phi-ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé",
        ] {
            assert_eq!(
                EnrolmentToken::parse(bad),
                Err(TokenTextError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let token = EnrolmentToken {
            profile: InstrumentProfile::Phi,
            secret: [0xab; 32],
        };
        assert!(!format!("{token:?}").contains("abab"));
        assert_eq!(token.id().len(), 16);
    }
}
