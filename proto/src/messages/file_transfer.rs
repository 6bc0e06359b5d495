//! File-transfer messages. This module exists only with the crate feature
//! `file-transfer`; PHI builds (R11) compile without it, and refuse its
//! frame types with "file transfer is not available on this instrument".
//!
//! ```text
//! sender                                   receiver
//!   FileOffer (name, size, SHA-256) ->
//!                      <- FileOfferAnswer (accepted / refused + reason)
//!   FileChunk* (in order, offset = bytes so far) ->
//!   FileComplete ->     receiver checks size and hash, then renames into place
//!   FileAbort (either side, any time) -> partial data is deleted
//! ```
//!
//! Either side may be the sender; `direction` names which way the file moves
//! so the receiver can check it matches who sent the offer, and the audit
//! record (R12) says it without knowing the session's roles.

use crate::wire::{Bytes, Text};

crate::wire_enum! {
    /// Which way a file moves, seen from the host (the instrument PC).
    pub enum TransferDirection {
        /// Engineer's workstation to the instrument.
        ToHost = 1,
        /// Instrument to the engineer's workstation.
        FromHost = 2,
    }
}

/// Longest file name, in bytes (common filesystem limit). A bare name, never
/// a path; the receiver sanitises it regardless.
pub const FILE_NAME_MAX: usize = 255;
/// Largest chunk of file data in one message.
pub const FILE_CHUNK_MAX: usize = 64 * 1024;
/// Longest reason given for refusing an offer, in bytes.
pub const OFFER_REASON_MAX: usize = 256;
/// Longest reason given for aborting a transfer, in bytes.
pub const ABORT_REASON_MAX: usize = 1024;

crate::wire_struct! {
    /// Announces one file; nothing is sent before the receiver accepts.
    pub struct FileOffer : FileOffer {
        /// Chosen by the sender, unique among its transfers in this session.
        pub transfer_id: u64,
        pub name: Text<FILE_NAME_MAX>,
        /// Exact length in bytes.
        pub size: u64,
        /// SHA-256 of the whole content; the receiver keeps nothing that differs.
        pub sha256: [u8; 32],
        pub direction: TransferDirection,
    }
}

crate::wire_struct! {
    /// The receiver's answer (after its own checks and, on the host, the
    /// technician's approval).
    pub struct FileOfferAnswer : FileOfferAnswer {
        pub transfer_id: u64,
        pub accepted: bool,
        /// Why it was refused (empty when accepted).
        pub reason: Text<OFFER_REASON_MAX>,
    }
}

crate::wire_struct! {
    /// A piece of an accepted file. Chunks come in order: `offset` equals
    /// the bytes already sent, so a gap or overlap is a protocol error.
    pub struct FileChunk : FileChunk {
        pub transfer_id: u64,
        pub offset: u64,
        pub data: Bytes<FILE_CHUNK_MAX>,
    }
}

crate::wire_struct! {
    /// The sender has sent every byte; the receiver verifies size and hash.
    pub struct FileComplete : FileComplete {
        pub transfer_id: u64,
    }
}

crate::wire_struct! {
    /// Either side stops a transfer; the receiver deletes what it has.
    pub struct FileAbort : FileAbort {
        pub transfer_id: u64,
        pub reason: Text<ABORT_REASON_MAX>,
    }
}

#[cfg(test)]
pub(crate) mod strategies {
    use proptest::prelude::*;

    use super::*;
    use crate::messages::session::test_support::{bytes, largest, largest_is, text};
    use crate::messages::session::SessionMessage;

    largest_is! {
        TransferDirection => TransferDirection::FromHost,
    }

    fn direction() -> impl Strategy<Value = TransferDirection> {
        prop_oneof![
            Just(TransferDirection::ToHost),
            Just(TransferDirection::FromHost)
        ]
    }

    pub(crate) fn file_offer() -> impl Strategy<Value = FileOffer> {
        (
            any::<u64>(),
            text(),
            any::<u64>(),
            any::<[u8; 32]>(),
            direction(),
        )
            .prop_map(|(transfer_id, name, size, sha256, direction)| FileOffer {
                transfer_id,
                name,
                size,
                sha256,
                direction,
            })
    }

    pub(crate) fn file_offer_answer() -> impl Strategy<Value = FileOfferAnswer> {
        (any::<u64>(), any::<bool>(), text()).prop_map(|(transfer_id, accepted, reason)| {
            FileOfferAnswer {
                transfer_id,
                accepted,
                reason,
            }
        })
    }

    pub(crate) fn file_chunk() -> impl Strategy<Value = FileChunk> {
        (any::<u64>(), any::<u64>(), bytes()).prop_map(|(transfer_id, offset, data)| FileChunk {
            transfer_id,
            offset,
            data,
        })
    }

    pub(crate) fn file_complete() -> impl Strategy<Value = FileComplete> {
        any::<u64>().prop_map(|transfer_id| FileComplete { transfer_id })
    }

    pub(crate) fn file_abort() -> impl Strategy<Value = FileAbort> {
        (any::<u64>(), text()).prop_map(|(transfer_id, reason)| FileAbort {
            transfer_id,
            reason,
        })
    }

    pub(crate) fn largest_instances() -> Vec<SessionMessage> {
        vec![
            FileOffer {
                transfer_id: largest(),
                name: largest(),
                size: largest(),
                sha256: largest(),
                direction: largest(),
            }
            .into(),
            FileOfferAnswer {
                transfer_id: largest(),
                accepted: largest(),
                reason: largest(),
            }
            .into(),
            FileChunk {
                transfer_id: largest(),
                offset: largest(),
                data: largest(),
            }
            .into(),
            FileComplete {
                transfer_id: largest(),
            }
            .into(),
            FileAbort {
                transfer_id: largest(),
                reason: largest(),
            }
            .into(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{DecodeError, Field};

    #[test]
    fn a_chunk_announcing_more_than_the_chunk_limit_is_refused() {
        let mut payload = vec![0; 16];
        payload.extend_from_slice(&(FILE_CHUNK_MAX as u32 + 1).to_be_bytes());
        assert_eq!(
            FileChunk::from_bytes(&payload),
            Err(DecodeError::FieldTooLong {
                len: FILE_CHUNK_MAX + 1,
                max: FILE_CHUNK_MAX
            })
        );
    }

    #[test]
    fn a_file_name_with_control_characters_is_refused() {
        let mut payload = vec![0; 8];
        payload.extend_from_slice(&3u32.to_be_bytes());
        payload.extend_from_slice(b"a\x1bb");
        payload.extend_from_slice(&[0; 8 + 32]);
        payload.push(1);
        assert_eq!(
            FileOffer::from_bytes(&payload),
            Err(DecodeError::ControlCharacter)
        );
    }

    #[test]
    fn an_unknown_direction_is_refused() {
        assert_eq!(
            TransferDirection::from_bytes(&[3]),
            Err(DecodeError::InvalidValue {
                what: "TransferDirection",
                value: 3
            })
        );
    }
}
