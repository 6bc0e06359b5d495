//! Assent's own checks (R15), raised and cleared by `assent-host run` with
//! source `assent` under IDs the intake may not touch: disk space low on
//! the data directory's filesystem, clock skew against the relay, relay
//! unreachable, screen capture failing, relay certificate about to expire.
//!
//! Each check yields a [`Finding`]; [`report`] turns findings into book
//! changes only when the state changes, so a check that runs every minute
//! with a changing number in its detail does not fill the outbox.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assent_proto::messages::notification::{NotificationKind, NotificationSource, Severity};
use assent_proto::notification_intake::RaisedNotification;
use tokio::sync::watch;
use tracing::warn;

use super::shared::SharedBook;
use crate::relay_link::now_unix;
use assent_proto::civil_time::format_unix_ms;

pub const DISK_SPACE_LOW: &str = "assent.disk-space-low";
pub const CLOCK_SKEW: &str = "assent.clock-skew";
pub const RELAY_UNREACHABLE: &str = "assent.relay-unreachable";
pub const CAPTURE_FAILING: &str = "assent.screen-capture-failing";
pub const CERTIFICATE_EXPIRY: &str = "assent.relay-certificate-expiry";

const MIB: u64 = 1024 * 1024;

pub struct CheckSettings {
    pub data_dir: PathBuf,
    /// Free space below which "disk space low" is raised.
    pub disk_low_bytes: u64,
    pub clock_skew_limit: Duration,
    /// How long before the relay certificate's end to warn.
    pub certificate_warning: Duration,
    /// The display whose capture is checked; `None`: no capture check.
    pub display: Option<String>,
    pub interval: Duration,
}

/// A problem a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    pub kind: NotificationKind,
    pub title: String,
    pub detail: String,
}

/// What a check found: a problem, or `None` when all is well.
pub type Finding = Option<Problem>;

pub fn disk_finding(dir: &Path, free_bytes: u64, threshold_bytes: u64) -> Finding {
    (free_bytes < threshold_bytes).then(|| Problem {
        severity: Severity::Warning,
        kind: NotificationKind::PerformanceIssue,
        title: "Disk space low".into(),
        detail: format!(
            "{} MiB free on the filesystem of {} (Assent warns below {} MiB); free some space",
            free_bytes / MIB,
            dir.display(),
            threshold_bytes / MIB
        ),
    })
}

/// `skew_ms`: how far our clock is ahead of the relay's.
pub fn clock_finding(skew_ms: i64, limit: Duration) -> Finding {
    let skew = Duration::from_millis(skew_ms.unsigned_abs());
    (skew > limit).then(|| Problem {
        severity: Severity::Warning,
        kind: NotificationKind::ConfigurationProblem,
        title: "System clock is off".into(),
        detail: format!(
            "this PC's clock is {} s {} the relay's; set the time (NTP), or signed lists and certificates may be refused",
            skew.as_secs(),
            if skew_ms > 0 { "ahead of" } else { "behind" }
        ),
    })
}

pub fn certificate_finding(not_after: i64, now: i64, warning: Duration) -> Finding {
    let left = not_after - now;
    if left > i64::try_from(warning.as_secs()).unwrap_or(i64::MAX) {
        return None;
    }
    let when = format_unix_ms(u64::try_from(not_after).unwrap_or(0).saturating_mul(1000));
    Some(Problem {
        severity: if left <= 0 { Severity::Error } else { Severity::Warning },
        kind: NotificationKind::ConfigurationProblem,
        title: if left <= 0 {
            "Relay certificate has expired".into()
        } else {
            "Relay certificate expires soon".into()
        },
        detail: format!(
            "the relay's TLS certificate is valid until {when}; the operator must renew it, and hosts must then be re-pinned"
        ),
    })
}

pub fn unreachable_problem(relay: &str, offline_for: Duration, last_error: &str) -> Problem {
    Problem {
        severity: Severity::Error,
        kind: NotificationKind::Failure,
        title: "Relay unreachable".into(),
        detail: format!(
            "no connection to the relay at {relay} for {} s: {last_error}",
            offline_for.as_secs()
        ),
    }
}

pub fn capture_finding(result: Result<(), String>) -> Finding {
    result.err().map(|reason| Problem {
        severity: Severity::Error,
        kind: NotificationKind::Failure,
        title: "Screen capture failing".into(),
        detail: format!("support sessions cannot show the screen: {reason}"),
    })
}

/// Raises or clears `id` to match `finding`. A problem already active with
/// the same severity and title is left alone (its detail may hold numbers
/// that change with every check).
pub async fn report(book: &SharedBook, id: &str, finding: Finding) {
    let Ok(text_id) = assent_proto::wire::Text::new(id) else {
        return;
    };
    let active = book.read(|b| {
        b.find(id)
            .map(|n| (n.severity, n.title.as_str().to_owned()))
    });
    let result = match finding {
        Some(problem) => {
            if active.as_ref() == Some(&(problem.severity, problem.title.clone())) {
                return;
            }
            book.raise(RaisedNotification {
                id: text_id,
                source: NotificationSource::Assent,
                severity: problem.severity,
                kind: problem.kind,
                title: assent_net::relay_client::text(&problem.title),
                detail: assent_net::relay_client::text(&problem.detail),
            })
            .await
        }
        None if active.is_some() => book.clear(text_id).await,
        None => return,
    };
    if let Err(e) = result {
        warn!(id, error = %e, "could not record the result of a check");
    }
}

/// Free bytes for an unprivileged user on the filesystem holding `dir`.
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let path = CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: `stat` is plain data the call fills; `path` is NUL-terminated.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    Ok((stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64))
}

/// Opens the display and reads one frame, as a support session would.
fn try_capture(display: Option<&str>) -> Result<(), String> {
    use crate::capture::{ScreenSource, X11Screen};
    let mut screen = X11Screen::open(display).map_err(|e| e.to_string())?;
    screen.capture().map(drop).map_err(|e| e.to_string())
}

/// Disk, capture and certificate checks every `interval`, forever.
/// `certificate` holds the relay certificate's `notAfter` once known.
pub async fn run_periodic(
    book: SharedBook,
    settings: CheckSettings,
    mut certificate: watch::Receiver<Option<i64>>,
) {
    loop {
        let dir = settings.data_dir.clone();
        let threshold = settings.disk_low_bytes;
        let display = settings.display.clone();
        let (disk, capture) = tokio::task::spawn_blocking(move || {
            let disk = free_bytes(&dir).map(|free| disk_finding(&dir, free, threshold));
            let capture = display.map(|d| capture_finding(try_capture(Some(&d))));
            (disk, capture)
        })
        .await
        .unwrap_or_else(|e| (Err(std::io::Error::other(e.to_string())), None));
        match disk {
            Ok(finding) => report(&book, DISK_SPACE_LOW, finding).await,
            Err(e) => warn!(error = %e, "cannot check free disk space"),
        }
        if let Some(finding) = capture {
            report(&book, CAPTURE_FAILING, finding).await;
        }
        let not_after = *certificate.borrow_and_update();
        if let Some(not_after) = not_after {
            let finding =
                certificate_finding(not_after, now_unix() as i64, settings.certificate_warning);
            report(&book, CERTIFICATE_EXPIRY, finding).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.interval) => {}
            // A new login brings a certificate date: check it now.
            _ = certificate.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_space_below_the_threshold_is_a_problem_and_above_it_is_not() {
        let dir = Path::new("/data");
        assert!(disk_finding(dir, 100 * MIB, 1024 * MIB).is_some());
        assert!(disk_finding(dir, 1024 * MIB, 1024 * MIB).is_none());
    }

    #[test]
    fn clock_skew_either_way_beyond_the_limit_is_a_problem() {
        let limit = Duration::from_secs(120);
        assert!(clock_finding(121_000, limit)
            .unwrap()
            .detail
            .contains("ahead"));
        assert!(clock_finding(-121_000, limit)
            .unwrap()
            .detail
            .contains("behind"));
        assert!(clock_finding(119_000, limit).is_none());
        assert!(clock_finding(-119_000, limit).is_none());
    }

    #[test]
    fn a_certificate_warns_within_its_window_and_is_an_error_once_expired() {
        let day = 86_400;
        let window = Duration::from_secs(30 * day as u64);
        assert!(certificate_finding(100 * day, 0, window).is_none());
        let soon = certificate_finding(10 * day, 0, window).unwrap();
        assert_eq!(soon.severity, Severity::Warning);
        let expired = certificate_finding(0, day, window).unwrap();
        assert_eq!(expired.severity, Severity::Error);
        assert_ne!(soon.title, expired.title, "an expiry replaces the warning");
    }

    #[test]
    fn a_failed_capture_is_a_problem_naming_why() {
        let finding = capture_finding(Err("no X display".into())).unwrap();
        assert!(finding.detail.contains("no X display"));
        assert!(capture_finding(Ok(())).is_none());
    }

    #[tokio::test]
    async fn a_check_reports_only_when_its_state_changes() {
        let dir = tempfile::tempdir().unwrap();
        let book =
            SharedBook::new(super::super::book::NotificationBook::open(dir.path(), 1).unwrap());
        let problem = |detail: &str| Problem {
            severity: Severity::Warning,
            kind: NotificationKind::PerformanceIssue,
            title: "Disk space low".into(),
            detail: detail.into(),
        };
        report(&book, DISK_SPACE_LOW, Some(problem("100 MiB free"))).await;
        report(&book, DISK_SPACE_LOW, Some(problem("90 MiB free"))).await;
        assert_eq!(book.read(|b| b.outbox_len()), 1);
        report(&book, DISK_SPACE_LOW, None).await;
        report(&book, DISK_SPACE_LOW, None).await;
        assert_eq!(book.read(|b| b.outbox_len()), 2);
        let source = book.read(|b| b.recently_cleared().count());
        assert_eq!(source, 1);
    }

    #[test]
    fn free_space_of_an_existing_directory_can_be_read() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_bytes(dir.path()).is_ok());
        assert!(free_bytes(&dir.path().join("missing")).is_err());
    }
}
