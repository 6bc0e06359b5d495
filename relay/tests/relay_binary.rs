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
