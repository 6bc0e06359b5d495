//! Blind forwarding (R3): after `OpenChannel`, a viewer stream and a host
//! stream are spliced as opaque bytes. The relay never parses, buffers
//! beyond one read, or holds keys for what passes; QUIC flow control on each
//! side gives back-pressure.

use std::sync::Arc;

use tokio::io::AsyncWriteExt;

use super::RelayState;

/// One side of a splice: what it sends us, what was already read, where to write back.
pub(crate) struct Half {
    pub recv: quinn::RecvStream,
    pub leftover: Vec<u8>,
    pub send: quinn::SendStream,
}

/// Copies both ways until both directions finish or one fails.
pub(crate) async fn splice(state: &Arc<RelayState>, viewer: Half, host: Half) {
    let to_host = pump(state, viewer.recv, viewer.leftover, host.send);
    let to_viewer = pump(state, host.recv, host.leftover, viewer.send);
    tokio::join!(to_host, to_viewer);
}

/// Bytes from `from` to `to`; a reset on either end resets the other.
///
/// Chunks move from one connection's receive buffer to the other's send
/// queue without a copy of ours (`read_chunk`/`write_chunk`); what remains
/// per byte is quinn's and the kernel's work on the two hops.
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
    loop {
        match from.read_chunk(usize::MAX, true).await {
            Ok(Some(chunk)) => {
                // A clone of `Bytes` shares the buffer; it is counted once sent.
                if to.write_chunk(chunk.bytes.clone()).await.is_err() {
                    let _ = from.stop(quinn::VarInt::from_u32(1));
                    return;
                }
                state.forwarded(&chunk.bytes);
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
