//! The operator-signed list of viewer identities allowed to reach any host
//! (R7). The operator signs it offline; the relay serves it and refuses
//! unlisted viewers early; every host verifies the signature against its
//! pinned operator key and checks again, so a compromised relay cannot add
//! anyone.
//!
//! The signature covers the exact body bytes, which are decoded only after
//! the signature verifies, so nothing a forger sends is ever parsed.

use std::collections::HashMap;

use rand_core::CryptoRngCore;

use crate::identity::{Fingerprint, Identity, PublicIdentity, SIGNATURE_LEN, SPKI_DER_LEN};
use crate::wire::{Bytes, DecodeError, Field, List, Text};

/// Signature context for allowlists; never reused for anything else.
pub const SIGNATURE_CONTEXT: &str = "assent/1 allowlist";
/// Largest encoded body (one relay `AllowListDocument` frame).
pub const BODY_MAX: usize = 1 << 20;
/// Most entries in one list. Chosen so the largest possible list (every name
/// and e-mail at its limit) always fits in [`BODY_MAX`]; see the assertion below.
pub const MAX_ENTRIES: usize = 1_000;
/// Longest engineer name, in bytes.
pub const NAME_MAX: usize = 128;
/// Longest e-mail address, in bytes (RFC 5321 path limit).
pub const EMAIL_MAX: usize = 254;

/// Encoded size of the largest possible entry: length-prefixed SPKI, name and
/// e-mail, then the expiry.
const ENTRY_LEN_MAX: usize = 4 + SPKI_DER_LEN + 4 + NAME_MAX + 4 + EMAIL_MAX + 8;
/// serial, issued, expires, entry count.
const LIST_HEADER_LEN: usize = 8 + 8 + 8 + 4;
const _: () = assert!(LIST_HEADER_LEN + MAX_ENTRIES * ENTRY_LEN_MAX <= BODY_MAX);

/// Why an allowlist, or a viewer checked against it, was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowListError {
    #[error("allowlist signature does not verify under the operator key; fetch a fresh list from the relay")]
    BadSignature,
    #[error("allowlist was signed by {got}, not the pinned operator key {expected}; check which operator this installation trusts")]
    WrongOperator {
        expected: Fingerprint,
        got: Fingerprint,
    },
    #[error("allowlist expired at unix time {expired_unix}; the operator must sign a new one")]
    Expired { expired_unix: u64 },
    #[error("allowlist is issued for unix time {issued_unix}, which is in the future; check this machine's clock")]
    NotYetValid { issued_unix: u64 },
    #[error("allowlist serial {offered} is older than the list in use (serial {current}); refusing a rollback")]
    Rollback { offered: u64, current: u64 },
    #[error(
        "viewer {0} is not on the operator's allowlist; ask the operator to enrol this identity"
    )]
    NotListed(Fingerprint),
    #[error("allowlist entry for {name} ({fingerprint}) expired at unix time {expired_unix}; ask the operator to renew it")]
    EntryExpired {
        fingerprint: Fingerprint,
        name: String,
        expired_unix: u64,
    },
    #[error("allowlist lists viewer {0} more than once")]
    DuplicateEntry(Fingerprint),
    #[error("allowlist body is malformed: {0}")]
    Decode(DecodeError),
}

crate::wire_struct! {
    /// One enrolled support engineer.
    pub struct AllowListEntry {
        pub viewer: PublicIdentity,
        pub name: Text<NAME_MAX>,
        pub email: Text<EMAIL_MAX>,
        /// First unix second at which this enrolment no longer counts
        /// (`u64::MAX` for "until the list itself expires").
        pub expires_unix: u64,
    }
}

impl AllowListEntry {
    pub fn fingerprint(&self) -> Fingerprint {
        self.viewer.fingerprint()
    }
}

crate::wire_struct! {
    /// The list as the operator writes it, before signing.
    pub struct AllowList {
        /// Increases with every list the operator issues; hosts refuse to go back.
        pub serial: u64,
        /// Valid from this unix second...
        pub issued_unix: u64,
        /// ...until just before this one.
        pub expires_unix: u64,
        pub entries: List<AllowListEntry, MAX_ENTRIES>,
    }
}

impl AllowList {
    /// Signs the canonical encoding with the operator's key.
    pub fn sign(&self, operator: &Identity, rng: &mut impl CryptoRngCore) -> SignedAllowList {
        let body = self.to_bytes();
        let signature = operator.sign(rng, SIGNATURE_CONTEXT, &body);
        SignedAllowList {
            // Both bounds hold by construction: the const assertion above
            // bounds the body, and RSA-4096 signatures are SIGNATURE_LEN bytes.
            body: Bytes::new(body).expect("allowlist body bound is const-asserted"),
            operator: operator.fingerprint(),
            signature: Bytes::new(signature).expect("RSA-4096 signature length"),
        }
    }
}

crate::wire_struct! {
    /// An allowlist as it travels (relay `AllowListDocument`) and is stored on
    /// disk: opaque signed bytes until [`SignedAllowList::verify`] says otherwise.
    pub struct SignedAllowList {
        /// Canonical encoding of an [`AllowList`].
        pub body: Bytes<BODY_MAX>,
        /// Which operator key signed it (checked against the pinned key).
        pub operator: Fingerprint,
        pub signature: Bytes<SIGNATURE_LEN>,
    }
}

impl SignedAllowList {
    /// Verifies against the pinned operator key and the current time, then
    /// decodes. Only a list that passes every check becomes a [`VerifiedAllowList`].
    pub fn verify(
        &self,
        operator: &PublicIdentity,
        now_unix: u64,
    ) -> Result<VerifiedAllowList, AllowListError> {
        let expected = operator.fingerprint();
        if self.operator != expected {
            return Err(AllowListError::WrongOperator {
                expected,
                got: self.operator,
            });
        }
        operator
            .verify(SIGNATURE_CONTEXT, &self.body, &self.signature)
            .map_err(|_| AllowListError::BadSignature)?;
        let list = AllowList::from_bytes(&self.body).map_err(AllowListError::Decode)?;
        check_validity(&list, now_unix)?;
        let mut index = HashMap::with_capacity(list.entries.len());
        for (i, entry) in list.entries.iter().enumerate() {
            if index.insert(entry.fingerprint(), i).is_some() {
                return Err(AllowListError::DuplicateEntry(entry.fingerprint()));
            }
        }
        Ok(VerifiedAllowList {
            operator: expected,
            list,
            index,
        })
    }
}

/// `issued <= now < expires`.
fn check_validity(list: &AllowList, now_unix: u64) -> Result<(), AllowListError> {
    if now_unix < list.issued_unix {
        return Err(AllowListError::NotYetValid {
            issued_unix: list.issued_unix,
        });
    }
    if now_unix >= list.expires_unix {
        return Err(AllowListError::Expired {
            expired_unix: list.expires_unix,
        });
    }
    Ok(())
}

/// An allowlist whose operator signature, validity window and uniqueness
/// have been checked. Only [`SignedAllowList::verify`] makes one, so holding
/// one is proof of those checks.
#[derive(Debug, Clone)]
pub struct VerifiedAllowList {
    operator: Fingerprint,
    list: AllowList,
    index: HashMap<Fingerprint, usize>,
}

impl VerifiedAllowList {
    /// Whether `viewer` may connect at `now_unix`: the list must still be
    /// valid, the viewer listed, and its entry unexpired.
    pub fn check(
        &self,
        viewer: &Fingerprint,
        now_unix: u64,
    ) -> Result<&AllowListEntry, AllowListError> {
        check_validity(&self.list, now_unix)?;
        let entry = self
            .index
            .get(viewer)
            .and_then(|&i| self.list.entries.get(i))
            .ok_or(AllowListError::NotListed(*viewer))?;
        if now_unix >= entry.expires_unix {
            return Err(AllowListError::EntryExpired {
                fingerprint: *viewer,
                name: entry.name.to_string(),
                expired_unix: entry.expires_unix,
            });
        }
        Ok(entry)
    }

    /// Refuses to replace `current` with an older list: a relay replaying an
    /// old signed list must not resurrect a revoked engineer.
    pub fn check_replaces(&self, current: &VerifiedAllowList) -> Result<(), AllowListError> {
        self.check_not_older_than(current.list.serial)
    }

    /// [`VerifiedAllowList::check_replaces`] against the serial of the list
    /// in use, when only that serial was kept.
    pub fn check_not_older_than(&self, current: u64) -> Result<(), AllowListError> {
        if self.list.serial < current {
            return Err(AllowListError::Rollback {
                offered: self.list.serial,
                current,
            });
        }
        Ok(())
    }

    pub fn serial(&self) -> u64 {
        self.list.serial
    }

    pub fn issued_unix(&self) -> u64 {
        self.list.issued_unix
    }

    pub fn expires_unix(&self) -> u64 {
        self.list.expires_unix
    }

    pub fn entries(&self) -> &[AllowListEntry] {
        &self.list.entries
    }

    pub fn operator(&self) -> Fingerprint {
        self.operator
    }
}

#[cfg(test)]
mod tests;
