//! File transfer rules (R11, R12, bad input): which file names are safe,
//! and the sender's and receiver's bookkeeping for one transfer. Pure: the
//! shells read and write the bytes (`assent-net`'s `file_store`).
//!
//! ```text
//! sender: OutgoingOffer --FileOffer--> receiver: IncomingTransfer::new (name, size)
//!         .answered(<-FileOfferAnswer)            .acceptance() / refuse_offer()
//!         OutgoingTransfer::chunk --FileChunk*--> .accept_chunk (id, offset, size, hash)
//!         .complete --FileComplete-->             .finish -> VerifiedFile (size, SHA-256)
//! ```
//!
//! Only a [`VerifiedFile`] may be kept under its real name, and only
//! [`IncomingTransfer::finish`] makes one, so "hash not yet checked" is a type.
//! Any error ends the transfer: the caller sends [`abort`] and deletes what
//! it has. This whole module is absent from PHI builds (R11).

mod incoming;
mod name;
mod outgoing;

#[cfg(test)]
mod name_tests;
#[cfg(test)]
mod transfer_tests;

pub use incoming::{IncomingTransfer, VerifiedFile};
pub use name::{FileNameError, SafeFileName, PARTIAL_FILE_PREFIX};
pub use outgoing::{OutgoingOffer, OutgoingTransfer};

use crate::messages::file_transfer::{FileAbort, FileOfferAnswer};
use crate::wire::Text;

/// Default largest file a receiver accepts: 2 GiB covers instrument exports,
/// logs and installers, and is about 45 minutes at 6 Mbit/s (R17).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 2 * 1024 * 1024 * 1024;

/// What a receiver accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferLimits {
    /// Largest announced size accepted, in bytes.
    pub max_file_size: u64,
}

impl Default for TransferLimits {
    fn default() -> Self {
        Self {
            max_file_size: DEFAULT_MAX_FILE_SIZE,
        }
    }
}

/// Why a transfer was refused or stopped. Every variant ends the transfer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error("file offer refused: {0}")]
    InvalidName(#[from] FileNameError),
    #[error(
        "file of {size} bytes is larger than the {max}-byte transfer limit; compress or split it"
    )]
    TooLarge { size: u64, max: u64 },
    #[error("message for transfer {got} does not belong to transfer {expected}")]
    WrongTransfer { expected: u64, got: u64 },
    #[error(
        "chunk at offset {got} where offset {expected} was due: chunks must arrive in order, \
         without gaps or overlaps"
    )]
    OutOfOrder { expected: u64, got: u64 },
    #[error("chunk would end at byte {end}, past the announced size of {size} bytes")]
    BeyondSize { size: u64, end: u64 },
    #[error("chunk of {len} bytes exceeds the {max}-byte chunk limit")]
    ChunkTooLarge { len: usize, max: usize },
    #[error("transfer ended after {transferred} of {size} bytes; the incomplete file is not kept")]
    Incomplete { transferred: u64, size: u64 },
    #[error(
        "received content does not match the SHA-256 in the offer; the file is not kept, send it \
         again"
    )]
    HashMismatch,
    #[error("the file changed while it was being sent; send it again")]
    SourceChanged,
    #[error("the receiver refused the file: {reason}")]
    Refused { reason: String },
}

/// The receiver's "no" to an offer, with `reason` cut to fit the wire.
pub fn refuse_offer(transfer_id: u64, reason: &str) -> FileOfferAnswer {
    FileOfferAnswer {
        transfer_id,
        accepted: false,
        reason: wire_reason(reason),
    }
}

/// Stops a transfer from either side, with `reason` cut to fit the wire.
pub fn abort(transfer_id: u64, reason: &str) -> FileAbort {
    FileAbort {
        transfer_id,
        reason: wire_reason(reason),
    }
}

/// `reason` as wire text: control characters become spaces and the text is
/// cut at a character boundary, so any error message (which may quote a
/// peer's file name) can be sent back without failing.
fn wire_reason<const MAX: usize>(reason: &str) -> Text<MAX> {
    let mut text = String::with_capacity(reason.len().min(MAX));
    for c in reason.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if text.len() + c.len_utf8() > MAX {
            break;
        }
        text.push(c);
    }
    // Cannot fail: no control characters and at most MAX bytes.
    Text::new(text).unwrap_or_default()
}
