//! `assent-relay audit …` (R12): lists, verifies and exports the sealed audit
//! chain. Records are read a page at a time (never the whole log at once),
//! opened with the audit key derived from the data key, and shown with every
//! host-reported text escaped for the terminal.

use std::collections::HashSet;
use std::fmt;
use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Context;
use assent_proto::audit::{
    open_record, AuditKey, AuditRecord, ChainBreak, ChainVerifier, SealedAuditRecord,
};
use assent_proto::messages::audit_event::{AuditEvent, ConsentOutcomeCode};
use assent_proto::messages::consent::Capability;
use assent_proto::messages::file_transfer::TransferDirection;
use clap::builder::PossibleValuesParser;

use super::{printable, short_hex, AdminContext, AdminError};
use crate::civil_time::{format_unix_ms, GivenTime};
use crate::store::{StateStore, PAGE_MAX};

/// Records read from the store per query.
const PAGE: usize = 1_000;
const _: () = assert!(PAGE <= PAGE_MAX);
/// Sessions `--viewer` follows at once (started, not yet ended); beyond this
/// a session's later events are not attributed to the viewer.
const TRACKED_SESSIONS_MAX: usize = 65_536;
/// Shortest fingerprint prefix `--viewer` accepts: 32 bits.
const VIEWER_PREFIX_MIN: usize = 8;
/// Width of the kind column: the longest kind name.
const KIND_WIDTH: usize = 32;

/// Read and check the audit log (R12): connection requests, authentication
/// failures, lockouts, consent decisions, file transfers, sessions and
/// intrusion alarms, in a sealed hash chain.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AuditCommand {
    /// List records oldest first, one line each: sequence number, time (UTC),
    /// kind, host and the event's details (identities shortened to 8 hex
    /// digits). Filters combine: a record is shown when it passes all of them.
    List(ListArgs),
    /// Check the whole chain: every record present, authentic, in order and
    /// linked to the one before, up to the head the store recorded. On success
    /// prints the record count and head (keep a copy); otherwise names the
    /// first broken record and exits 1.
    Verify,
    /// Write records as JSON lines, one object per record, for other tools.
    /// The output holds decrypted audit data: keep it as safe as the database.
    Export {
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl, help_heading = "Export")]
        format: ExportFormat,
        /// Write to this new file (owner-only, never overwritten, complete or
        /// absent) instead of stdout.
        #[arg(long, short, value_name = "PATH", help_heading = "Export")]
        output: Option<PathBuf>,
        #[command(flatten)]
        filter: AuditFilter,
    },
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line: `seq`, `time` (RFC 3339 UTC), `time_unix_ms`,
    /// `kind`, `host_id` (null for relay-wide events) and `event` (the event's
    /// fields; fingerprints, session IDs and hashes as 64 hex digits). A record
    /// that cannot be opened is `{"seq": N, "error": "…"}`.
    Jsonl,
}

/// What `audit list` shows.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Filters")]
pub struct ListArgs {
    #[command(flatten)]
    pub filter: AuditFilter,
    /// Stop after this many matching records.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
}

/// Which records `audit list` and `audit export` include.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Filters")]
pub struct AuditFilter {
    /// Only records about this host ID (e.g. H-ABCD2345).
    #[arg(long, value_name = "HOST_ID")]
    pub host: Option<String>,
    /// Only records naming this viewer identity, and the events of sessions
    /// it started: its fingerprint, or a prefix of at least 8 hex digits
    /// (spaces, ':' and '-' are ignored).
    #[arg(long, value_name = "FINGERPRINT")]
    pub viewer: Option<ViewerFilter>,
    /// Only records of this kind; repeat for several.
    #[arg(long = "kind", value_name = "KIND", value_parser = PossibleValuesParser::new(AuditEvent::KINDS))]
    pub kinds: Vec<String>,
    /// Only records at or after this time: an RFC 3339 date (from 00:00 UTC)
    /// or time (`2027-06-30T14:00:00Z`; UTC unless an offset is given).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<GivenTime>,
    /// Only records before this time; a bare date includes that whole day.
    #[arg(long, value_name = "WHEN")]
    pub until: Option<GivenTime>,
}

/// A viewer fingerprint, or a prefix of one, to filter on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerFilter {
    /// Lowercase hex digits.
    prefix: String,
}

impl FromStr for ViewerFilter {
    type Err = AdminError;

    fn from_str(s: &str) -> Result<Self, AdminError> {
        let prefix: String = s
            .chars()
            .filter(|c| !matches!(c, ' ' | ':' | '-'))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let invalid = |problem: String| AdminError::InvalidValue {
            field: "viewer",
            problem,
        };
        if let Some(c) = prefix.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(invalid(format!("{c:?} is not a hex digit")));
        }
        if !(VIEWER_PREFIX_MIN..=64).contains(&prefix.len()) {
            return Err(invalid(format!(
                "{} hex digits; give a fingerprint (64) or a prefix of at least {VIEWER_PREFIX_MIN}",
                prefix.len()
            )));
        }
        Ok(Self { prefix })
    }
}

impl ViewerFilter {
    fn matches(&self, fingerprint: &[u8; 32]) -> bool {
        hex::encode(fingerprint).starts_with(&self.prefix)
    }
}

/// How an audit command ended when it could run. Anything but `Complete` is a
/// finding: print it (its `Display` says what to do) to stderr and exit 1.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum AuditOutcome {
    /// Everything asked for was read, verified or written.
    Complete,
    /// `audit verify`: the chain breaks at this record; the ones before it verified.
    Broken(ChainBreak),
    /// `audit list`/`export`: records that could not be opened were shown as such.
    Unreadable { count: u64, first_seq: u64 },
}

impl AuditOutcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Complete)
    }

    /// The process exit code for this outcome: 0, or 1 for a finding.
    pub fn exit_code(&self) -> std::process::ExitCode {
        if self.is_ok() {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::FAILURE
        }
    }
}

impl fmt::Display for AuditOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Complete => f.write_str("audit command completed"),
            Self::Broken(broken) => write!(
                f,
                "audit log verification FAILED: {broken}; the {} record(s) before it verified. Keep this database for investigation and restore the log from a backup",
                broken.seq
            ),
            Self::Unreadable { count, first_seq } => write!(
                f,
                "{count} audit record(s) could not be opened, the first is record {first_seq}; run `assent-relay audit verify` to locate the damage"
            ),
        }
    }
}

pub(super) fn run(cmd: &AuditCommand, ctx: &mut AdminContext<'_>) -> anyhow::Result<AuditOutcome> {
    let key = ctx.data_key.audit_key();
    match cmd {
        AuditCommand::List(args) => {
            let mut out = BufWriter::new(&mut *ctx.out);
            let outcome = list(ctx.store, &key, args, &mut out)?;
            out.flush()?;
            Ok(outcome)
        }
        AuditCommand::Verify => verify(ctx.store, &key, ctx.out),
        AuditCommand::Export {
            format: ExportFormat::Jsonl,
            output,
            filter,
        } => match output {
            None => {
                let mut out = BufWriter::new(&mut *ctx.out);
                let (_, outcome) = export_jsonl(ctx.store, &key, filter, &mut out)?;
                out.flush()?;
                Ok(outcome)
            }
            Some(path) => {
                let (count, outcome) =
                    write_new_file(path, |out| export_jsonl(ctx.store, &key, filter, out))?;
                writeln!(
                    ctx.out,
                    "exported {count} audit record(s) to {}",
                    path.display()
                )?;
                Ok(outcome)
            }
        },
    }
}

/// Visits every stored record in sequence order, one page at a time, until
/// `visit` returns `false`.
fn for_each_sealed(
    store: &dyn StateStore,
    mut visit: impl FnMut(&SealedAuditRecord) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let mut from = 0u64;
    loop {
        let page = store.audit_records(from, PAGE)?;
        let Some(next) = page.last().map(|last| last.seq.checked_add(1)) else {
            return Ok(());
        };
        for sealed in &page {
            if !visit(sealed)? {
                return Ok(());
            }
        }
        match next {
            // A store returning records below `from` would loop forever.
            Some(next) if next > from => from = next,
            _ => return Ok(()),
        }
    }
}

/// Counts records that did not open, for the outcome.
#[derive(Default)]
struct UnreadableTally {
    count: u64,
    first_seq: Option<u64>,
}

impl UnreadableTally {
    fn note(&mut self, seq: u64) {
        self.count += 1;
        self.first_seq.get_or_insert(seq);
    }

    fn outcome(&self) -> AuditOutcome {
        match self.first_seq {
            None => AuditOutcome::Complete,
            Some(first_seq) => AuditOutcome::Unreadable {
                count: self.count,
                first_seq,
            },
        }
    }
}

fn list(
    store: &dyn StateStore,
    key: &AuditKey,
    args: &ListArgs,
    out: &mut dyn Write,
) -> anyhow::Result<AuditOutcome> {
    let mut matcher = Matcher::new(&args.filter)?;
    let limit = args.limit.unwrap_or(u64::MAX);
    let mut shown = 0u64;
    let mut unreadable = UnreadableTally::default();
    writeln!(
        out,
        "{:>8}  {:<24}  {:<KIND_WIDTH$}  {:<10}  DETAILS",
        "SEQ", "TIME (UTC)", "KIND", "HOST"
    )?;
    for_each_sealed(store, |sealed| {
        if shown >= limit {
            return Ok(false);
        }
        match open_record(key, sealed) {
            Ok(record) if matcher.matches(&record) => {
                writeln!(out, "{}", record_line(&record))?;
                shown += 1;
            }
            Ok(_) => {}
            // Shown whatever the filters: damage is never filtered away.
            Err(e) => {
                unreadable.note(sealed.seq);
                writeln!(out, "{:>8}  UNREADABLE: {e}", sealed.seq)?;
            }
        }
        Ok(true)
    })?;
    if shown == limit {
        writeln!(out, "(--limit {limit} reached)")?;
    } else if shown == 0 {
        writeln!(out, "(no audit records match)")?;
    }
    Ok(unreadable.outcome())
}

fn record_line(record: &AuditRecord) -> String {
    let details: Vec<String> = event_fields(&record.event)
        .iter()
        .map(|(name, value)| format!("{name}={}", value.shown()))
        .collect();
    format!(
        "{:>8}  {:<24}  {:<KIND_WIDTH$}  {:<10}  {}",
        record.seq,
        format_unix_ms(record.time_unix_ms),
        record.event.kind(),
        record.event.host_id().map_or_else(|| "-".into(), printable),
        details.join(" ")
    )
}

/// Checks the chain up to the head the store recorded. The head is read
/// first: records other relays append meanwhile only extend the chain past it.
fn verify(
    store: &dyn StateStore,
    key: &AuditKey,
    out: &mut dyn Write,
) -> anyhow::Result<AuditOutcome> {
    let anchor = store.audit_head()?;
    let mut verifier = ChainVerifier::new(key, Some(anchor));
    let mut broken = None;
    for_each_sealed(store, |sealed| match verifier.push(sealed) {
        Ok(()) => Ok(true),
        Err(at) => {
            broken = Some(at);
            Ok(false)
        }
    })?;
    if let Some(broken) = broken {
        return Ok(AuditOutcome::Broken(broken));
    }
    match verifier.finish() {
        Ok(verified) => {
            writeln!(
                out,
                "audit log verified: {} record(s), head {}:{}",
                verified.records,
                verified.head.next_seq,
                hex::encode(verified.head.last_hash)
            )?;
            Ok(AuditOutcome::Complete)
        }
        Err(broken) => Ok(AuditOutcome::Broken(broken)),
    }
}

/// Writes matching records as JSON lines; returns how many lines were written.
fn export_jsonl(
    store: &dyn StateStore,
    key: &AuditKey,
    filter: &AuditFilter,
    out: &mut dyn Write,
) -> anyhow::Result<(u64, AuditOutcome)> {
    let mut matcher = Matcher::new(filter)?;
    let mut written = 0u64;
    let mut unreadable = UnreadableTally::default();
    for_each_sealed(store, |sealed| {
        let line = match open_record(key, sealed) {
            Ok(record) if matcher.matches(&record) => record_json(&record),
            Ok(_) => return Ok(true),
            Err(e) => {
                unreadable.note(sealed.seq);
                serde_json::json!({ "seq": sealed.seq, "error": e.to_string() })
            }
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
        written += 1;
        Ok(true)
    })?;
    Ok((written, unreadable.outcome()))
}

fn record_json(record: &AuditRecord) -> serde_json::Value {
    let event: serde_json::Map<String, serde_json::Value> = event_fields(&record.event)
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.json()))
        .collect();
    serde_json::json!({
        "seq": record.seq,
        "time": format_unix_ms(record.time_unix_ms),
        "time_unix_ms": record.time_unix_ms,
        "kind": record.event.kind(),
        "host_id": record.event.host_id(),
        "event": event,
    })
}

/// Creates `path` holding what `write` produces, or nothing: written under a
/// temporary name (owner-only), synced, then linked into place, never
/// replacing an existing file.
fn write_new_file<T>(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    if path.symlink_metadata().is_ok() {
        return Err(AdminError::OutputExists(path.to_path_buf()).into());
    }
    let name = path
        .file_name()
        .with_context(|| format!("{} does not name a file", path.display()))?;
    let partial = path.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&partial).with_context(|| {
        format!(
            "cannot create {} (if a previous export was interrupted, delete it)",
            partial.display()
        )
    })?;
    let written = (|| {
        let mut out = BufWriter::new(file);
        let value = write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        // Linking refuses an existing target, where renaming would replace it.
        match std::fs::hard_link(&partial, path) {
            Ok(()) => Ok(value),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(AdminError::OutputExists(path.to_path_buf()).into())
            }
            // Filesystems without hard links: rename, having checked above.
            Err(_) => std::fs::rename(&partial, path)
                .map(|()| value)
                .with_context(|| format!("cannot create {}", path.display())),
        }
    })();
    // Gone already after a rename; otherwise the finished or failed partial file.
    let _ = std::fs::remove_file(&partial);
    written
}

/// The filters of one command run, plus the sessions `--viewer` follows.
struct Matcher<'f> {
    filter: &'f AuditFilter,
    since_ms: u64,
    until_ms: u64,
    viewer_sessions: HashSet<[u8; 32]>,
}

impl<'f> Matcher<'f> {
    fn new(filter: &'f AuditFilter) -> Result<Self, AdminError> {
        if let Some(unknown) = filter
            .kinds
            .iter()
            .find(|kind| !AuditEvent::KINDS.contains(&kind.as_str()))
        {
            return Err(AdminError::InvalidValue {
                field: "kind",
                problem: format!(
                    "{:?} is not an audit event kind; the kinds are: {}",
                    printable(unknown),
                    AuditEvent::KINDS.join(", ")
                ),
            });
        }
        Ok(Self {
            filter,
            since_ms: filter.since.map_or(0, |since| since.unix_ms),
            until_ms: filter.until.map_or(u64::MAX, |until| until.end_unix_ms()),
            viewer_sessions: HashSet::new(),
        })
    }

    fn matches(&mut self, record: &AuditRecord) -> bool {
        let event = &record.event;
        // Evaluated first and always: it follows sessions across records
        // that other filters leave out.
        let viewer = self.viewer_matches(event);
        let filter = self.filter;
        viewer
            && (filter.kinds.is_empty() || filter.kinds.iter().any(|k| k == event.kind()))
            && filter.host.as_deref().is_none_or(|host| {
                event
                    .host_id()
                    .is_some_and(|id| id.eq_ignore_ascii_case(host.trim()))
            })
            && (self.since_ms..self.until_ms).contains(&record.time_unix_ms)
    }

    fn viewer_matches(&mut self, event: &AuditEvent) -> bool {
        let Some(wanted) = &self.filter.viewer else {
            return true;
        };
        if let Some(viewer) = viewer_of(event) {
            let matched = wanted.matches(viewer);
            if let AuditEvent::SessionStarted { session_id, .. } = event {
                if matched && self.viewer_sessions.len() < TRACKED_SESSIONS_MAX {
                    self.viewer_sessions.insert(*session_id);
                }
            }
            return matched;
        }
        match event {
            AuditEvent::ConsentDecision { session_id, .. }
            | AuditEvent::FileTransfer { session_id, .. }
            | AuditEvent::InputDropped { session_id, .. } => {
                self.viewer_sessions.contains(session_id)
            }
            AuditEvent::SessionEnded { session_id, .. } => self.viewer_sessions.remove(session_id),
            _ => false,
        }
    }
}

/// The viewer identity an event names, if any.
fn viewer_of(event: &AuditEvent) -> Option<&[u8; 32]> {
    match event {
        AuditEvent::ConnectionRequest { viewer, .. }
        | AuditEvent::AuthenticationFailed { viewer, .. }
        | AuditEvent::LockedOut { viewer, .. }
        | AuditEvent::SessionStarted { viewer, .. }
        | AuditEvent::EngineerDecision { viewer, .. } => Some(viewer),
        _ => None,
    }
}

/// One field of an event, typed for display and export.
enum Value<'a> {
    Text(&'a str),
    /// A fingerprint, session ID or SHA-256: short in listings, full in exports.
    Digest(&'a [u8; 32]),
    Number(u64),
    Flag(bool),
    Word(&'static str),
}

impl Value<'_> {
    fn shown(&self) -> String {
        match self {
            Self::Text(text) => {
                let text = printable(text);
                if text.is_empty() || text.contains([' ', '"', '=']) {
                    format!("\"{}\"", text.replace('"', "\\\""))
                } else {
                    text
                }
            }
            Self::Digest(bytes) => short_hex(&bytes[..]),
            Self::Number(n) => n.to_string(),
            Self::Flag(flag) => if *flag { "yes" } else { "no" }.into(),
            Self::Word(word) => (*word).into(),
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Self::Text(text) => (*text).into(),
            Self::Digest(bytes) => hex::encode(bytes).into(),
            Self::Number(n) => (*n).into(),
            Self::Flag(flag) => (*flag).into(),
            Self::Word(word) => (*word).into(),
        }
    }
}

/// An event's fields other than its host ID (shown in its own column), in
/// wire order, named as in `AuditEvent` except where a name would read
/// ambiguously next to the record's own: an intrusion's `kind` is its
/// `pattern`, an enrolment's `host` its `host_key`.
fn event_fields(event: &AuditEvent) -> Vec<(&'static str, Value<'_>)> {
    use Value::{Digest, Flag, Number, Text, Word};
    match event {
        AuditEvent::ConnectionRequest {
            host_id: _,
            viewer,
            source,
            granted,
            reason,
        } => vec![
            ("viewer", Digest(viewer)),
            ("source", Text(source)),
            ("granted", Flag(*granted)),
            ("reason", Text(reason)),
        ],
        AuditEvent::AuthenticationFailed {
            host_id: _,
            viewer,
            source,
            failures,
        } => vec![
            ("viewer", Digest(viewer)),
            ("source", Text(source)),
            ("failures", Number(u64::from(*failures))),
        ],
        AuditEvent::LockedOut {
            host_id: _,
            viewer,
            source,
            failures,
            wait_secs,
            burned,
        } => vec![
            ("viewer", Digest(viewer)),
            ("source", Text(source)),
            ("failures", Number(u64::from(*failures))),
            ("wait_secs", Number(*wait_secs)),
            ("burned", Flag(*burned)),
        ],
        AuditEvent::ConsentDecision {
            host_id: _,
            session_id,
            capability,
            outcome,
        } => vec![
            ("session_id", Digest(session_id)),
            ("capability", Word(capability_name(*capability))),
            ("outcome", Word(outcome_name(*outcome))),
        ],
        AuditEvent::FileTransfer {
            host_id: _,
            session_id,
            name,
            size,
            sha256,
            direction,
        } => vec![
            ("session_id", Digest(session_id)),
            ("name", Text(name)),
            ("size", Number(*size)),
            ("sha256", Digest(sha256)),
            (
                "direction",
                Word(match direction {
                    TransferDirection::ToHost => "to_host",
                    TransferDirection::FromHost => "from_host",
                }),
            ),
        ],
        AuditEvent::InputDropped {
            host_id: _,
            session_id,
            count,
        } => vec![
            ("session_id", Digest(session_id)),
            ("count", Number(*count)),
        ],
        AuditEvent::IntrusionDetected {
            source,
            kind,
            detail,
        } => vec![
            ("source", Text(source)),
            ("pattern", Text(kind)),
            ("detail", Text(detail)),
        ],
        AuditEvent::HostEnrolled {
            host_id: _,
            host,
            model,
        } => vec![("host_key", Digest(host)), ("model", Text(model))],
        AuditEvent::SessionStarted {
            host_id: _,
            session_id,
            viewer,
        } => vec![
            ("session_id", Digest(session_id)),
            ("viewer", Digest(viewer)),
        ],
        AuditEvent::SessionEnded {
            host_id: _,
            session_id,
            reason,
        } => vec![("session_id", Digest(session_id)), ("reason", Text(reason))],
        AuditEvent::FileTransferCapabilityApproved { host_id: _, model } => {
            vec![("model", Text(model))]
        }
        AuditEvent::Upgrade {
            host_id: _,
            version,
            step,
            detail,
        } => vec![
            ("version", Text(version)),
            ("step", Word(step.name())),
            ("detail", Text(detail)),
        ],
        AuditEvent::SessionTampering {
            host_id: _,
            session_id,
            detail,
        } => vec![("session_id", Digest(session_id)), ("detail", Text(detail))],
        AuditEvent::EngineerDecision {
            host_id: _,
            session_id,
            viewer,
            outcome,
        } => vec![
            ("session_id", Digest(session_id)),
            ("viewer", Digest(viewer)),
            ("outcome", Word(outcome_name(*outcome))),
        ],
        AuditEvent::EnrolmentTokenIssued {
            token_id,
            model,
            instrument_id,
            serial_number,
            profile,
            expires_unix_ms,
        } => vec![
            ("token", Text(token_id)),
            ("model", Text(model)),
            ("instrument_id", Text(instrument_id)),
            ("serial", Text(serial_number)),
            ("profile", Word(profile.name())),
            ("expires_unix_ms", Number(*expires_unix_ms)),
        ],
        AuditEvent::EnrolmentTokenUsed {
            token_id,
            host_id: _,
            host,
        } => vec![("token", Text(token_id)), ("host", Digest(host))],
        AuditEvent::EnrolmentRefused {
            token_id,
            source,
            host,
            reason,
        } => vec![
            ("token", Text(token_id)),
            ("source", Text(source)),
            ("host", Digest(host)),
            ("reason", Text(reason)),
        ],
        AuditEvent::EnrolmentTokenRevoked { token_id } => vec![("token", Text(token_id))],
    }
}

fn capability_name(capability: Capability) -> &'static str {
    match capability {
        Capability::ScreenView => "screen_view",
        Capability::RemoteControl => "remote_control",
        Capability::FileTransfer => "file_transfer",
    }
}

fn outcome_name(outcome: ConsentOutcomeCode) -> &'static str {
    match outcome {
        ConsentOutcomeCode::Granted => "granted",
        ConsentOutcomeCode::Refused => "refused",
        ConsentOutcomeCode::TimedOut => "timed_out",
        ConsentOutcomeCode::Revoked => "revoked",
    }
}

#[cfg(test)]
mod tests;
