//! End-to-end record layer (R3): ChaCha20-Poly1305 records between host and
//! viewer, strict in-order replay defence, and deterministic rekeying.
//!
//! A record on the wire is `seq (u64 BE) || ciphertext || 16-byte tag`. The
//! nonce is `0u32 || seq`; the AAD is the record's [`RecordBinding`] (channel
//! and direction) followed by the 8-byte sequence header. Records ride
//! one QUIC stream per channel, so they arrive in order: anything but the next
//! sequence number is an attack or a bug, and kills the channel. After
//! [`RekeyPolicy`] records or bytes under one key, both ends derive the next key
//! from the current one and erase the old one, without signalling.

use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce, Tag};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::wire::{MAX_RECORD_PLAINTEXT, RECORD_OVERHEAD};

#[cfg(test)]
mod tests;

/// Length of the plaintext sequence-number header.
pub const SEQ_LEN: usize = 8;
/// Length of the Poly1305 tag closing every record.
pub const TAG_LEN: usize = 16;
/// HKDF info string for deriving the next epoch's key.
const REKEY_INFO: &[u8] = b"assent/1 rekey";

/// A 256-bit record key for one direction of one channel. Produced by the
/// handshake's key schedule; erased on drop.
pub struct TrafficKey(Zeroizing<[u8; 32]>);

impl TrafficKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The next epoch's key: HKDF-SHA256-Expand(prk = this key,
    /// info = "assent/1 rekey", L = 32).
    fn next(&self) -> TrafficKey {
        // For L = 32, HKDF-Expand is a single HMAC(prk, info || 0x01). HMAC
        // zero-pads keys shorter than its 64-byte block (RFC 2104), so keying
        // it with the padded block is the same function, and infallible
        // (`rekey_is_hkdf_expand` checks it against the hkdf crate).
        let mut block = Zeroizing::new([0u8; 64]);
        block[..32].copy_from_slice(&self.0[..]);
        let mut mac = <Hmac<Sha256> as KeyInit>::new((&*block).into());
        mac.update(REKEY_INFO);
        mac.update(&[1]);
        let mut next = Zeroizing::new([0u8; 32]);
        next.copy_from_slice(&mac.finalize().into_bytes());
        TrafficKey(next)
    }
}

impl std::fmt::Debug for TrafficKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TrafficKey(<redacted>)")
    }
}

/// The channel and direction a record stream belongs to, authenticated as
/// associated data of every record (R3, R21): a record moved by the relay to
/// another channel or direction fails to open even if the keys matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordBinding([u8; BINDING_LEN]);

/// Length of a [`RecordBinding`] in the associated data.
const BINDING_LEN: usize = 2;

impl RecordBinding {
    /// `channel` and `direction` are the wire codes the key schedule assigns.
    pub const fn new(channel: u8, direction: u8) -> Self {
        Self([channel, direction])
    }

    fn aad(self, header: &[u8; SEQ_LEN]) -> [u8; BINDING_LEN + SEQ_LEN] {
        let mut aad = [0u8; BINDING_LEN + SEQ_LEN];
        aad[..BINDING_LEN].copy_from_slice(&self.0);
        aad[BINDING_LEN..].copy_from_slice(header);
        aad
    }
}

/// When to move to the next key. Both ends must use the same policy.
#[derive(Clone, Copy, Debug)]
pub struct RekeyPolicy {
    /// Records sealed under one key before rekeying.
    pub max_records: u64,
    /// Plaintext bytes sealed under one key before rekeying.
    pub max_bytes: u64,
}

impl Default for RekeyPolicy {
    /// 2^24 records or 16 GiB, far inside ChaCha20-Poly1305's safe limits.
    fn default() -> Self {
        Self {
            max_records: 1 << 24,
            max_bytes: 1 << 34,
        }
    }
}

/// Why a record could not be sealed or opened. Every opening error is fatal
/// for the channel: the shell closes it and the session reconnects.
#[derive(thiserror::Error, Debug, PartialEq, Eq)]
pub enum RecordError {
    #[error("record {seq} replayed (expected {expected}); channel closed")]
    Replayed { seq: u64, expected: u64 },
    #[error("record {seq} out of order (expected {expected}); channel closed")]
    OutOfOrder { seq: u64, expected: u64 },
    #[error("record of {len} bytes is shorter than its {RECORD_OVERHEAD}-byte header and tag")]
    Truncated { len: usize },
    #[error("record {seq} failed authentication (tampered with, or wrong key); channel closed")]
    Tampered { seq: u64 },
    #[error("record plaintext of {len} bytes exceeds the limit of {max}; split it")]
    TooLarge { len: usize, max: usize },
    #[error("channel already closed by an earlier bad record; reconnect")]
    ChannelDead,
    #[error("record sequence numbers exhausted; reconnect for fresh keys")]
    SequenceExhausted,
}

/// The key in use and how much it has protected; rekeys by the policy.
struct Epoch {
    key: TrafficKey,
    cipher: ChaCha20Poly1305,
    policy: RekeyPolicy,
    number: u32,
    records: u64,
    bytes: u64,
}

impl Epoch {
    fn new(key: TrafficKey, policy: RekeyPolicy) -> Self {
        let cipher = ChaCha20Poly1305::new((&*key.0).into());
        Self {
            key,
            cipher,
            policy,
            number: 0,
            records: 0,
            bytes: 0,
        }
    }

    /// Counts one record; moves to the next key when the policy says so.
    /// Sealer and opener call this after the same records, so they stay in step.
    fn count(&mut self, plaintext_len: usize) {
        self.records += 1;
        self.bytes = self.bytes.saturating_add(plaintext_len as u64);
        if self.records >= self.policy.max_records || self.bytes >= self.policy.max_bytes {
            // Replacing the fields drops (and so erases) the old key and cipher.
            self.key = self.key.next();
            self.cipher = ChaCha20Poly1305::new((&*self.key.0).into());
            self.number = self.number.saturating_add(1);
            self.records = 0;
            self.bytes = 0;
        }
    }
}

fn nonce(seq: u64) -> Nonce {
    let mut nonce = Nonce::default();
    nonce[4..].copy_from_slice(&seq.to_be_bytes());
    nonce
}

/// Seals outgoing records for one direction of one channel.
/// Not `Clone`: two sealers under one key would reuse its nonces.
pub struct RecordSealer {
    epoch: Epoch,
    binding: RecordBinding,
    next_seq: u64,
}

impl RecordSealer {
    pub fn new(key: TrafficKey, binding: RecordBinding, policy: RekeyPolicy) -> Self {
        Self {
            epoch: Epoch::new(key, policy),
            binding,
            next_seq: 0,
        }
    }

    /// Appends one sealed record carrying `plaintext` to `out`. On error
    /// nothing is appended and the sealer is unchanged.
    pub fn seal(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), RecordError> {
        let too_large = RecordError::TooLarge {
            len: plaintext.len(),
            max: MAX_RECORD_PLAINTEXT,
        };
        if plaintext.len() > MAX_RECORD_PLAINTEXT {
            return Err(too_large);
        }
        let seq = self.next_seq;
        // u64::MAX is never used, so the opener's "next" is always representable.
        if seq == u64::MAX {
            return Err(RecordError::SequenceExhausted);
        }
        let header = seq.to_be_bytes();
        let start = out.len();
        out.reserve(RECORD_OVERHEAD + plaintext.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(plaintext);
        let body = &mut out[start + SEQ_LEN..];
        match self.epoch.cipher.encrypt_in_place_detached(
            &nonce(seq),
            &self.binding.aad(&header),
            body,
        ) {
            Ok(tag) => out.extend_from_slice(&tag),
            Err(_) => {
                // Only refused beyond 256 GiB, far above MAX_RECORD_PLAINTEXT.
                out.truncate(start);
                return Err(too_large);
            }
        }
        self.next_seq = seq + 1;
        self.epoch.count(plaintext.len());
        Ok(())
    }

    /// Rekeys so far (for tests and diagnostics).
    pub fn epoch(&self) -> u32 {
        self.epoch.number
    }
}

impl std::fmt::Debug for RecordSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordSealer")
            .field("next_seq", &self.next_seq)
            .field("epoch", &self.epoch.number)
            .finish_non_exhaustive()
    }
}

/// Opens incoming records for one direction of one channel, in order only.
pub struct RecordOpener {
    epoch: Epoch,
    binding: RecordBinding,
    next_seq: u64,
    dead: bool,
}

impl RecordOpener {
    pub fn new(key: TrafficKey, binding: RecordBinding, policy: RekeyPolicy) -> Self {
        Self {
            epoch: Epoch::new(key, policy),
            binding,
            next_seq: 0,
            dead: false,
        }
    }

    /// Decrypts `record` in place and returns its plaintext. The sequence
    /// number is checked before any decryption. Any error kills the opener:
    /// every later call returns [`RecordError::ChannelDead`].
    pub fn open<'a>(&mut self, record: &'a mut [u8]) -> Result<&'a [u8], RecordError> {
        if self.dead {
            return Err(RecordError::ChannelDead);
        }
        let opened = self.open_in_order(record);
        if opened.is_err() {
            self.dead = true;
        }
        opened
    }

    fn open_in_order<'a>(&mut self, record: &'a mut [u8]) -> Result<&'a [u8], RecordError> {
        let len = record.len();
        let (header, rest) = record
            .split_first_chunk_mut::<SEQ_LEN>()
            .ok_or(RecordError::Truncated { len })?;
        let (body, tag) = rest
            .split_last_chunk_mut::<TAG_LEN>()
            .ok_or(RecordError::Truncated { len })?;
        let seq = u64::from_be_bytes(*header);
        let expected = self.next_seq;
        if expected == u64::MAX {
            return Err(RecordError::SequenceExhausted);
        }
        if seq < expected {
            return Err(RecordError::Replayed { seq, expected });
        }
        if seq > expected {
            return Err(RecordError::OutOfOrder { seq, expected });
        }
        if body.len() > MAX_RECORD_PLAINTEXT {
            return Err(RecordError::TooLarge {
                len: body.len(),
                max: MAX_RECORD_PLAINTEXT,
            });
        }
        self.epoch
            .cipher
            .decrypt_in_place_detached(
                &nonce(seq),
                &self.binding.aad(header),
                body,
                &Tag::from(*tag),
            )
            .map_err(|_| RecordError::Tampered { seq })?;
        self.next_seq = seq + 1;
        self.epoch.count(body.len());
        Ok(body)
    }

    /// Rekeys so far (for tests and diagnostics).
    pub fn epoch(&self) -> u32 {
        self.epoch.number
    }
}

impl std::fmt::Debug for RecordOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordOpener")
            .field("next_seq", &self.next_seq)
            .field("epoch", &self.epoch.number)
            .field("dead", &self.dead)
            .finish_non_exhaustive()
    }
}
