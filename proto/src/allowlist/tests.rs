use proptest::prelude::*;
use rand_core::OsRng;

use super::*;
use crate::identity::test_support::{host, operator, other, viewer};

const NOW: u64 = 1_800_000_000;
const DAY: u64 = 86_400;

fn entry(identity: &Identity, name: &str, expires_unix: u64) -> AllowListEntry {
    AllowListEntry {
        viewer: identity.public().clone(),
        name: Text::new(name).unwrap(),
        email: Text::new(format!("{}@example.com", name.to_lowercase())).unwrap(),
        expires_unix,
    }
}

fn list(serial: u64, entries: Vec<AllowListEntry>) -> AllowList {
    AllowList {
        serial,
        issued_unix: NOW - DAY,
        expires_unix: NOW + 30 * DAY,
        entries: List::new(entries).unwrap(),
    }
}

fn standard_list() -> AllowList {
    list(
        7,
        vec![
            entry(viewer(), "Eve", NOW + 10 * DAY),
            entry(host(), "Lapsed", NOW - 1),
        ],
    )
}

fn signed() -> SignedAllowList {
    standard_list().sign(operator(), &mut OsRng)
}

#[test]
fn signed_list_verifies_and_admits_a_listed_viewer() {
    let verified = signed().verify(operator().public(), NOW).unwrap();
    assert_eq!(verified.serial(), 7);
    assert_eq!(verified.operator(), operator().fingerprint());
    assert_eq!(verified.entries(), &standard_list().entries[..]);
    let admitted = verified.check(&viewer().fingerprint(), NOW).unwrap();
    assert_eq!(admitted.name.as_str(), "Eve");
}

#[test]
fn signed_list_survives_the_wire_and_disk_encoding() {
    let signed = signed();
    let decoded = SignedAllowList::from_bytes(&signed.to_bytes()).unwrap();
    assert_eq!(decoded, signed);
    decoded.verify(operator().public(), NOW).unwrap();
}

#[test]
fn unsigned_or_garbage_signature_is_refused() {
    let good = signed();
    for signature in [
        Vec::new(),
        vec![0u8; SIGNATURE_LEN],
        vec![0xa5; SIGNATURE_LEN],
        good.signature[..SIGNATURE_LEN - 1].to_vec(),
    ] {
        let forged = SignedAllowList {
            signature: Bytes::new(signature).unwrap(),
            ..good.clone()
        };
        assert_eq!(
            forged.verify(operator().public(), NOW).unwrap_err(),
            AllowListError::BadSignature
        );
    }
}

#[test]
fn tampered_body_is_refused() {
    let good = signed();
    let len = good.body.len();
    for index in [0, 8, 20, len / 2, len - 1] {
        let mut body = good.body.to_vec();
        body[index] ^= 0x01;
        let tampered = SignedAllowList {
            body: Bytes::new(body).unwrap(),
            ..good.clone()
        };
        assert_eq!(
            tampered.verify(operator().public(), NOW).unwrap_err(),
            AllowListError::BadSignature,
            "flip at {index} accepted"
        );
    }
    // A relay adding its own entry to the body is the same thing.
    let mut bigger = standard_list();
    let mut entries = bigger.entries.to_vec();
    entries.push(entry(other(), "Mallory", NOW + DAY));
    bigger.entries = List::new(entries).unwrap();
    let spliced = SignedAllowList {
        body: Bytes::new(bigger.to_bytes()).unwrap(),
        ..good
    };
    assert_eq!(
        spliced.verify(operator().public(), NOW).unwrap_err(),
        AllowListError::BadSignature
    );
}

#[test]
fn list_signed_by_another_key_is_refused_as_wrong_operator() {
    let forged = standard_list().sign(other(), &mut OsRng);
    assert_eq!(
        forged.verify(operator().public(), NOW).unwrap_err(),
        AllowListError::WrongOperator {
            expected: operator().fingerprint(),
            got: other().fingerprint(),
        }
    );
    // Claiming the operator's fingerprint does not help: the signature fails.
    let relabelled = SignedAllowList {
        operator: operator().fingerprint(),
        ..forged
    };
    assert_eq!(
        relabelled.verify(operator().public(), NOW).unwrap_err(),
        AllowListError::BadSignature
    );
}

#[test]
fn signature_made_for_another_purpose_is_refused() {
    let good = signed();
    let handshake_sig = operator().sign(&mut OsRng, "assent/1 handshake host", &good.body);
    let replayed = SignedAllowList {
        signature: Bytes::new(handshake_sig).unwrap(),
        ..good
    };
    assert_eq!(
        replayed.verify(operator().public(), NOW).unwrap_err(),
        AllowListError::BadSignature
    );
}

#[test]
fn expired_list_is_refused() {
    let signed = signed();
    let expires = standard_list().expires_unix;
    signed.verify(operator().public(), expires - 1).unwrap();
    assert_eq!(
        signed.verify(operator().public(), expires).unwrap_err(),
        AllowListError::Expired {
            expired_unix: expires
        }
    );
}

#[test]
fn list_not_yet_valid_is_refused() {
    let signed = signed();
    let issued = standard_list().issued_unix;
    signed.verify(operator().public(), issued).unwrap();
    assert_eq!(
        signed.verify(operator().public(), issued - 1).unwrap_err(),
        AllowListError::NotYetValid {
            issued_unix: issued
        }
    );
}

#[test]
fn verified_list_stops_admitting_anyone_once_it_expires() {
    let verified = signed().verify(operator().public(), NOW).unwrap();
    let expires = verified.expires_unix();
    verified.check(&viewer().fingerprint(), NOW).unwrap();
    assert_eq!(
        verified
            .check(&viewer().fingerprint(), expires)
            .unwrap_err(),
        AllowListError::Expired {
            expired_unix: expires
        }
    );
}

#[test]
fn viewer_not_listed_is_refused() {
    let verified = signed().verify(operator().public(), NOW).unwrap();
    assert_eq!(
        verified.check(&other().fingerprint(), NOW).unwrap_err(),
        AllowListError::NotListed(other().fingerprint())
    );
    // The operator's own key is not a viewer unless listed.
    assert!(matches!(
        verified.check(&operator().fingerprint(), NOW),
        Err(AllowListError::NotListed(_))
    ));
}

#[test]
fn expired_entry_is_refused() {
    let verified = signed().verify(operator().public(), NOW).unwrap();
    assert_eq!(
        verified.check(&host().fingerprint(), NOW).unwrap_err(),
        AllowListError::EntryExpired {
            fingerprint: host().fingerprint(),
            name: "Lapsed".into(),
            expired_unix: NOW - 1,
        }
    );
    // And an entry stops counting at its expiry second, not after.
    let eve_expires = NOW + 10 * DAY;
    verified
        .check(&viewer().fingerprint(), eve_expires - 1)
        .unwrap();
    assert!(matches!(
        verified.check(&viewer().fingerprint(), eve_expires),
        Err(AllowListError::EntryExpired { .. })
    ));
}

#[test]
fn duplicate_viewer_entries_are_refused() {
    let doubled = list(
        1,
        vec![
            entry(viewer(), "Eve", NOW + DAY),
            entry(viewer(), "Eve again", NOW + 2 * DAY),
        ],
    )
    .sign(operator(), &mut OsRng);
    assert_eq!(
        doubled.verify(operator().public(), NOW).unwrap_err(),
        AllowListError::DuplicateEntry(viewer().fingerprint())
    );
}

#[test]
fn signed_but_malformed_body_is_a_decode_error() {
    // Even an operator-signed body must decode exactly (no trailing bytes).
    let mut body = standard_list().to_bytes();
    body.push(0);
    let signature = operator().sign(&mut OsRng, SIGNATURE_CONTEXT, &body);
    let signed = SignedAllowList {
        body: Bytes::new(body).unwrap(),
        operator: operator().fingerprint(),
        signature: Bytes::new(signature).unwrap(),
    };
    assert_eq!(
        signed.verify(operator().public(), NOW).unwrap_err(),
        AllowListError::Decode(DecodeError::TrailingBytes(1))
    );
}

#[test]
fn older_list_cannot_replace_a_newer_one() {
    let older = list(3, vec![entry(viewer(), "Eve", NOW + DAY)])
        .sign(operator(), &mut OsRng)
        .verify(operator().public(), NOW)
        .unwrap();
    let newer = list(4, vec![])
        .sign(operator(), &mut OsRng)
        .verify(operator().public(), NOW)
        .unwrap();
    newer.check_replaces(&older).unwrap();
    newer.check_replaces(&newer).unwrap();
    assert_eq!(
        older.check_replaces(&newer).unwrap_err(),
        AllowListError::Rollback {
            offered: 3,
            current: 4
        }
    );
}

#[test]
fn largest_possible_list_fits_one_body() {
    // Every field at its limit; the const assertion promises this fits.
    let name = "n".repeat(NAME_MAX);
    let email = "e".repeat(EMAIL_MAX);
    let biggest = AllowListEntry {
        viewer: viewer().public().clone(),
        name: Text::new(name).unwrap(),
        email: Text::new(email).unwrap(),
        expires_unix: u64::MAX,
    };
    assert_eq!(biggest.to_bytes().len(), ENTRY_LEN_MAX);
    let full = AllowList {
        serial: u64::MAX,
        issued_unix: 0,
        expires_unix: u64::MAX,
        entries: List::new(vec![biggest; MAX_ENTRIES]).unwrap(),
    };
    let len = full.to_bytes().len();
    assert_eq!(len, LIST_HEADER_LEN + MAX_ENTRIES * ENTRY_LEN_MAX);
    assert!(len <= BODY_MAX);
}

#[test]
fn list_with_too_many_entries_does_not_decode() {
    let mut body = Vec::new();
    for v in [1u64, 0, u64::MAX] {
        body.extend_from_slice(&v.to_be_bytes());
    }
    body.extend_from_slice(&((MAX_ENTRIES + 1) as u32).to_be_bytes());
    assert!(matches!(
        AllowList::from_bytes(&body),
        Err(DecodeError::TooManyItems { .. })
    ));
}

fn keys() -> [&'static Identity; 4] {
    [host(), viewer(), operator(), other()]
}

fn arb_entry() -> impl Strategy<Value = AllowListEntry> {
    (
        0usize..4,
        "[A-Za-z .'-]{0,40}",
        "[a-z0-9.]{1,20}@[a-z]{1,10}\\.example",
        any::<u64>(),
    )
        .prop_map(|(key, name, email, expires_unix)| AllowListEntry {
            viewer: keys()[key].public().clone(),
            name: Text::new(name).unwrap(),
            email: Text::new(email).unwrap(),
            expires_unix,
        })
}

fn arb_list() -> impl Strategy<Value = AllowList> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        proptest::collection::vec(arb_entry(), 0..6),
    )
        .prop_map(|(serial, issued_unix, expires_unix, entries)| AllowList {
            serial,
            issued_unix,
            expires_unix,
            entries: List::new(entries).unwrap(),
        })
}

proptest! {
    #[test]
    fn allowlist_encode_decode_round_trips(list in arb_list()) {
        let bytes = list.to_bytes();
        prop_assert_eq!(AllowList::from_bytes(&bytes).unwrap(), list);
    }

    #[test]
    fn signed_allowlist_encode_decode_round_trips(
        body in proptest::collection::vec(any::<u8>(), 0..2000),
        operator_fp in any::<[u8; 32]>(),
        signature in proptest::collection::vec(any::<u8>(), 0..=SIGNATURE_LEN),
    ) {
        let signed = SignedAllowList {
            body: Bytes::new(body).unwrap(),
            operator: Fingerprint(operator_fp),
            signature: Bytes::new(signature).unwrap(),
        };
        prop_assert_eq!(SignedAllowList::from_bytes(&signed.to_bytes()).unwrap(), signed);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_allowlist_decoders(
        bytes in proptest::collection::vec(any::<u8>(), 0..4096)
    ) {
        let _ = AllowList::from_bytes(&bytes);
        let _ = AllowListEntry::from_bytes(&bytes);
        if let Ok(signed) = SignedAllowList::from_bytes(&bytes) {
            // Whatever decodes, a forger cannot make it verify.
            prop_assert!(signed.verify(operator().public(), NOW).is_err());
        }
    }

    #[test]
    fn mutated_valid_list_bytes_never_panic(
        list in arb_list(), index in any::<prop::sample::Index>(), xor in 1u8..=255
    ) {
        let mut bytes = list.to_bytes();
        let i = index.index(bytes.len());
        bytes[i] ^= xor;
        let _ = AllowList::from_bytes(&bytes);
    }

    #[test]
    fn forged_signed_lists_with_the_operator_fingerprint_never_verify(
        list in arb_list(),
        signature in proptest::collection::vec(any::<u8>(), 0..=SIGNATURE_LEN),
    ) {
        let forged = SignedAllowList {
            body: Bytes::new(list.to_bytes()).unwrap(),
            operator: operator().fingerprint(),
            signature: Bytes::new(signature).unwrap(),
        };
        prop_assert_eq!(
            forged.verify(operator().public(), NOW).unwrap_err(),
            AllowListError::BadSignature
        );
    }
}
