//! What is installed (R16): this build's own version, target and
//! capabilities, and `release.toml`, where `upgrade install` records the
//! release it put at a binary path and the one it replaced. Later checks
//! compare against that record, not against the running program, which
//! may be another build than the binary being upgraded.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use assent_proto::release::{
    Installed, ReleaseCapability, ReleaseManifest, WithdrawnRelease, HOST_COMPONENT,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::anchor_files;
use crate::config::HostFiles;

/// The Rust target triple of this build, as release manifests name it.
/// Built from `std::env::consts` and `cfg!(target_env)`, which covers the
/// platforms Assent ships for without a build script.
pub fn build_target() -> String {
    let arch = std::env::consts::ARCH;
    let env = if cfg!(target_env = "musl") {
        "musl"
    } else if cfg!(target_env = "msvc") {
        "msvc"
    } else {
        "gnu"
    };
    match std::env::consts::OS {
        "linux" => format!("{arch}-unknown-linux-{env}"),
        "windows" => format!("{arch}-pc-windows-{env}"),
        "macos" => format!("{arch}-apple-darwin"),
        os => format!("{arch}-unknown-{os}"),
    }
}

/// What this build can do. File transfer only where it is compiled in
/// (absent from PHI builds, R11).
pub fn build_capabilities() -> Vec<ReleaseCapability> {
    let mut capabilities = vec![
        ReleaseCapability::ScreenView,
        ReleaseCapability::RemoteControl,
    ];
    if cfg!(feature = "file-transfer") {
        capabilities.push(ReleaseCapability::FileTransfer);
    }
    capabilities.push(ReleaseCapability::Notifications);
    capabilities
}

/// The running build, as a release.
pub fn running_build() -> Result<Installed> {
    Ok(Installed {
        component: HOST_COMPONENT.to_owned(),
        target: build_target(),
        version: env!("CARGO_PKG_VERSION")
            .parse()
            .map_err(|e: String| anyhow!("this build's own version: {e}"))?,
        capabilities: build_capabilities(),
    })
}

/// One release as `release.toml` keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedRelease {
    pub version: String,
    pub component: String,
    pub target: String,
    /// SHA-256 of the binary, lowercase hex.
    pub sha256: String,
    pub capabilities: Vec<String>,
    /// `published_unix` of the signed manifest it was installed from; absent
    /// for a build that came from elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_unix: Option<u64>,
}

impl RecordedRelease {
    pub fn new(installed: &Installed, sha256: &[u8; 32]) -> Self {
        Self {
            version: installed.version.to_string(),
            component: installed.component.clone(),
            target: installed.target.clone(),
            sha256: hex(sha256),
            capabilities: installed
                .capabilities
                .iter()
                .map(|c| c.name().to_owned())
                .collect(),
            published_unix: None,
        }
    }

    pub fn of_manifest(manifest: &ReleaseManifest) -> Self {
        Self {
            version: manifest.version.to_string(),
            component: manifest.component.to_string(),
            target: manifest.target.to_string(),
            sha256: hex(&manifest.sha256),
            capabilities: manifest
                .capabilities
                .iter()
                .map(|c| c.name().to_owned())
                .collect(),
            published_unix: Some(manifest.published_unix),
        }
    }

    pub fn installed(&self) -> Result<Installed> {
        Ok(Installed {
            component: self.component.clone(),
            target: self.target.clone(),
            version: self.version.parse().map_err(|e: String| anyhow!(e))?,
            capabilities: self
                .capabilities
                .iter()
                .map(|c| c.parse().map_err(|e: String| anyhow!(e)))
                .collect::<Result<_>>()?,
        })
    }
}

/// `release.toml`: what the last install put at `binary`, and what it replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRecord {
    pub binary: PathBuf,
    pub installed: RecordedRelease,
    /// Kept as `<binary>.previous`; `None` once rolled back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<RecordedRelease>,
    /// Releases rolled back from at this binary: never installed again
    /// under the signature that was undone (R16, R21).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withdrawn: Vec<WithdrawnRecord>,
}

/// A release rolled back from, as `release.toml` keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawnRecord {
    pub version: String,
    /// The undone manifest's publication time (or the rollback's, when it
    /// was not known): a re-signed manifest must be published after it.
    pub published_unix: u64,
}

impl ReleaseRecord {
    /// The releases rolled back from at this record's binary, for the offer check.
    fn withdrawn_releases(&self) -> Result<Vec<WithdrawnRelease>> {
        self.withdrawn
            .iter()
            .map(|w| {
                Ok(WithdrawnRelease {
                    version: w.version.parse().map_err(|e: String| {
                        anyhow!("release.toml: withdrawn version {:?}: {e}", w.version)
                    })?,
                    published_unix: w.published_unix,
                })
            })
            .collect()
    }

    pub fn load(files: &HostFiles) -> Result<Option<Self>> {
        let path = files.release_record_path();
        // It says which capabilities are installed: an anchor like the rest.
        let Some(bytes) = files.read_anchor(&path, 64 * 1024)? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        let record = toml::from_str(&text).with_context(|| {
            format!(
                "{} is not a valid release record; remove it to compare against the running build",
                path.display()
            )
        })?;
        Ok(Some(record))
    }

    pub fn save(&self, files: &HostFiles) -> Result<()> {
        let text = toml::to_string(self).context("encoding the release record")?;
        Ok(anchor_files::write(
            &files.release_record_path(),
            text.as_bytes(),
        )?)
    }

    /// Whether this record is about `binary` (paths compared after resolving).
    pub fn describes(&self, binary: &Path) -> bool {
        same_path(&self.binary, binary)
    }
}

/// What is at a binary path now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledState {
    pub binary: PathBuf,
    pub release: Installed,
    pub sha256: [u8; 32],
    /// The release came from `release.toml` rather than the running build.
    pub recorded: bool,
    /// Releases rolled back from at this binary (`release.toml`), refused
    /// when offered again under the signature that was undone.
    pub withdrawn: Vec<WithdrawnRelease>,
}

impl InstalledState {
    /// Reads `binary` and `release.toml`. The record counts only while the
    /// binary still has the hash it recorded. Without a record, the running
    /// build describes `binary` only when it is the running program; any
    /// other binary is of unknown make, so it is taken to have no
    /// capabilities and every capability of a release needs its own
    /// approval.
    pub fn at(files: &HostFiles, binary: &Path) -> Result<Self> {
        let sha256 = file_sha256(binary)?;
        let binary = binary.to_path_buf();
        let mut withdrawn = Vec::new();
        if let Some(record) = ReleaseRecord::load(files)? {
            if record.describes(&binary) {
                // Refusing a withdrawn release is safe whatever the binary is now.
                withdrawn = record.withdrawn_releases()?;
                if record.installed.sha256 == hex(&sha256) {
                    return Ok(Self {
                        binary,
                        release: record.installed.installed()?,
                        sha256,
                        recorded: true,
                        withdrawn,
                    });
                }
                tracing::warn!(
                    binary = %binary.display(),
                    "the binary differs from the release recorded in release.toml; \
                     not trusting the record"
                );
            }
        }
        let mut release = running_build()?;
        if !is_running_program(&binary) {
            release.capabilities.clear();
        }
        Ok(Self {
            binary,
            release,
            sha256,
            recorded: false,
            withdrawn,
        })
    }
}

/// Whether `binary` is the program running now.
fn is_running_program(binary: &Path) -> bool {
    std::env::current_exe().is_ok_and(|exe| same_path(&exe, binary))
}

/// SHA-256 of a file, read in pieces.
pub fn file_sha256(path: &Path) -> Result<[u8; 32]> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = file
            .read(&mut buffer)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher.finalize().into())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Resolves symlinks and `..` where the file exists, so one binary named
/// two ways is one binary.
fn same_path(a: &Path, b: &Path) -> bool {
    let resolve = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    resolve(a) == resolve(b)
}

/// The binary to upgrade when none is named: the running program.
pub fn default_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("finding the running assent-host binary")?;
    if !exe.is_file() {
        bail!(
            "the running binary {} is not a file; name the binary with --binary",
            exe.display()
        );
    }
    Ok(exe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use assent_proto::release::ReleaseVersion;

    fn files() -> (tempfile::TempDir, HostFiles) {
        let dir = tempfile::tempdir().unwrap();
        let files = HostFiles::new(dir.path().to_path_buf());
        (dir, files)
    }

    #[test]
    fn this_build_declares_file_transfer_only_when_compiled_in() {
        let has = build_capabilities().contains(&ReleaseCapability::FileTransfer);
        assert_eq!(has, cfg!(feature = "file-transfer"));
        assert!(build_capabilities().contains(&ReleaseCapability::ScreenView));
        assert!(build_capabilities().contains(&ReleaseCapability::Notifications));
    }

    #[test]
    fn the_build_target_names_this_platform() {
        let target = build_target();
        assert!(target.starts_with(std::env::consts::ARCH), "{target}");
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        assert_eq!(
            target,
            format!("{}-unknown-linux-gnu", std::env::consts::ARCH)
        );
    }

    #[test]
    fn a_recorded_release_is_installed_while_the_binary_keeps_its_hash() {
        let (dir, files) = files();
        let binary = dir.path().join("assent-host");
        std::fs::write(&binary, b"release 9.9.9").unwrap();
        let recorded = Installed {
            component: HOST_COMPONENT.into(),
            target: build_target(),
            version: "9.9.9".parse().unwrap(),
            capabilities: vec![ReleaseCapability::ScreenView],
        };
        ReleaseRecord {
            binary: binary.clone(),
            installed: RecordedRelease::new(&recorded, &file_sha256(&binary).unwrap()),
            previous: None,
            withdrawn: Vec::new(),
        }
        .save(&files)
        .unwrap();
        let state = InstalledState::at(&files, &binary).unwrap();
        assert!(state.recorded);
        assert_eq!(state.release, recorded);

        // Replaced behind our back: the record no longer describes it, and
        // nothing is known of what it can do.
        std::fs::write(&binary, b"something else").unwrap();
        let state = InstalledState::at(&files, &binary).unwrap();
        assert!(!state.recorded);
        assert_eq!(state.release.version, running_build().unwrap().version);
        assert_eq!(state.release.capabilities, []);
    }

    #[test]
    fn an_unrecorded_binary_other_than_the_running_one_has_no_capabilities() {
        let (dir, files) = files();
        let binary = dir.path().join("assent-host");
        std::fs::copy(std::env::current_exe().unwrap(), &binary).unwrap();
        let state = InstalledState::at(&files, &binary).unwrap();
        assert!(!state.recorded);
        assert_eq!(state.release.capabilities, []);
        // The running program is described by the running build.
        let running = std::env::current_exe().unwrap();
        let state = InstalledState::at(&files, &running).unwrap();
        assert_eq!(state.release, running_build().unwrap());
    }

    #[test]
    fn a_record_for_another_binary_is_ignored() {
        let (dir, files) = files();
        let binary = dir.path().join("assent-host");
        std::fs::write(&binary, b"x").unwrap();
        let other = Installed {
            version: ReleaseVersion {
                major: 7,
                minor: 0,
                patch: 0,
            },
            ..running_build().unwrap()
        };
        ReleaseRecord {
            binary: dir.path().join("elsewhere"),
            installed: RecordedRelease::new(&other, &file_sha256(&binary).unwrap()),
            previous: Some(RecordedRelease::new(&other, &[0; 32])),
            withdrawn: Vec::new(),
        }
        .save(&files)
        .unwrap();
        let state = InstalledState::at(&files, &binary).unwrap();
        assert!(!state.recorded);
        let reloaded = ReleaseRecord::load(&files).unwrap().unwrap();
        assert_eq!(reloaded.previous.unwrap().version, "7.0.0");
    }
}
