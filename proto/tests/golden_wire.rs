//! Golden bytes (issue 12): one fixed instance of each handshake message, of
//! the signalling messages around it, of the control and input messages
//! inside records, and of a sealed record, against bytes
//! written out field by field from `PROTOCOL.md` ("Envelope", "Canonical
//! field encoding", "Records"). A round-trip test cannot see a change made
//! to encoder and decoder alike (a reordered field, a wider length prefix, a
//! renumbered code); these can, and such a change breaks every deployed peer.
//!
//! Each expected frame is a list of segments, one per header part or field,
//! so a reviewer can check it against the layout tables line by line.

mod golden;

use assent_proto::identity::Fingerprint;
use assent_proto::messages::audit_event::{AuditEvent, AuditReport};
use assent_proto::messages::consent::{
    Capability, CapabilityDecision, CapabilityRequest, CapabilityRevoked, DecisionOutcome,
    SessionEnd, SessionError, SessionErrorCode,
};
use assent_proto::messages::handshake::{
    AbortReason, HandshakeAbort, HostFinish, HostHello, ViewerFinish, ViewerHello,
};
use assent_proto::messages::input::{KeyEvent, MouseButton, PointerButton, PointerMove, Wheel};
use assent_proto::messages::signalling::{
    ChannelKind, ClientRole, ConnectRequest, OpenChannel, Paired, RelayError, RelayErrorCode,
    RelayHello,
};
use assent_proto::record::{RecordBinding, RecordSealer, RekeyPolicy, TrafficKey};
use assent_proto::wire::{Frame, Message, MessageType};
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use golden::{assert_golden, bytes, fill, fixed_identity, hex, identity_field, text};

#[test]
fn viewer_hello_bytes_are_fixed() {
    let identity = fixed_identity();
    let message = ViewerHello {
        session_id: [0x11; 32],
        viewer_nonce: [0x22; 32],
        viewer_ephemeral: [0x33; 32],
        viewer_pake: bytes(0x44, 33),
        viewer_identity: identity.clone(),
    };
    assert_golden(
        &message,
        &[
            "4153 01 0201 000002af", // "AS", v1, ViewerHello, 687 bytes
            &fill(0x11, 32),         // session_id
            &fill(0x22, 32),         // viewer_nonce
            &fill(0x33, 32),         // viewer_ephemeral
            "00000021",              // viewer_pake: u32 length 33 ...
            &fill(0x44, 33),         // ... then the SPAKE2 message
            &identity_field(&identity),
        ],
    );
}

#[test]
fn host_hello_bytes_are_fixed() {
    let identity = fixed_identity();
    let message = HostHello {
        host_nonce: [0x55; 32],
        host_ephemeral: [0x66; 32],
        host_pake: bytes(0x77, 33),
        host_identity: identity.clone(),
        signature: bytes(0x88, 512),
    };
    assert_golden(
        &message,
        &[
            "4153 01 0202 00000493", // HostHello, 1171 bytes
            &fill(0x55, 32),         // host_nonce
            &fill(0x66, 32),         // host_ephemeral
            "00000021",              // host_pake length 33
            &fill(0x77, 33),
            &identity_field(&identity),
            "00000200", // signature length 512
            &fill(0x88, 512),
        ],
    );
}

#[test]
fn viewer_finish_bytes_are_fixed() {
    let message = ViewerFinish {
        signature: bytes(0x99, 512),
        confirm: [0xaa; 32],
    };
    assert_golden(
        &message,
        &[
            "4153 01 0203 00000224", // ViewerFinish, 548 bytes
            "00000200",              // signature length 512
            &fill(0x99, 512),
            &fill(0xaa, 32), // confirm
        ],
    );
}

#[test]
fn host_finish_bytes_are_fixed() {
    let message = HostFinish {
        confirm: [0xbb; 32],
    };
    assert_golden(&message, &["4153 01 0204 00000020", &fill(0xbb, 32)]);
}

#[test]
fn handshake_abort_bytes_are_fixed() {
    let message = HandshakeAbort {
        reason: AbortReason::WrongPassword,
        message: text("wrong password"),
    };
    assert_golden(
        &message,
        &[
            "4153 01 0205 00000013",        // HandshakeAbort, 19 bytes
            "05",                           // reason: WrongPassword
            "0000000e",                     // message length 14
            "77726f6e672070617373776f7264", // "wrong password"
        ],
    );
}

#[test]
fn relay_hello_and_error_bytes_are_fixed() {
    let hello = RelayHello {
        role: ClientRole::Viewer,
        software_version: text("0.1.0"),
    };
    assert_golden(
        &hello,
        &["4153 01 0101 0000000a", "02", "00000005 302e312e30"],
    );
    let error = RelayError {
        code: RelayErrorCode::LockedOut,
        message: text("wait"),
        retry_after_secs: Some(40),
    };
    assert_golden(
        &error,
        &[
            "4153 01 0102 00000012", // RelayError, 18 bytes
            "06",                    // code: LockedOut
            "00000004 77616974",     // "wait"
            "01 0000000000000028",   // Some(40)
        ],
    );
}

#[test]
fn connect_request_paired_and_open_channel_bytes_are_fixed() {
    assert_golden(
        &ConnectRequest {
            host_id: text("H-1234"),
        },
        &["4153 01 010c 0000000a", "00000006 482d31323334"],
    );
    let paired = Paired {
        session_id: [0x11; 32],
        host_id: text("H-1234"),
        host_fingerprint: Fingerprint([0xcc; 32]),
        instrument_model: text("X1"),
        instrument_id: text("I7"),
        serial_number: text("S9"),
        registrant_name: text("Ann"),
    };
    assert_golden(
        &paired,
        &[
            "4153 01 010f 00000063", // Paired, 99 bytes
            &fill(0x11, 32),         // session_id
            "00000006 482d31323334", // host_id "H-1234"
            &fill(0xcc, 32),         // host_fingerprint
            "00000002 5831",         // instrument_model "X1"
            "00000002 4937",         // instrument_id "I7"
            "00000002 5339",         // serial_number "S9"
            "00000003 416e6e",       // registrant_name "Ann"
        ],
    );
    let open = OpenChannel {
        session_id: [0x11; 32],
        channel: ChannelKind::Screen,
    };
    assert_golden(&open, &["4153 01 0115 00000021", &fill(0x11, 32), "02"]);
}

#[test]
fn audit_report_bytes_are_fixed() {
    let report = AuditReport {
        occurred_unix_ms: 0x0102_0304_0506_0708,
        event: AuditEvent::InputDropped {
            host_id: text("H-1234"),
            session_id: [0x11; 32],
            count: 3,
        },
    };
    assert_golden(
        &report,
        &[
            "4153 01 0113 0000003b", // AuditReport, 59 bytes
            "0102030405060708",      // occurred_unix_ms
            "06",                    // event tag 6: input_dropped
            "00000006 482d31323334", // host_id
            &fill(0x11, 32),         // session_id
            "0000000000000003",      // count
        ],
    );
}

/// Two records on the input channel, viewer to host, each carrying one
/// PointerMove frame, framed as SealedRecord the way the shells send them.
#[test]
fn sealed_record_bytes_are_fixed() {
    let key = [0x42; 32];
    let (input, viewer_to_host) = (3, 1);
    let mut sealer = RecordSealer::new(
        TrafficKey::from_bytes(key),
        RecordBinding::new(input, viewer_to_host),
        RekeyPolicy::default(),
    );
    let plaintext = PointerMove { x: 100, y: -2 }.to_frame().unwrap();
    // "AS", v1, PointerMove, 8 bytes; x = 100, y = -2 (i32 two's complement).
    assert_eq!(
        hex(&plaintext),
        "415301060100000008".to_owned() + "00000064" + "fffffffe"
    );
    let mut frames = Vec::new();
    for _ in 0..2 {
        let mut record = Vec::new();
        sealer.seal(&plaintext, &mut record).unwrap();
        let frame = Frame {
            message_type: MessageType::SealedRecord,
            payload: record,
        };
        frames.push(hex(&frame.to_bytes()));
    }
    let expected = [
        [
            "4153 01 0301 00000029",              // SealedRecord, 8 + 17 + 16 bytes
            "0000000000000000",                   // seq 0
            "1835e52d1cb433cde4a154349bd0574740", // ciphertext (17 bytes)
            "803c0de600916da8e1b0bd879d9ec95c",   // tag
        ],
        [
            "4153 01 0301 00000029",
            "0000000000000001",                   // seq 1
            "516d683b4262d57521698b87f5d38f34ea", // ciphertext
            "8a31e668fbcc09c95770469a255c3b9b",   // tag
        ],
    ];
    for (seq, (frame, segments)) in frames.iter().zip(expected).enumerate() {
        let segments: String = segments.concat().split_whitespace().collect();
        assert_eq!(*frame, segments, "record {seq} bytes changed");
        // The same bytes from the AEAD alone, with nonce and AAD built as
        // PROTOCOL.md says: nonce = 0u32 || seq, aad = channel || direction || seq.
        let seq = seq as u64;
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&seq.to_be_bytes());
        let mut aad = vec![input, viewer_to_host];
        aad.extend_from_slice(&seq.to_be_bytes());
        let mut body = plaintext.clone();
        let tag = ChaCha20Poly1305::new(&key.into())
            .encrypt_in_place_detached(&Nonce::from(nonce), &aad, &mut body)
            .unwrap();
        let by_hand = format!(
            "415301030100000029{}{}{}",
            hex(&seq.to_be_bytes()),
            hex(&body),
            hex(&tag)
        );
        assert_eq!(
            *frame, by_hand,
            "record {seq} is not the documented construction"
        );
    }
}

#[test]
fn consent_and_session_end_bytes_are_fixed() {
    assert_golden(
        &CapabilityRequest {
            capability: Capability::ScreenView,
        },
        &["4153 01 0401 00000001", "01"], // capability: screen view
    );
    assert_golden(
        &CapabilityDecision {
            capability: Capability::RemoteControl,
            outcome: DecisionOutcome::TimedOut,
        },
        &[
            "4153 01 0402 00000002",
            "02", // capability: remote control
            "03", // outcome: timed out
        ],
    );
    assert_golden(
        &CapabilityRevoked {
            capability: Capability::RemoteControl,
        },
        &["4153 01 0403 00000001", "02"],
    );
    assert_golden(
        &SessionError {
            code: SessionErrorCode::InvalidState,
            message: text("no"),
        },
        &[
            "4153 01 0404 00000007",
            "06",       // code: invalid state
            "00000002", // message length
            "6e6f",     // "no"
        ],
    );
    assert_golden(
        &SessionEnd {
            reason: text("done"),
        },
        &[
            "4153 01 0405 00000008",
            "00000004", // reason length
            "646f6e65", // "done"
        ],
    );
}

#[test]
fn input_bytes_are_fixed() {
    assert_golden(
        &PointerButton {
            button: MouseButton::Right,
            pressed: true,
        },
        &["4153 01 0602 00000002", "03", "01"], // right, pressed
    );
    assert_golden(
        &Wheel { dx: -1, dy: 3 },
        &["4153 01 0603 00000008", "ffffffff", "00000003"], // dx -1, dy 3
    );
    assert_golden(
        &KeyEvent {
            keysym: 0xff0d,
            pressed: false,
        },
        &["4153 01 0604 00000005", "0000ff0d", "00"], // Return, released
    );
}
