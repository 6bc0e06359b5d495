//! The JSON shape of a notification, as the book stores it and as
//! `assent-host notifications --json` prints it: enums by name (the intake's
//! names), texts checked against their wire bounds when read back.

use assent_proto::messages::notification::{
    Notification, NotificationCleared, NotificationKind, NotificationSource, Severity,
};
use assent_proto::messages::session::SessionMessage;
use assent_proto::messages::signalling::SignallingMessage;
use assent_proto::wire::Text;
use serde::{Deserialize, Serialize};

/// One report the host sends to the relay (and to a connected viewer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    Raised(Notification),
    Cleared(NotificationCleared),
}

impl Report {
    pub fn seq(&self) -> u64 {
        match self {
            Report::Raised(n) => n.seq,
            Report::Cleared(c) => c.seq,
        }
    }

    pub fn seq_mut(&mut self) -> &mut u64 {
        match self {
            Report::Raised(n) => &mut n.seq,
            Report::Cleared(c) => &mut c.seq,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Report::Raised(n) => n.id.as_str(),
            Report::Cleared(c) => c.id.as_str(),
        }
    }

    pub fn to_signalling(&self) -> SignallingMessage {
        match self {
            Report::Raised(n) => n.clone().into(),
            Report::Cleared(c) => c.clone().into(),
        }
    }

    pub fn to_session(&self) -> SessionMessage {
        match self {
            Report::Raised(n) => n.clone().into(),
            Report::Cleared(c) => c.clone().into(),
        }
    }

    /// The line the technician sees on `assent-host run`'s terminal.
    pub fn describe(&self) -> String {
        match self {
            Report::Raised(n) => format!(
                "notification [{}] {} ({})",
                SeverityName::from(n.severity).as_str(),
                n.title.as_str(),
                n.id.as_str()
            ),
            Report::Cleared(c) => format!("notification cleared ({})", c.id.as_str()),
        }
    }
}

macro_rules! named_enum {
    ($name:ident for $wire:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $name {
            $( #[serde(rename = $text)] $variant, )*
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $text, )* }
            }
        }

        impl From<$wire> for $name {
            fn from(value: $wire) -> Self {
                match value { $( $wire::$variant => $name::$variant, )* }
            }
        }

        impl From<$name> for $wire {
            fn from(value: $name) -> Self {
                match value { $( $name::$variant => $wire::$variant, )* }
            }
        }
    };
}

named_enum!(SourceName for NotificationSource {
    InstrumentSoftware = "instrument_software",
    Instrument = "instrument",
    HostOs = "host_os",
    Assent = "assent",
});

named_enum!(SeverityName for Severity {
    Info = "info",
    Warning = "warning",
    Error = "error",
    Critical = "critical",
});

named_enum!(KindName for NotificationKind {
    ConfigurationProblem = "configuration_problem",
    PerformanceIssue = "performance_issue",
    Failure = "failure",
    Recovered = "recovered",
});

/// A notification in JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationRecord {
    pub seq: u64,
    pub id: String,
    pub source: SourceName,
    pub severity: SeverityName,
    pub kind: KindName,
    pub title: String,
    pub detail: String,
    pub raised_unix_ms: u64,
}

/// A clear in JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearRecord {
    pub seq: u64,
    pub id: String,
    pub cleared_unix_ms: u64,
}

/// A report in JSON: `{"raised": {...}}` or `{"cleared": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ReportRecord {
    Raised(NotificationRecord),
    Cleared(ClearRecord),
}

impl From<&Notification> for NotificationRecord {
    fn from(n: &Notification) -> Self {
        Self {
            seq: n.seq,
            id: n.id.as_str().to_owned(),
            source: n.source.into(),
            severity: n.severity.into(),
            kind: n.kind.into(),
            title: n.title.as_str().to_owned(),
            detail: n.detail.as_str().to_owned(),
            raised_unix_ms: n.raised_unix_ms,
        }
    }
}

impl From<&NotificationCleared> for ClearRecord {
    fn from(c: &NotificationCleared) -> Self {
        Self {
            seq: c.seq,
            id: c.id.as_str().to_owned(),
            cleared_unix_ms: c.cleared_unix_ms,
        }
    }
}

impl From<&Report> for ReportRecord {
    fn from(report: &Report) -> Self {
        match report {
            Report::Raised(n) => ReportRecord::Raised(n.into()),
            Report::Cleared(c) => ReportRecord::Cleared(c.into()),
        }
    }
}

fn checked<const MAX: usize>(field: &str, value: String) -> Result<Text<MAX>, String> {
    Text::new(value).map_err(|e| format!("{field}: {e}"))
}

impl TryFrom<NotificationRecord> for Notification {
    type Error = String;

    fn try_from(r: NotificationRecord) -> Result<Self, String> {
        Ok(Notification {
            seq: r.seq,
            id: checked("id", r.id)?,
            source: r.source.into(),
            severity: r.severity.into(),
            kind: r.kind.into(),
            title: checked("title", r.title)?,
            detail: checked("detail", r.detail)?,
            raised_unix_ms: r.raised_unix_ms,
        })
    }
}

impl TryFrom<ClearRecord> for NotificationCleared {
    type Error = String;

    fn try_from(r: ClearRecord) -> Result<Self, String> {
        Ok(NotificationCleared {
            seq: r.seq,
            id: checked("id", r.id)?,
            cleared_unix_ms: r.cleared_unix_ms,
        })
    }
}

impl TryFrom<ReportRecord> for Report {
    type Error = String;

    fn try_from(r: ReportRecord) -> Result<Self, String> {
        Ok(match r {
            ReportRecord::Raised(n) => Report::Raised(n.try_into()?),
            ReportRecord::Cleared(c) => Report::Cleared(c.try_into()?),
        })
    }
}
