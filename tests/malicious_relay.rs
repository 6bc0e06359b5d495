//! The malicious-relay conformance suite (R3, R6, R10, R21; issue 12): the
//! real host (on Xvfb) and the real headless viewer talk through
//! [`HostileRelay`], a man in the middle holding the relay's own certificate
//! and key, in front of the real relay. Each test makes it attack one way;
//! every test ends by checking, on all the ciphertext it forwarded, that no
//! two sealed records share a (key, nonce) and no known plaintext crossed.

mod support;

use std::sync::Mutex;

use assent_proto::messages::signalling::ChannelKind;
use support::hostile_relay::HostileRelay;
use support::lab::{Lab, Proc};

/// Sessions are heavy (relay, host, viewer, Xvfb, argon2id): one at a time.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A lab whose host and viewer reach the relay only through a hostile one.
fn lab_behind_hostile_relay() -> (Lab, HostileRelay) {
    let mut lab = support::lab("DxH 900");
    let proxy = HostileRelay::start(&lab);
    lab.route_clients_through(&proxy.addr).unwrap();
    (lab, proxy)
}

/// The technician's prompts, answered in one place: waits for the next
/// prompt from line `from` on, checks it asks for `what`, answers `y`, and
/// returns the line after it.
fn approve(host: &mut Proc, from: usize, what: &str) -> usize {
    let (at, prompt) = host.wait_for_from(from, ">>> ");
    assert!(
        prompt.contains(what),
        "expected a prompt for {what}: {prompt}"
    );
    host.type_line("y");
    at + 1
}

/// Approves each of `capabilities` (labels as the host prints them) in the
/// order the viewer asks for them.
fn approve_all(host: &mut Proc, capabilities: &[&str]) -> usize {
    let mut from = 0;
    let mut left: Vec<&str> = capabilities.to_vec();
    while !left.is_empty() {
        let (at, prompt) = host.wait_for_from(from, ">>> ");
        let i = left
            .iter()
            .position(|c| prompt.contains(&format!("asks for {c}")))
            .unwrap_or_else(|| panic!("unexpected prompt: {prompt}"));
        left.remove(i);
        host.type_line("y");
        from = at + 1;
    }
    from
}

/// Keys the panel says it received, in order.
fn keys_typed(panel: &Proc) -> Vec<String> {
    panel
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("key "))
        .collect()
}

/// Contents no relay may see: long enough not to turn up by chance.
fn secret_file(lab: &Lab, name: &str, marker: &str) -> (std::path::PathBuf, Vec<u8>) {
    let path = lab.path(name);
    let content = format!("{marker}: patient 0042, lot 4711, result 7.35 mmol/L\n").repeat(200);
    std::fs::write(&path, &content).unwrap();
    (path, content.into_bytes())
}

#[test]
fn duplicate_channels_of_every_kind_are_refused_and_replayed_records_never_act() {
    let _one = one_at_a_time();
    let (lab, proxy) = lab_behind_hostile_relay();
    let panel = lab.instrument_panel(true).unwrap();
    let (upload, upload_bytes) = secret_file(&lab, "qc-upload.csv", "engineer to host");
    let (download, download_bytes) = secret_file(&lab, "qc-download.csv", "host to engineer");
    let downloads = lab.path("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let (mut host, password) = lab.support(&[]);
    let mut viewer = lab.viewer(
        &password,
        &[
            "--request",
            "screen",
            "--type",
            "ab",
            "--send",
            upload.to_str().unwrap(),
            "--download-dir",
            downloads.to_str().unwrap(),
            "--receive",
            "1",
        ],
    );
    let from = approve_all(
        &mut host,
        &["SCREEN VIEW", "REMOTE CONTROL", "FILE TRANSFER"],
    );
    approve(&mut host, from, "sends the file \"qc-upload.csv\"");
    host.wait_for("received qc-upload.csv");
    panel.wait_for("key 98 b");

    // Every kind of channel once more, each with the viewer's records on it.
    let kinds = [
        ChannelKind::Control,
        ChannelKind::Screen,
        ChannelKind::Input,
        ChannelKind::Files,
        ChannelKind::Notifications,
    ];
    let duplicates = proxy.open_duplicates(&kinds);
    for duplicate in &duplicates {
        assert!(
            duplicate.ended && duplicate.served.is_empty(),
            "the host served a duplicate {:?} channel: {:?}",
            duplicate.channel,
            duplicate.served
        );
    }
    let replayed: usize = duplicates.iter().map(|d| d.replayed).sum();
    assert!(
        replayed >= 4,
        "too little was replayed to prove anything: {duplicates:?}"
    );

    // The honest session goes on: the technician's file still reaches the engineer.
    host.type_line(&format!("send {}", download.display()));
    viewer.wait_for("file received: qc-download.csv");
    assert!(viewer.wait_exit().success(), "{}", viewer.stderr_text());
    host.wait_for("Session ended");

    assert_eq!(
        keys_typed(&panel),
        ["key 97 a", "key 98 b"],
        "replayed keys were typed"
    );
    let received: Vec<_> = std::fs::read_dir(lab.host_dir().join("received"))
        .unwrap()
        .collect();
    assert_eq!(
        received.len(),
        1,
        "the replayed upload landed again: {received:?}"
    );
    let audit = lab
        .audit(&["--host", &lab.host_id, "--kind", "session_tampering"])
        .unwrap();
    for kind in ["Control", "Screen", "Input", "Files", "Notifications"] {
        assert!(
            audit.contains(&format!("{kind} channel is already open")),
            "no session_tampering record for {kind}:\n{audit}"
        );
    }
    proxy.ledger().assert_clean(&[
        &upload_bytes[..64],
        &download_bytes[..64],
        password.as_bytes(),
    ]);
}
