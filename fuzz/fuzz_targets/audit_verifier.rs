//! The audit verifier, two ways:
//! 1. arbitrary bytes as a sequence of sealed records: verify never panics;
//! 2. a real sealed chain with one fuzz-chosen deletion, bit flip, swap or
//!    cut tail: verify fails and names exactly the first damaged record.
#![no_main]

use assent_proto::audit::{verify, AuditChain, AuditKey, SealedAuditRecord};
use assent_proto::messages::audit_event::AuditEvent;
use assent_proto::wire::{Field, Reader, Text};
use libfuzzer_sys::fuzz_target;
use rand_core::OsRng;

const KEY: [u8; 32] = [0x24; 32];

fn arbitrary_records(data: &[u8]) {
    let mut reader = Reader::new(data);
    let mut records = Vec::new();
    while let Ok(record) = SealedAuditRecord::decode(&mut reader) {
        records.push(record);
    }
    let _ = verify(&AuditKey::from_bytes(KEY), &records, None);
}

fn damaged_chain(data: &[u8]) {
    if data.len() < 4 {
        return;
    }
    let count = usize::from(data[0] % 12) + 2;
    let operation = data[1] % 4;
    let at = usize::from(data[2]) % count;
    let bit = usize::from(u16::from_be_bytes([data[3], *data.get(4).unwrap_or(&0)]));
    let key = AuditKey::from_bytes(KEY);
    let mut chain = AuditChain::new(key.clone());
    let mut records: Vec<SealedAuditRecord> = (0..count)
        .map(|i| {
            let event = AuditEvent::InputDropped {
                host_id: Text::new(format!("H-{i}")).unwrap(),
                session_id: [i as u8; 32],
                count: i as u64,
            };
            chain.append(&mut OsRng, i as u64, event).unwrap()
        })
        .collect();
    let head = chain.head();
    assert!(verify(&key, &records, Some(&head)).is_ok());

    let expected_first_bad = at as u64;
    match operation {
        0 => {
            records.remove(at);
        }
        1 => {
            let mut bytes = records[at].to_bytes();
            let bit = bit % (bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            match SealedAuditRecord::from_bytes(&bytes) {
                Ok(record) => records[at] = record,
                Err(_) => return, // the flip broke the row's framing: storage rejects it
            }
        }
        2 => {
            let other = (at + 1 + bit % (count - 1)) % count;
            records.swap(at, other);
            let first = at.min(other) as u64;
            let err = verify(&key, &records, Some(&head)).expect_err("swap undetected");
            assert_eq!(err.seq, first, "{err}");
            return;
        }
        _ => {
            records.truncate(at);
        }
    }
    let err = verify(&key, &records, Some(&head)).expect_err("damage undetected");
    assert_eq!(err.seq, expected_first_bad, "{err}");
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((0, rest)) => damaged_chain(rest),
        Some((_, rest)) => arbitrary_records(rest),
        None => {}
    }
});
