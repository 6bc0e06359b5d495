//! Intrusion detection (R14): notices abnormal patterns — connection floods,
//! host-ID scanning, password guessing across hosts, malformed frames — and
//! reports them (log, metrics, audit) once per window.
//!
//! Nothing here refuses an address: many instruments and engineers share
//! one hospital address, so floods are answered by rationing unauthenticated
//! work ([`admission`]). A ban remains only for an authenticated engineer
//! identity that scans host IDs or guesses passwords ([`Self::check_viewer`]);
//! a malformed frame ends just its own connection.
//!
//! Pure logic: the caller passes `Instant`s and acts on the returned events.
//! Memory is bounded: at most `max_sources` suspects are tracked, the least
//! recently seen unbanned one is forgotten first.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use assent_proto::identity::Fingerprint;

pub use crate::metrics::IdsEventKind;

pub mod admission;
pub mod throttle;

pub use admission::{Admission, AdmissionControl, AdmissionLimits, Throttled};
pub use throttle::BucketRate;

/// Thresholds; each counts events from one suspect within one window.
#[derive(Debug, Clone)]
pub struct IdsLimits {
    /// New connections per minute from one address above which a flood is
    /// reported (it is throttled by `admission`, never blocked).
    pub connections_per_minute: u32,
    /// Distinct unknown host IDs one engineer may ask for per hour.
    pub unknown_hosts_per_hour: u32,
    /// Failed authentications per hour (across all hosts), per engineer
    /// identity (which is then banned) or per address (reported only).
    pub auth_failures_per_hour: u32,
    /// Distinct hosts one engineer may fail to authenticate against per hour.
    pub hosts_failed_per_hour: u32,
    /// Malformed or oversized frames per hour from one address (reported).
    pub malformed_frames_per_hour: u32,
    /// How long an engineer identity stays banned after scanning or guessing.
    pub block_for: Duration,
    /// Suspects tracked at once (memory bound).
    pub max_sources: usize,
    /// Budgets for connections before login.
    pub admission: AdmissionLimits,
}

impl Default for IdsLimits {
    fn default() -> Self {
        Self {
            connections_per_minute: 120,
            unknown_hosts_per_hour: 5,
            auth_failures_per_hour: 20,
            hosts_failed_per_hour: 3,
            malformed_frames_per_hour: 10,
            block_for: Duration::from_secs(15 * 60),
            max_sources: 100_000,
            admission: AdmissionLimits::default(),
        }
    }
}

/// Who a detection is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suspect {
    /// An address: reported, throttled, never banned.
    Address(IpAddr),
    /// A logged-in engineer identity: may be banned.
    Viewer(Fingerprint),
}

/// A detection, with the ban it led to if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdsEvent {
    pub kind: IdsEventKind,
    /// Where it came from.
    pub source: IpAddr,
    pub detail: String,
    /// The engineer identity banned and until when (None: reported only).
    pub banned: Option<(Fingerprint, Instant)>,
}

/// The identity may not do anything until then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("engineer identity blocked for {} s after suspicious activity", .remaining.as_secs().max(1))]
pub struct Blocked {
    pub remaining: Duration,
}

/// A fixed-window counter.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

impl Window {
    fn new(now: Instant) -> Self {
        Self {
            started: now,
            count: 0,
        }
    }

    /// Counts one event; returns the count within the current window.
    fn hit(&mut self, now: Instant, length: Duration) -> u32 {
        if now.saturating_duration_since(self.started) >= length {
            *self = Self::new(now);
        }
        self.count = self.count.saturating_add(1);
        self.count
    }
}

#[derive(Debug)]
struct SuspectState {
    last_seen: Instant,
    blocked_until: Option<Instant>,
    connections: Window,
    unknown_hosts: (Window, HashSet<String>),
    failures: Window,
    failed_hosts: (Window, HashSet<String>),
    malformed: Window,
}

impl SuspectState {
    fn new(now: Instant) -> Self {
        Self {
            last_seen: now,
            blocked_until: None,
            connections: Window::new(now),
            unknown_hosts: (Window::new(now), HashSet::new()),
            failures: Window::new(now),
            failed_hosts: (Window::new(now), HashSet::new()),
            malformed: Window::new(now),
        }
    }

    fn banned(&self, now: Instant) -> bool {
        self.blocked_until.is_some_and(|until| until > now)
    }
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
/// Distinct names remembered per suspect and window (memory bound).
const MAX_NAMES: usize = 64;

/// Tracks suspects and raises [`IdsEvent`]s.
#[derive(Debug)]
pub struct IntrusionDetector {
    limits: IdsLimits,
    suspects: HashMap<Suspect, SuspectState>,
}

impl IntrusionDetector {
    pub fn new(limits: IdsLimits) -> Self {
        Self {
            limits,
            suspects: HashMap::new(),
        }
    }

    pub fn limits(&self) -> &IdsLimits {
        &self.limits
    }

    /// Whether the engineer identity `viewer` may act at `now`.
    pub fn check_viewer(&self, viewer: Fingerprint, now: Instant) -> Result<(), Blocked> {
        match self
            .suspects
            .get(&Suspect::Viewer(viewer))
            .and_then(|s| s.blocked_until)
        {
            Some(until) if until > now => Err(Blocked {
                remaining: until - now,
            }),
            _ => Ok(()),
        }
    }

    /// A new connection attempt from `source`: reported once per minute
    /// when over the limit; admission control does the throttling.
    pub fn on_connection(&mut self, source: IpAddr, now: Instant) -> Option<IdsEvent> {
        let limit = self.limits.connections_per_minute;
        let count = self
            .state(Suspect::Address(source), now)
            .connections
            .hit(now, MINUTE);
        (count == limit.saturating_add(1)).then(|| IdsEvent {
            kind: IdsEventKind::ConnectionFlood,
            source,
            detail: format!(
                "more than {limit} connections within a minute; throttled, the address is not blocked"
            ),
            banned: None,
        })
    }

    /// The logged-in engineer `viewer` (from `source`) asked for a host ID
    /// that does not exist or has no open support request.
    pub fn on_unknown_host(
        &mut self,
        viewer: Fingerprint,
        source: IpAddr,
        host_id: &str,
        now: Instant,
    ) -> Option<IdsEvent> {
        let limit = self.limits.unknown_hosts_per_hour;
        let state = self.state(Suspect::Viewer(viewer), now);
        let distinct = distinct_in_window(&mut state.unknown_hosts, host_id, now, HOUR);
        (distinct > limit as usize).then(|| {
            self.ban(
                viewer,
                source,
                now,
                IdsEventKind::HostIdScanning,
                format!("{distinct} unknown host IDs within an hour (limit {limit})"),
            )
        })
    }

    /// A failed authentication from `source` that no identity is known for
    /// (e.g. a refused enrolment): counted per address and reported once
    /// per hour over the limit; never a ban of the address.
    pub fn on_auth_failure(
        &mut self,
        source: IpAddr,
        host_id: &str,
        now: Instant,
    ) -> Option<IdsEvent> {
        let limit = self.limits.auth_failures_per_hour;
        let state = self.state(Suspect::Address(source), now);
        let failures = state.failures.hit(now, HOUR);
        distinct_in_window(&mut state.failed_hosts, host_id, now, HOUR);
        (failures == limit.saturating_add(1)).then(|| IdsEvent {
            kind: IdsEventKind::PasswordGuessing,
            source,
            detail: format!(
                "more than {limit} failed authentications within an hour; throttled, the address is not blocked"
            ),
            banned: None,
        })
    }

    /// A failed password by the engineer `viewer` (from `source`) against
    /// `host_id`: guessing across hosts or too often bans the identity.
    pub fn on_viewer_auth_failure(
        &mut self,
        viewer: Fingerprint,
        source: IpAddr,
        host_id: &str,
        now: Instant,
    ) -> Option<IdsEvent> {
        let failure_limit = self.limits.auth_failures_per_hour;
        let host_limit = self.limits.hosts_failed_per_hour;
        let state = self.state(Suspect::Viewer(viewer), now);
        let failures = state.failures.hit(now, HOUR);
        let hosts = distinct_in_window(&mut state.failed_hosts, host_id, now, HOUR);
        let detail = if hosts > host_limit as usize {
            format!("failed passwords against {hosts} hosts within an hour (limit {host_limit})")
        } else if failures > failure_limit {
            format!("{failures} failed authentications within an hour (limit {failure_limit})")
        } else {
            return None;
        };
        Some(self.ban(viewer, source, now, IdsEventKind::PasswordGuessing, detail))
    }

    /// A malformed or oversized frame from `source`: its connection is
    /// closed; the address is reported once per hour over the limit.
    pub fn on_malformed_frame(&mut self, source: IpAddr, now: Instant) -> Option<IdsEvent> {
        let limit = self.limits.malformed_frames_per_hour;
        let count = self
            .state(Suspect::Address(source), now)
            .malformed
            .hit(now, HOUR);
        (count == limit.saturating_add(1)).then(|| IdsEvent {
            kind: IdsEventKind::MalformedFrames,
            source,
            detail: format!(
                "more than {limit} malformed frames within an hour; each connection was closed, the address is not blocked"
            ),
            banned: None,
        })
    }

    /// Suspects currently tracked (for tests and metrics).
    pub fn tracked_sources(&self) -> usize {
        self.suspects.len()
    }

    fn state(&mut self, suspect: Suspect, now: Instant) -> &mut SuspectState {
        if !self.suspects.contains_key(&suspect) && self.suspects.len() >= self.limits.max_sources {
            self.forget_one(now);
        }
        let state = self
            .suspects
            .entry(suspect)
            .or_insert_with(|| SuspectState::new(now));
        state.last_seen = now;
        state
    }

    /// Forgets the least recently seen suspect that is not banned (or, if
    /// all are, the one whose ban ends first).
    fn forget_one(&mut self, now: Instant) {
        let victim = self
            .suspects
            .iter()
            .min_by_key(|(_, s)| (s.banned(now), s.blocked_until, s.last_seen))
            .map(|(suspect, _)| *suspect);
        if let Some(suspect) = victim {
            self.suspects.remove(&suspect);
        }
    }

    fn ban(
        &mut self,
        viewer: Fingerprint,
        source: IpAddr,
        now: Instant,
        kind: IdsEventKind,
        detail: String,
    ) -> IdsEvent {
        let until = now + self.limits.block_for;
        if let Some(state) = self.suspects.get_mut(&Suspect::Viewer(viewer)) {
            state.blocked_until = Some(state.blocked_until.map_or(until, |u| u.max(until)));
        }
        IdsEvent {
            kind,
            source,
            detail,
            banned: Some((viewer, until)),
        }
    }
}

/// Adds `name` to the window's set; returns how many distinct names it holds.
fn distinct_in_window(
    (window, names): &mut (Window, HashSet<String>),
    name: &str,
    now: Instant,
    length: Duration,
) -> usize {
    if now.saturating_duration_since(window.started) >= length {
        *window = Window::new(now);
        names.clear();
    }
    if names.len() < MAX_NAMES {
        names.insert(name.to_owned());
    }
    names.len()
}

#[cfg(test)]
mod tests;
