//! Blind forwarding (R3): after `OpenChannel`, a viewer stream and a host
//! stream are spliced as opaque bytes. The relay never parses, buffers
//! beyond one read, or holds keys for what passes; QUIC flow control on each
//! side gives back-pressure.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;

use super::RelayState;

/// One side of a splice: what it sends us, what was already read, where to write back.
pub(crate) struct Half {
    pub recv: quinn::RecvStream,
    pub leftover: Vec<u8>,
    pub send: quinn::SendStream,
}

/// Most received chunks joined into one write. A chunk is usually one QUIC
/// packet's payload (≈ 1.4 KiB), sometimes more where quinn merged them; a
/// batch holds only what had already arrived, within the stream's window.
const CHUNKS_PER_WRITE: usize = 32;

/// Copies both ways until both directions finish or one fails.
pub(crate) async fn splice(state: &Arc<RelayState>, viewer: Half, host: Half) {
    let to_host = pump(state, viewer.recv, viewer.leftover, host.send);
    let to_viewer = pump(state, host.recv, host.leftover, viewer.send);
    tokio::join!(to_host, to_viewer);
}

/// Bytes from `from` to `to`; a reset on either end resets the other.
///
/// Whatever has arrived, up to [`CHUNKS_PER_WRITE`] chunks, is read at once
/// and written as one buffer. Writing each packet-sized chunk on its own
/// costs more than the one copy: quinn keeps every write as a segment of
/// the stream's send buffer and finds the bytes for each outgoing packet by
/// walking those segments from the oldest unacknowledged one, and each
/// write wakes the sending connection for about one packet (measured in
/// BENCHMARKS.md, "Relay").
async fn pump(
    state: &Arc<RelayState>,
    mut from: quinn::RecvStream,
    leftover: Vec<u8>,
    mut to: quinn::SendStream,
) {
    if !leftover.is_empty() {
        if to.write_all(&leftover).await.is_err() {
            let _ = from.stop(quinn::VarInt::from_u32(1));
            return;
        }
        state.forwarded(&leftover);
    }
    let mut chunks: [Bytes; CHUNKS_PER_WRITE] = Default::default();
    loop {
        match from.read_chunks(&mut chunks).await {
            Ok(Some(count)) => {
                let batch = join(&mut chunks[..count]);
                if to.write_chunk(batch.clone()).await.is_err() {
                    let _ = from.stop(quinn::VarInt::from_u32(1));
                    return;
                }
                state.forwarded(&batch);
            }
            Ok(None) => {
                let _ = to.shutdown().await;
                return;
            }
            Err(_) => {
                let _ = to.reset(quinn::VarInt::from_u32(1));
                return;
            }
        }
    }
}

/// The chunks as one buffer, in order, leaving `chunks` empty; a single
/// chunk is passed on without a copy.
fn join(chunks: &mut [Bytes]) -> Bytes {
    if let [only] = chunks {
        return std::mem::take(only);
    }
    let mut joined = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
    for chunk in chunks {
        joined.extend_from_slice(chunk);
        *chunk = Bytes::new();
    }
    joined.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_chunks_keep_their_order_and_leave_nothing_behind() {
        let mut chunks = [
            Bytes::from_static(b"first "),
            Bytes::from_static(b""),
            Bytes::from_static(b"second "),
            Bytes::from_static(b"third"),
        ];
        assert_eq!(join(&mut chunks), Bytes::from_static(b"first second third"));
        assert!(chunks.iter().all(Bytes::is_empty));
    }

    #[test]
    fn a_single_chunk_is_passed_on_without_a_copy() {
        let received = Bytes::from(vec![7u8; 1400]);
        let mut chunks = [received.clone()];
        let joined = join(&mut chunks);
        assert_eq!(joined.as_ptr(), received.as_ptr());
        assert!(chunks[0].is_empty());
    }
}
