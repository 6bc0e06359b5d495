//! Wire format: the versioned envelope, the registry of message types with
//! their length bounds, and the canonical field encoding. See `PROTOCOL.md`.

mod codec;
mod envelope;

pub use codec::{Bytes, Field, List, Reader, Text};
pub use envelope::{Frame, FrameDecoder, Header, Message, HEADER_LEN, MAGIC, PROTOCOL_VERSION};

/// Largest plaintext an end-to-end record may carry (one screen update, a
/// file chunk with headroom); records are split above it.
pub const MAX_RECORD_PLAINTEXT: usize = 1 << 20;
/// Record overhead on the wire: 8-byte sequence number plus 16-byte tag.
pub const RECORD_OVERHEAD: usize = 8 + 16;

/// Why bytes could not be decoded. Each variant is something a peer did wrong;
/// the shells answer it with an error frame and close that stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated input: needed {needed} more bytes, {remaining} left")]
    Truncated { needed: usize, remaining: usize },
    #[error("field of {len} bytes exceeds its limit of {max}")]
    FieldTooLong { len: usize, max: usize },
    #[error("list of {count} items exceeds its limit of {max}")]
    TooManyItems { count: usize, max: usize },
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    #[error("text is not valid UTF-8")]
    InvalidUtf8,
    #[error("text contains control characters")]
    ControlCharacter,
    #[error("invalid {what} value {value}")]
    InvalidValue { what: &'static str, value: u64 },
    #[error("not an Assent frame (bad magic)")]
    BadMagic,
    #[error("unsupported protocol version {0} (this build speaks {PROTOCOL_VERSION})")]
    UnsupportedVersion(u8),
    #[error("unknown message type {0:#06x}")]
    UnknownMessageType(u16),
    #[error("{message_type:?} frame of {len} bytes exceeds its limit of {max}")]
    FrameTooLarge {
        message_type: MessageType,
        len: usize,
        max: usize,
    },
    #[error("expected a {expected:?} message, got {got:?}")]
    UnexpectedMessage {
        expected: MessageType,
        got: MessageType,
    },
    #[error("{0}")]
    Unavailable(&'static str),
    #[error("stream already failed on an earlier bad frame")]
    StreamFailed,
}

/// Message said to a PHI build (R11) when a peer uses file transfer.
pub const FILE_TRANSFER_UNAVAILABLE: &str = "file transfer is not available on this instrument";

const KIB: usize = 1024;

macro_rules! message_types {
    ($(
        $(#[$meta:meta])*
        $variant:ident = $code:literal, max $max:expr;
    )*) => {
        /// Every message type on the wire, with its code and payload bound.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum MessageType {
            $( $(#[$meta])* $variant, )*
        }

        impl MessageType {
            pub fn code(self) -> u16 {
                match self { $( $(#[$meta])* Self::$variant => $code, )* }
            }

            /// Largest payload a frame of this type may announce.
            pub fn max_len(self) -> usize {
                match self { $( $(#[$meta])* Self::$variant => $max, )* }
            }

            pub fn from_code(code: u16) -> Result<Self, DecodeError> {
                match code {
                    $( $(#[$meta])* $code => Ok(Self::$variant), )*
                    c if FILE_TRANSFER_CODES.contains(&c) => Err(DecodeError::Unavailable(FILE_TRANSFER_UNAVAILABLE)),
                    c => Err(DecodeError::UnknownMessageType(c)),
                }
            }

            /// All types this build knows (for tests and documentation).
            pub const ALL: &'static [MessageType] = &[ $( $(#[$meta])* Self::$variant, )* ];
        }
    };
}

/// Codes reserved for file transfer: a PHI build recognises them only to say
/// "not available" instead of "unknown".
const FILE_TRANSFER_CODES: std::ops::RangeInclusive<u16> = 0x0700..=0x07ff;

message_types! {
    // 0x01xx relay signalling (client <-> relay, inside TLS).
    RelayHello = 0x0101, max 256;
    RelayError = 0x0102, max 2 * KIB;
    RelayChallenge = 0x0103, max 128;
    EnrollRequest = 0x0104, max 4 * KIB;
    EnrollAccepted = 0x0105, max 256;
    HostLogin = 0x0106, max 2 * KIB;
    ViewerLogin = 0x0107, max 2 * KIB;
    LoginAccepted = 0x0108, max 256;
    SupportOpen = 0x0109, max 256;
    SupportOpened = 0x010a, max 256;
    SupportClose = 0x010b, max 256;
    ConnectRequest = 0x010c, max 256;
    LocationChallenge = 0x010d, max 256;
    LocationCode = 0x010e, max 256;
    Paired = 0x010f, max 4 * KIB;
    AllowListRequest = 0x0110, max 64;
    AllowListDocument = 0x0111, max 1024 * KIB + KIB;
    AuthFailureReport = 0x0112, max 256;
    AuditReport = 0x0113, max 8 * KIB;
    Ack = 0x0114, max 64;
    OpenChannel = 0x0115, max 64;
    ReleaseQuery = 0x0116, max 256;
    ReleaseOffer = 0x0117, max crate::release::BODY_MAX + 2 * KIB;
    PackageRequest = 0x0118, max 128;
    PackageChunk = 0x0119, max crate::messages::signalling::PACKAGE_CHUNK_MAX + 64;
    NotificationSeqQuery = 0x011A, max 64;
    NotificationSeq = 0x011B, max 64;

    // 0x02xx end-to-end handshake (viewer <-> host, relayed blind).
    ViewerHello = 0x0201, max 4 * KIB;
    HostHello = 0x0202, max 4 * KIB;
    ViewerFinish = 0x0203, max 2 * KIB;
    HostFinish = 0x0204, max 256;
    HandshakeAbort = 0x0205, max 512;

    // 0x03xx end-to-end records: ciphertext the relay forwards and cannot read.
    SealedRecord = 0x0301, max MAX_RECORD_PLAINTEXT + RECORD_OVERHEAD;

    // 0x04xx consent (R10), inside records.
    CapabilityRequest = 0x0401, max 64;
    CapabilityDecision = 0x0402, max 64;
    CapabilityRevoked = 0x0403, max 64;
    SessionError = 0x0404, max 2 * KIB;
    SessionEnd = 0x0405, max 512;

    // 0x05xx screen, inside records.
    ScreenInfo = 0x0501, max 64;
    FrameUpdate = 0x0502, max MAX_RECORD_PLAINTEXT - HEADER_LEN;
    CursorUpdate = 0x0503, max 256 * KIB;

    // 0x06xx input, inside records.
    PointerMove = 0x0601, max 16;
    PointerButton = 0x0602, max 16;
    Wheel = 0x0603, max 16;
    KeyEvent = 0x0604, max 16;

    // 0x07xx file transfer (crate feature `file-transfer`; absent on PHI builds).
    #[cfg(feature = "file-transfer")]
    FileOffer = 0x0701, max 2 * KIB;
    #[cfg(feature = "file-transfer")]
    FileOfferAnswer = 0x0702, max 2 * KIB;
    #[cfg(feature = "file-transfer")]
    FileChunk = 0x0703, max 64 * KIB + 64;
    #[cfg(feature = "file-transfer")]
    FileComplete = 0x0704, max 128;
    #[cfg(feature = "file-transfer")]
    FileAbort = 0x0705, max 2 * KIB;

    // 0x08xx notifications (R15).
    Notification = 0x0801, max 8 * KIB;
    NotificationCleared = 0x0802, max 128;
}

#[cfg(test)]
mod tests;
