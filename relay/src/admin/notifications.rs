//! `assent-relay notifications list|watch` (R15): what hosts report about
//! their instruments, for support. `list` prints the active notifications;
//! `watch` prints them and then follows the store's notification log (the
//! relay is another process; SQLite's WAL lets this one read while it
//! writes), one line per raise or clear, flushed at once.
//!
//! Line format (one event per line, fields `key=value`, text fields quoted
//! with `\"`, `\\` and control characters escaped):
//!
//! ```text
//! active  host=H-… id=… severity=… source=… kind=… title="…" detail="…" raised_at=…
//! raised  host=H-… id=… severity=… source=… kind=… title="…" detail="…" raised_at=…
//! cleared host=H-… id=… severity=… cleared_at=…
//! ```

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use assent_proto::messages::notification::{
    Notification, NotificationCleared, NotificationKind, NotificationSource, Severity,
};

use super::{printable, AdminContext};
use crate::civil_time::format_unix_ms;
use crate::metrics::SEVERITIES;
use crate::store::{
    ActiveNotification, NotificationChange, NotificationEvent, NotificationFilter, PAGE_MAX,
};

/// How often `watch` asks the store for new events: short enough for the
/// intake-to-screen goal (p50 < 50 ms), and one indexed query per poll.
pub const WATCH_POLL: Duration = Duration::from_millis(20);
/// Events `watch` reads per poll.
const WATCH_BATCH: usize = 1000;

/// Raised (by a signal handler) to end `watch`.
pub type StopFlag = AtomicBool;

/// Show host notifications (R15): instrument and software status reported by
/// hosts in real time.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum NotificationsCommand {
    /// Print the active notifications, one per line:
    /// `active host=ID id=NID severity=S source=SRC kind=K title="…" detail="…" raised_at=TIME`
    /// (or one JSON object per line with --json).
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// One JSON object per notification and line.
        #[arg(long)]
        json: bool,
    },
    /// Print the active notifications (`active …` lines as `list`), then
    /// follow new events until SIGTERM, ctrl-c or the output closes; each is
    /// one line, flushed at once:
    /// `raised host=ID id=NID severity=S source=SRC kind=K title="…" detail="…" raised_at=TIME`,
    /// `cleared host=ID id=NID severity=S cleared_at=TIME`.
    /// Times are RFC 3339 UTC with milliseconds, as the host reported them.
    Watch {
        #[command(flatten)]
        filter: FilterArgs,
    },
}

/// Which notifications to show.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FilterArgs {
    /// Only this host (its ID, e.g. H-7KQ2MZ4P).
    #[arg(long, value_name = "HOST_ID")]
    pub host: Option<String>,
    /// Only this severity and above: info, warning, error or critical.
    #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
    pub severity: Option<Severity>,
}

impl FilterArgs {
    fn filter(&self) -> NotificationFilter {
        NotificationFilter {
            host_id: self.host.clone(),
            min_severity: self.severity,
        }
    }
}

fn parse_severity(value: &str) -> Result<Severity, String> {
    SEVERITIES
        .iter()
        .find(|(_, name)| *name == value)
        .map(|(severity, _)| *severity)
        .ok_or_else(|| {
            format!("unknown severity {value:?}; expected info, warning, error or critical")
        })
}

pub(super) fn run(
    cmd: &NotificationsCommand,
    ctx: &mut AdminContext<'_>,
    stop: &StopFlag,
) -> anyhow::Result<()> {
    match cmd {
        NotificationsCommand::List { filter, json } => list(ctx, &filter.filter(), *json),
        NotificationsCommand::Watch { filter } => watch(ctx, &filter.filter(), stop),
    }
}

fn list(ctx: &mut AdminContext<'_>, filter: &NotificationFilter, json: bool) -> anyhow::Result<()> {
    let snapshot = ctx.store.active_notifications(filter, PAGE_MAX)?;
    for active in &snapshot.notifications {
        if json {
            serde_json::to_writer(&mut *ctx.out, &active_json(active))?;
            writeln!(ctx.out)?;
        } else {
            writeln!(ctx.out, "{}", active_line(active))?;
        }
    }
    if snapshot.truncated {
        eprintln!(
            "assent-relay: only the first {PAGE_MAX} active notifications are shown; narrow with --host or --severity"
        );
    }
    Ok(())
}

/// Writes one line and flushes it; `false` once the reader has gone.
fn emit(out: &mut dyn Write, line: &str) -> anyhow::Result<bool> {
    let written = writeln!(out, "{line}").and_then(|()| out.flush());
    match written {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn watch(
    ctx: &mut AdminContext<'_>,
    filter: &NotificationFilter,
    stop: &StopFlag,
) -> anyhow::Result<()> {
    // The active set and the log position are read together, so nothing
    // raised meanwhile is missed or shown twice.
    let snapshot = ctx.store.active_notifications(filter, PAGE_MAX)?;
    for active in &snapshot.notifications {
        if !emit(ctx.out, &active_line(active))? {
            return Ok(());
        }
    }
    let mut after = snapshot.last_event;
    while !stop.load(Ordering::Relaxed) {
        let events = ctx.store.notification_events(after, filter, WATCH_BATCH)?;
        if events.is_empty() {
            std::thread::sleep(WATCH_POLL);
            continue;
        }
        for event in &events {
            after = event.event;
            if !emit(ctx.out, &event_line(event))? {
                return Ok(());
            }
        }
    }
    Ok(())
}

pub(crate) fn severity_name(severity: Severity) -> &'static str {
    SEVERITIES
        .iter()
        .find(|(s, _)| *s == severity)
        .map_or("unknown", |(_, name)| name)
}

fn source_name(source: NotificationSource) -> &'static str {
    match source {
        NotificationSource::InstrumentSoftware => "instrument_software",
        NotificationSource::Instrument => "instrument",
        NotificationSource::HostOs => "host_os",
        NotificationSource::Assent => "assent",
    }
}

fn kind_name(kind: NotificationKind) -> &'static str {
    match kind {
        NotificationKind::ConfigurationProblem => "configuration_problem",
        NotificationKind::PerformanceIssue => "performance_issue",
        NotificationKind::Failure => "failure",
        NotificationKind::Recovered => "recovered",
    }
}

/// Text from a host, quoted so a line always splits back into its fields:
/// quotes and backslashes escaped, control and bidi characters shown as escapes.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push_str(&printable(c.encode_utf8(&mut [0; 4]))),
        }
    }
    out.push('"');
    out
}

/// A notification ID as a field value: bare when it is a plain token.
fn token(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'));
    if plain {
        text.to_owned()
    } else {
        quoted(text)
    }
}

fn raised_fields(host_id: &str, n: &Notification) -> String {
    format!(
        "host={} id={} severity={} source={} kind={} title={} detail={} raised_at={}",
        token(host_id),
        token(&n.id),
        severity_name(n.severity),
        source_name(n.source),
        kind_name(n.kind),
        quoted(&n.title),
        quoted(&n.detail),
        format_unix_ms(n.raised_unix_ms)
    )
}

fn cleared_fields(host_id: &str, cleared: &NotificationCleared, severity: Severity) -> String {
    format!(
        "host={} id={} severity={} cleared_at={}",
        token(host_id),
        token(&cleared.id),
        severity_name(severity),
        format_unix_ms(cleared.cleared_unix_ms)
    )
}

fn active_line(active: &ActiveNotification) -> String {
    format!(
        "active {}",
        raised_fields(&active.host_id, &active.notification)
    )
}

fn event_line(event: &NotificationEvent) -> String {
    match &event.change {
        NotificationChange::Raised(n) => format!("raised {}", raised_fields(&event.host_id, n)),
        NotificationChange::Cleared { cleared, severity } => format!(
            "cleared {}",
            cleared_fields(&event.host_id, cleared, *severity)
        ),
    }
}

fn active_json(active: &ActiveNotification) -> serde_json::Value {
    let n = &active.notification;
    serde_json::json!({
        "host": active.host_id,
        "id": n.id.as_str(),
        "severity": severity_name(n.severity),
        "source": source_name(n.source),
        "kind": kind_name(n.kind),
        "title": n.title.as_str(),
        "detail": n.detail.as_str(),
        "raised_at": format_unix_ms(n.raised_unix_ms),
        "received_at": format_unix_ms(active.received_unix_ms),
        "seq": n.seq,
    })
}
