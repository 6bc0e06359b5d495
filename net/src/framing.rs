//! Proto frames on QUIC streams: [`FramedSend`] writes whole frames,
//! [`FramedRecv`] reads them back through `assent_proto`'s [`FrameDecoder`].
//!
//! The receiver reads at most [`READ_CHUNK_MAX`] bytes at a time and holds
//! at most one such chunk plus the one frame the decoder is filling, whose
//! announced length the decoder has checked against its type's bound before
//! allocating. A malformed frame stops the stream (not the connection) with
//! [`MALFORMED_FRAME_CODE`]; the caller may still answer with an error frame
//! on its send half (`PROTOCOL.md`, "Envelope").

use std::time::Duration;

use assent_proto::wire::{DecodeError, Frame, FrameDecoder, Header, Message};
use quinn::{Chunk, RecvStream, SendStream, VarInt};

use crate::NetError;

#[cfg(test)]
mod tests;

/// Largest read from a stream in one go.
pub const READ_CHUNK_MAX: usize = 64 * 1024;

/// QUIC STOP_SENDING code a receiver uses after a malformed frame.
pub const MALFORMED_FRAME_CODE: VarInt = VarInt::from_u32(1);

/// Splits a bidirectional stream into its framed halves.
pub fn framed(send: SendStream, recv: RecvStream) -> (FramedSend, FramedRecv) {
    (FramedSend::new(send), FramedRecv::new(recv))
}

/// The sending half of a stream, one frame at a time.
#[derive(Debug)]
pub struct FramedSend {
    stream: SendStream,
}

impl FramedSend {
    pub fn new(stream: SendStream) -> Self {
        Self { stream }
    }

    /// Encodes and sends `message` as one frame. A message over its type's
    /// bound is refused here, before anything is written.
    pub async fn send<M: Message>(&mut self, message: &M) -> Result<(), NetError> {
        let bytes = message.to_frame().map_err(NetError::Encode)?;
        self.send_raw(&bytes).await
    }

    /// Sends an already decoded frame (e.g. one the relay forwards).
    pub async fn send_frame(&mut self, frame: &Frame) -> Result<(), NetError> {
        let len = frame.payload.len();
        let max = frame.message_type.max_len();
        let len32 = u32::try_from(len)
            .ok()
            .filter(|_| len <= max)
            .ok_or(NetError::Encode(DecodeError::FrameTooLarge {
                message_type: frame.message_type,
                len,
                max,
            }))?;
        let header = Header {
            message_type: frame.message_type,
            len: len32,
        };
        // Two writes instead of a copy: records run to 1 MiB.
        self.stream.write_all(&header.encode()).await?;
        self.send_raw(&frame.payload).await
    }

    /// Sends bytes that are already one or more complete frames, unchanged.
    pub async fn send_raw(&mut self, frames: &[u8]) -> Result<(), NetError> {
        self.stream.write_all(frames).await?;
        Ok(())
    }

    /// Ends the stream cleanly after what was sent (the peer sees `Ok(None)`).
    pub fn finish(&mut self) -> Result<(), NetError> {
        self.stream.finish()?;
        Ok(())
    }

    /// Finishes the stream and waits, at most `limit`, until the peer has
    /// received everything: closing the connection right after a plain
    /// `finish` can drop the last frames (e.g. the error that says why).
    pub async fn finish_and_wait(&mut self, limit: Duration) {
        if self.stream.finish().is_ok() {
            let _ = tokio::time::timeout(limit, self.stream.stopped()).await;
        }
    }

    pub fn id(&self) -> quinn::StreamId {
        self.stream.id()
    }

    pub fn into_inner(self) -> SendStream {
        self.stream
    }
}

/// How a receive stream ended, remembered so later calls say the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Clean,
    Truncated,
    Malformed,
}

/// The receiving half of a stream, one frame at a time.
#[derive(Debug)]
pub struct FramedRecv {
    stream: RecvStream,
    decoder: FrameDecoder,
    /// The last chunk read and how much of it the decoder has taken.
    chunk: Option<(Chunk, usize)>,
    timeout: Option<Duration>,
    ended: Option<Ended>,
}

impl FramedRecv {
    pub fn new(stream: RecvStream) -> Self {
        Self {
            stream,
            decoder: FrameDecoder::new(),
            chunk: None,
            timeout: None,
            ended: None,
        }
    }

    /// Bounds each [`recv`](Self::recv) call; `None` waits as long as the
    /// connection lives. A timed-out call loses nothing: call again.
    pub fn set_recv_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// The next frame; `Ok(None)` when the peer finished the stream exactly
    /// at a frame boundary. A stream ending mid-frame is
    /// [`NetError::TruncatedFrame`]; a malformed frame is [`NetError::Decode`]
    /// and leaves the stream stopped and unusable.
    pub async fn recv(&mut self) -> Result<Option<Frame>, NetError> {
        match self.timeout {
            None => self.recv_untimed().await,
            Some(limit) => tokio::time::timeout(limit, self.recv_untimed())
                .await
                .map_err(|_| NetError::RecvTimeout(limit))?,
        }
    }

    /// Cancel-safe: state changes only after `read_chunk` (itself cancel-safe) returns.
    async fn recv_untimed(&mut self) -> Result<Option<Frame>, NetError> {
        loop {
            match self.ended {
                Some(Ended::Clean) => return Ok(None),
                Some(Ended::Truncated) => return Err(NetError::TruncatedFrame),
                Some(Ended::Malformed) => return Err(NetError::Decode(DecodeError::StreamFailed)),
                None => {}
            }
            if let Some(frame) = self.decode_buffered()? {
                return Ok(Some(frame));
            }
            match self.stream.read_chunk(READ_CHUNK_MAX, true).await? {
                Some(chunk) => self.chunk = Some((chunk, 0)),
                None if self.decoder.is_idle() => self.ended = Some(Ended::Clean),
                None => self.ended = Some(Ended::Truncated),
            }
        }
    }

    /// Feeds the buffered chunk to the decoder until a frame completes or the chunk is used up.
    fn decode_buffered(&mut self) -> Result<Option<Frame>, NetError> {
        let Some((chunk, taken)) = self.chunk.as_mut() else {
            return Ok(None);
        };
        let mut input = chunk.bytes.get(*taken..).unwrap_or_default();
        let before = input.len();
        let result = self.decoder.decode(&mut input);
        *taken += before - input.len();
        if *taken >= chunk.bytes.len() {
            self.chunk = None;
        }
        result.map_err(|error| {
            self.ended = Some(Ended::Malformed);
            self.chunk = None;
            // Tell the peer to stop sending; the connection stays up. An
            // already closed stream needs no telling.
            let _ = self.stream.stop(MALFORMED_FRAME_CODE);
            tracing::debug!(stream = %self.stream.id(), %error, "malformed frame; stream stopped");
            NetError::Decode(error)
        })
    }

    pub fn id(&self) -> quinn::StreamId {
        self.stream.id()
    }

    /// Stops framing: returns the stream and any bytes already read past the
    /// last complete frame, so the rest can be forwarded as opaque bytes.
    /// Refused while a frame is half-decoded (its bytes would be lost).
    pub fn into_raw(self) -> Result<(RecvStream, Vec<u8>), NetError> {
        if !self.decoder.is_idle() {
            return Err(NetError::TruncatedFrame);
        }
        let leftover = match &self.chunk {
            Some((chunk, taken)) => chunk.bytes.get(*taken..).unwrap_or_default().to_vec(),
            None => Vec::new(),
        };
        Ok((self.stream, leftover))
    }
}
