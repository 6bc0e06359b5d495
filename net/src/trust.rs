//! How clients decide to trust a relay (R2): either the SHA-256 fingerprint
//! of its certificate, pinned out of band, or the operator's own CA.
//! Verification is never skipped; this module has no "accept anything" mode.
//!
//! Pinning checks the certificate bytes *and* the TLS 1.3 handshake
//! signature made with that certificate's key, so a copied certificate
//! without its private key is useless. Pinning deliberately ignores the
//! server name and validity dates: the pin is the whole trust decision, like
//! an SSH host key, and the operator rotates it by handing out a new one.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use assent_proto::identity::Fingerprint;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::NetError;

#[cfg(test)]
mod tests;

/// SHA-256 of the relay's end-entity certificate DER: what the operator
/// hands out and clients pin.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertFingerprint(pub [u8; 32]);

impl CertFingerprint {
    /// Fingerprint of a DER-encoded certificate.
    pub fn of(cert_der: &[u8]) -> Self {
        Self(Sha256::digest(cert_der).into())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Compares without an early exit. A relay certificate is public, so this
    /// is defence in depth, not a secret comparison (`subtle` is not a
    /// dependency of this crate; the fold does the same job here).
    fn matches(&self, other: &Self) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

// Same text form as identity fingerprints (R4), so people read both the
// same way; the types stay apart because they hash different things.
impl fmt::Display for CertFingerprint {
    /// Lowercase hex in 16 groups of 4.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Fingerprint(self.0), f)
    }
}

impl fmt::Debug for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertFingerprint({self})")
    }
}

/// A fingerprint string that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("relay certificate {0}")]
pub struct InvalidCertFingerprint(String);

impl FromStr for CertFingerprint {
    type Err = InvalidCertFingerprint;

    /// Accepts grouped, plain or colon-separated hex in either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<Fingerprint>()
            .map(|fp| Self(fp.0))
            .map_err(|e| InvalidCertFingerprint(e.to_string()))
    }
}

/// What a host or viewer trusts the relay by (R2).
#[derive(Debug, Clone)]
pub enum RelayTrust {
    /// Exactly the certificate with this SHA-256 fingerprint.
    Pinned(CertFingerprint),
    /// Any certificate for the relay's name chaining to one of these CA
    /// certificates (standard WebPKI rules: name, dates, key usage).
    OperatorCa(Vec<CertificateDer<'static>>),
}

/// The process-independent provider every config in this crate uses: `ring`
/// only, never a process default (PLATFORM-NOTES gotcha 1).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificate verifier a client uses for `trust`.
pub(crate) fn verifier_for(
    trust: RelayTrust,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, NetError> {
    match trust {
        RelayTrust::Pinned(pin) => Ok(Arc::new(PinnedRelayVerifier {
            pin,
            algorithms: provider.signature_verification_algorithms,
        })),
        RelayTrust::OperatorCa(roots) => {
            let mut store = RootCertStore::empty();
            for root in roots {
                store
                    .add(root)
                    .map_err(|e| NetError::InvalidOperatorCa(e.to_string()))?;
            }
            if store.is_empty() {
                return Err(NetError::InvalidOperatorCa(
                    "no CA certificate given".into(),
                ));
            }
            let verifier =
                WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                    .build()
                    .map_err(|e| NetError::InvalidOperatorCa(e.to_string()))?;
            Ok(verifier)
        }
    }
}

/// Accepts only the pinned end-entity certificate, and only with a valid
/// TLS 1.3 signature by its key.
#[derive(Debug)]
struct PinnedRelayVerifier {
    pin: CertFingerprint,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedRelayVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = CertFingerprint::of(end_entity.as_ref());
        if got.matches(&self.pin) {
            return Ok(ServerCertVerified::assertion());
        }
        tracing::warn!(expected = %self.pin, %got, "relay certificate does not match the pin");
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(PinMismatch {
                expected: self.pin,
                got,
            })),
        )))
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Configs here offer TLS 1.3 only; refuse rather than trust a 1.2 path.
        Err(rustls::PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig.into())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The pin mismatch, as it travels through rustls and quinn. quinn keeps
/// only the error's text, so the text is the carrier: [`PinMismatch::find`]
/// reads it back into [`NetError::RelayCertificateMismatch`].
struct PinMismatch {
    expected: CertFingerprint,
    got: CertFingerprint,
}

const MISMATCH_PREFIX: &str = "relay certificate fingerprint ";
const MISMATCH_MIDDLE: &str = " does not match the pinned ";
const MISMATCH_SUFFIX: &str = "; check the fingerprint the operator gave you";

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{MISMATCH_PREFIX}{}{MISMATCH_MIDDLE}{}{MISMATCH_SUFFIX}",
            self.got, self.expected
        )
    }
}

/// rustls shows certificate errors with `Debug`, so `Debug` says the same.
impl fmt::Debug for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for PinMismatch {}

impl PinMismatch {
    /// Finds a mismatch in a TLS error text (which rustls may prefix).
    fn find(text: &str) -> Option<Self> {
        let (_, rest) = text.split_once(MISMATCH_PREFIX)?;
        let (got, rest) = rest.split_once(MISMATCH_MIDDLE)?;
        let (expected, _) = rest.split_once(MISMATCH_SUFFIX)?;
        Some(Self {
            expected: expected.parse().ok()?,
            got: got.parse().ok()?,
        })
    }
}

/// The [`NetError::RelayCertificateMismatch`] described in a TLS error text, if any.
pub(crate) fn pin_mismatch_in(text: &str) -> Option<NetError> {
    PinMismatch::find(text).map(|m| NetError::RelayCertificateMismatch {
        expected: m.expected,
        got: m.got,
    })
}
