use assent_proto::audit::open_record;
use assent_proto::messages::signalling::FileTransferInstall;
use clap::Parser;

use super::*;
use crate::admin::test_support::{Fixture, NOW};
use crate::store::{EnrolmentOutcome, EnrolmentRefusal, HostRegistration, StateStore};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: EnrolmentCommand,
}

fn run_enrolment(fixture: &Fixture, args: &[&str]) -> (anyhow::Result<()>, String) {
    let cmd = Cli::try_parse_from(std::iter::once("enrolment").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
        .command;
    let mut out = Vec::new();
    let result = run(
        &cmd,
        &mut AdminContext {
            store: &fixture.store,
            data_key: &fixture.data_key,
            operator: None,
            now_unix: fixture.now,
            out: &mut out,
        },
    );
    (result, String::from_utf8(out).unwrap())
}

fn issue(fixture: &Fixture, extra: &[&str]) -> (anyhow::Result<()>, String) {
    let mut args = vec!["issue", "--instrument-id", "INSTR-7", "--serial", "SN-1234"];
    args.extend_from_slice(extra);
    run_enrolment(fixture, &args)
}

fn printed_token(out: &str) -> EnrolmentToken {
    let text = out
        .lines()
        .find_map(|l| l.strip_prefix("enrolment token: "))
        .expect("token printed");
    EnrolmentToken::parse(text).unwrap()
}

fn audited(fixture: &Fixture) -> Vec<AuditEvent> {
    let key = fixture.data_key.audit_key();
    fixture
        .store
        .audit_records(0, 100)
        .unwrap()
        .iter()
        .map(|r| open_record(&key, r).unwrap().event)
        .collect()
}

fn registration(model: &str) -> HostRegistration {
    HostRegistration {
        registrant_email: Text::new("t@lab.example").unwrap(),
        registrant_name: Text::new("Tess").unwrap(),
        instrument_model: Text::new(model).unwrap(),
        instrument_id: Text::new("INSTR-7").unwrap(),
        serial_number: Text::new("SN-1234").unwrap(),
        host_key: assent_proto::test_keys::host().public().clone(),
        file_transfer: FileTransferInstall::CompiledOut,
        enrolled_unix_ms: NOW * 1000 + 1,
    }
}

#[test]
fn issue_prints_the_token_once_stores_only_its_hash_and_audits_it() {
    let fixture = Fixture::new();
    let (result, out) = issue(&fixture, &["--model", "Navios EX", "--expires", "7d"]);
    result.unwrap();
    let token = printed_token(&out);
    assert_eq!(token.profile, InstrumentProfile::Phi);
    let stored = fixture.store.enrolment_tokens().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].grant.token_hash, token.hash());
    assert_eq!(stored[0].grant.expires_unix_ms, (NOW + 7 * 86_400) * 1000);
    // The secret is nowhere in the database file.
    let hex_secret: String = token.secret.iter().map(|b| format!("{b:02x}")).collect();
    let file = std::fs::read(&fixture.db).unwrap();
    assert!(!file.windows(32).any(|w| w == token.secret));
    assert!(!String::from_utf8_lossy(&file).contains(&hex_secret));
    let issued = audited(&fixture).into_iter().any(|e| {
        matches!(e, AuditEvent::EnrolmentTokenIssued { token_id, profile: InstrumentProfile::Phi, .. }
            if token_id.as_str() == token.id())
    });
    assert!(issued, "the issue is audited with the token ID");
    // `list` shows the token by ID, never its secret.
    let (result, listing) = run_enrolment(&fixture, &["list"]);
    result.unwrap();
    assert!(
        listing.contains(&token.id()) && listing.contains("unused"),
        "{listing}"
    );
    assert!(!listing.contains(&hex_secret));
}

#[test]
fn an_unknown_model_gets_a_phi_token_unless_the_operator_says_no_phi() {
    let fixture = Fixture::new();
    let (result, out) = issue(&fixture, &["--model", "XR-9000"]);
    result.unwrap();
    assert_eq!(printed_token(&out).profile, InstrumentProfile::Phi);
    let (result, out) = issue(&fixture, &["--model", "XR-9000", "--profile", "no-phi"]);
    result.unwrap();
    assert_eq!(printed_token(&out).profile, InstrumentProfile::NoPhi);
    let (result, out) = issue(&fixture, &["--model", "DxH 900"]);
    result.unwrap();
    assert_eq!(printed_token(&out).profile, InstrumentProfile::NoPhi);
}

#[test]
fn a_listed_phi_model_cannot_be_issued_a_no_phi_token() {
    let fixture = Fixture::new();
    for model in ["Navios EX", "navios-ex", "DxFLEX 3L"] {
        let (result, _) = issue(&fixture, &["--model", model, "--profile", "no-phi"]);
        let error = format!("{:#}", result.unwrap_err());
        assert!(error.contains("PHI list"), "{model}: {error}");
    }
    assert!(fixture.store.enrolment_tokens().unwrap().is_empty());
    assert!(
        audited(&fixture).is_empty(),
        "nothing issued, nothing audited"
    );
}

#[test]
fn tokens_expire_within_90_days_and_bad_values_are_refused() {
    let fixture = Fixture::new();
    let (result, _) = issue(&fixture, &["--model", "DxH 900", "--expires", "91d"]);
    assert!(format!("{:#}", result.unwrap_err()).contains("at most 90d"));
    let (result, _) = issue(&fixture, &["--model", " ", "--expires", "1d"]);
    assert!(format!("{:#}", result.unwrap_err()).contains("--model"));
    assert!(Cli::try_parse_from([
        "enrolment",
        "issue",
        "--model",
        "M",
        "--instrument-id",
        "I",
        "--serial",
        "S",
        "--profile",
        "maybe"
    ])
    .is_err());
    assert!(fixture.store.enrolment_tokens().unwrap().is_empty());
}

#[test]
fn a_revoked_token_enrols_nothing_and_the_revocation_is_audited() {
    let fixture = Fixture::new();
    let (result, out) = issue(&fixture, &["--model", "Navios EX"]);
    result.unwrap();
    let token = printed_token(&out);
    let (result, _) = run_enrolment(&fixture, &["revoke", &token.id()]);
    result.unwrap();
    assert!(audited(&fixture)
        .iter()
        .any(|e| matches!(e, AuditEvent::EnrolmentTokenRevoked { .. })));
    let outcome = fixture
        .store
        .enroll_host_with_token(&token, &registration("Navios EX"))
        .unwrap();
    assert_eq!(
        outcome,
        EnrolmentOutcome::Refused(EnrolmentRefusal::Revoked)
    );
    assert!(fixture.store.list_hosts().unwrap().is_empty());
    // A second revocation names no unused token.
    let (result, _) = run_enrolment(&fixture, &["revoke", &token.id()]);
    assert!(format!("{:#}", result.unwrap_err()).contains("no unused token"));
}

#[test]
fn a_token_expires_at_its_expiry_time() {
    let fixture = Fixture::new();
    let (result, out) = issue(&fixture, &["--model", "Navios EX", "--expires", "1h"]);
    result.unwrap();
    let token = printed_token(&out);
    let mut late = registration("Navios EX");
    late.enrolled_unix_ms = (NOW + 3600) * 1000;
    let outcome = fixture.store.enroll_host_with_token(&token, &late).unwrap();
    assert_eq!(
        outcome,
        EnrolmentOutcome::Refused(EnrolmentRefusal::Expired)
    );
    let outcome = fixture
        .store
        .enroll_host_with_token(&token, &registration("Navios EX"))
        .unwrap();
    assert!(matches!(outcome, EnrolmentOutcome::Enrolled(_)));
}
