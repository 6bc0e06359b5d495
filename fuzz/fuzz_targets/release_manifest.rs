//! Release manifests (R16) arrive from the relay: arbitrary bytes never
//! panic the signed-release or manifest decoders, a decoded manifest
//! re-encodes to the same bytes, and a forged signature never verifies.
#![no_main]

use assent_proto::identity::PublicIdentity;
use assent_proto::release::{ReleaseManifest, SignedRelease};
use assent_proto::test_keys;
use assent_proto::wire::Field;
use libfuzzer_sys::fuzz_target;

fn release_key() -> &'static PublicIdentity {
    test_keys::operator().public()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = ReleaseManifest::from_bytes(data) {
        assert_eq!(manifest.to_bytes(), data);
        let _ = manifest.version();
    }
    if let Ok(signed) = SignedRelease::from_bytes(data) {
        assert_eq!(signed.to_bytes(), data);
        // Nobody without the private key can produce a verifying manifest.
        assert!(signed.verify(release_key()).is_err());
    }
});
