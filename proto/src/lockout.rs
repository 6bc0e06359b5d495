//! Exponential lockout (R6): each failed password attempt doubles the wait
//! before the next one, up to a cap, and after a bounded number of failures
//! the password is burned. Host and relay both keep one per host session and
//! per viewer identity and source.
//!
//! Time comes from the caller as `Instant`s; the state survives restarts as a
//! [`LockoutSnapshot`], so restarting cannot wipe a lockout.

use std::time::{Duration, Instant};

#[cfg(test)]
mod tests;

/// How hard failures are punished.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LockoutPolicy {
    /// Wait after the first failure; doubled by each further one.
    pub base_wait: Duration,
    /// The longest wait.
    pub max_wait: Duration,
    /// Failures after which the password is burned for good.
    pub burn_after: u32,
}

impl Default for LockoutPolicy {
    /// 5 s, 10 s, 20 s, 40 s, 80 s, then burned at the sixth failure.
    fn default() -> Self {
        Self {
            base_wait: Duration::from_secs(5),
            max_wait: Duration::from_secs(15 * 60),
            burn_after: 6,
        }
    }
}

/// Why an attempt may not go ahead now.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockoutError {
    #[error("password locked for {} s after {}; try again then", secs_ceil(.remaining), failures_text(.failures))]
    Locked { remaining: Duration, failures: u32 },
    #[error("password burned after {}; start a new support request", failures_text(.failures))]
    Burned { failures: u32 },
}

fn secs_ceil(d: &Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn failures_text(failures: &u32) -> String {
    match failures {
        1 => "1 failure".to_owned(),
        n => format!("{n} failures"),
    }
}

/// Lockout state for one password (or one identity and source).
#[derive(Clone, Debug)]
pub struct Lockout {
    policy: LockoutPolicy,
    failures: u32,
    locked_until: Option<Instant>,
    burned: bool,
}

impl Lockout {
    pub fn new(policy: LockoutPolicy) -> Self {
        Self {
            policy,
            failures: 0,
            locked_until: None,
            burned: false,
        }
    }

    /// Whether an attempt may be made at `now`.
    pub fn check(&self, now: Instant) -> Result<(), LockoutError> {
        if self.burned {
            return Err(LockoutError::Burned {
                failures: self.failures,
            });
        }
        match self.remaining(now) {
            Some(remaining) => Err(LockoutError::Locked {
                remaining,
                failures: self.failures,
            }),
            None => Ok(()),
        }
    }

    /// Counts a failed attempt at `now` and returns the state it leads to.
    pub fn record_failure(&mut self, now: Instant) -> LockoutError {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= self.policy.burn_after {
            return self.burn();
        }
        let Some(until) = now.checked_add(self.wait_after(self.failures)) else {
            // A wait beyond what `Instant` can hold is a lock forever.
            return self.burn();
        };
        // Never shorten a lock already in force.
        self.locked_until = Some(self.locked_until.map_or(until, |u| u.max(until)));
        LockoutError::Locked {
            remaining: self.remaining(now).unwrap_or_default(),
            failures: self.failures,
        }
    }

    /// A correct password: the count starts over. A burned password stays
    /// burned; a wait in force still runs out.
    pub fn record_success(&mut self) {
        if !self.burned {
            self.failures = 0;
        }
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    pub fn is_burned(&self) -> bool {
        self.burned
    }

    /// The state to persist, with the wait still to run at `now`.
    pub fn snapshot(&self, now: Instant) -> LockoutSnapshot {
        let remaining = self.remaining(now).unwrap_or_default();
        // Round up so a sub-millisecond remainder is not lost.
        let remaining_ms = remaining.as_nanos().div_ceil(1_000_000);
        LockoutSnapshot {
            failures: self.failures,
            burned: self.burned,
            remaining_wait_ms: u64::try_from(remaining_ms).unwrap_or(u64::MAX),
        }
    }

    /// Rebuilds the state after a restart: failures and burning are kept, and
    /// the remaining wait starts again in full from `now`.
    pub fn restore(policy: LockoutPolicy, snapshot: &LockoutSnapshot, now: Instant) -> Self {
        let mut lockout = Self {
            policy,
            failures: snapshot.failures,
            locked_until: None,
            burned: snapshot.burned,
        };
        // A policy tightened since the snapshot applies at once.
        if lockout.failures >= policy.burn_after && lockout.failures > 0 {
            lockout.burn();
        }
        if !lockout.burned && snapshot.remaining_wait_ms > 0 {
            match now.checked_add(Duration::from_millis(snapshot.remaining_wait_ms)) {
                Some(until) => lockout.locked_until = Some(until),
                None => {
                    lockout.burn();
                }
            }
        }
        lockout
    }

    /// min(base * 2^(failures-1), max).
    fn wait_after(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1);
        1u32.checked_shl(doublings)
            .and_then(|factor| self.policy.base_wait.checked_mul(factor))
            .map_or(self.policy.max_wait, |wait| wait.min(self.policy.max_wait))
    }

    fn remaining(&self, now: Instant) -> Option<Duration> {
        self.locked_until
            .map(|until| until.saturating_duration_since(now))
            .filter(|remaining| !remaining.is_zero())
    }

    fn burn(&mut self) -> LockoutError {
        self.burned = true;
        self.locked_until = None;
        LockoutError::Burned {
            failures: self.failures,
        }
    }
}

/// What a host or relay persists about one lockout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LockoutSnapshot {
    pub failures: u32,
    pub burned: bool,
    /// Wait still to run when the snapshot was taken, in milliseconds.
    pub remaining_wait_ms: u64,
}
