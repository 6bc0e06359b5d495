//! Asking the relay for the newest release and fetching its package (R16).
//! The relay's word counts for nothing: an offer is verified against the
//! release key pinned at enrolment and assessed against what is installed
//! before anything is downloaded, and the download is checked against the
//! signed size and hash as bytes arrive ([`PackageCheck`]), into a staging
//! file that vanishes unless the package verifies.

use std::path::Path;

use anyhow::Result;
use assent_net::relay_client::{text, unexpected};
use assent_proto::identity::PublicIdentity;
use assent_proto::messages::signalling::{
    PackageChunk, PackageRequest, ReleaseQuery, SignallingMessage,
};
use assent_proto::release::{
    assess, check_not_withdrawn, judge, Freshness, Installed, PackageCheck, ReleaseError,
    ReleaseManifest, ReleaseVersion, SignedRelease, UpgradePlan, WithdrawnRelease,
};

use super::binary_file::{BinaryFileError, StagedFile};
use crate::relay_link::{now_unix, RelayLink};

/// What the relay's newest release means for this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The relay has no release for this component and target.
    NothingPublished,
    /// The newest release is the installed one.
    UpToDate { version: ReleaseVersion },
    /// A verified release that may be installed, and what it changes.
    Available(Box<AvailableRelease>),
    /// The offer failed a check; it must not be installed.
    Refused {
        /// The version the offer claims; unverified when the signature failed.
        claimed_version: String,
        reason: ReleaseError,
    },
}

/// A release whose signature verified and which [`assess`] accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailableRelease {
    pub manifest: ReleaseManifest,
    pub plan: UpgradePlan,
}

impl CheckOutcome {
    /// Verifies `offer` against the pinned `release_key` and assesses it
    /// against `installed`.
    pub fn of_offer(
        offer: Option<&SignedRelease>,
        release_key: &PublicIdentity,
        installed: &Installed,
        withdrawn: &[WithdrawnRelease],
    ) -> Self {
        let Some(offer) = offer else {
            return Self::NothingPublished;
        };
        let refused = |reason, claimed_version| Self::Refused {
            claimed_version,
            reason,
        };
        let manifest = match offer.verify(release_key) {
            Ok(manifest) => manifest,
            Err(reason) => return refused(reason, "unverified".to_owned()),
        };
        // A release undone here comes back only signed anew (R16, R21).
        if let Err(reason) = check_not_withdrawn(&manifest, withdrawn) {
            return refused(reason, manifest.version.to_string());
        }
        match assess(installed, &manifest) {
            Ok(plan) => Self::Available(Box::new(AvailableRelease { manifest, plan })),
            Err(ReleaseError::AlreadyInstalled(version)) => Self::UpToDate { version },
            Err(reason) => refused(reason, manifest.version.to_string()),
        }
    }
}

/// Asks the relay for the newest release of this component and target and
/// judges it, and the operator's freshness statement beside it (whether the
/// relay may be holding a newer release back). Records nothing: `assent-host run` calls this periodically
/// and audits only what changed ([`super::record_check`]).
pub async fn check(
    link: &RelayLink,
    release_key: &PublicIdentity,
    installed: &Installed,
    withdrawn: &[WithdrawnRelease],
) -> Result<(CheckOutcome, Freshness)> {
    let query = ReleaseQuery {
        component: text(&installed.component),
        target: text(&installed.target),
        installed_version: text(&installed.version.to_string()),
    };
    match link.call(query.into()).await? {
        SignallingMessage::ReleaseOffer(offer) => Ok((
            CheckOutcome::of_offer(offer.release.as_ref(), release_key, installed, withdrawn),
            judge(
                offer.release.as_ref(),
                offer.freshness.as_ref(),
                release_key,
                &installed.component,
                &installed.target,
                now_unix(),
            ),
        )),
        other => Err(unexpected("ReleaseOffer", other).into()),
    }
}

/// Why a download did not produce a verified package.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// Size or hash do not match the signed manifest.
    #[error(transparent)]
    Refused(#[from] ReleaseError),
    #[error("the relay sent package bytes from offset {got} when {asked} was asked for")]
    OutOfOrder { asked: u64, got: u64 },
    #[error(transparent)]
    File(#[from] BinaryFileError),
    #[error("fetching the package from the relay: {0:#}")]
    Relay(anyhow::Error),
}

/// Where package pieces come from: the relay, or a test's bytes.
pub(crate) trait PackageSource {
    async fn piece(&mut self, request: PackageRequest) -> Result<PackageChunk>;
}

impl PackageSource for &RelayLink {
    async fn piece(&mut self, request: PackageRequest) -> Result<PackageChunk> {
        match self.call(request.into()).await? {
            SignallingMessage::PackageChunk(chunk) => Ok(chunk),
            other => Err(unexpected("PackageChunk", other).into()),
        }
    }
}

/// Downloads the package of `manifest` into a staging file beside
/// `binary`. Returns it only when every byte arrived and the hash matched;
/// on any error the staging file is removed.
pub(crate) async fn download(
    mut source: impl PackageSource,
    manifest: &ReleaseManifest,
    binary: &Path,
    mut progress: impl FnMut(u64, u64),
) -> Result<StagedFile, DownloadError> {
    let mut staged = StagedFile::beside(binary)?;
    let mut check = PackageCheck::new(manifest);
    loop {
        let offset = check.received();
        let chunk = source
            .piece(PackageRequest {
                sha256: manifest.sha256,
                offset,
            })
            .await
            .map_err(DownloadError::Relay)?;
        if chunk.offset != offset {
            return Err(DownloadError::OutOfOrder {
                asked: offset,
                got: chunk.offset,
            });
        }
        if chunk.data.is_empty() {
            break;
        }
        // Checked before writing: no byte past the signed size touches disk.
        check.update(&chunk.data)?;
        staged.write(&chunk.data)?;
        progress(check.received(), manifest.size);
    }
    check.finish()?;
    Ok(staged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use assent_proto::release::{ReleaseCapability, HOST_COMPONENT};
    use assent_proto::test_keys;
    use assent_proto::wire::{Bytes, List};
    use rand_core::OsRng;
    use sha2::{Digest, Sha256};

    pub(crate) fn manifest_for(package: &[u8], version: &str) -> ReleaseManifest {
        ReleaseManifest {
            version: text(version),
            component: text(HOST_COMPONENT),
            target: text(&super::super::installed::build_target()),
            sha256: Sha256::digest(package).into(),
            size: package.len() as u64,
            capabilities: List::new(vec![ReleaseCapability::ScreenView]).unwrap(),
            notes: text("fixes"),
            rolls_back: None,
            published_unix: 1,
        }
    }

    fn installed(version: &str) -> Installed {
        Installed {
            component: HOST_COMPONENT.into(),
            target: super::super::installed::build_target(),
            version: version.parse().unwrap(),
            capabilities: vec![ReleaseCapability::ScreenView],
        }
    }

    #[test]
    fn an_offer_signed_by_another_key_is_refused_as_the_wrong_key() {
        let release = test_keys::key("release");
        let signed = manifest_for(b"pkg", "2.0.0")
            .sign(&test_keys::key("other"), &mut OsRng)
            .unwrap();
        let outcome =
            CheckOutcome::of_offer(Some(&signed), release.public(), &installed("1.0.0"), &[]);
        assert!(
            matches!(
                outcome,
                CheckOutcome::Refused {
                    reason: ReleaseError::WrongKey { .. },
                    ..
                }
            ),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_release_rolled_back_from_is_refused_until_it_is_signed_anew() {
        let release = test_keys::key("release");
        let undone = [WithdrawnRelease {
            version: "2.0.0".parse().unwrap(),
            published_unix: 1,
        }];
        let same = manifest_for(b"pkg", "2.0.0")
            .sign(&release, &mut OsRng)
            .unwrap();
        let outcome =
            CheckOutcome::of_offer(Some(&same), release.public(), &installed("1.0.0"), &undone);
        assert!(
            matches!(
                outcome,
                CheckOutcome::Refused {
                    reason: ReleaseError::RolledBack { .. },
                    ..
                }
            ),
            "{outcome:?}"
        );
        let mut resigned = manifest_for(b"pkg", "2.0.0");
        resigned.published_unix = 2;
        let resigned = resigned.sign(&release, &mut OsRng).unwrap();
        assert!(matches!(
            CheckOutcome::of_offer(
                Some(&resigned),
                release.public(),
                &installed("1.0.0"),
                &undone
            ),
            CheckOutcome::Available(_)
        ));
    }

    #[test]
    fn the_installed_version_is_up_to_date_and_a_newer_one_is_available() {
        let release = test_keys::key("release");
        let signed = manifest_for(b"pkg", "2.0.0")
            .sign(&release, &mut OsRng)
            .unwrap();
        assert_eq!(
            CheckOutcome::of_offer(Some(&signed), release.public(), &installed("2.0.0"), &[]),
            CheckOutcome::UpToDate {
                version: "2.0.0".parse().unwrap()
            }
        );
        let CheckOutcome::Available(available) =
            CheckOutcome::of_offer(Some(&signed), release.public(), &installed("1.0.0"), &[])
        else {
            panic!("not available")
        };
        assert_eq!(available.plan.to, "2.0.0".parse().unwrap());
        assert_eq!(
            CheckOutcome::of_offer(None, release.public(), &installed("1.0.0"), &[]),
            CheckOutcome::NothingPublished
        );
    }

    #[test]
    fn an_older_release_not_signed_as_a_rollback_is_refused() {
        let release = test_keys::key("release");
        let signed = manifest_for(b"pkg", "0.9.0")
            .sign(&release, &mut OsRng)
            .unwrap();
        let outcome =
            CheckOutcome::of_offer(Some(&signed), release.public(), &installed("1.0.0"), &[]);
        assert!(
            matches!(
                &outcome,
                CheckOutcome::Refused { reason: ReleaseError::Downgrade { .. }, claimed_version }
                    if claimed_version == "0.9.0"
            ),
            "{outcome:?}"
        );
    }

    /// Serves `bytes` in pieces of `piece` bytes, as the relay would.
    struct Served {
        bytes: Vec<u8>,
        piece: usize,
        wrong_offset: bool,
    }

    impl PackageSource for &mut Served {
        async fn piece(&mut self, request: PackageRequest) -> Result<PackageChunk> {
            let start = (request.offset as usize).min(self.bytes.len());
            let end = (start + self.piece).min(self.bytes.len());
            Ok(PackageChunk {
                offset: request.offset + u64::from(self.wrong_offset),
                total: self.bytes.len() as u64,
                data: Bytes::new(self.bytes[start..end].to_vec()).unwrap(),
            })
        }
    }

    fn served(bytes: &[u8]) -> Served {
        Served {
            bytes: bytes.to_vec(),
            piece: 3,
            wrong_offset: false,
        }
    }

    fn entries(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    async fn fetch(
        source: &mut Served,
        manifest: &ReleaseManifest,
        dir: &Path,
    ) -> Result<StagedFile, DownloadError> {
        download(source, manifest, &dir.join("assent-host"), |_, _| {}).await
    }

    /// Downloads what `source` serves for `manifest`, expecting a refusal
    /// that leaves nothing in the binary's directory.
    async fn refused(source: &mut Served, manifest: &ReleaseManifest) -> DownloadError {
        let dir = tempfile::tempdir().unwrap();
        let error = fetch(source, manifest, dir.path()).await.err().unwrap();
        assert_eq!(entries(dir.path()), 0, "a staging file was left: {error}");
        error
    }

    #[tokio::test]
    async fn a_package_matching_its_manifest_is_staged_whole() {
        let dir = tempfile::tempdir().unwrap();
        let package = b"a whole new binary".to_vec();
        let manifest = manifest_for(&package, "2.0.0");
        let staged = fetch(&mut served(&package), &manifest, dir.path())
            .await
            .unwrap();
        assert_eq!(std::fs::read(staged.path()).unwrap(), package);
        drop(staged);
        assert_eq!(entries(dir.path()), 0);
    }

    #[tokio::test]
    async fn a_truncated_package_is_refused_and_leaves_no_file() {
        let package = b"a whole new binary";
        let manifest = manifest_for(package, "2.0.0");
        let error = refused(&mut served(&package[..10]), &manifest).await;
        assert!(
            matches!(
                error,
                DownloadError::Refused(ReleaseError::Truncated { .. })
            ),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_package_with_another_hash_is_refused_and_leaves_no_file() {
        let manifest = manifest_for(b"a whole new binary", "2.0.0");
        let error = refused(&mut served(b"a whole bad binary"), &manifest).await;
        assert!(
            matches!(error, DownloadError::Refused(ReleaseError::HashMismatch)),
            "{error}"
        );
    }

    #[tokio::test]
    async fn bytes_past_the_signed_size_are_refused_and_leave_no_file() {
        let manifest = manifest_for(b"small", "2.0.0");
        let mut longer = served(b"small but then much longer");
        longer.piece = 64;
        let error = refused(&mut longer, &manifest).await;
        assert!(
            matches!(
                error,
                DownloadError::Refused(ReleaseError::PackageTooLong { expected: 5 })
            ),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_piece_from_the_wrong_offset_is_refused_and_leaves_no_file() {
        let package = b"a whole new binary";
        let mut shifted = served(package);
        shifted.wrong_offset = true;
        let error = refused(&mut shifted, &manifest_for(package, "2.0.0")).await;
        assert!(
            matches!(error, DownloadError::OutOfOrder { asked: 0, got: 1 }),
            "{error}"
        );
    }
}
