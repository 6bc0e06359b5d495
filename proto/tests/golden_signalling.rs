//! Golden bytes (issue 12) for the relay signalling messages not covered by
//! `golden_wire.rs`, for the signed bodies they carry (allowlist, release
//! manifest), and for every one-byte code of the signalling enums, written
//! field by field from `PROTOCOL.md` ("Envelope", "Canonical field
//! encoding", the message table and the structs it names).

mod golden;

use assent_proto::allowlist::{AllowList, AllowListEntry, SignedAllowList};
use assent_proto::identity::Fingerprint;
use assent_proto::instrument::InstrumentProfile;
use assent_proto::messages::handshake::AbortReason;
use assent_proto::messages::signalling::{
    Ack, AllowListDocument, AllowListRequest, AuthFailureReport, ChannelKind, ClientRole,
    CloseReason, EnrollAccepted, EnrollRequest, EnrolmentToken, FileTransferInstall, HostLogin,
    LocationChallenge, LocationCode, LoginAccepted, NotificationSeq, NotificationSeqQuery,
    PackageChunk, PackageRequest, RelayChallenge, RelayErrorCode, ReleaseOffer, ReleaseQuery,
    SupportClose, SupportOpen, SupportOpened, ViewerLogin,
};
use assent_proto::release::{
    FreshnessStatement, ReleaseCapability, ReleaseManifest, SignedRelease,
};
use assent_proto::wire::{Bytes, List};
use golden::{
    assert_codes, assert_field_golden, assert_golden, bytes, fill, fixed_identity, hex,
    identity_field, prefixed, signature_field, text, unhex,
};

#[test]
fn challenge_enrolment_and_login_bytes_are_fixed() {
    assert_golden(
        &RelayChallenge { nonce: [0x5a; 32] },
        &["4153 01 0103 00000020", &fill(0x5a, 32)],
    );
    let identity = fixed_identity();
    let enrol = EnrollRequest {
        registrant_email: text("a@b.c"),
        registrant_name: text("Ann"),
        instrument_model: text("DxFLEX"),
        instrument_id: text("I7"),
        serial_number: text("S9"),
        host_key: identity.clone(),
        file_transfer: FileTransferInstall::ApprovedByInstaller,
        enrolment_token: Some(EnrolmentToken {
            profile: InstrumentProfile::Phi,
            secret: [0x3c; 32],
        }),
        signature: bytes(0x88, 512),
    };
    assert_golden(
        &enrol,
        &[
            "4153 01 0104 00000477",         // EnrollRequest, 1143 bytes
            &prefixed("00000005", "a@b.c"),  // registrant_email
            &prefixed("00000003", "Ann"),    // registrant_name
            &prefixed("00000006", "DxFLEX"), // instrument_model
            &prefixed("00000002", "I7"),     // instrument_id
            &prefixed("00000002", "S9"),     // serial_number
            &identity_field(&identity),      // host_key
            "03",                            // file_transfer: approved by installer
            "01 01",                         // enrolment_token: Some, profile phi
            &fill(0x3c, 32),                 // enrolment_token secret
            &signature_field(0x88),          // signature
        ],
    );
    assert_golden(
        &EnrollAccepted {
            host_id: text("H-1234"),
        },
        &["4153 01 0105 0000000a", &prefixed("00000006", "H-1234")],
    );
    assert_golden(
        &HostLogin {
            host_id: text("H-1234"),
            signature: bytes(0x99, 512),
        },
        &[
            "4153 01 0106 0000020e", // HostLogin, 526 bytes
            &prefixed("00000006", "H-1234"),
            &signature_field(0x99),
        ],
    );
    let login = ViewerLogin {
        viewer_key: identity.clone(),
        device_id: [0x12; 16],
        signature: bytes(0x88, 512),
    };
    assert_golden(
        &login,
        &[
            "4153 01 0107 0000043e", // ViewerLogin, 1086 bytes
            &identity_field(&identity),
            &fill(0x12, 16), // device_id
            &signature_field(0x88),
        ],
    );
    assert_golden(
        &LoginAccepted {
            relay_unix_ms: 0x0000_018f_1234_5678,
        },
        &["4153 01 0108 00000008", "0000018f12345678"],
    );
}

#[test]
fn support_request_and_location_bytes_are_fixed() {
    assert_golden(
        &SupportOpen {
            session_id: [0x11; 32],
        },
        &["4153 01 0109 00000020", &fill(0x11, 32)],
    );
    assert_golden(
        &SupportOpened {
            session_id: [0x11; 32],
            expires_in_secs: 600,
        },
        &["4153 01 010a 00000024", &fill(0x11, 32), "00000258"],
    );
    assert_golden(
        &SupportClose {
            session_id: [0x11; 32],
            reason: CloseReason::PasswordBurned,
        },
        &["4153 01 010b 00000021", &fill(0x11, 32), "03"],
    );
    assert_golden(
        &LocationChallenge {
            expires_in_secs: 900,
            sent_to_hint: text("j***@example.com"),
        },
        &[
            "4153 01 010d 00000018",
            "00000384", // expires_in_secs 900
            &prefixed("00000010", "j***@example.com"),
        ],
    );
    assert_golden(
        &LocationCode {
            code: text("482913"),
        },
        &["4153 01 010e 0000000a", &prefixed("00000006", "482913")],
    );
}

/// The allowlist body as the operator signs it: the signature covers these
/// exact bytes, so their layout is as fixed as any frame's.
fn allowlist_body() -> Vec<u8> {
    let identity = fixed_identity();
    let list = AllowList {
        serial: 7,
        issued_unix: 0x6500_0000,
        expires_unix: 0x6600_0000,
        entries: List::new(vec![AllowListEntry {
            viewer: identity.clone(),
            name: text("Bo"),
            email: text("b@x.io"),
            expires_unix: u64::MAX,
        }])
        .unwrap(),
    };
    let segments = [
        "0000000000000007", // serial
        "0000000065000000", // issued_unix
        "0000000066000000", // expires_unix
        "00000001",         // one entry
        &identity_field(&identity),
        &prefixed("00000002", "Bo"),     // name
        &prefixed("00000006", "b@x.io"), // email
        "ffffffffffffffff",              // expires_unix: until the list expires
    ];
    assert_field_golden(&list, &segments);
    unhex(&segments)
}

#[test]
fn allowlist_request_document_and_failure_report_bytes_are_fixed() {
    assert_golden(
        &AllowListRequest { known_serial: None },
        &["4153 01 0110 00000001", "00"],
    );
    assert_golden(
        &AllowListRequest {
            known_serial: Some(7),
        },
        &["4153 01 0110 00000009", "01 0000000000000007"],
    );
    let body = allowlist_body();
    assert_eq!(body.len(), 0x25e);
    let document = AllowListDocument {
        list: SignedAllowList {
            body: Bytes::new(body.clone()).unwrap(),
            operator: Fingerprint([0xcc; 32]),
            signature: bytes(0x99, 512),
        },
    };
    assert_golden(
        &document,
        &[
            "4153 01 0111 00000486", // AllowListDocument, 1158 bytes
            "0000025e",
            &hex(&body),            // body: 606 bytes
            &fill(0xcc, 32),        // operator fingerprint
            &signature_field(0x99), // signature
        ],
    );
    assert_golden(
        &AuthFailureReport {
            session_id: [0x11; 32],
            viewer: Fingerprint([0xdd; 32]),
            reason: AbortReason::WrongPassword,
        },
        &[
            "4153 01 0112 00000041",
            &fill(0x11, 32), // session_id
            &fill(0xdd, 32), // viewer fingerprint
            "05",            // reason: wrong password
        ],
    );
}

#[test]
fn acks_and_notification_sequence_bytes_are_fixed() {
    assert_golden(&Ack {}, &["4153 01 0114 00000000"]);
    assert_golden(&NotificationSeqQuery {}, &["4153 01 011a 00000000"]);
    assert_golden(
        &NotificationSeq { last_seq: 42 },
        &["4153 01 011b 00000008", "000000000000002a"],
    );
}

#[test]
fn release_query_offer_and_package_bytes_are_fixed() {
    assert_golden(
        &ReleaseQuery {
            component: text("assent-host"),
            target: text("x86_64-unknown-linux-gnu"),
            installed_version: text("1.2.3"),
        },
        &[
            "4153 01 0116 00000034", // ReleaseQuery, 52 bytes
            &prefixed("0000000b", "assent-host"),
            &prefixed("00000018", "x86_64-unknown-linux-gnu"),
            &prefixed("00000005", "1.2.3"),
        ],
    );
    assert_golden(
        &ReleaseOffer {
            release: None,
            freshness: None,
        },
        &["4153 01 0117 00000002", "00", "00"],
    );
    // The manifest body as the release key signs it.
    let manifest = ReleaseManifest {
        version: text("1.2.4"),
        component: text("assent-host"),
        target: text("x86_64-unknown-linux-gnu"),
        sha256: [0xab; 32],
        size: 0x10_0000,
        capabilities: List::new(vec![
            ReleaseCapability::ScreenView,
            ReleaseCapability::RemoteControl,
            ReleaseCapability::Notifications,
        ])
        .unwrap(),
        notes: text("fix"),
        rolls_back: Some(text("1.2.3")),
        published_unix: 0x6600_0000,
    };
    let manifest_segments = [
        &prefixed("00000005", "1.2.4"),                    // version
        &prefixed("0000000b", "assent-host"),              // component
        &prefixed("00000018", "x86_64-unknown-linux-gnu"), // target
        &fill(0xab, 32),                                   // sha256
        "0000000000100000",                                // size 1 MiB
        "00000003 01 02 04", // capabilities: screen, control, notifications
        &prefixed("00000003", "fix"), // notes
        &prefixed("01 00000005", "1.2.3"), // rolls_back: Some("1.2.3")
        "0000000066000000",  // published_unix
    ];
    assert_field_golden(&manifest, &manifest_segments);
    let body = unhex(&manifest_segments);
    assert_eq!(body.len(), 0x7c);
    let offer = ReleaseOffer {
        release: Some(SignedRelease {
            body: Bytes::new(body.clone()).unwrap(),
            signer: Fingerprint([0xee; 32]),
            signature: bytes(0x99, 512),
        }),
        freshness: None,
    };
    assert_golden(
        &offer,
        &[
            "4153 01 0117 000002a6", // ReleaseOffer, 678 bytes
            "01",                    // Some
            "0000007c",
            &hex(&body),            // body: 124 bytes
            &fill(0xee, 32),        // signer fingerprint
            &signature_field(0x99), // signature
            "00",                   // freshness: None
        ],
    );
    // The freshness statement body as the release key signs it.
    assert_field_golden(
        &FreshnessStatement {
            component: text("assent-host"),
            target: text("x86_64-unknown-linux-gnu"),
            latest_version: text("1.2.4"),
            latest_manifest_sha256: [0xcd; 32],
            issued_unix: 0x6600_0000,
            expires_unix: 0x6609_3a80,
        },
        &[
            &prefixed("0000000b", "assent-host"),
            &prefixed("00000018", "x86_64-unknown-linux-gnu"),
            &prefixed("00000005", "1.2.4"),
            &fill(0xcd, 32),
            "0000000066000000",
            "0000000066093a80",
        ],
    );
    assert_golden(
        &PackageRequest {
            sha256: [0xab; 32],
            offset: 0x4_0000,
        },
        &["4153 01 0118 00000028", &fill(0xab, 32), "0000000000040000"],
    );
    assert_golden(
        &PackageChunk {
            offset: 0x4_0000,
            total: 0x5_0000,
            data: bytes(0x5c, 3),
        },
        &[
            "4153 01 0119 00000017",
            "0000000000040000", // offset
            "0000000000050000", // total
            "00000003 5c5c5c",  // data
        ],
    );
}

#[test]
fn signalling_enum_codes_are_fixed() {
    use ClientRole as R;
    assert_codes(&[(R::Host, 1), (R::Viewer, 2), (R::Operator, 3)]);
    use RelayErrorCode as E;
    assert_codes(&[
        (E::Malformed, 1),
        (E::UnexpectedMessage, 2),
        (E::Unauthorized, 3),
        (E::NotAllowListed, 4),
        (E::LocationUnconfirmed, 5),
        (E::LockedOut, 6),
        (E::Throttled, 7),
        (E::NotFound, 8),
        (E::Unavailable, 9),
        (E::Expired, 10),
        (E::Conflict, 11),
        (E::Internal, 12),
    ]);
    use FileTransferInstall as F;
    assert_codes(&[
        (F::CompiledOut, 1),
        (F::Included, 2),
        (F::ApprovedByInstaller, 3),
    ]);
    use InstrumentProfile as P;
    assert_codes(&[(P::Phi, 1), (P::NoPhi, 2)]);
    use CloseReason as C;
    assert_codes(&[
        (C::Finished, 1),
        (C::Expired, 2),
        (C::PasswordBurned, 3),
        (C::PeerLeft, 4),
        (C::Shutdown, 5),
        (C::Error, 6),
    ]);
    // Also the record AAD's channel byte (PROTOCOL.md "Records").
    use ChannelKind as K;
    assert_codes(&[
        (K::Control, 1),
        (K::Screen, 2),
        (K::Input, 3),
        (K::Files, 4),
        (K::Notifications, 5),
    ]);
    use AbortReason as A;
    assert_codes(&[
        (A::Malformed, 1),
        (A::UnknownSession, 2),
        (A::NotAllowListed, 3),
        (A::BadSignature, 4),
        (A::WrongPassword, 5),
        (A::LockedOut, 6),
        (A::HostKeyMismatch, 7),
        (A::Internal, 8),
    ]);
    use ReleaseCapability as Cap;
    assert_codes(&[
        (Cap::ScreenView, 1),
        (Cap::RemoteControl, 2),
        (Cap::FileTransfer, 3),
        (Cap::Notifications, 4),
    ]);
}
