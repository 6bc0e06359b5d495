//! Exponential lockout at the relay (R6), per viewer identity, per source
//! network and per support session. State lives in the store, so a restart
//! (or another relay sharing the store) cannot reset it.

use std::sync::Arc;
use std::time::Instant;

use assent_proto::lockout::{Lockout, LockoutError, LockoutPolicy};

use super::ServerError;
use crate::store::StateStore;

/// What a lockout is kept for.
#[derive(Debug, Clone)]
pub enum LockoutScope {
    Viewer(assent_proto::identity::Fingerprint),
    Source(String),
    Session([u8; 32]),
}

impl LockoutScope {
    fn key(&self) -> String {
        match self {
            LockoutScope::Viewer(fp) => format!("viewer:{}", hex(fp.as_bytes())),
            LockoutScope::Source(network) => format!("source:{network}"),
            LockoutScope::Session(id) => format!("session:{}", hex(id)),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lockouts backed by the state store.
#[derive(Clone)]
pub struct LockoutBook {
    store: Arc<dyn StateStore>,
    policy: LockoutPolicy,
}

impl LockoutBook {
    pub fn new(store: Arc<dyn StateStore>, policy: LockoutPolicy) -> Self {
        Self { store, policy }
    }

    /// Refuses if any of `scopes` is locked or burned.
    pub async fn check(&self, scopes: &[LockoutScope]) -> Result<(), LockoutError> {
        for scope in scopes {
            let store = self.store.clone();
            let key = scope.key();
            let snapshot = tokio::task::spawn_blocking(move || store.load_lockout(&key))
                .await
                .ok()
                .and_then(Result::ok)
                .flatten();
            if let Some(snapshot) = snapshot {
                let now = Instant::now();
                Lockout::restore(self.policy, &snapshot, now).check(now)?;
            }
        }
        Ok(())
    }

    /// Counts a failure against each scope; returns the most severe result.
    pub async fn record_failure(
        &self,
        scopes: &[LockoutScope],
    ) -> Result<LockoutError, ServerError> {
        let mut worst: Option<LockoutError> = None;
        for scope in scopes {
            let store = self.store.clone();
            let key = scope.key();
            let policy = self.policy;
            let result = tokio::task::spawn_blocking(move || {
                let mut outcome = None;
                store
                    .update_lockout(&key, &mut |previous| {
                        let now = Instant::now();
                        let mut lockout = match previous {
                            Some(snapshot) => Lockout::restore(policy, &snapshot, now),
                            None => Lockout::new(policy),
                        };
                        outcome = Some(lockout.record_failure(now));
                        lockout.snapshot(now)
                    })
                    .map(|_| outcome)
            })
            .await
            .map_err(|e| ServerError::Internal(format!("lockout task failed: {e}")))?
            .map_err(ServerError::Store)?;
            if let Some(outcome) = result {
                worst = Some(match (worst, outcome) {
                    (Some(LockoutError::Burned { failures }), _) => {
                        LockoutError::Burned { failures }
                    }
                    (_, burned @ LockoutError::Burned { .. }) => burned,
                    (
                        Some(LockoutError::Locked {
                            remaining: a,
                            failures: fa,
                        }),
                        LockoutError::Locked {
                            remaining: b,
                            failures: fb,
                        },
                    ) => LockoutError::Locked {
                        remaining: a.max(b),
                        failures: fa.max(fb),
                    },
                    (None, locked) => locked,
                });
            }
        }
        worst.ok_or_else(|| ServerError::Internal("no lockout scope given".into()))
    }
}
