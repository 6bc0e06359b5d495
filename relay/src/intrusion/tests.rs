use super::*;
use std::net::Ipv4Addr;

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

fn engineer(n: u8) -> Fingerprint {
    Fingerprint([n; 32])
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
        admission: AdmissionLimits::default(),
    }
}

#[test]
fn connection_flood_is_reported_once_per_window_and_bans_no_one() {
    let mut ids = IntrusionDetector::new(limits());
    let now = Instant::now();
    for _ in 0..3 {
        assert_eq!(ids.on_connection(ip(1), now), None);
    }
    let event = ids
        .on_connection(ip(1), now)
        .expect("fourth connection is a flood");
    assert_eq!(event.kind, IdsEventKind::ConnectionFlood);
    assert_eq!(event.banned, None, "an address is never banned");
    // Reported once, not once per connection (each report is an audit fsync).
    for _ in 0..100 {
        assert_eq!(ids.on_connection(ip(1), now), None);
    }
    // The next window reports again.
    let later = now + Duration::from_secs(61);
    for _ in 0..3 {
        ids.on_connection(ip(1), later);
    }
    assert!(ids.on_connection(ip(1), later).is_some());
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
fn an_engineer_asking_for_many_unknown_host_ids_is_banned_not_the_address() {
    let mut ids = IntrusionDetector::new(limits());
    let now = Instant::now();
    let scanner = engineer(1);
    assert_eq!(ids.on_unknown_host(scanner, ip(1), "H-AAAA", now), None);
    // The same ID again is a typo being retried, not a scan.
    assert_eq!(ids.on_unknown_host(scanner, ip(1), "H-AAAA", now), None);
    assert_eq!(ids.on_unknown_host(scanner, ip(1), "H-BBBB", now), None);
    let event = ids
        .on_unknown_host(scanner, ip(1), "H-CCCC", now)
        .expect("scan");
    assert_eq!(event.kind, IdsEventKind::HostIdScanning);
    assert_eq!(event.banned.map(|(who, _)| who), Some(scanner));
    assert!(ids.check_viewer(scanner, now).is_err());
    // A colleague at the same address is not touched, and the ban runs out.
    assert!(ids.check_viewer(engineer(2), now).is_ok());
    assert!(ids
        .check_viewer(scanner, now + Duration::from_secs(61))
        .is_ok());
}

#[test]
fn password_guessing_across_hosts_bans_the_engineer_identity() {
    let mut ids = IntrusionDetector::new(limits());
    let now = Instant::now();
    let guesser = engineer(1);
    assert_eq!(ids.on_viewer_auth_failure(guesser, ip(1), "H-1", now), None);
    assert_eq!(ids.on_viewer_auth_failure(guesser, ip(1), "H-2", now), None);
    let event = ids
        .on_viewer_auth_failure(guesser, ip(1), "H-3", now)
        .expect("guessing across hosts");
    assert_eq!(event.kind, IdsEventKind::PasswordGuessing);
    assert!(event.detail.contains("3 hosts"), "{}", event.detail);
    assert!(ids.check_viewer(guesser, now).is_err());
    assert!(ids.check_viewer(engineer(2), now).is_ok());
}

#[test]
fn many_failures_of_one_engineer_against_one_host_are_guessing_too() {
    let mut ids = IntrusionDetector::new(limits());
    let now = Instant::now();
    for _ in 0..4 {
        assert_eq!(
            ids.on_viewer_auth_failure(engineer(1), ip(1), "H-1", now),
            None
        );
    }
    assert_eq!(
        ids.on_viewer_auth_failure(engineer(1), ip(1), "H-1", now)
            .map(|e| e.kind),
        Some(IdsEventKind::PasswordGuessing)
    );
}

#[test]
fn failures_without_an_identity_are_reported_once_and_ban_no_one() {
    let mut ids = IntrusionDetector::new(limits());
    let now = Instant::now();
    for _ in 0..4 {
        assert_eq!(ids.on_auth_failure(ip(1), "enrolment", now), None);
    }
    let event = ids
        .on_auth_failure(ip(1), "enrolment", now)
        .expect("reported");
    assert_eq!(event.kind, IdsEventKind::PasswordGuessing);
    assert_eq!(event.banned, None);
    assert_eq!(ids.on_auth_failure(ip(1), "enrolment", now), None);
}

#[test]
fn malformed_frames_are_reported_without_a_ban() {
    let mut ids = IntrusionDetector::new(limits());
    let now = Instant::now();
    assert_eq!(ids.on_malformed_frame(ip(1), now), None);
    assert_eq!(ids.on_malformed_frame(ip(1), now), None);
    let event = ids.on_malformed_frame(ip(1), now).expect("reported");
    assert_eq!(event.kind, IdsEventKind::MalformedFrames);
    assert_eq!(event.banned, None);
}

#[test]
fn tracked_suspects_stay_bounded_and_banned_identities_are_kept() {
    let mut ids = IntrusionDetector::new(limits());
    let now = Instant::now();
    for host in ["H-1", "H-2", "H-3"] {
        ids.on_viewer_auth_failure(engineer(1), ip(1), host, now);
    }
    assert!(ids.check_viewer(engineer(1), now).is_err());
    for last in 2..=200 {
        ids.on_connection(ip(last), now + Duration::from_millis(u64::from(last)));
        assert!(ids.tracked_sources() <= 8);
    }
    // The banned identity was not forgotten to make room.
    assert!(ids
        .check_viewer(engineer(1), now + Duration::from_secs(1))
        .is_err());
}

#[test]
fn remembered_names_per_suspect_are_bounded() {
    let mut ids = IntrusionDetector::new(IdsLimits {
        unknown_hosts_per_hour: 10_000,
        ..limits()
    });
    let now = Instant::now();
    for i in 0..1000 {
        ids.on_unknown_host(engineer(1), ip(1), &format!("H-{i}"), now);
    }
    let state = ids.suspects.get(&Suspect::Viewer(engineer(1))).unwrap();
    assert!(state.unknown_hosts.1.len() <= MAX_NAMES);
}

mod admission;
