//! R3 and R5 against a curious relay: a complete end-to-end handshake and a
//! screen record pass through a real relay; everything it forwarded, and its
//! database, is searched for the password and the screen content.

mod support;

use std::sync::{Arc, Mutex};

use assent_net::{framed, FramedRecv, FramedSend};
use assent_proto::allowlist::{AllowList, AllowListEntry};
use assent_proto::handshake::host::HostCredentials;
use assent_proto::handshake::viewer::{self, ViewerConfig};
use assent_proto::handshake::Channel;
use assent_proto::messages::handshake::{HostFinish, HostHello, ViewerFinish, ViewerHello};
use assent_proto::messages::signalling::{
    ChannelKind, ConnectRequest, OpenChannel, SignallingMessage, SupportOpen,
};
use assent_proto::password::{OneTimePassword, StretchParams};
use assent_proto::wire::{Frame, List, MessageType, Text};
use rand_core::OsRng;
use support::*;

const SCREEN_TEXT: &[u8] = b"PATIENT 4711 HbA1c 6.2% QC PASS";

async fn open_channel(
    viewer: &Client,
    session_id: [u8; 32],
    channel: ChannelKind,
) -> (FramedSend, FramedRecv) {
    let (send, recv) = viewer.connection.open_bi().await.unwrap();
    let (mut send, recv) = framed(send, recv);
    send.send(&OpenChannel {
        session_id,
        channel,
    })
    .await
    .unwrap();
    (send, recv)
}

async fn accept_channel(host: &Client, channel: ChannelKind) -> (FramedSend, FramedRecv) {
    let (send, recv) = host.connection.accept_bi().await.unwrap();
    let (send, mut recv) = framed(send, recv);
    let open: OpenChannel = recv.recv().await.unwrap().unwrap().decode().unwrap();
    assert_eq!(open.channel, channel);
    (send, recv)
}

#[tokio::test]
async fn relay_forwards_only_ciphertext_and_never_sees_the_password() {
    bounded(async {
        let relay = TestRelay::start().await;
        let seen = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = seen.clone();
        assert!(relay
            .state
            .observe_forwarding(Arc::new(move |bytes: &[u8]| {
                sink.lock().unwrap().extend_from_slice(bytes)
            })));

        let (host_key, viewer_key, operator) = (key("host"), key("viewer"), key("operator"));
        let (mut host, host_id) = enrolled_host(&relay, &host_key, "DxFLEX").await;
        let session_id = [0x5a; 32];
        host.send(&SupportOpen { session_id }).await;
        assert!(matches!(
            host.recv().await,
            SignallingMessage::SupportOpened(_)
        ));
        relay.allow(&viewer_key, "Erin Engineer", "erin@support.example");
        let mut viewer = logged_in_viewer(&relay, &viewer_key, "erin@support.example").await;
        viewer
            .send(&ConnectRequest {
                host_id: Text::new(&host_id).unwrap(),
            })
            .await;
        let paired = match viewer.recv().await {
            SignallingMessage::Paired(paired) => paired,
            other => panic!("not paired: {other:?}"),
        };

        // The technician's password and the host's signed allowlist.
        let password = OneTimePassword::generate(&mut OsRng);
        let now = 1_800_000_000;
        let allowlist = AllowList {
            serial: 1,
            issued_unix: now - 10,
            expires_unix: now + 3600,
            entries: List::new(vec![AllowListEntry {
                viewer: viewer_key.public().clone(),
                name: Text::new("Erin Engineer").unwrap(),
                email: Text::new("erin@support.example").unwrap(),
                expires_unix: now + 3600,
            }])
            .unwrap(),
        }
        .sign(&operator, &mut OsRng)
        .verify(operator.public(), now)
        .unwrap();
        let stretch = StretchParams::fast_for_tests();
        let credentials =
            HostCredentials::new(host_key.clone(), &password, session_id, &stretch).unwrap();

        // Handshake on the control channel, through the relay.
        let (mut v_send, mut v_recv) =
            open_channel(&viewer, session_id, ChannelKind::Control).await;
        let (expect_host_hello, hello) = viewer::start(
            ViewerConfig {
                identity: viewer_key.clone(),
                password: &password,
                session_id,
                expected_host: paired.host_fingerprint,
                stretch,
            },
            &mut OsRng,
        )
        .unwrap();
        v_send.send(&hello).await.unwrap();
        let (mut h_send, mut h_recv) = accept_channel(&host, ChannelKind::Control).await;
        let hello: ViewerHello = h_recv.recv().await.unwrap().unwrap().decode().unwrap();
        let (expect_finish, host_hello) = credentials
            .respond(&allowlist, now, &hello, &mut OsRng)
            .unwrap();
        h_send.send(&host_hello).await.unwrap();
        let host_hello: HostHello = v_recv.recv().await.unwrap().unwrap().decode().unwrap();
        let (expect_host_finish, finish) = expect_host_hello
            .receive_host_hello(&host_hello, &mut OsRng)
            .unwrap();
        v_send.send(&finish).await.unwrap();
        let finish: ViewerFinish = h_recv.recv().await.unwrap().unwrap().decode().unwrap();
        let (mut host_keys, host_finish) = expect_finish.receive_viewer_finish(&finish).unwrap();
        h_send.send(&host_finish).await.unwrap();
        let host_finish: HostFinish = v_recv.recv().await.unwrap().unwrap().decode().unwrap();
        let mut viewer_keys = expect_host_finish
            .receive_host_finish(&host_finish)
            .unwrap();

        // A screen record, host to viewer, on its own channel.
        let (_sv_send, mut sv_recv) = open_channel(&viewer, session_id, ChannelKind::Screen).await;
        let (mut sh_send, _sh_recv) = accept_channel(&host, ChannelKind::Screen).await;
        let mut record = Vec::new();
        host_keys
            .take_channel(Channel::Screen)
            .unwrap()
            .sealer
            .seal(SCREEN_TEXT, &mut record)
            .unwrap();
        sh_send
            .send_frame(&Frame {
                message_type: MessageType::SealedRecord,
                payload: record,
            })
            .await
            .unwrap();
        let mut frame = sv_recv.recv().await.unwrap().unwrap();
        assert_eq!(frame.message_type, MessageType::SealedRecord);
        let mut screen_keys = viewer_keys.take_channel(Channel::Screen).unwrap();
        let shown = screen_keys
            .opener
            .open(&mut frame.payload)
            .unwrap()
            .to_vec();
        assert_eq!(shown, SCREEN_TEXT, "the viewer sees the screen");

        let seen = seen.lock().unwrap().clone();
        assert!(
            seen.len() > 2000,
            "the relay forwarded the session ({} bytes)",
            seen.len()
        );
        let grouped = password.display_grouped();
        let plain = grouped.replace('-', "");
        let stretched = password.stretch(&session_id, &stretch).unwrap();
        for (what, secret) in [
            ("screen content", SCREEN_TEXT.to_vec()),
            ("password", plain.as_bytes().to_vec()),
            ("grouped password", grouped.as_bytes().to_vec()),
            ("stretched password", stretched.as_bytes().to_vec()),
        ] {
            assert!(
                !contains(&seen, &secret),
                "the relay forwarded the {what} in clear"
            );
            for file in ["relay.db", "relay.db-wal"] {
                let bytes = std::fs::read(relay.db_path.with_file_name(file)).unwrap_or_default();
                assert!(!contains(&bytes, &secret), "{file} holds the {what}");
            }
        }
        relay.stop().await;
    })
    .await;
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
