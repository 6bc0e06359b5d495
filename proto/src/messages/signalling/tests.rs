use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::strategy::Union;
use rand_core::OsRng;

use super::*;
use crate::allowlist::{self, AllowList, AllowListEntry};
use crate::identity::test_support as keys;
use crate::messages::notification::strategies as notification;
use crate::messages::session::test_support::{
    bytes, fingerprint, frame_of, largest, largest_is, public_identity, text, Largest,
};
use crate::release::SignedFreshness;
use crate::wire::{DecodeError, Frame, List, Message, MessageType, HEADER_LEN};

largest_is! {
    ClientRole => ClientRole::Operator,
    RelayErrorCode => RelayErrorCode::Internal,
    FileTransferInstall => FileTransferInstall::ApprovedByInstaller,
    EnrolmentToken => EnrolmentToken {
        profile: crate::instrument::InstrumentProfile::NoPhi,
        secret: [0xff; 32],
    },
    CloseReason => CloseReason::Error,
    AbortReason => AbortReason::Internal,
}

fn select<T: Clone + std::fmt::Debug + 'static>(values: Vec<T>) -> impl Strategy<Value = T> {
    proptest::sample::select(values)
}

fn boxed<M: Into<SignallingMessage> + std::fmt::Debug + 'static>(
    s: impl Strategy<Value = M> + 'static,
) -> BoxedStrategy<SignallingMessage> {
    s.prop_map(Into::into).boxed()
}

/// Every signalling message, each variant equally likely.
fn signalling_message() -> BoxedStrategy<SignallingMessage> {
    use ClientRole::*;
    use RelayErrorCode::*;
    let error_code = select(vec![
        Malformed,
        UnexpectedMessage,
        Unauthorized,
        NotAllowListed,
        LocationUnconfirmed,
        LockedOut,
        Throttled,
        NotFound,
        Unavailable,
        Expired,
        Conflict,
        Internal,
    ]);
    let install = select(vec![
        FileTransferInstall::CompiledOut,
        FileTransferInstall::Included,
        FileTransferInstall::ApprovedByInstaller,
    ]);
    let close = select(vec![
        CloseReason::Finished,
        CloseReason::Expired,
        CloseReason::PasswordBurned,
        CloseReason::PeerLeft,
        CloseReason::Shutdown,
        CloseReason::Error,
    ]);
    let abort = (1u8..=8).prop_map(|v| AbortReason::from_bytes(&[v]).expect("known reason"));
    let signed_list = (bytes(), fingerprint(), bytes()).prop_map(|(body, operator, signature)| {
        AllowListDocument {
            list: SignedAllowList {
                body,
                operator,
                signature,
            },
        }
    });
    Union::new(vec![
        boxed((select(vec![Host, Viewer, Operator]), text()).prop_map(
            |(role, software_version)| RelayHello {
                role,
                software_version,
            },
        )),
        boxed((error_code, text(), any::<Option<u64>>()).prop_map(
            |(code, message, retry_after_secs)| RelayError {
                code,
                message,
                retry_after_secs,
            },
        )),
        boxed(any::<[u8; 32]>().prop_map(|nonce| RelayChallenge { nonce })),
        boxed(
            (
                (text(), text(), text(), text(), text()),
                public_identity(),
                install,
                proptest::option::of(any::<[u8; 32]>()),
                bytes(),
            )
                .prop_map(
                    |((email, name, model, id, serial), host_key, ft, token, signature)| {
                        EnrollRequest {
                            registrant_email: email,
                            registrant_name: name,
                            instrument_model: model,
                            instrument_id: id,
                            serial_number: serial,
                            host_key,
                            file_transfer: ft,
                            enrolment_token: token.map(|secret| EnrolmentToken {
                                profile: crate::instrument::InstrumentProfile::Phi,
                                secret,
                            }),
                            signature,
                        }
                    },
                ),
        ),
        boxed(text().prop_map(|host_id| EnrollAccepted { host_id })),
        boxed((text(), bytes()).prop_map(|(host_id, signature)| HostLogin { host_id, signature })),
        boxed((public_identity(), any::<[u8; 16]>(), bytes()).prop_map(
            |(viewer_key, device_id, signature)| ViewerLogin {
                viewer_key,
                device_id,
                signature,
            },
        )),
        boxed(any::<u64>().prop_map(|relay_unix_ms| LoginAccepted { relay_unix_ms })),
        boxed(any::<[u8; 32]>().prop_map(|session_id| SupportOpen { session_id })),
        boxed(
            (any::<[u8; 32]>(), any::<u32>()).prop_map(|(session_id, expires_in_secs)| {
                SupportOpened {
                    session_id,
                    expires_in_secs,
                }
            }),
        ),
        boxed(
            (any::<[u8; 32]>(), close)
                .prop_map(|(session_id, reason)| SupportClose { session_id, reason }),
        ),
        boxed(text().prop_map(|host_id| ConnectRequest { host_id })),
        boxed(
            (any::<u32>(), text()).prop_map(|(expires_in_secs, sent_to_hint)| LocationChallenge {
                expires_in_secs,
                sent_to_hint,
            }),
        ),
        boxed(text().prop_map(|code| LocationCode { code })),
        boxed(
            (
                any::<[u8; 32]>(),
                text(),
                fingerprint(),
                (text(), text(), text(), text()),
            )
                .prop_map(|(session_id, host_id, host_fingerprint, (m, i, s, r))| {
                    Paired {
                        session_id,
                        host_id,
                        host_fingerprint,
                        instrument_model: m,
                        instrument_id: i,
                        serial_number: s,
                        registrant_name: r,
                    }
                }),
        ),
        boxed(any::<Option<u64>>().prop_map(|known_serial| AllowListRequest { known_serial })),
        boxed(signed_list),
        boxed((any::<[u8; 32]>(), fingerprint(), abort).prop_map(
            |(session_id, viewer, reason)| AuthFailureReport {
                session_id,
                viewer,
                reason,
            },
        )),
        boxed(
            (
                any::<u64>(),
                crate::messages::audit_event::tests::arb_event(),
            )
                .prop_map(|(occurred_unix_ms, event)| AuditReport {
                    occurred_unix_ms,
                    event,
                }),
        ),
        boxed(Just(Ack {})),
        boxed(
            (any::<[u8; 32]>(), 1u8..=5).prop_map(|(session_id, channel)| OpenChannel {
                session_id,
                channel: ChannelKind::from_bytes(&[channel]).unwrap(),
            }),
        ),
        boxed(notification::notification()),
        boxed(notification::notification_cleared()),
        boxed(Just(NotificationSeqQuery {})),
        boxed(any::<u64>().prop_map(|last_seq| NotificationSeq { last_seq })),
        boxed(
            (text(), text(), text()).prop_map(|(component, target, installed_version)| {
                ReleaseQuery {
                    component,
                    target,
                    installed_version,
                }
            }),
        ),
        boxed(
            (
                proptest::option::of((bytes(), fingerprint(), bytes())),
                proptest::option::of((bytes(), fingerprint(), bytes())),
            )
                .prop_map(|(release, freshness)| ReleaseOffer {
                    release: release.map(|(body, signer, signature)| SignedRelease {
                        body,
                        signer,
                        signature,
                    }),
                    freshness: freshness.map(|(body, signer, signature)| SignedFreshness {
                        body,
                        signer,
                        signature,
                    }),
                }),
        ),
        boxed(
            (any::<[u8; 32]>(), any::<u64>())
                .prop_map(|(sha256, offset)| PackageRequest { sha256, offset }),
        ),
        boxed(
            (any::<u64>(), any::<u64>(), bytes()).prop_map(|(offset, total, data)| PackageChunk {
                offset,
                total,
                data,
            }),
        ),
    ])
    .boxed()
}

/// The longest instance of every signalling message except `AuditReport`,
/// whose worst case `audit_event`'s own tests build.
fn largest_instances() -> Vec<SignallingMessage> {
    vec![
        RelayHello {
            role: largest(),
            software_version: largest(),
        }
        .into(),
        RelayError {
            code: largest(),
            message: largest(),
            retry_after_secs: largest(),
        }
        .into(),
        RelayChallenge { nonce: largest() }.into(),
        EnrollRequest {
            registrant_email: largest(),
            registrant_name: largest(),
            instrument_model: largest(),
            instrument_id: largest(),
            serial_number: largest(),
            host_key: largest(),
            file_transfer: largest(),
            enrolment_token: largest(),
            signature: largest(),
        }
        .into(),
        EnrollAccepted { host_id: largest() }.into(),
        HostLogin {
            host_id: largest(),
            signature: largest(),
        }
        .into(),
        ViewerLogin {
            viewer_key: largest(),
            device_id: largest(),
            signature: largest(),
        }
        .into(),
        LoginAccepted {
            relay_unix_ms: largest(),
        }
        .into(),
        SupportOpen {
            session_id: largest(),
        }
        .into(),
        SupportOpened {
            session_id: largest(),
            expires_in_secs: largest(),
        }
        .into(),
        SupportClose {
            session_id: largest(),
            reason: largest(),
        }
        .into(),
        ConnectRequest { host_id: largest() }.into(),
        LocationChallenge {
            expires_in_secs: largest(),
            sent_to_hint: largest(),
        }
        .into(),
        LocationCode { code: largest() }.into(),
        Paired {
            session_id: largest(),
            host_id: largest(),
            host_fingerprint: largest(),
            instrument_model: largest(),
            instrument_id: largest(),
            serial_number: largest(),
            registrant_name: largest(),
        }
        .into(),
        AllowListRequest {
            known_serial: largest(),
        }
        .into(),
        AllowListDocument {
            list: largest_signable_allow_list(),
        }
        .into(),
        AuthFailureReport {
            session_id: largest(),
            viewer: largest(),
            reason: largest(),
        }
        .into(),
        Ack {}.into(),
        OpenChannel {
            session_id: [0xff; 32],
            channel: ChannelKind::Notifications,
        }
        .into(),
        notification::largest_notification().into(),
        notification::largest_notification_cleared().into(),
        NotificationSeqQuery {}.into(),
        NotificationSeq {
            last_seq: largest(),
        }
        .into(),
        ReleaseQuery {
            component: largest(),
            target: largest(),
            installed_version: largest(),
        }
        .into(),
        ReleaseOffer {
            release: Some(SignedRelease {
                body: largest(),
                signer: largest(),
                signature: largest(),
            }),
            freshness: Some(SignedFreshness {
                body: largest(),
                signer: largest(),
                signature: largest(),
            }),
        }
        .into(),
        PackageRequest {
            sha256: largest(),
            offset: largest(),
        }
        .into(),
        PackageChunk {
            offset: largest(),
            total: largest(),
            data: largest(),
        }
        .into(),
    ]
}

/// The longest list `AllowList::sign` can produce: every entry and every
/// text at its limit. (`SignedAllowList`'s body bound is looser than that;
/// no signable list reaches it.)
fn largest_signable_allow_list() -> SignedAllowList {
    let entry = AllowListEntry {
        viewer: largest(),
        name: Text::<{ allowlist::NAME_MAX }>::largest(),
        email: Text::<{ allowlist::EMAIL_MAX }>::largest(),
        expires_unix: u64::MAX,
    };
    let list = AllowList {
        serial: u64::MAX,
        issued_unix: u64::MAX,
        expires_unix: u64::MAX,
        entries: List::new(vec![entry; allowlist::MAX_ENTRIES]).unwrap(),
    };
    SignedAllowList {
        body: Bytes::new(list.to_bytes()).unwrap(),
        operator: largest(),
        signature: largest(),
    }
}

fn signalling_types() -> BTreeSet<u16> {
    MessageType::ALL
        .iter()
        .map(|t| t.code())
        .filter(|code| code >> 8 == 0x01 || code >> 8 == 0x08)
        .collect()
}

fn challenge(byte: u8) -> RelayChallenge {
    RelayChallenge { nonce: [byte; 32] }
}

fn enroll_request() -> EnrollRequest {
    EnrollRequest {
        registrant_email: Text::new("tech@lab.example").unwrap(),
        registrant_name: Text::new("Lab Technician").unwrap(),
        instrument_model: Text::new("DxFLEX").unwrap(),
        instrument_id: Text::new("FLEX-0042").unwrap(),
        serial_number: Text::new("SN123456").unwrap(),
        host_key: keys::host().public().clone(),
        file_transfer: FileTransferInstall::CompiledOut,
        enrolment_token: Some(EnrolmentToken {
            profile: crate::instrument::InstrumentProfile::Phi,
            secret: [7; 32],
        }),
        signature: Bytes::default(),
    }
}

#[test]
fn every_signalling_message_type_is_dispatched() {
    let mut dispatched: BTreeSet<u16> = largest_instances()
        .iter()
        .map(|m| m.message_type().code())
        .collect();
    dispatched.insert(MessageType::AuditReport.code());
    assert_eq!(dispatched, signalling_types());
}

#[test]
fn every_signalling_message_at_its_largest_fits_its_registry_bound() {
    for message in largest_instances() {
        let frame = message
            .to_frame()
            .unwrap_or_else(|e| panic!("{:?} at its largest: {e}", message.message_type()));
        assert!(frame.len() - HEADER_LEN <= message.message_type().max_len());
        assert_eq!(SignallingMessage::from_frame_bytes(&frame), Ok(message));
    }
}

#[test]
fn frames_of_other_channels_are_refused() {
    for t in MessageType::ALL {
        if signalling_types().contains(&t.code()) {
            continue;
        }
        let frame = Frame {
            message_type: *t,
            payload: Vec::new(),
        };
        assert_eq!(
            SignallingMessage::decode(&frame),
            Err(DecodeError::InvalidValue {
                what: "message type on the relay signalling channel",
                value: u64::from(t.code())
            }),
            "{t:?} must not decode as signalling"
        );
    }
}

#[test]
fn a_frame_decoded_as_the_wrong_type_is_refused() {
    let bytes = ConnectRequest {
        host_id: Text::new("H-1").unwrap(),
    }
    .to_frame()
    .unwrap();
    assert_eq!(
        EnrollAccepted::from_frame(&bytes),
        Err(DecodeError::UnexpectedMessage {
            expected: MessageType::EnrollAccepted,
            got: MessageType::ConnectRequest
        })
    );
}

#[test]
fn enrolment_signature_verifies_and_binds_challenge_and_fields() {
    let mut request = enroll_request();
    request.sign(keys::host(), &challenge(1), &mut OsRng);
    assert!(request.verify(&challenge(1)).is_ok());
    // Another challenge: a recorded enrolment cannot be replayed.
    assert!(request.verify(&challenge(2)).is_err());
    // Any field changed after signing.
    let mut changed = request.clone();
    changed.file_transfer = FileTransferInstall::ApprovedByInstaller;
    assert!(changed.verify(&challenge(1)).is_err());
    let mut changed = request.clone();
    changed.serial_number = Text::new("SN999999").unwrap();
    assert!(changed.verify(&challenge(1)).is_err());
    // The token is signed too: a relay-side observer cannot swap it.
    let mut changed = request.clone();
    changed.enrolment_token = None;
    assert!(changed.verify(&challenge(1)).is_err());
    // Signed by a key other than the one it registers.
    let mut impostor = enroll_request();
    impostor.sign(keys::viewer(), &challenge(1), &mut OsRng);
    assert!(impostor.verify(&challenge(1)).is_err());
}

#[test]
fn host_login_verifies_only_under_the_enrolled_key() {
    let mut login = HostLogin {
        host_id: Text::new("H-7").unwrap(),
        signature: Bytes::default(),
    };
    login.sign(keys::host(), &challenge(3), &mut OsRng);
    assert!(login.verify(&challenge(3), keys::host().public()).is_ok());
    assert!(login
        .verify(&challenge(3), keys::viewer().public())
        .is_err());
    assert!(login.verify(&challenge(4), keys::host().public()).is_err());
    let mut other_host = login.clone();
    other_host.host_id = Text::new("H-8").unwrap();
    assert!(other_host
        .verify(&challenge(3), keys::host().public())
        .is_err());
}

#[test]
fn a_login_signature_is_useless_for_another_purpose() {
    // Same key, same challenge: the contexts keep purposes apart.
    let mut viewer = ViewerLogin {
        viewer_key: keys::viewer().public().clone(),
        device_id: [9; 16],
        signature: Bytes::default(),
    };
    viewer.sign(keys::viewer(), &challenge(5), &mut OsRng);
    assert!(viewer.verify(&challenge(5)).is_ok());
    let message = viewer.signed_bytes(&challenge(5));
    let pk = keys::viewer().public();
    assert!(pk
        .verify(VIEWER_LOGIN_SIGNATURE_CONTEXT, &message, &viewer.signature)
        .is_ok());
    assert!(pk
        .verify(HOST_LOGIN_SIGNATURE_CONTEXT, &message, &viewer.signature)
        .is_err());
    assert!(pk
        .verify(ENROL_SIGNATURE_CONTEXT, &message, &viewer.signature)
        .is_err());
    // A new device ID is a new request.
    let mut moved = viewer.clone();
    moved.device_id = [10; 16];
    assert!(moved.verify(&challenge(5)).is_err());
}

#[test]
fn a_signed_request_survives_the_wire() {
    let mut request = enroll_request();
    request.sign(keys::host(), &challenge(6), &mut OsRng);
    let decoded = EnrollRequest::from_frame(&request.to_frame().unwrap()).unwrap();
    assert!(decoded.verify(&challenge(6)).is_ok());
}

#[test]
fn an_enrolment_with_a_key_that_is_not_rsa_4096_is_refused() {
    let mut payload = Vec::new();
    for _ in 0..5 {
        payload.extend_from_slice(&0u32.to_be_bytes());
    }
    payload.extend_from_slice(&4u32.to_be_bytes());
    payload.extend_from_slice(&[0x30, 0x02, 0x05, 0x00]);
    assert!(matches!(
        EnrollRequest::from_bytes(&payload),
        Err(DecodeError::InvalidValue {
            what: "rsa-4096 public key",
            ..
        })
    ));
}

#[test]
fn relay_error_text_is_trimmed_to_fit() {
    let error = RelayError::new(RelayErrorCode::Internal, &"x".repeat(5000), Some(3));
    assert_eq!(error.message.len(), ERROR_MESSAGE_MAX);
    assert!(error.to_frame().is_ok());
    let malformed = RelayError::from_decode_error(&DecodeError::TrailingBytes(2));
    assert_eq!(malformed.code, RelayErrorCode::Malformed);
    assert_eq!(
        malformed.message.as_str(),
        "2 trailing bytes after the message"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_signalling_message_round_trips(message in signalling_message()) {
        let bytes = message.to_frame().unwrap();
        let frame = frame_of(&bytes);
        prop_assert_eq!(SignallingMessage::decode(&frame), Ok(message.clone()));
        prop_assert_eq!(SignallingMessage::from_frame_bytes(&bytes), Ok(message));
    }

    #[test]
    fn a_payload_with_a_trailing_byte_is_refused(message in signalling_message(), extra in any::<u8>()) {
        let mut frame = frame_of(&message.to_frame().unwrap());
        frame.payload.push(extra);
        prop_assert_eq!(SignallingMessage::decode(&frame), Err(DecodeError::TrailingBytes(1)));
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_signalling_decoder(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048)
    ) {
        let _ = SignallingMessage::from_frame_bytes(&bytes);
    }

    #[test]
    fn arbitrary_payloads_of_every_type_never_panic_and_decode_canonically(
        t in proptest::sample::select(MessageType::ALL),
        payload in proptest::collection::vec(any::<u8>(), 0..1024),
    ) {
        let frame = Frame { message_type: t, payload };
        if let Ok(message) = SignallingMessage::decode(&frame) {
            prop_assert_eq!(message.to_frame().unwrap()[HEADER_LEN..].to_vec(), frame.payload);
        }
    }

    #[test]
    fn mutated_frames_are_refused_or_decode_canonically(
        message in signalling_message(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = message.to_frame().unwrap();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if let Ok(decoded) = SignallingMessage::from_frame_bytes(&bytes) {
            prop_assert_eq!(decoded.to_frame().unwrap(), bytes);
        }
    }
}
