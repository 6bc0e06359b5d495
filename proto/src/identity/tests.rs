use proptest::prelude::*;
use rand_core::OsRng;
use std::io::Write;

use super::test_support::{host, other, viewer};
use super::*;

const CONTEXT: &str = "assent/1 test";

#[test]
fn signature_verifies_under_the_signers_key_only() {
    let sig = host().sign(&mut OsRng, CONTEXT, b"transcript");
    assert_eq!(sig.len(), SIGNATURE_LEN);
    host()
        .public()
        .verify(CONTEXT, b"transcript", &sig)
        .unwrap();
    assert!(matches!(
        viewer().public().verify(CONTEXT, b"transcript", &sig),
        Err(IdentityError::BadSignature)
    ));
}

#[test]
fn signature_over_a_different_message_fails() {
    let sig = host().sign(&mut OsRng, CONTEXT, b"transcript");
    assert!(matches!(
        host().public().verify(CONTEXT, b"transcripT", &sig),
        Err(IdentityError::BadSignature)
    ));
}

#[test]
fn signature_with_wrong_context_fails() {
    let sig = host().sign(&mut OsRng, "assent/1 handshake host", b"m");
    assert!(matches!(
        host()
            .public()
            .verify("assent/1 handshake viewer", b"m", &sig),
        Err(IdentityError::BadSignature)
    ));
    // The separator keeps context and message apart: moving bytes across fails.
    let sig = host().sign(&mut OsRng, "ab", b"c");
    assert!(host().public().verify("a", b"bc", &sig).is_err());
}

#[test]
fn malformed_signatures_are_bad_signature_not_panics() {
    let sig = host().sign(&mut OsRng, CONTEXT, b"m");
    let public = host().public();
    for bad in [
        Vec::new(),
        sig[..SIGNATURE_LEN - 1].to_vec(),
        [sig.as_slice(), &[0]].concat(),
        vec![0xff; SIGNATURE_LEN], // larger than the modulus
        vec![0; SIGNATURE_LEN],
    ] {
        assert!(matches!(
            public.verify(CONTEXT, b"m", &bad),
            Err(IdentityError::BadSignature)
        ));
    }
    let mut flipped = sig.clone();
    flipped[100] ^= 1;
    assert!(public.verify(CONTEXT, b"m", &flipped).is_err());
}

#[test]
fn public_identity_round_trips_through_spki_der_and_wire() {
    let public = host().public();
    assert_eq!(public.spki_der().len(), SPKI_DER_LEN);
    let again = PublicIdentity::from_spki_der(public.spki_der()).unwrap();
    assert_eq!(&again, public);
    assert_eq!(again.fingerprint(), host().fingerprint());
    let decoded = PublicIdentity::from_bytes(&public.to_bytes()).unwrap();
    assert_eq!(&decoded, public);
    assert_ne!(host().fingerprint(), viewer().fingerprint());
}

#[test]
fn fingerprint_is_sha256_of_spki_der() {
    let expected: [u8; 32] = Sha256::digest(host().public().spki_der()).into();
    assert_eq!(host().fingerprint().as_bytes(), &expected);
}

#[test]
fn a_2048_bit_key_is_refused_by_from_spki_der() {
    let small = RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
    let der = small.to_public_key().to_public_key_der().unwrap();
    assert!(matches!(
        PublicIdentity::from_spki_der(der.as_bytes()),
        Err(IdentityError::KeyNotRsa4096 { bits: 2048 })
    ));
    // Nor can it be used as our own identity.
    let pkcs8 = small.to_pkcs8_der().unwrap();
    assert!(matches!(
        Identity::from_pkcs8_der(pkcs8.as_bytes()),
        Err(IdentityError::KeyNotRsa4096 { bits: 2048 })
    ));
    // And it does not decode from the wire.
    let mut wire = Vec::new();
    wire.extend_from_slice(&(der.as_bytes().len() as u32).to_be_bytes());
    wire.extend_from_slice(der.as_bytes());
    assert!(matches!(
        PublicIdentity::from_bytes(&wire),
        Err(DecodeError::InvalidValue {
            what: "rsa-4096 public key",
            ..
        })
    ));
}

#[test]
fn a_4096_bit_key_with_another_exponent_is_refused() {
    let n = host().public().key.n().clone();
    let odd = RsaPublicKey::new(n, BigUint::from(3u32)).unwrap();
    let der = odd.to_public_key_der().unwrap();
    assert!(matches!(
        PublicIdentity::from_spki_der(der.as_bytes()),
        Err(IdentityError::InvalidKey(_))
    ));
}

#[test]
fn non_canonical_or_trailing_der_is_refused() {
    let mut der = host().public().spki_der().to_vec();
    der.push(0);
    assert!(PublicIdentity::from_spki_der(&der).is_err());
    assert!(PublicIdentity::from_spki_der(&[]).is_err());
    assert!(PublicIdentity::from_spki_der(&[0u8; 2000]).is_err());
}

#[test]
fn fingerprint_display_and_parse_round_trip() {
    let fp = host().fingerprint();
    let shown = fp.to_string();
    assert_eq!(shown.len(), 64 + 15);
    assert_eq!(shown.split(' ').count(), 16);
    assert!(shown.split(' ').all(|g| g.len() == 4));
    assert!(!shown.chars().any(|c| c.is_ascii_uppercase()));
    assert_eq!(format!("{fp:?}"), shown);
    assert_eq!(shown.parse::<Fingerprint>().unwrap(), fp);

    let plain: String = shown.split(' ').collect();
    assert_eq!(plain.to_uppercase().parse::<Fingerprint>().unwrap(), fp);
    let colons = plain
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    assert_eq!(colons.parse::<Fingerprint>().unwrap(), fp);
    assert_eq!(Fingerprint::from_bytes(&fp.to_bytes()).unwrap(), fp);
}

#[test]
fn fingerprint_parse_refuses_wrong_length_and_non_hex() {
    let plain: String = host().fingerprint().to_string().replace(' ', "");
    for bad in [
        "".to_string(),
        plain[..62].to_string(),
        format!("{plain}00"),
        format!("{}zz", &plain[..62]),
        format!("{}+", &plain[..63]),
        "é".repeat(64),
    ] {
        assert!(
            matches!(
                bad.parse::<Fingerprint>(),
                Err(IdentityError::InvalidFingerprint(_))
            ),
            "{bad:?} parsed"
        );
    }
}

#[test]
fn debug_output_never_contains_key_material() {
    let shown = format!("{:?}", host());
    assert!(shown.contains(&host().fingerprint().to_string()));
    assert!(shown.contains("redacted"));
    let pem = host().to_pkcs8_pem();
    let body_line = pem.lines().nth(1).unwrap();
    assert!(!shown.contains(body_line));
    let public = format!("{:?}", host().public());
    assert!(public.len() < 200, "{public}");
}

#[test]
fn private_key_round_trips_through_pkcs8() {
    let pem = viewer().to_pkcs8_pem();
    let again = Identity::from_pkcs8_pem(&pem).unwrap();
    assert_eq!(again.public(), viewer().public());
    let der = RsaPrivateKey::from_pkcs8_pem(&pem)
        .unwrap()
        .to_pkcs8_der()
        .unwrap();
    let again = Identity::from_pkcs8_der(der.as_bytes()).unwrap();
    // A signature by the reloaded key verifies under the original public key.
    let sig = again.sign(&mut OsRng, CONTEXT, b"m");
    viewer().public().verify(CONTEXT, b"m", &sig).unwrap();
    assert!(Identity::from_pkcs8_der(b"not a key").is_err());
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn saved_key_loads_back_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("host.key");
    host().save(&path).unwrap();
    let loaded = Identity::load(&path).unwrap();
    assert_eq!(loaded.fingerprint(), host().fingerprint());
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("host.key")]);
}

#[cfg(unix)]
#[test]
fn key_file_is_written_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("viewer.key");
    viewer().save(&path).unwrap();
    assert_eq!(mode_of(&path), 0o600);
}

#[cfg(unix)]
#[test]
fn key_file_is_private_even_under_a_permissive_umask_style_directory() {
    use std::os::unix::fs::PermissionsExt;
    // The mode is set at creation, not by chmod afterwards, so a
    // world-writable directory changes nothing.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let path = dir.path().join("viewer.key");
    viewer().save(&path).unwrap();
    assert_eq!(mode_of(&path), 0o600);
}

#[cfg(unix)]
#[test]
fn world_or_group_readable_key_is_refused_on_load() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("host.key");
    host().save(&path).unwrap();
    for mode in [0o644, 0o640, 0o604, 0o601, 0o610] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        match Identity::load(&path) {
            Err(IdentityError::InsecurePermissions { path: p, mode: m }) => {
                assert_eq!(p, path);
                assert_eq!(m, mode);
            }
            other => panic!("mode {mode:o} accepted: {other:?}"),
        }
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let message = Identity::load(&path).unwrap_err().to_string();
    assert!(message.contains("mode 0644"), "{message}");
    assert!(
        message.contains(&format!("chmod 600 {}", path.display())),
        "{message}"
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    Identity::load(&path).unwrap();
}

#[test]
fn save_refuses_to_overwrite_an_existing_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("host.key");
    host().save(&path).unwrap();
    assert!(matches!(
        other().save(&path),
        Err(IdentityError::AlreadyExists(p)) if p == path
    ));
    // The original key is intact and no temporary file was left behind.
    assert_eq!(
        Identity::load(&path).unwrap().fingerprint(),
        host().fingerprint()
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    // Any existing file counts, not only keys.
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, b"keep me").unwrap();
    assert!(matches!(
        host().save(&notes),
        Err(IdentityError::AlreadyExists(_))
    ));
    assert_eq!(std::fs::read(&notes).unwrap(), b"keep me");
}

#[test]
fn load_reports_missing_and_garbage_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.key");
    assert!(matches!(
        Identity::load(&missing),
        Err(IdentityError::Io { path, .. }) if path == missing
    ));
    let garbage = dir.path().join("garbage.key");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(&garbage)
        .unwrap()
        .write_all(b"\xff\xfe junk")
        .unwrap();
    assert!(matches!(
        Identity::load(&garbage),
        Err(IdentityError::InvalidKey(_))
    ));
    assert!(matches!(
        Identity::load(dir.path()),
        Err(IdentityError::Io { .. })
    ));
}

#[cfg(unix)]
#[test]
fn load_refuses_a_fifo_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.key");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        return; // no mkfifo here; nothing to prove
    }
    assert!(matches!(
        Identity::load(&fifo),
        Err(IdentityError::Io { source, .. }) if source.kind() == std::io::ErrorKind::InvalidInput
    ));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_public_identity_decoder(
        bytes in proptest::collection::vec(any::<u8>(), 0..1200)
    ) {
        let _ = PublicIdentity::from_bytes(&bytes);
        let _ = PublicIdentity::from_spki_der(&bytes);
    }

    #[test]
    fn corrupted_spki_never_panics_and_never_yields_another_valid_key(
        index in 0usize..SPKI_DER_LEN, xor in 1u8..=255
    ) {
        let mut der = host().public().spki_der().to_vec();
        der[index] ^= xor;
        if let Ok(parsed) = PublicIdentity::from_spki_der(&der) {
            // Only the modulus bytes can change and still parse; the result
            // is a different key with a different fingerprint.
            prop_assert_ne!(parsed.fingerprint(), host().fingerprint());
        }
    }

    #[test]
    fn arbitrary_signatures_never_panic_and_never_verify(
        sig in proptest::collection::vec(any::<u8>(), 0..600)
    ) {
        prop_assert!(host().public().verify(CONTEXT, b"m", &sig).is_err());
    }

    #[test]
    fn fingerprint_text_round_trips(bytes in any::<[u8; 32]>()) {
        let fp = Fingerprint(bytes);
        prop_assert_eq!(fp.to_string().parse::<Fingerprint>().unwrap(), fp);
        prop_assert_eq!(Fingerprint::from_bytes(&fp.to_bytes()).unwrap(), fp);
    }

    #[test]
    fn fingerprint_parser_never_panics(text in ".{0,100}") {
        let _ = text.parse::<Fingerprint>();
    }
}

#[test]
fn public_key_pem_round_trips_and_a_private_key_is_refused_in_its_place() {
    let id = crate::test_keys::key("host");
    let pem = id.public().to_spki_pem();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    let back = PublicIdentity::from_spki_pem_or_der(pem.as_bytes()).unwrap();
    assert_eq!(back.fingerprint(), id.fingerprint());
    let der = PublicIdentity::from_spki_pem_or_der(id.public().spki_der()).unwrap();
    assert_eq!(der.fingerprint(), id.fingerprint());
    let private = id.to_pkcs8_pem();
    assert!(PublicIdentity::from_spki_pem_or_der(private.as_bytes())
        .unwrap_err()
        .to_string()
        .contains("private key"));
    assert!(PublicIdentity::from_spki_pem_or_der(b"garbage").is_err());
}
