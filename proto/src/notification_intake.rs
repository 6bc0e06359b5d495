//! The host's local notification intake (R15): what the instrument software
//! writes, one JSON object per line on the intake socket or one per file in
//! the drop directory, so it needs no Rust and no Assent library.
//!
//! ```json
//! {"id":"pump-pressure","severity":"error","kind":"failure","title":"Pump pressure low","detail":"12 bar"}
//! {"id":"pump-pressure","clear":true}
//! ```
//!
//! Parsing is strict: unknown fields, a missing field, a wrong value or an
//! over-long text is an [`IntakeError`] that names the problem, so a typo
//! in the instrument software is reported instead of silently ignored.
//! Nothing from the intake may claim to come from Assent itself.

use serde::Deserialize;

use crate::messages::notification::{
    NotificationKind, NotificationSource, Severity, DETAIL_MAX, NOTIFICATION_ID_MAX, TITLE_MAX,
};
use crate::wire::Text;

/// Longest intake line or drop file, in bytes; longer input is refused
/// before it is parsed.
pub const INTAKE_MAX: usize = 16 * 1024;

/// One valid intake request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntakeRequest {
    Raise(RaisedNotification),
    Clear { id: Text<NOTIFICATION_ID_MAX> },
}

/// A notification as its source describes it; the host adds `seq` and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaisedNotification {
    pub id: Text<NOTIFICATION_ID_MAX>,
    pub source: NotificationSource,
    pub severity: Severity,
    pub kind: NotificationKind,
    pub title: Text<TITLE_MAX>,
    pub detail: Text<DETAIL_MAX>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    #[error("notification is {len} bytes; the limit is {INTAKE_MAX}")]
    TooLarge { len: usize },
    #[error("notification is not valid JSON for the intake: {0}")]
    Json(String),
    #[error("field `{field}`: {problem}")]
    Field {
        field: &'static str,
        problem: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IntakeJson {
    id: String,
    #[serde(default)]
    clear: bool,
    source: Option<SourceJson>,
    severity: Option<SeverityJson>,
    kind: Option<KindJson>,
    title: Option<String>,
    detail: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum SourceJson {
    InstrumentSoftware,
    Instrument,
    HostOs,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum SeverityJson {
    Info,
    Warning,
    Error,
    Critical,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum KindJson {
    ConfigurationProblem,
    PerformanceIssue,
    Failure,
    Recovered,
}

/// Parses one intake line or drop file.
pub fn parse_intake(bytes: &[u8]) -> Result<IntakeRequest, IntakeError> {
    if bytes.len() > INTAKE_MAX {
        return Err(IntakeError::TooLarge { len: bytes.len() });
    }
    let json: IntakeJson =
        serde_json::from_slice(bytes).map_err(|e| IntakeError::Json(e.to_string()))?;
    let id = checked_id(&json.id)?;
    if json.clear {
        let extra = [
            ("source", json.source.is_some()),
            ("severity", json.severity.is_some()),
            ("kind", json.kind.is_some()),
            ("title", json.title.is_some()),
            ("detail", json.detail.is_some()),
        ];
        if let Some((field, _)) = extra.iter().find(|(_, present)| *present) {
            return Err(field_error(field, "not allowed with \"clear\": true"));
        }
        return Ok(IntakeRequest::Clear { id });
    }
    let severity = match json.severity.ok_or_else(|| missing("severity"))? {
        SeverityJson::Info => Severity::Info,
        SeverityJson::Warning => Severity::Warning,
        SeverityJson::Error => Severity::Error,
        SeverityJson::Critical => Severity::Critical,
    };
    let kind = match json.kind.ok_or_else(|| missing("kind"))? {
        KindJson::ConfigurationProblem => NotificationKind::ConfigurationProblem,
        KindJson::PerformanceIssue => NotificationKind::PerformanceIssue,
        KindJson::Failure => NotificationKind::Failure,
        KindJson::Recovered => NotificationKind::Recovered,
    };
    let source = match json.source.unwrap_or(SourceJson::InstrumentSoftware) {
        SourceJson::InstrumentSoftware => NotificationSource::InstrumentSoftware,
        SourceJson::Instrument => NotificationSource::Instrument,
        SourceJson::HostOs => NotificationSource::HostOs,
    };
    let title = json.title.ok_or_else(|| missing("title"))?;
    if title.trim().is_empty() {
        return Err(field_error("title", "must not be empty"));
    }
    Ok(IntakeRequest::Raise(RaisedNotification {
        id,
        source,
        severity,
        kind,
        title: text("title", title)?,
        detail: text("detail", json.detail.unwrap_or_default())?,
    }))
}

/// IDs name a problem across restarts and show in CLIs: a conservative
/// alphabet keeps them unambiguous.
fn checked_id(id: &str) -> Result<Text<NOTIFICATION_ID_MAX>, IntakeError> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':');
    if id.is_empty() || !id.bytes().all(allowed) {
        return Err(field_error(
            "id",
            "must be 1 or more of A-Z a-z 0-9 - _ . :",
        ));
    }
    text("id", id.to_owned())
}

fn text<const MAX: usize>(field: &'static str, value: String) -> Result<Text<MAX>, IntakeError> {
    Text::new(value).map_err(|e| field_error(field, &e.to_string()))
}

fn missing(field: &'static str) -> IntakeError {
    field_error(field, "is required")
}

fn field_error(field: &'static str, problem: &str) -> IntakeError {
    IntakeError::Field {
        field,
        problem: problem.to_owned(),
    }
}

#[cfg(test)]
mod tests;
