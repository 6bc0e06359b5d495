use proptest::prelude::*;

use super::*;
use crate::wire::Message;

fn text<const MAX: usize>(s: &str) -> Text<MAX> {
    Text::new(s).unwrap()
}

/// One event of every kind this build knows, with distinct field values.
pub(crate) fn sample_events() -> Vec<AuditEvent> {
    vec![
        AuditEvent::ConnectionRequest {
            host_id: text("navios-ex-0042"),
            viewer: [1; 32],
            source: text("203.0.113.0/24"),
            granted: false,
            reason: text("viewer not on the allowlist"),
        },
        AuditEvent::AuthenticationFailed {
            host_id: text("navios-ex-0042"),
            viewer: [2; 32],
            source: text("203.0.113.7"),
            failures: 3,
        },
        AuditEvent::LockedOut {
            host_id: text("dxflex-7"),
            viewer: [3; 32],
            source: text("2001:db8::/48"),
            failures: 5,
            wait_secs: 320,
            burned: true,
        },
        AuditEvent::ConsentDecision {
            host_id: text("aquios-cl-1"),
            session_id: [4; 32],
            capability: Capability::RemoteControl,
            outcome: ConsentOutcomeCode::TimedOut,
        },
        #[cfg(feature = "file-transfer")]
        AuditEvent::FileTransfer {
            host_id: text("cellmek-2"),
            session_id: [5; 32],
            name: text("run 2026-11-23 résumé.csv"),
            size: 1 << 33,
            sha256: [6; 32],
            direction: TransferDirection::FromHost,
        },
        AuditEvent::InputDropped {
            host_id: text("aquios-cl-1"),
            session_id: [7; 32],
            count: 17,
        },
        AuditEvent::IntrusionDetected {
            source: text("198.51.100.0/24"),
            kind: text("password_guessing"),
            detail: text("41 failures across 9 hosts in 60 s"),
        },
        AuditEvent::HostEnrolled {
            host_id: text("navios-ex-0042"),
            host: [8; 32],
            model: text("Navios EX"),
        },
        AuditEvent::SessionStarted {
            host_id: text("dxflex-7"),
            session_id: [9; 32],
            viewer: [10; 32],
        },
        AuditEvent::SessionEnded {
            host_id: text("dxflex-7"),
            session_id: [9; 32],
            reason: text("technician ended the session"),
        },
        AuditEvent::FileTransferCapabilityApproved {
            host_id: text("cellmek-2"),
            model: text("CellMek SPS"),
        },
        AuditEvent::Upgrade {
            host_id: text("cellmek-2"),
            version: text("1.4.0"),
            step: UpgradeStepCode::CapabilityApproved,
            detail: text("file-transfer"),
        },
        AuditEvent::SessionTampering {
            host_id: text("dxflex-7"),
            session_id: [9; 32],
            detail: text("a second Screen channel was opened; refused"),
        },
        AuditEvent::EngineerDecision {
            host_id: text("dxflex-7"),
            session_id: [9; 32],
            viewer: [10; 32],
            outcome: ConsentOutcomeCode::Granted,
        },
        AuditEvent::EnrolmentTokenIssued {
            token_id: text("0123456789abcdef"),
            model: text("Navios EX"),
            instrument_id: text("INSTR-7"),
            serial_number: text("SN-1234"),
            profile: InstrumentProfile::Phi,
            expires_unix_ms: 1_800_000_000_000,
        },
        AuditEvent::EnrolmentTokenUsed {
            token_id: text("0123456789abcdef"),
            host_id: text("navios-ex-0042"),
            host: [11; 32],
        },
        AuditEvent::EnrolmentRefused {
            token_id: text(""),
            source: text("203.0.113.9"),
            host: [12; 32],
            reason: text("no enrolment token"),
        },
        AuditEvent::EnrolmentTokenRevoked {
            token_id: text("fedcba9876543210"),
        },
    ]
}

#[test]
fn samples_cover_every_event_kind_in_tag_order() {
    let kinds: Vec<&str> = sample_events().iter().map(AuditEvent::kind).collect();
    assert_eq!(kinds, AuditEvent::KINDS);
}

#[test]
fn every_event_kind_round_trips_through_its_encoding() {
    for event in sample_events() {
        let bytes = event.to_bytes();
        assert_eq!(
            AuditEvent::from_bytes(&bytes),
            Ok(event.clone()),
            "{}",
            event.kind()
        );
        let report = AuditReport {
            occurred_unix_ms: 1_795_000_000_000,
            event,
        };
        assert_eq!(
            AuditReport::from_frame(&report.to_frame().unwrap()),
            Ok(report)
        );
    }
}

#[test]
fn every_event_names_its_host_except_relay_wide_intrusions_and_enrolment() {
    for event in sample_events() {
        match event {
            // Before a host exists there is no host ID to name.
            AuditEvent::IntrusionDetected { .. }
            | AuditEvent::EnrolmentTokenIssued { .. }
            | AuditEvent::EnrolmentRefused { .. }
            | AuditEvent::EnrolmentTokenRevoked { .. } => assert_eq!(event.host_id(), None),
            _ => assert!(
                event.host_id().is_some_and(|h| !h.is_empty()),
                "{}",
                event.kind()
            ),
        }
    }
}

#[test]
fn hosts_may_report_only_what_happens_on_the_host() {
    let reportable: Vec<&str> = sample_events()
        .iter()
        .filter(|e| e.reportable_by_host())
        .map(AuditEvent::kind)
        .collect();
    let mut expected = vec!["consent_decision"];
    #[cfg(feature = "file-transfer")]
    expected.push("file_transfer");
    expected.extend([
        "input_dropped",
        "session_started",
        "session_ended",
        "upgrade",
        "session_tampering",
        "engineer_decision",
    ]);
    assert_eq!(reportable, expected);
    // Every kind a host may report names a host, so the relay can check it is the reporter.
    for event in sample_events().iter().filter(|e| e.reportable_by_host()) {
        assert!(event.host_id().is_some(), "{}", event.kind());
    }
}

#[test]
fn unknown_event_tag_is_refused() {
    for tag in [0u8, 15, 19, 24, 200, 255] {
        assert_eq!(
            AuditEvent::from_bytes(&[tag]),
            Err(DecodeError::InvalidValue {
                what: "audit event",
                value: u64::from(tag),
            })
        );
    }
}

#[cfg(not(feature = "file-transfer"))]
#[test]
fn file_transfer_event_is_unavailable_not_unknown_on_a_phi_build() {
    assert_eq!(
        AuditEvent::from_bytes(&[FILE_TRANSFER_TAG, 0, 0, 0, 0]),
        Err(DecodeError::Unavailable(
            crate::wire::FILE_TRANSFER_UNAVAILABLE
        ))
    );
}

#[cfg(feature = "file-transfer")]
#[test]
fn file_transfer_event_uses_the_tag_phi_builds_refuse_by_name() {
    let event = sample_events()
        .into_iter()
        .find(|e| e.kind() == "file_transfer")
        .unwrap();
    assert_eq!(event.to_bytes()[0], FILE_TRANSFER_TAG);
}

#[test]
fn non_canonical_bool_in_an_event_is_refused() {
    let mut bytes = sample_events()[0].to_bytes();
    // ConnectionRequest: tag, host_id, viewer, source, then `granted`.
    let granted_at = bytes.len() - (4 + "viewer not on the allowlist".len()) - 1;
    assert_eq!(bytes[granted_at], 0);
    bytes[granted_at] = 2;
    assert_eq!(
        AuditEvent::from_bytes(&bytes),
        Err(DecodeError::InvalidValue {
            what: "bool",
            value: 2
        })
    );
}

#[test]
fn largest_possible_report_fits_its_frame_limit() {
    let long = |n: usize| "x".repeat(n);
    let report = AuditReport {
        occurred_unix_ms: u64::MAX,
        event: AuditEvent::ConnectionRequest {
            host_id: text(&long(64)),
            viewer: [0xff; 32],
            source: text(&long(64)),
            granted: true,
            reason: text(&long(256)),
        },
    };
    assert!(report.to_frame().is_ok());
    let widest = AuditEvent::IntrusionDetected {
        source: text(&long(64)),
        kind: text(&long(64)),
        detail: text(&long(256)),
    };
    assert!(widest.to_bytes().len() < AuditReport::TYPE.max_len());
}

fn arb_text<const MAX: usize>() -> impl Strategy<Value = Text<MAX>> {
    "\\PC{0,24}".prop_filter_map("fits Text<MAX>", |s: String| Text::new(s).ok())
}

fn arb_outcome() -> impl Strategy<Value = ConsentOutcomeCode> {
    prop_oneof![
        Just(ConsentOutcomeCode::Granted),
        Just(ConsentOutcomeCode::Refused),
        Just(ConsentOutcomeCode::TimedOut),
        Just(ConsentOutcomeCode::Revoked),
    ]
}

/// Any event of any kind this build knows.
pub(crate) fn arb_event() -> impl Strategy<Value = AuditEvent> {
    let h = arb_text::<64>;
    #[allow(unused_mut)]
    let mut kinds: Vec<BoxedStrategy<AuditEvent>> = vec![
        (h(), any::<[u8; 32]>(), h(), any::<bool>(), arb_text())
            .prop_map(
                |(host_id, viewer, source, granted, reason)| AuditEvent::ConnectionRequest {
                    host_id,
                    viewer,
                    source,
                    granted,
                    reason,
                },
            )
            .boxed(),
        (h(), any::<[u8; 32]>(), h(), any::<u32>())
            .prop_map(
                |(host_id, viewer, source, failures)| AuditEvent::AuthenticationFailed {
                    host_id,
                    viewer,
                    source,
                    failures,
                },
            )
            .boxed(),
        (
            h(),
            any::<[u8; 32]>(),
            h(),
            any::<u32>(),
            any::<u64>(),
            any::<bool>(),
        )
            .prop_map(|(host_id, viewer, source, failures, wait_secs, burned)| {
                AuditEvent::LockedOut {
                    host_id,
                    viewer,
                    source,
                    failures,
                    wait_secs,
                    burned,
                }
            })
            .boxed(),
        (
            h(),
            any::<[u8; 32]>(),
            proptest::sample::select(Capability::ALL),
            arb_outcome(),
        )
            .prop_map(
                |(host_id, session_id, capability, outcome)| AuditEvent::ConsentDecision {
                    host_id,
                    session_id,
                    capability,
                    outcome,
                },
            )
            .boxed(),
        (h(), any::<[u8; 32]>(), any::<u64>())
            .prop_map(|(host_id, session_id, count)| AuditEvent::InputDropped {
                host_id,
                session_id,
                count,
            })
            .boxed(),
        (h(), h(), arb_text())
            .prop_map(|(source, kind, detail)| AuditEvent::IntrusionDetected {
                source,
                kind,
                detail,
            })
            .boxed(),
        (h(), any::<[u8; 32]>(), arb_text())
            .prop_map(|(host_id, host, model)| AuditEvent::HostEnrolled {
                host_id,
                host,
                model,
            })
            .boxed(),
        (h(), any::<[u8; 32]>(), any::<[u8; 32]>())
            .prop_map(|(host_id, session_id, viewer)| AuditEvent::SessionStarted {
                host_id,
                session_id,
                viewer,
            })
            .boxed(),
        (h(), any::<[u8; 32]>(), arb_text())
            .prop_map(|(host_id, session_id, reason)| AuditEvent::SessionEnded {
                host_id,
                session_id,
                reason,
            })
            .boxed(),
        (h(), arb_text())
            .prop_map(
                |(host_id, model)| AuditEvent::FileTransferCapabilityApproved { host_id, model },
            )
            .boxed(),
        (h(), arb_text(), 1u8..=8, arb_text())
            .prop_map(|(host_id, version, step, detail)| AuditEvent::Upgrade {
                host_id,
                version,
                step: UpgradeStepCode::from_bytes(&[step]).unwrap(),
                detail,
            })
            .boxed(),
        (h(), any::<[u8; 32]>(), arb_text())
            .prop_map(
                |(host_id, session_id, detail)| AuditEvent::SessionTampering {
                    host_id,
                    session_id,
                    detail,
                },
            )
            .boxed(),
        (h(), any::<[u8; 32]>(), any::<[u8; 32]>(), arb_outcome())
            .prop_map(
                |(host_id, session_id, viewer, outcome)| AuditEvent::EngineerDecision {
                    host_id,
                    session_id,
                    viewer,
                    outcome,
                },
            )
            .boxed(),
    ];
    #[cfg(feature = "file-transfer")]
    kinds.push(
        (
            h(),
            any::<[u8; 32]>(),
            arb_text(),
            any::<u64>(),
            any::<[u8; 32]>(),
            prop_oneof![
                Just(TransferDirection::ToHost),
                Just(TransferDirection::FromHost)
            ],
        )
            .prop_map(|(host_id, session_id, name, size, sha256, direction)| {
                AuditEvent::FileTransfer {
                    host_id,
                    session_id,
                    name,
                    size,
                    sha256,
                    direction,
                }
            })
            .boxed(),
    );
    proptest::strategy::Union::new(kinds)
}

proptest! {
    #[test]
    fn any_event_round_trips_in_a_report(event in arb_event(), occurred_unix_ms in any::<u64>()) {
        let report = AuditReport { occurred_unix_ms, event };
        let frame = report.to_frame().unwrap();
        prop_assert_eq!(AuditReport::from_frame(&frame), Ok(report.clone()));
        prop_assert_eq!(AuditEvent::from_bytes(&report.event.to_bytes()), Ok(report.event));
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_event_and_report_decoders(
        bytes in proptest::collection::vec(any::<u8>(), 0..600)
    ) {
        let _ = AuditEvent::from_bytes(&bytes);
        let _ = AuditReport::from_bytes(&bytes);
        let _ = AuditReport::from_frame(&bytes);
    }

    #[test]
    fn tagged_garbage_never_panics_the_event_decoder(
        tag in 0u8..25,
        body in proptest::collection::vec(any::<u8>(), 0..600)
    ) {
        let mut bytes = vec![tag];
        bytes.extend_from_slice(&body);
        let _ = AuditEvent::from_bytes(&bytes);
    }
}
