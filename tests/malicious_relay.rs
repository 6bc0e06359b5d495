//! The malicious-relay conformance suite (R3, R6, R10, R21; issue 12): the
//! real host (on Xvfb) and the real headless viewer talk through
//! [`HostileRelay`], a man in the middle holding the relay's own certificate
//! and key, in front of the real relay. Each test makes it attack one way;
//! every test ends by checking, on all the ciphertext it forwarded, that no
//! two sealed records share a (key, nonce) and no known plaintext crossed.

mod support;

use std::sync::Mutex;

use assent_host::session::CONTROL_CUT;
use assent_proto::handshake::Direction;
use assent_proto::messages::consent::{Capability, CapabilityRequest};
use assent_proto::messages::input::KeyEvent;
use assent_proto::messages::session::SessionMessage;
use assent_proto::messages::signalling::ChannelKind;
use assent_proto::wire::MessageType;
use support::hostile_relay::tamper::{RecordAt, Tamper};
use support::hostile_relay::HostileRelay;
use support::lab::{Lab, Proc};

/// Sessions are heavy (relay, host, viewer, Xvfb, argon2id): one at a time.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A lab whose host and viewer reach the relay only through a hostile one.
fn lab_behind_hostile_relay() -> (Lab, HostileRelay) {
    let mut lab = support::lab("DxH 900");
    let proxy = HostileRelay::start(&lab);
    lab.route_clients_through(&proxy.addr).unwrap();
    (lab, proxy)
}

/// The technician's prompts, answered in one place: waits for the next
/// prompt from line `from` on, checks it asks for `what`, answers `y`, and
/// returns the line after it.
fn approve(host: &mut Proc, from: usize, what: &str) -> usize {
    let (from, prompt) = next_capability_prompt(host, from);
    assert!(
        prompt.contains(what),
        "expected a prompt for {what}: {prompt}"
    );
    from
}

/// Approves each of `capabilities` (labels as the host prints them) in the
/// order the viewer asks for them.
fn approve_all(host: &mut Proc, capabilities: &[&str]) -> usize {
    let mut from = 0;
    let mut left: Vec<&str> = capabilities.to_vec();
    while !left.is_empty() {
        let (next, prompt) = next_capability_prompt(host, from);
        let i = left
            .iter()
            .position(|c| prompt.contains(&format!("asks for {c}")))
            .unwrap_or_else(|| panic!("unexpected prompt: {prompt}"));
        left.remove(i);
        from = next;
    }
    from
}

/// Answers yes to the prompts from output line `from` on, the engineer's
/// admission included (R9), up to and with the first capability prompt;
/// returns where to look next and that prompt.
fn next_capability_prompt(host: &mut Proc, mut from: usize) -> (usize, String) {
    loop {
        let (at, prompt) = host.wait_for_from(from, ">>> ");
        host.wait_for_from(at, support::lab::ANSWER_NOW);
        host.type_line("y");
        if !prompt.contains(support::lab::ADMISSION_PROMPT) {
            return (at + 1, prompt);
        }
        from = at + 1;
    }
}

/// Everything a viewer said, both streams.
fn said(viewer: &Proc) -> String {
    format!("{}\n{}", viewer.stdout_text(), viewer.stderr_text())
}

/// What no relay may see of a session: the one-time password, as shown
/// and as typed without its grouping.
fn password_forms(password: &str) -> [Vec<u8>; 2] {
    let bare: String = password
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    [password.as_bytes().to_vec(), bare.into_bytes()]
}

/// The plaintext frames of the engineer typing `text` and asking for the
/// screen, as they are sealed: no relay may see them either.
fn engineer_plaintexts(text: &str) -> Vec<Vec<u8>> {
    let mut messages: Vec<SessionMessage> = text
        .chars()
        .flat_map(|c| {
            [true, false].map(|pressed| {
                KeyEvent {
                    keysym: c as u32,
                    pressed,
                }
                .into()
            })
        })
        .collect();
    messages.push(
        CapabilityRequest {
            capability: Capability::ScreenView,
        }
        .into(),
    );
    messages.iter().map(|m| m.to_frame().unwrap()).collect()
}

fn record(channel: ChannelKind, direction: Direction, seq: u64) -> RecordAt {
    RecordAt {
        channel,
        direction,
        seq,
    }
}

/// Keys the panel says it received, in order.
fn keys_typed(panel: &Proc) -> Vec<String> {
    panel
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("key "))
        .collect()
}

/// Contents no relay may see: long enough not to turn up by chance.
fn secret_file(lab: &Lab, name: &str, marker: &str) -> (std::path::PathBuf, Vec<u8>) {
    let path = lab.path(name);
    let content = format!("{marker}: patient 0042, lot 4711, result 7.35 mmol/L\n").repeat(200);
    std::fs::write(&path, &content).unwrap();
    (path, content.into_bytes())
}

#[test]
fn duplicate_channels_of_every_kind_are_refused_and_replayed_records_never_act() {
    let _one = one_at_a_time();
    let (lab, proxy) = lab_behind_hostile_relay();
    let panel = lab.instrument_panel(true).unwrap();
    let (first, first_bytes) = secret_file(&lab, "qc-first.csv", "first to engineer");
    let (second, second_bytes) = secret_file(&lab, "qc-second.csv", "second to engineer");
    let downloads = lab.path("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let (mut host, password) = lab.support(&[]);
    // Control last: the keys are typed once it is granted, with no prompt
    // open (an open prompt drops input).
    let mut viewer = lab.viewer(
        &password,
        &[
            "--request",
            "screen",
            "--request",
            "files",
            "--request",
            "control",
            "--type",
            "ab",
            "--download-dir",
            downloads.to_str().unwrap(),
            "--receive",
            "2",
        ],
    );
    approve_all(
        &mut host,
        &["SCREEN VIEW", "FILE TRANSFER", "REMOTE CONTROL"],
    );
    panel.wait_for("key 98 b");
    // The engineer's acceptance of a file is on the files channel to replay.
    host.type_line(&format!("send {}", first.display()));
    viewer.wait_for("file received: qc-first.csv");

    // Every kind of channel once more, each with the viewer's records on it.
    let kinds = [
        ChannelKind::Control,
        ChannelKind::Screen,
        ChannelKind::Input,
        ChannelKind::Files,
        ChannelKind::Notifications,
    ];
    let duplicates = proxy.open_duplicates(&kinds);
    for duplicate in &duplicates {
        assert!(
            duplicate.ended && duplicate.served.is_empty(),
            "the host served a duplicate {:?} channel: {:?}",
            duplicate.channel,
            duplicate.served
        );
    }
    let replayed: usize = duplicates.iter().map(|d| d.replayed).sum();
    assert!(
        replayed >= 4,
        "too little was replayed to prove anything: {duplicates:?}"
    );

    // The honest session goes on: the technician's file still reaches the engineer.
    host.type_line(&format!("send {}", second.display()));
    viewer.wait_for("file received: qc-second.csv");
    assert!(viewer.wait_exit().success(), "{}", viewer.stderr_text());
    host.wait_for("Session ended");

    // The engineer heard of each refusal, sealed on the real control channel.
    let said = said(&viewer);
    for kind in ["Control", "Screen", "Input", "Files", "Notifications"] {
        assert!(
            said.contains(&format!(
                "host error (Malformed): refused a channel: the {kind} channel is already open"
            )),
            "{said}"
        );
    }
    assert_eq!(
        keys_typed(&panel),
        ["key 97 a", "key 98 b"],
        "replayed keys were typed"
    );
    let audit = lab
        .audit(&["--host", &lab.host_id, "--kind", "session_tampering"])
        .unwrap();
    for kind in ["Control", "Screen", "Input", "Files", "Notifications"] {
        assert!(
            audit.contains(&format!("{kind} channel is already open")),
            "no session_tampering record for {kind}:\n{audit}"
        );
    }
    let mut secrets = engineer_plaintexts("ab");
    secrets.extend(password_forms(&password));
    secrets.extend([first_bytes[..64].to_vec(), second_bytes[..64].to_vec()]);
    let secrets: Vec<&[u8]> = secrets.iter().map(Vec::as_slice).collect();
    proxy.ledger().assert_clean(&secrets);
}

#[test]
fn a_fin_injected_on_the_control_stream_reads_as_a_cut_at_either_end_not_as_the_other_side_ending()
{
    let _one = one_at_a_time();
    let (lab, proxy) = lab_behind_hostile_relay();
    let mut secrets = Vec::new();

    // Towards the host, in place of the engineer's first sealed control record.
    proxy.tamper(Tamper::Fin(record(
        ChannelKind::Control,
        Direction::ViewerToHost,
        0,
    )));
    let (host, password) = lab.support(&[]);
    let mut viewer = lab.viewer(&password, &["--request", "screen", "--frames", "1"]);
    proxy.wait_fired("fin", 1);
    let ended = host.wait_for("Session ended");
    assert!(ended.contains(CONTROL_CUT), "{ended}");
    assert!(!ended.contains("the engineer ended"), "{ended}");
    viewer.wait_exit();
    secrets.extend(password_forms(&password));
    drop(host);

    // Towards the viewer, in place of the host's first sealed control record.
    proxy.tamper(Tamper::Fin(record(
        ChannelKind::Control,
        Direction::HostToViewer,
        0,
    )));
    let (mut host, password) = lab.support(&[]);
    let mut viewer = lab.viewer(&password, &["--request", "screen", "--frames", "1"]);
    approve(&mut host, 0, "SCREEN VIEW");
    proxy.wait_fired("fin", 2);
    assert!(!viewer.wait_exit().success());
    let said = said(&viewer);
    assert!(
        said.contains(
            "the host's control channel closed without its sealed end of session: \
             the relay or the network cut it"
        ),
        "{said}"
    );
    assert!(!said.contains("the host ended the session"), "{said}");
    assert!(!said.contains("granted: screen view"), "{said}");
    secrets.extend(password_forms(&password));
    let secrets: Vec<&[u8]> = secrets.iter().map(Vec::as_slice).collect();
    proxy.ledger().assert_clean(&secrets);
}

/// One session in which the engineer types `abcd` while the hostile relay
/// applies `rule` (named `name`) to the input records; returns what the
/// host said.
fn typing_session(lab: &Lab, proxy: &HostileRelay, rule: Tamper, fired: usize) -> String {
    let name = rule.name();
    proxy.tamper(rule);
    let (mut host, password) = lab.support(&[]);
    let mut viewer = lab.viewer(&password, &["--type", "abcd"]);
    approve_all(&mut host, &["SCREEN VIEW", "REMOTE CONTROL"]);
    proxy.wait_fired(name, fired);
    host.wait_for("the input channel refused a record");
    viewer.wait_exit();
    host.wait_for("Session ended");
    host.stdout_text()
}

#[test]
fn input_records_swapped_dropped_or_cut_by_the_relay_are_refused_and_nothing_after_them_is_typed() {
    let _one = one_at_a_time();
    let (lab, proxy) = lab_behind_hostile_relay();
    let panel = lab.instrument_panel(true).unwrap();
    // Records 0 and 1 press and release `a`; 2 and 3 do `b`.
    let b_pressed = record(ChannelKind::Input, Direction::ViewerToHost, 2);
    let swapped = typing_session(&lab, &proxy, Tamper::Swap(b_pressed), 1);
    assert!(
        swapped.contains("record 3 out of order (expected 2)"),
        "{swapped}"
    );
    let dropped = typing_session(&lab, &proxy, Tamper::Drop(b_pressed), 1);
    assert!(
        dropped.contains("record 3 out of order (expected 2)"),
        "{dropped}"
    );
    let cut = typing_session(&lab, &proxy, Tamper::Truncate(b_pressed), 1);
    assert!(cut.contains("record 2 failed authentication"), "{cut}");

    // An honest session last: its key comes after anything the others
    // could still have typed, so the list below is complete.
    let (mut host, password) = lab.support(&[]);
    let mut viewer = lab.viewer(&password, &["--type", "z"]);
    approve_all(&mut host, &["SCREEN VIEW", "REMOTE CONTROL"]);
    panel.wait_for("key 122 z");
    assert!(viewer.wait_exit().success(), "{}", viewer.stderr_text());
    assert_eq!(
        keys_typed(&panel),
        ["key 97 a", "key 97 a", "key 97 a", "key 122 z"],
        "a key after a refused record was typed"
    );
    // Each refusal is on record as tampering, not lost in a log.
    let audit = lab
        .audit(&["--host", &lab.host_id, "--kind", "session_tampering"])
        .unwrap();
    assert_eq!(
        audit.matches("the input channel refused a record").count(),
        3,
        "{audit}"
    );
    let mut secrets = engineer_plaintexts("abcdz");
    secrets.extend(password_forms(&password));
    let secrets: Vec<&[u8]> = secrets.iter().map(Vec::as_slice).collect();
    proxy.ledger().assert_clean(&secrets);
}

/// A session where the engineer asks for the screen and the technician
/// grants it, then revokes it: two control records from the host.
fn grant_then_revoke(lab: &Lab, proxy: &HostileRelay, rule: Tamper, fired: usize) -> Proc {
    let name = rule.name();
    proxy.tamper(rule);
    let (mut host, password) = lab.support(&[]);
    let mut viewer = lab.viewer(&password, &["--request", "screen", "--frames", "1000"]);
    approve(&mut host, 0, "SCREEN VIEW");
    host.wait_for("screen view is now GRANTED");
    host.type_line("rs");
    proxy.wait_fired(name, fired);
    assert!(!viewer.wait_exit().success());
    viewer
}

#[test]
fn control_records_swapped_dropped_or_cut_by_the_relay_are_refused_and_never_acted_on() {
    let _one = one_at_a_time();
    let (lab, proxy) = lab_behind_hostile_relay();
    let first = record(ChannelKind::Control, Direction::HostToViewer, 0);
    for (rule, expected) in [
        (Tamper::Swap(first), "record 1 out of order (expected 0)"),
        (Tamper::Drop(first), "record 1 out of order (expected 0)"),
    ] {
        let viewer = grant_then_revoke(&lab, &proxy, rule, 1);
        let said = said(&viewer);
        assert!(
            said.contains(&format!(
                "the control channel failed: end-to-end record refused: {expected}"
            )),
            "{said}"
        );
        // Neither the grant nor the revocation was believed.
        assert!(!said.contains("granted: screen view"), "{said}");
        assert!(!said.contains("revoked: screen view"), "{said}");
    }

    // The engineer's request, cut short: the host never asks the technician.
    proxy.tamper(Tamper::Truncate(record(
        ChannelKind::Control,
        Direction::ViewerToHost,
        0,
    )));
    let (host, password) = lab.support(&[]);
    let mut viewer = lab.viewer(&password, &["--request", "screen", "--frames", "1"]);
    proxy.wait_fired("truncate", 1);
    let ended = host.wait_for("Session ended");
    assert!(
        ended.contains(
            "the control channel failed: end-to-end record refused: record 0 failed authentication"
        ),
        "{ended}"
    );
    let audit = lab
        .audit(&["--host", &lab.host_id, "--kind", "session_tampering"])
        .unwrap();
    assert!(
        audit.contains("the control channel refused a record"),
        "{audit}"
    );
    // Over, so no capability prompt can still come.
    assert!(
        !host.stdout_text().contains("asks for"),
        "{}",
        host.stdout_text()
    );
    viewer.wait_exit();
    let [shown, bare] = password_forms(&password);
    proxy.ledger().assert_clean(&[&shown, &bare]);
}

/// Every field of the handshake's first three messages, each way. The
/// fourth (`HostFinish`) has its own test: the host has admitted the
/// engineer by the time it is sent.
const FLIPPED_FIELDS: &[(MessageType, &str)] = &[
    (MessageType::ViewerHello, "session_id"),
    (MessageType::ViewerHello, "viewer_nonce"),
    (MessageType::ViewerHello, "viewer_ephemeral"),
    (MessageType::ViewerHello, "viewer_pake"),
    (MessageType::ViewerHello, "viewer_identity"),
    (MessageType::HostHello, "host_nonce"),
    (MessageType::HostHello, "host_ephemeral"),
    (MessageType::HostHello, "host_pake"),
    (MessageType::HostHello, "host_identity"),
    (MessageType::HostHello, "signature"),
    (MessageType::ViewerFinish, "signature"),
    (MessageType::ViewerFinish, "confirm"),
];

#[test]
fn a_bit_flipped_in_any_handshake_field_fails_as_tampering_and_never_counts_against_the_password() {
    let _one = one_at_a_time();
    let (lab, proxy) = lab_behind_hostile_relay();
    let (mut host, password) = lab.support(&[]);
    let mut from = 0;
    for (n, &(message, field)) in FLIPPED_FIELDS.iter().enumerate() {
        proxy.tamper(Tamper::FlipField { message, field });
        let mut viewer = lab.viewer(&password, &["--request", "screen", "--frames", "1"]);
        proxy.wait_fired("flip", n + 1);
        assert!(
            !viewer.wait_exit().success(),
            "{message:?}.{field}: {}",
            said(&viewer)
        );
        let (at, attempt) = host.wait_for_from(from, "connection attempt");
        from = at + 1;
        if field == "viewer_identity" {
            // Indistinguishable, at the host, from an engineer its signed
            // allowlist does not hold (removed since the relay checked the
            // login): a flipped modulus is another valid key. It is refused
            // before any password test, so it still costs the password nothing.
            assert!(
                attempt.contains("viewer identity refused"),
                "{field}: {attempt}"
            );
        } else {
            assert!(
                attempt.contains("altered in transit or forged"),
                "{message:?}.{field} was not seen as tampering: {attempt}"
            );
        }
    }
    // The password survived all of it: the engineer gets in with it now.
    let mut viewer = lab.viewer(&password, &["--request", "screen", "--frames", "1"]);
    approve(&mut host, from, "SCREEN VIEW");
    viewer.wait_for("frame 1 complete");
    assert!(viewer.wait_exit().success(), "{}", said(&viewer));
    host.wait_for("Session ended");

    let output = host.stdout_text();
    assert!(
        !output.contains("wrong session password") && !output.contains("locked"),
        "a tampered handshake was counted against the password:\n{output}"
    );
    let failures = lab
        .audit(&["--host", &lab.host_id, "--kind", "authentication_failed"])
        .unwrap();
    assert!(!failures.contains("authentication_failed"), "{failures}");
    let tampering = lab
        .audit(&["--host", &lab.host_id, "--kind", "session_tampering"])
        .unwrap();
    assert_eq!(
        tampering.matches("handshake: ").count(),
        FLIPPED_FIELDS.len() - 1,
        "one tampering record per flipped field but the identity:\n{tampering}"
    );
    let [shown, bare] = password_forms(&password);
    proxy.ledger().assert_clean(&[&shown, &bare]);
}

#[test]
fn a_flipped_host_finish_is_refused_by_the_viewer_and_never_blamed_on_the_password() {
    let _one = one_at_a_time();
    let (lab, proxy) = lab_behind_hostile_relay();
    proxy.tamper(Tamper::FlipField {
        message: MessageType::HostFinish,
        field: "confirm",
    });
    let (host, password) = lab.support(&[]);
    let mut viewer = lab.viewer(&password, &["--request", "screen", "--frames", "1"]);
    proxy.wait_fired("flip", 1);
    assert!(!viewer.wait_exit().success());
    let said = said(&viewer);
    assert!(
        said.contains("host could not confirm the session keys"),
        "{said}"
    );
    // The host sends HostFinish only after the engineer's signed key
    // confirmation checked out: the password was right and is spent on
    // this session, which the viewer then leaves. The host cannot see the
    // flip (HostFinish is its last word), so it records no tampering, only
    // an engineer who never spoke sealed.
    let ended = host.wait_for("Session ended");
    assert!(!ended.contains("the engineer ended the session"), "{ended}");
    let output = host.stdout_text();
    assert!(
        !output.contains("wrong session password") && !output.contains("locked"),
        "{output}"
    );
    let failures = lab
        .audit(&["--host", &lab.host_id, "--kind", "authentication_failed"])
        .unwrap();
    assert!(!failures.contains("authentication_failed"), "{failures}");
    let [shown, bare] = password_forms(&password);
    proxy.ledger().assert_clean(&[&shown, &bare]);
}

/// `assent-relay` administration on the lab relay's data directory.
fn relay_admin(lab: &Lab, args: &[&str]) {
    let out = std::process::Command::new(lab.bin("assent-relay"))
        .arg("--data-dir")
        .arg(lab.relay_dir())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "assent-relay {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The operator lists the lab's engineer again (a newer list).
fn list_the_engineer_again(lab: &Lab) {
    let key = lab.path("viewer").join("viewer.pub.pem");
    relay_admin(
        lab,
        &[
            "allowlist",
            "add",
            "--name",
            "Erin Engineer",
            "--email",
            "erin@support.example",
            "--key",
            key.to_str().unwrap(),
        ],
    );
}

#[test]
fn an_older_signed_allowlist_served_to_the_host_is_refused_as_a_rollback() {
    let _one = one_at_a_time();
    let (lab, proxy) = lab_behind_hostile_relay();
    let engineer = assent_proto::test_keys::key("viewer")
        .fingerprint()
        .to_string();
    // The operator removes the engineer (a newer list), and the host takes
    // it in; then enrols them again (newer still), and the host takes that.
    relay_admin(&lab, &["allowlist", "remove", &engineer]);
    drop(lab.support(&[]));
    list_the_engineer_again(&lab);
    drop(lab.support(&[]));
    // The relay replays the older list, still signed and unexpired.
    let older = proxy.allowlists_served()[0].clone();
    proxy.tamper(Tamper::ReplaceAllowList(older));
    let mut host = Proc::spawn(
        "assent-host support",
        std::process::Command::new(&lab.host_binary)
            .arg("--data-dir")
            .arg(lab.host_dir())
            .args(["support", "--prompt", "terminal"]),
    );
    proxy.wait_fired("allowlist", 1);
    // It stops at once; one that took the list would wait for an engineer.
    let status = host
        .wait_exit_within(support::lab::WAIT)
        .unwrap_or_else(|| {
            panic!(
                "the host went on with the older list:\n{}",
                host.stdout_text()
            )
        });
    let said = format!("{}{}", host.stdout_text(), host.stderr_text());
    assert!(!status.success(), "{said}");
    assert!(said.contains("older than the list in use"), "{said}");
    assert!(
        !said.contains("one-time password"),
        "no support request is opened on a rolled-back list: {said}"
    );
}

/// Issue 13 item 4: a running session re-checks its engineer against each
/// newer list. The relay first serves an older list in place of the newer
/// one (refused, on record, the session goes on); the newer list itself,
/// which no longer lists the engineer, then disconnects them.
#[test]
fn an_engineer_removed_mid_session_is_disconnected_and_an_older_list_in_its_place_is_refused() {
    let _one = one_at_a_time();
    let (lab, proxy) = lab_behind_hostile_relay();
    let engineer = assent_proto::test_keys::key("viewer")
        .fingerprint()
        .to_string();
    // The host takes the first list through the proxy (kept for replay),
    // then a newer one that still lists the engineer.
    drop(lab.support(&[]));
    relay_admin(&lab, &["allowlist", "remove", &engineer]);
    list_the_engineer_again(&lab);
    let (mut host, password) = lab.support(&["--allowlist-check-secs", "1"]);
    let mut viewer = lab.viewer(&password, &["--request", "screen", "--duration", "120"]);
    support::lab::admit_engineer(&mut host);
    support::lab::answer(&mut host, "asks for SCREEN VIEW", "y");
    viewer.wait_for("frame 1 complete");

    let older = proxy.allowlists_served()[0].clone();
    proxy.tamper(Tamper::ReplaceAllowList(older));
    relay_admin(&lab, &["allowlist", "remove", &engineer]);
    proxy.wait_fired("allowlist", 1);
    host.wait_for("refused an engineer allowlist from the relay");
    host.wait_for("Session ended: the engineer is no longer on the operator's allowlist");
    let _ = viewer.wait_exit();
    let viewer_said = format!("{}{}", viewer.stdout_text(), viewer.stderr_text());
    assert!(
        viewer_said.contains("no longer on the operator's allowlist"),
        "{viewer_said}"
    );
    let host_said = host.stdout_text();
    let refused = host_said
        .find("refused an engineer allowlist")
        .expect("refused");
    let ended = host_said.find("Session ended").expect("ended");
    assert!(refused < ended, "{host_said}");
    assert!(
        host_said[refused..].contains("older"),
        "the refusal names the rollback: {host_said}"
    );
    let _ = host.wait_exit();
    let tampering = lab
        .audit(&["--host", &lab.host_id, "--kind", "session_tampering"])
        .unwrap();
    assert!(tampering.contains("allowlist"), "{tampering}");
    let ended = lab
        .audit(&["--host", &lab.host_id, "--kind", "session_ended"])
        .unwrap();
    assert!(
        ended.contains("no longer on the operator"),
        "the end and its reason are on record: {ended}"
    );
}
