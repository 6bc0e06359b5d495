use proptest::prelude::*;
use rand_core::OsRng;

use super::*;
use crate::test_keys;

fn manifest(version: &str, package: &[u8]) -> ReleaseManifest {
    ReleaseManifest {
        version: Text::new(version).unwrap(),
        component: Text::new(HOST_COMPONENT).unwrap(),
        target: Text::new("x86_64-unknown-linux-gnu").unwrap(),
        sha256: Sha256::digest(package).into(),
        size: package.len() as u64,
        capabilities: List::new(vec![
            ReleaseCapability::ScreenView,
            ReleaseCapability::RemoteControl,
        ])
        .unwrap(),
        notes: Text::new("fixes").unwrap(),
        rolls_back: None,
        published_unix: 1_800_000_000,
    }
}

fn installed(version: &str) -> Installed {
    Installed {
        component: HOST_COMPONENT.into(),
        target: "x86_64-unknown-linux-gnu".into(),
        version: version.parse().unwrap(),
        capabilities: vec![
            ReleaseCapability::ScreenView,
            ReleaseCapability::RemoteControl,
        ],
    }
}

fn release_key() -> &'static Identity {
    test_keys::operator()
}

#[test]
fn a_signed_manifest_verifies_under_its_key_and_round_trips() {
    let m = manifest("1.2.3", b"package");
    let signed = m.sign(release_key(), &mut OsRng).unwrap();
    let again = SignedRelease::from_bytes(&signed.to_bytes()).unwrap();
    assert_eq!(again.verify(release_key().public()).unwrap(), m);
}

#[test]
fn a_manifest_signed_by_another_key_is_refused_as_wrong_key() {
    let signed = manifest("1.2.3", b"p")
        .sign(test_keys::other(), &mut OsRng)
        .unwrap();
    assert!(matches!(
        signed.verify(release_key().public()),
        Err(ReleaseError::WrongKey { .. })
    ));
}

#[test]
fn an_edited_manifest_body_fails_the_signature() {
    let mut signed = manifest("1.2.3", b"p")
        .sign(release_key(), &mut OsRng)
        .unwrap();
    let mut body = signed.body.to_vec();
    let last = body.len() - 1;
    body[last] ^= 1;
    signed.body = Bytes::new(body).unwrap();
    assert_eq!(
        signed.verify(release_key().public()),
        Err(ReleaseError::BadSignature)
    );
}

#[test]
fn a_forged_signer_field_does_not_help() {
    // Signed by another key but claiming the pinned key's fingerprint.
    let mut signed = manifest("1.2.3", b"p")
        .sign(test_keys::other(), &mut OsRng)
        .unwrap();
    signed.signer = release_key().fingerprint();
    assert_eq!(
        signed.verify(release_key().public()),
        Err(ReleaseError::BadSignature)
    );
}

#[test]
fn a_newer_release_is_planned_with_its_new_capabilities() {
    let mut m = manifest("1.3.0", b"p");
    m.capabilities = List::new(vec![
        ReleaseCapability::ScreenView,
        ReleaseCapability::FileTransfer,
        ReleaseCapability::RemoteControl,
    ])
    .unwrap();
    let plan = assess(&installed("1.2.3"), &m).unwrap();
    assert_eq!(plan.to, "1.3.0".parse().unwrap());
    assert_eq!(plan.new_capabilities, vec![ReleaseCapability::FileTransfer]);
    assert!(plan.removed_capabilities.is_empty());
    assert!(!plan.rollback);
}

#[test]
fn a_downgrade_is_refused_unless_signed_as_rollback_from_the_installed_version() {
    let mut m = manifest("1.2.2", b"p");
    assert!(matches!(
        assess(&installed("1.2.3"), &m),
        Err(ReleaseError::Downgrade { .. })
    ));
    m.rolls_back = Some(Text::new("1.2.3").unwrap());
    let plan = assess(&installed("1.2.3"), &m).unwrap();
    assert!(plan.rollback);
}

#[test]
fn a_rollback_manifest_replayed_to_a_host_on_another_version_is_refused() {
    let mut m = manifest("1.2.2", b"p");
    m.rolls_back = Some(Text::new("1.2.3").unwrap());
    for other in ["1.3.0", "2.0.0", "1.2.4"] {
        assert!(
            matches!(
                assess(&installed(other), &m),
                Err(ReleaseError::Downgrade { .. })
            ),
            "{other}"
        );
    }
    m.rolls_back = Some(Text::new("garbage").unwrap());
    assert!(matches!(
        assess(&installed("1.2.3"), &m),
        Err(ReleaseError::Downgrade { .. })
    ));
}

#[test]
fn the_installed_version_again_is_refused() {
    assert_eq!(
        assess(&installed("1.2.3"), &manifest("1.2.3", b"p")),
        Err(ReleaseError::AlreadyInstalled("1.2.3".parse().unwrap()))
    );
}

#[test]
fn a_manifest_for_another_target_or_component_is_refused() {
    let mut m = manifest("2.0.0", b"p");
    m.target = Text::new("aarch64-unknown-linux-gnu").unwrap();
    assert!(matches!(
        assess(&installed("1.0.0"), &m),
        Err(ReleaseError::WrongTarget { .. })
    ));
    let mut m = manifest("2.0.0", b"p");
    m.component = Text::new("assent-viewer").unwrap();
    assert!(matches!(
        assess(&installed("1.0.0"), &m),
        Err(ReleaseError::WrongComponent { .. })
    ));
}

#[test]
fn versions_compare_numerically_and_refuse_suffixes() {
    let v = |s: &str| s.parse::<ReleaseVersion>();
    assert!(v("1.10.0").unwrap() > v("1.9.9").unwrap());
    for bad in [
        "1.2",
        "1.2.3.4",
        "1.2.3-rc1",
        "",
        "a.b.c",
        "1..3",
        "+1.2.3",
        "1.2.9999999999",
    ] {
        assert!(v(bad).is_err(), "{bad:?} accepted");
    }
    assert_eq!(v("0.10.2").unwrap().to_string(), "0.10.2");
}

#[test]
fn signing_refuses_a_manifest_with_a_bad_version() {
    assert!(matches!(
        manifest("latest", b"p").sign(release_key(), &mut OsRng),
        Err(ReleaseError::BadVersion(_))
    ));
}

#[test]
fn package_check_accepts_the_exact_bytes_in_any_chunking() {
    let package = vec![7u8; 10_000];
    let m = manifest("1.0.0", &package);
    let mut check = PackageCheck::new(&m);
    for chunk in package.chunks(333) {
        check.update(chunk).unwrap();
    }
    assert_eq!(check.received(), 10_000);
    check.finish().unwrap();
}

#[test]
fn package_check_refuses_truncated_long_and_altered_packages() {
    let package = b"the real package".to_vec();
    let m = manifest("1.0.0", &package);

    let mut short = PackageCheck::new(&m);
    short.update(&package[..5]).unwrap();
    assert_eq!(
        short.finish(),
        Err(ReleaseError::Truncated {
            expected: package.len() as u64,
            got: 5
        })
    );

    let mut long = PackageCheck::new(&m);
    long.update(&package).unwrap();
    assert!(matches!(
        long.update(b"x"),
        Err(ReleaseError::PackageTooLong { .. })
    ));

    let mut altered = PackageCheck::new(&m);
    let mut bad = package.clone();
    bad[0] ^= 1;
    altered.update(&bad).unwrap();
    assert_eq!(altered.finish(), Err(ReleaseError::HashMismatch));
}

#[test]
fn capability_names_round_trip() {
    for c in ReleaseCapability::ALL {
        assert_eq!(c.name().parse::<ReleaseCapability>(), Ok(*c));
    }
    assert!("teleport".parse::<ReleaseCapability>().is_err());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_manifest_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = SignedRelease::from_bytes(&bytes);
        let _ = ReleaseManifest::from_bytes(&bytes);
    }

    #[test]
    fn manifests_round_trip(version in (0u32..1000, 0u32..1000, 0u32..1000), size in any::<u64>(), rollback in any::<bool>()) {
        let mut m = manifest(&format!("{}.{}.{}", version.0, version.1, version.2), b"");
        m.size = size;
        m.rolls_back = rollback.then(|| Text::new("999.0.0").unwrap());
        prop_assert_eq!(ReleaseManifest::from_bytes(&m.to_bytes()).unwrap(), m);
    }
}
