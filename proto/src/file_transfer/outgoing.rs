//! The sender's side of one transfer: the offer, then (only once accepted)
//! chunks at tracked offsets, never past the announced size, and the
//! closing `FileComplete` once every byte went out unchanged.

use std::fmt;

use sha2::{Digest, Sha256};

use super::{SafeFileName, TransferError};
use crate::messages::file_transfer::{
    FileChunk, FileComplete, FileOffer, FileOfferAnswer, TransferDirection, FILE_CHUNK_MAX,
};
use crate::wire::Bytes;

/// A file offered but not yet accepted: it can produce the offer message,
/// and nothing else until the receiver answers yes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingOffer {
    transfer_id: u64,
    name: SafeFileName,
    size: u64,
    sha256: [u8; 32],
    direction: TransferDirection,
}

/// An accepted file being sent.
pub struct OutgoingTransfer {
    offer: OutgoingOffer,
    sent: u64,
    hasher: Sha256,
}

impl OutgoingOffer {
    /// `size` and `sha256` describe the whole content, computed before
    /// sending (`assent-net`'s `SourceFile` streams them from disk).
    pub fn new(
        transfer_id: u64,
        name: SafeFileName,
        size: u64,
        sha256: [u8; 32],
        direction: TransferDirection,
    ) -> Self {
        Self {
            transfer_id,
            name,
            size,
            sha256,
            direction,
        }
    }

    /// The `FileOffer` to send.
    pub fn message(&self) -> FileOffer {
        FileOffer {
            transfer_id: self.transfer_id,
            name: self.name.to_wire(),
            size: self.size,
            sha256: self.sha256,
            direction: self.direction,
        }
    }

    /// The receiver's answer: a "yes" for this transfer starts sending; a
    /// "no" (or an answer for another transfer) ends the offer.
    pub fn answered(self, answer: &FileOfferAnswer) -> Result<OutgoingTransfer, TransferError> {
        if answer.transfer_id != self.transfer_id {
            return Err(TransferError::WrongTransfer {
                expected: self.transfer_id,
                got: answer.transfer_id,
            });
        }
        if !answer.accepted {
            return Err(TransferError::Refused {
                reason: answer.reason.as_str().to_owned(),
            });
        }
        Ok(OutgoingTransfer {
            offer: self,
            sent: 0,
            hasher: Sha256::new(),
        })
    }

    pub fn transfer_id(&self) -> u64 {
        self.transfer_id
    }
    pub fn name(&self) -> &SafeFileName {
        &self.name
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }
    pub fn direction(&self) -> TransferDirection {
        self.direction
    }
}

impl OutgoingTransfer {
    /// How many bytes the next chunk should carry: at most
    /// [`FILE_CHUNK_MAX`], and 0 once every byte was sent.
    pub fn next_chunk_len(&self) -> usize {
        let remaining = self.offer.size - self.sent;
        usize::try_from(remaining).map_or(FILE_CHUNK_MAX, |r| r.min(FILE_CHUNK_MAX))
    }

    /// Wraps the next `data` the caller read as a chunk at the current offset.
    pub fn chunk(&mut self, data: Vec<u8>) -> Result<FileChunk, TransferError> {
        let len = data.len();
        let data = Bytes::new(data).map_err(|_| TransferError::ChunkTooLarge {
            len,
            max: FILE_CHUNK_MAX,
        })?;
        let end = self.sent.saturating_add(len as u64);
        if end > self.offer.size {
            return Err(TransferError::BeyondSize {
                size: self.offer.size,
                end,
            });
        }
        self.hasher.update(data.as_slice());
        let offset = self.sent;
        self.sent = end;
        Ok(FileChunk {
            transfer_id: self.offer.transfer_id,
            offset,
            data,
        })
    }

    /// The closing message, once every announced byte was sent and the
    /// bytes sent hash to the offered SHA-256 (else the file changed on
    /// disk meanwhile and the receiver would refuse it anyway).
    pub fn complete(self) -> Result<FileComplete, TransferError> {
        if self.sent != self.offer.size {
            return Err(TransferError::Incomplete {
                transferred: self.sent,
                size: self.offer.size,
            });
        }
        let sent_sha256: [u8; 32] = self.hasher.finalize().into();
        if sent_sha256 != self.offer.sha256 {
            return Err(TransferError::SourceChanged);
        }
        Ok(FileComplete {
            transfer_id: self.offer.transfer_id,
        })
    }

    pub fn transfer_id(&self) -> u64 {
        self.offer.transfer_id
    }
    pub fn name(&self) -> &SafeFileName {
        &self.offer.name
    }
    pub fn size(&self) -> u64 {
        self.offer.size
    }
    /// Bytes sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }
}

impl fmt::Debug for OutgoingTransfer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingTransfer")
            .field("offer", &self.offer)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}
