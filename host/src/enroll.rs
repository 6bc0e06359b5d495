//! `assent-host enroll`: once per instrument PC. Creates the device's
//! RSA-4096 identity (0600, R4), pins the relay certificate, the operator
//! key and (optionally) the release key that signs upgrades (R16), and
//! registers the instrument with the relay (R13) using the operator's
//! one-time enrolment token (issue 13). On a PHI instrument (R11: the token
//! says `phi`, or the model is on the PHI list) a build with file transfer
//! enrols only if the installer approves the capability twice: by flag and
//! again at an interactive prompt; the relay audits that approval.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use assent_net::relay_client::{text, unexpected, RelayClient, RelayTarget};
use assent_net::CertFingerprint;
use assent_proto::identity::Identity;
use assent_proto::instrument::{effective_profile, InstrumentProfile};
use assent_proto::messages::signalling::{
    ClientRole, EnrollRequest, EnrolmentToken, FileTransferInstall, SignallingMessage,
};
use assent_proto::wire::Bytes;
use rand_core::OsRng;

use crate::config::{read_public_key, HostConfig, HostFiles};
use crate::relay_link::SOFTWARE_VERSION;

#[derive(Debug, clap::Args)]
pub struct EnrollArgs {
    /// The relay, host:port (UDP).
    #[arg(long)]
    pub relay: String,
    /// SHA-256 fingerprint of the relay certificate, exactly as the operator
    /// gave it (the relay prints it at first start).
    #[arg(long, value_name = "FINGERPRINT")]
    pub relay_pin: CertFingerprint,
    /// Name to present to the relay (any name works under a pin).
    #[arg(long, default_value = "localhost")]
    pub relay_name: String,
    /// The operator's public key (`operator.pub.pem` from
    /// `assent-relay operator-keygen`); the host verifies the engineer
    /// allowlist with it.
    #[arg(long, value_name = "PATH")]
    pub operator_key: PathBuf,
    /// The operator's release public key (`release.pub.pem` from
    /// `assent-relay release keygen`); upgrades are installed only when
    /// signed by it (R16). Without it `assent-host upgrade` refuses.
    // Boxed: a flat path would make `enroll` the one oversized command.
    #[arg(long, value_name = "PATH", value_parser = boxed_path)]
    pub release_key: Option<Box<PathBuf>>,
    /// The one-time enrolment token from the operator (`assent-relay
    /// enrolment issue`), `aet-phi-…` or `aet-no-phi-…`. It names the
    /// instrument's profile and works once, for the model, instrument ID and
    /// serial it was issued for.
    #[arg(long, value_name = "TOKEN", value_parser = parse_token)]
    pub token: EnrolmentToken,
    /// Registrant's e-mail address.
    #[arg(long)]
    pub email: String,
    /// Registrant's name.
    #[arg(long)]
    pub name: String,
    /// Instrument model, e.g. "AQUIOS CL".
    #[arg(long)]
    pub model: String,
    /// Instrument ID.
    #[arg(long)]
    pub instrument_id: String,
    /// Instrument serial number.
    #[arg(long)]
    pub serial: String,
    /// Directory where files sent by engineers land (full builds only;
    /// default: `received/` in the data directory).
    #[arg(long, value_name = "DIR")]
    pub receive_dir: Option<PathBuf>,
    /// On an instrument that holds patient data (R11), approve installing a
    /// build that includes file transfer. You are asked to confirm again.
    #[arg(long)]
    pub approve_file_transfer: bool,
}

pub async fn run(files: &HostFiles, args: EnrollArgs) -> Result<()> {
    if files.config_path().exists() {
        bail!(
            "{} exists: this host is already enrolled; use another --data-dir to enrol again",
            files.config_path().display()
        );
    }
    let file_transfer = install_declaration(&args)?;
    let operator = read_public_key(&args.operator_key)?;
    let release = args
        .release_key
        .as_deref()
        .map(|path| read_public_key(path))
        .transpose()?;
    if release
        .as_ref()
        .is_some_and(|r| r.fingerprint() == operator.fingerprint())
    {
        bail!("--release-key is the operator key; the release key must be a distinct key");
    }
    crate::anchor_files::create_dir(&files.dir)
        .with_context(|| format!("creating the data directory {}", files.dir.display()))?;

    let identity = if files.identity_path().exists() {
        files.load_identity()?
    } else {
        eprintln!("generating this host's RSA-4096 identity (takes a few seconds)…");
        let identity = tokio::task::spawn_blocking(|| Identity::generate(&mut OsRng)).await??;
        identity
            .save(&files.identity_path())
            .with_context(|| format!("saving {}", files.identity_path().display()))?;
        std::sync::Arc::new(identity)
    };

    let target = RelayTarget::pinned(&args.relay, &args.relay_name, args.relay_pin)?;
    let (mut client, challenge) = RelayClient::open(&target, ClientRole::Host, SOFTWARE_VERSION)
        .await
        .with_context(|| format!("connecting to the relay at {}", args.relay))?;
    let mut request = EnrollRequest {
        registrant_email: field("email", &args.email)?,
        registrant_name: field("name", &args.name)?,
        instrument_model: field("model", &args.model)?,
        instrument_id: field("instrument-id", &args.instrument_id)?,
        serial_number: field("serial", &args.serial)?,
        host_key: identity.public().clone(),
        file_transfer,
        enrolment_token: Some(args.token.clone()),
        signature: Bytes::default(),
    };
    request.sign(&identity, &challenge, &mut OsRng);
    let answer = client.request(&request).await.context("enrolling")?;
    let SignallingMessage::EnrollAccepted(accepted) = answer else {
        return Err(unexpected("EnrollAccepted", answer)).context("enrolling");
    };
    client.close().await;

    files.save_public_key(&files.operator_key_path(), &operator)?;
    if let Some(release) = &release {
        files.save_public_key(&files.release_key_path(), release)?;
    }
    let receive_dir = if cfg!(feature = "file-transfer") {
        let dir = args
            .receive_dir
            .unwrap_or_else(|| files.dir.join("received"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Some(
            dir.canonicalize()
                .with_context(|| format!("resolving {}", dir.display()))?,
        )
    } else {
        None
    };
    files.save_config(&HostConfig {
        relay: args.relay,
        relay_name: args.relay_name,
        relay_pin: args.relay_pin.to_string(),
        host_id: accepted.host_id.to_string(),
        instrument_model: args.model,
        receive_dir,
    })?;
    println!("enrolled: host ID {}", accepted.host_id);
    println!("host key fingerprint: {}", identity.fingerprint());
    if let Some(release) = &release {
        println!("release key pinned: {}", release.fingerprint());
    }
    Ok(())
}

/// R11: what this build, the token's profile and the model say about file
/// transfer. The token's profile wins, but never makes a listed PHI model
/// non-PHI; with a PHI profile a full build needs the installer's approval.
fn install_declaration(args: &EnrollArgs) -> Result<FileTransferInstall> {
    if !cfg!(feature = "file-transfer") {
        return Ok(FileTransferInstall::CompiledOut);
    }
    if effective_profile(&args.model, Some(args.token.profile)) == InstrumentProfile::NoPhi {
        return Ok(FileTransferInstall::Included);
    }
    if !args.approve_file_transfer {
        bail!(
            "{:?} holds patient data: install the PHI build (file transfer compiled out), \
             or approve file transfer explicitly with --approve-file-transfer",
            args.model
        );
    }
    print!(
        "{:?} holds patient data. This build can transfer files to and from it.\n\
         Type \"approve\" to allow file transfer on this instrument: ",
        args.model
    );
    std::io::stdout().flush().ok();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the approval")?;
    if line.trim() != "approve" {
        bail!("file transfer was not approved; nothing was enrolled");
    }
    Ok(FileTransferInstall::ApprovedByInstaller)
}

fn parse_token(value: &str) -> Result<EnrolmentToken, String> {
    EnrolmentToken::parse(value).map_err(|e| e.to_string())
}

fn boxed_path(value: &str) -> Result<Box<PathBuf>, std::convert::Infallible> {
    Ok(Box::new(PathBuf::from(value)))
}

fn field<const MAX: usize>(flag: &str, value: &str) -> Result<assent_proto::wire::Text<MAX>> {
    let value = value.trim();
    if value.is_empty() || value.chars().any(char::is_control) {
        bail!("--{flag} must be non-empty text without control characters");
    }
    if value.len() > MAX {
        return Err(anyhow!("--{flag} is longer than {MAX} bytes"));
    }
    Ok(text(value))
}
