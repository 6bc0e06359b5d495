//! The running transcript hash both ends sign and bind their keys to.

use sha2::{Digest, Sha256};

#[derive(Clone)]
pub(super) struct Transcript(Sha256);

impl Transcript {
    pub(super) fn new(session_id: &[u8; 32]) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"assent/1 handshake transcript");
        hash.update(session_id);
        Self(hash)
    }

    /// Absorbs one encoded part, length-prefixed so boundaries are unambiguous.
    pub(super) fn absorb(&mut self, part: &[u8]) {
        self.0.update((part.len() as u64).to_be_bytes());
        self.0.update(part);
    }

    /// Hash of everything absorbed so far.
    pub(super) fn hash(&self) -> [u8; 32] {
        self.0.clone().finalize().into()
    }
}
