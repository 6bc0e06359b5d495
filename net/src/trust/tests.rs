use super::*;

fn sample() -> CertFingerprint {
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(0xa5);
    }
    CertFingerprint(bytes)
}

#[test]
fn fingerprint_is_sha256_of_the_certificate_der() {
    // SHA-256("abc"), FIPS 180-2 test vector.
    let expected: CertFingerprint =
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            .parse()
            .unwrap();
    assert_eq!(CertFingerprint::of(b"abc"), expected);
}

#[test]
fn fingerprint_displays_as_sixteen_groups_of_four_lowercase_hex() {
    let shown = sample().to_string();
    let groups: Vec<&str> = shown.split(' ').collect();
    assert_eq!(groups.len(), 16);
    assert!(groups.iter().all(|g| g.len() == 4
        && g.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))));
}

#[test]
fn fingerprint_parses_grouped_plain_and_colon_separated_hex() {
    let fp = sample();
    let grouped = fp.to_string();
    let plain: String = grouped.split(' ').collect();
    let colons =
        fp.0.iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":");
    for text in [grouped, plain.to_uppercase(), plain, colons] {
        assert_eq!(text.parse::<CertFingerprint>(), Ok(fp), "{text}");
    }
}

#[test]
fn fingerprint_with_wrong_length_or_non_hex_is_refused() {
    let plain: String = sample().to_string().split(' ').collect();
    for bad in [
        "",
        &plain[..62],
        &format!("{plain}00"),
        &format!("{}zz", &plain[..62]),
    ] {
        assert!(bad.parse::<CertFingerprint>().is_err(), "{bad:?}");
    }
}

#[test]
fn pin_comparison_detects_a_difference_in_any_byte() {
    let fp = sample();
    assert!(fp.matches(&fp));
    for i in 0..32 {
        let mut other = fp;
        other.0[i] ^= 0x01;
        assert!(!fp.matches(&other), "byte {i}");
    }
}

#[test]
fn pin_mismatch_survives_the_trip_through_tls_error_text() {
    let expected = sample();
    let got = CertFingerprint::of(b"another certificate");
    let error = rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
        PinMismatch { expected, got },
    ))));
    match pin_mismatch_in(&error.to_string()) {
        Some(NetError::RelayCertificateMismatch {
            expected: e,
            got: g,
        }) => {
            assert_eq!((e, g), (expected, got));
        }
        other => panic!("not found in {error}: {other:?}"),
    }
    assert!(pin_mismatch_in("invalid peer certificate: UnknownIssuer").is_none());
}

#[test]
fn empty_operator_ca_list_is_refused() {
    let result = verifier_for(RelayTrust::OperatorCa(Vec::new()), &provider());
    assert!(matches!(result, Err(NetError::InvalidOperatorCa(_))));
}

#[test]
fn malformed_operator_ca_certificate_is_refused() {
    let junk = CertificateDer::from(vec![0x30, 0x03, 0x01, 0x02, 0x03]);
    let result = verifier_for(RelayTrust::OperatorCa(vec![junk]), &provider());
    assert!(matches!(result, Err(NetError::InvalidOperatorCa(_))));
}
