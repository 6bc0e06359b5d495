//! Admission of new QUIC connections before anyone has logged in (R14).
//!
//! A flood is answered by rationing unauthenticated work, never by refusing
//! a whole address: a hospital puts many instruments and engineers behind
//! one address, and one bad client there must not deny support to the rest.
//!
//! - Each client socket (address and port) has a small token bucket, so one
//!   flooding client is held to its own share however fast it sends.
//! - Each address has a larger bucket, which bounds what a flooder rotating
//!   source ports can take; its neighbours are slowed, not banned.
//! - Connections not yet logged in are bounded in total and per address
//!   (bounded pending work); above a load mark, addresses QUIC has not
//!   validated are sent a stateless Retry first, so spoofed sources cost a
//!   packet and hold nothing.
//!
//! Once logged in, a connection leaves this budget: established hosts and
//! engineers are never touched by it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::throttle::{BucketRate, KeyedBuckets};

/// Bounds for [`AdmissionControl`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Handshakes one client socket (address and port) may start.
    pub per_socket: BucketRate,
    /// Handshakes one address may start, all its sockets together.
    pub per_address: BucketRate,
    /// Connections not yet logged in, in total.
    pub max_unauthenticated: usize,
    /// Connections not yet logged in from one address.
    pub max_unauthenticated_per_address: usize,
    /// Above this many unauthenticated connections, unvalidated addresses
    /// must answer a Retry before they get any state.
    pub retry_above: usize,
    /// Buckets kept at once (memory bound), per layer.
    pub max_tracked: usize,
}

impl Default for AdmissionLimits {
    fn default() -> Self {
        Self {
            per_socket: BucketRate {
                per_second: 2,
                burst: 20,
            },
            per_address: BucketRate {
                per_second: 50,
                burst: 500,
            },
            max_unauthenticated: 4096,
            max_unauthenticated_per_address: 512,
            retry_above: 256,
            max_tracked: 20_000,
        }
    }
}

/// What to do with a new connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead with the handshake; call [`AdmissionControl::finished`] with
    /// the address once the connection logs in or ends.
    Accept,
    /// Send a stateless Retry (address not validated, relay under load or
    /// the budget spent): costs us one packet.
    Retry,
    /// Refuse this attempt (not the address): `why` is for logs and metrics.
    Refuse(Throttled),
}

/// Which budget a refused attempt ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    SocketRate,
    AddressRate,
    AddressPending,
    RelayPending,
}

impl Throttled {
    pub fn label(self) -> &'static str {
        match self {
            Throttled::SocketRate => "client socket handshake rate",
            Throttled::AddressRate => "address handshake rate",
            Throttled::AddressPending => "unauthenticated connections from the address",
            Throttled::RelayPending => "unauthenticated connections at the relay",
        }
    }
}

/// The admission budgets and the count of connections still unauthenticated.
#[derive(Debug)]
pub struct AdmissionControl {
    limits: AdmissionLimits,
    sockets: KeyedBuckets<SocketAddr>,
    addresses: KeyedBuckets<IpAddr>,
    pending: HashMap<IpAddr, usize>,
    pending_total: usize,
}

impl AdmissionControl {
    pub fn new(limits: AdmissionLimits) -> Self {
        Self {
            sockets: KeyedBuckets::new(limits.per_socket, limits.max_tracked),
            addresses: KeyedBuckets::new(limits.per_address, limits.max_tracked),
            pending: HashMap::new(),
            pending_total: 0,
            limits,
        }
    }

    /// Decides on an attempt from `remote` (its IP already canonical);
    /// `validated` is QUIC's `remote_address_validated`, `may_retry` whether
    /// a Retry is still possible for it.
    pub fn admit(
        &mut self,
        remote: SocketAddr,
        validated: bool,
        may_retry: bool,
        now: Instant,
    ) -> Admission {
        let ip = remote.ip();
        let retry_possible = !validated && may_retry;
        if self.pending_total >= self.limits.max_unauthenticated {
            return self.retry_or(retry_possible, Throttled::RelayPending);
        }
        let from_address = self.pending.get(&ip).copied().unwrap_or(0);
        if from_address >= self.limits.max_unauthenticated_per_address {
            return self.retry_or(retry_possible, Throttled::AddressPending);
        }
        if retry_possible && self.pending_total >= self.limits.retry_above {
            return Admission::Retry;
        }
        // The socket's share first, so a single flooder spends only its own.
        if self.sockets.take(remote, now).is_err() {
            return self.retry_or(retry_possible, Throttled::SocketRate);
        }
        if self.addresses.take(ip, now).is_err() {
            return self.retry_or(retry_possible, Throttled::AddressRate);
        }
        *self.pending.entry(ip).or_insert(0) += 1;
        self.pending_total += 1;
        Admission::Accept
    }

    /// An accepted connection from `ip` logged in or ended: it no longer
    /// counts as unauthenticated.
    pub fn finished(&mut self, ip: IpAddr) {
        if let Some(count) = self.pending.get_mut(&ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.pending.remove(&ip);
            }
            self.pending_total = self.pending_total.saturating_sub(1);
        }
    }

    /// Connections accepted and not yet logged in or ended.
    pub fn unauthenticated(&self) -> usize {
        self.pending_total
    }

    /// Buckets held, both layers (memory bound).
    pub fn tracked(&self) -> usize {
        self.sockets.tracked() + self.addresses.tracked()
    }

    // A Retry costs a flooder a round trip and us nothing; a validated
    // address over budget is refused for this one attempt.
    fn retry_or(&self, retry_possible: bool, why: Throttled) -> Admission {
        if retry_possible {
            Admission::Retry
        } else {
            Admission::Refuse(why)
        }
    }
}
