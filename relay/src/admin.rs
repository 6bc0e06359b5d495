//! Operator commands run against the relay's state store, outside the server:
//! `assent-relay allowlist add|remove|sign|list` manages the enrolled viewer
//! identities and issues the operator-signed list hosts fetch and verify (R7);
//! `assent-relay audit list|verify|export` reads, checks and exports the
//! sealed audit chain (R12, R13); `assent-relay release keygen|publish|list`
//! signs and stores host releases (R16); `assent-relay notifications
//! list|watch` shows what hosts report (R15); `assent-relay enrolment
//! issue|list|revoke` invites instruments with one-time tokens (issue 13).
//!
//! Each command is a clap subcommand enum plus a `run_*` function over an
//! [`AdminContext`] (store, data key, operator key, clock, output), so the
//! binary only parses its configuration, builds the context and maps the
//! result to an exit code.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;

use assent_proto::identity::{Fingerprint, Identity};

use crate::store::{DataKey, StateStore};

mod allowlist;
mod audit;
mod enrolment;
mod notifications;
mod releases;

pub use crate::civil_time::{parse_duration_secs, DateError, GivenTime};
pub use allowlist::{AddArgs, AllowListCommand, Expiry, SigningArgs, DEFAULT_LIST_VALIDITY};
pub use audit::{AuditCommand, AuditFilter, AuditOutcome, ExportFormat, ListArgs, ViewerFilter};
pub use enrolment::{EnrolmentCommand, IssueArgs, MAX_TOKEN_VALIDITY_SECS};
pub use notifications::{NotificationsCommand, StopFlag, WATCH_POLL};
pub use releases::{ManifestFile, ReleaseCommand, ReleaseKeyFiles, BUILD_TARGET};

#[cfg(test)]
mod test_support;

/// What an admin command works on. The binary builds one from its
/// configuration; tests build one over a temporary database.
pub struct AdminContext<'a> {
    pub store: &'a dyn StateStore,
    pub data_key: &'a DataKey,
    /// The operator's signing key; allowlist changes are refused without it.
    pub operator: Option<&'a Identity>,
    /// The current time (unix seconds): expiry checks and issue dates.
    pub now_unix: u64,
    /// Where listings and reports go (normally stdout).
    pub out: &'a mut dyn Write,
}

impl fmt::Debug for AdminContext<'_> {
    // The data key and operator key never reach a log; the operator key's
    // fingerprint is enough to tell which one is configured.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminContext")
            .field("data_key", &"<redacted>")
            .field("operator", &self.operator.map(Identity::fingerprint))
            .field("now_unix", &self.now_unix)
            .finish_non_exhaustive()
    }
}

/// Runs an `allowlist` subcommand. Errors say what was refused and what to do;
/// they are [`AdminError`]s where the operator can act on the kind.
pub fn run_allowlist(cmd: &AllowListCommand, ctx: &mut AdminContext<'_>) -> anyhow::Result<()> {
    allowlist::run(cmd, ctx)
}

/// Runs an `enrolment` subcommand (issue 13): issue, list or revoke the
/// one-time tokens hosts enrol with.
pub fn run_enrolment(cmd: &EnrolmentCommand, ctx: &mut AdminContext<'_>) -> anyhow::Result<()> {
    enrolment::run(cmd, ctx)
}

/// Runs an `audit` subcommand. `Ok` with a failed [`AuditOutcome`] (a broken
/// chain, unreadable records) means the command ran and found a problem: print
/// the outcome to stderr and exit 1. `Err` means it could not run at all.
pub fn run_audit(cmd: &AuditCommand, ctx: &mut AdminContext<'_>) -> anyhow::Result<AuditOutcome> {
    audit::run(cmd, ctx)
}

/// Runs a `release` subcommand (R16). `keygen` needs no store: call
/// [`release_keygen`] for it without opening one.
pub fn run_release(
    cmd: &ReleaseCommand,
    ctx: &mut AdminContext<'_>,
    files: &ReleaseKeyFiles,
) -> anyhow::Result<()> {
    releases::run(cmd, ctx, files)
}

/// `release keygen`: writes a new release key pair, never replacing one.
pub fn release_keygen(
    files: &ReleaseKeyFiles,
    out_path: Option<&std::path::Path>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    releases::keygen(files, out_path, out)
}

/// Runs a `notifications` subcommand (R15). `watch` runs until `stop` is
/// raised or its output is closed.
pub fn run_notifications(
    cmd: &NotificationsCommand,
    ctx: &mut AdminContext<'_>,
    stop: &StopFlag,
) -> anyhow::Result<()> {
    notifications::run(cmd, ctx, stop)
}

/// Refusals an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("allowlist changes need the operator key: set operator_key in the config, or create one with `assent-relay operator-keygen` (it signs the list hosts verify)")]
    OperatorKeyMissing,
    #[error("viewer {0} is not on the allowlist; `assent-relay allowlist list` shows who is")]
    NotListed(Fingerprint),
    #[error("expiry {given} is not in the future (now is {now}); give a later date or a duration like 90d")]
    ExpiryNotInFuture { given: String, now: String },
    #[error("the allowlist already holds the most entries a signed list can carry ({max}); remove one first")]
    AllowListFull { max: usize },
    #[error("viewer key file {}: {problem}", path.display())]
    ViewerKey { path: PathBuf, problem: String },
    #[error("--{field}: {problem}")]
    InvalidValue {
        field: &'static str,
        problem: String,
    },
    #[error("{} already exists; refusing to overwrite it (choose another name or move it away)", .0.display())]
    OutputExists(PathBuf),
}

/// The first 4 bytes of a fingerprint or session ID as hex and an ellipsis:
/// enough to tell records apart in a listing.
pub(crate) fn short_hex(bytes: &[u8]) -> String {
    let mut out = hex::encode(&bytes[..bytes.len().min(4)]);
    out.push('…');
    out
}

/// Text from the store (names, reasons, file names reported by hosts) made
/// safe for a terminal: control characters and bidirectional overrides, which
/// could fake or hide output, are shown as escapes.
pub(crate) fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
