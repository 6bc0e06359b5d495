//! Golden bytes (issue 12) for the audit log (R12): every `AuditEvent` tag,
//! written field by field from `PROTOCOL.md` ("Audit chain"), and two
//! chained, sealed records with a fixed key and fixed nonces. The records'
//! chain hashes, ciphertexts and tags below were computed outside Assent
//! (Python: hashlib SHA-256, and XChaCha20-Poly1305 built from HChaCha20
//! plus pyca/cryptography's ChaCha20-Poly1305, checked against the
//! draft-irtf-cfrg-xchacha HChaCha20 vector; `golden/audit_vectors.py`), so
//! neither the hashed bytes, the associated data nor the stored layout can
//! change unnoticed.

mod golden;

use assent_proto::audit::{
    open_record, verify, AuditKey, AuditRecord, ChainHead, SealedAuditRecord, VerifiedChain,
};
use assent_proto::instrument::InstrumentProfile;
use assent_proto::messages::audit_event::{AuditEvent, ConsentOutcomeCode, UpgradeStepCode};
use assent_proto::messages::consent::Capability;
use golden::{assert_codes, assert_field_golden, fill, hex, prefixed, text, unhex};

/// `host_id` "H-1234" as encoded.
fn host() -> String {
    prefixed("00000006", "H-1234")
}

/// One event with its golden bytes, its kind name and whether a host may
/// report it, all three as `PROTOCOL.md` lists them.
struct Vector {
    event: AuditEvent,
    segments: Vec<String>,
    kind: &'static str,
    reportable_by_host: bool,
}

fn vectors() -> Vec<Vector> {
    let (session, viewer) = ([0x11; 32], [0xdd; 32]);
    let source = || prefixed("00000009", "192.0.2.7");
    let v = |event, segments: &[String], kind, reportable_by_host| Vector {
        event,
        segments: segments.to_vec(),
        kind,
        reportable_by_host,
    };
    vec![
        v(
            AuditEvent::ConnectionRequest {
                host_id: text("H-1234"),
                viewer,
                source: text("192.0.2.7"),
                granted: false,
                reason: text("not on allowlist"),
            },
            &[
                "01".into(),
                host(),
                fill(0xdd, 32),
                source(),
                "00".into(), // granted: false
                prefixed("00000010", "not on allowlist"),
            ],
            "connection_request",
            false,
        ),
        v(
            AuditEvent::AuthenticationFailed {
                host_id: text("H-1234"),
                viewer,
                source: text("192.0.2.7"),
                failures: 2,
            },
            &[
                "02".into(),
                host(),
                fill(0xdd, 32),
                source(),
                "00000002".into(),
            ],
            "authentication_failed",
            false,
        ),
        v(
            AuditEvent::LockedOut {
                host_id: text("H-1234"),
                viewer,
                source: text("192.0.2.7"),
                failures: 4,
                wait_secs: 40,
                burned: false,
            },
            &[
                "03".into(),
                host(),
                fill(0xdd, 32),
                source(),
                "00000004".into(),         // failures
                "0000000000000028".into(), // wait_secs 40
                "00".into(),               // burned: false
            ],
            "locked_out",
            false,
        ),
        v(
            AuditEvent::ConsentDecision {
                host_id: text("H-1234"),
                session_id: session,
                capability: Capability::RemoteControl,
                outcome: ConsentOutcomeCode::Revoked,
            },
            &[
                "04".into(),
                host(),
                fill(0x11, 32),
                "02".into(), // remote control
                "04".into(), // revoked
            ],
            "consent_decision",
            true,
        ),
        #[cfg(feature = "file-transfer")]
        v(
            AuditEvent::FileTransfer {
                host_id: text("H-1234"),
                session_id: session,
                name: text("run-42.csv"),
                size: 0x1234,
                sha256: [0xab; 32],
                direction: assent_proto::messages::file_transfer::TransferDirection::ToHost,
            },
            &file_transfer_event(),
            "file_transfer",
            true,
        ),
        v(
            AuditEvent::InputDropped {
                host_id: text("H-1234"),
                session_id: session,
                count: 3,
            },
            &[
                "06".into(),
                host(),
                fill(0x11, 32),
                "0000000000000003".into(),
            ],
            "input_dropped",
            true,
        ),
        v(
            AuditEvent::IntrusionDetected {
                source: text("192.0.2.0/24"),
                kind: text("password_guessing"),
                detail: text("9 hosts"),
            },
            &[
                "07".into(),
                prefixed("0000000c", "192.0.2.0/24"),
                prefixed("00000011", "password_guessing"),
                prefixed("00000007", "9 hosts"),
            ],
            "intrusion_detected",
            false,
        ),
        v(
            AuditEvent::HostEnrolled {
                host_id: text("H-1234"),
                host: [0xcc; 32],
                model: text("Navios EX"),
            },
            &[
                "08".into(),
                host(),
                fill(0xcc, 32),
                prefixed("00000009", "Navios EX"),
            ],
            "host_enrolled",
            false,
        ),
        v(
            AuditEvent::SessionStarted {
                host_id: text("H-1234"),
                session_id: session,
                viewer,
            },
            &["09".into(), host(), fill(0x11, 32), fill(0xdd, 32)],
            "session_started",
            true,
        ),
        v(
            AuditEvent::SessionEnded {
                host_id: text("H-1234"),
                session_id: session,
                reason: text("finished"),
            },
            &[
                "0a".into(),
                host(),
                fill(0x11, 32),
                prefixed("00000008", "finished"),
            ],
            "session_ended",
            true,
        ),
        v(
            AuditEvent::FileTransferCapabilityApproved {
                host_id: text("H-1234"),
                model: text("DxFLEX"),
            },
            &["0b".into(), host(), prefixed("00000006", "DxFLEX")],
            "file_transfer_capability_approved",
            false,
        ),
        v(
            AuditEvent::Upgrade {
                host_id: text("H-1234"),
                version: text("1.2.4"),
                step: UpgradeStepCode::CapabilityApproved,
                detail: text("file-transfer"),
            },
            &[
                "0c".into(),
                host(),
                prefixed("00000005", "1.2.4"),
                "04".into(), // step: capability approved
                prefixed("0000000d", "file-transfer"),
            ],
            "upgrade",
            true,
        ),
        v(
            AuditEvent::SessionTampering {
                host_id: text("H-1234"),
                session_id: session,
                detail: text("second screen channel"),
            },
            &[
                "0d".into(),
                host(),
                fill(0x11, 32),
                prefixed("00000015", "second screen channel"),
            ],
            "session_tampering",
            true,
        ),
        v(
            AuditEvent::EngineerDecision {
                host_id: text("H-1234"),
                session_id: session,
                viewer: [0x22; 32],
                outcome: ConsentOutcomeCode::TimedOut,
            },
            &[
                "0e".into(),
                host(),
                fill(0x11, 32),
                fill(0x22, 32),
                "03".into(), // timed out
            ],
            "engineer_decision",
            true,
        ),
        v(
            AuditEvent::EnrolmentTokenIssued {
                token_id: text("0011223344556677"),
                model: text("DxFLEX"),
                instrument_id: text("I7"),
                serial_number: text("S9"),
                profile: InstrumentProfile::Phi,
                expires_unix_ms: 0x0102,
            },
            &[
                "14".into(),
                prefixed("00000010", "0011223344556677"),
                prefixed("00000006", "DxFLEX"),
                prefixed("00000002", "I7"),
                prefixed("00000002", "S9"),
                "01".into(),               // profile: phi
                "0000000000000102".into(), // expires_unix_ms
            ],
            "enrolment_token_issued",
            false,
        ),
        v(
            AuditEvent::EnrolmentTokenUsed {
                token_id: text("0011223344556677"),
                host_id: text("H-1234"),
                host: [0xcc; 32],
            },
            &[
                "15".into(),
                prefixed("00000010", "0011223344556677"),
                host(),
                fill(0xcc, 32),
            ],
            "enrolment_token_used",
            false,
        ),
        v(
            AuditEvent::EnrolmentRefused {
                token_id: text(""),
                source: text("192.0.2.7"),
                host: [0xcc; 32],
                reason: text("no token"),
            },
            &[
                "16".into(),
                "00000000".into(),
                prefixed("00000009", "192.0.2.7"),
                fill(0xcc, 32),
                prefixed("00000008", "no token"),
            ],
            "enrolment_refused",
            false,
        ),
        v(
            AuditEvent::EnrolmentTokenRevoked {
                token_id: text("0011223344556677"),
            },
            &["17".into(), prefixed("00000010", "0011223344556677")],
            "enrolment_token_revoked",
            false,
        ),
    ]
}

/// Tag 5's bytes, also used to check a PHI build refuses them.
fn file_transfer_event() -> Vec<String> {
    vec![
        "05".into(),
        host(),
        fill(0x11, 32),                     // session_id
        prefixed("0000000a", "run-42.csv"), // name
        "0000000000001234".into(),          // size
        fill(0xab, 32),                     // sha256
        "01".into(),                        // direction: to host
    ]
}

#[test]
fn every_audit_event_tag_has_fixed_bytes_kind_and_reporter() {
    let vectors = vectors();
    // One vector per kind this build knows, in tag order: a new kind fails
    // here until it has golden bytes too.
    let kinds: Vec<&str> = vectors.iter().map(|v| v.kind).collect();
    assert_eq!(kinds, AuditEvent::KINDS);
    for vector in vectors {
        let segments: Vec<&str> = vector.segments.iter().map(String::as_str).collect();
        assert_field_golden(&vector.event, &segments);
        assert_eq!(vector.event.kind(), vector.kind);
        assert_eq!(
            vector.event.reportable_by_host(),
            vector.reportable_by_host,
            "{} reportable by host",
            vector.kind
        );
    }
}

#[cfg(not(feature = "file-transfer"))]
#[test]
fn a_phi_build_refuses_the_golden_file_transfer_event_as_unavailable() {
    use assent_proto::wire::{DecodeError, Field, FILE_TRANSFER_UNAVAILABLE};
    let segments = file_transfer_event();
    let golden = unhex(&segments.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        AuditEvent::from_bytes(&golden),
        Err(DecodeError::Unavailable(FILE_TRANSFER_UNAVAILABLE))
    );
}

#[test]
fn audit_enum_codes_are_fixed() {
    use UpgradeStepCode as U;
    assert_codes(&[
        (U::Available, 1),
        (U::Approved, 2),
        (U::Declined, 3),
        (U::CapabilityApproved, 4),
        (U::CapabilityDeclined, 5),
        (U::Installed, 6),
        (U::Refused, 7),
        (U::RolledBack, 8),
    ]);
    use ConsentOutcomeCode as C;
    assert_codes(&[
        (C::Granted, 1),
        (C::Refused, 2),
        (C::TimedOut, 3),
        (C::Revoked, 4),
    ]);
}

/// Hands out fixed bytes where the sealer asks for a random nonce, so the
/// sealed output is reproducible. Test only: a real log needs fresh nonces.
struct FixedNonces(Vec<u8>);

impl rand_core::RngCore for FixedNonces {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        assert!(
            dest.len() <= self.0.len(),
            "sealer asked for more nonce bytes"
        );
        dest.copy_from_slice(&self.0[..dest.len()]);
        self.0.drain(..dest.len());
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for FixedNonces {}

/// Bytes `from, from + 1, ...`, `N` of them (distinct bytes catch a
/// reversed or shifted key or nonce).
fn counting<const N: usize>(from: u8) -> [u8; N] {
    std::array::from_fn(|i| from + i as u8)
}

const HASH_0: &str = "df732e97398c511ecf1f06adf6039e731901c5518331ff83f6c8bf4aa59de696";
const HASH_1: &str = "6a01a4ffe3e9abffe4f559a17538e1c02bf274a441f54d8d5868bdc21d60226c";

/// Record 0 then record 1, chained and sealed under key 00..1f with nonces
/// 40..57 and 60..77: the plaintext is what is hashed and encrypted, the
/// sealed record is what the relay stores.
#[test]
fn two_chained_sealed_audit_records_have_fixed_bytes() {
    let key = AuditKey::from_bytes(counting(0x00));
    let (nonce_0, nonce_1) = (counting::<24>(0x40), counting::<24>(0x60));
    let mut nonces = FixedNonces([nonce_0, nonce_1].concat());
    let session_id = [0x11; 32];

    let record_0 = AuditRecord {
        seq: 0,
        time_unix_ms: 0x0000_018f_1234_5678,
        prev_hash: [0; 32],
        event: AuditEvent::ConsentDecision {
            host_id: text("H-1234"),
            session_id,
            capability: Capability::RemoteControl,
            outcome: ConsentOutcomeCode::Granted,
        },
    };
    let plaintext_0 = [
        "0000000000000000", // seq 0
        "0000018f12345678", // time_unix_ms
        &fill(0x00, 32),    // prev_hash: zeros for record 0
        "04",               // consent_decision
        &host(),
        &fill(0x11, 32), // session_id
        "02 01",         // remote control, granted
    ];
    assert_field_golden(&record_0, &plaintext_0);
    assert_eq!(hex(&record_0.chain_hash()), HASH_0);

    let (sealed_0, head_1) = ChainHead::GENESIS
        .seal_next(
            &key,
            &mut nonces,
            record_0.time_unix_ms,
            record_0.event.clone(),
        )
        .unwrap();
    assert_eq!(
        head_1,
        ChainHead {
            next_seq: 1,
            last_hash: unhex(&[HASH_0]).try_into().unwrap(),
        }
    );
    assert_field_golden(
        &sealed_0,
        &[
            "0000000000000000", // seq, readable without the key
            "404142434445464748494a4b4c4d4e4f5051525354555657", // nonce
            "0000006d",         // ciphertext length 93 + 16
            "d4390570d0e079168ff48631bda833ea92baadc41359539a6a31fd450904239016f902",
            "6e55928410ffb2f44c0adadaf19f6b7de869cd99ad84cf3ce502a35d454b3ae96305a2",
            "54d99412a1eecd688dfee7d6173a392c756641b21696c4",
            "e48d173e7c40e6bfb1d0c682286f235e", // tag
        ],
    );

    let record_1 = AuditRecord {
        seq: 1,
        time_unix_ms: 0x0000_018f_1234_5a60,
        prev_hash: head_1.last_hash,
        event: AuditEvent::SessionEnded {
            host_id: text("H-1234"),
            session_id,
            reason: text("finished"),
        },
    };
    let plaintext_1 = [
        "0000000000000001", // seq 1
        "0000018f12345a60", // time_unix_ms, one second later
        HASH_0,             // prev_hash: record 0's chain hash
        "0a",               // session_ended
        &host(),
        &fill(0x11, 32),
        &prefixed("00000008", "finished"),
    ];
    assert_field_golden(&record_1, &plaintext_1);
    assert_eq!(hex(&record_1.chain_hash()), HASH_1);

    let (sealed_1, head_2) = head_1
        .seal_next(
            &key,
            &mut nonces,
            record_1.time_unix_ms,
            record_1.event.clone(),
        )
        .unwrap();
    assert_field_golden(
        &sealed_1,
        &[
            "0000000000000001",
            "606162636465666768696a6b6c6d6e6f7071727374757677",
            "00000077", // ciphertext length 103 + 16
            "b5d9b126560854292317fca0134459deed8db5bb37dda37a9f0220db6372fa92fef612",
            "097ad8980989f318de93e6b26fb73ccb829c023f84c3f29bc0dfb9e0f7ca9ab3f9bc98",
            "a137406c66d4daef81dc948dd4ace62f2c621861a5364342b79bea7bbcc20c0780",
            "52229ed34be9430559b8e68e2e780056", // tag
        ],
    );
    // The head operators keep as an anchor: next_seq, then the last chain hash.
    assert_field_golden(&head_2, &["0000000000000002", HASH_1]);

    // The golden records open and verify as the chain they were sealed as.
    assert_eq!(open_record(&key, &sealed_1), Ok(record_1));
    assert_eq!(
        verify(&key, [&sealed_0, &sealed_1], Some(&head_2)),
        Ok(VerifiedChain {
            records: 2,
            head: head_2
        })
    );
    assert_documented_construction(
        &key,
        &[(&sealed_0, &plaintext_0), (&sealed_1, &plaintext_1)],
    );
}

/// The sealed bytes are exactly PROTOCOL.md's construction, rebuilt from the
/// primitives: hash = SHA-256("assent/1 audit" || record), ciphertext =
/// XChaCha20-Poly1305(key, nonce, aad = "assent/1 audit" || seq, record).
fn assert_documented_construction(key: &AuditKey, records: &[(&SealedAuditRecord, &[&str])]) {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    use sha2::{Digest, Sha256};

    let cipher = XChaCha20Poly1305::new(key.as_bytes().into());
    let mut prev_hash = [0u8; 32];
    for (sealed, plaintext) in records {
        let plaintext = unhex(plaintext);
        // After seq and time_unix_ms comes prev_hash.
        assert_eq!(plaintext[16..48], prev_hash, "record {} link", sealed.seq);
        let mut aad = b"assent/1 audit".to_vec();
        aad.extend_from_slice(&sealed.seq.to_be_bytes());
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &plaintext,
                    aad: &aad,
                },
            )
            .unwrap();
        assert_eq!(
            hex(&ciphertext),
            hex(&sealed.ciphertext),
            "record {}",
            sealed.seq
        );
        prev_hash = Sha256::new()
            .chain_update(b"assent/1 audit")
            .chain_update(&plaintext)
            .finalize()
            .into();
    }
}
