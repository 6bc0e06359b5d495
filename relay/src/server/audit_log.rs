//! The relay's audit trail (R12): every event is sealed into the hash chain
//! and committed durably before the action it records is acknowledged.

use std::sync::Arc;

use assent_proto::audit::AuditKey;
use assent_proto::messages::audit_event::AuditEvent;
use rand_core::OsRng;

use super::{now_unix_ms, ServerError};
use crate::store::StateStore;

/// Appends to the sealed chain in the state store.
#[derive(Clone)]
pub struct AuditLog {
    store: Arc<dyn StateStore>,
    key: AuditKey,
}

impl AuditLog {
    pub fn new(store: Arc<dyn StateStore>, key: AuditKey) -> Self {
        Self { store, key }
    }

    /// Records `event` at the relay's clock; returns once it is on disk.
    /// Always the relay's time, never a client's claim (R21).
    pub async fn record(&self, event: AuditEvent) -> Result<u64, ServerError> {
        let time_unix_ms = now_unix_ms();
        let store = self.store.clone();
        let key = self.key.clone();
        let kind = event.kind();
        let sealed = tokio::task::spawn_blocking(move || {
            store.append_audit(&mut |head| {
                head.seal_next(&key, &mut OsRng, time_unix_ms, event.clone())
            })
        })
        .await
        .map_err(|e| ServerError::Audit(format!("audit task failed: {e}")))?
        .map_err(|e| ServerError::Audit(e.to_string()))?;
        tracing::debug!(seq = sealed.seq, kind, "audited");
        Ok(sealed.seq)
    }
}
