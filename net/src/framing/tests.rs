//! Framing over real QUIC streams on loopback: round trips, bad peers, and
//! the stream/connection boundary (a bad stream never takes the connection).

use std::time::Duration;

use assent_proto::messages::signalling::{Ack, ClientRole, RelayHello};
use assent_proto::wire::{MessageType, Text, HEADER_LEN, MAGIC, PROTOCOL_VERSION};

use super::*;
use crate::test_support::{accept_one, addr, bounded, client, relay_with, self_signed};
use crate::{client_config, connect, CertFingerprint, RelayTrust};

/// A connected client and relay-side connection over loopback.
async fn connected() -> (quinn::Connection, quinn::Connection) {
    let relay_cert = self_signed();
    let pin = CertFingerprint::of(&relay_cert.cert);
    let relay = relay_with(vec![relay_cert.cert], relay_cert.key);
    let server = accept_one(&relay);
    let config = client_config(RelayTrust::Pinned(pin)).unwrap();
    let client_connection = connect(&client(), addr(&relay), "localhost", config)
        .await
        .unwrap();
    let server_connection = server.await.unwrap().unwrap().unwrap();
    (client_connection, server_connection)
}

/// Opens a bidirectional stream; the peer learns of it with the first byte sent.
async fn open(opener: &quinn::Connection) -> (FramedSend, FramedRecv) {
    let (send, recv) = opener.open_bi().await.unwrap();
    framed(send, recv)
}

/// Accepts the next stream the other side opened.
async fn accept(peer: &quinn::Connection) -> (FramedSend, FramedRecv) {
    let (send, recv) = peer.accept_bi().await.unwrap();
    framed(send, recv)
}

/// Opens a stream from `opener`, writes `first` (at least one byte, so the
/// peer learns of it), and returns both ends' framed halves.
async fn stream_with(
    opener: &quinn::Connection,
    peer: &quinn::Connection,
    first: &[u8],
) -> ((FramedSend, FramedRecv), (FramedSend, FramedRecv)) {
    assert!(!first.is_empty());
    let (mut send, recv) = open(opener).await;
    send.send_raw(first).await.unwrap();
    ((send, recv), accept(peer).await)
}

fn hello(version: &str) -> RelayHello {
    RelayHello {
        role: ClientRole::Host,
        software_version: Text::new(version).unwrap(),
    }
}

fn header(message_type: MessageType, len: u32) -> [u8; HEADER_LEN] {
    Header { message_type, len }.encode()
}

#[tokio::test]
async fn proto_messages_round_trip_on_a_bi_stream() {
    bounded(async {
        let (client_conn, relay_conn) = connected().await;
        let first = hello("1.0.0").to_frame().unwrap();
        let ((mut send, mut recv), (mut relay_send, mut relay_recv)) =
            stream_with(&client_conn, &relay_conn, &first).await;

        // Every way of sending: typed, decoded frame, two frames in one write.
        send.send(&Ack {}).await.unwrap();
        let forwarded = Frame {
            message_type: MessageType::RelayHello,
            payload: hello("2.0.0").to_frame().unwrap()[HEADER_LEN..].to_vec(),
        };
        send.send_frame(&forwarded).await.unwrap();
        let mut two = hello("3.0.0").to_frame().unwrap();
        two.extend(Ack {}.to_frame().unwrap());
        send.send_raw(&two).await.unwrap();
        send.finish().unwrap();

        let mut got = Vec::new();
        while let Some(frame) = relay_recv.recv().await.unwrap() {
            got.push(frame);
        }
        assert_eq!(got.len(), 5);
        assert_eq!(got[0].decode::<RelayHello>().unwrap(), hello("1.0.0"));
        assert_eq!(got[1].decode::<Ack>().unwrap(), Ack {});
        assert_eq!(got[2], forwarded);
        assert_eq!(got[3].decode::<RelayHello>().unwrap(), hello("3.0.0"));
        assert_eq!(got[4].decode::<Ack>().unwrap(), Ack {});

        // And back the other way on the same stream.
        relay_send.send(&Ack {}).await.unwrap();
        relay_send.finish().unwrap();
        let reply = recv.recv().await.unwrap().unwrap();
        assert_eq!(reply.decode::<Ack>().unwrap(), Ack {});
        assert!(recv.recv().await.unwrap().is_none());
    })
    .await
}

#[tokio::test]
async fn oversized_length_is_refused_from_the_header_and_the_connection_stays_usable() {
    bounded(async {
        let (client_conn, relay_conn) = connected().await;
        // A RelayHello header announcing 4 GiB, and not one payload byte:
        // the receiver must refuse from the header alone, neither waiting
        // for nor buffering what was announced.
        let lie = header(MessageType::RelayHello, u32::MAX);
        let ((send, _recv), (_relay_send, mut relay_recv)) =
            stream_with(&client_conn, &relay_conn, &lie).await;

        let error = relay_recv.recv().await.unwrap_err();
        match error {
            NetError::Decode(DecodeError::FrameTooLarge {
                message_type: MessageType::RelayHello,
                len,
                max,
            }) => assert_eq!((len, max), (u32::MAX as usize, 256)),
            other => panic!("expected FrameTooLarge, got {other:?}"),
        }
        // The stream is dead for good, and the sender was told to stop.
        assert!(matches!(
            relay_recv.recv().await,
            Err(NetError::Decode(DecodeError::StreamFailed))
        ));
        assert_eq!(
            send.into_inner().stopped().await.unwrap(),
            Some(MALFORMED_FRAME_CODE)
        );

        // The connection is unharmed: a new stream carries frames.
        let ack = Ack {}.to_frame().unwrap();
        let ((_send, _recv), (_relay_send, mut relay_recv)) =
            stream_with(&client_conn, &relay_conn, &ack).await;
        let frame = relay_recv.recv().await.unwrap().unwrap();
        assert_eq!(frame.decode::<Ack>().unwrap(), Ack {});
    })
    .await
}

#[tokio::test]
async fn bad_magic_is_a_decode_error() {
    bounded(async {
        let (client_conn, relay_conn) = connected().await;
        let mut bytes = Ack {}.to_frame().unwrap();
        bytes[..2].copy_from_slice(b"XX");
        let (_, (_relay_send, mut relay_recv)) =
            stream_with(&client_conn, &relay_conn, &bytes).await;
        assert!(matches!(
            relay_recv.recv().await,
            Err(NetError::Decode(DecodeError::BadMagic))
        ));
    })
    .await
}

#[tokio::test]
async fn stream_ending_mid_frame_is_a_truncated_frame() {
    bounded(async {
        let (client_conn, relay_conn) = connected().await;
        let frame = hello("1.0.0").to_frame().unwrap();
        // Cut inside the payload, and inside the header.
        for cut in [HEADER_LEN + 3, 5] {
            let ((mut send, _recv), (_relay_send, mut relay_recv)) =
                stream_with(&client_conn, &relay_conn, &frame[..cut]).await;
            send.finish().unwrap();
            assert!(
                matches!(relay_recv.recv().await, Err(NetError::TruncatedFrame)),
                "cut at {cut}"
            );
            // It stays that way.
            assert!(matches!(
                relay_recv.recv().await,
                Err(NetError::TruncatedFrame)
            ));
        }
    })
    .await
}

#[tokio::test]
async fn clean_finish_at_a_frame_boundary_gives_none() {
    bounded(async {
        let (client_conn, relay_conn) = connected().await;
        let ack = Ack {}.to_frame().unwrap();
        let ((mut send, _recv), (_relay_send, mut relay_recv)) =
            stream_with(&client_conn, &relay_conn, &ack).await;
        send.finish().unwrap();
        assert!(relay_recv.recv().await.unwrap().is_some());
        assert!(relay_recv.recv().await.unwrap().is_none());
        assert!(relay_recv.recv().await.unwrap().is_none());
    })
    .await
}

#[tokio::test]
async fn record_larger_than_a_read_chunk_arrives_whole() {
    bounded(async {
        let (client_conn, relay_conn) = connected().await;
        let max = MessageType::SealedRecord.max_len();
        assert!(max > 4 * READ_CHUNK_MAX);
        let record = Frame {
            message_type: MessageType::SealedRecord,
            payload: (0..max).map(|i| (i % 251) as u8).collect(),
        };
        let (mut send, _recv) = open(&client_conn).await;
        let sender = tokio::spawn(async move {
            send.send_frame(&record).await.unwrap();
            send.finish().unwrap();
            record
        });
        let (_relay_send, mut relay_recv) = accept(&relay_conn).await;
        let got = relay_recv.recv().await.unwrap().unwrap();
        assert_eq!(got, sender.await.unwrap());
        assert!(relay_recv.recv().await.unwrap().is_none());
    })
    .await
}

#[tokio::test]
async fn frame_over_its_type_bound_is_refused_before_sending() {
    bounded(async {
        let (client_conn, relay_conn) = connected().await;
        let (mut send, _recv) = open(&client_conn).await;
        let too_big = Frame {
            message_type: MessageType::Ack,
            payload: vec![0; MessageType::Ack.max_len() + 1],
        };
        assert!(matches!(
            send.send_frame(&too_big).await,
            Err(NetError::Encode(DecodeError::FrameTooLarge { .. }))
        ));
        // Nothing reached the wire: the stream still carries a clean frame.
        send.send(&Ack {}).await.unwrap();
        send.finish().unwrap();
        let (_relay_send, mut relay_recv) = accept(&relay_conn).await;
        let frame = relay_recv.recv().await.unwrap().unwrap();
        assert_eq!(frame.decode::<Ack>().unwrap(), Ack {});
        assert!(relay_recv.recv().await.unwrap().is_none());
    })
    .await
}

#[tokio::test]
async fn recv_timeout_loses_nothing_already_received() {
    bounded(async {
        let (client_conn, relay_conn) = connected().await;
        let frame = hello("1.0.0").to_frame().unwrap();
        let split = HEADER_LEN + 2;
        let ((mut send, _recv), (_relay_send, mut relay_recv)) =
            stream_with(&client_conn, &relay_conn, &frame[..split]).await;
        relay_recv.set_recv_timeout(Some(Duration::from_millis(200)));

        assert!(matches!(
            relay_recv.recv().await,
            Err(NetError::RecvTimeout(_))
        ));
        send.send_raw(&frame[split..]).await.unwrap();
        let got = relay_recv.recv().await.unwrap().unwrap();
        assert_eq!(got.decode::<RelayHello>().unwrap(), hello("1.0.0"));
    })
    .await
}

/// Deterministic pseudo-random bytes (xorshift), so a failure reproduces.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[tokio::test]
async fn arbitrary_bytes_never_panic_the_receiver() {
    bounded(async {
        let (client_conn, relay_conn) = connected().await;
        for seed in 0..40u64 {
            // Half the cases start with a valid header prefix so the
            // decoder gets past the magic and version checks.
            let mut bytes = noise(seed, (seed as usize * 97) % 3000);
            if seed % 2 == 0 {
                let mut prefixed = MAGIC.to_vec();
                prefixed.push(PROTOCOL_VERSION);
                prefixed.extend_from_slice(&0x0114u16.to_be_bytes());
                prefixed.extend(bytes);
                bytes = prefixed;
            }
            let (mut send, _recv) = open(&client_conn).await;
            send.send_raw(&bytes).await.unwrap();
            send.finish().unwrap();
            let (_relay_send, mut relay_recv) = accept(&relay_conn).await;
            // Frames, a clean end or a typed error: anything but a panic or a hang.
            for _ in 0..8 {
                match relay_recv.recv().await {
                    Ok(Some(_)) => continue,
                    Ok(None) | Err(_) => break,
                }
            }
        }
        // After all that, the connection still works.
        let ack = Ack {}.to_frame().unwrap();
        let (_, (_relay_send, mut relay_recv)) = stream_with(&client_conn, &relay_conn, &ack).await;
        assert!(relay_recv.recv().await.unwrap().is_some());
    })
    .await
}

#[tokio::test]
async fn bytes_after_the_last_frame_are_handed_over_by_into_raw() {
    bounded(async {
        let (client_connection, server_connection) = connected().await;
        // One frame, then opaque bytes in the same write: the reader's chunk
        // holds both, and none of the opaque bytes may be lost.
        let mut first = hello("1.0").to_frame().unwrap();
        first.extend_from_slice(b"opaque tail");
        let ((mut send, _), (_, mut recv)) =
            stream_with(&client_connection, &server_connection, &first).await;
        send.send_raw(b" and more").await.unwrap();
        send.finish().unwrap();
        let frame = recv.recv().await.unwrap().unwrap();
        assert_eq!(frame.message_type, MessageType::RelayHello);
        let (mut stream, leftover) = recv.into_raw().unwrap();
        let rest = stream.read_to_end(1024).await.unwrap();
        let mut all = leftover;
        all.extend_from_slice(&rest);
        assert_eq!(all, b"opaque tail and more");
    })
    .await;
}
