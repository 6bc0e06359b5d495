//! The offline verifier (R12): walks a log from its first record and names
//! the first record that is not what the chain says it should be.
//!
//! Records are checked in the order given, which must be sequence order (the
//! relay's `ORDER BY seq`). Record `n` must be at position `n`, carry `n` in
//! its authenticated header, decrypt under the key and link to record `n - 1`.
//! A deleted tail leaves a valid shorter chain behind; only an anchor (a
//! [`ChainHead`] saved earlier) catches that, or a log rewritten by a key holder.

use std::borrow::Borrow;

use super::{chain_hash_of, open, AuditKey, ChainHead, RecordHeader, SealedAuditRecord};

/// What [`verify`] proved: this many records form one unbroken chain ending at `head`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedChain {
    pub records: u64,
    pub head: ChainHead,
}

/// The first place a log is not what its chain says: record `seq` is missing
/// or wrong. Everything before `seq` verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit record {seq}: {problem}")]
pub struct ChainBreak {
    pub seq: u64,
    pub problem: BreakKind,
}

/// What is wrong at [`ChainBreak::seq`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakKind {
    /// Not in the log; the record found in its place is a later one.
    Missing { found: u64 },
    /// Fails authentication: altered (ciphertext, nonce or position), or sealed
    /// under a different key.
    Undecryptable,
    /// Authentic, but not an audit record: only a faulty key holder writes these.
    Malformed,
    /// Authentic, but sealed as this record while its contents say `inner`.
    SeqMismatch { inner: u64 },
    /// Authentic, but does not link to the record before it: reordered or
    /// substituted from another log under the same key.
    BrokenLink,
    /// Not in the log; an earlier record `found` appears again in its place.
    Duplicate { found: u64 },
    /// The log ends before this record, but the anchor says it runs to
    /// `expected_next - 1`: the tail was cut off.
    TruncatedTail { expected_next: u64 },
    /// The chain disagrees with the anchor here: the log was rewritten by a
    /// key holder after the anchor was taken (or the anchor is from another log).
    HeadMismatch,
}

impl std::fmt::Display for BreakKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing { found } => write!(f, "missing (next record present is {found})"),
            Self::Undecryptable => {
                f.write_str("cannot be decrypted: altered, or sealed under a different audit key")
            }
            Self::Malformed => f.write_str("decrypts but is not an audit record (faulty writer holding the key)"),
            Self::SeqMismatch { inner } => write!(
                f,
                "decrypts to record {inner}: sealed under the wrong number by a key holder"
            ),
            Self::BrokenLink => f.write_str(
                "does not link to the record before it: reordered, or taken from another log",
            ),
            Self::Duplicate { found } => write!(
                f,
                "missing, and record {found} appears again in its place (duplicated or relabelled)"
            ),
            Self::TruncatedTail { expected_next } => write!(
                f,
                "missing: the log ends here but the anchor says it runs to record {}",
                expected_next.saturating_sub(1)
            ),
            Self::HeadMismatch => f.write_str(
                "does not match the anchored chain head: the log was rewritten after the anchor was taken",
            ),
        }
    }
}

/// Verifies a log held in memory or streamed from storage.
///
/// `records` must be the whole log in sequence order. With `expected_head`,
/// the chain must also pass through that head (a later log may have grown
/// past it), which catches a truncated tail or a rewritten log.
pub fn verify<I>(
    key: &AuditKey,
    records: I,
    expected_head: Option<&ChainHead>,
) -> Result<VerifiedChain, ChainBreak>
where
    I: IntoIterator,
    I::Item: Borrow<SealedAuditRecord>,
{
    let mut verifier = ChainVerifier::new(key, expected_head.copied());
    for sealed in records {
        verifier.push(sealed.borrow())?;
    }
    verifier.finish()
}

/// [`verify`] one record at a time, for logs read from storage in pages.
/// After the first break every call returns that break.
#[derive(Debug)]
pub struct ChainVerifier<'k> {
    key: &'k AuditKey,
    anchor: Option<ChainHead>,
    head: ChainHead,
    records: u64,
    broken: Option<ChainBreak>,
}

impl<'k> ChainVerifier<'k> {
    /// Starts at the beginning of the log, with an optional anchor to pass through.
    pub fn new(key: &'k AuditKey, anchor: Option<ChainHead>) -> Self {
        Self {
            key,
            anchor,
            head: ChainHead::GENESIS,
            records: 0,
            broken: None,
        }
    }

    /// Checks the next record of the log.
    pub fn push(&mut self, sealed: &SealedAuditRecord) -> Result<(), ChainBreak> {
        if let Some(broken) = &self.broken {
            return Err(broken.clone());
        }
        let result = self.check(sealed);
        if let Err(broken) = &result {
            self.broken = Some(broken.clone());
        }
        result
    }

    /// Ends the log: checks the anchor was reached.
    pub fn finish(self) -> Result<VerifiedChain, ChainBreak> {
        if let Some(broken) = self.broken {
            return Err(broken);
        }
        if let Some(anchor) = self.anchor {
            let at = self.head.next_seq;
            if at < anchor.next_seq {
                return Err(ChainBreak {
                    seq: at,
                    problem: BreakKind::TruncatedTail {
                        expected_next: anchor.next_seq,
                    },
                });
            }
            // Non-empty anchors were compared when their record passed by.
            if anchor.next_seq == 0 && anchor != ChainHead::GENESIS {
                return Err(ChainBreak {
                    seq: 0,
                    problem: BreakKind::HeadMismatch,
                });
            }
        }
        Ok(VerifiedChain {
            records: self.records,
            head: self.head,
        })
    }

    fn check(&mut self, sealed: &SealedAuditRecord) -> Result<(), ChainBreak> {
        let seq = self.head.next_seq;
        let broken = |problem| ChainBreak { seq, problem };
        // Labels are authenticated below; comparing first locates a relabelled
        // or moved record at the position it disturbs, not where it came from.
        if sealed.seq > seq {
            return Err(broken(BreakKind::Missing { found: sealed.seq }));
        }
        if sealed.seq < seq {
            return Err(broken(BreakKind::Duplicate { found: sealed.seq }));
        }
        let plaintext = open(self.key, sealed).map_err(|_| broken(BreakKind::Undecryptable))?;
        let header = RecordHeader::parse(&plaintext).map_err(|_| broken(BreakKind::Malformed))?;
        if header.seq != seq {
            return Err(broken(BreakKind::SeqMismatch { inner: header.seq }));
        }
        if header.prev_hash != self.head.last_hash {
            return Err(broken(BreakKind::BrokenLink));
        }
        // A record numbered u64::MAX could not have been appended (no next head).
        let next_seq = seq
            .checked_add(1)
            .ok_or_else(|| broken(BreakKind::Malformed))?;
        let head = ChainHead {
            next_seq,
            last_hash: chain_hash_of(&plaintext),
        };
        if let Some(anchor) = self.anchor {
            if anchor.next_seq == next_seq && anchor.last_hash != head.last_hash {
                return Err(broken(BreakKind::HeadMismatch));
            }
        }
        self.head = head;
        self.records += 1;
        Ok(())
    }
}
