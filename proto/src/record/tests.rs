use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use proptest::prelude::*;

use super::*;

const KEY: [u8; 32] = [7; 32];
const BINDING: RecordBinding = RecordBinding::new(2, 2);

fn pair(sealer_policy: RekeyPolicy, opener_policy: RekeyPolicy) -> (RecordSealer, RecordOpener) {
    (
        RecordSealer::new(TrafficKey::from_bytes(KEY), BINDING, sealer_policy),
        RecordOpener::new(TrafficKey::from_bytes(KEY), BINDING, opener_policy),
    )
}

fn seal(sealer: &mut RecordSealer, plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    sealer.seal(plaintext, &mut out).unwrap();
    out
}

fn small_policy() -> RekeyPolicy {
    RekeyPolicy {
        max_records: 3,
        max_bytes: u64::MAX,
    }
}

#[test]
fn sealed_records_open_to_their_plaintext_in_order() {
    let (mut sealer, mut opener) = pair(RekeyPolicy::default(), RekeyPolicy::default());
    for (i, text) in [&b"hello"[..], b"", &[0xff; 4000]].iter().enumerate() {
        let mut record = seal(&mut sealer, text);
        assert_eq!(record.len(), text.len() + RECORD_OVERHEAD);
        assert_eq!(record[..SEQ_LEN], (i as u64).to_be_bytes());
        assert_eq!(opener.open(&mut record).unwrap(), *text);
    }
}

#[test]
fn seal_appends_to_existing_output() {
    let (mut sealer, mut opener) = pair(RekeyPolicy::default(), RekeyPolicy::default());
    let mut out = b"prefix".to_vec();
    sealer.seal(b"one", &mut out).unwrap();
    let first_end = out.len();
    sealer.seal(b"two", &mut out).unwrap();
    assert_eq!(&out[..6], b"prefix");
    assert_eq!(opener.open(&mut out[6..first_end]).unwrap(), b"one");
    assert_eq!(opener.open(&mut out[first_end..]).unwrap(), b"two");
}

#[test]
fn record_matches_the_documented_nonce_and_aad_layout() {
    // Record 1 must be seq BE || ChaCha20-Poly1305(nonce = 0u32 || seq,
    // aad = channel || direction || seq BE).
    let (mut sealer, _) = pair(RekeyPolicy::default(), RekeyPolicy::default());
    seal(&mut sealer, b"first");
    let record = seal(&mut sealer, b"second");

    let cipher = ChaCha20Poly1305::new((&KEY).into());
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&1u64.to_be_bytes());
    let mut body = b"second".to_vec();
    let mut aad = vec![2u8, 2];
    aad.extend_from_slice(&1u64.to_be_bytes());
    let tag = cipher
        .encrypt_in_place_detached((&nonce).into(), &aad, &mut body)
        .unwrap();
    let mut expected = 1u64.to_be_bytes().to_vec();
    expected.extend_from_slice(&body);
    expected.extend_from_slice(&tag);
    assert_eq!(record, expected);
}

#[test]
fn replayed_record_is_rejected_and_kills_the_channel() {
    let (mut sealer, mut opener) = pair(RekeyPolicy::default(), RekeyPolicy::default());
    let r0 = seal(&mut sealer, b"a");
    let r1 = seal(&mut sealer, b"b");
    let mut r2 = seal(&mut sealer, b"c");
    opener.open(&mut r0.clone()).unwrap();
    opener.open(&mut r1.clone()).unwrap();
    assert_eq!(
        opener.open(&mut r1.clone()),
        Err(RecordError::Replayed {
            seq: 1,
            expected: 2
        })
    );
    assert_eq!(opener.open(&mut r2), Err(RecordError::ChannelDead));
}

#[test]
fn reordered_record_is_rejected_before_decryption() {
    let (mut sealer, mut opener) = pair(RekeyPolicy::default(), RekeyPolicy::default());
    let mut r0 = seal(&mut sealer, b"a");
    let mut r1 = seal(&mut sealer, b"b");
    let mut r2 = seal(&mut sealer, b"c");
    opener.open(&mut r0).unwrap();
    let untouched = r2.clone();
    assert_eq!(
        opener.open(&mut r2),
        Err(RecordError::OutOfOrder {
            seq: 2,
            expected: 1
        })
    );
    assert_eq!(r2, untouched, "an out-of-order record is not decrypted");
    assert_eq!(opener.open(&mut r1), Err(RecordError::ChannelDead));
}

#[test]
fn record_relabelled_with_the_expected_seq_is_tampered() {
    // A relay that rewrites the header to dodge the order check still fails:
    // the header is both the nonce and the AAD.
    let (mut sealer, mut opener) = pair(RekeyPolicy::default(), RekeyPolicy::default());
    seal(&mut sealer, b"a");
    let mut r1 = seal(&mut sealer, b"b");
    r1[..SEQ_LEN].copy_from_slice(&0u64.to_be_bytes());
    assert_eq!(opener.open(&mut r1), Err(RecordError::Tampered { seq: 0 }));
}

#[test]
fn truncated_record_is_rejected() {
    let (mut sealer, _) = pair(RekeyPolicy::default(), RekeyPolicy::default());
    let record = seal(&mut sealer, b"some plaintext");
    for len in 0..RECORD_OVERHEAD {
        let (_, mut opener) = pair(RekeyPolicy::default(), RekeyPolicy::default());
        assert_eq!(
            opener.open(&mut record[..len].to_vec()),
            Err(RecordError::Truncated { len })
        );
    }
    // Long enough to parse, but cut short: the tag no longer matches.
    for len in RECORD_OVERHEAD..record.len() {
        let (_, mut opener) = pair(RekeyPolicy::default(), RekeyPolicy::default());
        assert_eq!(
            opener.open(&mut record[..len].to_vec()),
            Err(RecordError::Tampered { seq: 0 })
        );
    }
}

#[test]
fn record_under_a_wrong_key_is_rejected() {
    let mut sealer = RecordSealer::new(
        TrafficKey::from_bytes([1; 32]),
        BINDING,
        RekeyPolicy::default(),
    );
    let mut opener = RecordOpener::new(
        TrafficKey::from_bytes([2; 32]),
        BINDING,
        RekeyPolicy::default(),
    );
    let mut record = seal(&mut sealer, b"secret");
    assert_eq!(
        opener.open(&mut record),
        Err(RecordError::Tampered { seq: 0 })
    );
}

#[test]
fn record_moved_to_another_channel_or_direction_is_tampered_even_under_the_same_key() {
    for other in [RecordBinding::new(3, 2), RecordBinding::new(2, 1)] {
        let (mut sealer, _) = pair(RekeyPolicy::default(), RekeyPolicy::default());
        let mut opener =
            RecordOpener::new(TrafficKey::from_bytes(KEY), other, RekeyPolicy::default());
        let mut record = seal(&mut sealer, b"screen of patient 4711");
        assert_eq!(
            opener.open(&mut record),
            Err(RecordError::Tampered { seq: 0 }),
            "{other:?}"
        );
    }
}

#[test]
fn oversized_plaintext_is_refused_and_leaves_output_untouched() {
    let (mut sealer, mut opener) = pair(RekeyPolicy::default(), RekeyPolicy::default());
    let mut out = b"kept".to_vec();
    let big = vec![0u8; MAX_RECORD_PLAINTEXT + 1];
    assert_eq!(
        sealer.seal(&big, &mut out),
        Err(RecordError::TooLarge {
            len: MAX_RECORD_PLAINTEXT + 1,
            max: MAX_RECORD_PLAINTEXT
        })
    );
    assert_eq!(out, b"kept");
    // The sealer is still usable and did not consume a sequence number.
    let mut record = seal(&mut sealer, &big[..MAX_RECORD_PLAINTEXT]);
    assert_eq!(
        opener.open(&mut record).unwrap().len(),
        MAX_RECORD_PLAINTEXT
    );
}

#[test]
fn oversized_record_is_refused_before_decryption() {
    let (_, mut opener) = pair(RekeyPolicy::default(), RekeyPolicy::default());
    let mut record = vec![0u8; MAX_RECORD_PLAINTEXT + RECORD_OVERHEAD + 1];
    assert_eq!(
        opener.open(&mut record),
        Err(RecordError::TooLarge {
            len: MAX_RECORD_PLAINTEXT + 1,
            max: MAX_RECORD_PLAINTEXT
        })
    );
}

#[test]
fn rekey_keeps_the_stream_working_across_many_epochs() {
    let (mut sealer, mut opener) = pair(small_policy(), small_policy());
    for i in 0u64..100 {
        let text = i.to_le_bytes();
        let mut record = seal(&mut sealer, &text);
        // Sequence numbers keep counting across rekeys.
        assert_eq!(record[..SEQ_LEN], i.to_be_bytes());
        assert_eq!(opener.open(&mut record).unwrap(), text);
        assert_eq!(sealer.epoch(), opener.epoch());
    }
    assert_eq!(sealer.epoch(), 33);
}

#[test]
fn rekey_also_happens_by_byte_count() {
    let policy = RekeyPolicy {
        max_records: u64::MAX,
        max_bytes: 1000,
    };
    let (mut sealer, mut opener) = pair(policy, policy);
    for _ in 0..20 {
        let mut record = seal(&mut sealer, &[9; 300]);
        opener.open(&mut record).unwrap();
    }
    // 300-byte records: the fourth crosses 1000 bytes, so one rekey per four.
    assert_eq!(sealer.epoch(), 5);
    assert_eq!(opener.epoch(), 5);
}

#[test]
fn sealer_and_opener_with_different_policies_fail_at_the_first_rekey() {
    // Proves the key really changes: an opener that did not rekey cannot
    // read the fourth record of a sealer that did.
    let (mut sealer, mut opener) = pair(small_policy(), RekeyPolicy::default());
    for _ in 0..3 {
        let mut record = seal(&mut sealer, b"same key");
        opener.open(&mut record).unwrap();
    }
    assert_eq!(sealer.epoch(), 1);
    let mut record = seal(&mut sealer, b"next key");
    assert_eq!(
        opener.open(&mut record),
        Err(RecordError::Tampered { seq: 3 })
    );
}

#[test]
fn rekey_is_hkdf_expand_of_the_current_key() {
    let key = TrafficKey::from_bytes(KEY);
    let mut expected = [0u8; 32];
    hkdf::Hkdf::<Sha256>::from_prk(&KEY)
        .unwrap()
        .expand(b"assent/1 rekey", &mut expected)
        .unwrap();
    assert_eq!(*key.next().0, expected);
    assert_ne!(expected, KEY);
}

#[test]
fn record_after_any_error_is_channel_dead() {
    let (mut sealer, mut opener) = pair(RekeyPolicy::default(), RekeyPolicy::default());
    let mut good = seal(&mut sealer, b"fine");
    assert!(matches!(
        opener.open(&mut [0u8; 3]),
        Err(RecordError::Truncated { len: 3 })
    ));
    assert_eq!(opener.open(&mut good), Err(RecordError::ChannelDead));
    assert_eq!(opener.open(&mut good), Err(RecordError::ChannelDead));
}

#[test]
fn sequence_numbers_never_wrap() {
    let (mut sealer, mut opener) = pair(RekeyPolicy::default(), RekeyPolicy::default());
    sealer.next_seq = u64::MAX - 1;
    opener.next_seq = u64::MAX - 1;
    let mut last = seal(&mut sealer, b"last");
    assert_eq!(opener.open(&mut last).unwrap(), b"last");
    let mut out = Vec::new();
    assert_eq!(
        sealer.seal(b"one more", &mut out),
        Err(RecordError::SequenceExhausted)
    );
    assert!(out.is_empty());
    let mut forged = u64::MAX.to_be_bytes().to_vec();
    forged.extend_from_slice(&[0; TAG_LEN]);
    assert_eq!(
        opener.open(&mut forged),
        Err(RecordError::SequenceExhausted)
    );
}

#[test]
fn debug_output_never_shows_key_material() {
    let key = TrafficKey::from_bytes([0xab; 32]);
    assert_eq!(format!("{key:?}"), "TrafficKey(<redacted>)");
    let (sealer, opener) = pair(RekeyPolicy::default(), RekeyPolicy::default());
    for shown in [format!("{sealer:?}"), format!("{opener:?}")] {
        assert!(!shown.contains("7, 7"), "{shown}");
        assert!(shown.contains("next_seq"), "{shown}");
    }
}

proptest! {
    #[test]
    fn flipping_any_byte_of_a_record_is_rejected(
        plaintext in proptest::collection::vec(any::<u8>(), 0..256),
        position in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let (mut sealer, mut opener) = pair(RekeyPolicy::default(), RekeyPolicy::default());
        let mut record = seal(&mut sealer, &plaintext);
        let at = position.index(record.len());
        record[at] ^= flip;
        let err = opener.open(&mut record).unwrap_err();
        if at < SEQ_LEN {
            // Seq 0 changed to anything else is ahead of the expected 0.
            let is_out_of_order = matches!(err, RecordError::OutOfOrder { expected: 0, .. });
            prop_assert!(is_out_of_order, "{:?}", err);
        } else {
            prop_assert_eq!(err, RecordError::Tampered { seq: 0 });
        }
    }

    #[test]
    fn arbitrary_plaintexts_round_trip(
        texts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..2048), 0..12),
        max_records in 1u64..5,
    ) {
        let policy = RekeyPolicy { max_records, max_bytes: 3000 };
        let (mut sealer, mut opener) = pair(policy, policy);
        for text in &texts {
            let mut record = seal(&mut sealer, text);
            prop_assert_eq!(opener.open(&mut record).unwrap(), &text[..]);
        }
        prop_assert_eq!(sealer.epoch(), opener.epoch());
    }

    #[test]
    fn arbitrary_bytes_never_open_and_never_panic(
        records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..128), 1..4),
    ) {
        let (_, mut opener) = pair(RekeyPolicy::default(), RekeyPolicy::default());
        for mut record in records {
            prop_assert!(opener.open(&mut record).is_err());
        }
    }
}
