//! The receiver's side of one transfer: checks the offer, then every chunk,
//! hashing as it goes, and yields a [`VerifiedFile`] only when size and
//! SHA-256 match the offer.

use std::fmt;

use sha2::{Digest, Sha256};

use super::{SafeFileName, TransferError, TransferLimits};
use crate::messages::file_transfer::{FileChunk, FileOffer, FileOfferAnswer, TransferDirection};
use crate::wire::Text;

/// A file being received. The caller writes each chunk's data only after
/// [`accept_chunk`](Self::accept_chunk) returned `Ok`; a refused chunk
/// changes nothing here.
pub struct IncomingTransfer {
    transfer_id: u64,
    name: SafeFileName,
    size: u64,
    announced_sha256: [u8; 32],
    direction: TransferDirection,
    received: u64,
    hasher: Sha256,
}

/// A received file whose size and SHA-256 equal the offer's. Only
/// [`IncomingTransfer::finish`] makes one; this is what may be kept and
/// audited (R12: name, size, hash, direction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedFile {
    transfer_id: u64,
    name: SafeFileName,
    size: u64,
    sha256: [u8; 32],
    direction: TransferDirection,
}

impl IncomingTransfer {
    /// Checks an offer before anyone is asked to accept it: the name must
    /// be a [`SafeFileName`] and the size within `limits`.
    pub fn new(offer: &FileOffer, limits: &TransferLimits) -> Result<Self, TransferError> {
        let name = SafeFileName::parse(offer.name.as_str())?;
        if offer.size > limits.max_file_size {
            return Err(TransferError::TooLarge {
                size: offer.size,
                max: limits.max_file_size,
            });
        }
        Ok(Self {
            transfer_id: offer.transfer_id,
            name,
            size: offer.size,
            announced_sha256: offer.sha256,
            direction: offer.direction,
            received: 0,
            hasher: Sha256::new(),
        })
    }

    /// The "yes" to send once the receiver (on the host, the technician) agreed.
    pub fn acceptance(&self) -> FileOfferAnswer {
        FileOfferAnswer {
            transfer_id: self.transfer_id,
            accepted: true,
            reason: Text::default(),
        }
    }

    /// Takes the next chunk: it must belong to this transfer, start exactly
    /// where the previous one ended and not pass the announced size.
    pub fn accept_chunk(&mut self, chunk: &FileChunk) -> Result<(), TransferError> {
        if chunk.transfer_id != self.transfer_id {
            return Err(TransferError::WrongTransfer {
                expected: self.transfer_id,
                got: chunk.transfer_id,
            });
        }
        if chunk.offset != self.received {
            return Err(TransferError::OutOfOrder {
                expected: self.received,
                got: chunk.offset,
            });
        }
        // received <= size, and a chunk is at most 64 KiB: saturation only
        // guards a size near u64::MAX, which the limits refuse anyway.
        let end = self.received.saturating_add(chunk.data.len() as u64);
        if end > self.size {
            return Err(TransferError::BeyondSize {
                size: self.size,
                end,
            });
        }
        self.hasher.update(chunk.data.as_slice());
        self.received = end;
        Ok(())
    }

    /// Ends the transfer after `FileComplete`: every announced byte must
    /// have arrived and hash to the announced SHA-256.
    pub fn finish(self) -> Result<VerifiedFile, TransferError> {
        if self.received != self.size {
            return Err(TransferError::Incomplete {
                transferred: self.received,
                size: self.size,
            });
        }
        let sha256: [u8; 32] = self.hasher.finalize().into();
        if sha256 != self.announced_sha256 {
            return Err(TransferError::HashMismatch);
        }
        Ok(VerifiedFile {
            transfer_id: self.transfer_id,
            name: self.name,
            size: self.size,
            sha256,
            direction: self.direction,
        })
    }

    pub fn transfer_id(&self) -> u64 {
        self.transfer_id
    }
    pub fn name(&self) -> &SafeFileName {
        &self.name
    }
    /// Announced size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// Which way the offer says the file moves; the shell checks it matches
    /// who sent the offer (the host never receives a `FromHost` offer).
    pub fn direction(&self) -> TransferDirection {
        self.direction
    }
    /// Bytes accepted so far.
    pub fn received(&self) -> u64 {
        self.received
    }
}

impl fmt::Debug for IncomingTransfer {
    // The running hash state says nothing useful; leave it out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncomingTransfer")
            .field("transfer_id", &self.transfer_id)
            .field("name", &self.name)
            .field("size", &self.size)
            .field("direction", &self.direction)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl VerifiedFile {
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
