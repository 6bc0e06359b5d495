//! One whole session through the host's driver (`session::run_session`, the
//! thin shell around `HostSession`), with no X11 and no relay: a synthetic
//! screen and a recording input sink behind the `Platform` traits, the
//! technician's terminal as a pipe, the relay's audit log as a recording
//! link. The channels are real QUIC on loopback sealed with keys from a real
//! handshake, opened by a viewer end driven here (R9, R10, R12).

#[allow(dead_code)]
#[path = "revocation/loopback.rs"]
mod loopback;

use std::io::{BufReader, Write};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::Duration;

use assent_host::allowlist_serial::AcceptedSerial;
use assent_host::allowlist_watch::AllowListWatch;
use assent_host::capture::ScreenSource;
use assent_host::config::HostFiles;
use assent_host::control::{InjectedInput, InputInjector, InputLog, InputSink};
use assent_host::platform::Platform;
use assent_host::relay_link::RelayLink;
use assent_host::screen_stream::ScreenSettings;
use assent_host::session::{run_session, SessionOptions, SessionSetup};
use assent_host::technician::{PromptMode, PromptSettings, Technician};
use assent_net::{accept_channel, open_channel, sealed_with, SealedRecv, SealedSend};
use assent_proto::allowlist::AllowListEntry;
use assent_proto::handshake::{Channel, SessionKeys};
use assent_proto::messages::audit_event::{AuditEvent, ConsentOutcomeCode};
use assent_proto::messages::consent::{Capability, CapabilityRequest, DecisionOutcome, SessionEnd};
use assent_proto::messages::input::PointerMove;
use assent_proto::messages::session::SessionMessage;
use assent_proto::messages::signalling::{Ack, ChannelKind, SignallingMessage};
use assent_proto::pacing::PacingSettings;
use assent_proto::wire::Text;
use loopback::{within, NoiseScreen, Pair, SESSION};
use tokio::sync::{mpsc, watch};

/// The viewer's end of one channel.
async fn viewer_channel(
    pair: &Pair,
    keys: &mut SessionKeys,
    channel: Channel,
) -> (SealedSend, SealedRecv) {
    let (send, recv) = open_channel(&pair.viewer, SESSION, ChannelKind::from(channel))
        .await
        .unwrap();
    sealed_with(keys.take_channel(channel).unwrap(), send, recv)
}

/// Types `line` on the technician's terminal once the open prompt takes
/// answers, and waits for it to close.
async fn answer(
    answerable: &mut watch::Receiver<bool>,
    terminal: &Mutex<std::io::PipeWriter>,
    line: &str,
) {
    within("a prompt that takes answers", answerable.wait_for(|a| *a))
        .await
        .unwrap();
    writeln!(terminal.lock().unwrap(), "{line}").unwrap();
    within("the prompt to close", answerable.wait_for(|a| !*a))
        .await
        .unwrap();
}

async fn next_control(control: &mut SealedRecv) -> SessionMessage {
    within("a control message", control.recv())
        .await
        .unwrap()
        .expect("the control channel is open")
        .0
}

async fn expect_decision(control: &mut SealedRecv, capability: Capability) {
    match next_control(control).await {
        SessionMessage::CapabilityDecision(d) => {
            assert_eq!(
                (d.capability, d.outcome),
                (capability, DecisionOutcome::Granted)
            )
        }
        other => panic!("expected the grant of {capability:?}, got {other:?}"),
    }
}

/// The next audit record the session asked the "relay" for.
async fn next_audit(audits: &mut mpsc::UnboundedReceiver<AuditEvent>) -> AuditEvent {
    within("an audit record", audits.recv()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_through_the_driver_admits_grants_streams_injects_and_revokes_on_record() {
    let pair = Pair::connect().await;
    let (mut viewer_keys, host_keys) = assent_proto::test_keys::session_keys(SESSION);

    // The viewer's control channel, as the handshake left it.
    let (viewer_send, viewer_recv) = open_channel(&pair.viewer, SESSION, ChannelKind::Control)
        .await
        .unwrap();
    let (_, host_send, host_recv) = accept_channel(&pair.host).await.unwrap().unwrap();
    let (mut control, mut control_in) = sealed_with(
        viewer_keys.take_channel(Channel::Control).unwrap(),
        viewer_send,
        viewer_recv,
    );

    // The relay's audit log: every report acknowledged and kept.
    let (audit_tx, mut audits) = mpsc::unbounded_channel();
    let link = RelayLink::answered_by("H-DRIVER", move |message| match message {
        SignallingMessage::AuditReport(report) => {
            let _ = audit_tx.send(report.event);
            Ok(Ack {}.into())
        }
        other => Err(format!("unexpected {:?}", other.message_type())),
    });

    // The technician's terminal.
    let (terminal_in, terminal) = std::io::pipe().unwrap();
    let terminal = Mutex::new(terminal);
    let settings = PromptSettings {
        mode: PromptMode::Terminal,
        display: None,
    };
    let (technician, commands) =
        Technician::start_with_input(&settings, BufReader::new(terminal_in))
            .await
            .unwrap();
    let mut answerable = technician.prompt_answerable();

    // Screen and input behind the platform traits.
    let (screen_dropped, _) = mpsc::unbounded_channel();
    let log = InputLog::default();
    let (injected_tx, injected) = std_mpsc::channel();
    let injected_tx = Arc::new(Mutex::new(injected_tx));
    let sink_log = log.clone();
    let platform = Platform {
        screen: Arc::new(move || {
            Ok(Box::new(NoiseScreen::new((64, 48), screen_dropped.clone()))
                as Box<dyn ScreenSource>)
        }),
        input: Arc::new(move || {
            let injected = injected_tx.lock().unwrap().clone();
            Ok(Box::new(InputInjector::slow_recording_to(
                &sink_log,
                64,
                48,
                Duration::ZERO,
                injected,
            )) as Box<dyn InputSink>)
        }),
    };

    let data_dir = tempfile::tempdir().unwrap();
    let viewer = assent_proto::test_keys::key("viewer");
    let setup = SessionSetup {
        session_id: SESSION,
        host_id: "H-DRIVER".into(),
        viewer: AllowListEntry {
            viewer: viewer.public().clone(),
            name: Text::new("Eve Engineer").unwrap(),
            email: Text::new("eve@example.com").unwrap(),
            expires_unix: u64::MAX,
        },
        keys: host_keys,
        control_send: host_send,
        control_recv: host_recv,
        connection: pair.host.clone(),
        link,
        technician,
        commands,
        receive_dir: None,
        data_dir: data_dir.path().to_owned(),
        // Not asked in this test: the lab's sessions re-check the list.
        allowlist: AllowListWatch {
            operator: assent_proto::test_keys::operator().public().clone(),
            accepted: AcceptedSerial::of(&HostFiles::new(data_dir.path().to_owned())),
            serial: 1,
            every: Duration::from_secs(3600),
        },
    };
    let options = SessionOptions {
        consent_timeout: Duration::from_secs(60),
        screen: ScreenSettings {
            display: None,
            pacing: PacingSettings::default(),
        },
        platform,
        max_file_size: 1 << 20,
    };
    let session = tokio::spawn(run_session(setup, options));

    // Channels and a request before the technician admits the engineer:
    // held, nothing served (R9).
    let (_screen_send, mut screen) = viewer_channel(&pair, &mut viewer_keys, Channel::Screen).await;
    let (mut input, _input_in) = viewer_channel(&pair, &mut viewer_keys, Channel::Input).await;
    control
        .send(
            &CapabilityRequest {
                capability: Capability::ScreenView,
            }
            .into(),
        )
        .await
        .unwrap();
    answer(&mut answerable, &terminal, "y").await;
    match next_audit(&mut audits).await {
        AuditEvent::EngineerDecision {
            outcome,
            viewer: who,
            ..
        } => {
            assert_eq!(outcome, ConsentOutcomeCode::Granted);
            assert_eq!(&who, viewer.fingerprint().as_bytes());
        }
        other => panic!("expected the admission on record first, got {other:?}"),
    }

    // Screen view: granted on record, then frames of the synthetic screen.
    answer(&mut answerable, &terminal, "y").await;
    expect_decision(&mut control_in, Capability::ScreenView).await;
    assert!(matches!(
        next_audit(&mut audits).await,
        AuditEvent::ConsentDecision {
            capability: Capability::ScreenView,
            outcome: ConsentOutcomeCode::Granted,
            ..
        }
    ));
    match within("the first screen message", screen.recv())
        .await
        .unwrap()
    {
        Some((SessionMessage::ScreenInfo(info), _)) => {
            assert_eq!((info.width, info.height), (64, 48))
        }
        other => panic!("expected the screen's size first, got {other:?}"),
    }

    // Remote control: what the engineer sends is injected.
    control
        .send(
            &CapabilityRequest {
                capability: Capability::RemoteControl,
            }
            .into(),
        )
        .await
        .unwrap();
    answer(&mut answerable, &terminal, "y").await;
    expect_decision(&mut control_in, Capability::RemoteControl).await;
    input
        .send(&PointerMove { x: 10, y: 20 }.into())
        .await
        .unwrap();
    within("the injection", async { injected.recv().unwrap() }).await;
    assert_eq!(log.events(), [InjectedInput::PointerMove { x: 10, y: 20 }]);

    // Revoked: the engineer hears it, it is on record, and input is dropped
    // (the drop report is the event that says the host saw it).
    writeln!(terminal.lock().unwrap(), "rc").unwrap();
    match next_control(&mut control_in).await {
        SessionMessage::CapabilityRevoked(r) => assert_eq!(r.capability, Capability::RemoteControl),
        other => panic!("expected the revocation, got {other:?}"),
    }
    input
        .send(&PointerMove { x: 30, y: 40 }.into())
        .await
        .unwrap();
    let mut after_revoke = Vec::new();
    loop {
        let event = next_audit(&mut audits).await;
        let dropped = matches!(event, AuditEvent::InputDropped { .. });
        after_revoke.push(event);
        if dropped {
            break;
        }
    }
    assert!(
        after_revoke.iter().any(|e| matches!(
            e,
            AuditEvent::ConsentDecision {
                capability: Capability::RemoteControl,
                outcome: ConsentOutcomeCode::Revoked,
                ..
            }
        )),
        "{after_revoke:?}"
    );
    assert_eq!(
        log.events().last(),
        Some(&InjectedInput::PointerMove { x: 10, y: 20 }),
        "nothing injected after the revoke"
    );

    // The engineer ends it, sealed: the session says so.
    control
        .send(
            &SessionEnd {
                reason: Text::new("done").unwrap(),
            }
            .into(),
        )
        .await
        .unwrap();
    let ended = within("the session's end", session).await.unwrap().unwrap();
    assert_eq!(ended, "the engineer ended the session (done)");
}
