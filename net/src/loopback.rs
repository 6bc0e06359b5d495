//! A QUIC connection on loopback between two ends in one process, for tests
//! and benches of what runs over a session's streams without a relay in
//! between (feature `test-support`). The relay forwards those streams'
//! bytes unchanged, so leaving it out changes nothing they carry.

use std::net::{Ipv4Addr, SocketAddr};

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::{
    client_config, client_endpoint, connect, server_config, server_endpoint, CertFingerprint,
    ConnectionLimits, RelayTrust,
};

/// Both ends of one loopback connection: the viewer dials, the host accepts.
pub struct LoopbackPair {
    pub viewer: quinn::Connection,
    pub host: quinn::Connection,
    /// The connections live only as long as their endpoints.
    _endpoints: [quinn::Endpoint; 2],
}

impl LoopbackPair {
    /// Connects over a fresh self-signed certificate the viewer pins.
    /// Panics on failure: it is test set-up.
    pub async fn connect() -> Self {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()])
            .expect("a self-signed test certificate");
        let cert = certified.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let config = server_config(vec![cert.clone()], key, &ConnectionLimits::default())
            .expect("the test server's configuration");
        let server = server_endpoint(loopback, config).expect("a loopback server endpoint");
        let addr = server.local_addr().expect("the server's address");
        let accepting = server.clone();
        let accepted = tokio::spawn(async move {
            accepting
                .accept()
                .await
                .expect("an incoming connection")
                .await
                .expect("the connection's handshake")
        });
        let client = client_endpoint(loopback).expect("a loopback client endpoint");
        let trust = RelayTrust::Pinned(CertFingerprint::of(&cert));
        let viewer = connect(
            &client,
            addr,
            "localhost",
            client_config(trust).expect("the test client's configuration"),
        )
        .await
        .expect("the loopback connection");
        Self {
            viewer,
            host: accepted.await.expect("the accepting task"),
            _endpoints: [server, client],
        }
    }
}
