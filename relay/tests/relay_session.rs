//! The relay over real QUIC on loopback with a real SQLite file: enrolment,
//! the allowlist gate, new-location confirmation, pairing, forwarding on
//! several streams, lockout after failed handshakes, and the audit trail.

mod support;

use std::time::Duration;

use assent_proto::audit::{open_record, verify};
use assent_proto::messages::audit_event::AuditEvent;
use assent_proto::messages::handshake::AbortReason;
use assent_proto::messages::signalling::{
    AuthFailureReport, ChannelKind, ConnectRequest, OpenChannel, RelayErrorCode, SignallingMessage,
    SupportOpen,
};
use assent_proto::wire::{Message, Text};
use assent_relay::store::PresenceEvent;
use support::*;

const ENGINEER_EMAIL: &str = "erin@support.example";

async fn open_support(host: &mut Client, session_id: [u8; 32]) {
    host.send(&SupportOpen { session_id }).await;
    match host.recv().await {
        SignallingMessage::SupportOpened(opened) => assert_eq!(opened.session_id, session_id),
        other => panic!("support request refused: {other:?}"),
    }
}

async fn connect_to(viewer: &mut Client, host_id: &str) -> SignallingMessage {
    viewer
        .send(&ConnectRequest {
            host_id: Text::new(host_id).unwrap(),
        })
        .await;
    viewer.recv().await
}

fn audit_events(relay: &TestRelay) -> Vec<AuditEvent> {
    let records = relay.store.audit_records(0, 10_000).unwrap();
    let key = relay.data_key.audit_key();
    verify(&key, &records, Some(&relay.store.audit_head().unwrap())).expect("audit chain verifies");
    records
        .iter()
        .map(|r| open_record(&key, r).unwrap().event)
        .collect()
}

#[tokio::test]
async fn enrolled_host_and_allowlisted_viewer_pair_and_forward_on_several_streams() {
    bounded(async {
        let relay = TestRelay::start().await;
        let host_key = key("host");
        let viewer_key = key("viewer");
        let (mut host, host_id) = enrolled_host(&relay, &host_key, "DxFLEX").await;
        assert!(host_id.starts_with("H-"), "{host_id}");
        open_support(&mut host, [5; 32]).await;

        relay.allow(&viewer_key, "Erin Engineer", ENGINEER_EMAIL);
        let mut viewer = logged_in_viewer(&relay, &viewer_key, ENGINEER_EMAIL).await;
        let paired = match connect_to(&mut viewer, &host_id).await {
            SignallingMessage::Paired(paired) => paired,
            other => panic!("not paired: {other:?}"),
        };
        assert_eq!(paired.session_id, [5; 32]);
        assert_eq!(paired.host_fingerprint, host_key.fingerprint());
        assert_eq!(paired.instrument_model.as_str(), "DxFLEX");
        assert_eq!(paired.serial_number.as_str(), "SN-998877");

        // Two channels, each forwarded to its own host stream, both ways.
        for (channel, payload) in [
            (ChannelKind::Control, b"handshake bytes".to_vec()),
            (ChannelKind::Screen, vec![0xAB; 300_000]),
        ] {
            let (mut to_relay, mut from_relay) = viewer.connection.open_bi().await.unwrap();
            let mut first = OpenChannel {
                session_id: [5; 32],
                channel,
            }
            .to_frame()
            .unwrap();
            first.extend_from_slice(&payload);
            to_relay.write_all(&first).await.unwrap();
            to_relay.finish().unwrap();

            let (mut host_send, mut host_recv) = host.connection.accept_bi().await.unwrap();
            let received = host_recv.read_to_end(1 << 20).await.unwrap();
            let header = assent_proto::wire::HEADER_LEN + 33;
            let open = OpenChannel::from_frame(&received[..header]).unwrap();
            assert_eq!(open.channel, channel);
            assert_eq!(&received[header..], &payload[..]);
            host_send.write_all(b"reply from host").await.unwrap();
            host_send.finish().unwrap();
            assert_eq!(
                from_relay.read_to_end(1024).await.unwrap(),
                b"reply from host"
            );
        }
        assert!(relay.metrics.snapshot().bytes_forwarded_total >= 300_000);

        let events = audit_events(&relay);
        assert!(events
            .iter()
            .any(|e| matches!(e, AuditEvent::HostEnrolled { .. })));
        assert!(events
            .iter()
            .any(|e| matches!(e, AuditEvent::ConnectionRequest { granted: true, .. })));
        let history = relay.store.presence_history(&host_id, 10).unwrap();
        assert_eq!(history[0].event, PresenceEvent::Online);
        relay.stop().await;
    })
    .await;
}

#[tokio::test]
async fn viewer_not_on_allowlist_is_refused_before_host_sees_anything() {
    bounded(async {
        let relay = TestRelay::start().await;
        let host_key = key("host");
        let (mut host, _host_id) = enrolled_host(&relay, &host_key, "AQUIOS CL").await;
        open_support(&mut host, [6; 32]).await;

        let stranger = key("other");
        let (_viewer, answer) = viewer_login(&relay, &stranger, [1; 16]).await;
        match answer {
            SignallingMessage::RelayError(e) => {
                assert_eq!(e.code, RelayErrorCode::NotAllowListed);
                assert!(
                    e.message.contains(&stranger.fingerprint().to_string()),
                    "{}",
                    e.message
                );
            }
            other => panic!("unlisted viewer got {other:?}"),
        }
        // The host was told nothing: no stream opened towards it.
        let nothing =
            tokio::time::timeout(Duration::from_millis(500), host.connection.accept_bi()).await;
        assert!(nothing.is_err(), "host heard of an unlisted viewer");
        let refused = audit_events(&relay)
            .into_iter()
            .any(|e| matches!(e, AuditEvent::ConnectionRequest { granted: false, .. }));
        assert!(refused, "refusal was not audited");
        relay.stop().await;
    })
    .await;
}

#[tokio::test]
async fn viewer_at_a_new_location_needs_the_emailed_code() {
    bounded(async {
        let relay = TestRelay::start().await;
        let viewer_key = key("viewer");
        relay.allow(&viewer_key, "Erin Engineer", ENGINEER_EMAIL);
        let (mut viewer, answer) = viewer_login(&relay, &viewer_key, [3; 16]).await;
        assert!(
            matches!(answer, SignallingMessage::LocationChallenge(_)),
            "{answer:?}"
        );
        // A wrong code is refused and nothing else is possible meanwhile.
        viewer
            .send(&assent_proto::messages::signalling::LocationCode {
                code: Text::new("00000000").unwrap(),
            })
            .await;
        match viewer.recv().await {
            SignallingMessage::RelayError(e) => {
                assert_eq!(e.code, RelayErrorCode::LocationUnconfirmed)
            }
            other => panic!("wrong code accepted: {other:?}"),
        }
        let code = assent_relay::notifier::OutboxNotifier::read_latest_code(
            relay.outbox(),
            ENGINEER_EMAIL,
        )
        .unwrap()
        .unwrap();
        viewer
            .send(&assent_proto::messages::signalling::LocationCode {
                code: Text::new(code.as_str()).unwrap(),
            })
            .await;
        assert!(matches!(
            viewer.recv().await,
            SignallingMessage::LoginAccepted(_)
        ));
        // The same device and network is known from now on.
        let (_again, answer) = viewer_login(&relay, &viewer_key, [3; 16]).await;
        assert!(
            matches!(answer, SignallingMessage::LoginAccepted(_)),
            "{answer:?}"
        );
        // A new device is not.
        let (_other_device, answer) = viewer_login(&relay, &viewer_key, [4; 16]).await;
        assert!(
            matches!(answer, SignallingMessage::LocationChallenge(_)),
            "{answer:?}"
        );
        relay.stop().await;
    })
    .await;
}

#[tokio::test]
async fn failed_handshakes_lock_the_viewer_out_with_doubling_waits() {
    bounded(async {
        let relay = TestRelay::start().await;
        let host_key = key("host");
        let viewer_key = key("viewer");
        let (mut host, host_id) = enrolled_host(&relay, &host_key, "Navios").await;
        open_support(&mut host, [7; 32]).await;
        relay.allow(&viewer_key, "Erin Engineer", ENGINEER_EMAIL);
        let mut viewer = logged_in_viewer(&relay, &viewer_key, ENGINEER_EMAIL).await;

        let mut waits = Vec::new();
        for _ in 0..2 {
            let answer = connect_to(&mut viewer, &host_id).await;
            assert!(matches!(answer, SignallingMessage::Paired(_)), "{answer:?}");
            // The host saw a wrong password in the end-to-end handshake.
            host.send(&AuthFailureReport {
                session_id: [7; 32],
                viewer: viewer_key.fingerprint(),
                reason: AbortReason::WrongPassword,
            })
            .await;
            assert!(matches!(host.recv().await, SignallingMessage::Ack(_)));
            match connect_to(&mut viewer, &host_id).await {
                SignallingMessage::RelayError(e) => {
                    assert_eq!(e.code, RelayErrorCode::LockedOut, "{}", e.message);
                    waits.push(e.retry_after_secs.expect("a lockout says how long"));
                }
                other => panic!("locked-out viewer got {other:?}"),
            }
            // Let the first wait pass by moving on to the second failure only
            // after a fresh lockout book read (waits are persisted, not reset).
            if waits.len() == 1 {
                tokio::time::sleep(Duration::from_millis(5_100)).await;
            }
        }
        let events = audit_events(&relay);
        assert!(events
            .iter()
            .any(|e| matches!(e, AuditEvent::AuthenticationFailed { failures: 2, .. })));
        let recorded: Vec<(u32, u64)> = events
            .iter()
            .filter_map(|e| match e {
                AuditEvent::LockedOut {
                    failures,
                    wait_secs,
                    ..
                } => Some((*failures, *wait_secs)),
                _ => None,
            })
            .collect();
        // R6: each failure doubles the wait, as recorded for audit...
        let [(1, first), (2, second)] = recorded[..] else {
            panic!("two lockouts recorded, after 1 and 2 failures: {recorded:?}");
        };
        assert!(first > 0);
        assert_eq!(second, 2 * first, "waits did not double: {recorded:?}");
        // ...and as told to the viewer: what is left of it, in whole seconds.
        for (told, wait) in waits.iter().zip([first, second]) {
            assert!(
                (wait - 1..=wait).contains(told),
                "told {told} s of a {wait} s lockout"
            );
        }
        relay.stop().await;
    })
    .await;
}

#[tokio::test]
async fn channel_for_a_session_the_viewer_is_not_paired_with_is_refused() {
    bounded(async {
        let relay = TestRelay::start().await;
        let host_key = key("host");
        let viewer_key = key("viewer");
        let (mut host, _host_id) = enrolled_host(&relay, &host_key, "DxFLEX").await;
        open_support(&mut host, [8; 32]).await;
        relay.allow(&viewer_key, "Erin Engineer", ENGINEER_EMAIL);
        let viewer = logged_in_viewer(&relay, &viewer_key, ENGINEER_EMAIL).await;
        // Never asked to connect: guessing the session ID must not reach the host.
        let (mut to_relay, mut from_relay) = viewer.connection.open_bi().await.unwrap();
        let open = OpenChannel {
            session_id: [8; 32],
            channel: ChannelKind::Control,
        };
        to_relay.write_all(&open.to_frame().unwrap()).await.unwrap();
        let reply = from_relay.read_to_end(4096).await.unwrap_or_default();
        let frame = assent_proto::messages::signalling::RelayError::from_frame(&reply).unwrap();
        assert_eq!(frame.code, RelayErrorCode::NotFound);
        let nothing =
            tokio::time::timeout(Duration::from_millis(300), host.connection.accept_bi()).await;
        assert!(nothing.is_err());
        relay.stop().await;
    })
    .await;
}

#[tokio::test]
async fn malformed_frame_gets_an_error_frame_and_other_clients_go_on() {
    bounded(async {
        let relay = TestRelay::start().await;
        let (mut bad, _challenge) =
            Client::connect(&relay, assent_proto::messages::signalling::ClientRole::Host).await;
        // A header announcing a 4 GiB Ack.
        let mut header = assent_proto::wire::Header {
            message_type: assent_proto::wire::MessageType::Ack,
            len: 0,
        }
        .encode();
        header[5..9].copy_from_slice(&u32::MAX.to_be_bytes());
        bad.send.send_raw(&header).await.unwrap();
        match bad.recv().await {
            SignallingMessage::RelayError(e) => {
                assert_eq!(e.code, RelayErrorCode::Malformed, "{}", e.message)
            }
            other => panic!("malformed frame answered with {other:?}"),
        }
        // Another client is unaffected.
        let host_key = key("host");
        let (mut host, _host_id) = enrolled_host(&relay, &host_key, "DxFLEX").await;
        open_support(&mut host, [9; 32]).await;
        relay.stop().await;
    })
    .await;
}

#[tokio::test]
async fn lockout_also_holds_per_source_for_another_identity() {
    bounded(async {
        let relay = TestRelay::start().await;
        let host_key = key("host");
        let (first_key, second_key) = (key("viewer"), key("other"));
        let (mut host, host_id) = enrolled_host(&relay, &host_key, "CellMek SPS").await;
        open_support(&mut host, [10; 32]).await;
        relay.allow(&first_key, "Erin Engineer", ENGINEER_EMAIL);
        relay.allow(&second_key, "Omar Other", "omar@support.example");
        let mut first = logged_in_viewer(&relay, &first_key, ENGINEER_EMAIL).await;
        let answer = connect_to(&mut first, &host_id).await;
        assert!(matches!(answer, SignallingMessage::Paired(_)), "{answer:?}");
        host.send(&AuthFailureReport {
            session_id: [10; 32],
            viewer: first_key.fingerprint(),
            reason: AbortReason::WrongPassword,
        })
        .await;
        assert!(matches!(host.recv().await, SignallingMessage::Ack(_)));

        // A different engineer identity from the same network is held too,
        // so rotating identities does not buy more guesses (R6).
        let (_second, answer) = viewer_login(&relay, &second_key, [9; 16]).await;
        match answer {
            SignallingMessage::RelayError(e) => {
                assert_eq!(e.code, RelayErrorCode::LockedOut, "{}", e.message);
                assert!(e.retry_after_secs.is_some());
            }
            other => panic!("second identity from a locked source got {other:?}"),
        }
        relay.stop().await;
    })
    .await;
}
