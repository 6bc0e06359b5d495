//! The record opener, two ways:
//! 1. arbitrary bytes as records: never a panic, and once one fails the
//!    channel stays dead;
//! 2. a real sealed stream with one fuzz-chosen bit flipped: every record
//!    before the flip opens, the flipped one is rejected.
#![no_main]

use assent_proto::record::{
    RecordBinding, RecordError, RecordOpener, RecordSealer, RekeyPolicy, TrafficKey,
};
use libfuzzer_sys::fuzz_target;

const KEY: [u8; 32] = [0x42; 32];
const BINDING: RecordBinding = RecordBinding::new(2, 2);
const POLICY: RekeyPolicy = RekeyPolicy {
    max_records: 3,
    max_bytes: 4096,
};

fn arbitrary_records(data: &[u8]) {
    let mut opener = RecordOpener::new(TrafficKey::from_bytes(KEY), BINDING, POLICY);
    let mut failed = false;
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let mut record = tail[..len].to_vec();
        rest = &tail[len..];
        match opener.open(&mut record) {
            Ok(_) => assert!(!failed, "a dead channel opened a record"),
            Err(RecordError::ChannelDead) => assert!(failed),
            Err(_) => {
                assert!(!failed);
                failed = true;
            }
        }
    }
}

fn flipped_stream(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let records = usize::from(data[0] % 8) + 1;
    let flip_at = usize::from(u16::from_be_bytes([data[1], data[2]]));
    let body = &data[3..];
    let mut sealer = RecordSealer::new(TrafficKey::from_bytes(KEY), BINDING, POLICY);
    let mut stream = Vec::new();
    for i in 0..records {
        let chunk = body.chunks(64).nth(i).unwrap_or(&[]);
        let mut out = Vec::new();
        sealer.seal(chunk, &mut out).expect("seal");
        stream.push((out, chunk.to_vec()));
    }
    let total: usize = stream.iter().map(|(r, _)| r.len()).sum();
    let mut target = flip_at % (total * 8);
    let mut flipped_record = usize::MAX;
    for (i, (record, _)) in stream.iter_mut().enumerate() {
        if target < record.len() * 8 {
            record[target / 8] ^= 1 << (target % 8);
            flipped_record = i;
            break;
        }
        target -= record.len() * 8;
    }
    let mut opener = RecordOpener::new(TrafficKey::from_bytes(KEY), BINDING, POLICY);
    for (i, (mut record, plaintext)) in stream.into_iter().enumerate() {
        let result = opener.open(&mut record).map(|p| p.to_vec());
        match i.cmp(&flipped_record) {
            std::cmp::Ordering::Less => assert_eq!(result.as_deref(), Ok(&plaintext[..])),
            std::cmp::Ordering::Equal => assert!(result.is_err(), "flipped record {i} opened"),
            std::cmp::Ordering::Greater => assert_eq!(result, Err(RecordError::ChannelDead)),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((0, rest)) => flipped_stream(rest),
        Some((_, rest)) => arbitrary_records(rest),
        None => {}
    }
});
