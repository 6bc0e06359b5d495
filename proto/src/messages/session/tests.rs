use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::strategy::Union;

use super::test_support::frame_of;
use super::*;
use crate::messages::{consent, input, notification, screen};
use crate::wire::{
    DecodeError, Field, Frame, Header, Message, MessageType, FILE_TRANSFER_UNAVAILABLE, HEADER_LEN,
};

/// Every in-record message, each variant equally likely.
pub(crate) fn session_message() -> BoxedStrategy<SessionMessage> {
    fn boxed<M: Into<SessionMessage> + std::fmt::Debug + 'static>(
        s: impl Strategy<Value = M> + 'static,
    ) -> BoxedStrategy<SessionMessage> {
        s.prop_map(Into::into).boxed()
    }
    #[allow(unused_mut)]
    let mut all = vec![
        boxed(consent::strategies::capability_request()),
        boxed(consent::strategies::capability_decision()),
        boxed(consent::strategies::capability_revoked()),
        boxed(consent::strategies::session_error()),
        boxed(consent::strategies::session_end()),
        boxed(screen::strategies::screen_info()),
        boxed(screen::strategies::frame_update()),
        boxed(screen::strategies::cursor_update()),
        boxed(input::strategies::pointer_move()),
        boxed(input::strategies::pointer_button()),
        boxed(input::strategies::wheel()),
        boxed(input::strategies::key_event()),
        boxed(notification::strategies::notification()),
        boxed(notification::strategies::notification_cleared()),
    ];
    #[cfg(feature = "file-transfer")]
    {
        use crate::messages::file_transfer::strategies as ft;
        all.extend([
            boxed(ft::file_offer()),
            boxed(ft::file_offer_answer()),
            boxed(ft::file_chunk()),
            boxed(ft::file_complete()),
            boxed(ft::file_abort()),
        ]);
    }
    Union::new(all).boxed()
}

fn largest_instances() -> Vec<SessionMessage> {
    #[allow(unused_mut)]
    let mut all = consent::strategies::largest_instances();
    all.extend(screen::strategies::largest_instances());
    all.extend(input::strategies::largest_instances());
    all.extend(notification::strategies::largest_instances());
    #[cfg(feature = "file-transfer")]
    all.extend(crate::messages::file_transfer::strategies::largest_instances());
    all
}

/// Types whose code says they travel inside records: 0x04xx to 0x08xx.
fn in_record_types() -> BTreeSet<u16> {
    MessageType::ALL
        .iter()
        .map(|t| t.code())
        .filter(|code| (0x0400..0x0900).contains(code))
        .collect()
}

fn raw_frame(code: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = b"AS\x01".to_vec();
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[test]
fn every_in_record_message_type_is_dispatched() {
    let dispatched: BTreeSet<u16> = largest_instances()
        .iter()
        .map(|m| m.message_type().code())
        .collect();
    assert_eq!(dispatched, in_record_types());
}

#[test]
fn every_session_message_at_its_largest_fits_its_registry_bound() {
    for message in largest_instances() {
        let frame = message
            .to_frame()
            .unwrap_or_else(|e| panic!("{:?} at its largest: {e}", message.message_type()));
        assert!(frame.len() - HEADER_LEN <= message.message_type().max_len());
        // And it decodes again (every part of the largest instance is legal).
        assert_eq!(SessionMessage::from_frame_bytes(&frame), Ok(message));
    }
}

#[test]
fn frames_of_other_channels_are_refused() {
    for t in MessageType::ALL {
        if in_record_types().contains(&t.code()) {
            continue;
        }
        let frame = Frame {
            message_type: *t,
            payload: Vec::new(),
        };
        assert_eq!(
            SessionMessage::decode(&frame),
            Err(DecodeError::InvalidValue {
                what: "message type on the end-to-end session channel",
                value: u64::from(t.code())
            }),
            "{t:?} must not decode as a session message"
        );
    }
}

#[test]
fn a_frame_decoded_as_the_wrong_type_is_refused() {
    let wheel = input::Wheel { dx: 1, dy: -1 };
    let frame = Frame {
        message_type: MessageType::PointerMove,
        payload: wheel.to_bytes(),
    };
    assert_eq!(
        frame.decode::<input::Wheel>(),
        Err(DecodeError::UnexpectedMessage {
            expected: MessageType::Wheel,
            got: MessageType::PointerMove
        })
    );
    let bytes = input::PointerMove { x: 1, y: 2 }.to_frame().unwrap();
    assert!(matches!(
        input::Wheel::from_frame(&bytes),
        Err(DecodeError::UnexpectedMessage { .. })
    ));
}

#[test]
fn a_frame_followed_by_more_bytes_is_refused() {
    let mut bytes = input::KeyEvent {
        keysym: 0xff0d,
        pressed: true,
    }
    .to_frame()
    .unwrap();
    bytes.push(0);
    assert_eq!(
        SessionMessage::from_frame_bytes(&bytes),
        Err(DecodeError::TrailingBytes(1))
    );
}

#[test]
fn only_consent_errors_and_notifications_flow_without_a_capability() {
    for message in largest_instances() {
        let code = message.message_type().code();
        let expected = match code >> 8 {
            0x05 => Some(Capability::ScreenView),
            0x06 => Some(Capability::RemoteControl),
            #[cfg(feature = "file-transfer")]
            0x07 => Some(Capability::FileTransfer),
            _ => None,
        };
        assert_eq!(message.capability(), expected, "{code:#06x}");
    }
}

#[test]
fn each_message_travels_on_the_channel_of_its_code_range() {
    for message in largest_instances() {
        let code = message.message_type().code();
        let expected = match code >> 8 {
            0x04 => Channel::Control,
            0x05 => Channel::Screen,
            0x06 => Channel::Input,
            #[cfg(feature = "file-transfer")]
            0x07 => Channel::Files,
            0x08 => Channel::Notifications,
            other => panic!("unexpected range {other:#04x}"),
        };
        assert_eq!(message.channel(), expected, "{code:#06x}");
    }
}

#[test]
fn lossy_text_fits_any_input() {
    let t: Text<5> = lossy_text("a\u{7}bcdéf");
    assert_eq!(t.as_str(), "a bcd");
    let t: Text<4> = lossy_text("abcé");
    assert_eq!(t.as_str(), "abc");
}

#[cfg(not(feature = "file-transfer"))]
#[test]
fn phi_build_refuses_every_file_transfer_frame_with_the_clear_message() {
    for code in 0x0701..=0x0705u16 {
        assert_eq!(
            MessageType::from_code(code),
            Err(DecodeError::Unavailable(FILE_TRANSFER_UNAVAILABLE))
        );
        let err = SessionMessage::from_frame_bytes(&raw_frame(code, &[0; 8])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "file transfer is not available on this instrument"
        );
        // A stream decoder says the same before buffering any payload.
        let mut decoder = crate::wire::FrameDecoder::new();
        let bytes = raw_frame(code, &[0; 8]);
        assert_eq!(
            decoder.decode(&mut &bytes[..]),
            Err(DecodeError::Unavailable(FILE_TRANSFER_UNAVAILABLE))
        );
        // The host's answer is a session error the viewer can show.
        let answer = SessionError::from_decode_error(&err);
        assert_eq!(answer.code, consent::SessionErrorCode::Unavailable);
    }
}

#[cfg(feature = "file-transfer")]
#[test]
fn full_build_decodes_file_transfer_frames() {
    use crate::messages::file_transfer::FileComplete;
    let bytes = raw_frame(0x0704, &7u64.to_be_bytes());
    assert_eq!(
        SessionMessage::from_frame_bytes(&bytes),
        Ok(SessionMessage::FileComplete(FileComplete {
            transfer_id: 7
        }))
    );
    let _ = FILE_TRANSFER_UNAVAILABLE;
}

#[test]
fn a_length_over_the_type_bound_is_refused_before_the_payload() {
    let mut bytes = Header {
        message_type: MessageType::PointerMove,
        len: 0,
    }
    .encode()
    .to_vec();
    bytes[5..9].copy_from_slice(&17u32.to_be_bytes());
    assert!(matches!(
        SessionMessage::from_frame_bytes(&bytes),
        Err(DecodeError::FrameTooLarge {
            len: 17,
            max: 16,
            ..
        })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_session_message_round_trips(message in session_message()) {
        let bytes = message.to_frame().unwrap();
        let frame = frame_of(&bytes);
        prop_assert_eq!(frame.message_type, message.message_type());
        prop_assert_eq!(SessionMessage::decode(&frame), Ok(message.clone()));
        prop_assert_eq!(SessionMessage::from_frame_bytes(&bytes), Ok(message));
    }

    #[test]
    fn a_payload_with_a_trailing_byte_is_refused(message in session_message(), extra in any::<u8>()) {
        let mut frame = frame_of(&message.to_frame().unwrap());
        frame.payload.push(extra);
        prop_assert_eq!(SessionMessage::decode(&frame), Err(DecodeError::TrailingBytes(1)));
    }

    #[test]
    fn a_truncated_payload_is_refused(message in session_message(), cut in any::<prop::sample::Index>()) {
        let mut frame = frame_of(&message.to_frame().unwrap());
        prop_assume!(!frame.payload.is_empty());
        let len = cut.index(frame.payload.len());
        frame.payload.truncate(len);
        prop_assert!(SessionMessage::decode(&frame).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_session_decoder(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048)
    ) {
        let _ = SessionMessage::from_frame_bytes(&bytes);
    }

    #[test]
    fn arbitrary_payloads_of_every_type_never_panic_and_decode_canonically(
        t in proptest::sample::select(MessageType::ALL),
        payload in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let frame = Frame { message_type: t, payload };
        if let Ok(message) = SessionMessage::decode(&frame) {
            prop_assert_eq!(message.to_frame().unwrap()[HEADER_LEN..].to_vec(), frame.payload);
        }
    }

    #[test]
    fn mutated_frames_are_refused_or_decode_canonically(
        message in session_message(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = message.to_frame().unwrap();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if let Ok(decoded) = SessionMessage::from_frame_bytes(&bytes) {
            // One encoding per value: anything accepted re-encodes byte for byte.
            prop_assert_eq!(decoded.to_frame().unwrap(), bytes);
        }
    }
}

#[test]
fn protocol_md_message_table_matches_the_registry() {
    let doc = include_str!("../../../PROTOCOL.md");
    let mut documented = Vec::new();
    for row in doc.lines().filter(|l| l.starts_with("| `0x")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let code = u16::from_str_radix(cells[1].trim_matches('`').trim_start_matches("0x"), 16)
            .unwrap_or_else(|e| panic!("bad code in {row:?}: {e}"));
        let max: usize = cells[4]
            .parse()
            .unwrap_or_else(|e| panic!("bad max in {row:?}: {e}"));
        if cfg!(not(feature = "file-transfer")) && code >> 8 == 0x07 {
            continue;
        }
        documented.push((code, cells[2].to_string(), max));
    }
    let registry: Vec<_> = MessageType::ALL
        .iter()
        .map(|t| (t.code(), format!("{t:?}"), t.max_len()))
        .collect();
    assert_eq!(
        documented, registry,
        "PROTOCOL.md message table is out of date"
    );
}
