//! Release freshness (R16, R21), after TUF's timestamp role. A signed
//! manifest never expires, so a relay could keep serving an old release, or
//! none, and hosts would never learn that a newer one exists. The release
//! key's holder therefore also signs a short-lived [`FreshnessStatement`]:
//! "the latest release of this component for this target is the manifest
//! with this hash, as of `issued_unix`, until `expires_unix`". The relay
//! serves it beside its offer; the host [`judge`]s the pair and warns the
//! technician and support when the statement is missing, stale, forged, or
//! names a release other than the one offered. A relay can replay a
//! statement only until it expires.
//!
//! ```text
//! statement = component || target || latest_version || latest_manifest_sha256 [32]
//!             || issued_unix u64 || expires_unix u64
//! signed    = body (the statement's encoding) || signer || RSA-PSS signature
//!             over "assent/1 release freshness" || 0x00 || body
//! ```

use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};

use super::{
    verify_release_signature, ReleaseError, SignedRelease, COMPONENT_MAX, TARGET_MAX, VERSION_MAX,
};
use crate::identity::{Fingerprint, Identity, PublicIdentity, SIGNATURE_LEN};
use crate::wire::{Bytes, Field, Text};

/// Signature context for freshness statements; never reused for anything else.
pub const FRESHNESS_CONTEXT: &str = "assent/1 release freshness";
/// Largest encoded statement body.
pub const FRESHNESS_BODY_MAX: usize = 512;
/// Longest validity `release attest` signs: a stolen relay may replay a
/// statement this long at most.
pub const FRESHNESS_VALID_MAX_SECS: u64 = 31 * 24 * 3600;

const _: () =
    assert!(4 + COMPONENT_MAX + 4 + TARGET_MAX + 4 + VERSION_MAX + 32 + 16 <= FRESHNESS_BODY_MAX);

crate::wire_struct! {
    /// What the release key's holder signs about one component and target.
    pub struct FreshnessStatement {
        pub component: Text<COMPONENT_MAX>,
        pub target: Text<TARGET_MAX>,
        /// The latest release's version, for messages.
        pub latest_version: Text<VERSION_MAX>,
        /// SHA-256 of the latest release's signed manifest body
        /// ([`SignedRelease::body`]): the one the relay must offer.
        pub latest_manifest_sha256: [u8; 32],
        pub issued_unix: u64,
        pub expires_unix: u64,
    }
}

crate::wire_struct! {
    /// A statement as the relay stores and serves it: opaque until verified.
    pub struct SignedFreshness {
        pub body: Bytes<FRESHNESS_BODY_MAX>,
        pub signer: Fingerprint,
        pub signature: Bytes<SIGNATURE_LEN>,
    }
}

/// SHA-256 of a signed release's manifest body, as statements name it.
pub fn manifest_hash(release: &SignedRelease) -> [u8; 32] {
    Sha256::digest(release.body.as_slice()).into()
}

impl FreshnessStatement {
    /// The statement for `latest`, valid from `now_unix` for `valid_secs`.
    pub fn for_release(
        latest: &SignedRelease,
        component: Text<COMPONENT_MAX>,
        target: Text<TARGET_MAX>,
        latest_version: Text<VERSION_MAX>,
        now_unix: u64,
        valid_secs: u64,
    ) -> Self {
        Self {
            component,
            target,
            latest_version,
            latest_manifest_sha256: manifest_hash(latest),
            issued_unix: now_unix,
            expires_unix: now_unix.saturating_add(valid_secs),
        }
    }

    pub fn sign(&self, key: &Identity, rng: &mut impl CryptoRngCore) -> SignedFreshness {
        let body = self.to_bytes();
        let signature = key.sign(rng, FRESHNESS_CONTEXT, &body);
        SignedFreshness {
            // The wire_struct bound above keeps the body within its maximum,
            // and RSA-4096 signatures are always SIGNATURE_LEN bytes.
            body: Bytes::new(body).unwrap_or_default(),
            signer: key.fingerprint(),
            signature: Bytes::new(signature).unwrap_or_default(),
        }
    }
}

impl SignedFreshness {
    /// Verifies against the pinned release key, then decodes.
    pub fn verify(&self, release_key: &PublicIdentity) -> Result<FreshnessStatement, ReleaseError> {
        verify_release_signature(
            release_key,
            FRESHNESS_CONTEXT,
            &self.signer,
            &self.body,
            &self.signature,
        )?;
        FreshnessStatement::from_bytes(&self.body).map_err(ReleaseError::Decode)
    }
}

/// What a host concludes from a relay's offer and its statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// Signed, current, for this component and target, and naming the
    /// release offered (or: nothing published and no statement needed).
    Fresh,
    /// A release is offered without a statement.
    Missing,
    /// The statement expired: the relay may be withholding newer releases.
    Stale { expired_unix: u64 },
    /// The statement does not verify under the pinned release key, or is
    /// about another component or target.
    Invalid(String),
    /// The statement names another release than the one offered (or one
    /// when nothing is offered): the relay is holding a release back.
    Withheld { latest_version: String },
}

impl Freshness {
    /// A sentence for the technician and support, `None` when fresh.
    pub fn warning(&self) -> Option<String> {
        match self {
            Self::Fresh => None,
            Self::Missing => Some(
                "the relay offers a release without the operator's signed freshness statement, \
                 so this host cannot tell whether a newer release is being held back"
                    .to_owned(),
            ),
            Self::Stale { expired_unix } => Some(format!(
                "the operator's signed statement of the latest release expired at unix time \
                 {expired_unix}: the relay may be holding back newer releases (ask the operator \
                 to run `assent-relay release attest`)"
            )),
            Self::Invalid(why) => Some(format!(
                "the relay's freshness statement is refused ({why}): the relay may be holding \
                 back newer releases"
            )),
            Self::Withheld { latest_version } => Some(format!(
                "the operator signed release {latest_version} as the latest, but the relay does \
                 not offer it: the relay is holding a release back"
            )),
        }
    }
}

/// Judges the relay's answer to a release query at `now_unix`.
pub fn judge(
    offered: Option<&SignedRelease>,
    statement: Option<&SignedFreshness>,
    release_key: &PublicIdentity,
    component: &str,
    target: &str,
    now_unix: u64,
) -> Freshness {
    let Some(statement) = statement else {
        return match offered {
            // A relay with nothing published has nothing to attest; one that
            // hides every release is caught once a statement was served.
            None => Freshness::Fresh,
            Some(_) => Freshness::Missing,
        };
    };
    let statement = match statement.verify(release_key) {
        Ok(statement) => statement,
        Err(e) => return Freshness::Invalid(e.to_string()),
    };
    if statement.component.as_str() != component || statement.target.as_str() != target {
        return Freshness::Invalid(format!(
            "it is about {} for {}, not {component} for {target}",
            statement.component.as_str(),
            statement.target.as_str()
        ));
    }
    if now_unix >= statement.expires_unix {
        return Freshness::Stale {
            expired_unix: statement.expires_unix,
        };
    }
    if offered.map(manifest_hash) != Some(statement.latest_manifest_sha256) {
        return Freshness::Withheld {
            latest_version: statement.latest_version.as_str().to_owned(),
        };
    }
    Freshness::Fresh
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::{ReleaseCapability, ReleaseManifest, HOST_COMPONENT};
    use crate::test_keys;
    use crate::wire::List;
    use rand_core::OsRng;

    const TARGET: &str = "x86_64-unknown-linux-gnu";

    fn text<const N: usize>(s: &str) -> Text<N> {
        Text::new(s).unwrap()
    }

    fn release(version: &str) -> SignedRelease {
        ReleaseManifest {
            version: text(version),
            component: text(HOST_COMPONENT),
            target: text(TARGET),
            sha256: [7; 32],
            size: 1,
            capabilities: List::new(vec![ReleaseCapability::ScreenView]).unwrap(),
            notes: text(""),
            rolls_back: None,
            published_unix: 10,
        }
        .sign(&test_keys::key("release"), &mut OsRng)
        .unwrap()
    }

    fn attest(latest: &SignedRelease, version: &str, key: &str, now: u64) -> SignedFreshness {
        FreshnessStatement::for_release(
            latest,
            text(HOST_COMPONENT),
            text(TARGET),
            text(version),
            now,
            3600,
        )
        .sign(&test_keys::key(key), &mut OsRng)
    }

    fn judged(
        offered: Option<&SignedRelease>,
        statement: Option<&SignedFreshness>,
        now: u64,
    ) -> Freshness {
        let key = test_keys::key("release");
        judge(
            offered,
            statement,
            key.public(),
            HOST_COMPONENT,
            TARGET,
            now,
        )
    }

    #[test]
    fn a_current_statement_naming_the_offer_is_fresh() {
        let latest = release("2.0.0");
        let statement = attest(&latest, "2.0.0", "release", 100);
        assert_eq!(
            judged(Some(&latest), Some(&statement), 100),
            Freshness::Fresh
        );
        assert_eq!(
            judged(Some(&latest), Some(&statement), 3699),
            Freshness::Fresh
        );
        assert_eq!(judged(None, None, 100), Freshness::Fresh);
    }

    #[test]
    fn an_expired_statement_is_stale() {
        let latest = release("2.0.0");
        let statement = attest(&latest, "2.0.0", "release", 100);
        assert_eq!(
            judged(Some(&latest), Some(&statement), 3700),
            Freshness::Stale { expired_unix: 3700 }
        );
        assert!(judged(Some(&latest), Some(&statement), 3700)
            .warning()
            .unwrap()
            .contains("expired"));
    }

    #[test]
    fn an_older_release_offered_under_a_current_statement_is_withheld() {
        let (old, new) = (release("1.0.0"), release("2.0.0"));
        let statement = attest(&new, "2.0.0", "release", 100);
        assert_eq!(
            judged(Some(&old), Some(&statement), 200),
            Freshness::Withheld {
                latest_version: "2.0.0".into()
            }
        );
        assert_eq!(
            judged(None, Some(&statement), 200),
            Freshness::Withheld {
                latest_version: "2.0.0".into()
            }
        );
    }

    #[test]
    fn a_statement_signed_by_another_key_or_altered_or_missing_is_not_fresh() {
        let latest = release("2.0.0");
        let forged = attest(&latest, "2.0.0", "other", 100);
        assert!(matches!(
            judged(Some(&latest), Some(&forged), 100),
            Freshness::Invalid(_)
        ));
        let mut altered = attest(&latest, "2.0.0", "release", 100);
        let mut body = altered.body.to_vec();
        let last = body.len() - 1;
        body[last] ^= 1;
        altered.body = Bytes::new(body).unwrap();
        assert!(matches!(
            judged(Some(&latest), Some(&altered), 100),
            Freshness::Invalid(_)
        ));
        assert_eq!(judged(Some(&latest), None, 100), Freshness::Missing);
    }

    #[test]
    fn a_statement_for_another_target_is_invalid() {
        let latest = release("2.0.0");
        let statement = FreshnessStatement::for_release(
            &latest,
            text(HOST_COMPONENT),
            text("aarch64-unknown-linux-gnu"),
            text("2.0.0"),
            100,
            3600,
        )
        .sign(&test_keys::key("release"), &mut OsRng);
        assert!(matches!(
            judged(Some(&latest), Some(&statement), 100),
            Freshness::Invalid(_)
        ));
    }
}
