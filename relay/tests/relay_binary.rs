//! The `assent-relay` binary as an operator runs it: first start creates its
//! keys and prints the certificate fingerprint, clients pinning it get in,
//! SIGTERM stops it cleanly, and the audit log verifies afterwards.

mod support;

use std::process::Command;
use std::time::Duration;

use assent_net::{client_config, client_endpoint, connect, framed, RelayTrust};
use assent_proto::messages::signalling::{ClientRole, RelayChallenge, RelayHello};
use assent_proto::wire::Text;

#[test]
fn relay_starts_prints_its_pin_serves_pinned_clients_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let support::RelayProcess {
        mut child,
        address: support::RelayAddress { addr, pin },
        ..
    } = support::RelayProcess::spawn(dir.path());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for secret in ["data.key", "relay-key.pem", "relay.db"] {
            let mode = std::fs::metadata(dir.path().join(secret))
                .unwrap_or_else(|e| panic!("{secret}: {e}"))
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{secret} is readable by others");
        }
    }

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let endpoint = client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
        let config = client_config(RelayTrust::Pinned(pin)).unwrap();
        let connection = tokio::time::timeout(
            Duration::from_secs(10),
            connect(&endpoint, addr, "localhost", config),
        )
        .await
        .unwrap()
        .expect("pinned client connects");
        let (send, recv) = connection.open_bi().await.unwrap();
        let (mut send, mut recv) = framed(send, recv);
        send.send(&RelayHello {
            role: ClientRole::Host,
            software_version: Text::new("test").unwrap(),
        })
        .await
        .unwrap();
        let frame = recv.recv().await.unwrap().unwrap();
        let _: RelayChallenge = frame.decode().expect("relay answers with a challenge");
    });

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "relay did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(exit.success(), "relay exited with {exit}");

    let verify = Command::new(env!("CARGO_BIN_EXE_assent-relay"))
        .args(["audit", "verify"])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "audit verify failed: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[test]
fn release_keygen_writes_an_owner_only_key_and_its_public_half_and_never_replaces_them() {
    let dir = tempfile::tempdir().unwrap();
    let keygen = || {
        Command::new(env!("CARGO_BIN_EXE_assent-relay"))
            .args(["release", "keygen", "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let first = keygen();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let stdout = String::from_utf8(first.stdout).unwrap();
    let printed = stdout
        .lines()
        .find_map(|l| l.strip_prefix("release key fingerprint: "))
        .expect("the fingerprint is printed");
    let key_path = dir.path().join("release.key");
    let key = assent_proto::identity::Identity::load(&key_path).expect("an owner-only key");
    assert_eq!(printed, hex::encode(key.fingerprint().0));
    let public = std::fs::read(dir.path().join("release.pub.pem")).unwrap();
    let public = assent_proto::identity::PublicIdentity::from_spki_pem_or_der(&public).unwrap();
    assert_eq!(public.fingerprint(), key.fingerprint());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "release.key is readable by others");
    }

    let before = std::fs::read(&key_path).unwrap();
    let second = keygen();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&key_path).unwrap(), before);
}
