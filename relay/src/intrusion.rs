//! Intrusion detection (R14): notices abnormal patterns per source —
//! connection floods, host-ID scanning, password guessing across hosts,
//! malformed frames — and blocks the source for a while.
//!
//! Pure logic: the caller passes `Instant`s and acts on the returned events
//! (log, count, audit, refuse). Memory is bounded: at most `max_sources`
//! sources are tracked, the least recently seen is forgotten first.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub use crate::metrics::IdsEventKind;

/// Thresholds; each counts events from one source within one window.
#[derive(Debug, Clone)]
pub struct IdsLimits {
    /// New connections per minute.
    pub connections_per_minute: u32,
    /// Distinct unknown host IDs asked for per hour.
    pub unknown_hosts_per_hour: u32,
    /// Failed authentications per hour (across all hosts).
    pub auth_failures_per_hour: u32,
    /// Distinct hosts a source failed to authenticate against per hour.
    pub hosts_failed_per_hour: u32,
    /// Malformed or oversized frames per hour.
    pub malformed_frames_per_hour: u32,
    /// How long a source stays blocked after an event.
    pub block_for: Duration,
    /// Sources tracked at once (memory bound).
    pub max_sources: usize,
}

impl Default for IdsLimits {
    fn default() -> Self {
        Self {
            connections_per_minute: 60,
            unknown_hosts_per_hour: 5,
            auth_failures_per_hour: 20,
            hosts_failed_per_hour: 3,
            malformed_frames_per_hour: 10,
            block_for: Duration::from_secs(15 * 60),
            max_sources: 100_000,
        }
    }
}

/// A detection: the source is now blocked until `blocked_until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdsEvent {
    pub kind: IdsEventKind,
    pub source: IpAddr,
    pub detail: String,
    pub blocked_until: Instant,
}

/// The source may not do anything until then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("source blocked for {} s after suspicious activity", .remaining.as_secs().max(1))]
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
struct SourceState {
    last_seen: Instant,
    blocked_until: Option<Instant>,
    connections: Window,
    unknown_hosts: (Window, HashSet<String>),
    failures: Window,
    failed_hosts: (Window, HashSet<String>),
    malformed: Window,
}

impl SourceState {
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
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
/// Distinct names remembered per source and window (memory bound).
const MAX_NAMES: usize = 64;

/// Tracks sources and raises [`IdsEvent`]s.
#[derive(Debug)]
pub struct IntrusionDetector {
    limits: IdsLimits,
    sources: HashMap<IpAddr, SourceState>,
}

impl IntrusionDetector {
    pub fn new(limits: IdsLimits) -> Self {
        Self {
            limits,
            sources: HashMap::new(),
        }
    }

    /// Whether `source` may proceed at `now`.
    pub fn check(&self, source: IpAddr, now: Instant) -> Result<(), Blocked> {
        match self.sources.get(&source).and_then(|s| s.blocked_until) {
            Some(until) if until > now => Err(Blocked {
                remaining: until - now,
            }),
            _ => Ok(()),
        }
    }

    /// A new connection from `source`.
    pub fn on_connection(&mut self, source: IpAddr, now: Instant) -> Option<IdsEvent> {
        let limit = self.limits.connections_per_minute;
        let state = self.state(source, now);
        let count = state.connections.hit(now, MINUTE);
        (count > limit).then(|| {
            self.block(
                source,
                now,
                IdsEventKind::ConnectionFlood,
                format!("{count} connections within a minute (limit {limit})"),
            )
        })
    }

    /// A viewer from `source` asked for a host ID that does not exist or has
    /// no open support request.
    pub fn on_unknown_host(
        &mut self,
        source: IpAddr,
        host_id: &str,
        now: Instant,
    ) -> Option<IdsEvent> {
        let limit = self.limits.unknown_hosts_per_hour;
        let state = self.state(source, now);
        let distinct = distinct_in_window(&mut state.unknown_hosts, host_id, now, HOUR);
        (distinct > limit as usize).then(|| {
            self.block(
                source,
                now,
                IdsEventKind::HostIdScanning,
                format!("{distinct} unknown host IDs within an hour (limit {limit})"),
            )
        })
    }

    /// A failed authentication by a viewer from `source` against `host_id`.
    pub fn on_auth_failure(
        &mut self,
        source: IpAddr,
        host_id: &str,
        now: Instant,
    ) -> Option<IdsEvent> {
        let failure_limit = self.limits.auth_failures_per_hour;
        let host_limit = self.limits.hosts_failed_per_hour;
        let state = self.state(source, now);
        let failures = state.failures.hit(now, HOUR);
        let hosts = distinct_in_window(&mut state.failed_hosts, host_id, now, HOUR);
        if hosts > host_limit as usize {
            return Some(self.block(
                source,
                now,
                IdsEventKind::PasswordGuessing,
                format!(
                    "failed passwords against {hosts} hosts within an hour (limit {host_limit})"
                ),
            ));
        }
        (failures > failure_limit).then(|| {
            self.block(
                source,
                now,
                IdsEventKind::PasswordGuessing,
                format!("{failures} failed authentications within an hour (limit {failure_limit})"),
            )
        })
    }

    /// A malformed or oversized frame from `source`.
    pub fn on_malformed_frame(&mut self, source: IpAddr, now: Instant) -> Option<IdsEvent> {
        let limit = self.limits.malformed_frames_per_hour;
        let state = self.state(source, now);
        let count = state.malformed.hit(now, HOUR);
        (count > limit).then(|| {
            self.block(
                source,
                now,
                IdsEventKind::MalformedFrames,
                format!("{count} malformed frames within an hour (limit {limit})"),
            )
        })
    }

    /// Sources currently tracked (for tests and metrics).
    pub fn tracked_sources(&self) -> usize {
        self.sources.len()
    }

    fn state(&mut self, source: IpAddr, now: Instant) -> &mut SourceState {
        if !self.sources.contains_key(&source) && self.sources.len() >= self.limits.max_sources {
            self.forget_one(now);
        }
        let state = self
            .sources
            .entry(source)
            .or_insert_with(|| SourceState::new(now));
        state.last_seen = now;
        state
    }

    /// Forgets the least recently seen source that is not blocked (or, if all
    /// are blocked, the one whose block ends first).
    fn forget_one(&mut self, now: Instant) {
        let victim = self
            .sources
            .iter()
            .min_by_key(|(_, s)| {
                let blocked = s.blocked_until.is_some_and(|until| until > now);
                (blocked, s.blocked_until, s.last_seen)
            })
            .map(|(ip, _)| *ip);
        if let Some(ip) = victim {
            self.sources.remove(&ip);
        }
    }

    fn block(
        &mut self,
        source: IpAddr,
        now: Instant,
        kind: IdsEventKind,
        detail: String,
    ) -> IdsEvent {
        let until = now + self.limits.block_for;
        if let Some(state) = self.sources.get_mut(&source) {
            state.blocked_until = Some(state.blocked_until.map_or(until, |u| u.max(until)));
        }
        IdsEvent {
            kind,
            source,
            detail,
            blocked_until: until,
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
