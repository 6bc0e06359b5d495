//! The versioned envelope every Assent message travels in.
//!
//! ```text
//! +-------+-------+---------+------------+-------------+
//! | "AS"  | ver=1 | type u16| length u32 | payload ... |
//! +-------+-------+---------+------------+-------------+
//!    2       1        2          4          length
//! ```
//!
//! The length is checked against the maximum for its message type before a
//! single payload byte is buffered, so a lying length cannot make us allocate.

use super::{DecodeError, Field, MessageType, Reader};

/// First bytes of every frame.
pub const MAGIC: [u8; 2] = *b"AS";
/// Wire protocol version carried in every frame.
pub const PROTOCOL_VERSION: u8 = 1;
/// Bytes in an envelope header.
pub const HEADER_LEN: usize = 9;

/// A validated envelope header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub message_type: MessageType,
    pub len: u32,
}

impl Header {
    /// Validates magic, version, type and the length bound for that type.
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Self, DecodeError> {
        if bytes[..2] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        if bytes[2] != PROTOCOL_VERSION {
            return Err(DecodeError::UnsupportedVersion(bytes[2]));
        }
        let code = u16::from_be_bytes([bytes[3], bytes[4]]);
        let message_type = MessageType::from_code(code)?;
        let len = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
        let max = message_type.max_len();
        if len as usize > max {
            return Err(DecodeError::FrameTooLarge {
                message_type,
                len: len as usize,
                max,
            });
        }
        Ok(Self { message_type, len })
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..2].copy_from_slice(&MAGIC);
        out[2] = PROTOCOL_VERSION;
        out[3..5].copy_from_slice(&self.message_type.code().to_be_bytes());
        out[5..].copy_from_slice(&self.len.to_be_bytes());
        out
    }
}

/// A whole frame: its type and its (not yet decoded) payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub message_type: MessageType,
    pub payload: Vec<u8>,
}

impl Frame {
    /// Decodes the payload as `M`, checking the frame carries `M`'s type.
    pub fn decode<M: Message>(&self) -> Result<M, DecodeError> {
        if self.message_type != M::TYPE {
            return Err(DecodeError::UnexpectedMessage {
                expected: M::TYPE,
                got: self.message_type,
            });
        }
        M::from_bytes(&self.payload)
    }

    /// Header followed by payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.payload.len());
        let header = Header {
            message_type: self.message_type,
            len: self.payload.len() as u32,
        };
        out.extend_from_slice(&header.encode());
        out.extend_from_slice(&self.payload);
        out
    }
}

/// A top-level message: a [`Field`] with its own envelope type.
pub trait Message: Field {
    const TYPE: MessageType;

    /// Encodes as a complete frame, refusing a payload over the type's maximum
    /// (the peer would refuse it anyway; better to fail at the sender).
    fn to_frame(&self) -> Result<Vec<u8>, DecodeError> {
        let mut out = Vec::with_capacity(HEADER_LEN + 64);
        out.extend_from_slice(&[0u8; HEADER_LEN]);
        self.encode(&mut out);
        let len = out.len() - HEADER_LEN;
        let max = Self::TYPE.max_len();
        if len > max {
            return Err(DecodeError::FrameTooLarge {
                message_type: Self::TYPE,
                len,
                max,
            });
        }
        let header = Header {
            message_type: Self::TYPE,
            len: len as u32,
        };
        out[..HEADER_LEN].copy_from_slice(&header.encode());
        Ok(out)
    }

    /// Decodes one complete frame of this type from `bytes` (no trailing bytes).
    fn from_frame(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let header = Header::decode(&r.array()?)?;
        if header.message_type != Self::TYPE {
            return Err(DecodeError::UnexpectedMessage {
                expected: Self::TYPE,
                got: header.message_type,
            });
        }
        let payload = r.take(header.len as usize)?;
        r.finish()?;
        Self::from_bytes(payload)
    }
}

/// Incremental frame decoder for a byte stream (a QUIC stream in the shells).
///
/// Sans-IO: the caller feeds whatever bytes arrived; complete frames come out.
/// It buffers at most one header plus one payload of the announced, already
/// validated length. After an error it stays failed: a stream that sent one
/// bad frame is not trusted to be in sync again.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    header: [u8; HEADER_LEN],
    header_filled: usize,
    pending: Option<(MessageType, Vec<u8>, usize)>,
    failed: bool,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes bytes from the front of `input` until one frame completes
    /// (returned) or `input` is exhausted (`Ok(None)`). Call again with the
    /// rest of `input` to get further frames.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Frame>, DecodeError> {
        if self.failed {
            return Err(DecodeError::StreamFailed);
        }
        let result = self.decode_inner(input);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn decode_inner(&mut self, input: &mut &[u8]) -> Result<Option<Frame>, DecodeError> {
        if self.pending.is_none() {
            let want = HEADER_LEN - self.header_filled;
            let n = want.min(input.len());
            self.header[self.header_filled..self.header_filled + n].copy_from_slice(&input[..n]);
            self.header_filled += n;
            *input = &input[n..];
            if self.header_filled < HEADER_LEN {
                return Ok(None);
            }
            self.header_filled = 0;
            let header = Header::decode(&self.header)?;
            let len = header.len as usize;
            self.pending = Some((header.message_type, Vec::with_capacity(len), len));
        }
        let Some((message_type, payload, len)) = self.pending.as_mut() else {
            return Ok(None);
        };
        let n = (*len - payload.len()).min(input.len());
        payload.extend_from_slice(&input[..n]);
        *input = &input[n..];
        if payload.len() < *len {
            return Ok(None);
        }
        let message_type = *message_type;
        let (_, payload, _) = self.pending.take().expect("pending frame present");
        Ok(Some(Frame {
            message_type,
            payload,
        }))
    }

    /// True when no partial frame is buffered (a clean place for the stream to end).
    pub fn is_idle(&self) -> bool {
        self.header_filled == 0 && self.pending.is_none()
    }
}
