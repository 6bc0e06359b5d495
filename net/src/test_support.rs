//! Test fixtures: rcgen certificates and a relay endpoint on loopback.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::{client_endpoint, server_config, server_endpoint, ConnectionLimits};

/// Longest any one test may run; nothing hangs.
pub const TEST_LIMIT: Duration = Duration::from_secs(20);

/// Runs a test body, failing it if it takes longer than [`TEST_LIMIT`].
pub async fn bounded<T>(body: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_LIMIT, body)
        .await
        .expect("test exceeded its time limit")
}

pub const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// A certificate and its private key.
pub struct CertAndKey {
    pub cert: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
}

fn key_der(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()))
}

/// A self-signed certificate for `localhost`, as a pinned relay would have.
pub fn self_signed() -> CertAndKey {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("self-signed cert");
    CertAndKey {
        cert: certified.cert.der().clone(),
        key: key_der(&certified.signing_key),
    }
}

/// An operator CA that can issue relay certificates.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        Self {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA cert"),
        }
    }

    pub fn cert(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A relay certificate for `name`, signed by this CA.
    pub fn issue(&self, name: &str) -> CertAndKey {
        let params = CertificateParams::new(vec![name.to_string()]).expect("leaf params");
        let key = KeyPair::generate().expect("leaf key");
        let issuer: &rcgen::Issuer<'static, KeyPair> = &self.issuer;
        let cert = params.signed_by(&key, issuer).expect("leaf cert");
        CertAndKey {
            cert: cert.der().clone(),
            key: key_der(&key),
        }
    }
}

/// A relay endpoint on an ephemeral loopback port presenting `chain`.
pub fn relay_with(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> quinn::Endpoint {
    let config = server_config(chain, key, &ConnectionLimits::default()).expect("server config");
    server_endpoint(LOOPBACK, config).expect("relay endpoint")
}

pub fn client() -> quinn::Endpoint {
    client_endpoint(LOOPBACK).expect("client endpoint")
}

pub fn addr(endpoint: &quinn::Endpoint) -> SocketAddr {
    endpoint.local_addr().expect("local addr")
}

/// Accepts one connection in the background; the handle yields the
/// server-side outcome of the handshake.
pub fn accept_one(
    relay: &quinn::Endpoint,
) -> tokio::task::JoinHandle<Option<Result<quinn::Connection, quinn::ConnectionError>>> {
    let relay = relay.clone();
    tokio::spawn(async move {
        let incoming = relay.accept().await?;
        Some(incoming.await)
    })
}
