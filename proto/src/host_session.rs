//! One support session on the host, as a state machine (R9, R10, R12, R21).
//!
//! Every rule of a consented session lives here, where a reviewer can read
//! it and a test can drive it on a fake clock:
//! - the technician admits the engineer the handshake authenticated (name,
//!   e-mail, key fingerprint) once, before any capability prompt; until
//!   then no channel is served and no capability is asked for (R9);
//! - each capability is asked for one at a time; an unanswered prompt is a
//!   refusal at its one deadline, owned here (R10);
//! - a grant takes effect only once its audit record is acknowledged; a
//!   revocation takes effect first and is recorded after (R10, R12);
//! - each channel's keys are taken once: a second channel of a kind is
//!   refused and audited as tampering (R3, R21);
//! - only the engineer's sealed `SessionEnd` is their word; a bare end of
//!   the control stream is a cut (R21).
//!
//! The shape is quinn-proto's: the host's shell feeds in what happened
//! (viewer messages, channel openings, answers, commands, audit
//! acknowledgements, `now`) and carries out what [`HostSession::poll`]
//! returns, in order; [`HostSession::poll_timeout`] says when to call
//! [`HostSession::handle_timeout`]. No sockets, tasks or clock reads.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::allowlist::{AllowListEntry, VerifiedAllowList};
use crate::consent::{
    CapabilitySet, ConsentDecision, ConsentError, ConsentOutcome, DenyReason, SessionConsent,
};
use crate::handshake::{Channel, ChannelAlreadyOpen, ChannelKeys, SessionKeys};
use crate::messages::audit_event::{AuditEvent, ConsentOutcomeCode};
use crate::messages::consent::{
    Capability, CapabilityDecision, CapabilityRevoked, DecisionOutcome, SessionError,
    SessionErrorCode,
};
use crate::messages::session::{lossy_text, SessionMessage};
use crate::wire::{DecodeError, Text};

#[cfg(test)]
mod tests;

/// Why a session ended when its control stream closed without the
/// engineer's sealed `SessionEnd`: someone else closed it.
pub const CONTROL_CUT: &str = "the control channel closed without the engineer's sealed end of \
     session: the relay or the network cut it";

/// One prompt shown to the technician; answers and closings name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromptId(u64);

/// One audit record handed to the shell; its acknowledgement names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AuditId(u64);

/// What a prompt asks the technician.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptSubject {
    /// Admit the authenticated engineer into the session (R9).
    Engineer,
    /// Grant one capability (R10).
    Capability(Capability),
}

/// What the shell must do, in the order [`HostSession::poll`] gives it.
#[derive(Debug)]
pub enum Action {
    /// Seal and send to the engineer on the control channel.
    Send(SessionMessage),
    /// Show a yes/no prompt until `deadline`; report the answer with
    /// [`HostSession::answer`]. Silence needs no report: the session times
    /// the prompt out itself.
    ShowPrompt {
        id: PromptId,
        subject: PromptSubject,
        question: String,
        deadline: Instant,
    },
    /// Take the prompt off the screen: it was refused, timed out or the
    /// session ended.
    ClosePrompt(PromptId),
    /// What the screen, input and file tasks may do from now on. A
    /// narrower set is in force before the shell takes the next action.
    SetGrants(CapabilitySet),
    /// Serve this channel with these keys (its streams were reported by
    /// [`HostSession::channel_opened`]).
    Admit(ChannelKeys),
    /// Record at the relay, durably; report [`HostSession::audit_recorded`]
    /// or [`HostSession::audit_failed`].
    Audit { id: AuditId, event: AuditEvent },
    /// A line for the technician.
    Notice(String),
    /// The session is over: send the engineer a sealed `SessionEnd` with
    /// this reason and stop. Every grant was withdrawn before it.
    End { reason: String },
}

/// A channel [`HostSession::channel_opened`] turned away: drop its streams.
#[derive(thiserror::Error, Debug, PartialEq, Eq)]
#[error(transparent)]
pub struct ChannelRefused(#[from] pub ChannelAlreadyOpen);

/// Whether the technician has admitted the engineer (R9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Admission {
    Asked {
        prompt: PromptId,
        deadline: Instant,
    },
    /// Answered yes; waiting for the audit record before anything flows.
    Recording,
    Admitted,
    /// Refused or unanswered: the session ends.
    Refused,
}

/// What to do once an audit record is acknowledged.
enum AfterAudit {
    /// Put the grant in force, then tell the engineer and the technician.
    Grant(Capability),
    /// The engineer is admitted: serve the held channels, ask the held
    /// requests.
    Admit,
    /// Tell the engineer and the technician what was decided.
    Tell(SessionMessage, String),
    Nothing,
}

/// The host's side of one authenticated session.
pub struct HostSession {
    host_id: Text<64>,
    session_id: [u8; 32],
    engineer: String,
    viewer: [u8; 32],
    prompt_timeout: Duration,
    keys: SessionKeys,
    consent: SessionConsent,
    admission: Admission,
    /// Channels the engineer opened before being admitted, keys taken.
    held_channels: Vec<ChannelKeys>,
    /// Capabilities asked for before the engineer was admitted.
    held_requests: Vec<Capability>,
    /// What the engineer is told once admitted, not before (R9).
    held_messages: Vec<SessionMessage>,
    /// The open prompt of each capability.
    prompts: BTreeMap<Capability, PromptId>,
    /// In force now; what [`Action::SetGrants`] last said.
    grants: CapabilitySet,
    /// The audit record each pending grant waits for. A revocation
    /// removes the entry, so a late acknowledgement grants nothing.
    grant_records: BTreeMap<Capability, AuditId>,
    after_audit: BTreeMap<AuditId, AfterAudit>,
    next_prompt: u64,
    next_audit: u64,
    actions: VecDeque<Action>,
    ended: bool,
}

impl HostSession {
    /// Starts the session the handshake established with `viewer`; the
    /// first actions ask the technician to admit them. `keys` must still
    /// hold the control channel's keys: the first action hands them out.
    pub fn new(
        host_id: &str,
        session_id: [u8; 32],
        viewer: &AllowListEntry,
        keys: SessionKeys,
        prompt_timeout: Duration,
        now: Instant,
    ) -> Result<Self, ChannelAlreadyOpen> {
        let mut session = Self {
            host_id: lossy_text(host_id),
            session_id,
            engineer: format!(
                "{} <{}> (key {})",
                viewer.name,
                viewer.email,
                viewer.fingerprint()
            ),
            viewer: *viewer.fingerprint().as_bytes(),
            prompt_timeout,
            keys,
            consent: SessionConsent::new(prompt_timeout),
            admission: Admission::Refused,
            held_channels: Vec::new(),
            held_requests: Vec::new(),
            held_messages: Vec::new(),
            prompts: BTreeMap::new(),
            grants: CapabilitySet::EMPTY,
            grant_records: BTreeMap::new(),
            after_audit: BTreeMap::new(),
            next_prompt: 0,
            next_audit: 0,
            actions: VecDeque::new(),
            ended: false,
        };
        // The engineer is talking to us on it already: R9 holds what it
        // may carry, not the channel itself.
        let control = session.keys.take_channel(Channel::Control)?;
        session.actions.push_back(Action::Admit(control));
        let deadline = session.deadline(now);
        let question = format!(
            "{} wants to connect to this instrument. Admit this engineer?",
            session.engineer
        );
        let prompt = session.show(PromptSubject::Engineer, question, deadline);
        session.admission = Admission::Asked { prompt, deadline };
        Ok(session)
    }

    /// Who the engineer is, as prompts show them.
    pub fn engineer(&self) -> &str {
        &self.engineer
    }

    /// What is granted now.
    pub fn grants(&self) -> CapabilitySet {
        self.grants
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The next thing to do, if any.
    pub fn poll(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`HostSession::handle_timeout`] must be called next: the
    /// earliest deadline of an open prompt.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.ended {
            return None;
        }
        let engineer = match self.admission {
            Admission::Asked { deadline, .. } => Some(deadline),
            _ => None,
        };
        [engineer, self.consent.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Refuses every prompt whose deadline has passed (R10).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.ended {
            return;
        }
        if let Admission::Asked { prompt, deadline } = self.admission {
            if now >= deadline {
                self.decide_engineer(prompt, ConsentOutcomeCode::TimedOut);
            }
        }
        for decision in self.consent.expire(now) {
            self.apply(decision);
        }
    }

    /// A message from the engineer on the control channel.
    pub fn handle_viewer(&mut self, message: SessionMessage, now: Instant) {
        if self.ended {
            return;
        }
        match message {
            SessionMessage::CapabilityRequest(request) => self.request(request.capability, now),
            SessionMessage::SessionError(e) => {
                self.notice(format!("engineer's side reports: {}", e.message.as_str()))
            }
            SessionMessage::SessionEnd(end) => self.end(format!(
                "the engineer ended the session ({})",
                end.reason.as_str()
            )),
            other => self.refuse(
                SessionErrorCode::InvalidState,
                &format!("{:?} is not expected from the viewer", other.message_type()),
            ),
        }
    }

    /// A control record that opened but did not decode (e.g. file transfer
    /// on a PHI build, R11): refuse it with the reason and go on.
    pub fn handle_undecodable(&mut self, error: &DecodeError) {
        if !self.ended {
            self.send_once_admitted(SessionError::from_decode_error(error).into());
        }
    }

    /// The control stream ended without the engineer's sealed end.
    pub fn control_closed(&mut self) {
        self.end(CONTROL_CUT.to_owned());
    }

    /// The engineer (or the relay) opened `channel`. `Ok`: keep its
    /// streams, an [`Action::Admit`] with its keys follows (at once, or
    /// once the engineer is admitted). `Err`: a second channel of the
    /// kind; drop its streams. Only a hostile relay or a forged viewer
    /// opens one, so it is reported and audited as tampering and the
    /// session goes on.
    pub fn channel_opened(&mut self, channel: Channel) -> Result<(), ChannelRefused> {
        let keys = match self.keys.take_channel(channel) {
            Ok(keys) => keys,
            Err(refused) => {
                self.tampered(&format!("refused a channel: {refused}"));
                return Err(refused.into());
            }
        };
        if self.admission == Admission::Admitted {
            self.actions.push_back(Action::Admit(keys));
        } else {
            self.held_channels.push(keys);
        }
        Ok(())
    }

    /// Something only an attacker sends arrived: a second channel of a
    /// kind, a record refused in transit (R3, R21). The technician and the
    /// engineer are told and it is recorded as tampering, never as a
    /// password failure. `Malformed`, so the engineer's request in flight
    /// is not taken for refused.
    pub fn tampered(&mut self, detail: &str) {
        if self.ended {
            return;
        }
        self.notice(detail.to_owned());
        self.refuse(SessionErrorCode::Malformed, detail);
        self.audit(
            AuditEvent::SessionTampering {
                host_id: self.host_id.clone(),
                session_id: self.session_id,
                detail: lossy_text(detail),
            },
            AfterAudit::Nothing,
        );
    }

    /// The engineer opened a channel this build does not have (file
    /// transfer on a PHI build, R11): they are told why, once admitted.
    pub fn channel_unavailable(&mut self, reason: &str) {
        if self.ended {
            return;
        }
        self.send_once_admitted(SessionError::new(SessionErrorCode::Unavailable, reason).into());
    }

    /// What this build cannot do is the engineer's business only once they
    /// are admitted (R9).
    fn send_once_admitted(&mut self, message: SessionMessage) {
        if self.admission == Admission::Admitted {
            self.actions.push_back(Action::Send(message));
        } else {
            self.held_messages.push(message);
        }
    }

    /// The technician answered prompt `id`. Answers to prompts already
    /// closed are ignored; an answer at or after the deadline is a timeout.
    pub fn answer(&mut self, id: PromptId, yes: bool, now: Instant) {
        if self.ended {
            return;
        }
        if let Admission::Asked { prompt, deadline } = self.admission {
            if prompt == id {
                let outcome = if now >= deadline {
                    ConsentOutcomeCode::TimedOut
                } else if yes {
                    ConsentOutcomeCode::Granted
                } else {
                    ConsentOutcomeCode::Refused
                };
                self.decide_engineer(prompt, outcome);
                return;
            }
        }
        let Some(capability) = self
            .prompts
            .iter()
            .find_map(|(&cap, &prompt)| (prompt == id).then_some(cap))
        else {
            return;
        };
        if let Ok(decision) = self.consent.answer(capability, yes, now) {
            self.apply(decision);
        }
    }

    /// The technician withdrew `capability`; effective before anything
    /// else the shell does.
    pub fn revoke(&mut self, capability: Capability) {
        if self.ended {
            return;
        }
        match self.consent.revoke(capability) {
            Ok(decision) => self.apply(decision),
            Err(e) => self.notice(e.to_string()),
        }
    }

    /// The technician's "stop everything": every grant revoked, every
    /// open prompt refused.
    pub fn revoke_all(&mut self) {
        if self.ended {
            return;
        }
        for decision in self.consent.revoke_all() {
            self.apply(decision);
        }
    }

    /// The session ends for `reason` (the technician, a lost connection, a
    /// failed audit). Grants are withdrawn first, then prompts close.
    pub fn end(&mut self, reason: String) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.grant_records.clear();
        self.set_grants(CapabilitySet::EMPTY);
        let mut open: Vec<_> = std::mem::take(&mut self.prompts).into_values().collect();
        if let Admission::Asked { prompt, .. } = self.admission {
            open.push(prompt);
            self.admission = Admission::Refused;
        }
        open.sort();
        for prompt in open {
            self.actions.push_back(Action::ClosePrompt(prompt));
        }
        self.actions.push_back(Action::End { reason });
    }

    /// The operator published a newer allowlist (R7): an engineer it no
    /// longer lists, or lists with an expired entry, is disconnected at
    /// once, grants first, and the technician and the record say why. The
    /// shell checks the list's signature and serial before it gets here.
    pub fn allowlist_replaced(&mut self, list: &VerifiedAllowList, now_unix: u64) {
        if self.ended {
            return;
        }
        let engineer = crate::identity::Fingerprint(self.viewer);
        if let Err(e) = list.check(&engineer, now_unix) {
            let reason = format!(
                "the engineer is no longer on the operator's allowlist (serial {}): {e}",
                list.serial()
            );
            let line = format!("{}: {reason}", self.engineer);
            // Withdrawn before anything is said; told before the end.
            self.end(reason);
            let end = self.actions.pop_back();
            self.notice(line);
            self.actions.extend(end);
        }
    }

    /// The relay served a list that was refused (forged, or older than one
    /// accepted before: R7, R21). The list in force stays; the technician
    /// is told and it is recorded as tampering. The engineer did nothing,
    /// so nothing is said to them and the session goes on.
    pub fn allowlist_refused(&mut self, detail: &str) {
        if self.ended {
            return;
        }
        self.notice(format!(
            "refused an engineer allowlist from the relay; the one in force stays: {detail}"
        ));
        self.audit(
            AuditEvent::SessionTampering {
                host_id: self.host_id.clone(),
                session_id: self.session_id,
                detail: lossy_text(&format!("allowlist: {detail}")),
            },
            AfterAudit::Nothing,
        );
    }

    /// Something a helper task must have recorded (a file transfer,
    /// dropped input).
    pub fn record(&mut self, event: AuditEvent) {
        if !self.ended {
            self.audit(event, AfterAudit::Nothing);
        }
    }

    /// Something a helper task says the engineer should hear.
    pub fn tell_engineer(&mut self, error: SessionError) {
        if !self.ended {
            self.notice(error.message.as_str().to_owned());
            self.actions.push_back(Action::Send(error.into()));
        }
    }

    /// The relay has durably recorded audit record `id`.
    pub fn audit_recorded(&mut self, id: AuditId, now: Instant) {
        let Some(after) = self.after_audit.remove(&id) else {
            return;
        };
        if self.ended {
            return;
        }
        match after {
            AfterAudit::Grant(capability) => {
                // A revocation since removed the entry: nothing is granted.
                if self.grant_records.get(&capability) != Some(&id) {
                    return;
                }
                self.grant_records.remove(&capability);
                self.set_grants(self.grants.with(capability, true));
                self.tell(
                    decided(capability, DecisionOutcome::Granted),
                    format!("{} is now GRANTED", capability.label()),
                );
            }
            AfterAudit::Admit => {
                self.admission = Admission::Admitted;
                self.notice(format!("admitted {}", self.engineer));
                for keys in std::mem::take(&mut self.held_channels) {
                    self.actions.push_back(Action::Admit(keys));
                }
                for message in std::mem::take(&mut self.held_messages) {
                    self.actions.push_back(Action::Send(message));
                }
                // Their prompts' time starts now, not while the engineer
                // waited to be admitted.
                for capability in std::mem::take(&mut self.held_requests) {
                    self.request(capability, now);
                }
            }
            AfterAudit::Tell(message, notice) => self.tell(message, notice),
            AfterAudit::Nothing => {}
        }
    }

    /// The relay could not record audit record `id`: nothing may go on
    /// unrecorded, so the session ends (R12).
    pub fn audit_failed(&mut self, id: AuditId, reason: &str) {
        self.after_audit.remove(&id);
        self.end(format!(
            "the relay could not record an audit event ({reason}); stopping the session"
        ));
    }

    fn request(&mut self, capability: Capability, now: Instant) {
        match self.admission {
            Admission::Admitted => {}
            Admission::Refused => return,
            Admission::Asked { .. } | Admission::Recording => {
                if self.held_requests.contains(&capability) {
                    let e = ConsentError::AlreadyPending(capability);
                    self.refuse(SessionErrorCode::InvalidState, &e.to_string());
                } else {
                    self.held_requests.push(capability);
                }
                return;
            }
        }
        match self.consent.request(capability, now) {
            Ok(deadline) => {
                let question = format!(
                    "{} asks for {}. Allow?",
                    self.engineer,
                    capability.label().to_uppercase()
                );
                let prompt = self.show(PromptSubject::Capability(capability), question, deadline);
                self.prompts.insert(capability, prompt);
            }
            Err(e) => self.refuse(SessionErrorCode::InvalidState, &e.to_string()),
        }
    }

    fn decide_engineer(&mut self, prompt: PromptId, outcome: ConsentOutcomeCode) {
        let admitted = outcome == ConsentOutcomeCode::Granted;
        self.audit(
            AuditEvent::EngineerDecision {
                host_id: self.host_id.clone(),
                session_id: self.session_id,
                viewer: self.viewer,
                outcome,
            },
            if admitted {
                AfterAudit::Admit
            } else {
                AfterAudit::Nothing
            },
        );
        match outcome {
            ConsentOutcomeCode::Granted => self.admission = Admission::Recording,
            _ => {
                self.actions.push_back(Action::ClosePrompt(prompt));
                self.admission = Admission::Refused;
                let why = if outcome == ConsentOutcomeCode::TimedOut {
                    "the technician did not answer whether to admit the engineer"
                } else {
                    "the technician did not admit the engineer"
                };
                self.end(why.to_owned());
            }
        }
    }

    /// Carries out one consent decision: a withdrawal now, then its
    /// record; a grant only after its record (R10, R12).
    fn apply(&mut self, decision: ConsentDecision) {
        let capability = decision.capability;
        if let Some(prompt) = self.prompts.remove(&capability) {
            if decision.outcome != ConsentOutcome::Granted {
                self.actions.push_back(Action::ClosePrompt(prompt));
            }
        }
        if decision.outcome != ConsentOutcome::Granted {
            self.grant_records.remove(&capability);
            if self.grants.allows(capability) {
                self.set_grants(self.grants.with(capability, false));
            }
        }
        let (outcome, after) = match decision.outcome {
            ConsentOutcome::Granted => (ConsentOutcomeCode::Granted, AfterAudit::Grant(capability)),
            ConsentOutcome::Revoked => (
                ConsentOutcomeCode::Revoked,
                AfterAudit::Tell(
                    CapabilityRevoked { capability }.into(),
                    format!("{} is now REVOKED", capability.label()),
                ),
            ),
            ConsentOutcome::Denied(DenyReason::Refused) => (
                ConsentOutcomeCode::Refused,
                AfterAudit::Tell(
                    decided(capability, DecisionOutcome::Refused),
                    format!("{} is now refused", capability.label()),
                ),
            ),
            ConsentOutcome::Denied(DenyReason::TimedOut) => (
                ConsentOutcomeCode::TimedOut,
                AfterAudit::Tell(
                    decided(capability, DecisionOutcome::TimedOut),
                    format!("{} is now refused (no answer)", capability.label()),
                ),
            ),
        };
        let id = self.audit(
            AuditEvent::ConsentDecision {
                host_id: self.host_id.clone(),
                session_id: self.session_id,
                capability,
                outcome,
            },
            after,
        );
        if outcome == ConsentOutcomeCode::Granted {
            self.grant_records.insert(capability, id);
        }
    }

    fn deadline(&self, now: Instant) -> Instant {
        // Too large for `Instant`: already due, so it fails closed.
        now.checked_add(self.prompt_timeout).unwrap_or(now)
    }

    fn show(&mut self, subject: PromptSubject, question: String, deadline: Instant) -> PromptId {
        let id = PromptId(self.next_prompt);
        self.next_prompt += 1;
        self.actions.push_back(Action::ShowPrompt {
            id,
            subject,
            question,
            deadline,
        });
        id
    }

    fn audit(&mut self, event: AuditEvent, after: AfterAudit) -> AuditId {
        let id = AuditId(self.next_audit);
        self.next_audit += 1;
        self.after_audit.insert(id, after);
        self.actions.push_back(Action::Audit { id, event });
        id
    }

    fn set_grants(&mut self, grants: CapabilitySet) {
        self.grants = grants;
        self.actions.push_back(Action::SetGrants(grants));
    }

    fn tell(&mut self, message: SessionMessage, notice: String) {
        self.notice(notice);
        self.actions.push_back(Action::Send(message));
    }

    fn refuse(&mut self, code: SessionErrorCode, message: &str) {
        self.actions
            .push_back(Action::Send(SessionError::new(code, message).into()));
    }

    fn notice(&mut self, line: String) {
        self.actions.push_back(Action::Notice(line));
    }
}

fn decided(capability: Capability, outcome: DecisionOutcome) -> SessionMessage {
    CapabilityDecision {
        capability,
        outcome,
    }
    .into()
}
