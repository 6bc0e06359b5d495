//! The data key and column sealing (R13): sensitive columns are sealed with
//! XChaCha20-Poly1305 under a 256-bit data key kept outside the database (a
//! 0600 key file or the environment), so the database file alone reveals none
//! of them.
//!
//! Each sealed value is bound to its place (`table/column/row`) as associated
//! data: a value copied into another row or column does not open. Values that
//! must be found by equality (lockout scopes, viewer locations) are stored as
//! keyed hashes ("blind indexes") instead. Sealing, indexing and the audit
//! chain each use their own key derived from the data key.
//!
//! ```text
//! sealed = version 0x01 || nonce [24] || XChaCha20-Poly1305(value)
//!          with AAD = "assent/1 relay column" || 0x00 || table "/" column "/" row
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use assent_proto::audit::AuditKey;
use assent_proto::secret_file;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand_core::CryptoRngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::StoreError;

#[cfg(test)]
mod tests;

/// Length of the data key: 256 bits.
pub const DATA_KEY_LEN: usize = 32;
/// Largest key file `load` reads; a key file is 64 hex digits and a newline.
const KEY_FILE_MAX: u64 = 4096;
const SEAL_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Shortest sealed value: version, nonce and tag around an empty value.
const SEALED_MIN: usize = 1 + NONCE_LEN + TAG_LEN;
const COLUMN_AAD: &[u8] = b"assent/1 relay column\0";
/// Derivation labels: one key per purpose, none of them the data key itself.
const SEAL_LABEL: &[u8] = b"assent/1 relay column sealing";
const INDEX_LABEL: &[u8] = b"assent/1 relay blind index";
const AUDIT_LABEL: &[u8] = b"assent/1 relay audit";
/// Sealed into the database's `meta` table when it is created; if it does not
/// open, the relay was started with another data key.
const KEY_CHECK_VALUE: &[u8] = b"assent relay data key check v1";
const KEY_CHECK_CELL: Cell<'static> = Cell::new("meta", "value", "key_check");

/// Why a data key could not be read, parsed or created.
impl From<secret_file::SecretFileError> for DataKeyError {
    fn from(error: secret_file::SecretFileError) -> Self {
        use secret_file::SecretFileError as E;
        match error {
            E::InsecurePermissions { path, mode } => {
                DataKeyError::InsecurePermissions { path, mode }
            }
            E::AlreadyExists(path) => DataKeyError::AlreadyExists(path),
            E::TooLarge { path, .. } => DataKeyError::Malformed {
                origin: format!("data key file {}", path.display()),
                problem: "the file is far too long",
            },
            E::Io { path, source } => DataKeyError::Io { path, source },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DataKeyError {
    #[error(
        "data key file {} has mode {mode:04o}; it must be readable by its owner only: chmod 600 {}",
        path.display(),
        path.display()
    )]
    InsecurePermissions { path: PathBuf, mode: u32 },
    #[error("data key file {} already exists; refusing to overwrite the key a database may be sealed with (move it away first)", .0.display())]
    AlreadyExists(PathBuf),
    #[error("data key file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin} is not a data key: {problem}; a data key is 64 hex digits (256 bits)")]
    Malformed {
        origin: String,
        problem: &'static str,
    },
}

/// The 256-bit key the relay's database is sealed under. Erased on drop, never printed.
pub struct DataKey(Zeroizing<[u8; DATA_KEY_LEN]>);

impl DataKey {
    pub fn from_bytes(bytes: [u8; DATA_KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut key = Zeroizing::new([0u8; DATA_KEY_LEN]);
        rng.fill_bytes(&mut key[..]);
        Self(key)
    }

    /// Parses the key from an environment variable's value (64 hex digits).
    /// Errors never repeat the value.
    pub fn from_env_hex(value: &str) -> Result<Self, DataKeyError> {
        parse_hex(value.as_bytes(), || {
            "the data key from the environment".into()
        })
    }

    /// Reads a key file (64 hex digits). On unix, refuses a file that group or
    /// others can access: with the key, the database reveals everything (R13).
    pub fn load(path: &Path) -> Result<Self, DataKeyError> {
        let text = secret_file::read(path, KEY_FILE_MAX).map_err(DataKeyError::from)?;
        parse_hex(&text, || format!("data key file {}", path.display()))
    }

    /// Creates a new key and writes it to `path` as hex. The file is owner-only
    /// from its first byte, written under a temporary name, synced and linked
    /// into place, so a crash never leaves a partial key and an existing key
    /// is never overwritten.
    pub fn generate_file(path: &Path, rng: &mut impl CryptoRngCore) -> Result<Self, DataKeyError> {
        let key = Self::generate(rng);
        let mut text = Zeroizing::new(hex::encode(&key.0[..]));
        text.push('\n');
        secret_file::write_new(path, text.as_bytes()).map_err(DataKeyError::from)?;
        Ok(key)
    }

    /// The key the audit chain is sealed under (R12), derived from this one so
    /// operators keep a single secret; `audit verify` derives it the same way.
    pub fn audit_key(&self) -> AuditKey {
        AuditKey::from_bytes(*self.derive(AUDIT_LABEL))
    }

    pub(super) fn sealer(&self) -> ColumnSealer {
        ColumnSealer {
            seal_key: self.derive(SEAL_LABEL),
            index_key: self.derive(INDEX_LABEL),
        }
    }

    /// HMAC-SHA256(data key, label): a PRF of a uniformly random key, so each
    /// label yields an independent key.
    fn derive(&self, label: &[u8]) -> Zeroizing<[u8; 32]> {
        let mut mac = hmac_sha256(&self.0[..]);
        mac.update(label);
        Zeroizing::new(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this cannot fail.
    <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

/// 64 hex digits, surrounding whitespace ignored.
fn parse_hex(text: &[u8], origin: impl Fn() -> String) -> Result<DataKey, DataKeyError> {
    let malformed = |problem| DataKeyError::Malformed {
        origin: origin(),
        problem,
    };
    let text = text.trim_ascii();
    if text.len() != 2 * DATA_KEY_LEN {
        return Err(malformed("it does not have 64 characters"));
    }
    let mut key = Zeroizing::new([0u8; DATA_KEY_LEN]);
    hex::decode_to_slice(text, &mut key[..]).map_err(|_| malformed("it is not hexadecimal"))?;
    Ok(DataKey(key))
}

/// Where a sealed value lives; bound into its ciphertext.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cell<'a> {
    pub table: &'static str,
    pub column: &'static str,
    pub row: &'a str,
}

impl<'a> Cell<'a> {
    pub const fn new(table: &'static str, column: &'static str, row: &'a str) -> Self {
        Self { table, column, row }
    }

    fn associated_data(&self) -> Vec<u8> {
        // Table and column names are constants without '/', so the row key,
        // last, cannot blur the boundary.
        let mut aad = Vec::with_capacity(COLUMN_AAD.len() + 64 + self.row.len());
        aad.extend_from_slice(COLUMN_AAD);
        for part in [self.table, "/", self.column, "/", self.row] {
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }
}

/// Seals and opens column values, and computes blind indexes, with keys
/// derived from the data key.
pub(super) struct ColumnSealer {
    seal_key: Zeroizing<[u8; 32]>,
    index_key: Zeroizing<[u8; 32]>,
}

impl ColumnSealer {
    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&*self.seal_key).into())
    }

    pub fn seal(
        &self,
        rng: &mut impl CryptoRngCore,
        cell: &Cell<'_>,
        value: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let aad = cell.associated_data();
        let ciphertext = self
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: value,
                    aad: &aad,
                },
            )
            .map_err(|_| {
                StoreError::Invalid(format!(
                    "{}.{} value of {} bytes is too large to seal",
                    cell.table,
                    cell.column,
                    value.len()
                ))
            })?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(SEAL_VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// The value sealed at `cell`; anything else (altered, moved from another
    /// row or column, sealed under another key, truncated) is `Corrupt`.
    pub fn open(&self, cell: &Cell<'_>, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let corrupt = |detail: &str| StoreError::Corrupt {
            table: cell.table,
            detail: format!("sealed {} of row {} {detail}", cell.column, cell.row),
        };
        if sealed.len() < SEALED_MIN {
            return Err(corrupt("is too short to be a sealed value"));
        }
        let (version, rest) = sealed.split_at(1);
        if version != [SEAL_VERSION] {
            return Err(corrupt("has an unknown sealing version"));
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let aad = cell.associated_data();
        self.cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| {
                corrupt("does not open: it was altered or copied from another row or column")
            })
    }

    /// Keyed hash of `parts` for equality lookups: HMAC-SHA256 over the purpose
    /// and each part length-prefixed, so different splits never collide.
    pub fn blind_index(&self, purpose: &str, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = hmac_sha256(&self.index_key[..]);
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        for part in parts {
            // Parts are store keys of bounded size; saturate rather than wrap.
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            mac.update(&len.to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The value sealed into a new database so a wrong key is noticed at open.
    pub fn key_check(&self, rng: &mut impl CryptoRngCore) -> Result<Vec<u8>, StoreError> {
        self.seal(rng, &KEY_CHECK_CELL, KEY_CHECK_VALUE)
    }

    /// Whether `sealed` is the key check sealed under this key.
    pub fn matches_key_check(&self, sealed: &[u8]) -> bool {
        self.open(&KEY_CHECK_CELL, sealed)
            .is_ok_and(|value| value.as_slice() == KEY_CHECK_VALUE)
    }
}
