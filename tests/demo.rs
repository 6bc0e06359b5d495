//! README command 1 runs a whole session; this proves it completes and that
//! the simulated relay never saw the password or the screen content.

use std::process::Command;

#[test]
fn demo_session_completes_and_the_relay_sees_no_plaintext() {
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
