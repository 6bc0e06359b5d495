//! Per-capability consent (R10): the technician approves screen view, remote
//! control and file transfer one at a time. Nothing of a capability may flow
//! before its grant, any grant can be revoked at once, and an unanswered
//! prompt is a refusal. The host consults [`SessionConsent::allows`] before
//! every frame or input event; the viewer's view of it is advisory.
//!
//! Time comes from the caller: the shell arms a timer for
//! [`SessionConsent::next_deadline`] and calls [`SessionConsent::expire`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::messages::consent::Capability;

#[cfg(test)]
mod tests;

/// How long the technician has to answer a prompt before it counts as "no".
pub const DEFAULT_PROMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// A set of capabilities: what is granted right now, as the host enforces
/// it and as the viewer last heard of it. One bit per capability code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CapabilitySet(u8);

impl CapabilitySet {
    pub const EMPTY: Self = Self(0);

    fn bit(cap: Capability) -> u8 {
        1 << cap.code()
    }

    /// Whether `cap` is in the set.
    pub fn allows(self, cap: Capability) -> bool {
        self.0 & Self::bit(cap) != 0
    }

    /// Adds (`granted`) or removes `cap`.
    pub fn set(&mut self, cap: Capability, granted: bool) {
        if granted {
            self.0 |= Self::bit(cap);
        } else {
            self.0 &= !Self::bit(cap);
        }
    }

    /// The set with `cap` added or removed.
    pub fn with(mut self, cap: Capability, granted: bool) -> Self {
        self.set(cap, granted);
        self
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The capabilities in the set, in [`Capability::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .iter()
            .copied()
            .filter(move |&cap| self.allows(cap))
    }
}

impl FromIterator<Capability> for CapabilitySet {
    fn from_iter<I: IntoIterator<Item = Capability>>(caps: I) -> Self {
        caps.into_iter()
            .fold(Self::EMPTY, |set, cap| set.with(cap, true))
    }
}

/// Where one capability stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentState {
    NotRequested,
    /// Prompt shown; refused if not answered before `deadline`.
    Requested {
        deadline: Instant,
    },
    Granted,
    Denied(DenyReason),
    Revoked,
}

/// Why a capability was denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenyReason {
    /// The technician said no.
    Refused,
    /// Nobody answered in time.
    TimedOut,
}

/// A change the shell must act on, tell the viewer about and audit (R12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsentDecision {
    pub capability: Capability,
    pub outcome: ConsentOutcome,
}

/// What was decided for a capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentOutcome {
    Granted,
    Denied(DenyReason),
    Revoked,
}

/// An operation that does not fit the capability's current state.
#[derive(thiserror::Error, Debug, PartialEq, Eq)]
pub enum ConsentError {
    #[error("{0} is already awaiting the technician's answer")]
    AlreadyPending(Capability),
    #[error("{0} is already granted")]
    AlreadyGranted(Capability),
    #[error("{0} has no prompt awaiting an answer")]
    NotPending(Capability),
    #[error("{0} is not granted, so there is nothing to revoke")]
    NotGranted(Capability),
}

/// Consent for every capability of one session.
#[derive(Clone, Debug)]
pub struct SessionConsent {
    prompt_timeout: Duration,
    /// Capabilities absent here are `NotRequested`.
    states: BTreeMap<Capability, ConsentState>,
}

impl Default for SessionConsent {
    fn default() -> Self {
        Self::new(DEFAULT_PROMPT_TIMEOUT)
    }
}

impl SessionConsent {
    pub fn new(prompt_timeout: Duration) -> Self {
        Self {
            prompt_timeout,
            states: BTreeMap::new(),
        }
    }

    /// Opens a prompt for `cap` and returns its deadline. Allowed when the
    /// capability was never asked for, was denied, or was revoked.
    pub fn request(&mut self, cap: Capability, now: Instant) -> Result<Instant, ConsentError> {
        match self.state(cap) {
            // A stale prompt stays pending until `expire` reports its
            // timeout, so no denial goes unaudited.
            ConsentState::Requested { .. } => Err(ConsentError::AlreadyPending(cap)),
            ConsentState::Granted => Err(ConsentError::AlreadyGranted(cap)),
            ConsentState::NotRequested | ConsentState::Denied(_) | ConsentState::Revoked => {
                // A timeout too large for `Instant` fails closed: the prompt
                // is already due and times out.
                let deadline = now.checked_add(self.prompt_timeout).unwrap_or(now);
                self.states
                    .insert(cap, ConsentState::Requested { deadline });
                Ok(deadline)
            }
        }
    }

    /// Records the technician's answer. An answer at or after the deadline
    /// is a timeout, never a grant.
    pub fn answer(
        &mut self,
        cap: Capability,
        grant: bool,
        now: Instant,
    ) -> Result<ConsentDecision, ConsentError> {
        let ConsentState::Requested { deadline } = self.state(cap) else {
            return Err(ConsentError::NotPending(cap));
        };
        let outcome = if now >= deadline {
            ConsentOutcome::Denied(DenyReason::TimedOut)
        } else if grant {
            ConsentOutcome::Granted
        } else {
            ConsentOutcome::Denied(DenyReason::Refused)
        };
        Ok(self.decide(cap, outcome))
    }

    /// Withdraws a grant, effective immediately.
    pub fn revoke(&mut self, cap: Capability) -> Result<ConsentDecision, ConsentError> {
        match self.state(cap) {
            ConsentState::Granted => Ok(self.decide(cap, ConsentOutcome::Revoked)),
            _ => Err(ConsentError::NotGranted(cap)),
        }
    }

    /// The technician's "stop everything": revokes every grant and refuses
    /// every open prompt.
    pub fn revoke_all(&mut self) -> Vec<ConsentDecision> {
        let caps: Vec<_> = self.states.keys().copied().collect();
        caps.into_iter()
            .filter_map(|cap| match self.state(cap) {
                ConsentState::Granted => Some(self.decide(cap, ConsentOutcome::Revoked)),
                ConsentState::Requested { .. } => {
                    Some(self.decide(cap, ConsentOutcome::Denied(DenyReason::Refused)))
                }
                _ => None,
            })
            .collect()
    }

    /// Turns every prompt whose deadline has passed into a timeout denial.
    pub fn expire(&mut self, now: Instant) -> Vec<ConsentDecision> {
        let due: Vec<_> = self
            .states
            .iter()
            .filter(|(_, state)| {
                matches!(state, ConsentState::Requested { deadline } if now >= *deadline)
            })
            .map(|(cap, _)| *cap)
            .collect();
        due.into_iter()
            .map(|cap| self.decide(cap, ConsentOutcome::Denied(DenyReason::TimedOut)))
            .collect()
    }

    /// The earliest deadline of an open prompt, for the shell's timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.states
            .values()
            .filter_map(|state| match state {
                ConsentState::Requested { deadline } => Some(*deadline),
                _ => None,
            })
            .min()
    }

    /// Whether `cap` may flow now: only after a grant that has not been
    /// revoked, never while a prompt is open.
    pub fn allows(&self, cap: Capability, _now: Instant) -> bool {
        self.state(cap) == ConsentState::Granted
    }

    pub fn state(&self, cap: Capability) -> ConsentState {
        self.states
            .get(&cap)
            .copied()
            .unwrap_or(ConsentState::NotRequested)
    }

    fn decide(&mut self, cap: Capability, outcome: ConsentOutcome) -> ConsentDecision {
        let state = match outcome {
            ConsentOutcome::Granted => ConsentState::Granted,
            ConsentOutcome::Denied(reason) => ConsentState::Denied(reason),
            ConsentOutcome::Revoked => ConsentState::Revoked,
        };
        self.states.insert(cap, state);
        ConsentDecision {
            capability: cap,
            outcome,
        }
    }
}
