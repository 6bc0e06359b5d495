use super::*;
use std::net::Ipv4Addr;

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

fn limits() -> IdsLimits {
    IdsLimits {
        connections_per_minute: 3,
        unknown_hosts_per_hour: 2,
        auth_failures_per_hour: 4,
        hosts_failed_per_hour: 2,
        malformed_frames_per_hour: 2,
        block_for: Duration::from_secs(60),
        max_sources: 8,
    }
}

#[test]
fn connection_flood_blocks_the_source_and_only_that_source() {
    let mut ids = IntrusionDetector::new(limits());
    let now = Instant::now();
    for _ in 0..3 {
        assert_eq!(ids.on_connection(ip(1), now), None);
    }
    let event = ids
        .on_connection(ip(1), now)
        .expect("fourth connection is a flood");
    assert_eq!(event.kind, IdsEventKind::ConnectionFlood);
    assert!(ids.check(ip(1), now).is_err());
    assert!(ids.check(ip(2), now).is_ok());
    // The block runs out.
    assert!(ids.check(ip(1), now + Duration::from_secs(61)).is_ok());
}

#[test]
fn connections_spread_over_minutes_are_not_a_flood() {
    let mut ids = IntrusionDetector::new(limits());
    let start = Instant::now();
    for minute in 0..10 {
        let now = start + Duration::from_secs(60 * minute);
        for _ in 0..3 {
            assert_eq!(ids.on_connection(ip(1), now), None);
        }
    }
}

#[test]
fn asking_for_many_unknown_host_ids_is_scanning() {
    let mut ids = IntrusionDetector::new(limits());
    let now = Instant::now();
    assert_eq!(ids.on_unknown_host(ip(1), "H-AAAA", now), None);
    // The same ID again is a typo being retried, not a scan.
    assert_eq!(ids.on_unknown_host(ip(1), "H-AAAA", now), None);
    assert_eq!(ids.on_unknown_host(ip(1), "H-BBBB", now), None);
    let event = ids.on_unknown_host(ip(1), "H-CCCC", now).expect("scan");
    assert_eq!(event.kind, IdsEventKind::HostIdScanning);
    assert!(ids.check(ip(1), now).is_err());
}

#[test]
fn password_guessing_across_hosts_is_detected_before_per_host_lockout_would_be() {
    let mut ids = IntrusionDetector::new(limits());
    let now = Instant::now();
    assert_eq!(ids.on_auth_failure(ip(1), "H-1", now), None);
    assert_eq!(ids.on_auth_failure(ip(1), "H-2", now), None);
    let event = ids
        .on_auth_failure(ip(1), "H-3", now)
        .expect("guessing across hosts");
    assert_eq!(event.kind, IdsEventKind::PasswordGuessing);
    assert!(event.detail.contains("3 hosts"), "{}", event.detail);
}

#[test]
fn many_failures_against_one_host_are_guessing_too() {
    let mut ids = IntrusionDetector::new(limits());
    let now = Instant::now();
    for _ in 0..4 {
        assert_eq!(ids.on_auth_failure(ip(1), "H-1", now), None);
    }
    assert_eq!(
        ids.on_auth_failure(ip(1), "H-1", now).map(|e| e.kind),
        Some(IdsEventKind::PasswordGuessing)
    );
}

#[test]
fn malformed_frames_block_the_source() {
    let mut ids = IntrusionDetector::new(limits());
    let now = Instant::now();
    assert_eq!(ids.on_malformed_frame(ip(1), now), None);
    assert_eq!(ids.on_malformed_frame(ip(1), now), None);
    assert_eq!(
        ids.on_malformed_frame(ip(1), now).map(|e| e.kind),
        Some(IdsEventKind::MalformedFrames)
    );
}

#[test]
fn tracked_sources_stay_bounded_and_blocked_sources_are_kept() {
    let mut ids = IntrusionDetector::new(limits());
    let now = Instant::now();
    // Block source 1.
    for _ in 0..4 {
        ids.on_connection(ip(1), now);
    }
    assert!(ids.check(ip(1), now).is_err());
    for last in 2..=200 {
        ids.on_connection(ip(last), now + Duration::from_millis(u64::from(last)));
        assert!(ids.tracked_sources() <= 8);
    }
    // The blocked source was not forgotten to make room.
    assert!(ids.check(ip(1), now + Duration::from_secs(1)).is_err());
}

#[test]
fn remembered_names_per_source_are_bounded() {
    let mut ids = IntrusionDetector::new(IdsLimits {
        unknown_hosts_per_hour: 10_000,
        ..limits()
    });
    let now = Instant::now();
    for i in 0..1000 {
        ids.on_unknown_host(ip(1), &format!("H-{i}"), now);
    }
    let state = ids.sources.get(&ip(1)).unwrap();
    assert!(state.unknown_hosts.1.len() <= MAX_NAMES);
}
