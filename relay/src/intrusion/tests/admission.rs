//! Admission control before login (R14): floods are rationed per socket and
//! per address, never answered by refusing the address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::intrusion::{Admission, AdmissionControl, AdmissionLimits, BucketRate, Throttled};

const HOSPITAL: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

fn at(port: u16) -> SocketAddr {
    SocketAddr::new(HOSPITAL, port)
}

fn limits() -> AdmissionLimits {
    AdmissionLimits {
        per_socket: BucketRate {
            per_second: 1,
            burst: 3,
        },
        per_address: BucketRate {
            per_second: 10,
            burst: 20,
        },
        max_unauthenticated: 1000,
        max_unauthenticated_per_address: 500,
        retry_above: 100,
        max_tracked: 1000,
    }
}

/// A validated attempt (Retry no longer possible), as after a Retry round.
fn admit(control: &mut AdmissionControl, from: SocketAddr, now: Instant) -> Admission {
    control.admit(from, true, false, now)
}

#[test]
fn a_flooding_socket_spends_only_its_own_budget_and_neighbours_get_in() {
    let mut control = AdmissionControl::new(limits());
    let now = Instant::now();
    let mut refused = 0;
    for _ in 0..1000 {
        match admit(&mut control, at(40_000), now) {
            Admission::Accept => control.finished(HOSPITAL),
            Admission::Refuse(why) => {
                assert_eq!(why, Throttled::SocketRate);
                refused += 1;
            }
            Admission::Retry => panic!("validated attempts get no Retry"),
        }
    }
    assert_eq!(refused, 997, "the socket keeps only its burst of 3");
    // Every other client behind the same address still gets in.
    for port in 1..=15 {
        assert_eq!(admit(&mut control, at(port), now), Admission::Accept);
    }
    // And the flooder itself gets its share back as the bucket refills.
    let later = now + Duration::from_secs(1);
    assert_eq!(admit(&mut control, at(40_000), later), Admission::Accept);
}

#[test]
fn a_port_rotating_flood_is_bounded_by_the_address_budget_without_a_ban() {
    let mut control = AdmissionControl::new(limits());
    let now = Instant::now();
    let accepted = (1..=1000)
        .filter(|&port| admit(&mut control, at(port), now) == Admission::Accept)
        .count();
    assert_eq!(accepted, 20, "the address burst");
    assert_eq!(
        admit(&mut control, at(2000), now),
        Admission::Refuse(Throttled::AddressRate)
    );
    // Throttled, not banned: a second later the address is served again.
    let later = now + Duration::from_secs(1);
    assert_eq!(admit(&mut control, at(2001), later), Admission::Accept);
}

#[test]
fn unvalidated_addresses_get_a_retry_under_load_and_hold_nothing() {
    let mut control = AdmissionControl::new(AdmissionLimits {
        retry_above: 2,
        ..limits()
    });
    let now = Instant::now();
    // Below the load mark, no Retry round trip is asked for.
    assert_eq!(control.admit(at(1), false, true, now), Admission::Accept);
    assert_eq!(control.admit(at(2), false, true, now), Admission::Accept);
    // Under load: unvalidated attempts must prove their address first...
    assert_eq!(control.admit(at(3), false, true, now), Admission::Retry);
    assert_eq!(control.unauthenticated(), 2, "a Retry holds no slot");
    // ...and once validated they are admitted.
    assert_eq!(control.admit(at(3), true, false, now), Admission::Accept);
}

#[test]
fn unauthenticated_connections_are_bounded_per_address_and_in_total() {
    let mut control = AdmissionControl::new(AdmissionLimits {
        max_unauthenticated: 6,
        max_unauthenticated_per_address: 4,
        ..limits()
    });
    let now = Instant::now();
    for port in 1..=4 {
        assert_eq!(admit(&mut control, at(port), now), Admission::Accept);
    }
    assert_eq!(
        admit(&mut control, at(5), now),
        Admission::Refuse(Throttled::AddressPending)
    );
    let other: SocketAddr = "203.0.113.9:1".parse().unwrap();
    let other2: SocketAddr = "203.0.113.9:2".parse().unwrap();
    let third: SocketAddr = "192.0.2.1:1".parse().unwrap();
    assert_eq!(admit(&mut control, other, now), Admission::Accept);
    assert_eq!(admit(&mut control, other2, now), Admission::Accept);
    assert_eq!(
        admit(&mut control, third, now),
        Admission::Refuse(Throttled::RelayPending)
    );
    // A login (or a closed connection) frees its slot.
    control.finished(HOSPITAL);
    assert_eq!(admit(&mut control, at(6), now), Admission::Accept);
}

#[test]
fn bucket_memory_is_bounded() {
    let mut control = AdmissionControl::new(AdmissionLimits {
        max_tracked: 50,
        ..limits()
    });
    let now = Instant::now();
    for n in 0..5000u32 {
        let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(n)), 1);
        if admit(&mut control, from, now) == Admission::Accept {
            control.finished(from.ip());
        }
    }
    assert!(control.tracked() <= 100, "{}", control.tracked());
}
