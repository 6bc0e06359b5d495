//! Criterion benchmarks for `assent-proto`. Figures go to BENCHMARKS.md.

use assent_proto::record::{RecordOpener, RecordSealer, RekeyPolicy, TrafficKey};
use assent_proto::wire::{FrameDecoder, Header, MessageType};
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand_core::{OsRng, RngCore};

fn envelope_decode(c: &mut Criterion) {
    let payload = vec![0u8; 1024];
    let mut frame = Header {
        message_type: MessageType::SealedRecord,
        len: payload.len() as u32,
    }
    .encode()
    .to_vec();
    frame.extend_from_slice(&payload);
    let mut group = c.benchmark_group("envelope");
    group.throughput(Throughput::Bytes(frame.len() as u64));
    group.bench_function("decode_1KiB_frame", |b| {
        b.iter(|| {
            let mut decoder = FrameDecoder::new();
            let mut input = &frame[..];
            decoder.decode(&mut input).unwrap().unwrap()
        })
    });
    group.finish();
}

/// Seal + open round trips through the record layer, next to the raw AEAD
/// doing the same work on the same sizes with the same nonce pattern: the
/// ratio of the two is the record layer's overhead (target: >= 90 % at 64 KiB).
fn record_round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("record");
    for size in [1024usize, 64 * 1024] {
        let mut plaintext = vec![0u8; size];
        OsRng.fill_bytes(&mut plaintext);
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        group.throughput(Throughput::Bytes(size as u64));

        let mut sealer = RecordSealer::new(TrafficKey::from_bytes(key), RekeyPolicy::default());
        let mut opener = RecordOpener::new(TrafficKey::from_bytes(key), RekeyPolicy::default());
        let mut record = Vec::with_capacity(size + 24);
        group.bench_with_input(
            BenchmarkId::new("seal_open", size),
            &plaintext,
            |b, plaintext| {
                b.iter(|| {
                    record.clear();
                    sealer.seal(plaintext, &mut record).unwrap();
                    opener.open(&mut record).unwrap().len()
                })
            },
        );

        let cipher = ChaCha20Poly1305::new((&key).into());
        let mut buffer = plaintext.clone();
        let mut seq = 0u64;
        group.bench_with_input(BenchmarkId::new("raw_aead", size), &size, |b, _| {
            b.iter(|| {
                let header = seq.to_be_bytes();
                let mut nonce = Nonce::default();
                nonce[4..].copy_from_slice(&header);
                let tag = cipher
                    .encrypt_in_place_detached(&nonce, &header, &mut buffer)
                    .unwrap();
                cipher
                    .decrypt_in_place_detached(&nonce, &header, &mut buffer, &tag)
                    .unwrap();
                seq += 1;
                buffer.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, envelope_decode, record_round_trip);
criterion_main!(benches);
