//! Signed releases of Assent's host components (R16). The operator signs a
//! [`ReleaseManifest`] with a release key (RSA-4096, distinct from the
//! relay's TLS key and from the allowlist key); the relay stores and serves
//! it; every host verifies it against the release key it pinned at
//! enrolment, so neither the relay nor the network can push a binary.
//!
//! As with allowlists, the signature covers the exact body bytes, which are
//! decoded only after the signature verifies. [`assess`] decides whether a
//! verified manifest may replace what is installed (target, component,
//! version order, new capabilities), and [`PackageCheck`] verifies the
//! downloaded bytes against it as they arrive. [`check_not_withdrawn`]
//! refuses a release this host rolled back from until it is re-signed.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};

use crate::identity::{Fingerprint, Identity, PublicIdentity, SIGNATURE_LEN};
use crate::wire::{Bytes, DecodeError, Field, List, Text};

/// Signature context for release manifests; never reused for anything else.
pub const SIGNATURE_CONTEXT: &str = "assent/1 release manifest";
/// Largest encoded manifest body.
pub const BODY_MAX: usize = 8 * 1024;
/// Longest version string (`MAJOR.MINOR.PATCH`), in bytes.
pub const VERSION_MAX: usize = 32;
/// Longest component name (`assent-host`), in bytes.
pub const COMPONENT_MAX: usize = 32;
/// Longest target triple, in bytes.
pub const TARGET_MAX: usize = 64;
/// Longest release notes, in bytes.
pub const NOTES_MAX: usize = 4096;
/// Most capabilities one release may declare.
pub const CAPABILITIES_MAX: usize = 8;
/// Largest package a host will download (512 MiB).
pub const PACKAGE_MAX: u64 = 512 * 1024 * 1024;

const _: () = assert!(
    4 + VERSION_MAX
        + 4
        + COMPONENT_MAX
        + 4
        + TARGET_MAX
        + 32
        + 8
        + 4
        + CAPABILITIES_MAX
        + 4
        + NOTES_MAX
        + 1
        + 8
        <= BODY_MAX
);

/// The host component this crate's releases are for.
pub const HOST_COMPONENT: &str = "assent-host";

crate::wire_enum! {
    /// What a release lets the host do. A release that declares one the
    /// installed build lacks needs the technician's separate approval (R16).
    pub enum ReleaseCapability {
        ScreenView = 1,
        RemoteControl = 2,
        /// Absent from builds for instruments that hold patient data (R11).
        FileTransfer = 3,
        Notifications = 4,
    }
}

impl ReleaseCapability {
    pub const ALL: &'static [ReleaseCapability] = &[
        Self::ScreenView,
        Self::RemoteControl,
        Self::FileTransfer,
        Self::Notifications,
    ];

    /// Stable name, as written in manifests and shown to people.
    pub fn name(self) -> &'static str {
        match self {
            Self::ScreenView => "screen-view",
            Self::RemoteControl => "remote-control",
            Self::FileTransfer => "file-transfer",
            Self::Notifications => "notifications",
        }
    }
}

impl fmt::Display for ReleaseCapability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ReleaseCapability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .copied()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|c| c.name()).collect();
                format!(
                    "unknown capability {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// `MAJOR.MINOR.PATCH`, compared numerically. Pre-release suffixes are not
/// accepted: a host must never have to guess which of two builds is newer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReleaseVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl FromStr for ReleaseVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("version {s:?} is not MAJOR.MINOR.PATCH (three decimal numbers)");
        let mut parts = s.split('.');
        let mut next = || -> Result<u32, String> {
            let part = parts.next().ok_or_else(bad)?;
            if part.is_empty() || part.len() > 9 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse().map_err(|_| bad())
        };
        let version = Self {
            major: next()?,
            minor: next()?,
            patch: next()?,
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(version)
    }
}

impl fmt::Display for ReleaseVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

crate::wire_struct! {
    /// What the operator signs: one package for one component and target.
    pub struct ReleaseManifest {
        /// `MAJOR.MINOR.PATCH`; checked by [`ReleaseManifest::version`].
        pub version: Text<VERSION_MAX>,
        /// Which program the package replaces, e.g. `assent-host`.
        pub component: Text<COMPONENT_MAX>,
        /// Rust target triple the binary is built for.
        pub target: Text<TARGET_MAX>,
        /// SHA-256 of the package bytes.
        pub sha256: [u8; 32],
        /// Package size in bytes.
        pub size: u64,
        /// Everything the new build can do.
        pub capabilities: List<ReleaseCapability, CAPABILITIES_MAX>,
        pub notes: Text<NOTES_MAX>,
        /// For a rollback: the version it undoes. The operator deliberately
        /// publishes an older version to undo a bad release; only a host
        /// running exactly that release accepts it, so an old rollback
        /// manifest replayed later cannot downgrade anyone else.
        pub rolls_back: Option<Text<VERSION_MAX>>,
        pub published_unix: u64,
    }
}

impl ReleaseManifest {
    pub fn version(&self) -> Result<ReleaseVersion, ReleaseError> {
        self.version.parse().map_err(ReleaseError::BadVersion)
    }

    /// Signs the canonical encoding with the release key.
    pub fn sign(
        &self,
        release_key: &Identity,
        rng: &mut impl CryptoRngCore,
    ) -> Result<SignedRelease, ReleaseError> {
        self.version()?;
        let body = self.to_bytes();
        let signature = release_key.sign(rng, SIGNATURE_CONTEXT, &body);
        Ok(SignedRelease {
            body: Bytes::new(body).map_err(ReleaseError::Decode)?,
            signer: release_key.fingerprint(),
            signature: Bytes::new(signature).map_err(ReleaseError::Decode)?,
        })
    }
}

crate::wire_struct! {
    /// A manifest as the relay stores and serves it: opaque signed bytes
    /// until [`SignedRelease::verify`] says otherwise.
    pub struct SignedRelease {
        /// Canonical encoding of a [`ReleaseManifest`].
        pub body: Bytes<BODY_MAX>,
        /// Which release key signed it (checked against the pinned key).
        pub signer: Fingerprint,
        pub signature: Bytes<SIGNATURE_LEN>,
    }
}

impl SignedRelease {
    /// Verifies against the pinned release key, then decodes.
    pub fn verify(&self, release_key: &PublicIdentity) -> Result<ReleaseManifest, ReleaseError> {
        verify_release_signature(
            release_key,
            SIGNATURE_CONTEXT,
            &self.signer,
            &self.body,
            &self.signature,
        )?;
        let manifest = ReleaseManifest::from_bytes(&self.body).map_err(ReleaseError::Decode)?;
        manifest.version()?;
        if manifest.size > PACKAGE_MAX {
            return Err(ReleaseError::TooLarge {
                size: manifest.size,
            });
        }
        Ok(manifest)
    }
}

/// Checks that the pinned release key signed `body` under `context`.
fn verify_release_signature(
    release_key: &PublicIdentity,
    context: &str,
    signer: &Fingerprint,
    body: &[u8],
    signature: &[u8],
) -> Result<(), ReleaseError> {
    let expected = release_key.fingerprint();
    if *signer != expected {
        return Err(ReleaseError::WrongKey {
            expected,
            got: *signer,
        });
    }
    release_key
        .verify(context, body, signature)
        .map_err(|_| ReleaseError::BadSignature)
}

/// What is on this host now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub component: String,
    pub target: String,
    pub version: ReleaseVersion,
    pub capabilities: Vec<ReleaseCapability>,
}

/// A manifest that may be installed, and what it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradePlan {
    pub from: ReleaseVersion,
    pub to: ReleaseVersion,
    /// The operator signed this older version as a rollback.
    pub rollback: bool,
    /// Capabilities the release adds; each needs its own approval.
    pub new_capabilities: Vec<ReleaseCapability>,
    /// Capabilities the release removes (shown, no approval needed).
    pub removed_capabilities: Vec<ReleaseCapability>,
}

/// Why a release was refused; each says what the technician can do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    #[error("release manifest signature does not verify under the pinned release key; the package was not installed")]
    BadSignature,
    #[error("release manifest is signed by key {got}, not the release key {expected} pinned at enrolment")]
    WrongKey {
        expected: Fingerprint,
        got: Fingerprint,
    },
    #[error("release manifest is malformed: {0}")]
    Decode(DecodeError),
    #[error("release manifest: {0}")]
    BadVersion(String),
    #[error("release is for component {got:?}, this is {expected:?}")]
    WrongComponent { expected: String, got: String },
    #[error("release is built for {got}, this host is {expected}")]
    WrongTarget { expected: String, got: String },
    #[error("release {offered} is older than the installed {installed}; a downgrade is installed only when the operator signs it as a rollback from exactly the installed version")]
    Downgrade {
        installed: ReleaseVersion,
        offered: ReleaseVersion,
    },
    #[error(
        "release {version} was rolled back on this host and is offered again under its old \
         signature (published at {published_unix}); it installs again only when the operator \
         re-signs it (publishes it anew)"
    )]
    RolledBack {
        version: ReleaseVersion,
        published_unix: u64,
    },
    #[error("release {0} is already installed")]
    AlreadyInstalled(ReleaseVersion),
    #[error("release package of {size} bytes is larger than the {PACKAGE_MAX}-byte limit")]
    TooLarge { size: u64 },
    #[error("package is larger than the {expected} bytes its manifest states")]
    PackageTooLong { expected: u64 },
    #[error("package is truncated: {got} of {expected} bytes arrived")]
    Truncated { expected: u64, got: u64 },
    #[error("package SHA-256 does not match its signed manifest; the download is corrupt or was tampered with")]
    HashMismatch,
}

/// Decides whether `manifest` (already verified) may replace `installed`.
pub fn assess(
    installed: &Installed,
    manifest: &ReleaseManifest,
) -> Result<UpgradePlan, ReleaseError> {
    if manifest.component.as_str() != installed.component {
        return Err(ReleaseError::WrongComponent {
            expected: installed.component.clone(),
            got: manifest.component.to_string(),
        });
    }
    if manifest.target.as_str() != installed.target {
        return Err(ReleaseError::WrongTarget {
            expected: installed.target.clone(),
            got: manifest.target.to_string(),
        });
    }
    let offered = manifest.version()?;
    let undoes_installed = manifest
        .rolls_back
        .as_ref()
        .and_then(|v| v.parse::<ReleaseVersion>().ok())
        == Some(installed.version);
    match offered.cmp(&installed.version) {
        Ordering::Equal => return Err(ReleaseError::AlreadyInstalled(offered)),
        Ordering::Less if !undoes_installed => {
            return Err(ReleaseError::Downgrade {
                installed: installed.version,
                offered,
            })
        }
        _ => {}
    }
    let mut new_capabilities: Vec<_> = manifest
        .capabilities
        .iter()
        .copied()
        .filter(|c| !installed.capabilities.contains(c))
        .collect();
    new_capabilities.sort_by_key(|c| *c as u8);
    new_capabilities.dedup();
    let removed_capabilities = installed
        .capabilities
        .iter()
        .copied()
        .filter(|c| !manifest.capabilities.contains(c))
        .collect();
    Ok(UpgradePlan {
        from: installed.version,
        to: offered,
        rollback: offered < installed.version,
        new_capabilities,
        removed_capabilities,
    })
}

/// Checks a package against its manifest while it downloads: it refuses a
/// byte beyond the stated size at once, and at the end a short package or a
/// hash mismatch.
pub struct PackageCheck {
    expected_size: u64,
    expected_sha256: [u8; 32],
    received: u64,
    hasher: Sha256,
}

impl PackageCheck {
    pub fn new(manifest: &ReleaseManifest) -> Self {
        Self {
            expected_size: manifest.size,
            expected_sha256: manifest.sha256,
            received: 0,
            hasher: Sha256::new(),
        }
    }

    pub fn received(&self) -> u64 {
        self.received
    }

    pub fn update(&mut self, chunk: &[u8]) -> Result<(), ReleaseError> {
        let received = self.received.saturating_add(chunk.len() as u64);
        if received > self.expected_size {
            return Err(ReleaseError::PackageTooLong {
                expected: self.expected_size,
            });
        }
        self.received = received;
        self.hasher.update(chunk);
        Ok(())
    }

    pub fn finish(self) -> Result<(), ReleaseError> {
        if self.received != self.expected_size {
            return Err(ReleaseError::Truncated {
                expected: self.expected_size,
                got: self.received,
            });
        }
        let digest: [u8; 32] = self.hasher.finalize().into();
        if digest != self.expected_sha256 {
            return Err(ReleaseError::HashMismatch);
        }
        Ok(())
    }
}

mod freshness;
mod withdrawn;
pub use freshness::{
    judge, manifest_hash, Freshness, FreshnessStatement, SignedFreshness, FRESHNESS_CONTEXT,
    FRESHNESS_VALID_MAX_SECS,
};
pub use withdrawn::{check_not_withdrawn, WithdrawnRelease};

#[cfg(test)]
mod tests;
