use proptest::prelude::*;

use super::*;

fn parse(s: &str) -> Result<IntakeRequest, IntakeError> {
    parse_intake(s.as_bytes())
}

#[test]
fn a_full_notification_parses() {
    let request = parse(
        r#"{"id":"pump-pressure","source":"instrument","severity":"error","kind":"failure","title":"Pump pressure low","detail":"12 bar"}"#,
    )
    .unwrap();
    let IntakeRequest::Raise(n) = request else {
        panic!("not a raise: {request:?}")
    };
    assert_eq!(n.id.as_str(), "pump-pressure");
    assert_eq!(n.source, NotificationSource::Instrument);
    assert_eq!(n.severity, Severity::Error);
    assert_eq!(n.kind, NotificationKind::Failure);
    assert_eq!(n.title.as_str(), "Pump pressure low");
    assert_eq!(n.detail.as_str(), "12 bar");
}

#[test]
fn source_defaults_to_instrument_software_and_detail_to_empty() {
    let IntakeRequest::Raise(n) =
        parse(r#"{"id":"a","severity":"info","kind":"recovered","title":"ok"}"#).unwrap()
    else {
        panic!()
    };
    assert_eq!(n.source, NotificationSource::InstrumentSoftware);
    assert_eq!(n.detail.as_str(), "");
}

#[test]
fn a_clear_parses_and_refuses_other_fields() {
    assert_eq!(
        parse(r#"{"id":"a","clear":true}"#).unwrap(),
        IntakeRequest::Clear {
            id: Text::new("a").unwrap()
        }
    );
    assert!(matches!(
        parse(r#"{"id":"a","clear":true,"title":"x"}"#),
        Err(IntakeError::Field { field: "title", .. })
    ));
}

#[test]
fn unknown_fields_are_refused() {
    let err = parse(r#"{"id":"a","severity":"info","kind":"failure","title":"t","colour":"red"}"#)
        .unwrap_err();
    assert!(err.to_string().contains("colour"), "{err}");
}

#[test]
fn the_intake_cannot_speak_for_assent() {
    assert!(matches!(
        parse(r#"{"id":"a","source":"assent","severity":"info","kind":"failure","title":"t"}"#),
        Err(IntakeError::Json(_))
    ));
}

#[test]
fn missing_and_wrong_values_name_the_field() {
    assert!(matches!(
        parse(r#"{"id":"a","kind":"failure","title":"t"}"#),
        Err(IntakeError::Field {
            field: "severity",
            ..
        })
    ));
    assert!(matches!(
        parse(r#"{"id":"a","severity":"info","kind":"failure","title":"  "}"#),
        Err(IntakeError::Field { field: "title", .. })
    ));
    assert!(matches!(
        parse(r#"{"id":"a b","severity":"info","kind":"failure","title":"t"}"#),
        Err(IntakeError::Field { field: "id", .. })
    ));
    let err = parse(r#"{"id":"a","severity":"fatal","kind":"failure","title":"t"}"#).unwrap_err();
    assert!(err.to_string().contains("fatal"), "{err}");
}

#[test]
fn over_long_texts_and_control_characters_are_refused() {
    let long_title = "x".repeat(TITLE_MAX + 1);
    let line = format!(r#"{{"id":"a","severity":"info","kind":"failure","title":"{long_title}"}}"#);
    assert!(matches!(
        parse(&line),
        Err(IntakeError::Field { field: "title", .. })
    ));
    assert!(matches!(
        parse(r#"{"id":"a","severity":"info","kind":"failure","title":"bell\u0007"}"#),
        Err(IntakeError::Field { field: "title", .. })
    ));
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let big = vec![b' '; INTAKE_MAX + 1];
    assert_eq!(
        parse_intake(&big),
        Err(IntakeError::TooLarge {
            len: INTAKE_MAX + 1
        })
    );
}

#[test]
fn not_json_is_refused() {
    for bad in ["", "not json", "[]", "{", r#"{"id":1}"#, "null"] {
        assert!(parse(bad).is_err(), "{bad:?} accepted");
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_intake(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_intake(&bytes);
    }

    #[test]
    fn valid_raises_keep_their_text(id in "[a-z0-9-]{1,64}", title in "[ -~]{1,128}") {
        prop_assume!(!title.trim().is_empty());
        let line = serde_json::json!({"id": id, "severity": "warning", "kind": "performance_issue", "title": title});
        let IntakeRequest::Raise(n) = parse_intake(line.to_string().as_bytes()).unwrap() else {
            panic!()
        };
        prop_assert_eq!(n.id.as_str(), id.as_str());
        prop_assert_eq!(n.title.as_str(), title.as_str());
    }
}
