//! RSA-4096 identities (R4): every host device, viewer and operator holds one
//! key pair, generated once at enrolment. This module owns the key types, the
//! SHA-256 fingerprints people compare out of band, RSA-PSS-SHA256 signatures
//! with domain separation, and the key file on disk (mode 0600, written
//! atomically, never overwritten).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rand_core::CryptoRngCore;
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::pss::{BlindedSigningKey, Signature, VerifyingKey};
use rsa::signature::{DigestVerifier, RandomizedDigestSigner, SignatureEncoding};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::wire::{DecodeError, Field, Reader};

/// Modulus size of every Assent key; nothing smaller or larger is accepted.
pub const RSA_BITS: usize = 4096;
/// Length of an RSA-4096 signature.
pub const SIGNATURE_LEN: usize = RSA_BITS / 8;
/// Length of the canonical SPKI DER of an RSA-4096 key with e = 65537
/// (rsaEncryption, NULL parameters); every valid identity has exactly this.
pub const SPKI_DER_LEN: usize = 550;
/// Wire bound for an encoded public key; a little headroom over [`SPKI_DER_LEN`]
/// so a peer with a wrong key gets a clear "not RSA-4096" rather than "too long".
pub const SPKI_DER_MAX: usize = 1024;
/// The only public exponent accepted.
const PUBLIC_EXPONENT: u32 = 65_537;
/// Largest key file `load` will read; a PKCS#8 PEM of RSA-4096 is about 3.3 KiB.
const KEY_FILE_MAX: u64 = 64 * 1024;

/// Why a key could not be created, read, used or stored.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("RSA-4096 key generation failed; check the system random number generator")]
    Generate,
    #[error("key is RSA-{bits}; Assent identities must be RSA-4096 — enrol a new RSA-4096 key")]
    KeyNotRsa4096 { bits: usize },
    #[error("invalid key: {0}")]
    InvalidKey(String),
    #[error("signature does not verify for this identity")]
    BadSignature,
    #[error(
        "key file {} has mode {mode:04o}; it must be readable by its owner only: chmod 600 {}",
        path.display(),
        path.display()
    )]
    InsecurePermissions { path: PathBuf, mode: u32 },
    #[error("key file {} already exists; refusing to overwrite an identity (move it away first)", .0.display())]
    AlreadyExists(PathBuf),
    #[error("key file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid fingerprint: {0}; expected 64 hex digits (spaces, ':' and '-' allowed)")]
    InvalidFingerprint(String),
}

/// SHA-256 of an identity's SPKI DER: what people compare out of band and what
/// allowlists and pinned host keys name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Fingerprint of SPKI DER bytes.
    pub fn of_spki_der(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    /// Lowercase hex in 16 groups of 4, so people can read it aloud in chunks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, pair) in self.0.chunks(2).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            for byte in pair {
                write!(f, "{byte:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Fingerprint {
    type Err = IdentityError;

    /// Accepts grouped or plain hex in either case; ' ', ':' and '-' are ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        let mut nibbles = 0usize;
        for c in s.chars().filter(|c| !matches!(c, ' ' | ':' | '-')) {
            let value = c.to_digit(16).ok_or_else(|| {
                IdentityError::InvalidFingerprint(format!("{c:?} is not a hex digit"))
            })? as u8;
            if nibbles >= 64 {
                return Err(IdentityError::InvalidFingerprint(
                    "more than 64 hex digits".into(),
                ));
            }
            out[nibbles / 2] |= if nibbles.is_multiple_of(2) {
                value << 4
            } else {
                value
            };
            nibbles += 1;
        }
        if nibbles != 64 {
            return Err(IdentityError::InvalidFingerprint(format!(
                "{nibbles} hex digits"
            )));
        }
        Ok(Self(out))
    }
}

impl Field for Fingerprint {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self(r.array()?))
    }
}

/// The hash fed to RSA-PSS: `context || 0x00 || message`, so a signature made
/// for one purpose (a handshake, an allowlist) can never be replayed as another.
fn domain_separated(context: &str, message: &[u8]) -> Sha256 {
    // Contexts are constants in our code; a NUL inside one would blur the separation.
    debug_assert!(!context.contains('\0'), "signature context contains NUL");
    Sha256::new()
        .chain_update(context.as_bytes())
        .chain_update([0u8])
        .chain_update(message)
}

/// Refuses anything but a 4096-bit modulus with e = 65537.
fn check_rsa4096(key: &RsaPublicKey) -> Result<(), IdentityError> {
    let bits = key.n().bits();
    if bits != RSA_BITS {
        return Err(IdentityError::KeyNotRsa4096 { bits });
    }
    if *key.e() != BigUint::from(PUBLIC_EXPONENT) {
        return Err(IdentityError::InvalidKey(format!(
            "public exponent must be {PUBLIC_EXPONENT}"
        )));
    }
    Ok(())
}

/// Someone's public key: enough to verify their signatures and name them.
#[derive(Clone)]
pub struct PublicIdentity {
    key: RsaPublicKey,
    spki_der: Vec<u8>,
    fingerprint: Fingerprint,
}

impl PublicIdentity {
    /// Parses and validates an SPKI DER public key: RSA, exactly 4096 bits,
    /// e = 65537, canonical encoding (so one key has one fingerprint).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, IdentityError> {
        if der.len() > SPKI_DER_MAX {
            return Err(IdentityError::InvalidKey(format!(
                "public key of {} bytes exceeds {SPKI_DER_MAX}",
                der.len()
            )));
        }
        let key = RsaPublicKey::from_public_key_der(der)
            .map_err(|e| IdentityError::InvalidKey(format!("not an RSA public key: {e}")))?;
        check_rsa4096(&key)?;
        Self::from_key(key, Some(der))
    }

    /// Builds from a checked key; if `der` is given it must be the canonical encoding.
    fn from_key(key: RsaPublicKey, der: Option<&[u8]>) -> Result<Self, IdentityError> {
        let canonical = key
            .to_public_key_der()
            .map_err(|e| IdentityError::InvalidKey(format!("cannot encode public key: {e}")))?
            .into_vec();
        if der.is_some_and(|der| der != canonical.as_slice()) {
            return Err(IdentityError::InvalidKey(
                "public key is not in canonical SPKI DER form".into(),
            ));
        }
        if canonical.len() != SPKI_DER_LEN {
            return Err(IdentityError::InvalidKey(format!(
                "public key encodes to {} bytes, expected {SPKI_DER_LEN}",
                canonical.len()
            )));
        }
        Ok(Self {
            key,
            fingerprint: Fingerprint::of_spki_der(&canonical),
            spki_der: canonical,
        })
    }

    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The public key as a PEM "PUBLIC KEY" block, the form engineers send
    /// to the operator and hosts pin the operator key in.
    pub fn to_spki_pem(&self) -> String {
        self.key
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .expect("an RSA public key always encodes")
    }

    /// Reads a PEM "PUBLIC KEY" block (or raw SPKI DER); refuses a private
    /// key outright so it is never copied where a public key belongs.
    pub fn from_spki_pem_or_der(bytes: &[u8]) -> Result<Self, IdentityError> {
        if bytes.first() == Some(&0x30) {
            return Self::from_spki_der(bytes);
        }
        if bytes.windows(11).any(|w| w == b"PRIVATE KEY") {
            return Err(IdentityError::InvalidKey(
                "this is a private key; give the public key instead".into(),
            ));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| IdentityError::InvalidKey("neither PEM text nor DER".into()))?;
        let key = RsaPublicKey::from_public_key_pem(text.trim())
            .map_err(|e| IdentityError::InvalidKey(format!("no PEM \"PUBLIC KEY\" block: {e}")))?;
        check_rsa4096(&key)?;
        Self::from_key(key, None)
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// Checks an RSA-PSS-SHA256 signature over `context || 0x00 || message`.
    /// Any malformed signature (wrong length, out of range) is `BadSignature`.
    pub fn verify(
        &self,
        context: &str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), IdentityError> {
        verify_pss_sha256(&self.key, domain_separated(context, message), signature)
    }
}

/// The primitive under [`PublicIdentity::verify`]: RSA-PSS over a SHA-256
/// digest, MGF1-SHA256, salt of exactly 32 bytes. Apart so the Wycheproof
/// vectors (issue 12) run this very code on their raw messages and keys.
/// A signature not exactly as long as the modulus ([`SIGNATURE_LEN`] for
/// every identity, whose keys are all RSA-4096) is refused before any arithmetic.
pub(crate) fn verify_pss_sha256(
    key: &RsaPublicKey,
    digest: Sha256,
    signature: &[u8],
) -> Result<(), IdentityError> {
    if signature.len() != key.size() {
        return Err(IdentityError::BadSignature);
    }
    let signature = Signature::try_from(signature).map_err(|_| IdentityError::BadSignature)?;
    VerifyingKey::<Sha256>::new(key.clone())
        .verify_digest(digest, &signature)
        .map_err(|_| IdentityError::BadSignature)
}

impl PartialEq for PublicIdentity {
    fn eq(&self, other: &Self) -> bool {
        // The canonical DER is the whole key.
        self.spki_der == other.spki_der
    }
}

impl Eq for PublicIdentity {}

impl std::hash::Hash for PublicIdentity {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.spki_der.hash(state);
    }
}

impl fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PublicIdentity")
            .field(&self.fingerprint)
            .finish()
    }
}

impl Field for PublicIdentity {
    fn encode(&self, out: &mut Vec<u8>) {
        // Same layout as `Bytes<SPKI_DER_MAX>`: u32 length, then the DER.
        out.extend_from_slice(&(self.spki_der.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.spki_der);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let der = r.bytes(SPKI_DER_MAX)?;
        Self::from_spki_der(der).map_err(|_| DecodeError::InvalidValue {
            what: "rsa-4096 public key",
            value: 0,
        })
    }
}

/// Our own key pair. The private half never leaves this type except as the
/// PKCS#8 file written by [`Identity::save`].
pub struct Identity {
    signing: BlindedSigningKey<Sha256>,
    public: PublicIdentity,
    pem: Zeroizing<String>,
}

impl Identity {
    /// Generates a fresh RSA-4096 key pair (seconds of CPU; done once at enrolment).
    pub fn generate(rng: &mut impl CryptoRngCore) -> Result<Self, IdentityError> {
        let key = RsaPrivateKey::new(rng, RSA_BITS).map_err(|_| IdentityError::Generate)?;
        Self::from_private_key(key)
    }

    /// Parses a PKCS#8 DER private key; it must be RSA-4096 with e = 65537.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, IdentityError> {
        let key = RsaPrivateKey::from_pkcs8_der(der).map_err(|e| {
            IdentityError::InvalidKey(format!("not an RSA PKCS#8 private key: {e}"))
        })?;
        Self::from_private_key(key)
    }

    /// Parses a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, IdentityError> {
        let key = RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| {
            IdentityError::InvalidKey(format!("not an RSA PKCS#8 private key: {e}"))
        })?;
        Self::from_private_key(key)
    }

    fn from_private_key(key: RsaPrivateKey) -> Result<Self, IdentityError> {
        let public_key = key.to_public_key();
        check_rsa4096(&public_key)?;
        key.validate()
            .map_err(|e| IdentityError::InvalidKey(format!("inconsistent private key: {e}")))?;
        // Encoded once here so that exporting later cannot fail.
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| IdentityError::InvalidKey(format!("cannot encode private key: {e}")))?;
        Ok(Self {
            public: PublicIdentity::from_key(public_key, None)?,
            signing: BlindedSigningKey::new(key),
            pem,
        })
    }

    /// The private key as PKCS#8 PEM (secret; zeroized when dropped).
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        self.pem.clone()
    }

    pub fn public(&self) -> &PublicIdentity {
        &self.public
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.public.fingerprint
    }

    /// RSA-PSS-SHA256 (blinded) over `context || 0x00 || message`;
    /// always [`SIGNATURE_LEN`] bytes.
    pub fn sign(&self, rng: &mut impl CryptoRngCore, context: &str, message: &[u8]) -> Vec<u8> {
        self.signing
            .sign_digest_with_rng(rng, domain_separated(context, message))
            .to_vec()
    }

    /// Writes the key as PKCS#8 PEM. The file is created with mode 0600 from
    /// its first byte, written to a temporary file in the same directory,
    /// synced, and then linked into place, so a crash never leaves a partial
    /// key and an existing key is never overwritten.
    pub fn save(&self, path: &Path) -> Result<(), IdentityError> {
        crate::secret_file::write_new(path, self.pem.as_bytes()).map_err(IdentityError::from)
    }

    /// Reads a key written by [`Identity::save`]. On unix, refuses a file
    /// that group or others can access: a leaked identity key lets anyone
    /// impersonate this host or engineer (R4).
    pub fn load(path: &Path) -> Result<Self, IdentityError> {
        let pem = crate::secret_file::read(path, KEY_FILE_MAX)?;
        let pem = std::str::from_utf8(&pem)
            .map_err(|_| IdentityError::InvalidKey("key file is not PEM text".into()))?;
        Self::from_pkcs8_pem(pem)
    }
}

impl From<crate::secret_file::SecretFileError> for IdentityError {
    fn from(error: crate::secret_file::SecretFileError) -> Self {
        use crate::secret_file::SecretFileError as E;
        match error {
            E::InsecurePermissions { path, mode } => {
                IdentityError::InsecurePermissions { path, mode }
            }
            E::AlreadyExists(path) => IdentityError::AlreadyExists(path),
            too_large @ E::TooLarge { .. } => IdentityError::InvalidKey(too_large.to_string()),
            E::Io { path, source } => IdentityError::Io { path, source },
        }
    }
}

impl fmt::Debug for Identity {
    // Never prints key material: the fingerprint names the key well enough.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.public.fingerprint)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
pub(crate) use crate::test_keys as test_support;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod wycheproof_tests;
