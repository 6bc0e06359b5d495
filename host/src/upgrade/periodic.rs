//! `assent-host run` asks the relay for a newer signed release now and then
//! (R16) and tells the technician through a notification, which also
//! reaches support through the relay. It never installs anything: that
//! takes `assent-host upgrade install` and the technician's approval.

use std::path::PathBuf;
use std::time::Duration;

use assent_proto::identity::PublicIdentity;
use assent_proto::messages::notification::{NotificationKind, Severity};
use assent_proto::release::Freshness;
use tracing::{debug, warn};

use super::approval::phi_refusal;
use super::installed::{default_binary, InstalledState};
use super::offer::{check, CheckOutcome};
use super::record_check;
use crate::config::HostFiles;
use crate::notifications::checks::{self, Finding, Problem};
use crate::notifications::shared::SharedBook;
use crate::relay_link::RelayLink;

/// Notification ID of the upgrade check's finding.
pub const UPGRADE_ID: &str = "assent.upgrade";
/// Notification ID of the freshness statement's finding (issue 13).
pub const FRESHNESS_ID: &str = "assent.upgrade.freshness";

/// Checks at once, then every `interval`, while the connection lasts (the
/// caller aborts the task when it drops). Without a pinned release key
/// there is nothing to verify against, so nothing is checked.
pub async fn check_periodically(
    data_dir: PathBuf,
    link: RelayLink,
    book: SharedBook,
    interval: Duration,
) {
    let files = HostFiles::new(data_dir);
    let release_key = match files.load_release_key() {
        Ok(key) => key,
        Err(e) => {
            debug!(error = %format!("{e:#}"), "no upgrade checks");
            return;
        }
    };
    let model = files
        .load_config()
        .map(|c| c.instrument_model)
        .unwrap_or_default();
    // Audit a result once, not every period: only when it changes.
    let mut last_audited: Option<String> = None;
    loop {
        match check_once(&files, &link, &release_key).await {
            Ok((outcome, freshness)) => {
                let summary = format!("{outcome:?}");
                if last_audited.as_ref() != Some(&summary) {
                    match record_check(&link, &outcome).await {
                        Ok(()) => last_audited = Some(summary),
                        Err(e) => warn!(error = %format!("{e:#}"), "auditing an upgrade check"),
                    }
                }
                checks::report(&book, UPGRADE_ID, finding(&outcome, &model)).await;
                checks::report(&book, FRESHNESS_ID, freshness_finding(&freshness)).await;
            }
            Err(e) => warn!(error = %format!("{e:#}"), "upgrade check"),
        }
        tokio::time::sleep(interval).await;
    }
}

async fn check_once(
    files: &HostFiles,
    link: &RelayLink,
    release_key: &PublicIdentity,
) -> anyhow::Result<(CheckOutcome, Freshness)> {
    let binary = default_binary()?;
    let dir = files.dir.clone();
    // Hashing the binary reads it whole: off the async threads.
    let state =
        tokio::task::spawn_blocking(move || InstalledState::at(&HostFiles::new(dir), &binary))
            .await??;
    check(link, release_key, &state.release, &state.withdrawn).await
}

/// What the technician should hear about an outcome on an instrument of
/// `model` (a release with file transfer cannot be installed on one that
/// holds patient data, R11).
/// A warning while the relay's release information cannot be trusted to be
/// current (issue 13 item 5); cleared once a fresh statement is served.
pub fn freshness_finding(freshness: &Freshness) -> Finding {
    freshness.warning().map(|detail| Problem {
        severity: Severity::Warning,
        kind: NotificationKind::ConfigurationProblem,
        title: "Release information from the relay is stale".to_owned(),
        detail: format!("{detail}; tell the operator"),
    })
}

pub fn finding(outcome: &CheckOutcome, model: &str) -> Finding {
    match outcome {
        CheckOutcome::NothingPublished | CheckOutcome::UpToDate { .. } => None,
        CheckOutcome::Available(available) => {
            if let Some(why) = phi_refusal(&available.manifest.capabilities, model) {
                return Some(Problem {
                    severity: Severity::Warning,
                    kind: NotificationKind::ConfigurationProblem,
                    title: format!(
                        "Release {} cannot be installed on this instrument",
                        available.plan.to
                    ),
                    detail: format!("{why}; tell the operator"),
                });
            }
            let plan = &available.plan;
            let mut detail = format!(
                "assent-host {} → {}{}; install with `assent-host upgrade install`",
                plan.from,
                plan.to,
                if plan.rollback {
                    " (a rollback signed by the operator)"
                } else {
                    ""
                }
            );
            if !plan.new_capabilities.is_empty() {
                let names: Vec<_> = plan.new_capabilities.iter().map(|c| c.name()).collect();
                detail.push_str(&format!(
                    "; adds {} (each needs your separate approval)",
                    names.join(", ")
                ));
            }
            if let Some(notes) = available.manifest.notes.lines().next() {
                detail.push_str(&format!("; notes: {notes}"));
            }
            Some(Problem {
                severity: Severity::Info,
                kind: NotificationKind::ConfigurationProblem,
                title: format!("Upgrade available: assent-host {}", plan.to),
                detail,
            })
        }
        CheckOutcome::Refused {
            claimed_version,
            reason,
        } => Some(Problem {
            severity: Severity::Warning,
            kind: NotificationKind::ConfigurationProblem,
            title: format!("Release {claimed_version} offered by the relay was refused"),
            detail: format!("{reason}; tell the operator"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use assent_proto::release::{
        assess, Installed, ReleaseCapability, ReleaseError, ReleaseManifest, ReleaseVersion,
        HOST_COMPONENT,
    };
    use assent_proto::wire::{List, Text};

    use super::super::offer::AvailableRelease;
    use super::*;

    fn available(capabilities: Vec<ReleaseCapability>) -> CheckOutcome {
        let manifest = ReleaseManifest {
            version: Text::new("2.0.0").unwrap(),
            component: Text::new(HOST_COMPONENT).unwrap(),
            target: Text::new("x86_64-unknown-linux-gnu").unwrap(),
            sha256: [0; 32],
            size: 1,
            capabilities: List::new(capabilities).unwrap(),
            notes: Text::new("Faster capture.\nMore.").unwrap(),
            rolls_back: None,
            published_unix: 0,
        };
        let installed = Installed {
            component: HOST_COMPONENT.into(),
            target: "x86_64-unknown-linux-gnu".into(),
            version: "1.0.0".parse().unwrap(),
            capabilities: vec![ReleaseCapability::ScreenView],
        };
        let plan = assess(&installed, &manifest).unwrap();
        CheckOutcome::Available(Box::new(AvailableRelease { manifest, plan }))
    }

    #[test]
    fn an_available_release_is_news_naming_its_new_capabilities() {
        let problem = finding(
            &available(vec![
                ReleaseCapability::ScreenView,
                ReleaseCapability::RemoteControl,
            ]),
            "DxH 900",
        )
        .unwrap();
        assert_eq!(problem.severity, Severity::Info);
        assert_eq!(problem.title, "Upgrade available: assent-host 2.0.0");
        assert!(
            problem.detail.contains("adds remote-control"),
            "{}",
            problem.detail
        );
        assert!(
            problem.detail.contains("notes: Faster capture."),
            "{}",
            problem.detail
        );
    }

    #[test]
    fn a_release_with_file_transfer_is_not_offered_as_installable_on_a_phi_instrument() {
        let outcome = available(vec![ReleaseCapability::FileTransfer]);
        let problem = finding(&outcome, "Navios EX").unwrap();
        assert_eq!(problem.severity, Severity::Warning);
        assert!(
            problem.title.contains("cannot be installed"),
            "{}",
            problem.title
        );
        let elsewhere = finding(&outcome, "DxH 900").unwrap();
        assert!(elsewhere.title.starts_with("Upgrade available"));
    }

    #[test]
    fn nothing_to_install_clears_the_notification() {
        assert_eq!(finding(&CheckOutcome::NothingPublished, "DxH 900"), None);
        let version: ReleaseVersion = "1.0.0".parse().unwrap();
        assert_eq!(
            finding(&CheckOutcome::UpToDate { version }, "DxH 900"),
            None
        );
    }

    #[test]
    fn a_refused_offer_is_a_warning_naming_the_reason() {
        let problem = finding(
            &CheckOutcome::Refused {
                claimed_version: "9.9.9".into(),
                reason: ReleaseError::BadSignature,
            },
            "DxH 900",
        )
        .expect("a refusal is reported");
        assert_eq!(problem.severity, Severity::Warning);
        assert!(problem.title.contains("9.9.9"));
        assert!(problem.detail.contains("signature"), "{}", problem.detail);
    }
}
