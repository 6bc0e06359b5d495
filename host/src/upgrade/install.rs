//! Installing and rolling back a release (R16, R12). Each step is audited
//! at the relay and its acknowledgement awaited before the step takes
//! effect: `Approved` and every capability decision before anything is
//! swapped, `Installed` before the package is renamed over the binary
//! (grants are recorded before they act, as in sessions). A swap that then
//! fails is audited as `Refused` with its reason. No refusal, decline or
//! failure leaves a staging file or a replaced binary. Both flows hold the
//! binary's [`UpgradeLock`] throughout.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use assent_net::relay_client::text;
use assent_proto::messages::audit_event::{AuditEvent, UpgradeStepCode};
use assent_proto::release::{ReleaseManifest, ReleaseVersion};
use indicatif::{ProgressBar, ProgressStyle};

use super::approval::{self, Terminal};
use super::binary_file::{self, previous_path, BinaryFileError};
use super::installed::{
    file_sha256, hex, InstalledState, RecordedRelease, ReleaseRecord, WithdrawnRecord,
};
use super::lock::UpgradeLock;
use super::offer::{self, AvailableRelease, CheckOutcome, DownloadError};
use crate::config::{HostConfig, HostFiles};
use crate::relay_link::{self, host_text, RelayLink};

/// Logs in to the relay as the enrolled host.
pub async fn connect(files: &HostFiles) -> Result<(HostConfig, RelayLink)> {
    let config = files.load_config()?;
    let identity = files.load_identity()?;
    let client = relay_link::login(&config.relay_target()?, &identity, &config.host_id).await?;
    let link = RelayLink::spawn(client, &config.host_id);
    Ok((config, link))
}

/// Records one upgrade step; returns once the relay holds it durably.
pub async fn audit_step(
    link: &RelayLink,
    version: &str,
    step: UpgradeStepCode,
    detail: &str,
) -> Result<()> {
    link.audit(AuditEvent::Upgrade {
        host_id: host_text(link.host_id()),
        version: text(version),
        step,
        detail: text(detail),
    })
    .await
    .with_context(|| format!("recording the upgrade step {:?} at the relay", step.name()))
}

/// Audits what a check found: `Available` or `Refused` (nothing else is a
/// step worth recording).
pub async fn record_check(link: &RelayLink, outcome: &CheckOutcome) -> Result<()> {
    match outcome {
        CheckOutcome::Available(available) => {
            audit_step(
                link,
                &available.plan.to.to_string(),
                UpgradeStepCode::Available,
                &format!("from {}", available.plan.from),
            )
            .await
        }
        CheckOutcome::Refused {
            claimed_version,
            reason,
        } => {
            audit_step(
                link,
                claimed_version,
                UpgradeStepCode::Refused,
                &reason.to_string(),
            )
            .await
        }
        CheckOutcome::NothingPublished | CheckOutcome::UpToDate { .. } => Ok(()),
    }
}

/// How `upgrade install` ended without an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallOutcome {
    NothingPublished,
    UpToDate(ReleaseVersion),
    Installed(ReleaseVersion),
}

/// `assent-host upgrade install`: query, verify, download, ask, swap.
pub async fn install(
    files: &HostFiles,
    binary: &Path,
    terminal: &mut Terminal,
) -> Result<InstallOutcome> {
    // First: the sweep below would delete a concurrent install's staging file.
    let _lock = UpgradeLock::acquire(binary)?;
    let release_key = files.load_release_key()?;
    let state = InstalledState::at(files, binary)?;
    let swept = binary_file::sweep_stale_staging(binary);
    if swept > 0 {
        tracing::info!(swept, "removed staging files of an interrupted install");
    }
    let (config, link) = connect(files).await?;
    let (outcome, freshness) =
        offer::check(&link, &release_key, &state.release, &state.withdrawn).await?;
    if let Some(warning) = freshness.warning() {
        eprintln!("warning: {warning}");
    }
    record_check(&link, &outcome).await?;
    let available = match outcome {
        CheckOutcome::NothingPublished => return Ok(InstallOutcome::NothingPublished),
        CheckOutcome::UpToDate { version } => return Ok(InstallOutcome::UpToDate(version)),
        CheckOutcome::Refused {
            claimed_version,
            reason,
        } => bail!("release {claimed_version} refused: {reason}; nothing was installed"),
        CheckOutcome::Available(available) => *available,
    };
    let AvailableRelease { manifest, plan } = available;
    let version = plan.to.to_string();
    let refuse = |detail: String| {
        let link = link.clone();
        let version = version.clone();
        async move {
            audit_step(&link, &version, UpgradeStepCode::Refused, &detail).await?;
            bail!("release {version} refused: {detail}; nothing was installed")
        }
    };
    if let Some(why) = approval::phi_refusal(&manifest.capabilities, &config.instrument_model) {
        return refuse(why).await;
    }

    println!(
        "downloading assent-host {version} ({} bytes)…",
        manifest.size
    );
    let bar = progress_bar(manifest.size);
    let staged =
        match offer::download(&link, &manifest, binary, |done, _| bar.set_position(done)).await {
            Ok(staged) => staged,
            Err(e @ (DownloadError::Refused(_) | DownloadError::OutOfOrder { .. })) => {
                bar.abandon();
                return refuse(e.to_string()).await;
            }
            Err(e) => {
                bar.abandon();
                return Err(e).context("downloading the release; nothing was installed");
            }
        };
    bar.finish_and_clear();
    println!("package verified against its signed size and SHA-256");

    println!("\n{}", approval::summary(&manifest, &plan));
    let question = format!(
        "Install assent-host {version} at {}? [y/N]",
        binary.display()
    );
    confirm(&link, terminal, &version, &question, "install").await?;
    audit_step(
        &link,
        &version,
        UpgradeStepCode::Approved,
        "install approved",
    )
    .await?;

    for &capability in &plan.new_capabilities {
        let question = approval::capability_question(capability, &config.instrument_model);
        let answer = terminal.ask(&question).await;
        if !approval::approves_capability(capability, answer.as_deref()) {
            audit_step(
                &link,
                &version,
                UpgradeStepCode::CapabilityDeclined,
                capability.name(),
            )
            .await?;
            bail!("{capability} was not approved; the upgrade to {version} was not installed");
        }
        audit_step(
            &link,
            &version,
            UpgradeStepCode::CapabilityApproved,
            capability.name(),
        )
        .await?;
    }

    audit_step(
        &link,
        &version,
        UpgradeStepCode::Installed,
        &format!("sha256 {} at {}", hex(&manifest.sha256), binary.display()),
    )
    .await?;
    if let Err(e) = binary_file::swap_in(staged, binary, &manifest.sha256) {
        if e.replaced_the_binary() {
            record_install(files, binary, &state, &manifest)?;
            return Err(e).context("installing the release");
        }
        audit_step(
            &link,
            &version,
            UpgradeStepCode::Refused,
            &format!("swap failed: {e}"),
        )
        .await?;
        return Err(e).context("installing the release");
    }
    record_install(files, binary, &state, &manifest)?;
    println!(
        "installed assent-host {version} at {}; the previous binary is kept as {} \
         (`assent-host upgrade rollback` restores it)",
        binary.display(),
        previous_path(binary).display()
    );
    Ok(InstallOutcome::Installed(plan.to))
}

fn record_install(
    files: &HostFiles,
    binary: &Path,
    replaced: &InstalledState,
    manifest: &ReleaseManifest,
) -> Result<()> {
    // What was rolled back from here stays refused across later installs.
    let withdrawn = ReleaseRecord::load(files)?
        .filter(|r| r.describes(binary))
        .map(|r| r.withdrawn)
        .unwrap_or_default();
    ReleaseRecord {
        binary: absolute(binary),
        installed: RecordedRelease::of_manifest(manifest),
        previous: Some(RecordedRelease::new(&replaced.release, &replaced.sha256)),
        withdrawn,
    }
    .save(files)
    .context(
        "the release is installed, but recording it in release.toml failed; \
         later checks compare against the running build",
    )
}

/// `assent-host upgrade rollback`: puts `<binary>.previous` back. Only
/// the binary the last install kept, by the hash `release.toml` recorded,
/// checked again right before it is renamed into place; without such a
/// record only with `force`.
pub async fn rollback(
    files: &HostFiles,
    binary: &Path,
    terminal: &mut Terminal,
    force: bool,
) -> Result<()> {
    let _lock = UpgradeLock::acquire(binary)?;
    let previous = previous_path(binary);
    if !previous.is_file() {
        bail!(
            "there is no previous binary at {}: nothing to roll back to",
            previous.display()
        );
    }
    let record = ReleaseRecord::load(files)?.filter(|r| r.describes(binary));
    let restored = record.as_ref().and_then(|r| r.previous.clone());
    // Only the binary this host kept may come back, not one put there since.
    let is_kept = || -> Result<()> {
        match &restored {
            Some(restored) if hex(&file_sha256(&previous)?) != restored.sha256 => bail!(
                "{} is not the binary the last install kept (its SHA-256 changed); \
                 not restoring it",
                previous.display()
            ),
            Some(_) => Ok(()),
            None if force => Ok(()),
            None => bail!(
                "release.toml records no binary kept at {}, so what it is cannot be checked; \
                 not restoring it. If you know it is the assent-host to go back to, run \
                 `assent-host upgrade rollback --force`",
                previous.display()
            ),
        }
    };
    is_kept()?;
    let version = restored
        .as_ref()
        .map_or_else(|| "unknown".to_owned(), |r| r.version.clone());
    let (_, link) = connect(files).await?;
    let question = format!(
        "Roll back assent-host at {} to the previous binary (version {version})? \
         The current binary is discarded. [y/N]",
        binary.display()
    );
    confirm(&link, terminal, &version, &question, "rollback").await?;
    audit_step(
        &link,
        &version,
        UpgradeStepCode::RolledBack,
        &format!("{} restored over {}", previous.display(), binary.display()),
    )
    .await?;
    // The question may have waited minutes: check again what is renamed in.
    let restored_result = is_kept().and_then(|()| Ok(binary_file::restore_previous(binary)?));
    if let Err(e) = restored_result {
        let replaced = e
            .downcast_ref::<BinaryFileError>()
            .is_some_and(BinaryFileError::replaced_the_binary);
        if replaced {
            record_rollback(files, record, restored)?;
            return Err(e).context("rolling back");
        }
        audit_step(
            &link,
            &version,
            UpgradeStepCode::Refused,
            &format!("rollback failed: {e}"),
        )
        .await?;
        return Err(e).context("rolling back");
    }
    record_rollback(files, record, restored)?;
    println!(
        "rolled back: {} is the previous binary again (version {version})",
        binary.display()
    );
    Ok(())
}

fn record_rollback(
    files: &HostFiles,
    record: Option<ReleaseRecord>,
    restored: Option<RecordedRelease>,
) -> Result<()> {
    match (record, restored) {
        (Some(record), Some(restored)) => {
            // The undone release may come back only re-signed (R16, R21).
            let mut withdrawn = record.withdrawn;
            withdrawn.push(WithdrawnRecord {
                version: record.installed.version,
                published_unix: record
                    .installed
                    .published_unix
                    .unwrap_or_else(relay_link::now_unix),
            });
            ReleaseRecord {
                binary: record.binary,
                installed: restored,
                previous: None,
                withdrawn,
            }
            .save(files)?
        }
        // Forced: nothing is known of the restored binary, so no record describes it.
        (Some(_), None) => std::fs::remove_file(files.release_record_path())
            .context("removing release.toml after the rollback")?,
        (None, _) => {}
    }
    Ok(())
}

/// Asks `question`; anything but yes is audited as `Declined` and ends
/// the command with nothing changed.
async fn confirm(
    link: &RelayLink,
    terminal: &mut Terminal,
    version: &str,
    question: &str,
    what: &str,
) -> Result<()> {
    let answer = terminal.ask(question).await;
    if approval::is_yes(answer.as_deref()) {
        return Ok(());
    }
    audit_step(
        link,
        version,
        UpgradeStepCode::Declined,
        &format!("{what} declined"),
    )
    .await?;
    bail!("the {what} ({version}) was declined; nothing was changed")
}

fn progress_bar(size: u64) -> ProgressBar {
    let bar = ProgressBar::new(size);
    if let Ok(style) =
        ProgressStyle::with_template("  [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn absolute(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn install_and_rollback_refuse_while_another_upgrade_holds_the_binary() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("assent-host");
        std::fs::write(&binary, b"current").unwrap();
        std::fs::write(previous_path(&binary), b"kept").unwrap();
        let running = UpgradeLock::acquire(&binary).unwrap();
        // The running upgrade's download, which a sweep would delete.
        let mut download = binary_file::StagedFile::beside(&binary).unwrap();
        download.write(b"half").unwrap();

        let files = HostFiles::new(dir.path().join("data"));
        let mut terminal = Terminal::from_reader(std::io::Cursor::new("y\n"), Default::default());
        let error = install(&files, &binary, &mut terminal).await.unwrap_err();
        assert!(
            format!("{error:#}").contains("another upgrade is running"),
            "{error:#}"
        );
        let error = rollback(&files, &binary, &mut terminal, true)
            .await
            .unwrap_err();
        assert!(
            format!("{error:#}").contains("another upgrade is running"),
            "{error:#}"
        );
        assert!(download.path().exists());
        assert_eq!(std::fs::read(&binary).unwrap(), b"current");
        drop(running);
    }
}
