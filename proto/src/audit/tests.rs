use proptest::prelude::*;
use rand_core::OsRng;
use sha2::{Digest, Sha256};

use super::*;
use crate::messages::audit_event::tests::{arb_event, sample_events};
use crate::wire::Text;

fn key() -> AuditKey {
    AuditKey::from_bytes([7; 32])
}

fn other_key() -> AuditKey {
    AuditKey::from_bytes([8; 32])
}

/// Event `i` of a log about `host`: logs about different hosts differ from record 0.
fn event(host: &str, i: u64) -> AuditEvent {
    let samples = sample_events();
    match &samples[(i as usize) % samples.len()] {
        AuditEvent::IntrusionDetected { kind, detail, .. } => AuditEvent::IntrusionDetected {
            source: Text::new(host).unwrap(),
            kind: kind.clone(),
            detail: detail.clone(),
        },
        _ => AuditEvent::InputDropped {
            host_id: Text::new(host).unwrap(),
            session_id: [i as u8; 32],
            count: i,
        },
    }
}

/// A log of `n` records about `host`, and the head after it.
fn log(key: &AuditKey, host: &str, n: u64) -> (Vec<SealedAuditRecord>, ChainHead) {
    let mut chain = AuditChain::new(key.clone());
    let records = (0..n)
        .map(|i| {
            chain
                .append(&mut OsRng, 1_795_000_000_000 + i, event(host, i))
                .unwrap()
        })
        .collect();
    (records, chain.head())
}

fn break_at(seq: u64, problem: BreakKind) -> Result<VerifiedChain, ChainBreak> {
    Err(ChainBreak { seq, problem })
}

#[test]
fn intact_chain_verifies_and_reports_its_head() {
    let (records, head) = log(&key(), "navios-ex-0042", 12);
    let verified = VerifiedChain { records: 12, head };
    assert_eq!(verify(&key(), &records, None), Ok(verified));
    assert_eq!(verify(&key(), &records, Some(&head)), Ok(verified));
    // Owned records (streamed from storage) verify the same.
    assert_eq!(verify(&key(), records, Some(&head)), Ok(verified));
}

#[test]
fn each_record_links_to_the_chain_hash_of_the_one_before() {
    let (records, head) = log(&key(), "dxflex-7", 6);
    let mut prev = [0u8; 32];
    for (i, sealed) in records.iter().enumerate() {
        let record = open_record(&key(), sealed).unwrap();
        assert_eq!(record.seq, i as u64);
        assert_eq!(record.prev_hash, prev);
        assert_eq!(record.event, event("dxflex-7", i as u64));
        prev = record.chain_hash();
    }
    assert_eq!(head.last_hash, prev);
}

#[test]
fn chain_hash_is_sha256_of_domain_and_canonical_encoding() {
    let record = AuditRecord {
        seq: 3,
        time_unix_ms: 42,
        prev_hash: [9; 32],
        event: event("aquios-cl-1", 3),
    };
    let mut expected = Sha256::new();
    expected.update(b"assent/1 audit");
    expected.update(3u64.to_be_bytes());
    expected.update(42u64.to_be_bytes());
    expected.update([9u8; 32]);
    expected.update(record.event.to_bytes());
    assert_eq!(record.chain_hash(), <[u8; 32]>::from(expected.finalize()));
}

#[test]
fn empty_log_verifies_to_genesis() {
    let none: [SealedAuditRecord; 0] = [];
    let genesis = VerifiedChain {
        records: 0,
        head: ChainHead::GENESIS,
    };
    assert_eq!(verify(&key(), &none, None), Ok(genesis));
    assert_eq!(
        verify(&key(), &none, Some(&ChainHead::GENESIS)),
        Ok(genesis)
    );
    let forged = ChainHead {
        next_seq: 0,
        last_hash: [1; 32],
    };
    assert_eq!(
        verify(&key(), &none, Some(&forged)),
        break_at(0, BreakKind::HeadMismatch)
    );
}

#[test]
fn edited_ciphertext_byte_is_located_at_its_seq() {
    let (records, head) = log(&key(), "navios-ex-0042", 8);
    for i in 0..records.len() {
        let mut tampered = records.clone();
        let mut bytes = tampered[i].ciphertext.to_vec();
        let at = i * 7 % bytes.len();
        bytes[at] ^= 0x20;
        tampered[i].ciphertext = Bytes::new(bytes).unwrap();
        assert_eq!(
            verify(&key(), &tampered, Some(&head)),
            break_at(i as u64, BreakKind::Undecryptable)
        );
        assert_eq!(
            open_record(&key(), &tampered[i]),
            Err(AuditError::Undecryptable { seq: i as u64 })
        );
    }
}

#[test]
fn edited_nonce_is_located_at_its_seq() {
    let (mut records, _) = log(&key(), "navios-ex-0042", 5);
    records[2].nonce[23] ^= 1;
    assert_eq!(
        verify(&key(), &records, None),
        break_at(2, BreakKind::Undecryptable)
    );
}

#[test]
fn deleted_middle_record_is_located_as_missing() {
    let (mut records, head) = log(&key(), "navios-ex-0042", 8);
    records.remove(4);
    let found = BreakKind::Missing { found: 5 };
    assert_eq!(verify(&key(), &records, None), break_at(4, found));
    assert_eq!(verify(&key(), &records, Some(&head)), break_at(4, found));
    assert_eq!(
        verify(&key(), &records, None).unwrap_err().to_string(),
        "audit record 4: missing (next record present is 5)"
    );
}

#[test]
fn deleted_first_record_is_located_as_missing() {
    let (mut records, _) = log(&key(), "navios-ex-0042", 4);
    records.remove(0);
    assert_eq!(
        verify(&key(), &records, None),
        break_at(0, BreakKind::Missing { found: 1 })
    );
}

#[test]
fn deleted_tail_is_caught_only_with_the_anchor() {
    let (mut records, head) = log(&key(), "navios-ex-0042", 8);
    records.truncate(6);
    // What is left is a valid, shorter chain: without an anchor it verifies.
    let shorter = verify(&key(), &records, None).unwrap();
    assert_eq!(shorter.records, 6);
    assert_ne!(shorter.head, head);
    // The anchor says the log ran to record 7.
    assert_eq!(
        verify(&key(), &records, Some(&head)),
        break_at(6, BreakKind::TruncatedTail { expected_next: 8 })
    );
}

#[test]
fn anchor_taken_earlier_still_verifies_a_log_that_grew_past_it() {
    let mut chain = AuditChain::new(key());
    let mut records: Vec<_> = (0..4)
        .map(|i| chain.append(&mut OsRng, i, event("dxflex-7", i)).unwrap())
        .collect();
    let anchor = chain.head();
    records.extend((4..9).map(|i| chain.append(&mut OsRng, i, event("dxflex-7", i)).unwrap()));
    let verified = verify(&key(), &records, Some(&anchor)).unwrap();
    assert_eq!(verified.head, chain.head());
}

#[test]
fn log_rewritten_by_a_key_holder_is_caught_only_with_the_anchor() {
    let (_, head) = log(&key(), "navios-ex-0042", 6);
    // Someone with the key rebuilds a whole, internally consistent log.
    let (rewritten, _) = log(&key(), "somewhere-else", 6);
    assert!(verify(&key(), &rewritten, None).is_ok());
    assert_eq!(
        verify(&key(), &rewritten, Some(&head)),
        break_at(5, BreakKind::HeadMismatch)
    );
}

#[test]
fn reordered_records_are_located_at_the_first_displaced_seq() {
    let (records, head) = log(&key(), "navios-ex-0042", 8);
    // Whole records swapped (an export's lines reordered).
    let mut swapped = records.clone();
    swapped.swap(3, 4);
    assert_eq!(
        verify(&key(), &swapped, Some(&head)),
        break_at(3, BreakKind::Missing { found: 4 })
    );
    // Contents swapped between storage rows, row numbers kept.
    let mut moved = records.clone();
    moved[3].nonce = records[4].nonce;
    moved[3].ciphertext = records[4].ciphertext.clone();
    moved[4].nonce = records[3].nonce;
    moved[4].ciphertext = records[3].ciphertext.clone();
    assert_eq!(
        verify(&key(), &moved, Some(&head)),
        break_at(3, BreakKind::Undecryptable)
    );
}

#[test]
fn record_resealed_by_a_key_holder_in_another_order_is_a_broken_link() {
    let (records, _) = log(&key(), "navios-ex-0042", 6);
    // Records 2 and 3 swapped and resealed under their new numbers.
    let mut reordered = records.clone();
    for (at, from) in [(2usize, 3usize), (3, 2)] {
        let mut record = open_record(&key(), &records[from]).unwrap();
        record.seq = at as u64;
        reordered[at] = seal(&key(), &mut OsRng, at as u64, &record.to_bytes()).unwrap();
    }
    assert_eq!(
        verify(&key(), &reordered, None),
        break_at(2, BreakKind::BrokenLink)
    );
}

#[test]
fn duplicated_record_is_located_where_it_displaces_the_next() {
    let (mut records, _) = log(&key(), "navios-ex-0042", 6);
    records.insert(3, records[2].clone());
    assert_eq!(
        verify(&key(), &records, None),
        break_at(3, BreakKind::Duplicate { found: 2 })
    );
}

#[test]
fn record_resealed_under_a_different_key_is_undecryptable() {
    let (mut records, head) = log(&key(), "navios-ex-0042", 6);
    let plaintext = open(&key(), &records[2]).unwrap();
    records[2] = seal(&other_key(), &mut OsRng, 2, &plaintext).unwrap();
    assert_eq!(
        verify(&key(), &records, Some(&head)),
        break_at(2, BreakKind::Undecryptable)
    );
    // And the whole log under the wrong key fails at its first record.
    let (intact, _) = log(&key(), "navios-ex-0042", 3);
    assert_eq!(
        verify(&other_key(), &intact, None),
        break_at(0, BreakKind::Undecryptable)
    );
}

#[test]
fn record_from_another_log_with_the_same_seq_is_a_broken_link() {
    // Two logs under one key (two relays, or a restored backup that forked).
    let (mut ours, head) = log(&key(), "navios-ex-0042", 6);
    let (theirs, _) = log(&key(), "cellmek-2", 6);
    ours[3] = theirs[3].clone();
    assert!(
        open_record(&key(), &ours[3]).is_ok(),
        "the substitute is validly sealed"
    );
    assert_eq!(
        verify(&key(), &ours, Some(&head)),
        break_at(3, BreakKind::BrokenLink)
    );
}

#[test]
fn record_sealed_under_the_wrong_number_is_a_seq_mismatch() {
    let (mut records, _) = log(&key(), "navios-ex-0042", 4);
    let mut record = open_record(&key(), &records[2]).unwrap();
    record.seq = 9;
    records[2] = seal(&key(), &mut OsRng, 2, &record.to_bytes()).unwrap();
    assert_eq!(
        verify(&key(), &records, None),
        break_at(2, BreakKind::SeqMismatch { inner: 9 })
    );
    assert_eq!(
        open_record(&key(), &records[2]),
        Err(AuditError::SeqMismatch {
            sealed: 2,
            inner: 9
        })
    );
}

#[test]
fn authentic_record_that_is_not_a_record_is_malformed() {
    let garbage = seal(&key(), &mut OsRng, 0, b"not a record").unwrap();
    assert_eq!(
        verify(&key(), [&garbage], None),
        break_at(0, BreakKind::Malformed)
    );
    assert!(matches!(
        open_record(&key(), &garbage),
        Err(AuditError::Malformed { seq: 0, .. })
    ));
}

#[test]
fn verifier_stays_broken_after_the_first_break() {
    let (mut records, _) = log(&key(), "navios-ex-0042", 5);
    records.remove(1);
    let key = key();
    let mut verifier = ChainVerifier::new(&key, None);
    assert!(verifier.push(&records[0]).is_ok());
    let first = verifier.push(&records[1]).unwrap_err();
    assert_eq!(first.seq, 1);
    // Later records, even ones that would fit, report the first break.
    assert_eq!(verifier.push(&records[2]), Err(first.clone()));
    assert_eq!(verifier.finish(), Err(first));
}

#[test]
fn resumed_chain_continues_and_verifies_end_to_end() {
    let (mut records, head) = log(&key(), "navios-ex-0042", 5);
    // The relay restarts with only the key and the persisted head.
    let persisted = serde_json::to_string(&head).unwrap();
    let head: ChainHead = serde_json::from_str(&persisted).unwrap();
    assert_eq!(ChainHead::from_bytes(&head.to_bytes()), Ok(head));
    let mut chain = AuditChain::resume(key(), head);
    for i in 5..9 {
        records.push(
            chain
                .append(&mut OsRng, i, event("navios-ex-0042", i))
                .unwrap(),
        );
    }
    assert_eq!(chain.head().next_seq, 9);
    assert_eq!(
        verify(&key(), &records, Some(&chain.head())),
        Ok(VerifiedChain {
            records: 9,
            head: chain.head()
        })
    );
}

#[test]
fn seal_next_leaves_the_head_alone_until_the_caller_advances() {
    let mut chain = AuditChain::new(key());
    chain.append(&mut OsRng, 1, event("dxflex-7", 0)).unwrap();
    let before = chain.head();
    let (a, after_a) = before
        .seal_next(&key(), &mut OsRng, 2, event("dxflex-7", 1))
        .unwrap();
    let (b, after_b) = before
        .seal_next(&key(), &mut OsRng, 2, event("dxflex-7", 1))
        .unwrap();
    assert_eq!((a.seq, b.seq), (1, 1));
    assert_eq!(after_a, after_b, "same record, same chain hash");
    assert_ne!(a.nonce, b.nonce, "fresh nonce per seal");
    assert_eq!(chain.head(), before);
    assert_eq!(
        chain
            .append(&mut OsRng, 2, event("dxflex-7", 1))
            .unwrap()
            .seq,
        1
    );
    assert_eq!(chain.head(), after_a);
}

#[test]
fn exhausted_sequence_is_an_error_not_a_wrap() {
    let last = ChainHead {
        next_seq: u64::MAX,
        last_hash: [0; 32],
    };
    let mut chain = AuditChain::resume(key(), last);
    assert_eq!(
        chain.append(&mut OsRng, 0, event("dxflex-7", 0)),
        Err(AuditError::SequenceExhausted)
    );
    assert_eq!(chain.head(), last);
}

#[test]
fn largest_event_seals_well_within_the_record_limit() {
    fn long<const MAX: usize>() -> Text<MAX> {
        Text::new("é".repeat(MAX / 2)).unwrap()
    }
    let event = AuditEvent::ConnectionRequest {
        host_id: long(),
        viewer: [0xff; 32],
        source: long(),
        granted: true,
        reason: long(),
    };
    let (sealed, _) = ChainHead::GENESIS
        .seal_next(&key(), &mut OsRng, 0, event.clone())
        .unwrap();
    assert!(sealed.ciphertext.len() < MAX_SEALED_LEN / 4);
    assert_eq!(open_record(&key(), &sealed).unwrap().event, event);
    assert_eq!(
        SealedAuditRecord::from_bytes(&sealed.to_bytes()),
        Ok(sealed)
    );
}

#[test]
fn audit_key_is_never_printed() {
    let key = AuditKey::from_bytes([0xab; 32]);
    let chain = AuditChain::new(key.clone());
    for printed in [format!("{key:?}"), format!("{chain:?}")] {
        assert!(printed.contains("redacted"), "{printed}");
        assert!(
            !printed.contains("171") && !printed.to_lowercase().contains("ab, "),
            "{printed}"
        );
    }
}

#[test]
fn generated_keys_differ() {
    assert_ne!(
        AuditKey::generate(&mut OsRng).as_bytes(),
        AuditKey::generate(&mut OsRng).as_bytes()
    );
}

/// One change to a stored log.
#[derive(Debug, Clone)]
enum Tamper {
    Delete,
    FlipCiphertext { at: usize, mask: u8 },
    FlipNonce { at: usize, mask: u8 },
    Relabel { mask: u64 },
}

fn arb_tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        Just(Tamper::Delete),
        (any::<usize>(), 1u8..).prop_map(|(at, mask)| Tamper::FlipCiphertext { at, mask }),
        (0usize..24, 1u8..).prop_map(|(at, mask)| Tamper::FlipNonce { at, mask }),
        (1u64..).prop_map(|mask| Tamper::Relabel { mask }),
    ]
}

proptest! {
    #[test]
    fn any_single_deletion_or_alteration_is_located_at_exactly_its_seq(
        n in 1u64..16,
        victim in any::<prop::sample::Index>(),
        tamper in arb_tamper(),
    ) {
        let (mut records, head) = log(&key(), "navios-ex-0042", n);
        let i = victim.index(records.len());
        match tamper {
            Tamper::Delete => {
                records.remove(i);
            }
            Tamper::FlipCiphertext { at, mask } => {
                let mut bytes = records[i].ciphertext.to_vec();
                let at = at % bytes.len();
                bytes[at] ^= mask;
                records[i].ciphertext = Bytes::new(bytes).unwrap();
            }
            Tamper::FlipNonce { at, mask } => records[i].nonce[at] ^= mask,
            Tamper::Relabel { mask } => records[i].seq ^= mask,
        }
        let broken = verify(&key(), &records, Some(&head)).unwrap_err();
        prop_assert_eq!(broken.seq, i as u64, "{}", broken);
    }

    #[test]
    fn any_event_survives_sealing_and_opening(event in arb_event(), time in any::<u64>()) {
        let (sealed, head) = ChainHead::GENESIS.seal_next(&key(), &mut OsRng, time, event.clone()).unwrap();
        let record = open_record(&key(), &sealed).unwrap();
        prop_assert_eq!(record.chain_hash(), head.last_hash);
        prop_assert_eq!(record, AuditRecord { seq: 0, time_unix_ms: time, prev_hash: [0; 32], event });
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_audit_decoders(
        bytes in proptest::collection::vec(any::<u8>(), 0..1200)
    ) {
        let _ = AuditRecord::from_bytes(&bytes);
        let _ = ChainHead::from_bytes(&bytes);
        if let Ok(sealed) = SealedAuditRecord::from_bytes(&bytes) {
            prop_assert!(open_record(&key(), &sealed).is_err());
            prop_assert!(verify(&key(), [&sealed], None).is_err());
        }
    }

    #[test]
    fn arbitrary_ciphertext_never_opens_or_panics(
        seq in any::<u64>(),
        nonce in any::<[u8; 24]>(),
        ciphertext in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let sealed = SealedAuditRecord { seq, nonce, ciphertext: Bytes::new(ciphertext).unwrap() };
        prop_assert_eq!(open_record(&key(), &sealed), Err(AuditError::Undecryptable { seq }));
        prop_assert!(verify(&key(), [&sealed], None).is_err());
    }
}
