use super::*;
use crate::files::FileReport;
use assent_proto::messages::file_transfer::TransferDirection;

fn keys(events: &[SessionMessage]) -> Vec<(u32, bool)> {
    events
        .iter()
        .map(|m| match m {
            SessionMessage::KeyEvent(k) => (k.keysym, k.pressed),
            other => panic!("not a key: {other:?}"),
        })
        .collect()
}

#[test]
fn typed_ascii_characters_are_their_own_keysyms_each_pressed_then_released() {
    assert_eq!(
        keys(&type_events("aZ 7~")),
        vec![
            (0x61, true),
            (0x61, false),
            (0x5a, true),
            (0x5a, false),
            (0x20, true),
            (0x20, false),
            (0x37, true),
            (0x37, false),
            (0x7e, true),
            (0x7e, false),
        ]
    );
}

#[test]
fn a_typed_newline_is_the_return_key() {
    assert_eq!(
        keys(&type_events("\n")),
        vec![(0xff0d, true), (0xff0d, false)]
    );
}

#[test]
fn shell_escapes_in_typed_text_become_return_tab_and_backslash() {
    assert_eq!(unescape(r"ok\n"), "ok\n");
    assert_eq!(unescape(r"a\tb"), "a\tb");
    assert_eq!(unescape(r"c:\\x"), "c:\\x");
    assert_eq!(unescape(r"\q\"), "\\q\\", "other backslashes stay");
    assert_eq!(
        keys(&type_events(&unescape(r"\n"))),
        vec![(0xff0d, true), (0xff0d, false)]
    );
}

#[test]
fn typed_input_travels_on_the_input_channel() {
    for message in type_events("x\n").iter().chain(&click_events(Click {
        x: 1,
        y: 2,
        button: MouseButton::Left,
    })) {
        assert_eq!(message.channel(), assent_proto::handshake::Channel::Input);
    }
}

#[test]
fn a_click_is_parsed_with_left_as_the_default_button() {
    assert_eq!(
        "200,150".parse::<Click>(),
        Ok(Click {
            x: 200,
            y: 150,
            button: MouseButton::Left
        })
    );
    assert_eq!(
        " 3 , 4 , Right".parse::<Click>(),
        Ok(Click {
            x: 3,
            y: 4,
            button: MouseButton::Right
        })
    );
    assert_eq!(
        "0,0,2".parse::<Click>().unwrap().button,
        MouseButton::Middle
    );
}

#[test]
fn a_malformed_click_is_refused_with_what_was_wrong() {
    for (input, says) in [
        ("200", "X,Y"),
        ("1,2,3,4", "X,Y"),
        ("a,2", "X \"a\""),
        ("1,9999999999", "Y"),
        ("1,2,thumb", "button"),
    ] {
        let e = input.parse::<Click>().unwrap_err();
        assert!(e.contains(says), "{input}: {e}");
    }
}

#[test]
fn a_click_moves_then_presses_then_releases() {
    let events = click_events(Click {
        x: 10,
        y: 20,
        button: MouseButton::Right,
    });
    assert_eq!(
        events,
        vec![
            PointerMove { x: 10, y: 20 }.into(),
            PointerButton {
                button: MouseButton::Right,
                pressed: true
            }
            .into(),
            PointerButton {
                button: MouseButton::Right,
                pressed: false
            }
            .into(),
        ]
    );
}

#[test]
fn a_written_png_decodes_to_the_same_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shot.png");
    let (width, height) = (3u32, 2u32);
    let rgba: Vec<u8> = (0..width * height * 4)
        .map(|i| (i * 37 % 256) as u8)
        .collect();
    write_png(&path, width, height, &rgba).unwrap();

    let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
    let mut reader = png::Decoder::new(file).read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), (width, height));
    assert_eq!(info.color_type, png::ColorType::Rgba);
    assert_eq!(&pixels[..info.buffer_size()], rgba.as_slice());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
}

#[test]
fn a_png_is_replaced_whole_never_left_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shot.png");
    write_png(&path, 1, 1, &[1, 2, 3, 255]).unwrap();
    write_png(&path, 2, 1, &[4, 5, 6, 255, 7, 8, 9, 255]).unwrap();
    let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
    let reader = png::Decoder::new(file).read_info().unwrap();
    assert_eq!(reader.info().width, 2);
}

#[test]
fn typing_and_clicking_need_remote_control_and_frames_need_screen_view() {
    let options = HeadlessOptions {
        frames: Some(1),
        type_text: Some("x".into()),
        wait_for_grant: Some(Capability::FileTransfer),
        ..HeadlessOptions::default()
    };
    assert_eq!(
        options.needed(),
        vec![
            Capability::ScreenView,
            Capability::RemoteControl,
            Capability::FileTransfer
        ]
    );
    assert!(HeadlessOptions::default().needed().is_empty());
}

#[test]
fn sending_or_receiving_files_needs_file_transfer_and_is_a_goal() {
    for options in [
        HeadlessOptions {
            send: vec!["a.csv".into()],
            ..HeadlessOptions::default()
        },
        HeadlessOptions {
            receive: Some(1),
            ..HeadlessOptions::default()
        },
    ] {
        assert_eq!(options.needed(), vec![Capability::FileTransfer]);
        assert!(options.has_goal());
    }
}

#[test]
fn a_run_that_sends_files_ends_after_the_last_one_and_fails_on_a_failed_one() {
    let options = HeadlessOptions {
        send: vec!["/x/a.csv".into()],
        ..HeadlessOptions::default()
    };
    let requested = [Capability::FileTransfer];
    let granted = CapabilitySet::EMPTY.with(Capability::FileTransfer, true);
    let sent = FileReport::Sent {
        name: "a.csv".into(),
        size: 3,
    };
    let mut headless = Headless::new(options.clone(), &requested, Instant::now());
    let flow = headless.on_event(SessionEvent::File(&sent), granted, &mut Vec::new());
    assert_eq!(flow, ControlFlow::Continue(()), "it settles first");
    let settled = headless.deadline().expect("a settle deadline");
    assert!(settled <= Instant::now() + FileGoals::SETTLE);
    assert!(matches!(
        headless.check_done(settled),
        ControlFlow::Break(SessionEnd::Done(_))
    ));

    let mut headless = Headless::new(options, &requested, Instant::now());
    let failed = FileReport::Failed {
        name: "a.csv".into(),
        error: "the technician refused the file".into(),
        direction: TransferDirection::ToHost,
    };
    let flow = headless.on_event(SessionEvent::File(&failed), granted, &mut Vec::new());
    assert!(
        matches!(flow, ControlFlow::Break(SessionEnd::Failed(ref r)) if r.contains("refused the file")),
        "{flow:?}"
    );
}

#[test]
fn input_is_sent_only_on_the_remote_control_grant_and_only_once() {
    let options = HeadlessOptions {
        type_text: Some("hi".into()),
        ..HeadlessOptions::default()
    };
    let mut headless = Headless::new(options, &[Capability::RemoteControl], Instant::now());
    let mut actions = Vec::new();
    let screen_only = CapabilitySet::EMPTY.with(Capability::ScreenView, true);
    let _ = headless.on_event(
        SessionEvent::Decision(Capability::ScreenView, DecisionOutcome::Granted),
        screen_only,
        &mut actions,
    );
    assert!(actions.is_empty(), "no input before control is granted");
    let control = screen_only.with(Capability::RemoteControl, true);
    let _ = headless.on_event(
        SessionEvent::Decision(Capability::RemoteControl, DecisionOutcome::Granted),
        control,
        &mut actions,
    );
    assert_eq!(actions.len(), 4, "h and i, each pressed and released");
    let _ = headless.on_event(
        SessionEvent::Decision(Capability::RemoteControl, DecisionOutcome::Granted),
        control,
        &mut actions,
    );
    assert_eq!(actions.len(), 4, "typed once");
}

#[test]
fn a_refused_or_unanswered_requested_capability_ends_the_run_as_a_failure() {
    for outcome in [DecisionOutcome::Refused, DecisionOutcome::TimedOut] {
        let mut headless = Headless::new(
            HeadlessOptions::default(),
            &[Capability::ScreenView],
            Instant::now(),
        );
        let flow = headless.on_event(
            SessionEvent::Decision(Capability::ScreenView, outcome),
            CapabilitySet::EMPTY,
            &mut Vec::new(),
        );
        assert!(
            matches!(flow, ControlFlow::Break(SessionEnd::Failed(ref r)) if r.contains("screen view")),
            "{flow:?}"
        );
    }
}

#[test]
fn a_revocation_is_reported_but_does_not_end_the_run() {
    let mut headless = Headless::new(
        HeadlessOptions::default(),
        &[Capability::ScreenView],
        Instant::now(),
    );
    let flow = headless.on_event(
        SessionEvent::Revoked(Capability::ScreenView),
        CapabilitySet::EMPTY,
        &mut Vec::new(),
    );
    assert_eq!(flow, ControlFlow::Continue(()));
}

#[test]
fn a_host_ending_the_session_before_the_frames_arrived_is_a_failure() {
    let options = HeadlessOptions {
        frames: Some(3),
        ..HeadlessOptions::default()
    };
    let mut headless = Headless::new(options, &[Capability::ScreenView], Instant::now());
    let end = SessionEnd::Ended("the host ended the session".into());
    let none = ActiveNotifications::default();
    let e = headless
        .finish(&end, None, &ScreenStats::default(), &none)
        .unwrap_err();
    assert!(e.to_string().contains("only 0 of 3 frames"), "{e}");
    let mut no_goal = Headless::new(HeadlessOptions::default(), &[], Instant::now());
    assert!(no_goal
        .finish(&end, None, &ScreenStats::default(), &none)
        .is_ok());
}

#[test]
fn the_active_notifications_are_listed_at_the_end_only_when_asked() {
    use assent_proto::messages::notification::{
        Notification, NotificationKind, NotificationSource, Severity,
    };
    use assent_proto::wire::Text;
    let mut active = ActiveNotifications::default();
    active.raise(Notification {
        seq: 1,
        id: Text::new("pump-pressure").unwrap(),
        source: NotificationSource::InstrumentSoftware,
        severity: Severity::Error,
        kind: NotificationKind::Failure,
        title: Text::new("Pump pressure low").unwrap(),
        detail: Text::new("12 bar").unwrap(),
        raised_unix_ms: 0,
    });
    let run = |options: HeadlessOptions| {
        Headless::new(options, &[], Instant::now()).final_notifications(&active)
    };
    assert!(run(HeadlessOptions::default()).is_empty());
    let stats = HeadlessOptions {
        stats: true,
        ..HeadlessOptions::default()
    };
    assert_eq!(run(stats), ["notifications: 1 active"]);
    let listed = HeadlessOptions {
        notifications: true,
        ..HeadlessOptions::default()
    };
    assert_eq!(
        run(listed),
        [
            "notifications: 1 active",
            "active notification [ERROR] Pump pressure low — 12 bar (instrument_software, failure, id pump-pressure)",
        ]
    );
}
