//! The relay's TLS identity (R2): the operator's certificate and key, or on
//! first start a generated self-signed certificate whose key is stored
//! owner-only. Its SHA-256 fingerprint is what hosts and viewers pin.

use std::path::Path;

use assent_net::CertFingerprint;
use assent_proto::secret_file;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsSource;

/// A loaded certificate chain and key.
pub struct RelayTls {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// SHA-256 of the end-entity certificate: give it to hosts and viewers.
    pub fingerprint: CertFingerprint,
    /// True when this start generated the certificate.
    pub generated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS certificate {}: {detail}", path.display())]
    Certificate {
        path: std::path::PathBuf,
        detail: String,
    },
    #[error("TLS key {}: {detail}", path.display())]
    Key {
        path: std::path::PathBuf,
        detail: String,
    },
    #[error(transparent)]
    SecretFile(#[from] secret_file::SecretFileError),
    #[error("could not generate a self-signed certificate: {0}")]
    Generate(String),
}

/// Largest PEM file accepted (a chain of a few certificates).
const PEM_MAX: u64 = 256 * 1024;

/// Loads the configured certificate, or creates the self-signed one.
pub fn load_or_create(source: &TlsSource, names: &[String]) -> Result<RelayTls, TlsError> {
    match source {
        TlsSource::Files { cert, key } => load(cert, key, false),
        TlsSource::SelfSigned { cert, key } => {
            if cert.exists() && key.exists() {
                load(cert, key, false)
            } else {
                generate(cert, key, names)?;
                load(cert, key, true)
            }
        }
    }
}

fn load(cert_path: &Path, key_path: &Path, generated: bool) -> Result<RelayTls, TlsError> {
    let cert_err = |detail: String| TlsError::Certificate {
        path: cert_path.to_path_buf(),
        detail,
    };
    let pem = std::fs::read(cert_path).map_err(|e| cert_err(e.to_string()))?;
    if pem.len() as u64 > PEM_MAX {
        return Err(cert_err(format!("larger than {PEM_MAX} bytes")));
    }
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(format!("not PEM certificates: {e}")))?;
    let leaf = chain
        .first()
        .ok_or_else(|| cert_err("contains no certificate".into()))?;
    let fingerprint = CertFingerprint::of(leaf);
    // The key is secret: owner-only, like every key file (R13).
    let key_pem = secret_file::read(key_path, PEM_MAX)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Key {
        path: key_path.to_path_buf(),
        detail: format!("not a PEM private key: {e}"),
    })?;
    Ok(RelayTls {
        chain,
        key,
        fingerprint,
        generated,
    })
}

fn generate(cert_path: &Path, key_path: &Path, names: &[String]) -> Result<(), TlsError> {
    let certified = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    let key_pem = zeroize::Zeroizing::new(certified.signing_key.serialize_pem());
    secret_file::write_new(key_path, key_pem.as_bytes())?;
    std::fs::write(cert_path, certified.cert.pem()).map_err(|e| TlsError::Certificate {
        path: cert_path.to_path_buf(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_generates_a_certificate_and_later_starts_reuse_it() {
        let dir = tempfile::tempdir().unwrap();
        let source = TlsSource::SelfSigned {
            cert: dir.path().join("relay-cert.pem"),
            key: dir.path().join("relay-key.pem"),
        };
        let first = load_or_create(&source, &["localhost".into()]).unwrap();
        assert!(first.generated);
        let again = load_or_create(&source, &["localhost".into()]).unwrap();
        assert!(!again.generated);
        assert_eq!(first.fingerprint, again.fingerprint);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("relay-key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn garbage_certificate_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        std::fs::write(&cert, b"not a certificate").unwrap();
        let key = dir.path().join("key.pem");
        secret_file::write_new(&key, b"nor a key").unwrap();
        let err = load_or_create(&TlsSource::Files { cert, key }, &[])
            .err()
            .expect("garbage refused");
        assert!(err.to_string().contains("contains no certificate"), "{err}");
    }
}
