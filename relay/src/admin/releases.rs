//! `assent-relay release …` (R16): creates the operator's release key, signs
//! and publishes host releases, and lists what is published. Hosts pin the
//! release public key at enrolment and verify every manifest against it, so
//! publishing refuses to sign with any other key than the one this relay's
//! hosts pin (`release.pub.pem` in the data directory).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use assent_proto::identity::{Identity, PublicIdentity};
use assent_proto::release::{
    FreshnessStatement, ReleaseCapability, ReleaseManifest, ReleaseVersion, SignedRelease,
    FRESHNESS_VALID_MAX_SECS, HOST_COMPONENT, PACKAGE_MAX,
};
use assent_proto::wire::{List, Text};
use rand_core::OsRng;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{printable, AdminContext};
use crate::civil_time::{format_unix_ms, parse_duration_secs};
use crate::store::{ReleaseRecord, PAGE_MAX};

/// The target triple this relay was built for: the default `target` of a
/// manifest.
pub const BUILD_TARGET: &str = env!("ASSENT_RELAY_BUILD_TARGET");
/// Largest manifest file read.
const MANIFEST_FILE_MAX: u64 = 64 * 1024;
/// Largest public key file read.
const PUBLIC_KEY_FILE_MAX: u64 = 64 * 1024;

/// Sign, publish and list host releases (R16).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ReleaseCommand {
    /// Create the release signing key (RSA-4096): `release.key` (owner-only)
    /// and `release.pub.pem` in the data directory. Hosts pin the public key
    /// at enrolment. Keep the private key offline if you can; publishing only
    /// needs it passed with --release-key. Never overwrites a key.
    Keygen {
        /// Where to write the private key instead; the public key goes
        /// beside it with the extension `.pub.pem`.
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
    },
    /// Sign a package's manifest with the release key and store both, so
    /// hosts that ask are offered it. Prints
    /// `published COMPONENT VERSION for TARGET: sha256 HEX, SIZE bytes`.
    ///
    /// MANIFEST.toml keys: `version` ("MAJOR.MINOR.PATCH", required),
    /// `capabilities` (required list of screen-view, remote-control,
    /// file-transfer, notifications: everything the new build can do),
    /// `component` (default "assent-host"), `target` (default the target this
    /// relay was built for), `notes` (release notes shown to the technician,
    /// default empty), `rollback` (true to publish a version older than the
    /// latest on purpose, default false). Other keys are refused.
    Publish {
        /// The package file: the new binary exactly as hosts install it.
        #[arg(value_name = "PACKAGE")]
        package: PathBuf,
        /// The release description (TOML; keys above).
        #[arg(long, value_name = "MANIFEST.toml")]
        manifest: PathBuf,
        /// The release private key (default: release.key in the data directory).
        #[arg(long, value_name = "PATH")]
        release_key: Option<PathBuf>,
    },
    /// Sign the freshness statement hosts are served beside each latest
    /// release: "the latest release of this component for this target is
    /// this one, until then". A host warns the technician and support when
    /// its statement expired or names a release the relay does not offer,
    /// so a relay cannot hold hosts on an old release for longer than
    /// --valid. `publish` signs one for 7 days; run this before that runs
    /// out (daily from cron, with the release key). Prints
    /// `attested COMPONENT VERSION for TARGET until TIME` for each.
    Attest {
        /// How long the statements hold: `36h`, `7d`, `2w` (at most 31d).
        /// `0` signs statements that are stale at once, so hosts warn (a drill).
        #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_validity)]
        valid: u64,
        /// The release private key (default: release.key in the data directory).
        #[arg(long, value_name = "PATH")]
        release_key: Option<PathBuf>,
    },
    /// Show published releases, newest first: component, version, target,
    /// publication time, size, SHA-256, signer, rollback.
    List,
}

/// Where the release keys live, from the relay's data directory.
#[derive(Debug, Clone)]
pub struct ReleaseKeyFiles {
    /// The private key `publish` signs with unless --release-key says otherwise.
    pub private_key: PathBuf,
    /// The public key hosts pin; `publish` signs with no other key.
    pub public_key: PathBuf,
}

impl ReleaseKeyFiles {
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self {
            private_key: data_dir.join("release.key"),
            public_key: data_dir.join("release.pub.pem"),
        }
    }
}

/// The public key file written beside a private key file.
fn public_key_beside(private_key: &Path) -> PathBuf {
    let mut name = private_key.as_os_str().to_owned();
    name.push(".pub.pem");
    match private_key.extension() {
        Some(ext) if ext == "key" => private_key.with_extension("pub.pem"),
        _ => PathBuf::from(name),
    }
}

/// `release keygen`: writes a new key pair; refuses to replace either file.
pub fn keygen(
    files: &ReleaseKeyFiles,
    out_path: Option<&Path>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let (private_key, public_key) = match out_path {
        Some(path) => (path.to_path_buf(), public_key_beside(path)),
        None => (files.private_key.clone(), files.public_key.clone()),
    };
    for path in [&private_key, &public_key] {
        if path.symlink_metadata().is_ok() {
            bail!(
                "{} already exists; refusing to replace a release key hosts may pin (move it away first)",
                path.display()
            );
        }
    }
    eprintln!("generating an RSA-4096 release key (this takes a few seconds)…");
    let identity = Identity::generate(&mut OsRng)?;
    identity
        .save(&private_key)
        .with_context(|| format!("writing {}", private_key.display()))?;
    std::fs::write(&public_key, identity.public().to_spki_pem())
        .with_context(|| format!("writing {}", public_key.display()))?;
    writeln!(out, "release key written to {}", private_key.display())?;
    writeln!(
        out,
        "release public key written to {}",
        public_key.display()
    )?;
    writeln!(
        out,
        "release key fingerprint: {}",
        hex::encode(identity.fingerprint().0)
    )?;
    Ok(())
}

/// Runs `release publish` or `release list` against the store.
pub fn run(
    cmd: &ReleaseCommand,
    ctx: &mut AdminContext<'_>,
    files: &ReleaseKeyFiles,
) -> anyhow::Result<()> {
    match cmd {
        ReleaseCommand::Keygen { out } => keygen(files, out.as_deref(), ctx.out),
        ReleaseCommand::Publish {
            package,
            manifest,
            release_key,
        } => {
            let key_path = release_key.as_deref().unwrap_or(&files.private_key);
            let signer = Identity::load(key_path)
                .with_context(|| format!("loading the release key {}", key_path.display()))?;
            let pinned = load_public_key(&files.public_key)?;
            let description = ManifestFile::load(manifest)?;
            publish(ctx, package, &description, &signer, &pinned)
        }
        ReleaseCommand::Attest { valid, release_key } => {
            let key_path = release_key.as_deref().unwrap_or(&files.private_key);
            let signer = Identity::load(key_path)
                .with_context(|| format!("loading the release key {}", key_path.display()))?;
            let pinned = load_public_key(&files.public_key)?;
            attest_all(ctx, &signer, &pinned, *valid)
        }
        ReleaseCommand::List => list(ctx),
    }
}

fn load_public_key(path: &Path) -> anyhow::Result<PublicIdentity> {
    let bytes = read_bounded(path, PUBLIC_KEY_FILE_MAX).with_context(|| {
        format!(
            "reading the release public key {} (hosts pin it; create it with `assent-relay release keygen`, or copy the release key's public half there)",
            path.display()
        )
    })?;
    PublicIdentity::from_spki_pem_or_der(&bytes)
        .with_context(|| format!("release public key {}", path.display()))
}

fn read_bounded(path: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        bail!("{} is larger than {max} bytes", path.display());
    }
    Ok(bytes)
}

/// MANIFEST.toml as the operator writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    pub version: String,
    #[serde(default = "default_component")]
    pub component: String,
    #[serde(default = "default_target")]
    pub target: String,
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub rollback: bool,
}

fn default_component() -> String {
    HOST_COMPONENT.into()
}

fn default_target() -> String {
    BUILD_TARGET.into()
}

impl ManifestFile {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let bytes = read_bounded(path, MANIFEST_FILE_MAX)
            .with_context(|| format!("reading the manifest {}", path.display()))?;
        let text = std::str::from_utf8(&bytes)
            .with_context(|| format!("manifest {} is not UTF-8 text", path.display()))?;
        Self::parse(text).with_context(|| format!("manifest {}", path.display()))
    }

    /// Parses and checks the manifest; errors name the key at fault.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let file: Self = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        file.check()?;
        Ok(file)
    }

    fn check(&self) -> anyhow::Result<()> {
        self.release_version()?;
        self.capability_list()?;
        for (key, value) in [("component", &self.component), ("target", &self.target)] {
            let fine = !value.is_empty()
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if !fine {
                bail!("{key}: {value:?} must be non-empty letters, digits, '-', '_' or '.'");
            }
        }
        Ok(())
    }

    fn release_version(&self) -> anyhow::Result<ReleaseVersion> {
        self.version
            .parse()
            .map_err(|e: String| anyhow::anyhow!("version: {e}"))
    }

    fn capability_list(&self) -> anyhow::Result<Vec<ReleaseCapability>> {
        let mut list = Vec::with_capacity(self.capabilities.len());
        for name in &self.capabilities {
            let capability: ReleaseCapability = name
                .parse()
                .map_err(|e: String| anyhow::anyhow!("capabilities: {e}"))?;
            if list.contains(&capability) {
                bail!("capabilities: {name:?} is listed twice");
            }
            list.push(capability);
        }
        Ok(list)
    }

    /// The manifest to sign for a package with this hash and size;
    /// `rolls_back` is the published version a rollback undoes.
    fn manifest(
        &self,
        sha256: [u8; 32],
        size: u64,
        published_unix: u64,
        rolls_back: Option<&str>,
    ) -> anyhow::Result<ReleaseManifest> {
        let text = |key: &str, value: &str| anyhow::anyhow!("{key}: {value:?} is too long");
        Ok(ReleaseManifest {
            version: Text::new(self.version.as_str())
                .map_err(|_| text("version", &self.version))?,
            component: Text::new(self.component.as_str())
                .map_err(|_| text("component", &self.component))?,
            target: Text::new(self.target.as_str()).map_err(|_| text("target", &self.target))?,
            sha256,
            size,
            capabilities: List::new(self.capability_list()?)
                .map_err(|e| anyhow::anyhow!("capabilities: {e}"))?,
            notes: Text::new(self.notes.as_str()).map_err(|e| anyhow::anyhow!("notes: {e}"))?,
            rolls_back: rolls_back
                .map(Text::new)
                .transpose()
                .map_err(|e| anyhow::anyhow!("rollback: {e}"))?,
            published_unix,
        })
    }
}

/// A TOML error as `key: problem (line N)`: the key is read from the line
/// the error points at, so type errors name it too.
fn toml_error(text: &str, error: &toml::de::Error) -> anyhow::Error {
    let message = error.message().trim_end();
    let allowed = "allowed keys: version, capabilities, component, target, notes, rollback";
    let Some(span) = error.span().filter(|span| span.start < text.len()) else {
        return anyhow::anyhow!("{message}; {allowed}");
    };
    let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[span.start..]
        .find('\n')
        .map_or(text.len(), |i| span.start + i);
    let line_number = text[..span.start].matches('\n').count() + 1;
    let key = text[line_start..line_end]
        .split('=')
        .next()
        .unwrap_or("")
        .trim();
    let is_key = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if is_key {
        anyhow::anyhow!("{key}: {message} (line {line_number}); {allowed}")
    } else {
        anyhow::anyhow!("{message} (line {line_number}); {allowed}")
    }
}

/// SHA-256 and size of the package file, read in bounded pieces.
fn hash_package(path: &Path) -> anyhow::Result<([u8; 32], u64)> {
    let meta = std::fs::metadata(path).with_context(|| format!("package {}", path.display()))?;
    if !meta.is_file() {
        bail!("package {} is not a regular file", path.display());
    }
    if meta.len() > PACKAGE_MAX {
        bail!(
            "package {} has {} bytes, more than the {PACKAGE_MAX}-byte limit hosts accept",
            path.display(),
            meta.len()
        );
    }
    let mut file =
        std::fs::File::open(path).with_context(|| format!("package {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size: u64 = 0;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        size += n as u64;
        if size > PACKAGE_MAX {
            bail!(
                "package {} grew beyond the {PACKAGE_MAX}-byte limit while being read",
                path.display()
            );
        }
        hasher.update(&buf[..n]);
    }
    if size == 0 {
        bail!("package {} is empty", path.display());
    }
    Ok((hasher.finalize().into(), size))
}

fn publish(
    ctx: &mut AdminContext<'_>,
    package: &Path,
    description: &ManifestFile,
    signer: &Identity,
    pinned: &PublicIdentity,
) -> anyhow::Result<()> {
    if signer.fingerprint() != pinned.fingerprint() {
        bail!(
            "the release key given ({}) is not the release key hosts pin ({}); sign with the key whose public half is the relay's release.pub.pem",
            hex::encode(signer.fingerprint().0),
            hex::encode(pinned.fingerprint().0)
        );
    }
    let version = description.release_version()?;
    let latest = ctx
        .store
        .latest_release(&description.component, &description.target)?
        .and_then(|latest| latest.version.parse::<ReleaseVersion>().ok());
    // A rollback names the release it undoes, so hosts accept it only
    // from that release (a replayed rollback cannot downgrade others).
    let rolls_back = match (latest, description.rollback) {
        (Some(latest), false) if version <= latest => bail!(
            "version {version} is not newer than the published {latest} for {}; set rollback = true in the manifest to publish it as a rollback",
            description.target
        ),
        (Some(latest), true) if version >= latest => bail!(
            "rollback: version {version} is not older than the published {latest} it would roll back; publish it without rollback = true"
        ),
        (None, true) => bail!(
            "rollback: nothing is published for {} {} to roll back from",
            description.component,
            description.target
        ),
        (Some(latest), true) => Some(latest.to_string()),
        (_, false) => None,
    };
    let (sha256, size) = hash_package(package)?;
    let published_unix_ms = ctx.now_unix.saturating_mul(1000);
    let manifest = description.manifest(sha256, size, ctx.now_unix, rolls_back.as_deref())?;
    let signed = manifest.sign(signer, &mut OsRng)?;
    // What hosts will do, done once here: a release that would not verify
    // under the pinned key is never stored.
    let verified = signed
        .verify(pinned)
        .context("the freshly signed manifest does not verify under the release public key")?;
    if verified != manifest {
        bail!("the signed manifest does not decode to what was signed; not published");
    }
    let record = ReleaseRecord {
        component: description.component.clone(),
        target: description.target.clone(),
        version: description.version.clone(),
        sha256,
        size,
        rollback: description.rollback,
        published_unix_ms,
        signed,
    };
    let mut file =
        std::fs::File::open(package).with_context(|| format!("package {}", package.display()))?;
    ctx.store
        .publish_release(&record, &mut file)
        .context("storing the release")?;
    writeln!(
        ctx.out,
        "published {} {} for {}: sha256 {}, {} bytes",
        record.component,
        record.version,
        record.target,
        hex::encode(sha256),
        size
    )?;
    attest(ctx, &record, signer, pinned, PUBLISH_FRESHNESS_SECS)
}

fn parse_validity(input: &str) -> Result<u64, String> {
    if input.trim() == "0" {
        return Ok(0);
    }
    parse_duration_secs(input).map_err(|e| e.to_string())
}

/// How long the statement `publish` signs holds.
const PUBLISH_FRESHNESS_SECS: u64 = 7 * 24 * 3600;

/// `release attest`: a statement for the latest release of every component
/// and target published.
fn attest_all(
    ctx: &mut AdminContext<'_>,
    signer: &Identity,
    pinned: &PublicIdentity,
    valid_secs: u64,
) -> anyhow::Result<()> {
    if valid_secs > FRESHNESS_VALID_MAX_SECS {
        bail!("--valid: at most 31d, so a relay can replay a statement for a month at most");
    }
    let mut pairs: Vec<(String, String)> = ctx
        .store
        .releases(PAGE_MAX)?
        .into_iter()
        .map(|r| (r.component, r.target))
        .collect();
    pairs.sort();
    pairs.dedup();
    if pairs.is_empty() {
        writeln!(ctx.out, "no releases published: nothing to attest")?;
    }
    for (component, target) in pairs {
        if let Some(latest) = ctx.store.latest_release(&component, &target)? {
            attest(ctx, &latest, signer, pinned, valid_secs)?;
        }
    }
    Ok(())
}

fn attest(
    ctx: &mut AdminContext<'_>,
    latest: &ReleaseRecord,
    signer: &Identity,
    pinned: &PublicIdentity,
    valid_secs: u64,
) -> anyhow::Result<()> {
    if signer.fingerprint() != pinned.fingerprint() {
        bail!(
            "the release key given ({}) is not the release key hosts pin ({}); attest with the key whose public half is the relay's release.pub.pem",
            hex::encode(signer.fingerprint().0),
            hex::encode(pinned.fingerprint().0)
        );
    }
    let statement = FreshnessStatement::for_release(
        &latest.signed,
        Text::new(&latest.component).context("component")?,
        Text::new(&latest.target).context("target")?,
        Text::new(&latest.version).context("version")?,
        ctx.now_unix,
        valid_secs,
    );
    let signed = statement.sign(signer, &mut OsRng);
    signed
        .verify(pinned)
        .context("the freshly signed statement does not verify under the release public key")?;
    ctx.store
        .set_release_freshness(&latest.component, &latest.target, &signed)
        .context("storing the freshness statement")?;
    writeln!(
        ctx.out,
        "attested {} {} for {} until {}{}",
        printable(&latest.component),
        printable(&latest.version),
        printable(&latest.target),
        format_unix_ms(statement.expires_unix.saturating_mul(1000)),
        if valid_secs == 0 {
            " (already expired: hosts will warn that their release information is stale)"
        } else {
            ""
        }
    )?;
    Ok(())
}

fn list(ctx: &mut AdminContext<'_>) -> anyhow::Result<()> {
    let releases = ctx.store.releases(PAGE_MAX)?;
    if releases.is_empty() {
        writeln!(ctx.out, "no releases published")?;
        return Ok(());
    }
    for release in &releases {
        writeln!(ctx.out, "{}", release_line(release))?;
    }
    Ok(())
}

fn release_line(release: &ReleaseRecord) -> String {
    let SignedRelease { signer, .. } = &release.signed;
    format!(
        "{} {} for {}: published {}, {} bytes, sha256 {}, signed by {}{}",
        printable(&release.component),
        printable(&release.version),
        printable(&release.target),
        format_unix_ms(release.published_unix_ms),
        release.size,
        hex::encode(release.sha256),
        hex::encode(signer.0),
        if release.rollback { ", rollback" } else { "" }
    )
}
