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

    pub fn load_config(&self) -> Result<HostConfig> {
        let path = self.config_path();
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {}; has this host been enrolled (`assent-host enroll`)?",
                path.display()
            )
        })?;
        toml::from_str(&text)
            .with_context(|| format!("{} is not a valid host config", path.display()))
    }

    pub fn save_config(&self, config: &HostConfig) -> Result<()> {
        let text = toml::to_string(config).context("encoding host config")?;
        write_atomically(&self.config_path(), text.as_bytes())
    }

    pub fn load_identity(&self) -> Result<Arc<Identity>> {
        let path = self.identity_path();
        Ok(Arc::new(Identity::load(&path).with_context(|| {
            format!("loading the host identity {}", path.display())
        })?))
    }

    pub fn load_operator_key(&self) -> Result<PublicIdentity> {
        read_public_key(&self.operator_key_path())
    }

    /// The release key pinned at enrolment (R16). Hosts enrolled before
    /// release keys existed have none, and install no upgrades until one is
    /// pinned.
    pub fn load_release_key(&self) -> Result<PublicIdentity> {
        let path = self.release_key_path();
        if !path.exists() {
            bail!(
                "no release key is pinned ({} is missing): this host was enrolled without \
                 --release-key, so no upgrade can be verified. An administrator can pin the \
                 operator's release.pub.pem by copying it to that path",
                path.display()
            );
        }
        read_public_key(&path)
    }
}

/// Reads a PEM "PUBLIC KEY" (or DER) file of bounded size.
pub fn read_public_key(path: &Path) -> Result<PublicIdentity> {
    const MAX: u64 = 16 * 1024;
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if !meta.is_file() || meta.len() > MAX {
        bail!("{} is not a public key file", path.display());
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    PublicIdentity::from_spki_pem_or_der(&bytes)
        .with_context(|| format!("{} is not an RSA-4096 public key", path.display()))
}

/// Writes through a temporary file and a rename: never a half-written config.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
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
