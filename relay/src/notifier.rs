//! New-location confirmation codes (R8): generating them, storing only their
//! hash, limiting how many an address gets, and sending them out of band.
//!
//! A listed viewer identity seen from a new device key or network is held
//! until it enters the one-time code e-mailed to it. Sending goes through the
//! [`Notifier`] trait: [`OutboxNotifier`] writes each message to a file (tests,
//! the demo, or a mail pickup directory); [`SmtpNotifier`] speaks SMTP with
//! STARTTLS to a real mail server.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::config::{outbox_dir_in, NotifierConfig, RelayConfig};

mod outbox;
mod smtp;
#[cfg(test)]
mod tests;

pub use outbox::OutboxNotifier;
pub use smtp::SmtpNotifier;

/// Sends location codes. Blocking (file or network IO): the server calls it
/// from `tokio::task::spawn_blocking`.
pub trait Notifier: Send + Sync {
    fn send(&self, msg: &LocationCodeMessage) -> Result<(), NotifyError>;
}

/// The notifier the configuration asks for. `env` supplies the SMTP password.
pub fn build_notifier(
    config: &RelayConfig,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Box<dyn Notifier>, NotifyError> {
    match &config.notifier {
        NotifierConfig::Outbox { dir } => Ok(Box::new(OutboxNotifier::new(outbox_dir_in(
            dir.as_deref(),
            &config.data_dir,
        )))),
        NotifierConfig::Smtp(smtp) => Ok(Box::new(SmtpNotifier::new(smtp, env)?)),
    }
}

/// One e-mail asking a viewer to confirm a new location.
#[derive(Debug, Clone)]
pub struct LocationCodeMessage {
    pub to_email: String,
    pub viewer_name: String,
    pub code: LocationCode,
    pub sent_at_unix: u64,
    pub expires_at_unix: u64,
    pub relay_name: String,
    /// The new device and network, e.g. "device key SHA256:3f1c…, network
    /// 203.0.113.0/24".
    pub location: String,
}

#[derive(thiserror::Error, Debug)]
pub enum NotifyError {
    #[error("cannot send a location code: {field} {problem}")]
    InvalidMessage {
        field: &'static str,
        problem: &'static str,
    },
    #[error("cannot write to the outbox {}: {source}; check that the directory is writable", .path.display())]
    Outbox {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the CA file {} for the SMTP server: {problem}", .path.display())]
    CaFile { path: PathBuf, problem: String },
    #[error("the SMTP password variable {var} is not set")]
    PasswordEnv { var: String },
    #[error("cannot connect to the SMTP server {server}: {source}")]
    Connect {
        server: String,
        source: std::io::Error,
    },
    #[error("SMTP server {server}: {stage} failed: {source}")]
    Io {
        server: String,
        stage: &'static str,
        source: std::io::Error,
    },
    #[error("SMTP server {server} refused {stage}: {reply}")]
    Rejected {
        server: String,
        stage: &'static str,
        reply: String,
    },
    #[error("SMTP server {server} broke the protocol: {problem}")]
    Protocol {
        server: String,
        problem: &'static str,
    },
    #[error("SMTP server {server} does not offer STARTTLS; the code is not sent in clear")]
    NoStartTls { server: String },
    #[error("SMTP server {server}: TLS failed: {problem}")]
    Tls { server: String, problem: String },
}

/// An 8-digit one-time code. Secret: Debug is redacted and the text is wiped
/// on drop.
#[derive(Clone)]
pub struct LocationCode(Zeroizing<String>);

#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[error("a location code is 8 digits (spaces and dashes between them are ignored)")]
pub struct CodeFormatError;

impl LocationCode {
    pub const DIGITS: usize = 8;

    /// A uniformly random code.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        const SPACE: u32 = 100_000_000;
        // Largest multiple of SPACE below 2^32: rejecting draws above it
        // keeps every code equally likely.
        const ZONE: u32 = (u32::MAX / SPACE) * SPACE;
        loop {
            let draw = rng.next_u32();
            if draw < ZONE {
                return Self(Zeroizing::new(format!("{:08}", draw % SPACE)));
            }
        }
    }

    /// A code as a person typed it: 8 digits, spaces and dashes ignored.
    pub fn parse(input: &str) -> Result<Self, CodeFormatError> {
        if input.len() > 64 {
            return Err(CodeFormatError);
        }
        let mut digits = Zeroizing::new(String::with_capacity(Self::DIGITS));
        for c in input.chars() {
            match c {
                '0'..='9' if digits.len() < Self::DIGITS => digits.push(c),
                ' ' | '-' => {}
                _ => return Err(CodeFormatError),
            }
        }
        if digits.len() == Self::DIGITS {
            Ok(Self(digits))
        } else {
            Err(CodeFormatError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for LocationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocationCode(<redacted>)")
    }
}

impl PartialEq for LocationCode {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for LocationCode {}

const CODE_HASH_LABEL: &[u8] = b"assent relay location code v1\0";

/// What the store keeps instead of the code: SHA-256 over a domain label and
/// the length-prefixed code, viewer fingerprint and device ID, so a code only
/// confirms the identity and device it was sent for. Eight digits are cheap
/// to brute-force from a hash: the short lifetime and attempt lockout are
/// what protect it; the hash keeps codes out of plain sight in the database.
pub fn code_hash(code: &LocationCode, viewer_fp: &[u8], device_id: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(CODE_HASH_LABEL);
    for part in [code.as_str().as_bytes(), viewer_fp, device_id] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().into()
}

/// Whether `code` is the one `expected` was made from, in constant time.
pub fn code_hash_matches(
    expected: &[u8; 32],
    code: &LocationCode,
    viewer_fp: &[u8],
    device_id: &[u8],
) -> bool {
    constant_time_eq(expected, &code_hash(code, viewer_fp, device_id))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRateLimited {
    #[error("too many location codes sent to this address; the next one may be sent in {} s", .retry_after.as_secs().max(1))]
    TooMany { retry_after: Duration },
    #[error("too many addresses are waiting for location codes; try again later")]
    Busy,
}

/// At most N codes per e-mail address in any hour (R8), so the relay cannot
/// be used to flood someone's inbox. Time comes from the caller.
#[derive(Debug)]
pub struct CodeRateLimiter {
    max_per_hour: usize,
    max_addresses: usize,
    sent: HashMap<String, VecDeque<Instant>>,
}

const HOUR: Duration = Duration::from_secs(3600);

impl CodeRateLimiter {
    /// Addresses tracked at once unless [`CodeRateLimiter::with_max_addresses`]
    /// says otherwise; only allowlisted viewers get codes, so this is generous.
    pub const DEFAULT_MAX_ADDRESSES: usize = 100_000;

    pub fn new(max_per_hour: u32) -> Self {
        Self::with_max_addresses(max_per_hour, Self::DEFAULT_MAX_ADDRESSES)
    }

    pub fn with_max_addresses(max_per_hour: u32, max_addresses: usize) -> Self {
        Self {
            max_per_hour: usize::try_from(max_per_hour).unwrap_or(usize::MAX),
            max_addresses: max_addresses.max(1),
            sent: HashMap::new(),
        }
    }

    /// Takes one code's allowance for `email` at `now`, or says when the
    /// next one is allowed.
    pub fn try_acquire(&mut self, email: &str, now: Instant) -> Result<(), CodeRateLimited> {
        let key = email.trim().to_ascii_lowercase();
        if !self.sent.contains_key(&key) && self.sent.len() >= self.max_addresses {
            self.sent.retain(|_, times| {
                forget_older_than_an_hour(times, now);
                !times.is_empty()
            });
            if self.sent.len() >= self.max_addresses {
                return Err(CodeRateLimited::Busy);
            }
        }
        let times = self.sent.entry(key).or_default();
        forget_older_than_an_hour(times, now);
        if times.len() >= self.max_per_hour {
            let oldest = times.front().copied().unwrap_or(now);
            return Err(CodeRateLimited::TooMany {
                retry_after: HOUR.saturating_sub(now.saturating_duration_since(oldest)),
            });
        }
        times.push_back(now);
        Ok(())
    }
}

fn forget_older_than_an_hour(times: &mut VecDeque<Instant>, now: Instant) {
    while times
        .front()
        .is_some_and(|&t| now.saturating_duration_since(t) >= HOUR)
    {
        times.pop_front();
    }
}

/// A plain ASCII `local@domain` address, the only kind we send to. Returns
/// what is wrong otherwise.
pub fn check_email_address(address: &str) -> Result<(), &'static str> {
    if address.len() > 254 {
        return Err("longer than 254 characters");
    }
    let Some((local, domain)) = address.split_once('@') else {
        return Err("no @");
    };
    const LOCAL_SPECIALS: &[u8] = b".!#$%&'*+/=?^_`{|}~-";
    if local.is_empty()
        || local.len() > 64
        || !local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || LOCAL_SPECIALS.contains(&b))
    {
        return Err("the part before @ must be 1 to 64 letters, digits or .!#$%&'*+/=?^_`{|}~-");
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if !domain.split('.').all(label_ok) {
        return Err("the domain must be dot-separated letters, digits and dashes");
    }
    Ok(())
}

const SUBJECT: &str = "Assent: confirm a sign-in from a new location";
/// Introduces the code in the body; [`OutboxNotifier::read_latest_code`]
/// looks for it.
const CODE_LINE: &str = "Confirmation code: ";

/// The message as RFC 5322 text with CRLF line ends. Names and descriptions
/// are shown, never trusted: control characters become spaces so no field
/// can add a header or a line of its own.
fn render_email(msg: &LocationCodeMessage, from: &str) -> Result<String, NotifyError> {
    let invalid = |field, problem| NotifyError::InvalidMessage { field, problem };
    check_email_address(&msg.to_email).map_err(|problem| invalid("to_email", problem))?;
    check_email_address(from).map_err(|problem| invalid("from", problem))?;
    if msg.expires_at_unix < msg.sent_at_unix {
        return Err(invalid("expires_at_unix", "is before sent_at_unix"));
    }
    let name = shown(&msg.viewer_name);
    let relay = shown(&msg.relay_name);
    let location = shown(&msg.location);
    let lines = [
        format!("From: {from}"),
        format!("To: {}", msg.to_email),
        format!("Subject: {SUBJECT}"),
        format!("Date: {}", rfc5322_date(msg.sent_at_unix)),
        "MIME-Version: 1.0".to_owned(),
        "Content-Type: text/plain; charset=utf-8".to_owned(),
        "Content-Transfer-Encoding: 8bit".to_owned(),
        String::new(),
        format!("Hello {name},"),
        String::new(),
        format!("Your Assent viewer identity was used from a new location on {relay}:"),
        String::new(),
        format!("    {location}"),
        String::new(),
        "If this was you, enter this code in the viewer to confirm the new location:".to_owned(),
        String::new(),
        format!("{CODE_LINE}{}", msg.code.as_str()),
        String::new(),
        format!(
            "The code expires at {} (UTC). If this was not you, do not pass the code",
            utc_timestamp(msg.expires_at_unix)
        ),
        "on and tell your relay operator: someone else may hold your viewer key.".to_owned(),
    ];
    let mut text = lines.join("\r\n");
    text.push_str("\r\n");
    Ok(text)
}

/// At most 200 characters, control characters as spaces.
fn shown(value: &str) -> String {
    let mut out: String = value
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if out.trim().is_empty() {
        out = "(unnamed)".to_owned();
    }
    out
}

/// Year, month, day, hour, minute, second and weekday (0 = Sunday) of a unix
/// time, clamped to the year 9999.
fn utc_parts(unix: u64) -> (i64, u32, u32, u64, u64, u64, usize) {
    let unix = unix.min(253_402_300_799);
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let (year, month, day) = crate::civil_time::civil_from_days(days);
    let weekday = ((days + 4) % 7) as usize;
    (
        year,
        month,
        day,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        weekday,
    )
}

fn rfc5322_date(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s, wd) = utc_parts(unix);
    let month = MONTHS[(mo as usize).saturating_sub(1).min(11)];
    format!(
        "{}, {d:02} {month} {y:04} {h:02}:{mi:02}:{s:02} +0000",
        DAYS[wd]
    )
}

fn utc_timestamp(unix: u64) -> String {
    let (y, mo, d, h, mi, s, _) = utc_parts(unix);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

/// The outbox message's path for display in errors.
fn outbox_error(path: &Path, source: std::io::Error) -> NotifyError {
    NotifyError::Outbox {
        path: path.to_owned(),
        source,
    }
}
