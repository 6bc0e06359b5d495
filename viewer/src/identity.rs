//! The engineer's identity on this workstation (R4, R7, R8): the RSA-4096
//! key the operator enrols on the allowlist, its public half to send them,
//! and the random device ID the relay uses to notice a new location.
//!
//! All three live side by side: `viewer.key` (owner-only), `viewer.pub.pem`
//! and `device-id`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use assent_proto::identity::{Fingerprint, Identity};
use rand_core::{OsRng, RngCore};

use crate::atomic_file::{write_atomically, Readable};

/// File name of the device ID, beside the key.
const DEVICE_ID_FILE: &str = "device-id";

/// Where the identity files are.
#[derive(Debug, Clone)]
pub struct ViewerFiles {
    key: PathBuf,
}

/// What `keygen` produced.
#[derive(Debug)]
pub struct Enrolment {
    pub key: PathBuf,
    pub public_key: PathBuf,
    pub fingerprint: Fingerprint,
}

impl ViewerFiles {
    pub fn new(key: PathBuf) -> Self {
        Self { key }
    }

    /// `$XDG_CONFIG_HOME/assent-viewer/viewer.key`, else
    /// `~/.config/assent-viewer/viewer.key`.
    pub fn default_key_path() -> PathBuf {
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let home =
                    std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
                home.join(".config")
            });
        config.join("assent-viewer").join("viewer.key")
    }

    pub fn key_path(&self) -> &Path {
        &self.key
    }

    /// The public key beside the private one: `viewer.key` → `viewer.pub.pem`
    /// (any other name gets `.pub.pem` in place of its extension).
    pub fn public_key_path(&self) -> PathBuf {
        let stem = self
            .key
            .file_stem()
            .map_or_else(|| "viewer".into(), |s| s.to_string_lossy().into_owned());
        self.key.with_file_name(format!("{stem}.pub.pem"))
    }

    pub fn device_id_path(&self) -> PathBuf {
        self.key.with_file_name(DEVICE_ID_FILE)
    }

    fn dir(&self) -> PathBuf {
        match self.key.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Creates a new identity; refuses to replace an existing one (an
    /// enrolled key is what the operator trusts).
    pub fn generate(&self) -> Result<Enrolment> {
        self.check_absent()?;
        create_private_dir(&self.dir())?;
        let identity = Identity::generate(&mut OsRng).context("generating the RSA-4096 key")?;
        identity
            .save(&self.key)
            .with_context(|| format!("saving the identity to {}", self.key.display()))?;
        let public_key = self.public_key_path();
        write_atomically(
            &public_key,
            identity.public().to_spki_pem().as_bytes(),
            Readable::Everyone,
        )
        .with_context(|| format!("writing the public key to {}", public_key.display()))?;
        self.device_id()?;
        Ok(Enrolment {
            key: self.key.clone(),
            public_key,
            fingerprint: identity.fingerprint(),
        })
    }

    /// Fails if an identity is already there (checked again when saving).
    pub fn check_absent(&self) -> Result<()> {
        if self.key.symlink_metadata().is_ok() {
            bail!(
                "an identity already exists at {}; keygen never replaces one. \
                 Move it away first, or pass --identity with another path",
                self.key.display()
            );
        }
        Ok(())
    }

    /// Loads the identity `keygen` wrote.
    pub fn load(&self) -> Result<Arc<Identity>> {
        if self.key.symlink_metadata().is_err() {
            bail!(
                "no viewer identity at {}; create one with `assent-viewer keygen` \
                 and send the .pub.pem file to your Assent operator",
                self.key.display()
            );
        }
        let identity = Identity::load(&self.key)
            .with_context(|| format!("loading the viewer identity {}", self.key.display()))?;
        Ok(Arc::new(identity))
    }

    /// This workstation's device ID, created on first use (R8: a new device
    /// must be confirmed by e-mailed code).
    pub fn device_id(&self) -> Result<[u8; 16]> {
        let path = self.device_id_path();
        match std::fs::read_to_string(&path) {
            Ok(text) => parse_device_id(&text).with_context(|| {
                format!(
                    "{} is damaged; delete it to make a new one (the relay will then ask to confirm this device again)",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut id = [0u8; 16];
                OsRng.fill_bytes(&mut id);
                create_private_dir(&self.dir())?;
                write_atomically(&path, format!("{}\n", hex(&id)).as_bytes(), Readable::Owner)
                    .with_context(|| format!("writing the device ID to {}", path.display()))?;
                Ok(id)
            }
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
}

fn parse_device_id(text: &str) -> Result<[u8; 16]> {
    let text = text.trim();
    if text.len() != 32 || !text.is_ascii() {
        bail!("a device ID is 32 hex digits");
    }
    let mut id = [0u8; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
            .map_err(|_| anyhow::anyhow!("a device ID is 32 hex digits"))?;
    }
    Ok(id)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Creates `dir` (owner-only on unix) if it is missing.
fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating the directory {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_key_and_device_id_live_beside_the_key() {
        let files = ViewerFiles::new(PathBuf::from("/cfg/assent-viewer/viewer.key"));
        assert_eq!(
            files.public_key_path(),
            PathBuf::from("/cfg/assent-viewer/viewer.pub.pem")
        );
        assert_eq!(
            files.device_id_path(),
            PathBuf::from("/cfg/assent-viewer/device-id")
        );
        let other = ViewerFiles::new(PathBuf::from("keys/erin.key"));
        assert_eq!(other.public_key_path(), PathBuf::from("keys/erin.pub.pem"));
    }

    #[test]
    fn the_device_id_is_created_once_and_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let files = ViewerFiles::new(dir.path().join("sub/viewer.key"));
        let first = files.device_id().unwrap();
        let again = files.device_id().unwrap();
        assert_eq!(first, again);
        let other = ViewerFiles::new(tempfile::tempdir().unwrap().path().join("viewer.key"));
        assert_ne!(other.device_id().unwrap(), first, "device IDs are random");
    }

    #[test]
    fn a_damaged_device_id_is_an_error_not_a_silent_new_device() {
        let dir = tempfile::tempdir().unwrap();
        let files = ViewerFiles::new(dir.path().join("viewer.key"));
        std::fs::write(files.device_id_path(), "not hex at all").unwrap();
        let e = files.device_id().unwrap_err();
        assert!(format!("{e:#}").contains("damaged"), "{e:#}");
    }

    #[test]
    fn loading_a_missing_identity_says_how_to_create_one() {
        let dir = tempfile::tempdir().unwrap();
        let files = ViewerFiles::new(dir.path().join("viewer.key"));
        let e = files.load().unwrap_err();
        assert!(e.to_string().contains("assent-viewer keygen"), "{e}");
    }

    #[test]
    fn keygen_refuses_to_replace_an_existing_identity() {
        let dir = tempfile::tempdir().unwrap();
        let files = ViewerFiles::new(dir.path().join("viewer.key"));
        std::fs::write(files.key_path(), "existing").unwrap();
        let e = files.generate().unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
        assert_eq!(
            std::fs::read_to_string(files.key_path()).unwrap(),
            "existing"
        );
    }
}
