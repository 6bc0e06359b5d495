//! The relay as adversary (R3, R21), through the real relay and the real host
//! binary on Xvfb. The relay forwards every `OpenChannel` it is given to the
//! host verbatim, so a stream opened here arrives at the host exactly as one
//! a hostile relay opened itself would: same frame, same connection.

mod support;

use std::time::Duration;

use assent_net::{FramedRecv, FramedSend};
use assent_proto::handshake::Channel;
use assent_proto::messages::consent::{Capability, DecisionOutcome, SessionEnd};
use assent_proto::messages::session::SessionMessage;
use assent_proto::wire::{MessageType, Text};
use support::rogue::{self, RogueSession};

/// Waits for the host's refusal of a duplicate `channel` on the control
/// channel.
async fn expect_refusal(rogue: &mut RogueSession, channel: Channel) {
    match rogue.next_control().await {
        SessionMessage::SessionError(e) => assert!(
            e.message
                .as_str()
                .contains(&format!("{channel:?} channel is already open")),
            "{}",
            e.message.as_str()
        ),
        other => panic!("expected a refusal of the second {channel:?} channel, got {other:?}"),
    }
}

/// Opens two `channel` streams at once (the relay may deliver them to the
/// host in either order), waits for the host's refusal of one, and returns
/// the other after checking the refused one ended without a single frame.
async fn open_twice(rogue: &mut RogueSession, channel: Channel) -> (FramedSend, FramedRecv) {
    let (send_a, mut recv_a) = rogue.open_raw_channel(channel).await;
    let (send_b, mut recv_b) = rogue.open_raw_channel(channel).await;
    expect_refusal(rogue, channel).await;
    // The host has refused one (above) and dropped its halves: that stream
    // ends. Had it been served, a sealed record would come before any end.
    let (first, served) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::select! {
            a = recv_a.recv() => (a, (send_b, recv_b)),
            b = recv_b.recv() => (b, (send_a, recv_a)),
        }
    })
    .await
    .expect("the refused stream ends");
    assert_no_frame(first, channel);
    served
}

/// What a refused stream gave first: its end (or a reset), never a frame.
fn assert_no_frame<E>(first: Result<Option<assent_proto::wire::Frame>, E>, channel: Channel) {
    if let Ok(Some(frame)) = first {
        panic!(
            "the host sent {:?} on a duplicate {channel:?} channel",
            frame.message_type
        );
    }
}

/// Opens one more `channel` stream where one is already served, and checks
/// it is refused and ends without a frame.
async fn open_duplicate(rogue: &mut RogueSession, channel: Channel) {
    let (_send, mut recv) = rogue.open_raw_channel(channel).await;
    expect_refusal(rogue, channel).await;
    let first = tokio::time::timeout(Duration::from_secs(30), recv.recv())
        .await
        .expect("the refused stream ends");
    assert_no_frame(first, channel);
}

#[test]
fn a_second_channel_of_any_kind_is_refused_audited_and_gets_no_record() {
    let lab = support::lab("DxH 900");
    let _panel = lab.instrument_panel(true).unwrap();
    let (mut host, password) = lab.support(&[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut rogue =
            rogue::connect(&lab, assent_proto::test_keys::key("viewer"), &password).await;
        support::lab::admit_engineer(&mut host);
        // The screen channel is served once; a second one would be sealed
        // under the same keys and nonces: a two-time pad over the screen.
        let (_screen_send, mut screen) = open_twice(&mut rogue, Channel::Screen).await;
        // The rest were opened by the rogue's own connect, before.
        for channel in [Channel::Control, Channel::Input, Channel::Files] {
            open_duplicate(&mut rogue, channel).await;
        }
        // The session goes on: the first screen channel still streams.
        rogue.request(Capability::ScreenView).await;
        support::lab::answer(&mut host, "asks for SCREEN VIEW", "y");
        match rogue.next_control().await {
            SessionMessage::CapabilityDecision(d) => {
                assert_eq!(d.outcome, DecisionOutcome::Granted)
            }
            other => panic!("unexpected {other:?}"),
        }
        let frame = tokio::time::timeout(Duration::from_secs(30), screen.recv())
            .await
            .expect("a frame within 30 s")
            .unwrap()
            .expect("the screen channel is open");
        assert_eq!(frame.message_type, MessageType::SealedRecord);
        // A duplicate opened while frames flow is refused as well.
        open_duplicate(&mut rogue, Channel::Screen).await;
    });
    host.wait_for("refused a channel");
    let audit = lab
        .audit(&["--host", &lab.host_id, "--kind", "session_tampering"])
        .unwrap();
    for channel in ["Screen", "Control", "Input", "Files"] {
        assert!(
            audit.contains(&format!("{channel} channel is already open")),
            "no session_tampering record for {channel}:\n{audit}"
        );
    }
    assert_eq!(
        audit.matches("already open").count(),
        5,
        "one record per refused channel:\n{audit}"
    );
}

#[test]
fn unfinished_handshakes_never_count_against_the_password_but_are_bounded() {
    // A hostile relay can send `ViewerHello` with any allowlisted public key
    // and never finish. The host must not burn the password for it (R6,
    // R21), and must not sign without end either.
    let lab = support::lab("DxH 900");
    let (mut host, _password) = lab.support(&[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let identity = assent_proto::test_keys::key("viewer");
    runtime.block_on(async {
        let (client, paired) = rogue::pair(&lab, &identity).await;
        let max = assent_host::support::MAX_HANDSHAKES_PER_REQUEST;
        for n in 0..max {
            let answer = rogue::unfinished_handshake(&client, &paired, identity.clone()).await;
            assert_eq!(
                answer.message_type,
                MessageType::HostHello,
                "handshake {n} was answered with {:?}",
                answer.message_type
            );
        }
        let refused = rogue::unfinished_handshake(&client, &paired, identity.clone()).await;
        assert_eq!(refused.message_type, MessageType::HandshakeAbort);
    });
    assert!(!host.wait_exit().success());
    let ended = host.stderr_text();
    assert!(
        ended.contains(&format!(
            "{} handshakes were started on this support request",
            assent_host::support::MAX_HANDSHAKES_PER_REQUEST
        )),
        "{ended}"
    );
    let output = host.stdout_text();
    assert!(
        !output.contains("wrong session password") && !output.contains("locked"),
        "an unfinished handshake was counted against the password:\n{output}"
    );
    let failures = lab
        .audit(&["--host", &lab.host_id, "--kind", "authentication_failed"])
        .unwrap();
    assert!(
        !failures.contains("authentication_failed"),
        "unfinished handshakes were reported as failures:\n{failures}"
    );
}

#[test]
fn a_control_stream_cut_without_the_sealed_end_is_reported_as_a_cut_not_as_the_engineer() {
    // The relay can end any stream (a FIN it injects looks like the
    // engineer finishing); only a sealed SessionEnd is the engineer's word.
    let lab = support::lab("DxH 900");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let identity = assent_proto::test_keys::key("viewer");

    let (mut host, password) = lab.support(&[]);
    runtime.block_on(async {
        let mut rogue = rogue::connect(&lab, identity.clone(), &password).await;
        support::lab::admit_engineer(&mut host);
        rogue.control.finish();
        host.wait_for("Session ended");
    });
    let ended = host.wait_for("Session ended");
    assert!(ended.contains("the relay or the network cut it"), "{ended}");
    drop(host);

    let (mut host, password) = lab.support(&[]);
    runtime.block_on(async {
        let mut rogue = rogue::connect(&lab, identity, &password).await;
        support::lab::admit_engineer(&mut host);
        let end = SessionEnd {
            reason: Text::new("done for today").unwrap(),
        };
        rogue.control.send(&end.into()).await.unwrap();
        rogue.control.finish();
        host.wait_for("Session ended");
    });
    let ended = host.wait_for("Session ended");
    assert!(
        ended.contains("the engineer ended the session (done for today)"),
        "{ended}"
    );
}
