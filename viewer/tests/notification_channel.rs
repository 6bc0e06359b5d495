//! The viewer's end of the Notifications channel (R15) over real QUIC on
//! loopback, with record keys from a real handshake: what the host sends is
//! applied in order, and whatever goes wrong on this channel (garbage bytes,
//! a message that belongs elsewhere, a host that never serves it) ends this
//! channel at most, never the connection or another channel.

use std::time::Duration;

use assent_net::loopback::LoopbackPair;
use assent_net::{accept_channel, open_channel, FramedSend, SealedRecv, SealedSend};
use assent_proto::handshake::{Channel, SessionKeys};
use assent_proto::messages::consent::{Capability, CapabilityRequest, CapabilityRevoked};
use assent_proto::messages::notification::{
    Notification, NotificationCleared, NotificationKind, NotificationSource, Severity,
};
use assent_proto::messages::session::SessionMessage;
use assent_proto::messages::signalling::ChannelKind;
use assent_proto::record::RecordSealer;
use assent_proto::test_keys;
use assent_proto::wire::{Frame, MessageType, Text};
use assent_viewer::notifications::{
    ActiveNotifications, FeedEvent, NotificationChange, NotificationChannel,
};

const NOW: u64 = 1_800_000_000;
const SESSION: [u8; 32] = [9; 32];
/// Nothing here takes long; a hang fails the test.
const LIMIT: Duration = Duration::from_secs(20);
/// How long to watch for something that must not happen.
const QUIET: Duration = Duration::from_millis(300);

/// Viewer and host keys of one session, from the real handshake.
fn session_keys() -> (SessionKeys, SessionKeys) {
    test_keys::session_keys(SESSION)
}

/// The viewer opens a channel of `kind`; the host accepts it.
async fn channel(
    viewer: &quinn::Connection,
    host: &quinn::Connection,
    kind: ChannelKind,
) -> (
    (FramedSend, assent_net::FramedRecv),
    (FramedSend, assent_net::FramedRecv),
) {
    let viewer_end = open_channel(viewer, SESSION, kind).await.unwrap();
    let (open, send, recv) = accept_channel(host).await.unwrap().unwrap();
    assert_eq!(open.channel, kind);
    (viewer_end, (send, recv))
}

/// The host's end of the Notifications channel, able to send what a
/// well-behaved host never would.
struct HostEnd {
    framed: FramedSend,
    sealer: RecordSealer,
}

impl HostEnd {
    /// Seals `message` under the Notifications keys, whatever channel it
    /// belongs to.
    async fn send(&mut self, message: &SessionMessage) {
        let mut record = Vec::new();
        self.sealer
            .seal(&message.to_frame().unwrap(), &mut record)
            .unwrap();
        self.frame(MessageType::SealedRecord, record).await;
    }

    async fn frame(&mut self, message_type: MessageType, payload: Vec<u8>) {
        let frame = Frame {
            message_type,
            payload,
        };
        self.framed.send_frame(&frame).await.unwrap();
    }
}

/// The viewer's Notifications channel and the host's end of it.
async fn notifications(
    viewer: &quinn::Connection,
    host: &quinn::Connection,
    keys: &mut (SessionKeys, SessionKeys),
) -> (NotificationChannel, HostEnd) {
    let ((send, recv), (host_send, _host_recv)) =
        channel(viewer, host, ChannelKind::Notifications).await;
    let opener = keys.0.take_channel(Channel::Notifications).unwrap().opener;
    let feed =
        NotificationChannel::new(send, SealedRecv::new(recv, Channel::Notifications, opener));
    let host_end = HostEnd {
        framed: host_send,
        sealer: keys.1.take_channel(Channel::Notifications).unwrap().sealer,
    };
    (feed, host_end)
}

fn raised(id: &str, severity: Severity, title: &str, seq: u64) -> SessionMessage {
    Notification {
        seq,
        id: Text::new(id).unwrap(),
        source: NotificationSource::Instrument,
        severity,
        kind: NotificationKind::Failure,
        title: Text::new(title).unwrap(),
        detail: Text::new("").unwrap(),
        raised_unix_ms: NOW * 1000,
    }
    .into()
}

async fn next(feed: &mut NotificationChannel, active: &mut ActiveNotifications) -> FeedEvent {
    tokio::time::timeout(LIMIT, feed.next(active))
        .await
        .expect("the feed answered in time")
}

/// `feed` stays quiet (a closed or idle channel never returns).
async fn assert_quiet(feed: &mut NotificationChannel, active: &mut ActiveNotifications) {
    let got = tokio::time::timeout(QUIET, feed.next(active)).await;
    assert!(got.is_err(), "expected nothing, got {got:?}");
}

/// The connection is up and another channel still carries sealed records.
async fn assert_session_goes_on(
    viewer: &quinn::Connection,
    host: &quinn::Connection,
    keys: &mut (SessionKeys, SessionKeys),
) {
    assert!(
        viewer.close_reason().is_none(),
        "{:?}",
        viewer.close_reason()
    );
    let ((_, recv), (send, _)) = channel(viewer, host, ChannelKind::Control).await;
    let control = |keys: &mut SessionKeys| keys.take_channel(Channel::Control).unwrap();
    let mut send = SealedSend::new(send, Channel::Control, control(&mut keys.1).sealer);
    let mut recv = SealedRecv::new(recv, Channel::Control, control(&mut keys.0).opener);
    let message: SessionMessage = CapabilityRevoked {
        capability: Capability::RemoteControl,
    }
    .into();
    send.send(&message).await.unwrap();
    let (got, _) = tokio::time::timeout(LIMIT, recv.recv())
        .await
        .expect("the control channel answered in time")
        .unwrap()
        .unwrap();
    assert_eq!(got, message);
}

#[tokio::test]
async fn the_hosts_snapshot_and_changes_update_the_active_set_in_order() {
    let mut keys = session_keys();
    let pair = LoopbackPair::connect().await;
    let (viewer, host) = (&pair.viewer, &pair.host);
    let (mut feed, mut host_end) = notifications(viewer, host, &mut keys).await;
    let mut active = ActiveNotifications::default();
    for message in [
        raised("pump", Severity::Warning, "Pressure dropping", 1),
        raised("disk", Severity::Info, "Disk 80% full", 2),
        raised("pump", Severity::Error, "Pump pressure low", 3),
        NotificationCleared {
            seq: 4,
            id: Text::new("disk").unwrap(),
            cleared_unix_ms: NOW * 1000,
        }
        .into(),
    ] {
        host_end.send(&message).await;
    }
    let mut lines = Vec::new();
    for _ in 0..4 {
        match next(&mut feed, &mut active).await {
            FeedEvent::Changed(change) => lines.push(change.line()),
            other => panic!("expected a change, got {other:?}"),
        }
    }
    assert_eq!(
        lines,
        [
            "notification [WARNING] Pressure dropping (instrument, failure, id pump)",
            "notification [INFO] Disk 80% full (instrument, failure, id disk)",
            "notification [ERROR] Pump pressure low (instrument, failure, id pump)",
            "notification cleared: disk",
        ]
    );
    assert_eq!(active.len(), 1);
    assert_eq!(active.get("pump").unwrap().severity, Severity::Error);
    host_end.framed.finish().unwrap();
    assert_eq!(next(&mut feed, &mut active).await, FeedEvent::Ended);
    assert!(!feed.is_open());
    assert_quiet(&mut feed, &mut active).await;
    assert_eq!(active.len(), 1, "what was active stays shown");
    assert_session_goes_on(viewer, host, &mut keys).await;
}

/// What a broken host (or an old relay) might put on the channel.
#[derive(Debug, Clone, Copy)]
enum Bad {
    /// Bytes that are not a frame at all.
    NotAFrame,
    /// A record that does not open under the channel's keys.
    ForgedRecord,
    /// A sealed message that belongs on the control channel.
    ControlMessage,
    /// A plaintext frame (an old relay's refusal of the channel).
    Unsealed,
}

#[tokio::test]
async fn anything_malformed_or_unexpected_closes_only_the_notifications_channel() {
    let pair = LoopbackPair::connect().await;
    let (viewer, host) = (&pair.viewer, &pair.host);
    for bad in [
        Bad::NotAFrame,
        Bad::ForgedRecord,
        Bad::ControlMessage,
        Bad::Unsealed,
    ] {
        // A session's channel keys are used once: a fresh session each time.
        let mut keys = session_keys();
        let (mut feed, mut host_end) = notifications(viewer, host, &mut keys).await;
        let mut active = ActiveNotifications::default();
        host_end
            .send(&raised("pump", Severity::Error, "Pump pressure low", 1))
            .await;
        assert!(
            matches!(
                next(&mut feed, &mut active).await,
                FeedEvent::Changed(NotificationChange::Raised { .. })
            ),
            "{bad:?}"
        );
        match bad {
            Bad::NotAFrame => host_end.framed.send_raw(&[0xff; 64]).await.unwrap(),
            Bad::ForgedRecord => {
                host_end
                    .frame(MessageType::SealedRecord, vec![0xaa; 80])
                    .await
            }
            Bad::ControlMessage => {
                let request: SessionMessage = CapabilityRequest {
                    capability: Capability::ScreenView,
                }
                .into();
                host_end.send(&request).await;
            }
            Bad::Unsealed => {
                let refusal = raised("x", Severity::Info, "t", 2).to_frame().unwrap();
                host_end.framed.send_raw(&refusal).await.unwrap();
            }
        }
        // A valid notification after the bad one must not be applied.
        host_end
            .send(&raised("late", Severity::Critical, "Too late", 3))
            .await;
        match next(&mut feed, &mut active).await {
            FeedEvent::Failed(why) => {
                assert!(why.contains("notifications channel"), "{bad:?}: {why}")
            }
            other => panic!("{bad:?}: expected the channel to fail, got {other:?}"),
        }
        assert!(!feed.is_open(), "{bad:?}");
        assert_quiet(&mut feed, &mut active).await;
        assert_eq!(active.len(), 1, "{bad:?}: what came before stays");
        assert!(active.get("late").is_none(), "{bad:?}");
        assert_session_goes_on(viewer, host, &mut keys).await;
    }
}

#[tokio::test]
async fn a_host_that_never_serves_notifications_leaves_the_feed_waiting() {
    let mut keys = session_keys();
    let pair = LoopbackPair::connect().await;
    let (viewer, host) = (&pair.viewer, &pair.host);
    let (mut feed, _host_end) = notifications(viewer, host, &mut keys).await;
    let mut active = ActiveNotifications::default();
    assert_quiet(&mut feed, &mut active).await;
    assert!(feed.is_open());
    assert_session_goes_on(viewer, host, &mut keys).await;
    // Without a channel at all, the feed waits forever too.
    assert_quiet(&mut NotificationChannel::absent(), &mut active).await;
}
