//! Handshakes over real QUIC on loopback: who the client trusts (R2), which
//! protocol it speaks, and that a client endpoint accepts nothing (R1).

use rustls::sign::{CertifiedKey, SingleCertAndKey};

use super::*;
use crate::test_support::{accept_one, addr, bounded, client, relay_with, self_signed, TestCa};
use crate::CertFingerprint;

const SHORT: Duration = Duration::from_millis(1500);

/// Connects a fresh client to `relay` as "localhost", trusting it by `trust`.
async fn connect_trusting(
    relay: &quinn::Endpoint,
    trust: RelayTrust,
) -> Result<quinn::Connection, NetError> {
    let config = client_config(trust).unwrap();
    connect_within(&client(), addr(relay), "localhost", config, SHORT).await
}

async fn connect_pinned(
    relay: &quinn::Endpoint,
    pin: CertFingerprint,
) -> Result<quinn::Connection, NetError> {
    connect_trusting(relay, RelayTrust::Pinned(pin)).await
}

#[tokio::test]
async fn pinned_relay_certificate_is_accepted() {
    bounded(async {
        let relay_cert = self_signed();
        let pin = CertFingerprint::of(&relay_cert.cert);
        let relay = relay_with(vec![relay_cert.cert], relay_cert.key);
        let server = accept_one(&relay);

        let connection = connect_pinned(&relay, pin).await.unwrap();
        assert_eq!(negotiated_alpn(&connection).as_deref(), Some(ALPN));

        let accepted = server.await.unwrap().unwrap().unwrap();
        assert_eq!(negotiated_alpn(&accepted).as_deref(), Some(ALPN));
    })
    .await
}

#[tokio::test]
async fn wrong_pin_is_refused_with_a_clear_error() {
    bounded(async {
        let relay_cert = self_signed();
        let actual = CertFingerprint::of(&relay_cert.cert);
        let pin = CertFingerprint::of(&self_signed().cert);
        let relay = relay_with(vec![relay_cert.cert], relay_cert.key);
        let server = accept_one(&relay);

        let error = connect_pinned(&relay, pin).await.unwrap_err();
        match &error {
            NetError::RelayCertificateMismatch { expected, got } => {
                assert_eq!((*expected, *got), (pin, actual));
            }
            other => panic!("expected a pin mismatch, got {other:?}"),
        }
        let message = error.to_string();
        assert!(message.contains(&actual.to_string()), "{message}");
        assert!(message.contains(&pin.to_string()), "{message}");
        assert!(
            message.contains("check the fingerprint the operator gave you"),
            "{message}"
        );
        // The relay sees the handshake fail too: nothing was established.
        assert!(server.await.unwrap().unwrap().is_err());
    })
    .await
}

/// A relay that presents someone else's certificate with its own key, as a
/// thief of the certificate (but not the key) would. The rustls builder
/// refuses such a pair, so the test builds the server by hand.
fn relay_with_stolen_certificate(
    cert: CertificateDer<'static>,
    wrong_key: PrivateKeyDer<'static>,
) -> quinn::Endpoint {
    let provider = provider();
    let signing_key = provider.key_provider.load_private_key(wrong_key).unwrap();
    let resolver = SingleCertAndKey::from(CertifiedKey::new(vec![cert], signing_key));
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = QuicServerConfig::try_from(tls).unwrap();
    let config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    server_endpoint(crate::test_support::LOOPBACK, config).unwrap()
}

#[tokio::test]
async fn pinned_certificate_presented_without_its_key_is_refused() {
    bounded(async {
        let genuine = self_signed();
        let pin = CertFingerprint::of(&genuine.cert);
        let relay = relay_with_stolen_certificate(genuine.cert, self_signed().key);
        let _server = accept_one(&relay);

        let error = connect_pinned(&relay, pin).await.unwrap_err();
        assert!(
            matches!(error, NetError::RelayCertificateUntrusted { .. }),
            "{error:?}"
        );
    })
    .await
}

#[tokio::test]
async fn operator_ca_signed_relay_is_accepted() {
    bounded(async {
        let ca = TestCa::new("Assent test operator CA");
        let leaf = ca.issue("localhost");
        let relay = relay_with(vec![leaf.cert], leaf.key);
        let server = accept_one(&relay);

        let connection = connect_trusting(&relay, RelayTrust::OperatorCa(vec![ca.cert()]))
            .await
            .unwrap();
        assert_eq!(negotiated_alpn(&connection).as_deref(), Some(ALPN));
        assert!(server.await.unwrap().unwrap().is_ok());
    })
    .await
}

#[tokio::test]
async fn certificate_from_another_ca_is_refused() {
    bounded(async {
        let trusted = TestCa::new("Assent test operator CA");
        let other = TestCa::new("Somebody else's CA");
        let leaf = other.issue("localhost");
        let relay = relay_with(vec![leaf.cert, other.cert()], leaf.key);
        let _server = accept_one(&relay);

        let error = connect_trusting(&relay, RelayTrust::OperatorCa(vec![trusted.cert()]))
            .await
            .unwrap_err();
        match &error {
            NetError::RelayCertificateUntrusted { reason } => {
                assert!(reason.contains("UnknownIssuer"), "{reason}");
            }
            other => panic!("expected an untrusted certificate, got {other:?}"),
        }
    })
    .await
}

#[tokio::test]
async fn operator_ca_certificate_for_another_name_is_refused() {
    bounded(async {
        let ca = TestCa::new("Assent test operator CA");
        let leaf = ca.issue("other-relay.example");
        let relay = relay_with(vec![leaf.cert], leaf.key);
        let _server = accept_one(&relay);

        let error = connect_trusting(&relay, RelayTrust::OperatorCa(vec![ca.cert()]))
            .await
            .unwrap_err();
        assert!(
            matches!(error, NetError::RelayCertificateUntrusted { .. }),
            "{error:?}"
        );
    })
    .await
}

#[tokio::test]
async fn client_with_other_alpn_is_refused() {
    bounded(async {
        let relay_cert = self_signed();
        let pin = CertFingerprint::of(&relay_cert.cert);
        let relay = relay_with(vec![relay_cert.cert], relay_cert.key);
        let server = accept_one(&relay);

        let config = client_config_with_alpn(RelayTrust::Pinned(pin), b"other/1").unwrap();
        let error = connect_within(&client(), addr(&relay), "localhost", config, SHORT)
            .await
            .unwrap_err();
        assert!(matches!(error, NetError::AlpnRefused), "{error:?}");
        assert!(server.await.unwrap().unwrap().is_err());
    })
    .await
}

#[tokio::test]
async fn client_endpoint_accepts_no_incoming_connections() {
    bounded(async {
        // R1: a host's endpoint. Were it a server (with any certificate),
        // the attempt below would complete or fail on the certificate.
        let host = client();
        let would_be_caller = client();
        let config = client_config(RelayTrust::Pinned(CertFingerprint([0; 32]))).unwrap();
        let accepted = tokio::spawn({
            let host = host.clone();
            async move { tokio::time::timeout(SHORT, host.accept()).await }
        });

        let error = connect_within(&would_be_caller, addr(&host), "localhost", config, SHORT)
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                NetError::ConnectTimeout { .. } | NetError::Connection(_)
            ),
            "{error:?}"
        );
        // Nothing surfaced on the host side either.
        assert!(!matches!(accepted.await.unwrap(), Ok(Some(_))));
    })
    .await
}

#[tokio::test]
async fn silent_relay_address_gives_a_connect_timeout() {
    bounded(async {
        // A UDP socket that never answers stands in for a blocked or dead relay.
        let silent = std::net::UdpSocket::bind(crate::test_support::LOOPBACK).unwrap();
        let relay = silent.local_addr().unwrap();
        let config = client_config(RelayTrust::Pinned(CertFingerprint([0; 32]))).unwrap();
        let error = connect_within(
            &client(),
            relay,
            "localhost",
            config,
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(error, NetError::ConnectTimeout { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("UDP"), "{error}");
    })
    .await
}

#[test]
fn server_key_not_matching_its_certificate_is_refused() {
    let cert = self_signed().cert;
    let other_key = self_signed().key;
    let result = server_config(vec![cert], other_key, &ConnectionLimits::default());
    assert!(matches!(result, Err(NetError::InvalidServerCertificate(_))));
}

#[test]
fn out_of_range_connection_limits_are_refused() {
    let base = ConnectionLimits::default();
    let broken = [
        ConnectionLimits {
            idle_timeout: Duration::ZERO,
            ..base.clone()
        },
        ConnectionLimits {
            stream_receive_window: 0,
            ..base.clone()
        },
        ConnectionLimits {
            stream_receive_window: base.connection_receive_window + 1,
            ..base.clone()
        },
        ConnectionLimits {
            max_pending_handshakes: 0,
            ..base.clone()
        },
    ];
    for limits in broken {
        assert!(
            matches!(limits.transport(false), Err(NetError::InvalidLimits(_))),
            "{limits:?}"
        );
    }
    assert!(base.transport(true).is_ok());
}

#[test]
fn client_binds_the_unspecified_address_of_the_relays_family_on_port_zero() {
    let v4: SocketAddr = "192.0.2.1:443".parse().unwrap();
    let v6: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
    assert_eq!(ephemeral_bind_addr(v4), "0.0.0.0:0".parse().unwrap());
    assert_eq!(ephemeral_bind_addr(v6), "[::]:0".parse().unwrap());
}

/// The kernel's cap on a socket buffer a process may ask for.
fn kernel_cap(name: &str) -> usize {
    std::fs::read_to_string(format!("/proc/sys/net/core/{name}"))
        .expect("read the kernel's socket buffer cap")
        .trim()
        .parse()
        .expect("a number")
}

#[cfg(target_os = "linux")]
#[test]
fn endpoint_sockets_ask_for_large_buffers_up_to_the_kernels_cap() {
    let socket = socket2::Socket::from(bind_udp("127.0.0.1:0".parse().unwrap(), false).unwrap());
    // Linux reports twice what was granted (its bookkeeping overhead).
    let wanted = |cap: usize| 2 * UDP_BUFFER_BYTES.min(cap);
    assert!(socket.recv_buffer_size().unwrap() >= wanted(kernel_cap("rmem_max")));
    assert!(socket.send_buffer_size().unwrap() >= wanted(kernel_cap("wmem_max")));
}
