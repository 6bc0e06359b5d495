//! The data key and column sealing: key files, derivation, and what opens.

use proptest::prelude::*;
use rand_core::OsRng;

use super::*;

fn data_key() -> DataKey {
    DataKey::from_bytes([0x42; 32])
}

#[cfg(unix)]
#[test]
fn world_readable_key_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.key");
    DataKey::generate_file(&path, &mut OsRng).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    match DataKey::load(&path) {
        Err(e @ DataKeyError::InsecurePermissions { mode: 0o644, .. }) => {
            assert!(e
                .to_string()
                .contains(&format!("chmod 600 {}", path.display())))
        }
        other => panic!("expected InsecurePermissions, got {other:?}"),
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert!(matches!(
        DataKey::load(&path),
        Err(DataKeyError::InsecurePermissions { .. })
    ));
}

#[test]
fn generated_key_file_is_owner_only_loads_back_and_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.key");
    let made = DataKey::generate_file(&path, &mut OsRng).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let loaded = DataKey::load(&path).unwrap();
    assert_eq!(made.audit_key().as_bytes(), loaded.audit_key().as_bytes());
    // The hex in the file works from the environment too.
    let hex_text = std::fs::read_to_string(&path).unwrap();
    let from_env = DataKey::from_env_hex(&hex_text).unwrap();
    assert_eq!(made.audit_key().as_bytes(), from_env.audit_key().as_bytes());

    assert!(matches!(
        DataKey::generate_file(&path, &mut OsRng),
        Err(DataKeyError::AlreadyExists(_))
    ));
    let again = DataKey::load(&path).unwrap();
    assert_eq!(made.audit_key().as_bytes(), again.audit_key().as_bytes());
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn malformed_key_text_is_refused_without_repeating_it() {
    let secretish = "zz".repeat(32);
    for value in [secretish.as_str(), "abcd", ""] {
        let error = DataKey::from_env_hex(value).unwrap_err();
        assert!(matches!(error, DataKeyError::Malformed { .. }));
        if !value.is_empty() {
            assert!(!error.to_string().contains(value));
        }
    }
    assert_eq!(format!("{:?}", data_key()), "DataKey(<redacted>)");
}

#[test]
fn data_key_derives_distinct_keys_per_purpose() {
    let key = data_key();
    assert_ne!(key.audit_key().as_bytes(), &[0x42; 32]);
    let other = DataKey::from_bytes([0x43; 32]);
    assert_ne!(key.audit_key().as_bytes(), other.audit_key().as_bytes());
    let sealer = key.sealer();
    assert_ne!(
        sealer.blind_index("lockout", &[b"ab", b"c"]),
        sealer.blind_index("lockout", &[b"a", b"bc"])
    );
    assert_ne!(
        sealer.blind_index("lockout", &[b"a"]),
        other.sealer().blind_index("lockout", &[b"a"])
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_open_as_a_sealed_value(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let sealer = data_key().sealer();
        prop_assert!(sealer.open(&Cell::new("hosts", "registrant", "H-A"), &bytes).is_err());
        prop_assert!(!sealer.matches_key_check(&bytes));
    }
}

#[test]
fn sealed_value_opens_only_in_its_own_table_column_and_row() {
    let sealer = data_key().sealer();
    let home = Cell::new("hosts", "registrant", "H-AAAA2222");
    let sealed = sealer.seal(&mut OsRng, &home, b"registrant").unwrap();
    assert_eq!(
        sealer.open(&home, &sealed).unwrap().as_slice(),
        b"registrant"
    );
    for elsewhere in [
        Cell::new("hosts", "registrant", "H-BBBB3333"),
        Cell::new("hosts", "instrument_model", "H-AAAA2222"),
        Cell::new("presence", "registrant", "H-AAAA2222"),
    ] {
        assert!(matches!(
            sealer.open(&elsewhere, &sealed),
            Err(StoreError::Corrupt { .. })
        ));
    }
    // Nor under another data key, nor with any byte changed.
    let other = DataKey::from_bytes([0x43; 32]).sealer();
    assert!(other.open(&home, &sealed).is_err());
    for i in 0..sealed.len() {
        let mut altered = sealed.clone();
        altered[i] ^= 0x20;
        assert!(sealer.open(&home, &altered).is_err(), "byte {i}");
    }
    // Each sealing draws a fresh nonce.
    assert_ne!(
        sealer.seal(&mut OsRng, &home, b"registrant").unwrap(),
        sealed
    );
}

#[test]
fn key_check_passes_only_under_the_key_that_made_it() {
    let sealer = data_key().sealer();
    let check = sealer.key_check(&mut OsRng).unwrap();
    assert!(sealer.matches_key_check(&check));
    assert!(!DataKey::from_bytes([0x43; 32])
        .sealer()
        .matches_key_check(&check));
}
