//! `allowlist` commands against a real store (R7): what hosts fetch is
//! always the operator-signed image of the relay's entries.

use std::path::Path;

use assent_proto::allowlist::{AllowList, AllowListError};
use assent_proto::wire::Field;

use crate::admin::test_support::*;
use crate::admin::AdminError;
use crate::store::{Location, StateStore};

#[test]
fn added_viewer_is_listed_and_in_a_signed_list_that_verifies_under_the_operator_key() {
    let fx = Fixture::new();
    let out = fx.add_viewer(viewer_key(), "Ada Engineer");
    let fingerprint = viewer_key().fingerprint();
    assert!(
        out.contains(&format!("added viewer {fingerprint}")),
        "{out}"
    );
    assert!(out.contains("signed allowlist serial"), "{out}");

    let listing = fx.allowlist(&["list"]);
    assert!(listing.contains(&fingerprint.to_string()), "{listing}");
    assert!(listing.contains("Ada Engineer"), "{listing}");
    assert!(!listing.contains("EXPIRED"), "{listing}");
    assert!(!listing.contains("differs"), "{listing}");

    // What hosts fetch: signed by the operator, naming the viewer, with the
    // default expiry of a year and a list valid for 30 days.
    let signed = fx.signed_list();
    let entry = signed.check(&fingerprint, NOW).unwrap();
    assert_eq!(entry.name.as_str(), "Ada Engineer");
    assert_eq!(entry.expires_unix, NOW + 365 * DAY);
    assert_eq!(signed.expires_unix(), NOW + 30 * DAY);
    assert!(signed.issued_unix() <= NOW);
    assert_eq!(signed.operator(), operator_key().fingerprint());
}

#[test]
fn adding_a_listed_key_again_updates_its_entry_and_reissues_the_list() {
    let fx = Fixture::new();
    fx.add_viewer(viewer_key(), "Ada Engineer");
    let first_serial = fx.signed_list().serial();
    let out = fx.add_viewer(viewer_key(), "Ada Lovelace");
    assert!(out.contains("updated viewer"), "{out}");
    assert_eq!(fx.store.allowlist_entries().unwrap().len(), 1);
    let signed = fx.signed_list();
    assert!(signed.serial() > first_serial);
    assert_eq!(signed.entries().len(), 1);
    assert_eq!(signed.entries()[0].name.as_str(), "Ada Lovelace");
}

#[test]
fn removed_viewer_is_absent_from_the_reissued_signed_list_and_loses_its_locations() {
    let fx = Fixture::new();
    fx.add_viewer(viewer_key(), "Ada Engineer");
    fx.add_viewer(second_viewer_key(), "Bo Technician");
    let location = Location {
        viewer: viewer_key().fingerprint(),
        device_id: [7; 16],
        network: "203.0.113.0/24".into(),
    };
    fx.store.confirm_location(&location, NOW * 1000).unwrap();

    // Grouped hex, as `list` shows it.
    let grouped = viewer_key().fingerprint().to_string();
    let out = fx.allowlist(&["remove", &grouped]);
    assert!(out.contains("removed viewer"), "{out}");

    let signed = fx.signed_list();
    assert_eq!(
        signed.check(&viewer_key().fingerprint(), NOW).unwrap_err(),
        AllowListError::NotListed(viewer_key().fingerprint())
    );
    assert!(signed
        .check(&second_viewer_key().fingerprint(), NOW)
        .is_ok());
    assert!(!fx.store.is_location_confirmed(&location).unwrap());
    assert!(!fx.allowlist(&["list"]).contains("Ada Engineer"));
}

#[test]
fn removing_an_unknown_fingerprint_is_an_error_naming_it() {
    let fx = Fixture::new();
    let plain = hex::encode(viewer_key().fingerprint().as_bytes());
    let (result, _) = fx.allowlist_as(Some(operator_key()), &["remove", &plain]);
    let error = admin_error(result);
    assert!(matches!(error, AdminError::NotListed(fp) if fp == viewer_key().fingerprint()));
    assert!(error
        .to_string()
        .contains(&viewer_key().fingerprint().to_string()));
    assert!(fx.store.latest_signed_allowlist().unwrap().is_none());
}

#[test]
fn allowlist_changes_without_the_operator_key_are_refused_and_change_nothing() {
    let fx = Fixture::new();
    let key = fx.key_file(viewer_key());
    let add = add_args(&key, "Ada", "a@b.example", &[]);
    let (result, _) = fx.allowlist_as(None, &add);
    let error = admin_error(result);
    assert!(matches!(error, AdminError::OperatorKeyMissing));
    assert!(error
        .to_string()
        .contains("allowlist changes need the operator key: set operator_key in the config"));
    assert!(fx.store.allowlist_entries().unwrap().is_empty());

    fx.add_viewer(viewer_key(), "Ada");
    let serial = fx.signed_list().serial();
    let fingerprint = viewer_key().fingerprint().to_string();
    for args in [vec!["remove", fingerprint.as_str()], vec!["sign"]] {
        let (result, _) = fx.allowlist_as(None, &args);
        assert!(matches!(
            admin_error(result),
            AdminError::OperatorKeyMissing
        ));
    }
    assert_eq!(fx.store.allowlist_entries().unwrap().len(), 1);
    assert_eq!(fx.signed_list().serial(), serial);
}

#[test]
fn expiry_not_in_the_future_is_refused() {
    let fx = Fixture::new();
    let key = fx.key_file(viewer_key());
    // A past date, today's date (its midnight has passed) and a past time.
    for expires in ["2020-01-01", "2026-11-18", "2026-11-18T11:06:40Z"] {
        let args = add_args(&key, "Ada", "a@b.example", &["--expires", expires]);
        let (result, _) = fx.allowlist_as(Some(operator_key()), &args);
        let error = admin_error(result);
        assert!(
            matches!(error, AdminError::ExpiryNotInFuture { .. }),
            "{expires}: {error}"
        );
        assert!(error.to_string().contains("not in the future"));
    }
    assert!(fx.store.allowlist_entries().unwrap().is_empty());
    // A zero duration never parses.
    let zero = add_args(&key, "Ada", "a@b.example", &["--expires", "0d"]);
    assert!(parse(&[&["allowlist"], zero.as_slice()].concat()).is_err());
}

#[test]
fn expiry_date_ends_the_enrolment_at_midnight_utc_and_durations_count_from_now() {
    let fx = Fixture::new();
    let key = fx.key_file(viewer_key());
    let add = |expires: &str| {
        fx.allowlist(&add_args(
            &key,
            "Ada",
            "a@b.example",
            &["--expires", expires],
        ));
        fx.store
            .allowlist_entry(&viewer_key().fingerprint())
            .unwrap()
            .unwrap()
            .expires_unix
    };
    assert_eq!(add("2027-06-30"), 1_814_313_600);
    assert_eq!(add("2027-06-30T12:00:00+02:00"), 1_814_313_600 + 10 * 3600);
    assert_eq!(add("90d"), NOW + 90 * DAY);
    assert_eq!(add("2w"), NOW + 14 * DAY);
    assert!(fx.allowlist(&["list"]).contains("2026-12-02T11:06:40Z"));
}

#[test]
fn list_marks_expired_entries_and_prints_json_lines() {
    let mut fx = Fixture::new();
    let key = fx.key_file(viewer_key());
    fx.allowlist(&add_args(&key, "Ada", "a@b.example", &["--expires", "1h"]));
    fx.add_viewer(second_viewer_key(), "Bo");
    fx.now += 2 * 3600;

    let table = fx.allowlist(&["list"]);
    let ada = table.lines().find(|l| l.contains("Ada")).unwrap();
    assert!(ada.contains("EXPIRED"), "{table}");
    let bo = table.lines().find(|l| l.contains("Bo")).unwrap();
    assert!(!bo.contains("EXPIRED"), "{table}");

    let json = fx.allowlist(&["list", "--json"]);
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    let ada = rows.iter().find(|r| r["name"] == "Ada").unwrap();
    assert_eq!(ada["expired"], true);
    assert_eq!(ada["expires_unix"], NOW + 3600);
    assert_eq!(
        ada["fingerprint"],
        hex::encode(viewer_key().fingerprint().as_bytes())
    );
    assert_eq!(rows.iter().filter(|r| r["expired"] == false).count(), 1);
}

#[test]
fn list_warns_when_the_signed_list_lags_the_entries_or_has_expired() {
    let mut fx = Fixture::new();
    let listing = fx.allowlist(&["list"]);
    assert!(
        listing.contains("no signed list has been issued"),
        "{listing}"
    );

    fx.add_viewer(viewer_key(), "Ada");
    // An entry changed behind the signing step (e.g. signing failed).
    let mut entry = fx
        .store
        .allowlist_entry(&viewer_key().fingerprint())
        .unwrap()
        .unwrap();
    entry.name = text("Ada Renamed");
    fx.store.put_allowlist_entry(&entry).unwrap();
    assert!(fx.allowlist(&["list"]).contains("differs from the entries"));
    fx.allowlist(&["sign"]);
    assert!(!fx.allowlist(&["list"]).contains("differs from the entries"));

    fx.now += 31 * DAY;
    assert!(fx
        .allowlist(&["list"])
        .contains("EXPIRED and hosts refuse it"));
    fx.allowlist(&["sign", "--list-valid-for", "60d"]);
    assert_eq!(fx.signed_list().expires_unix(), fx.now + 60 * DAY);
}

#[test]
fn signing_with_another_operator_key_warns_that_pinned_hosts_will_refuse() {
    let fx = Fixture::new();
    fx.add_viewer(viewer_key(), "Ada");
    let (result, out) = fx.allowlist_as(Some(other_operator_key()), &["sign"]);
    result.unwrap();
    assert!(
        out.contains("hosts pinned to the old key will refuse"),
        "{out}"
    );
    let listing = fx.allowlist(&["list"]);
    assert!(listing.contains("does not verify under the configured operator key"));
}

#[test]
fn viewer_key_must_be_an_rsa4096_public_key_never_a_private_key() {
    let fx = Fixture::new();
    let dir = fx.dir.path();
    let private = dir.join("viewer.key");
    std::fs::write(&private, viewer_key().to_pkcs8_pem().as_bytes()).unwrap();
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a key").unwrap();
    let short = dir.join("short.pem");
    std::fs::write(&short, pem("PUBLIC KEY", &[0x30, 0x03, 0x02, 0x01, 0x01])).unwrap();
    let der = dir.join("viewer.der");
    std::fs::write(&der, viewer_key().public().spki_der()).unwrap();
    let add = |path: &Path| {
        let args = add_args(path.to_str().unwrap(), "Ada", "a@b.example", &[]);
        fx.allowlist_as(Some(operator_key()), &args).0
    };
    let problem = |path: &Path| match admin_error(add(path)) {
        AdminError::ViewerKey { problem, .. } => problem,
        other => panic!("{other}"),
    };
    assert!(problem(&private).contains("private key"));
    assert!(problem(&garbage).contains("PUBLIC KEY"));
    assert!(problem(&short).contains("not an RSA public key"));
    assert!(problem(&dir.join("missing.pem")).contains("No such file"));
    assert!(problem(dir).contains("not a regular file"));
    assert!(fx.store.allowlist_entries().unwrap().is_empty());
    // Raw SPKI DER is accepted too.
    add(&der).unwrap();
}

#[test]
fn names_and_emails_are_checked_before_anything_is_stored() {
    let fx = Fixture::new();
    let key = fx.key_file(viewer_key());
    let long_name = "n".repeat(129);
    for (name, email, field) in [
        ("  ", "a@b.example", "name"),
        (long_name.as_str(), "a@b.example", "name"),
        ("Ada\u{7}", "a@b.example", "name"),
        ("Ada", "not-an-address", "email"),
        ("Ada", "a b@c.example", "email"),
        ("Ada", "@c.example", "email"),
    ] {
        let (result, _) = fx.allowlist_as(Some(operator_key()), &add_args(&key, name, email, &[]));
        match admin_error(result) {
            AdminError::InvalidValue { field: got, .. } => assert_eq!(got, field, "{name:?}"),
            other => panic!("{other}"),
        }
    }
    assert!(fx.store.allowlist_entries().unwrap().is_empty());
}

#[test]
fn every_admin_command_has_consistent_help() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
    let mut command = Cli::command();
    let help = command
        .find_subcommand_mut("allowlist")
        .and_then(|c| c.find_subcommand_mut("add"))
        .unwrap()
        .render_long_help()
        .to_string();
    assert!(
        help.contains("PUBLIC KEY") && help.contains("2027-06-30"),
        "{help}"
    );
}

#[test]
fn signed_list_body_holds_every_entry_once_in_fingerprint_order() {
    let fx = Fixture::new();
    fx.add_viewer(second_viewer_key(), "Bo");
    fx.add_viewer(viewer_key(), "Ada");
    let stored = fx.store.latest_signed_allowlist().unwrap().unwrap();
    let list = AllowList::from_bytes(&stored.document.body).unwrap();
    let fingerprints: Vec<_> = list.entries.iter().map(|e| e.fingerprint()).collect();
    let mut sorted = fingerprints.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(fingerprints, sorted);
    assert_eq!(fingerprints.len(), 2);
    assert_eq!(stored.serial, list.serial);
}
