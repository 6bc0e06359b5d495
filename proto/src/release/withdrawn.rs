//! Releases this host rolled back from (R16, R21). A release undone on a
//! host stays signed and servable, so a relay could offer it again the
//! moment the rollback is done. The host remembers each release it rolled
//! back from, with the publication time its signed manifest carried, and
//! [`check_not_withdrawn`] refuses that version again unless the operator
//! signed it anew: a manifest of that version published later.

use super::{ReleaseError, ReleaseManifest, ReleaseVersion};

/// A release this host rolled back from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WithdrawnRelease {
    pub version: ReleaseVersion,
    /// `published_unix` of the manifest that was undone; a manifest of the
    /// same version must be published after it to be installed again.
    pub published_unix: u64,
}

/// Refuses `manifest` (already verified) if it offers a withdrawn version
/// that has not been re-signed since it was rolled back.
pub fn check_not_withdrawn(
    manifest: &ReleaseManifest,
    withdrawn: &[WithdrawnRelease],
) -> Result<(), ReleaseError> {
    let version = manifest.version()?;
    match withdrawn
        .iter()
        .filter(|w| w.version == version)
        .map(|w| w.published_unix)
        .max()
    {
        Some(undone) if manifest.published_unix <= undone => Err(ReleaseError::RolledBack {
            version,
            published_unix: manifest.published_unix,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::{ReleaseCapability, HOST_COMPONENT};
    use crate::wire::{List, Text};

    fn manifest(version: &str, published_unix: u64) -> ReleaseManifest {
        ReleaseManifest {
            version: Text::new(version).unwrap(),
            component: Text::new(HOST_COMPONENT).unwrap(),
            target: Text::new("x86_64-unknown-linux-gnu").unwrap(),
            sha256: [7; 32],
            size: 1,
            capabilities: List::new(vec![ReleaseCapability::ScreenView]).unwrap(),
            notes: Text::new("").unwrap(),
            rolls_back: None,
            published_unix,
        }
    }

    const UNDONE: WithdrawnRelease = WithdrawnRelease {
        version: ReleaseVersion {
            major: 2,
            minor: 0,
            patch: 0,
        },
        published_unix: 1_800_000_000,
    };

    #[test]
    fn a_rolled_back_release_offered_again_is_refused_unless_re_signed() {
        let again = check_not_withdrawn(&manifest("2.0.0", 1_800_000_000), &[UNDONE]);
        assert!(
            matches!(again, Err(ReleaseError::RolledBack { .. })),
            "{again:?}"
        );
        // An even older signature of it is no better.
        assert!(check_not_withdrawn(&manifest("2.0.0", 1_700_000_000), &[UNDONE]).is_err());
        // Re-signed by the operator after the rollback: offered again.
        check_not_withdrawn(&manifest("2.0.0", 1_800_000_001), &[UNDONE]).unwrap();
        // Other versions are not affected.
        check_not_withdrawn(&manifest("2.0.1", 1), &[UNDONE]).unwrap();
    }
}
