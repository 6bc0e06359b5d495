use proptest::prelude::*;

use super::*;

const SCREEN: Capability = Capability::ScreenView;
const CONTROL: Capability = Capability::RemoteControl;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn decision(capability: Capability, outcome: ConsentOutcome) -> ConsentDecision {
    ConsentDecision {
        capability,
        outcome,
    }
}

#[test]
fn nothing_is_allowed_before_a_grant() {
    let mut consent = SessionConsent::default();
    let now = Instant::now();
    for &cap in Capability::ALL {
        assert!(!consent.allows(cap, now));
        assert_eq!(consent.state(cap), ConsentState::NotRequested);
    }
    // Not even while the prompt is open and well before its deadline.
    consent.request(SCREEN, now).unwrap();
    assert!(!consent.allows(SCREEN, now));
}

#[test]
fn a_grant_allows_only_that_capability() {
    let mut consent = SessionConsent::default();
    let now = Instant::now();
    consent.request(SCREEN, now).unwrap();
    assert_eq!(
        consent.answer(SCREEN, true, now + secs(1)),
        Ok(decision(SCREEN, ConsentOutcome::Granted))
    );
    for &cap in Capability::ALL {
        assert_eq!(consent.allows(cap, now + secs(2)), cap == SCREEN, "{cap}");
    }
}

#[test]
fn a_late_answer_is_a_timeout_not_a_grant() {
    let mut consent = SessionConsent::new(secs(60));
    let now = Instant::now();
    let deadline = consent.request(CONTROL, now).unwrap();
    assert_eq!(deadline, now + secs(60));
    assert_eq!(
        consent.answer(CONTROL, true, deadline),
        Ok(decision(
            CONTROL,
            ConsentOutcome::Denied(DenyReason::TimedOut)
        ))
    );
    assert!(!consent.allows(CONTROL, deadline));
    assert_eq!(
        consent.state(CONTROL),
        ConsentState::Denied(DenyReason::TimedOut)
    );
}

#[test]
fn an_unanswered_prompt_times_out_as_denied() {
    let mut consent = SessionConsent::new(secs(30));
    let now = Instant::now();
    consent.request(SCREEN, now).unwrap();
    consent.request(CONTROL, now + secs(10)).unwrap();
    assert_eq!(consent.next_deadline(), Some(now + secs(30)));
    assert!(consent.expire(now + secs(29)).is_empty());
    assert_eq!(
        consent.expire(now + secs(30)),
        vec![decision(
            SCREEN,
            ConsentOutcome::Denied(DenyReason::TimedOut)
        )]
    );
    assert_eq!(consent.next_deadline(), Some(now + secs(40)));
    assert_eq!(
        consent.expire(now + secs(100)),
        vec![decision(
            CONTROL,
            ConsentOutcome::Denied(DenyReason::TimedOut)
        )]
    );
    assert_eq!(consent.next_deadline(), None);
    // The technician answering afterwards changes nothing.
    assert_eq!(
        consent.answer(SCREEN, true, now + secs(101)),
        Err(ConsentError::NotPending(SCREEN))
    );
    assert!(!consent.allows(SCREEN, now + secs(101)));
}

#[test]
fn a_refusal_denies() {
    let mut consent = SessionConsent::default();
    let now = Instant::now();
    consent.request(SCREEN, now).unwrap();
    assert_eq!(
        consent.answer(SCREEN, false, now),
        Ok(decision(
            SCREEN,
            ConsentOutcome::Denied(DenyReason::Refused)
        ))
    );
    assert!(!consent.allows(SCREEN, now));
}

#[test]
fn revoke_is_immediate() {
    let mut consent = SessionConsent::default();
    let now = Instant::now();
    consent.request(CONTROL, now).unwrap();
    consent.answer(CONTROL, true, now).unwrap();
    assert!(consent.allows(CONTROL, now));
    assert_eq!(
        consent.revoke(CONTROL),
        Ok(decision(CONTROL, ConsentOutcome::Revoked))
    );
    assert!(!consent.allows(CONTROL, now));
    assert_eq!(consent.state(CONTROL), ConsentState::Revoked);
    assert_eq!(
        consent.revoke(CONTROL),
        Err(ConsentError::NotGranted(CONTROL))
    );
}

#[test]
fn revoke_all_withdraws_grants_and_refuses_open_prompts() {
    let mut consent = SessionConsent::default();
    let now = Instant::now();
    consent.request(SCREEN, now).unwrap();
    consent.answer(SCREEN, true, now).unwrap();
    consent.request(CONTROL, now).unwrap();
    assert_eq!(
        consent.revoke_all(),
        vec![
            decision(SCREEN, ConsentOutcome::Revoked),
            decision(CONTROL, ConsentOutcome::Denied(DenyReason::Refused)),
        ]
    );
    for &cap in Capability::ALL {
        assert!(!consent.allows(cap, now));
    }
    assert_eq!(consent.next_deadline(), None);
    assert!(consent.revoke_all().is_empty());
}

#[test]
fn re_request_after_deny_or_revoke_works() {
    let mut consent = SessionConsent::default();
    let now = Instant::now();
    consent.request(SCREEN, now).unwrap();
    consent.answer(SCREEN, false, now).unwrap();
    consent.request(SCREEN, now).unwrap();
    consent.answer(SCREEN, true, now).unwrap();
    consent.revoke(SCREEN).unwrap();
    let deadline = consent.request(SCREEN, now + secs(5)).unwrap();
    assert_eq!(deadline, now + secs(5) + DEFAULT_PROMPT_TIMEOUT);
    assert!(!consent.allows(SCREEN, now + secs(5)));
    consent.answer(SCREEN, true, now + secs(6)).unwrap();
    assert!(consent.allows(SCREEN, now + secs(6)));
}

#[test]
fn operations_out_of_turn_are_errors() {
    let mut consent = SessionConsent::default();
    let now = Instant::now();
    assert_eq!(
        consent.answer(SCREEN, true, now),
        Err(ConsentError::NotPending(SCREEN))
    );
    assert!(!consent.allows(SCREEN, now));
    consent.request(SCREEN, now).unwrap();
    assert_eq!(
        consent.request(SCREEN, now),
        Err(ConsentError::AlreadyPending(SCREEN))
    );
    assert_eq!(
        consent.revoke(SCREEN),
        Err(ConsentError::NotGranted(SCREEN))
    );
    consent.answer(SCREEN, true, now).unwrap();
    assert_eq!(
        consent.request(SCREEN, now),
        Err(ConsentError::AlreadyGranted(SCREEN))
    );
    assert_eq!(
        consent.answer(SCREEN, false, now),
        Err(ConsentError::NotPending(SCREEN))
    );
    assert!(consent.allows(SCREEN, now));
}

#[test]
fn a_stale_prompt_stays_pending_until_expired_so_its_timeout_is_reported() {
    let mut consent = SessionConsent::new(secs(10));
    let now = Instant::now();
    consent.request(SCREEN, now).unwrap();
    assert_eq!(
        consent.request(SCREEN, now + secs(20)),
        Err(ConsentError::AlreadyPending(SCREEN))
    );
    assert_eq!(consent.expire(now + secs(20)).len(), 1);
    assert!(consent.request(SCREEN, now + secs(20)).is_ok());
}

#[test]
fn an_absurd_prompt_timeout_fails_closed() {
    let mut consent = SessionConsent::new(Duration::MAX);
    let now = Instant::now();
    assert_eq!(consent.request(SCREEN, now), Ok(now));
    assert_eq!(
        consent.answer(SCREEN, true, now),
        Ok(decision(
            SCREEN,
            ConsentOutcome::Denied(DenyReason::TimedOut)
        ))
    );
}

#[test]
fn error_messages_name_the_capability() {
    assert_eq!(
        ConsentError::NotGranted(CONTROL).to_string(),
        "remote control is not granted, so there is nothing to revoke"
    );
}

#[derive(Debug, Clone)]
enum Op {
    Request(Capability),
    Answer(Capability, bool),
    Revoke(Capability),
    RevokeAll,
    Expire,
    Advance(u64),
}

fn capability() -> impl Strategy<Value = Capability> {
    prop::sample::select(Capability::ALL)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => capability().prop_map(Op::Request),
        3 => (capability(), any::<bool>()).prop_map(|(c, g)| Op::Answer(c, g)),
        1 => capability().prop_map(Op::Revoke),
        1 => Just(Op::RevokeAll),
        1 => Just(Op::Expire),
        2 => (0u64..40).prop_map(Op::Advance),
    ]
}

proptest! {
    #[test]
    fn allowed_iff_the_last_decision_was_a_grant(ops in proptest::collection::vec(op(), 0..80)) {
        let mut consent = SessionConsent::new(secs(20));
        let mut now = Instant::now();
        let mut last: BTreeMap<Capability, ConsentOutcome> = BTreeMap::new();
        let mut pending_since: BTreeMap<Capability, Instant> = BTreeMap::new();
        for op in ops {
            let decisions = match op {
                Op::Request(cap) => {
                    if consent.request(cap, now).is_ok() {
                        pending_since.insert(cap, now);
                    }
                    vec![]
                }
                Op::Answer(cap, grant) => {
                    let result = consent.answer(cap, grant, now).ok();
                    if let Some(d) = result {
                        // A grant only ever comes from a timely "yes".
                        let asked = pending_since.get(&cap).copied();
                        let timely = asked.is_some_and(|t| now < t + secs(20));
                        if d.outcome == ConsentOutcome::Granted {
                            prop_assert!(grant && timely);
                        }
                    }
                    result.into_iter().collect()
                }
                Op::Revoke(cap) => consent.revoke(cap).ok().into_iter().collect(),
                Op::RevokeAll => consent.revoke_all(),
                Op::Expire => consent.expire(now),
                Op::Advance(s) => {
                    now += secs(s);
                    vec![]
                }
            };
            for d in decisions {
                last.insert(d.capability, d.outcome);
                pending_since.remove(&d.capability);
            }
            for &cap in Capability::ALL {
                let granted = last.get(&cap) == Some(&ConsentOutcome::Granted);
                prop_assert_eq!(consent.allows(cap, now), granted, "{}", cap);
                if let ConsentState::Requested { .. } = consent.state(cap) {
                    prop_assert!(!consent.allows(cap, now));
                }
            }
            prop_assert!(consent.next_deadline().is_none_or(|d| pending_since.values().any(|t| *t + secs(20) == d)));
        }
    }
}

#[test]
fn a_capability_set_holds_each_capability_apart() {
    let mut set = CapabilitySet::EMPTY;
    assert!(set.is_empty());
    for &cap in Capability::ALL {
        assert!(!set.allows(cap));
    }
    set.set(Capability::RemoteControl, true);
    assert!(set.allows(Capability::RemoteControl));
    assert!(!set.allows(Capability::ScreenView));
    let both = set.with(Capability::ScreenView, true);
    assert_eq!(
        both.iter().collect::<Vec<_>>(),
        vec![Capability::ScreenView, Capability::RemoteControl]
    );
    assert_eq!(
        both.with(Capability::RemoteControl, false),
        [Capability::ScreenView].into_iter().collect()
    );
}
