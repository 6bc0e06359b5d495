//! A grant checked at the moment of sealing (R10): screen frames and file
//! chunks are sealed only while their capability is granted, and a revoke
//! returns only once nothing more can be sealed under the old grant.
//!
//! The gate is the session's grants channel itself. [`SealGate`] checks the
//! grant and seals while holding the channel's read lock; a revoke is a
//! `watch::Sender::send_modify` (or `send_replace`), which takes the write
//! lock, so it waits for the one seal in progress and every later check
//! sees the revoke (tokio documents that outstanding borrows block the
//! sender). No second flag can disagree with the grants, and
//! `session::Gates::set` needs nothing beyond the grants update it does.

use assent_proto::messages::consent::Capability;
use tokio::sync::watch;

use assent_proto::consent::CapabilitySet;

/// One capability's grant, for the task that seals what it allows.
#[derive(Clone)]
pub struct SealGate {
    grants: watch::Receiver<CapabilitySet>,
    capability: Capability,
}

impl SealGate {
    pub fn new(grants: watch::Receiver<CapabilitySet>, capability: Capability) -> Self {
        Self { grants, capability }
    }

    /// Whether the capability is granted now (it may be revoked at once).
    pub fn is_granted(&self) -> bool {
        self.grants.borrow().allows(self.capability)
    }

    /// Runs `seal` only while the capability is granted, holding the grant
    /// meanwhile: a revoke waits until `seal` returns. Keep `seal` short
    /// (one record) and never touch the grants inside it: it blocks the
    /// revoke, and a second read lock on this thread could deadlock.
    pub fn seal_if_granted<R>(&self, seal: impl FnOnce() -> R) -> Option<R> {
        let grants = self.grants.borrow();
        if !grants.allows(self.capability) {
            return None;
        }
        let sealed = seal();
        drop(grants);
        Some(sealed)
    }
}

/// The file exchange seals each chunk through this (R10).
#[cfg(feature = "file-transfer")]
impl assent_net::file_exchange::TransferPermission for SealGate {
    fn while_allowed(&self, step: &mut dyn FnMut()) -> bool {
        self.seal_if_granted(step).is_some()
    }
}
