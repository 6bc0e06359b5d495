//! What enrolment leaves on disk and every later command reads: the host's
//! RSA-4096 identity (0600, R4), the operator's public key pinned at
//! enrolment (verifies the signed allowlist, R7), the release key pinned at
//! enrolment (verifies signed upgrades, R16), and `host.toml` with the
//! relay address and pin (R1, R2) and the host ID the relay gave us (R13).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use assent_net::relay_client::RelayTarget;
use assent_net::CertFingerprint;
use assent_proto::identity::{Identity, PublicIdentity};
use serde::{Deserialize, Serialize};

use crate::anchor_files;

pub const CONFIG_FILE: &str = "host.toml";
pub const IDENTITY_FILE: &str = "host.key";
pub const OPERATOR_KEY_FILE: &str = "operator.pub.pem";
pub const RELEASE_KEY_FILE: &str = "release.pub.pem";
/// What `assent-host upgrade install` last installed (R16).
pub const RELEASE_RECORD_FILE: &str = "release.toml";

/// `host.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// The relay, `host:port`.
    pub relay: String,
    /// Name checked against the relay certificate (any name under a pin).
    #[serde(default = "default_relay_name")]
    pub relay_name: String,
    /// SHA-256 fingerprint of the relay certificate, as the operator printed it.
    pub relay_pin: String,
    /// The ID the relay assigned at enrolment; the engineer asks for it.
    pub host_id: String,
    pub instrument_model: String,
    /// Where files sent by the engineer land (full builds only).
    #[serde(default)]
    pub receive_dir: Option<PathBuf>,
}

fn default_relay_name() -> String {
    "localhost".into()
}

/// The data directory and everything in it.
pub struct HostFiles {
    pub dir: PathBuf,
}

impl HostFiles {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }

    pub fn identity_path(&self) -> PathBuf {
        self.dir.join(IDENTITY_FILE)
    }

    pub fn operator_key_path(&self) -> PathBuf {
        self.dir.join(OPERATOR_KEY_FILE)
    }

    pub fn release_key_path(&self) -> PathBuf {
        self.dir.join(RELEASE_KEY_FILE)
    }

    pub fn release_record_path(&self) -> PathBuf {
        self.dir.join(RELEASE_RECORD_FILE)
    }

    /// Refuses a data directory another user could write (R21): whoever
    /// writes it decides the relay, the allowlist and the upgrades.
    pub fn check_dir(&self) -> Result<()> {
        anchor_files::check_dir(&self.dir).with_context(|| {
            format!(
                "checking the data directory {}; has this host been enrolled (`assent-host enroll`)?",
                self.dir.display()
            )
        })
    }

    /// Reads an anchor in the data directory after checking the directory.
    pub fn read_anchor(&self, path: &Path, max: u64) -> Result<Option<Vec<u8>>> {
        self.check_dir()?;
        Ok(anchor_files::read_if_present(path, max)?)
    }

    pub fn load_config(&self) -> Result<HostConfig> {
        const MAX: u64 = 64 * 1024;
        let path = self.config_path();
        let Some(bytes) = self.read_anchor(&path, MAX)? else {
            bail!(
                "{} is missing; has this host been enrolled (`assent-host enroll`)?",
                path.display()
            );
        };
        let text = String::from_utf8(bytes)
            .with_context(|| format!("{} is not UTF-8 text", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("{} is not a valid host config", path.display()))
    }

    pub fn save_config(&self, config: &HostConfig) -> Result<()> {
        let text = toml::to_string(config).context("encoding host config")?;
        Ok(anchor_files::write(&self.config_path(), text.as_bytes())?)
    }

    /// Pins a public key (operator or release) at `path`.
    pub fn save_public_key(&self, path: &Path, key: &PublicIdentity) -> Result<()> {
        Ok(anchor_files::write(path, key.to_spki_pem().as_bytes())?)
    }

    pub fn load_identity(&self) -> Result<Arc<Identity>> {
        let path = self.identity_path();
        Ok(Arc::new(Identity::load(&path).with_context(|| {
            format!("loading the host identity {}", path.display())
        })?))
    }

    pub fn load_operator_key(&self) -> Result<PublicIdentity> {
        let path = self.operator_key_path();
        match self.read_anchor(&path, PUBLIC_KEY_MAX)? {
            Some(bytes) => parse_public_key(&path, &bytes),
            None => bail!(
                "{} is missing; has this host been enrolled (`assent-host enroll`)?",
                path.display()
            ),
        }
    }

    /// The release key pinned at enrolment (R16). Hosts enrolled before
    /// release keys existed have none, and install no upgrades until one is
    /// pinned.
    pub fn load_release_key(&self) -> Result<PublicIdentity> {
        let path = self.release_key_path();
        match self.read_anchor(&path, PUBLIC_KEY_MAX)? {
            Some(bytes) => parse_public_key(&path, &bytes),
            None => bail!(
                "no release key is pinned ({} is missing): this host was enrolled without \
                 --release-key, so no upgrade can be verified. An administrator can pin the \
                 operator's release.pub.pem by copying it to that path (chmod 600)",
                path.display()
            ),
        }
    }
}

/// Largest public key file read.
const PUBLIC_KEY_MAX: u64 = 16 * 1024;

/// Reads a PEM "PUBLIC KEY" (or DER) file of bounded size, given on the
/// command line (not yet an anchor: it is pinned by copying it in).
pub fn read_public_key(path: &Path) -> Result<PublicIdentity> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if !meta.is_file() || meta.len() > PUBLIC_KEY_MAX {
        bail!("{} is not a public key file", path.display());
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse_public_key(path, &bytes)
}

fn parse_public_key(path: &Path, bytes: &[u8]) -> Result<PublicIdentity> {
    PublicIdentity::from_spki_pem_or_der(bytes)
        .with_context(|| format!("{} is not an RSA-4096 public key", path.display()))
}

impl HostConfig {
    pub fn relay_target(&self) -> Result<RelayTarget> {
        let pin: CertFingerprint = self
            .relay_pin
            .parse()
            .with_context(|| format!("relay_pin {:?} in host.toml", self.relay_pin))?;
        Ok(RelayTarget::pinned(&self.relay, &self.relay_name, pin)?)
    }
}

/// The default data directory: `$XDG_DATA_HOME/assent-host` or
/// `~/.local/share/assent-host`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(dir).join("assent-host");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local/share/assent-host")
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn anchors_in_a_data_directory_others_can_write_are_refused_at_load() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let files = HostFiles::new(dir.path().to_path_buf());
        let key = assent_proto::test_keys::operator().public().clone();
        files
            .save_public_key(&files.operator_key_path(), &key)
            .unwrap();
        assert!(files.load_operator_key().is_ok());
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o770)).unwrap();
        let error = format!("{:#}", files.load_operator_key().unwrap_err());
        assert!(
            error.contains(&format!("chmod 700 {}", dir.path().display())),
            "{error}"
        );
    }
}
