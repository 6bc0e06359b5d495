//! A complete support session through the protocol core, in one process:
//! operator, host and viewer identities, the signed allowlist, a one-time
//! password, a wrong guess and its lockout, the handshake through a blind
//! relay, per-capability consent, encrypted records, and the audit chain.
//!
//! No sockets: a simulated relay forwards frames and remembers every byte it
//! saw, so the demo can show that it never saw the password or the content.
//! Run with `./scripts/demo.sh` (or `cargo run -p assent-proto --example loopback_session`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use assent_proto::allowlist::{AllowList, AllowListEntry};
use assent_proto::audit::{self, AuditChain, AuditKey};
use assent_proto::consent::SessionConsent;
use assent_proto::handshake::host::HostCredentials;
use assent_proto::handshake::viewer::{self, ViewerConfig};
use assent_proto::handshake::{Channel, HandshakeError};
use assent_proto::identity::Identity;
use assent_proto::lockout::{Lockout, LockoutPolicy};
use assent_proto::messages::audit_event::{AuditEvent, ConsentOutcomeCode};
use assent_proto::messages::consent::Capability;
use assent_proto::password::{OneTimePassword, StretchParams};
use assent_proto::wire::{Field, Frame, FrameDecoder, List, Message, MessageType, Text};
use rand_core::{OsRng, RngCore};

/// The relay's view: it checks envelopes and forwards; it never holds keys.
#[derive(Default)]
struct BlindRelay {
    seen: Vec<u8>,
    frames: usize,
}

impl BlindRelay {
    fn forward<M: Message>(&mut self, message: &M) -> M {
        let bytes = message.to_frame().expect("message within its bound");
        self.forward_bytes(&bytes);
        M::from_frame(&bytes).expect("relay forwards bytes unchanged")
    }

    /// End-to-end records travel in `SealedRecord` frames; the payload is ciphertext.
    fn forward_record(&mut self, record: Vec<u8>) -> Vec<u8> {
        let frame = Frame {
            message_type: MessageType::SealedRecord,
            payload: record,
        };
        self.forward_bytes(&frame.to_bytes());
        frame.payload
    }

    fn forward_bytes(&mut self, bytes: &[u8]) {
        let mut decoder = FrameDecoder::new();
        let mut input = bytes;
        while let Some(frame) = decoder.decode(&mut input).expect("well-formed frame") {
            self.frames += 1;
            let _ = frame.message_type; // all a relay may learn: type and length
        }
        self.seen.extend_from_slice(bytes);
    }
}

fn step(title: &str) {
    println!("\n== {title}");
}

fn main() {
    let mut rng = OsRng;
    let t0 = Instant::now();
    let now_unix = 1_800_000_000;

    step("Enrolment: RSA-4096 identities (R4)");
    let operator = Identity::generate(&mut rng).expect("operator key");
    let host = Arc::new(Identity::generate(&mut rng).expect("host key"));
    let engineer = Arc::new(Identity::generate(&mut rng).expect("engineer key"));
    println!("operator  {}", operator.fingerprint());
    println!("host      {}", host.fingerprint());
    println!("engineer  {}", engineer.fingerprint());

    step("Operator signs the allowlist; the host verifies it (R7)");
    let list = AllowList {
        serial: 1,
        issued_unix: now_unix - 60,
        expires_unix: now_unix + 30 * 86_400,
        entries: List::new(vec![AllowListEntry {
            viewer: engineer.public().clone(),
            name: Text::new("Erin Engineer").unwrap(),
            email: Text::new("erin@support.example").unwrap(),
            expires_unix: now_unix + 90 * 86_400,
        }])
        .unwrap(),
    };
    let signed = list.sign(&operator, &mut rng);
    let allowlist = signed
        .verify(operator.public(), now_unix)
        .expect("operator-signed list verifies");
    println!(
        "allowlist serial {} with {} engineer(s)",
        allowlist.serial(),
        allowlist.entries().len()
    );

    step("Technician starts a support request (R5, R9)");
    let mut session_id = [0u8; 32];
    rng.fill_bytes(&mut session_id);
    let password = OneTimePassword::generate(&mut rng);
    let stretch = StretchParams::default();
    let stretch_started = Instant::now();
    let credentials = HostCredentials::new(host.clone(), &password, session_id, &stretch)
        .expect("argon2id stretch");
    println!(
        "one-time password shown to the technician: {}",
        password.display_grouped()
    );
    println!(
        "(argon2id m=64 MiB, t=3 stretched it in {:?})",
        stretch_started.elapsed()
    );

    let audit_key = AuditKey::generate(&mut rng);
    let mut chain = AuditChain::new(audit_key.clone());
    let mut sealed = Vec::new();
    let mut audit = |event: AuditEvent, chain: &mut AuditChain| {
        sealed.push(chain.append(&mut OsRng, 0, event).expect("audit append"));
    };
    let host_id = Text::new("H-0001").unwrap();
    let mut relay = BlindRelay::default();
    let mut lockout = Lockout::new(LockoutPolicy::default());
    let mut clock = Instant::now();

    step("Attempt 1: the engineer mistypes the password (R6)");
    let wrong = OneTimePassword::generate(&mut rng);
    let result = attempt(
        &credentials,
        &allowlist,
        now_unix,
        &engineer,
        &host,
        &wrong,
        session_id,
        &mut relay,
    );
    match result {
        Err(HandshakeError::WrongPassword) => {
            let state = lockout.record_failure(clock);
            println!("host: {state}");
            audit(
                AuditEvent::AuthenticationFailed {
                    host_id: host_id.clone(),
                    viewer: *engineer.fingerprint().as_bytes(),
                    source: Text::new("127.0.0.1").unwrap(),
                    failures: lockout.failures(),
                },
                &mut chain,
            );
        }
        other => panic!("expected a wrong-password failure, got {other:?}"),
    }
    if let Err(locked) = lockout.check(clock) {
        println!("an immediate retry is refused: {locked}");
    }
    clock += Duration::from_secs(6);

    step("Attempt 2: the right password, after the wait");
    lockout.check(clock).expect("wait has passed");
    let (mut viewer_keys, mut host_keys) = attempt(
        &credentials,
        &allowlist,
        now_unix,
        &engineer,
        &host,
        &password,
        session_id,
        &mut relay,
    )
    .expect("handshake succeeds");
    lockout.record_success();
    println!(
        "both ends agree on transcript {}…",
        hex4(viewer_keys.transcript_hash())
    );
    audit(
        AuditEvent::SessionStarted {
            host_id: host_id.clone(),
            session_id,
            viewer: *engineer.fingerprint().as_bytes(),
        },
        &mut chain,
    );

    step("Consent, one capability at a time (R10)");
    let mut consent = SessionConsent::new(Duration::from_secs(60));
    let mut screen_tx = host_keys
        .take_channel(Channel::Screen)
        .expect("fresh keys")
        .sealer;
    let mut screen_rx = viewer_keys
        .take_channel(Channel::Screen)
        .expect("fresh keys")
        .opener;
    let screen_content = b"ANALYSER READY  Lot 4711  QC PASS";

    println!(
        "before consent, screen view allowed? {}",
        consent.allows(Capability::ScreenView, clock)
    );
    consent.request(Capability::ScreenView, clock).unwrap();
    let decision = consent.answer(Capability::ScreenView, true, clock).unwrap();
    println!("technician granted {}", decision.capability);
    audit(
        consent_event(
            &host_id,
            session_id,
            Capability::ScreenView,
            ConsentOutcomeCode::Granted,
        ),
        &mut chain,
    );
    if consent.allows(Capability::ScreenView, clock) {
        let mut record = Vec::new();
        screen_tx.seal(screen_content, &mut record).unwrap();
        let mut record = relay.forward_record(record);
        let shown = screen_rx.open(&mut record).unwrap();
        println!("viewer sees: {}", String::from_utf8_lossy(shown));
    }

    consent.request(Capability::RemoteControl, clock).unwrap();
    clock += Duration::from_secs(61);
    for timed_out in consent.expire(clock) {
        println!(
            "technician did not answer: {} is {:?}",
            timed_out.capability, timed_out.outcome
        );
        audit(
            consent_event(
                &host_id,
                session_id,
                timed_out.capability,
                ConsentOutcomeCode::TimedOut,
            ),
            &mut chain,
        );
    }
    println!(
        "a click from the engineer is dropped: control allowed? {}",
        consent.allows(Capability::RemoteControl, clock)
    );
    audit(
        AuditEvent::InputDropped {
            host_id: host_id.clone(),
            session_id,
            count: 1,
        },
        &mut chain,
    );

    consent.revoke(Capability::ScreenView).unwrap();
    println!(
        "technician revoked screen view: allowed now? {}",
        consent.allows(Capability::ScreenView, clock)
    );
    audit(
        consent_event(
            &host_id,
            session_id,
            Capability::ScreenView,
            ConsentOutcomeCode::Revoked,
        ),
        &mut chain,
    );

    step("What the relay saw");
    let pw = password.display_grouped().replace('-', "");
    println!(
        "{} frames, {} bytes; contains the password? {}; contains the screen text? {}",
        relay.frames,
        relay.seen.len(),
        contains(&relay.seen, pw.as_bytes()),
        contains(&relay.seen, screen_content),
    );

    step("Audit chain (R12)");
    let verified = audit::verify(&audit_key, sealed.iter(), Some(&chain.head()))
        .expect("intact chain verifies");
    println!("{} sealed records verify", verified.records);
    let mut tampered = sealed.clone();
    let mut bytes = tampered[2].to_bytes();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    tampered[2] = Field::from_bytes(&bytes).unwrap();
    match audit::verify(&audit_key, tampered.iter(), Some(&chain.head())) {
        Err(e) => println!("after flipping one bit of record 2: {e}"),
        Ok(_) => panic!("tampering went unnoticed"),
    }
    println!("\ndone in {:?}", t0.elapsed());
}

#[allow(clippy::too_many_arguments)]
fn attempt(
    credentials: &HostCredentials,
    allowlist: &assent_proto::allowlist::VerifiedAllowList,
    now_unix: u64,
    engineer: &Arc<Identity>,
    host: &Identity,
    password: &OneTimePassword,
    session_id: [u8; 32],
    relay: &mut BlindRelay,
) -> Result<
    (
        assent_proto::handshake::SessionKeys,
        assent_proto::handshake::SessionKeys,
    ),
    HandshakeError,
> {
    let mut rng = OsRng;
    let config = ViewerConfig {
        identity: engineer.clone(),
        password,
        session_id,
        expected_host: host.fingerprint(),
        stretch: StretchParams::default(),
    };
    let (expect_host_hello, hello) = viewer::start(config, &mut rng)?;
    let hello = relay.forward(&hello);
    let (expect_viewer_finish, host_hello) =
        credentials.respond(allowlist, now_unix, &hello, &mut rng)?;
    println!(
        "host: engineer {} <{}> is on the allowlist",
        expect_viewer_finish.viewer().name,
        expect_viewer_finish.viewer().email
    );
    let host_hello = relay.forward(&host_hello);
    let (expect_host_finish, finish) =
        expect_host_hello.receive_host_hello(&host_hello, &mut rng)?;
    let finish = relay.forward(&finish);
    let (host_keys, host_finish) = expect_viewer_finish.receive_viewer_finish(&finish)?;
    let host_finish = relay.forward(&host_finish);
    let viewer_keys = expect_host_finish.receive_host_finish(&host_finish)?;
    Ok((viewer_keys, host_keys))
}

fn consent_event(
    host_id: &Text<64>,
    session_id: [u8; 32],
    capability: Capability,
    outcome: ConsentOutcomeCode,
) -> AuditEvent {
    AuditEvent::ConsentDecision {
        host_id: host_id.clone(),
        session_id,
        capability,
        outcome,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn hex4(bytes: &[u8; 32]) -> String {
    bytes[..4].iter().map(|b| format!("{b:02x}")).collect()
}
