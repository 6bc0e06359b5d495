//! Exponential lockout at the relay (R6), per viewer identity, per source
//! network and per support session.
//!
//! The live state is kept in memory with `Instant`s (waits run out on time);
//! every change is written through to the store, and a scope not yet in
//! memory is restored from the store with its remaining wait re-applied in
//! full — so a restart can lengthen a wait but never reset it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use assent_proto::lockout::{Lockout, LockoutError, LockoutPolicy};

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

/// Lockouts, live in memory and written through to the state store.
#[derive(Clone)]
pub struct LockoutBook {
    store: Arc<dyn StateStore>,
    policy: LockoutPolicy,
    live: Arc<Mutex<HashMap<String, Lockout>>>,
}

impl LockoutBook {
    pub fn new(store: Arc<dyn StateStore>, policy: LockoutPolicy) -> Self {
        Self {
            store,
            policy,
            live: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Refuses if any of `scopes` is locked or burned.
    pub async fn check(&self, scopes: &[LockoutScope]) -> Result<(), LockoutError> {
        for scope in scopes {
            let key = scope.key();
            // A store failure must not open the gate: treat it as locked.
            let lockout = self.load(&key).await.map_err(|_| LockoutError::Locked {
                remaining: self.policy.base_wait,
                failures: 0,
            })?;
            lockout.check(Instant::now())?;
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
            let key = scope.key();
            let mut lockout = self.load(&key).await?;
            let now = Instant::now();
            let outcome = lockout.record_failure(now);
            let snapshot = lockout.snapshot(now);
            self.remember(&key, lockout);
            let store = self.store.clone();
            tokio::task::spawn_blocking(move || store.save_lockout(&key, &snapshot))
                .await
                .map_err(|e| ServerError::Internal(format!("lockout task failed: {e}")))?
                .map_err(ServerError::Store)?;
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

    /// The live lockout for `key`, restored from the store on first use.
    async fn load(&self, key: &str) -> Result<Lockout, ServerError> {
        if let Some(lockout) = self.live.lock().unwrap_or_else(|p| p.into_inner()).get(key) {
            return Ok(lockout.clone());
        }
        let store = self.store.clone();
        let stored_key = key.to_owned();
        let snapshot = tokio::task::spawn_blocking(move || store.load_lockout(&stored_key))
            .await
            .map_err(|e| ServerError::Internal(format!("lockout task failed: {e}")))?
            .map_err(ServerError::Store)?;
        let lockout = match snapshot {
            Some(snapshot) => Lockout::restore(self.policy, &snapshot, Instant::now()),
            None => Lockout::new(self.policy),
        };
        self.remember(key, lockout.clone());
        Ok(lockout)
    }

    fn remember(&self, key: &str, lockout: Lockout) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if live.len() >= MAX_CACHED && !live.contains_key(key) {
            let now = Instant::now();
            live.retain(|_, l| l.check(now).is_err());
            if live.len() >= MAX_CACHED {
                live.clear(); // everything is in the store; reload on demand
            }
        }
        live.insert(key.to_owned(), lockout);
    }
}
