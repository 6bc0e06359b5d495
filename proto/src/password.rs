//! One-time session passwords (R5): generated fresh by the host for every
//! support request, read aloud by the technician, typed by the engineer, and
//! stretched with argon2id before they enter the handshake's PAKE.
//!
//! The alphabet has no look-alikes (no 0/O, 1/I/L), so reading a password
//! aloud cannot go wrong; 10 characters from 31 give about 49.5 bits.

use argon2::{Algorithm, Argon2, Params, Version};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{ZeroizeOnDrop, Zeroizing};

#[cfg(test)]
mod tests;

/// Characters a session password is made of.
pub const ALPHABET: &[u8] = ALPHABET_TEXT.as_bytes();
const ALPHABET_TEXT: &str = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Characters in a session password.
pub const PASSWORD_LEN: usize = 10;
/// Domain separator for the argon2id salt.
const SALT_LABEL: &[u8] = b"assent/1 password salt";

/// Why a typed password was refused, or stretching failed.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum PasswordError {
    #[error("{0:?} is not used in session passwords (they contain only {alphabet}); check the password the technician read out", alphabet = ALPHABET_TEXT)]
    InvalidCharacter(char),
    #[error("session password has {len} characters, expected {PASSWORD_LEN}")]
    WrongLength { len: usize },
    #[error("invalid password stretching parameters: {0}")]
    InvalidStretchParams(argon2::Error),
}

/// Maps a uniformly random byte to a uniformly random alphabet character, or
/// rejects it: only bytes below the largest multiple of the alphabet size are
/// used, so `byte % 31` has no modulo bias.
fn alphabet_char(byte: u8) -> Option<u8> {
    let limit = 256 / ALPHABET.len() * ALPHABET.len();
    let byte = usize::from(byte);
    (byte < limit).then(|| ALPHABET[byte % ALPHABET.len()])
}

/// A one-time session password. Erased on drop; Debug is redacted.
pub struct OneTimePassword(Zeroizing<[u8; PASSWORD_LEN]>);

/// `Zeroizing` erases the characters when the password is dropped.
impl ZeroizeOnDrop for OneTimePassword {}

impl OneTimePassword {
    /// Draws a fresh password, uniform over the alphabet.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut password = Zeroizing::new([0u8; PASSWORD_LEN]);
        let mut random = Zeroizing::new([0u8; 32]);
        let mut filled = 0;
        while filled < PASSWORD_LEN {
            rng.fill_bytes(&mut random[..]);
            for ch in random.iter().filter_map(|&b| alphabet_char(b)) {
                if filled == PASSWORD_LEN {
                    break;
                }
                password[filled] = ch;
                filled += 1;
            }
        }
        Self(password)
    }

    /// Reads a password as typed by the engineer: case-insensitive, spaces,
    /// other whitespace and '-' ignored. No look-alike is silently mapped
    /// (an 'O' is refused, not read as '0'), so a mishearing is reported.
    pub fn parse(input: &str) -> Result<Self, PasswordError> {
        let mut password = Zeroizing::new([0u8; PASSWORD_LEN]);
        let mut len = 0;
        for ch in input.chars().filter(|c| !c.is_whitespace() && *c != '-') {
            let upper = ch.to_ascii_uppercase();
            let byte = u8::try_from(upper)
                .ok()
                .filter(|b| ALPHABET.contains(b))
                .ok_or(PasswordError::InvalidCharacter(ch))?;
            if let Some(slot) = password.get_mut(len) {
                *slot = byte;
            }
            len += 1;
        }
        if len != PASSWORD_LEN {
            return Err(PasswordError::WrongLength { len });
        }
        Ok(Self(password))
    }

    /// The password as the technician reads it out: "ABCDE-FGHJK".
    pub fn display_grouped(&self) -> String {
        let (first, second) = self.0.split_at(PASSWORD_LEN / 2);
        let mut shown = String::with_capacity(PASSWORD_LEN + 1);
        shown.extend(first.iter().map(|&b| char::from(b)));
        shown.push('-');
        shown.extend(second.iter().map(|&b| char::from(b)));
        shown
    }

    /// Stretches the password with argon2id, salted by the session, so a
    /// transcript gives an offline guesser nothing cheap to test (R5).
    pub fn stretch(
        &self,
        session_id: &[u8; 32],
        params: &StretchParams,
    ) -> Result<StretchedPassword, PasswordError> {
        let salt = Sha256::new()
            .chain_update(SALT_LABEL)
            .chain_update(session_id)
            .finalize();
        let mut out = Zeroizing::new([0u8; 32]);
        params
            .argon2()?
            .hash_password_into(&self.0[..], &salt, &mut out[..])
            .map_err(PasswordError::InvalidStretchParams)?;
        Ok(StretchedPassword(out))
    }
}

impl PartialEq for OneTimePassword {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0[..]).into()
    }
}

impl Eq for OneTimePassword {}

impl std::fmt::Debug for OneTimePassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneTimePassword(<redacted>)")
    }
}

/// argon2id cost. Host and viewer must use the same values, or the
/// handshake fails as a wrong password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StretchParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for StretchParams {
    /// Shipped cost: 64 MiB, 3 passes, 1 lane (≈ 200 ms on a release build).
    fn default() -> Self {
        Self {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 1,
        }
    }
}

impl StretchParams {
    /// Cheap parameters for tests only: they give no protection against
    /// offline guessing. Both ends of a test must use them.
    pub const fn fast_for_tests() -> Self {
        Self {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }
    }

    fn argon2(&self) -> Result<Argon2<'static>, PasswordError> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
            .map_err(PasswordError::InvalidStretchParams)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// The argon2id output that keys the handshake's PAKE. Erased on drop.
pub struct StretchedPassword(Zeroizing<[u8; 32]>);

impl ZeroizeOnDrop for StretchedPassword {}

impl StretchedPassword {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for StretchedPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StretchedPassword(<redacted>)")
    }
}
