//! A viewer that does not play by the rules: it is allowlisted and knows the
//! password, but sends input before the technician granted control. The
//! real viewer never does that; this client proves the *host* enforces
//! consent (R10), whatever the viewer does.

use std::sync::Arc;
use std::time::Duration;

use assent_net::channel::{channel_kind, open_channel};
use assent_net::relay_client::{RelayClient, RelayTarget};
use assent_net::{
    seal_channel, CertFingerprint, FramedRecv, FramedSend, RelayTrust, SealedRecv, SealedSend,
};
use assent_proto::handshake::viewer::{self, ViewerConfig};
use assent_proto::handshake::Channel;
use assent_proto::identity::Identity;
use assent_proto::messages::consent::{Capability, CapabilityRequest};
use assent_proto::messages::handshake::{HostFinish, HostHello};
use assent_proto::messages::input::KeyEvent;
use assent_proto::messages::session::SessionMessage;
use assent_proto::messages::signalling::{
    ClientRole, ConnectRequest, LocationCode, Paired, SignallingMessage, ViewerLogin,
};
use assent_proto::password::{OneTimePassword, StretchParams};
use assent_proto::wire::{Bytes, Frame, Text};
use rand_core::OsRng;

use super::lab::{Lab, ENGINEER_EMAIL};

pub struct RogueSession {
    pub control: SealedSend,
    pub control_in: SealedRecv,
    pub input: SealedSend,
    pub files: SealedSend,
    pub files_in: SealedRecv,
    session_id: [u8; 32],
    client: RelayClient,
}

/// Logs in as the lab's engineer and pairs with the lab's host, without a
/// handshake yet.
pub async fn pair(lab: &Lab, identity: &Identity) -> (RelayClient, Paired) {
    let target = RelayTarget {
        addr: lab.relay_addr.parse().unwrap(),
        server_name: "localhost".into(),
        trust: RelayTrust::Pinned(lab.relay_pin.parse::<CertFingerprint>().unwrap()),
    };
    let (mut client, challenge) = RelayClient::open(&target, ClientRole::Viewer, "rogue")
        .await
        .unwrap();
    let mut login = ViewerLogin {
        viewer_key: identity.public().clone(),
        device_id: [0x66; 16],
        signature: Bytes::default(),
    };
    login.sign(identity, &challenge, &mut OsRng);
    let mut answer = client.request(&login).await.unwrap();
    if let SignallingMessage::LocationChallenge(_) = answer {
        let code = assent_relay::notifier::OutboxNotifier::read_latest_code(
            &lab.path("relay").join("outbox"),
            ENGINEER_EMAIL,
        )
        .unwrap()
        .unwrap();
        answer = client
            .request(&LocationCode {
                code: Text::new(code.as_str()).unwrap(),
            })
            .await
            .unwrap();
    }
    assert!(
        matches!(answer, SignallingMessage::LoginAccepted(_)),
        "{answer:?}"
    );
    let paired = match client
        .request(&ConnectRequest {
            host_id: Text::new(&lab.host_id).unwrap(),
        })
        .await
        .unwrap()
    {
        SignallingMessage::Paired(paired) => paired,
        other => panic!("not paired: {other:?}"),
    };
    (client, paired)
}

/// Opens a control channel and sends a `ViewerHello` under `password`.
async fn start_handshake(
    client: &RelayClient,
    paired: &Paired,
    identity: Arc<Identity>,
    password: &OneTimePassword,
) -> (FramedSend, FramedRecv, viewer::ExpectHostHello) {
    let (mut send, recv) = open_channel(
        &client.connection,
        paired.session_id,
        channel_kind(Channel::Control),
    )
    .await
    .unwrap();
    let (expect_hello, hello) = viewer::start(
        ViewerConfig {
            identity,
            password,
            session_id: paired.session_id,
            expected_host: paired.host_fingerprint,
            stretch: StretchParams::default(),
        },
        &mut OsRng,
    )
    .unwrap();
    send.send(&hello).await.unwrap();
    (send, recv, expect_hello)
}

/// Sends a `ViewerHello` on a new control channel and returns the host's
/// answer (a signed `HostHello`, or its refusal), leaving the handshake
/// unfinished: what a hostile relay can do with any allowlisted public key.
pub async fn unfinished_handshake(
    client: &RelayClient,
    paired: &Paired,
    identity: Arc<Identity>,
) -> Frame {
    let password = OneTimePassword::generate(&mut OsRng);
    let (_send, mut recv, _) = start_handshake(client, paired, identity, &password).await;
    tokio::time::timeout(Duration::from_secs(30), recv.recv())
        .await
        .expect("the host answered")
        .unwrap()
        .expect("an answer before the end of the stream")
}

/// Logs in as the lab's engineer, pairs, and completes the handshake.
pub async fn connect(lab: &Lab, identity: Arc<Identity>, password: &str) -> RogueSession {
    let (client, paired) = pair(lab, &identity).await;
    let password = OneTimePassword::parse(password).unwrap();
    let connection = client.connection.clone();
    let (mut send, mut recv, expect_hello) =
        start_handshake(&client, &paired, identity, &password).await;
    let host_hello: HostHello = recv.recv().await.unwrap().unwrap().decode().unwrap();
    let (expect_finish, finish) = expect_hello
        .receive_host_hello(&host_hello, &mut OsRng)
        .unwrap();
    send.send(&finish).await.unwrap();
    let host_finish: HostFinish = recv.recv().await.unwrap().unwrap().decode().unwrap();
    let mut keys = expect_finish.receive_host_finish(&host_finish).unwrap();
    let (input_send, _input_recv) =
        open_channel(&connection, paired.session_id, channel_kind(Channel::Input))
            .await
            .unwrap();
    let (files_send, files_recv) =
        open_channel(&connection, paired.session_id, channel_kind(Channel::Files))
            .await
            .unwrap();
    let (control, control_in) = seal_channel(&mut keys, Channel::Control, send, recv).unwrap();
    let input = SealedSend::new(
        input_send,
        Channel::Input,
        keys.take_channel(Channel::Input).unwrap().sealer,
    );
    let (files, files_in) =
        seal_channel(&mut keys, Channel::Files, files_send, files_recv).unwrap();
    RogueSession {
        control,
        control_in,
        input,
        files,
        files_in,
        session_id: paired.session_id,
        client,
    }
}

impl RogueSession {
    /// Opens one more stream for `channel` through the relay: what a hostile
    /// relay does when it opens a duplicate channel to the host.
    pub async fn open_raw_channel(&self, channel: Channel) -> (FramedSend, FramedRecv) {
        open_channel(
            &self.client.connection,
            self.session_id,
            channel_kind(channel),
        )
        .await
        .unwrap()
    }

    /// Presses and releases each character (ASCII: keysym = code point).
    pub async fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            for pressed in [true, false] {
                let key = KeyEvent {
                    keysym: c as u32,
                    pressed,
                };
                self.input.send(&SessionMessage::from(key)).await.unwrap();
            }
        }
    }

    pub async fn request(&mut self, capability: Capability) {
        self.control
            .send(&CapabilityRequest { capability }.into())
            .await
            .unwrap();
    }

    /// The next message on the files channel, bounded in time.
    pub async fn next_file_message(&mut self) -> SessionMessage {
        tokio::time::timeout(Duration::from_secs(30), self.files_in.recv())
            .await
            .expect("the host answered")
            .unwrap()
            .expect("files channel open")
            .0
    }

    /// Drops the connection at once, as a crashed viewer would.
    pub fn vanish(self) {
        self.client
            .connection
            .close(quinn::VarInt::from_u32(9), b"gone");
    }

    /// The next control message, bounded in time.
    pub async fn next_control(&mut self) -> SessionMessage {
        tokio::time::timeout(Duration::from_secs(30), self.control_in.recv())
            .await
            .expect("the host answered")
            .unwrap()
            .expect("control channel open")
            .0
    }
}
