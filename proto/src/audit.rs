//! The relay's audit log (R12): append-only, tamper-evident, encrypted at rest.
//!
//! Each [`AuditRecord`] carries the SHA-256 chain hash of the record before it,
//! and is sealed alone with XChaCha20-Poly1305 under a 256-bit [`AuditKey`],
//! with its sequence number bound in as associated data. Anyone holding the key
//! can [`verify`] a log offline: the verifier names the first record that is
//! missing, altered, reordered, duplicated or foreign, and with a saved
//! [`ChainHead`] as anchor also catches a cut-off tail or a rewritten log.
//!
//! Sans-IO: the relay stores [`SealedAuditRecord`]s and the [`ChainHead`]
//! (SQLite or PostgreSQL); this module defines the record, the chain and the
//! verifier.
//!
//! ```text
//! plaintext  = seq u64 || time_unix_ms u64 || prev_hash [32] || event
//! chain hash = SHA-256("assent/1 audit" || plaintext)
//! sealed     = seq u64 || nonce [24] || len u32 || XChaCha20-Poly1305(plaintext)
//!              with AAD = "assent/1 audit" || seq (big-endian)
//! ```

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::messages::audit_event::AuditEvent;
use crate::wire::{Bytes, DecodeError, Field, Reader};

mod verify;

pub use verify::{verify, BreakKind, ChainBreak, ChainVerifier, VerifiedChain};

#[cfg(test)]
mod tests;

/// Domain separation for both the chain hash and the AEAD associated data.
const DOMAIN: &[u8] = b"assent/1 audit";
/// Largest sealed record; real records are a few hundred bytes.
pub const MAX_SEALED_LEN: usize = 16 * 1024;

/// The 256-bit key the audit log is sealed under. Erased on drop, never printed.
#[derive(Clone)]
pub struct AuditKey(Zeroizing<[u8; 32]>);

impl AuditKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut key[..]);
        Self(key)
    }

    /// The raw key, for writing it to the relay's key file. Never log it.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&*self.0).into())
    }
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(<redacted>)")
    }
}

crate::wire_struct! {
    /// One entry of the log, before sealing. Its wire encoding is canonical,
    /// so the chain hash over it is well defined.
    pub struct AuditRecord {
        pub seq: u64,
        /// The relay's clock when it recorded the event.
        pub time_unix_ms: u64,
        /// Chain hash of record `seq - 1`; all zeros for record 0.
        pub prev_hash: [u8; 32],
        pub event: AuditEvent,
    }
}

impl AuditRecord {
    /// SHA-256("assent/1 audit" || canonical encoding): what the next record links to.
    pub fn chain_hash(&self) -> [u8; 32] {
        chain_hash_of(&self.to_bytes())
    }
}

/// Chain hash over a record's plaintext. The verifier hashes the decrypted
/// bytes directly, so it checks the chain even for event kinds it cannot
/// decode (a PHI build, an older release).
fn chain_hash_of(plaintext: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(DOMAIN);
    hash.update(plaintext);
    hash.finalize().into()
}

crate::wire_struct! {
    /// A record as stored: only `seq` is readable without the key, and it is
    /// authenticated, so moving a record to another position is detected.
    pub struct SealedAuditRecord {
        pub seq: u64,
        pub nonce: [u8; 24],
        pub ciphertext: Bytes<MAX_SEALED_LEN>,
    }
}

crate::wire_struct! {
    /// Where the chain stands: the next sequence number and the chain hash of
    /// the last record. The relay persists it with every record (in the same
    /// transaction) to resume after a restart; operators keep copies as anchors
    /// for [`verify`].
    #[derive(Copy, Hash, serde::Serialize, serde::Deserialize)]
    pub struct ChainHead {
        pub next_seq: u64,
        pub last_hash: [u8; 32],
    }
}

impl ChainHead {
    /// The head of an empty log.
    pub const GENESIS: ChainHead = ChainHead {
        next_seq: 0,
        last_hash: [0; 32],
    };

    /// Seals the record that comes after this head, and returns it with the
    /// head after it, without changing anything. For relays that must store
    /// the record before advancing (several relays sharing one log take the
    /// head from the database inside the same transaction).
    pub fn seal_next(
        &self,
        key: &AuditKey,
        rng: &mut impl CryptoRngCore,
        time_unix_ms: u64,
        event: AuditEvent,
    ) -> Result<(SealedAuditRecord, ChainHead), AuditError> {
        let after = self
            .next_seq
            .checked_add(1)
            .ok_or(AuditError::SequenceExhausted)?;
        let record = AuditRecord {
            seq: self.next_seq,
            time_unix_ms,
            prev_hash: self.last_hash,
            event,
        };
        let plaintext = record.to_bytes();
        let sealed = seal(key, rng, record.seq, &plaintext)?;
        let head = ChainHead {
            next_seq: after,
            last_hash: chain_hash_of(&plaintext),
        };
        Ok((sealed, head))
    }
}

impl Default for ChainHead {
    fn default() -> Self {
        Self::GENESIS
    }
}

/// Why a record could not be appended or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    #[error("audit record {seq} cannot be decrypted: it was altered, or the audit key is wrong")]
    Undecryptable { seq: u64 },
    #[error("audit record {seq} decrypts but is not a readable record ({source}); check it with `verify`")]
    Malformed { seq: u64, source: DecodeError },
    #[error("audit record stored as {sealed} contains record {inner}: written by a faulty or hostile key holder")]
    SeqMismatch { sealed: u64, inner: u64 },
    #[error("audit record of {len} bytes exceeds the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("audit log sequence numbers are exhausted; start a new log")]
    SequenceExhausted,
}

/// The appending end of the log, as one relay holds it.
#[derive(Debug)]
pub struct AuditChain {
    key: AuditKey,
    head: ChainHead,
}

impl AuditChain {
    /// An empty log.
    pub fn new(key: AuditKey) -> Self {
        Self::resume(key, ChainHead::GENESIS)
    }

    /// Continues a log from its persisted head (after a restart).
    pub fn resume(key: AuditKey, head: ChainHead) -> Self {
        Self { key, head }
    }

    /// Seals `event` as the next record and advances the chain. If storing the
    /// returned record fails, resume from the previous [`head`](Self::head), or
    /// use [`ChainHead::seal_next`] to advance only once stored.
    pub fn append(
        &mut self,
        rng: &mut impl CryptoRngCore,
        time_unix_ms: u64,
        event: AuditEvent,
    ) -> Result<SealedAuditRecord, AuditError> {
        let (sealed, head) = self.head.seal_next(&self.key, rng, time_unix_ms, event)?;
        self.head = head;
        Ok(sealed)
    }

    pub fn head(&self) -> ChainHead {
        self.head
    }
}

/// Decrypts and decodes one record (for `audit list` and export). This checks
/// the record alone; use [`verify`] to check the chain.
pub fn open_record(key: &AuditKey, sealed: &SealedAuditRecord) -> Result<AuditRecord, AuditError> {
    let plaintext = open(key, sealed)?;
    let record = AuditRecord::from_bytes(&plaintext).map_err(|source| AuditError::Malformed {
        seq: sealed.seq,
        source,
    })?;
    if record.seq != sealed.seq {
        return Err(AuditError::SeqMismatch {
            sealed: sealed.seq,
            inner: record.seq,
        });
    }
    Ok(record)
}

/// `"assent/1 audit" || seq` (big-endian): binds each ciphertext to its position.
fn associated_data(seq: u64) -> [u8; DOMAIN.len() + 8] {
    let mut aad = [0u8; DOMAIN.len() + 8];
    aad[..DOMAIN.len()].copy_from_slice(DOMAIN);
    aad[DOMAIN.len()..].copy_from_slice(&seq.to_be_bytes());
    aad
}

fn seal(
    key: &AuditKey,
    rng: &mut impl CryptoRngCore,
    seq: u64,
    plaintext: &[u8],
) -> Result<SealedAuditRecord, AuditError> {
    let too_large = AuditError::TooLarge {
        len: plaintext.len(),
        max: MAX_SEALED_LEN,
    };
    let mut nonce = [0u8; 24];
    rng.fill_bytes(&mut nonce);
    let aad = associated_data(seq);
    let ciphertext = key
        .cipher()
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| too_large.clone())?;
    let ciphertext = Bytes::new(ciphertext).map_err(|_| too_large)?;
    Ok(SealedAuditRecord {
        seq,
        nonce,
        ciphertext,
    })
}

/// The authenticated plaintext of a sealed record, not yet decoded.
fn open(key: &AuditKey, sealed: &SealedAuditRecord) -> Result<Vec<u8>, AuditError> {
    let aad = associated_data(sealed.seq);
    key.cipher()
        .decrypt(
            XNonce::from_slice(&sealed.nonce),
            Payload {
                msg: sealed.ciphertext.as_slice(),
                aad: &aad,
            },
        )
        .map_err(|_| AuditError::Undecryptable { seq: sealed.seq })
}

/// The chain fields at the front of a record's plaintext; the event after
/// them is left opaque, so the chain verifies whatever events it holds.
struct RecordHeader {
    seq: u64,
    prev_hash: [u8; 32],
}

impl RecordHeader {
    fn parse(plaintext: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(plaintext);
        let seq = r.u64()?;
        let _time_unix_ms = r.u64()?;
        let prev_hash = r.array()?;
        Ok(Self { seq, prev_hash })
    }
}
