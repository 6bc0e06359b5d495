use proptest::prelude::*;

use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn remaining(state: LockoutError) -> Duration {
    match state {
        LockoutError::Locked { remaining, .. } => remaining,
        LockoutError::Burned { .. } => panic!("unexpectedly burned"),
    }
}

/// No burning, so the doubling and the cap can be watched for long.
fn unburnable() -> LockoutPolicy {
    LockoutPolicy {
        burn_after: u32::MAX,
        ..LockoutPolicy::default()
    }
}

#[test]
fn default_policy_is_5_s_doubling_to_15_min_burning_at_6() {
    let policy = LockoutPolicy::default();
    assert_eq!(policy.base_wait, secs(5));
    assert_eq!(policy.max_wait, secs(15 * 60));
    assert_eq!(policy.burn_after, 6);
}

#[test]
fn waits_double_after_each_failure_and_stop_at_the_cap() {
    let mut lockout = Lockout::new(unburnable());
    let mut now = Instant::now();
    let mut waits = Vec::new();
    for _ in 0..12 {
        let wait = remaining(lockout.record_failure(now));
        waits.push(wait.as_secs());
        now += wait;
    }
    assert_eq!(
        waits,
        [5, 10, 20, 40, 80, 160, 320, 640, 900, 900, 900, 900]
    );
}

#[test]
fn huge_failure_counts_stay_at_the_cap() {
    let lockout = Lockout::new(unburnable());
    assert_eq!(lockout.wait_after(33), secs(900));
    assert_eq!(lockout.wait_after(u32::MAX), secs(900));
}

#[test]
fn attempt_during_the_wait_is_refused_with_the_time_left() {
    let mut lockout = Lockout::new(LockoutPolicy::default());
    let start = Instant::now();
    for _ in 0..3 {
        lockout.record_failure(start);
    }
    // Three failures at once: the third one's 20 s wait is in force.
    let err = lockout.check(start + secs(5)).unwrap_err();
    assert_eq!(
        err,
        LockoutError::Locked {
            remaining: secs(15),
            failures: 3
        }
    );
    assert_eq!(
        err.to_string(),
        "password locked for 15 s after 3 failures; try again then"
    );
}

#[test]
fn locked_message_rounds_up_and_counts_correctly() {
    let err = LockoutError::Locked {
        remaining: Duration::from_millis(40_001),
        failures: 1,
    };
    assert_eq!(
        err.to_string(),
        "password locked for 41 s after 1 failure; try again then"
    );
}

#[test]
fn attempt_after_the_wait_is_allowed() {
    let mut lockout = Lockout::new(LockoutPolicy::default());
    let start = Instant::now();
    lockout.record_failure(start);
    assert!(lockout.check(start + Duration::from_millis(4999)).is_err());
    assert_eq!(lockout.check(start + secs(5)), Ok(()));
    assert_eq!(lockout.failures(), 1);
}

#[test]
fn fresh_lockout_allows_an_attempt() {
    assert_eq!(
        Lockout::new(LockoutPolicy::default()).check(Instant::now()),
        Ok(())
    );
}

#[test]
fn password_burns_after_the_configured_failures() {
    let mut lockout = Lockout::new(LockoutPolicy::default());
    let mut now = Instant::now();
    for n in 1..6 {
        let wait = remaining(lockout.record_failure(now));
        assert!(!lockout.is_burned(), "burned after {n}");
        now += wait;
    }
    assert_eq!(
        lockout.record_failure(now),
        LockoutError::Burned { failures: 6 }
    );
    assert!(lockout.is_burned());
    // Burned is forever: no amount of waiting or success brings it back.
    let later = now + secs(24 * 3600);
    let err = lockout.check(later).unwrap_err();
    assert_eq!(err, LockoutError::Burned { failures: 6 });
    assert_eq!(
        err.to_string(),
        "password burned after 6 failures; start a new support request"
    );
    lockout.record_success();
    assert!(lockout.check(later).is_err());
    assert_eq!(lockout.failures(), 6);
}

#[test]
fn success_resets_the_failure_count() {
    let mut lockout = Lockout::new(LockoutPolicy::default());
    let mut now = Instant::now();
    for _ in 0..4 {
        now += remaining(lockout.record_failure(now));
    }
    lockout.record_success();
    assert_eq!(lockout.failures(), 0);
    // The next failure starts the doubling again from the base wait.
    assert_eq!(remaining(lockout.record_failure(now)), secs(5));
}

#[test]
fn a_failure_never_shortens_a_lock_in_force() {
    let policy = LockoutPolicy {
        burn_after: u32::MAX,
        ..LockoutPolicy::default()
    };
    let mut lockout = Lockout::new(policy);
    let start = Instant::now();
    for _ in 0..4 {
        lockout.record_failure(start); // 40 s from start
    }
    lockout.record_success();
    // The reset count gives a 5 s wait, but the 40 s lock still runs.
    assert_eq!(remaining(lockout.record_failure(start + secs(1))), secs(39));
}

#[test]
fn snapshot_through_json_and_restore_keeps_failures_and_wait() {
    let policy = LockoutPolicy::default();
    let mut lockout = Lockout::new(policy);
    let start = Instant::now();
    for _ in 0..3 {
        lockout.record_failure(start);
    }
    let snapshot = lockout.snapshot(start + secs(8));
    assert_eq!(
        snapshot,
        LockoutSnapshot {
            failures: 3,
            burned: false,
            remaining_wait_ms: 12_000
        }
    );
    let json = serde_json::to_string(&snapshot).unwrap();
    let back: LockoutSnapshot = serde_json::from_str(&json).unwrap();

    // After a restart the remaining 12 s apply again in full.
    let restart = start + secs(3600);
    let restored = Lockout::restore(policy, &back, restart);
    assert_eq!(restored.failures(), 3);
    assert_eq!(
        restored.check(restart + secs(1)),
        Err(LockoutError::Locked {
            remaining: secs(11),
            failures: 3
        })
    );
    assert_eq!(restored.check(restart + secs(12)), Ok(()));
}

#[test]
fn restored_lockout_keeps_doubling_from_the_saved_count() {
    let policy = LockoutPolicy::default();
    let now = Instant::now();
    let snapshot = LockoutSnapshot {
        failures: 4,
        burned: false,
        remaining_wait_ms: 0,
    };
    let mut restored = Lockout::restore(policy, &snapshot, now);
    assert_eq!(restored.check(now), Ok(()));
    assert_eq!(remaining(restored.record_failure(now)), secs(80));
}

#[test]
fn burned_state_survives_snapshot_and_restore() {
    let policy = LockoutPolicy::default();
    let mut lockout = Lockout::new(policy);
    let now = Instant::now();
    for _ in 0..6 {
        lockout.record_failure(now);
    }
    let json = serde_json::to_string(&lockout.snapshot(now)).unwrap();
    let restored = Lockout::restore(policy, &serde_json::from_str(&json).unwrap(), now);
    assert!(restored.is_burned());
    assert_eq!(
        restored.check(now + secs(100_000)),
        Err(LockoutError::Burned { failures: 6 })
    );
}

#[test]
fn restore_under_a_tighter_policy_burns_at_once() {
    let snapshot = LockoutSnapshot {
        failures: 4,
        burned: false,
        remaining_wait_ms: 1000,
    };
    let tighter = LockoutPolicy {
        burn_after: 3,
        ..LockoutPolicy::default()
    };
    assert!(Lockout::restore(tighter, &snapshot, Instant::now()).is_burned());
}

#[test]
fn snapshot_rounds_sub_millisecond_waits_up() {
    let mut lockout = Lockout::new(LockoutPolicy::default());
    let start = Instant::now();
    lockout.record_failure(start);
    let snapshot = lockout.snapshot(start + secs(5) - Duration::from_nanos(1));
    assert_eq!(snapshot.remaining_wait_ms, 1);
}

#[test]
fn absurd_waits_lock_forever_instead_of_panicking() {
    let policy = LockoutPolicy {
        base_wait: Duration::MAX,
        max_wait: Duration::MAX,
        burn_after: 100,
    };
    let mut lockout = Lockout::new(policy);
    let now = Instant::now();
    assert!(matches!(
        lockout.record_failure(now),
        LockoutError::Burned { .. }
    ));
    let snapshot = LockoutSnapshot {
        failures: 1,
        burned: false,
        remaining_wait_ms: u64::MAX,
    };
    assert!(Lockout::restore(policy, &snapshot, now).check(now).is_err());
}

#[test]
fn policy_round_trips_through_json() {
    let policy = LockoutPolicy::default();
    let json = serde_json::to_string(&policy).unwrap();
    assert_eq!(
        serde_json::from_str::<LockoutPolicy>(&json).unwrap(),
        policy
    );
}

#[derive(Debug, Clone)]
enum Step {
    Failure,
    Success,
    Advance(u64),
    Restart,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::Failure),
        1 => Just(Step::Success),
        3 => (0u64..200_000).prop_map(Step::Advance),
        1 => Just(Step::Restart),
    ]
}

proptest! {
    #[test]
    fn waits_only_grow_stay_capped_and_check_never_passes_while_locked(
        steps in proptest::collection::vec(step(), 0..60),
        base_ms in 1u64..10_000,
        cap_factor in 1u32..300,
        burn_after in 1u32..20,
    ) {
        let base_wait = Duration::from_millis(base_ms);
        let policy = LockoutPolicy { base_wait, max_wait: base_wait * cap_factor, burn_after };
        let mut lockout = Lockout::new(policy);
        let mut now = Instant::now();
        let mut last_wait: Option<Duration> = None;
        let mut locked_until: Option<Instant> = None;
        for step in steps {
            match step {
                Step::Failure => match lockout.record_failure(now) {
                    LockoutError::Locked { remaining, failures } => {
                        prop_assert!(remaining <= policy.max_wait);
                        prop_assert!(failures < burn_after);
                        if let Some(last) = last_wait {
                            prop_assert!(remaining >= last, "{:?} < {:?}", remaining, last);
                        }
                        last_wait = Some(remaining);
                        locked_until = Some(now + remaining);
                    }
                    LockoutError::Burned { failures } => {
                        prop_assert!(failures >= burn_after);
                        prop_assert!(lockout.is_burned());
                    }
                },
                // A correct password is only ever seen after `check` let
                // the attempt through.
                Step::Success => {
                    if lockout.check(now).is_ok() {
                        lockout.record_success();
                        last_wait = None;
                    }
                }
                Step::Advance(ms) => now += Duration::from_millis(ms),
                Step::Restart => {
                    let snapshot = lockout.snapshot(now);
                    let restored = Lockout::restore(policy, &snapshot, now);
                    prop_assert_eq!(restored.failures(), lockout.failures());
                    prop_assert_eq!(restored.is_burned(), lockout.is_burned());
                    lockout = restored;
                    // A restart re-applies the remaining wait, in full.
                    if locked_until.is_some_and(|until| until > now) {
                        locked_until = Some(now + Duration::from_millis(snapshot.remaining_wait_ms));
                    }
                }
            }
            let check = lockout.check(now);
            if lockout.is_burned() || locked_until.is_some_and(|until| until > now) {
                prop_assert!(check.is_err(), "check passed while locked");
            } else {
                prop_assert_eq!(check, Ok(()));
            }
        }
    }
}
