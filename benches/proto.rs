//! Criterion benchmarks for `assent-proto`. Figures go to BENCHMARKS.md.

use assent_proto::wire::{FrameDecoder, Header, MessageType};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

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

criterion_group!(benches, envelope_decode);
criterion_main!(benches);
