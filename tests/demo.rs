//! README command 1 runs a whole session through the real programs; these
//! prove it completes, and that the protocol core's in-process example (a
//! simulated blind relay) never sees the password or the screen content.

mod support;

use std::process::Command;

#[test]
fn in_process_example_session_completes_and_the_relay_sees_no_plaintext() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "run",
            "--quiet",
            "-p",
            "assent-proto",
            "--example",
            "loopback_session",
        ])
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "host: password locked for 5 s after 1 failure",
        "viewer sees: ANALYSER READY",
        "remote control is Denied(TimedOut)",
        "control allowed? false",
        "contains the password? false; contains the screen text? false",
        "6 sealed records verify",
        "audit record 2: cannot be decrypted",
    ] {
        assert!(
            stdout.contains(expected),
            "demo output lacks {expected:?}:\n{stdout}"
        );
    }
}

#[test]
fn the_demo_runs_a_consented_session_through_the_real_programs() {
    // The demo finds the other programs beside itself: build them.
    support::binary("assent-relay");
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_assent-demo"))
        .args(["--yes", "--headless", "--seconds", "5", "--out"])
        .arg(out_dir.path())
        .env_remove("DISPLAY")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run assent-demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "[viewer] granted: screen view",
        "[viewer] granted: remote control",
        "[viewer] typed",
        "consent_decision",
        "session_started",
    ] {
        assert!(
            stdout.contains(expected),
            "demo output lacks {expected:?}:\n{stdout}"
        );
    }
    assert!(out_dir.path().join("screen.png").exists());
}
