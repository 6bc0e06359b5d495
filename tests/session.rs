//! End-to-end support sessions through the real binaries on loopback, with
//! the host on a real X display (Xvfb): consent for screen and control
//! (R10), pixel-exact screen (R17), lockout (R6), allowlist (R7), outbound
//! only (R1), relay loss.

mod support;

use std::sync::Mutex;
use std::time::Duration;

use assent_proto::messages::consent::{Capability, DecisionOutcome};
use assent_proto::messages::input::PointerMove;
use assent_proto::messages::session::SessionMessage;
use support::lab::{Lab, SCREEN};
use support::rogue;

/// Sessions are heavy (relay, host, viewer, Xvfb, argon2id): one at a time
/// on a 2-core machine keeps timing-sensitive steps honest.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn audit_list(lab: &Lab, kind: &str) -> String {
    audit_records(lab, &["--host", &lab.host_id, "--kind", kind])
}

fn audit_records(lab: &Lab, filters: &[&str]) -> String {
    lab.audit(filters).unwrap()
}

/// R9: a prompt shows who asks, with the key the handshake proved; returns
/// that fingerprint.
fn assert_names_the_engineers_key(prompt: &str) -> String {
    let key = assent_proto::test_keys::key("viewer")
        .fingerprint()
        .to_string();
    assert!(prompt.contains(&format!("(key {key})")), "{prompt}");
    key
}

#[test]
fn viewer_screenshot_equals_the_host_display_pixel_for_pixel() {
    let _one = one_at_a_time();
    let lab = support::lab("DxH 900");
    let _panel = lab.instrument_panel(true).unwrap();
    let (mut host, password) = lab.support(&[]);
    let shot = lab.path("screen.png");
    let mut viewer = lab.viewer(
        &password,
        &[
            "--request",
            "screen",
            "--frames",
            "1",
            "--screenshot",
            shot.to_str().unwrap(),
        ],
    );
    support::lab::admit_engineer(&mut host);
    support::lab::answer(&mut host, "asks for SCREEN VIEW", "y");
    viewer.wait_for("screenshot written");
    assert!(viewer.wait_exit().success(), "{}", viewer.stderr_text());

    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut rgba = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut rgba).unwrap();
    assert_eq!((info.width, info.height), SCREEN);
    let (w, h, bgrx) = lab.xvfb.screen_bgrx();
    assert_eq!((w, h), SCREEN);
    let mut differing = 0;
    for (shown, real) in rgba.chunks_exact(4).zip(bgrx.chunks_exact(4)) {
        if shown[..3] != [real[2], real[1], real[0]] {
            differing += 1;
        }
    }
    assert_eq!(
        differing, 0,
        "pixels differ between the viewer and the host display"
    );
    host.wait_for("Session ended");
}

#[test]
fn input_without_control_consent_never_reaches_the_instrument_and_is_audited() {
    let _one = one_at_a_time();
    let lab = support::lab("DxH 900");
    let panel = lab.instrument_panel(true).unwrap();
    let (mut host, password) = lab.support(&[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut rogue =
            rogue::connect(&lab, assent_proto::test_keys::key("viewer"), &password).await;
        support::lab::admit_engineer(&mut host);
        // Before any grant: pointer over the panel and keys typed.
        rogue
            .input
            .send(&SessionMessage::from(PointerMove { x: 400, y: 300 }))
            .await
            .unwrap();
        rogue.type_text("x").await;
        host.wait_for("dropped");
        rogue.request(Capability::RemoteControl).await;
        let (at, prompt) = host.wait_for_from(0, "asks for REMOTE CONTROL");
        // R9: who asks, with the key the handshake proved.
        assert_names_the_engineers_key(&prompt);
        support::lab::answer_from(&mut host, at, "asks for REMOTE CONTROL", "y");
        match rogue.next_control().await {
            SessionMessage::CapabilityDecision(d) => {
                assert_eq!(d.capability, Capability::RemoteControl);
                assert_eq!(d.outcome, DecisionOutcome::Granted);
            }
            other => panic!("unexpected {other:?}"),
        }
        rogue
            .input
            .send(&SessionMessage::from(PointerMove { x: 401, y: 300 }))
            .await
            .unwrap();
        rogue.type_text("ok").await;
        panel.wait_for("key 111 o");
        panel.wait_for("key 107 k");
        // The technician revokes control: input stops at once.
        host.type_line("rc");
        match rogue.next_control().await {
            SessionMessage::CapabilityRevoked(r) => {
                assert_eq!(r.capability, Capability::RemoteControl)
            }
            other => panic!("unexpected {other:?}"),
        }
        rogue.type_text("z").await;
        let (at, _) = host.wait_for_from(0, "remote control is now REVOKED");
        host.wait_for_from(at, "dropped");
    });
    let typed: Vec<String> = panel
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("key "))
        .collect();
    assert_eq!(
        typed,
        ["key 111 o", "key 107 k"],
        "only input while control is granted arrives"
    );
    let audit = audit_list(&lab, "input_dropped");
    assert!(audit.contains("input_dropped"), "no audit record:\n{audit}");
    let consent = audit_list(&lab, "consent_decision");
    for outcome in ["granted", "revoked"] {
        let record = format!("capability=remote_control outcome={outcome}");
        assert_eq!(consent.matches(&record).count(), 1, "{record}:\n{consent}");
    }
}

#[test]
fn refused_or_unanswered_screen_consent_sends_no_frame() {
    let _one = one_at_a_time();
    let lab = support::lab("DxH 900");
    let _panel = lab.instrument_panel(false).unwrap();

    // The technician says no.
    let (mut host, password) = lab.support(&[]);
    let mut viewer = lab.viewer(
        &password,
        &["--request", "screen", "--duration", "3", "--stats"],
    );
    support::lab::admit_engineer(&mut host);
    support::lab::answer(&mut host, "asks for SCREEN VIEW", "n");
    viewer.wait_for("refused: screen view");
    assert!(!viewer.wait_exit().success());
    assert!(
        !viewer.stdout_text().contains("frame "),
        "{}",
        viewer.stdout_text()
    );
    host.wait_for("Session ended");
    drop(host);

    // Nobody answers: the prompt times out as a refusal.
    let (mut host, password) = lab.support(&["--consent-timeout", "2"]);
    let mut viewer = lab.viewer(
        &password,
        &["--request", "screen", "--duration", "6", "--stats"],
    );
    support::lab::admit_engineer(&mut host);
    host.wait_for("asks for SCREEN VIEW");
    viewer.wait_for("timed out: screen view");
    assert!(!viewer.wait_exit().success());
    assert!(
        !viewer.stdout_text().contains("frame "),
        "{}",
        viewer.stdout_text()
    );
    // One record each: the refusal, and the silence as its own outcome.
    let audit = audit_list(&lab, "consent_decision");
    for outcome in ["refused", "timed_out"] {
        let record = format!("capability=screen_view outcome={outcome}");
        assert_eq!(audit.matches(&record).count(), 1, "{record}:\n{audit}");
    }
    assert_eq!(audit.matches("consent_decision").count(), 2, "{audit}");
}

#[test]
fn revoking_screen_view_stops_frames_at_once() {
    let _one = one_at_a_time();
    let lab = support::lab("DxH 900");
    let _panel = lab.instrument_panel(false).unwrap();
    let (mut host, password) = lab.support(&[]);
    let mut viewer = lab.viewer(&password, &["--request", "screen", "--duration", "8"]);
    support::lab::admit_engineer(&mut host);
    support::lab::answer(&mut host, "asks for SCREEN VIEW", "y");
    viewer.wait_for("frame 3 complete");
    host.type_line("rs");
    let (revoked_at, _) = viewer.wait_for_from(0, "revoked: screen view");
    let _ = viewer.wait_exit();
    let lines = viewer.lines();
    let before = lines[..revoked_at]
        .iter()
        .filter(|l| l.starts_with("frame "))
        .count();
    let after = lines[revoked_at..]
        .iter()
        .filter(|l| l.starts_with("frame "))
        .count();
    assert!(before >= 3);
    // The panel changes twice a second for the ~5 s left: without the
    // revocation about ten more frames would arrive. One may be in flight.
    assert!(
        after <= 1,
        "{after} frames after revocation:\n{}",
        lines.join("\n")
    );
}

#[test]
fn wrong_passwords_double_the_lockout_then_burn_the_password() {
    let _one = one_at_a_time();
    let lab = support::lab("DxH 900");
    let (mut host, password) =
        lab.support(&["--lockout-base-ms", "1000", "--lockout-burn-after", "3"]);
    let wrong = wrong_password(&password);
    for (attempt, expected) in [
        (1, "password locked for 1 s after 1 failure"),
        (2, "password locked for 2 s after 2 failures"),
        (3, "password burned after 3 failures"),
    ] {
        // The relay's own lockout (1 s, doubling) must pass first.
        std::thread::sleep(Duration::from_millis(1200 * (1 << (attempt - 1))));
        let mut viewer = lab.viewer(&wrong, &["--request", "screen", "--duration", "5"]);
        assert!(!viewer.wait_exit().success());
        let said = format!("{}{}", viewer.stdout_text(), viewer.stderr_text());
        assert!(said.contains("wrong password"), "attempt {attempt}: {said}");
        host.wait_for(expected);
    }
    assert!(
        !host.wait_exit().success(),
        "a burned password ends the request"
    );
    assert!(
        host.stderr_text().contains("burned"),
        "{}",
        host.stderr_text()
    );
    assert!(!host.stdout_text().contains("Connected:"), "nobody got in");
    let failures = audit_list(&lab, "authentication_failed");
    assert_eq!(
        failures.matches("authentication_failed").count(),
        3,
        "{failures}"
    );
}

fn wrong_password(right: &str) -> String {
    // Same shape, one character changed within the password alphabet.
    let mut chars: Vec<char> = right.chars().collect();
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[test]
fn an_engineer_not_on_the_allowlist_is_refused_before_the_host_hears_of_it() {
    let _one = one_at_a_time();
    let lab = support::lab("DxH 900");
    let (host, password) = lab.support(&[]);
    let stranger = lab.path("stranger.key");
    assent_proto::test_keys::other().save(&stranger).unwrap();
    let mut viewer = lab.viewer_as(
        &stranger,
        &password,
        &["--request", "screen", "--duration", "5"],
    );
    assert!(!viewer.wait_exit().success());
    let said = format!("{}{}", viewer.stdout_text(), viewer.stderr_text());
    assert!(
        said.contains("allowlist") || said.contains("not allowed"),
        "{said}"
    );
    // Refused at login, before any host is named: a relay-wide record. Once
    // it is on record the relay is done with the stranger, so the host
    // cannot hear of them later: the absence check below cannot pass early.
    let refused = audit_records(&lab, &["--kind", "connection_request"]);
    assert!(refused.contains("connection_request"), "{refused}");
    let host_saw = host.stdout_text();
    assert!(
        !host_saw.contains("attempt") && !host_saw.contains("Connected"),
        "{host_saw}"
    );
}

#[test]
fn the_host_opens_no_listening_socket() {
    let _one = one_at_a_time();
    let lab = support::lab("DxH 900");
    let (host, _password) = lab.support(&[]);
    let sockets = support::sockets::of_process(host.pid());
    assert!(!sockets.is_empty(), "the host talks to the relay over UDP");
    assert!(
        sockets.iter().all(|s| !s.tcp_listening),
        "the host listens on TCP: {sockets:?}"
    );
    // Its UDP socket is a QUIC client endpoint: nothing answers a handshake.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // The probe works: the relay, which does listen, answers it.
    let relay_port = lab.relay_addr.rsplit(':').next().unwrap().parse().unwrap();
    assert!(runtime.block_on(support::sockets::quic_handshake_answered(relay_port)));
    for socket in sockets.iter().filter(|s| s.udp) {
        let answered = runtime.block_on(support::sockets::quic_handshake_answered(socket.port));
        assert!(
            !answered,
            "the host accepted a QUIC connection on UDP {}",
            socket.port
        );
    }
}

#[test]
fn killing_the_relay_mid_session_ends_both_sides_clearly() {
    let _one = one_at_a_time();
    let mut lab = support::lab("DxH 900");
    let _panel = lab.instrument_panel(false).unwrap();
    let (mut host, password) = lab.support(&[]);
    let mut viewer = lab.viewer(&password, &["--request", "screen", "--duration", "60"]);
    support::lab::admit_engineer(&mut host);
    support::lab::answer(&mut host, "asks for SCREEN VIEW", "y");
    viewer.wait_for("frame 2 complete");
    lab.relay.kill();
    let viewer_status = viewer.wait_exit();
    host.wait_for("Session ended");
    let _ = host.wait_exit();
    assert!(
        !viewer_status.success(),
        "losing the relay is not a normal end"
    );
    let viewer_said = format!("{}{}", viewer.stdout_text(), viewer.stderr_text());
    assert!(
        viewer_said.contains("relay") || viewer_said.contains("connection"),
        "{viewer_said}"
    );
    assert!(
        host.stdout_text().contains("relay connection was lost"),
        "{}",
        host.stdout_text()
    );
}

#[test]
fn the_engineer_types_and_clicks_on_the_instrument_once_control_is_granted() {
    let _one = one_at_a_time();
    let lab = support::lab("DxH 900");
    let panel = lab.instrument_panel(true).unwrap();
    let (mut host, password) = lab.support(&[]);
    let mut viewer = lab.viewer(
        &password,
        &[
            "--request",
            "screen,control",
            "--click",
            "400,300",
            "--type",
            "ok",
        ],
    );
    support::lab::admit_engineer(&mut host);
    support::lab::answer(&mut host, "asks for SCREEN VIEW", "y");
    support::lab::answer(&mut host, "asks for REMOTE CONTROL", "y");
    viewer.wait_for("typed");
    panel.wait_for("click 1 400 300");
    panel.wait_for("key 111 o");
    panel.wait_for("key 107 k");
    assert!(viewer.wait_exit().success(), "{}", viewer.stderr_text());
}

#[test]
fn the_host_service_stays_online_outbound_only_and_reconnects_after_a_relay_restart() {
    let _one = one_at_a_time();
    let mut lab = support::lab("DxH 900");
    let mut service = support::lab::Proc::spawn(
        "assent-host run",
        std::process::Command::new(&lab.host_binary)
            .arg("--data-dir")
            .arg(lab.path("host"))
            .arg("run"),
    );
    service.wait_for(&format!("online as {}", lab.host_id));
    service.wait_for("allowlist serial");
    let sockets = support::sockets::of_process(service.pid());
    assert!(sockets.iter().all(|s| !s.tcp_listening), "{sockets:?}");
    // The host asks for the allowlist only once the relay has finished its
    // login, which records the host online (R13).
    let online = |lab: &support::lab::Lab| {
        support::relay_count(
            lab,
            &format!(
                "SELECT count(*) FROM presence WHERE host_id = '{}' AND event = 1",
                lab.host_id
            ),
        )
    };
    let before = online(&lab);

    lab.restart_relay().unwrap();
    let (offline, _) = service.wait_for_from(0, "offline:");
    let (online_again, _) = service.wait_for_from(offline, "online as");
    assert!(online_again > offline);
    service.wait_for_from(online_again, "allowlist serial");
    assert_eq!(
        online(&lab),
        before + 1,
        "the restarted relay recorded the host online again"
    );
    service.kill();
}

#[test]
fn an_engineer_the_technician_does_not_admit_gets_no_prompt_no_frame_and_the_refusal_is_audited() {
    let _one = one_at_a_time();
    let lab = support::lab("DxH 900");
    let _panel = lab.instrument_panel(false).unwrap();
    let (mut host, password) = lab.support(&[]);
    let mut viewer = lab.viewer(
        &password,
        &["--request", "screen", "--frames", "1", "--duration", "20"],
    );
    // R9: who is connecting, with the key the handshake proved.
    let prompt = support::lab::answer(&mut host, support::lab::ADMISSION_PROMPT, "n");
    let key = assert_names_the_engineers_key(&prompt);
    host.wait_for("Session ended: the technician did not admit the engineer");
    let status = viewer.wait_exit();
    let viewer_said = format!("{}{}", viewer.stdout_text(), viewer.stderr_text());
    assert!(
        viewer_said.contains("the technician did not admit the engineer"),
        "{viewer_said}"
    );
    assert!(!status.success(), "{viewer_said}");
    assert!(!viewer_said.contains("frame "), "{viewer_said}");
    // The session is over, so no prompt can still come.
    assert!(
        !host.stdout_text().contains("asks for SCREEN VIEW"),
        "{}",
        host.stdout_text()
    );
    let audit = audit_list(&lab, "engineer_decision");
    assert_eq!(audit.matches("outcome=refused").count(), 1, "{audit}");
    assert!(
        audit.contains(&key[..8]) || audit.contains("viewer="),
        "{audit}"
    );
    assert_eq!(
        audit_list(&lab, "consent_decision")
            .matches("consent_decision")
            .count(),
        0
    );
}
