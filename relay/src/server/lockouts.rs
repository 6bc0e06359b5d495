//! Exponential lockout at the relay (R6), per viewer identity, per source
//! network and per support session.
//!
//! The store is the one source of truth: every failure is counted by the
//! store's atomic read-modify-write ([`StateStore::update_lockout`]) and every
//! check reads the stored count, so relays (or books) sharing one store add
//! up each other's failures instead of overwriting them.
//!
//! Stored waits are "remaining at the last write", so a per-process cache
//! keeps the `Instant` a wait ends: while the stored count is the one this
//! process last saw, its own deadline applies (waits run out on time); a
//! count moved by someone else is restored from the store with its
//! remaining wait re-applied in full — a wait can lengthen, never reset.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use assent_proto::lockout::{Lockout, LockoutError, LockoutPolicy, LockoutSnapshot};

use super::ServerError;
use crate::store::StateStore;

/// Scopes kept in memory at most; unlocked ones are dropped first (they
/// are in the store and come back on demand).
const MAX_CACHED: usize = 50_000;

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

type Deadlines = Arc<Mutex<HashMap<String, Lockout>>>;

/// Lockouts, counted in the state store, with this process's deadlines.
#[derive(Clone)]
pub struct LockoutBook {
    store: Arc<dyn StateStore>,
    policy: LockoutPolicy,
    deadlines: Deadlines,
}

impl LockoutBook {
    pub fn new(store: Arc<dyn StateStore>, policy: LockoutPolicy) -> Self {
        Self {
            store,
            policy,
            deadlines: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Refuses if any of `scopes` is locked or burned.
    pub async fn check(&self, scopes: &[LockoutScope]) -> Result<(), LockoutError> {
        for scope in scopes {
            let key = scope.key();
            let store = self.store.clone();
            let stored_key = key.clone();
            let stored = tokio::task::spawn_blocking(move || store.load_lockout(&stored_key))
                .await
                .map_err(|e| e.to_string())
                .and_then(|loaded| loaded.map_err(|e| e.to_string()));
            // A store failure must not open the gate: treat it as locked.
            let stored = stored.map_err(|_| LockoutError::Locked {
                remaining: self.policy.base_wait,
                failures: 0,
            })?;
            let now = Instant::now();
            reconcile(&self.deadlines, self.policy, &key, stored, now).check(now)?;
        }
        Ok(())
    }

    /// Counts a failure against each scope, each in one store transaction;
    /// returns the most severe result.
    pub async fn record_failure(
        &self,
        scopes: &[LockoutScope],
    ) -> Result<LockoutError, ServerError> {
        let mut worst: Option<LockoutError> = None;
        for scope in scopes {
            let outcome = self.count_failure(scope.key()).await?;
            worst = Some(match (worst, outcome) {
                (Some(burned @ LockoutError::Burned { .. }), _) => burned,
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
        worst.ok_or_else(|| ServerError::Internal("no lockout scope given".into()))
    }

    async fn count_failure(&self, key: String) -> Result<LockoutError, ServerError> {
        let store = self.store.clone();
        let deadlines = self.deadlines.clone();
        let policy = self.policy;
        tokio::task::spawn_blocking(move || {
            let mut counted: Option<(Lockout, LockoutError)> = None;
            store.update_lockout(&key, &mut |stored| {
                let now = Instant::now();
                let mut lockout = reconcile(&deadlines, policy, &key, stored, now);
                let outcome = lockout.record_failure(now);
                let snapshot = lockout.snapshot(now);
                counted = Some((lockout, outcome));
                snapshot
            })?;
            let (lockout, outcome) = counted.ok_or_else(|| {
                crate::store::StoreError::Database("lockout update did not run".into())
            })?;
            remember(&deadlines, &key, lockout);
            Ok(outcome)
        })
        .await
        .map_err(|e| ServerError::Internal(format!("lockout task failed: {e}")))?
        .map_err(ServerError::Store)
    }
}

/// The lockout `stored` describes: this process's own (with its deadline) if
/// the stored count is the one it last wrote or read, else restored afresh.
fn reconcile(
    deadlines: &Deadlines,
    policy: LockoutPolicy,
    key: &str,
    stored: Option<LockoutSnapshot>,
    now: Instant,
) -> Lockout {
    let Some(stored) = stored else {
        // Cleared (or never failed): nothing of ours may outlive the store.
        deadlines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        return Lockout::new(policy);
    };
    let known = deadlines
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(key)
        .filter(|own| own.failures() == stored.failures && own.is_burned() == stored.burned)
        .cloned();
    match known {
        Some(own) => own,
        None => {
            let restored = Lockout::restore(policy, &stored, now);
            remember(deadlines, key, restored.clone());
            restored
        }
    }
}

fn remember(deadlines: &Deadlines, key: &str, lockout: Lockout) {
    let mut live = deadlines.lock().unwrap_or_else(|p| p.into_inner());
    if live.len() >= MAX_CACHED && !live.contains_key(key) {
        let now = Instant::now();
        live.retain(|_, l| l.check(now).is_err());
        if live.len() >= MAX_CACHED {
            live.clear(); // everything is in the store; reload on demand
        }
    }
    live.insert(key.to_owned(), lockout);
}

#[cfg(test)]
mod tests;
