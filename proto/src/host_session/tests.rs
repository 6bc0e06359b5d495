//! The session's rules on a fake clock: each test drives [`HostSession`] with
//! `Instant`s it makes up and reads the actions back in order, as the
//! host's shell would carry them out.

use proptest::prelude::*;

use super::*;
use crate::handshake::Role;
use crate::messages::consent::{CapabilityRequest, SessionEnd};
use crate::wire::Text;

const TIMEOUT: Duration = Duration::from_secs(60);
const SESSION: [u8; 32] = [7; 32];

fn engineer() -> AllowListEntry {
    AllowListEntry {
        viewer: crate::test_keys::key("viewer").public().clone(),
        name: Text::new("Eve Engineer").unwrap(),
        email: Text::new("eve@example.com").unwrap(),
        expires_unix: u64::MAX,
    }
}

fn keys() -> SessionKeys {
    SessionKeys::for_tests(
        Role::Host,
        [3; 32],
        SESSION,
        crate::test_keys::key("viewer").public().clone(),
    )
}

/// An action in a line, for comparing sequences.
fn brief(action: &Action) -> String {
    match action {
        Action::Send(SessionMessage::CapabilityDecision(d)) => {
            format!("send {:?} {:?}", d.capability, d.outcome)
        }
        Action::Send(SessionMessage::CapabilityRevoked(r)) => {
            format!("send revoked {:?}", r.capability)
        }
        Action::Send(SessionMessage::SessionError(e)) => format!("send error {:?}", e.code),
        Action::Send(other) => format!("send {:?}", other.message_type()),
        Action::ShowPrompt { subject, .. } => format!("show {subject:?}"),
        Action::ClosePrompt(_) => "close prompt".into(),
        Action::SetGrants(grants) => format!("grants {:?}", grants.iter().collect::<Vec<_>>()),
        Action::Admit(keys) => format!("admit {:?}", keys.channel),
        Action::Audit { event, .. } => match event {
            AuditEvent::ConsentDecision {
                capability,
                outcome,
                ..
            } => format!("audit {capability:?} {outcome:?}"),
            AuditEvent::EngineerDecision { outcome, .. } => format!("audit engineer {outcome:?}"),
            other => format!("audit {}", other.kind()),
        },
        Action::Notice(line) => format!("notice {line}"),
        Action::End { reason } => format!("end {reason}"),
    }
}

/// A session and its shell's view: what was done, and what awaits.
struct Shell {
    session: HostSession,
    t0: Instant,
    prompts: Vec<(PromptId, PromptSubject, Instant, String)>,
    audits: Vec<(AuditId, AuditEvent)>,
}

impl Shell {
    fn new() -> Self {
        let t0 = Instant::now();
        let session = HostSession::new("dxflex-7", SESSION, &engineer(), keys(), TIMEOUT, t0)
            .expect("the control channel's keys are there");
        Self {
            session,
            t0,
            prompts: Vec::new(),
            audits: Vec::new(),
        }
    }

    fn at(&self, secs: u64) -> Instant {
        self.t0 + Duration::from_secs(secs)
    }

    /// Takes every pending action; remembers prompts and audit records.
    fn drain(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(action) = self.session.poll() {
            match &action {
                Action::ShowPrompt {
                    id,
                    subject,
                    deadline,
                    question,
                } => self
                    .prompts
                    .push((*id, *subject, *deadline, question.clone())),
                Action::Audit { id, event } => self.audits.push((*id, event.clone())),
                _ => {}
            }
            out.push(brief(&action));
        }
        out
    }

    fn prompt(&self, subject: PromptSubject) -> PromptId {
        self.prompts
            .iter()
            .rev()
            .find(|p| p.1 == subject)
            .map(|p| p.0)
            .expect("that prompt was shown")
    }

    fn last_audit(&self) -> AuditId {
        self.audits.last().expect("an audit record was asked for").0
    }

    fn ack_last(&mut self, now: Instant) {
        let id = self.last_audit();
        self.session.audit_recorded(id, now);
    }

    /// A session where the engineer has been admitted, actions drained.
    fn admitted() -> Self {
        let mut shell = Self::new();
        shell.drain();
        let prompt = shell.prompt(PromptSubject::Engineer);
        shell.session.answer(prompt, true, shell.t0);
        shell.drain();
        shell.ack_last(shell.t0);
        shell.drain();
        shell
    }

    fn ask(&mut self, capability: Capability, now: Instant) -> Vec<String> {
        self.session
            .handle_viewer(CapabilityRequest { capability }.into(), now);
        self.drain()
    }

    /// `capability` granted and its record acknowledged, actions drained.
    fn grant(&mut self, capability: Capability) {
        let now = self.t0;
        self.ask(capability, now);
        let prompt = self.prompt(PromptSubject::Capability(capability));
        self.session.answer(prompt, true, now);
        self.drain();
        self.ack_last(now);
        self.drain();
        assert!(self.session.grants().allows(capability));
    }
}

#[test]
fn the_engineer_is_asked_for_once_with_their_key_before_anything_else() {
    let mut shell = Shell::new();
    assert_eq!(shell.drain(), ["admit Control", "show Engineer"]);
    let (_, _, deadline, question) = &shell.prompts[0];
    assert_eq!(*deadline, shell.at(60));
    let fingerprint = engineer().fingerprint().to_string();
    assert!(
        question.contains("Eve Engineer")
            && question.contains("eve@example.com")
            && question.contains(&fingerprint),
        "{question}"
    );
    // Asked for before the technician admitted the engineer: held, no prompt.
    assert_eq!(
        shell.ask(Capability::ScreenView, shell.at(1)),
        Vec::<String>::new()
    );
    let prompt = shell.prompt(PromptSubject::Engineer);
    shell.session.answer(prompt, true, shell.at(2));
    assert_eq!(shell.drain(), ["audit engineer Granted"]);
    shell.ack_last(shell.at(50));
    let after = shell.drain();
    assert_eq!(after[1..], ["show Capability(ScreenView)"]);
    assert!(after[0].starts_with("notice admitted Eve Engineer"));
    // The held request's prompt has its whole time from the admission.
    assert_eq!(shell.prompts.last().unwrap().2, shell.at(50 + 60));
}

#[test]
fn no_channel_is_served_before_the_engineer_is_admitted() {
    let mut shell = Shell::new();
    shell.drain();
    shell.session.channel_opened(Channel::Screen).unwrap();
    shell
        .session
        .channel_opened(Channel::Notifications)
        .unwrap();
    assert_eq!(shell.drain(), Vec::<String>::new());
    let prompt = shell.prompt(PromptSubject::Engineer);
    shell.session.answer(prompt, true, shell.at(1));
    // Still nothing before the admission is on record.
    assert_eq!(shell.drain(), ["audit engineer Granted"]);
    shell.ack_last(shell.at(1));
    assert_eq!(shell.drain()[1..], ["admit Screen", "admit Notifications"]);
    shell.session.channel_opened(Channel::Input).unwrap();
    assert_eq!(shell.drain(), ["admit Input"]);
}

#[test]
fn an_unavailable_channel_is_explained_only_once_the_engineer_is_admitted() {
    let mut shell = Shell::new();
    shell.drain();
    shell
        .session
        .channel_unavailable("file transfer is not available");
    assert_eq!(
        shell.drain(),
        Vec::<String>::new(),
        "nothing before admission"
    );
    let prompt = shell.prompt(PromptSubject::Engineer);
    shell.session.answer(prompt, true, shell.at(1));
    shell.drain();
    shell.ack_last(shell.at(1));
    assert_eq!(shell.drain()[1..], ["send error Unavailable"]);
    shell
        .session
        .channel_unavailable("file transfer is not available");
    assert_eq!(shell.drain(), ["send error Unavailable"]);
}

#[test]
fn an_engineer_not_admitted_ends_the_session_on_record() {
    let mut refused = Shell::new();
    refused.drain();
    refused.session.channel_opened(Channel::Screen).unwrap();
    refused.ask(Capability::ScreenView, refused.at(1));
    let prompt = refused.prompt(PromptSubject::Engineer);
    refused.session.answer(prompt, false, refused.at(2));
    assert_eq!(
        refused.drain(),
        [
            "audit engineer Refused",
            "close prompt",
            "grants []",
            "end the technician did not admit the engineer"
        ]
    );
    assert!(refused.session.is_ended());
    assert_eq!(refused.session.poll_timeout(), None);

    let mut silent = Shell::new();
    silent.drain();
    silent
        .session
        .handle_timeout(silent.at(60) - Duration::from_millis(1));
    assert_eq!(silent.drain(), Vec::<String>::new(), "not due yet");
    assert_eq!(silent.session.poll_timeout(), Some(silent.at(60)));
    silent.session.handle_timeout(silent.at(60));
    assert_eq!(silent.drain()[0], "audit engineer TimedOut");
    assert!(silent.session.is_ended());
}

#[test]
fn an_admission_answered_at_its_deadline_is_a_timeout() {
    let mut shell = Shell::new();
    shell.drain();
    let prompt = shell.prompt(PromptSubject::Engineer);
    shell.session.answer(prompt, true, shell.at(60));
    assert_eq!(shell.drain()[0], "audit engineer TimedOut");
    assert!(shell.session.is_ended());
}

#[test]
fn a_grant_takes_effect_only_once_its_record_is_acknowledged() {
    let mut shell = Shell::admitted();
    assert_eq!(
        shell.ask(Capability::RemoteControl, shell.at(1)),
        ["show Capability(RemoteControl)"]
    );
    let prompt = shell.prompt(PromptSubject::Capability(Capability::RemoteControl));
    shell.session.answer(prompt, true, shell.at(2));
    assert_eq!(shell.drain(), ["audit RemoteControl Granted"]);
    assert!(!shell.session.grants().allows(Capability::RemoteControl));
    shell.ack_last(shell.at(3));
    assert_eq!(
        shell.drain(),
        [
            "grants [RemoteControl]",
            "notice remote control is now GRANTED",
            "send RemoteControl Granted"
        ]
    );
}

#[test]
fn a_revocation_takes_effect_before_its_record_and_the_engineer_hears_after() {
    let mut shell = Shell::admitted();
    shell.grant(Capability::ScreenView);
    shell.grant(Capability::RemoteControl);
    shell.session.revoke(Capability::RemoteControl);
    assert_eq!(
        shell.drain(),
        ["grants [ScreenView]", "audit RemoteControl Revoked"]
    );
    shell.ack_last(shell.at(5));
    assert_eq!(
        shell.drain(),
        [
            "notice remote control is now REVOKED",
            "send revoked RemoteControl"
        ]
    );
}

#[test]
fn a_revocation_before_the_grant_is_on_record_grants_nothing() {
    let mut shell = Shell::admitted();
    shell.ask(Capability::ScreenView, shell.at(1));
    let prompt = shell.prompt(PromptSubject::Capability(Capability::ScreenView));
    shell.session.answer(prompt, true, shell.at(2));
    shell.drain();
    let grant_record = shell.last_audit();
    shell.session.revoke(Capability::ScreenView);
    assert_eq!(shell.drain(), ["audit ScreenView Revoked"]);
    // The grant's record arrives late: the grant stays withdrawn.
    shell.session.audit_recorded(grant_record, shell.at(3));
    assert_eq!(shell.drain(), Vec::<String>::new());
    assert!(shell.session.grants().is_empty());
    // Asked for and granted again: only the new record puts it in force.
    shell.ask(Capability::ScreenView, shell.at(4));
    let again = shell.prompt(PromptSubject::Capability(Capability::ScreenView));
    shell.session.answer(again, true, shell.at(5));
    shell.drain();
    shell.session.audit_recorded(grant_record, shell.at(6));
    assert!(
        shell.session.grants().is_empty(),
        "an old record grants nothing"
    );
    shell.ack_last(shell.at(6));
    assert!(shell.session.grants().allows(Capability::ScreenView));
}

#[test]
fn an_unanswered_prompt_is_refused_at_its_one_deadline() {
    let mut shell = Shell::admitted();
    shell.ask(Capability::ScreenView, shell.at(10));
    assert_eq!(shell.session.poll_timeout(), Some(shell.at(70)));
    shell
        .session
        .handle_timeout(shell.at(70) - Duration::from_millis(1));
    assert_eq!(shell.drain(), Vec::<String>::new());
    shell.session.handle_timeout(shell.at(70));
    assert_eq!(shell.drain(), ["close prompt", "audit ScreenView TimedOut"]);
    // A click that arrives after the deadline changes nothing.
    let prompt = shell.prompt(PromptSubject::Capability(Capability::ScreenView));
    shell.session.answer(prompt, true, shell.at(71));
    assert_eq!(shell.drain(), Vec::<String>::new());
    shell.ack_last(shell.at(71));
    assert_eq!(shell.drain()[1], "send ScreenView TimedOut");
    assert!(shell.session.grants().is_empty());
}

#[test]
fn a_yes_at_the_deadline_is_a_timeout_not_a_grant() {
    let mut shell = Shell::admitted();
    shell.ask(Capability::ScreenView, shell.at(0));
    let prompt = shell.prompt(PromptSubject::Capability(Capability::ScreenView));
    shell.session.answer(prompt, true, shell.at(60));
    assert_eq!(shell.drain(), ["close prompt", "audit ScreenView TimedOut"]);
}

#[test]
fn a_second_request_for_an_open_prompt_is_refused_not_shown() {
    let mut shell = Shell::admitted();
    shell.ask(Capability::ScreenView, shell.at(0));
    assert_eq!(
        shell.ask(Capability::ScreenView, shell.at(1)),
        ["send error InvalidState"]
    );
    // Held for admission, the same: a second copy is refused.
    let mut waiting = Shell::new();
    waiting.drain();
    waiting.ask(Capability::ScreenView, waiting.at(0));
    assert_eq!(
        waiting.ask(Capability::ScreenView, waiting.at(1)),
        ["send error InvalidState"]
    );
}

#[test]
fn a_second_channel_of_any_kind_is_refused_and_audited_as_tampering() {
    let mut shell = Shell::admitted();
    let kinds = [
        Channel::Screen,
        Channel::Input,
        #[cfg(feature = "file-transfer")]
        Channel::Files,
        Channel::Notifications,
    ];
    for channel in kinds {
        shell.session.channel_opened(channel).unwrap();
        shell.drain();
    }
    for channel in kinds.into_iter().chain([Channel::Control]) {
        assert_eq!(
            shell.session.channel_opened(channel),
            Err(ChannelRefused(ChannelAlreadyOpen(channel)))
        );
        let actions = shell.drain();
        assert_eq!(
            actions[1..],
            ["send error Malformed", "audit session_tampering"]
        );
        assert!(actions[0].starts_with("notice refused a channel"));
    }
    assert!(!shell.session.is_ended(), "the session goes on");
}

#[test]
fn a_record_refused_in_transit_is_recorded_as_tampering_and_told() {
    let mut shell = Shell::admitted();
    shell.session.tampered("the input channel refused a record");
    assert_eq!(
        shell.drain(),
        [
            "notice the input channel refused a record",
            "send error Malformed",
            "audit session_tampering"
        ]
    );
    assert!(!shell.session.is_ended(), "the rest of the session goes on");
}

#[test]
fn only_the_engineers_sealed_end_is_their_word() {
    let mut cut = Shell::admitted();
    cut.grant(Capability::ScreenView);
    cut.session.control_closed();
    assert_eq!(
        cut.drain(),
        ["grants []", format!("end {CONTROL_CUT}").as_str()]
    );

    let mut ended = Shell::admitted();
    ended.session.handle_viewer(
        SessionEnd {
            reason: Text::new("done").unwrap(),
        }
        .into(),
        ended.at(1),
    );
    assert_eq!(
        ended.drain(),
        ["grants []", "end the engineer ended the session (done)"]
    );
}

#[test]
fn a_failed_audit_ends_the_session_with_every_grant_withdrawn_first() {
    let mut shell = Shell::admitted();
    shell.grant(Capability::ScreenView);
    shell.ask(Capability::RemoteControl, shell.at(1));
    let prompt = shell.prompt(PromptSubject::Capability(Capability::RemoteControl));
    shell.session.answer(prompt, true, shell.at(2));
    shell.drain();
    let id = shell.last_audit();
    shell.session.audit_failed(id, "relay gone");
    let actions = shell.drain();
    assert_eq!(actions[0], "grants []");
    assert!(actions[1].starts_with("end the relay could not record an audit event (relay gone)"));
    // Nothing acts after the end, not even a late acknowledgement.
    shell.session.audit_recorded(id, shell.at(3));
    shell.session.handle_viewer(
        CapabilityRequest {
            capability: Capability::ScreenView,
        }
        .into(),
        shell.at(3),
    );
    assert_eq!(shell.drain(), Vec::<String>::new());
    assert!(shell.session.grants().is_empty());
}

#[test]
fn stop_everything_revokes_each_grant_and_refuses_each_open_prompt() {
    let mut shell = Shell::admitted();
    shell.grant(Capability::ScreenView);
    shell.ask(Capability::RemoteControl, shell.at(1));
    shell.session.revoke_all();
    assert_eq!(
        shell.drain(),
        [
            "grants []",
            "audit ScreenView Revoked",
            "close prompt",
            "audit RemoteControl Refused"
        ]
    );
}

#[test]
fn ending_withdraws_grants_then_closes_prompts() {
    let mut shell = Shell::admitted();
    shell.grant(Capability::ScreenView);
    shell.ask(Capability::RemoteControl, shell.at(1));
    shell.session.end("the technician ended the session".into());
    assert_eq!(
        shell.drain(),
        [
            "grants []",
            "close prompt",
            "end the technician ended the session"
        ]
    );
}

#[test]
fn anything_else_from_the_viewer_is_refused_and_the_session_goes_on() {
    let mut shell = Shell::admitted();
    shell.session.handle_viewer(
        crate::messages::input::PointerMove { x: 1, y: 1 }.into(),
        shell.at(1),
    );
    assert_eq!(shell.drain(), ["send error InvalidState"]);
    shell.session.handle_undecodable(&DecodeError::Truncated {
        needed: 4,
        remaining: 1,
    });
    assert_eq!(shell.drain(), ["send error Malformed"]);
    assert!(!shell.session.is_ended());
}

/// One thing that can happen to a session, for the property below.
#[derive(Debug, Clone)]
enum Step {
    Request(usize),
    Answer(usize, bool),
    Revoke(usize),
    RevokeAll,
    /// Acknowledge the n-th still unacknowledged record.
    Ack(usize),
    Fail(usize),
    Wait(u64),
    Open(usize),
}

fn step() -> impl Strategy<Value = Step> {
    let cap = 0..Capability::ALL.len();
    prop_oneof![
        cap.clone().prop_map(Step::Request),
        (0..8usize, any::<bool>()).prop_map(|(p, y)| Step::Answer(p, y)),
        cap.clone().prop_map(Step::Revoke),
        Just(Step::RevokeAll),
        (0..4usize).prop_map(Step::Ack),
        (0..4usize).prop_map(Step::Fail),
        (0..90u64).prop_map(Step::Wait),
        (0..5usize).prop_map(Step::Open),
    ]
}

/// What the property below knows from the actions it has seen.
#[derive(Default)]
struct Model {
    unacked: Vec<(AuditId, AuditEvent)>,
    /// The latest consent record emitted for each capability.
    latest: BTreeMap<Capability, AuditId>,
    /// Capabilities whose latest record is an acknowledged grant.
    may_hold: CapabilitySet,
    in_force: CapabilitySet,
    admitted: bool,
    channels: Vec<Channel>,
}

impl Model {
    fn take(&mut self, shell: &mut Shell) -> Result<(), TestCaseError> {
        while let Some(action) = shell.session.poll() {
            match action {
                Action::Audit { id, event } => {
                    if let AuditEvent::ConsentDecision {
                        capability,
                        outcome,
                        ..
                    } = &event
                    {
                        self.latest.insert(*capability, id);
                        if *outcome != ConsentOutcomeCode::Granted {
                            self.may_hold.set(*capability, false);
                            prop_assert!(
                                !self.in_force.allows(*capability),
                                "{capability:?} recorded as withdrawn while still in force"
                            );
                        }
                    }
                    self.unacked.push((id, event));
                }
                Action::ShowPrompt {
                    id,
                    subject,
                    deadline,
                    question,
                } => shell.prompts.push((id, subject, deadline, question)),
                Action::SetGrants(grants) => {
                    for cap in grants.iter() {
                        prop_assert!(self.admitted, "granted before the admission was on record");
                        prop_assert!(
                            self.may_hold.allows(cap),
                            "{cap:?} in force without an acknowledged yes"
                        );
                    }
                    self.in_force = grants;
                }
                Action::Admit(keys) => {
                    prop_assert!(
                        !self.channels.contains(&keys.channel),
                        "{:?} admitted twice",
                        keys.channel
                    );
                    prop_assert!(
                        self.admitted || keys.channel == Channel::Control,
                        "served before admission"
                    );
                    self.channels.push(keys.channel);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Acknowledges the n-th unacknowledged record, as the relay would.
    fn ack(&mut self, shell: &mut Shell, n: usize, now: Instant) {
        if n >= self.unacked.len() {
            return;
        }
        let (id, event) = self.unacked.remove(n);
        match event {
            AuditEvent::EngineerDecision {
                outcome: ConsentOutcomeCode::Granted,
                ..
            } => self.admitted = true,
            AuditEvent::ConsentDecision {
                capability,
                outcome: ConsentOutcomeCode::Granted,
                ..
            } if self.latest.get(&capability) == Some(&id) => self.may_hold.set(capability, true),
            _ => {}
        }
        shell.session.audit_recorded(id, now);
    }
}

proptest! {
    /// Whatever happens, in any order: a capability is in force only after
    /// the technician said yes and the relay acknowledged that very record,
    /// with no later decision; a withdrawal is in force before its record;
    /// nothing is granted or served before the engineer's admission is on
    /// record; and no channel is admitted twice.
    #[test]
    fn grants_follow_acknowledged_yeses_only(steps in proptest::collection::vec(step(), 0..60)) {
        let mut shell = Shell::new();
        let mut now = shell.t0;
        let mut model = Model::default();
        let channels = [Channel::Screen, Channel::Input, Channel::Notifications, Channel::Control, Channel::Screen];
        model.take(&mut shell)?;
        let engineer = shell.prompt(PromptSubject::Engineer);
        shell.session.answer(engineer, true, now);
        model.take(&mut shell)?;
        for step in steps {
            match step {
                Step::Request(c) => shell.session.handle_viewer(CapabilityRequest { capability: Capability::ALL[c] }.into(), now),
                Step::Answer(p, yes) => {
                    if let Some(prompt) = shell.prompts.get(p).map(|p| p.0) {
                        shell.session.answer(prompt, yes, now);
                    }
                }
                Step::Revoke(c) => shell.session.revoke(Capability::ALL[c]),
                Step::RevokeAll => shell.session.revoke_all(),
                Step::Ack(n) => model.ack(&mut shell, n, now),
                Step::Fail(n) => {
                    if n < model.unacked.len() {
                        let (id, _) = model.unacked.remove(n);
                        shell.session.audit_failed(id, "gone");
                    }
                }
                Step::Wait(secs) => {
                    now += Duration::from_secs(secs);
                    shell.session.handle_timeout(now);
                }
                Step::Open(c) => { let _ = shell.session.channel_opened(channels[c]); }
            }
            model.take(&mut shell)?;
        }
    }
}

/// A list signed by the test operator, valid from 1,000 s to 10,000 s.
fn list_of(serial: u64, entries: Vec<AllowListEntry>) -> crate::allowlist::VerifiedAllowList {
    let operator = crate::test_keys::operator();
    crate::allowlist::AllowList {
        serial,
        issued_unix: 1_000,
        expires_unix: 10_000,
        entries: crate::wire::List::new(entries).unwrap(),
    }
    .sign(operator, &mut rand_core::OsRng)
    .verify(operator.public(), 2_000)
    .unwrap()
}

#[test]
fn a_newer_list_without_the_engineer_ends_the_session_with_every_grant_withdrawn() {
    let mut shell = Shell::admitted();
    shell.grant(Capability::RemoteControl);
    shell
        .session
        .allowlist_replaced(&list_of(6, Vec::new()), 2_000);
    let done = shell.drain();
    assert_eq!(done[0], "grants []", "{done:?}");
    let end = done.last().unwrap();
    assert!(
        end.starts_with("end ") && end.contains("no longer on the operator's allowlist (serial 6)"),
        "{done:?}"
    );
    assert!(shell.session.is_ended());
}

#[test]
fn a_newer_list_that_still_lists_the_engineer_changes_nothing() {
    let mut shell = Shell::admitted();
    shell.grant(Capability::ScreenView);
    shell
        .session
        .allowlist_replaced(&list_of(6, vec![engineer()]), 2_000);
    assert_eq!(shell.drain(), Vec::<String>::new());
    assert!(shell.session.grants().allows(Capability::ScreenView));
}

#[test]
fn a_newer_list_whose_entry_for_the_engineer_has_expired_ends_the_session() {
    let mut shell = Shell::admitted();
    let mut expired = engineer();
    expired.expires_unix = 1_500;
    shell
        .session
        .allowlist_replaced(&list_of(6, vec![expired]), 2_000);
    assert!(shell.session.is_ended());
}

#[test]
fn a_refused_list_is_recorded_as_tampering_and_the_session_goes_on_with_its_grants() {
    let mut shell = Shell::admitted();
    shell.grant(Capability::ScreenView);
    shell.session.allowlist_refused("serial 4 is older than 5");
    let done = shell.drain();
    assert_eq!(done.len(), 2, "{done:?}");
    assert!(
        done[0].starts_with("notice refused an engineer allowlist"),
        "{done:?}"
    );
    assert_eq!(done[1], "audit session_tampering", "{done:?}");
    assert!(!shell.session.is_ended());
    assert!(shell.session.grants().allows(Capability::ScreenView));
}
