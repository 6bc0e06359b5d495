//! `assent-relay allowlist …` (R7): enrols and removes viewer identities in
//! the state store, and after every change re-signs the whole list with the
//! operator key, so the list hosts fetch and verify always matches the one the
//! relay enforces.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Context;
use assent_proto::allowlist::{
    AllowList, AllowListEntry, AllowListError, EMAIL_MAX, MAX_ENTRIES, NAME_MAX,
};
use assent_proto::identity::{Fingerprint, Identity, PublicIdentity};
use assent_proto::wire::{Field, List, Text};
use rand_core::OsRng;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::SubjectPublicKeyInfoDer;
use zeroize::Zeroizing;

use super::{printable, short_hex, AdminContext, AdminError};
use crate::civil_time::{format_unix_secs, parse_duration_secs, GivenTime, SECS_PER_DAY};
use crate::store::{StateStore, StoreError};

/// How long a newly signed list stays valid unless `--list-valid-for` says otherwise.
pub const DEFAULT_LIST_VALIDITY: &str = "30d";
/// Signed lists are dated this far back, so hosts whose clocks run a little
/// behind do not refuse a fresh list as "not yet valid".
const ISSUE_BACKDATE_SECS: u64 = 300;
/// Largest viewer key file read; a PEM RSA-4096 public key is about 800 bytes.
const KEY_FILE_MAX: u64 = 64 * 1024;
/// Attempts to store a signed list when other relays keep issuing serials.
const SIGN_ATTEMPTS: usize = 3;
/// `allowlist list` warns when the signed list expires sooner than this.
const RENEW_WARNING_SECS: u64 = 7 * SECS_PER_DAY;

/// Manage the viewer identities allowed to reach hosts (R7). Every change
/// re-signs the whole list with the operator key (`operator_key` in the
/// config); hosts fetch that signed list and check it again.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AllowListCommand {
    /// Enrol a viewer identity, or update the name, e-mail and expiry of one
    /// already enrolled, then re-sign the list.
    Add(AddArgs),
    /// Remove a viewer identity, re-sign the list without it, and forget the
    /// locations it had confirmed (re-enrolling it asks for confirmation again).
    Remove {
        /// The identity's fingerprint as `allowlist list` shows it: 64 hex
        /// digits, grouped (quote it: "ab12 cd34 …") or plain.
        #[arg(value_name = "FINGERPRINT")]
        fingerprint: Fingerprint,
        #[command(flatten)]
        signing: SigningArgs,
    },
    /// Re-sign the current list unchanged: renews it before it expires, or
    /// finishes a change whose signing step failed.
    Sign(SigningArgs),
    /// Show the enrolled identities (fingerprint, name, e-mail, expiry) and
    /// the state of the signed list hosts fetch.
    List {
        /// One JSON object per identity and line, instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// What `allowlist add` enrols.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Enrolment")]
pub struct AddArgs {
    /// The viewer's public key file, as `assent-viewer keygen` prints it: a
    /// PEM "PUBLIC KEY" block (SubjectPublicKeyInfo) of an RSA-4096 key; raw
    /// DER is accepted too. Never the private key, which stays with the engineer.
    #[arg(long, value_name = "PATH")]
    pub key: PathBuf,
    /// The engineer's name, as hosts show it to the technician (at most 128 bytes).
    #[arg(long)]
    pub name: String,
    /// The engineer's e-mail address: where new-location confirmation codes
    /// are sent (at most 254 bytes).
    #[arg(long)]
    pub email: String,
    /// When the enrolment stops counting: a duration from now (`90d`, `12w`,
    /// `36h`), an RFC 3339 date (`2027-06-30`: it ends at 00:00 UTC that day)
    /// or a time (`2027-06-30T12:00:00Z`; UTC unless an offset is given).
    /// Must be in the future.
    #[arg(long, value_name = "WHEN", default_value = "365d")]
    pub expires: Expiry,
    #[command(flatten)]
    pub signing: SigningArgs,
}

/// How the re-signed list is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
#[command(next_help_heading = "Signing")]
pub struct SigningArgs {
    /// How long the newly signed list stays valid: hosts refuse it afterwards,
    /// so run `allowlist sign` before then (`allowlist list` shows when).
    /// A duration: `30d`, `2w`, `36h`.
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_LIST_VALIDITY, value_parser = parse_duration_secs)]
    pub list_valid_for: u64,
}

impl Default for SigningArgs {
    fn default() -> Self {
        Self {
            list_valid_for: 30 * SECS_PER_DAY,
        }
    }
}

/// When an enrolment ends, as typed: a point in time, or a duration from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    At(GivenTime),
    AfterSecs(u64),
}

impl FromStr for Expiry {
    type Err = super::DateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // A duration ends in its unit letter; dates and times never end in
        // one (a trailing `Z` is the UTC marker).
        let duration_like = s
            .trim()
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphabetic() && !c.eq_ignore_ascii_case(&'z'));
        if duration_like {
            parse_duration_secs(s).map(Self::AfterSecs)
        } else {
            s.parse().map(Self::At)
        }
    }
}

impl Expiry {
    /// The first unix second the enrolment no longer counts; refuses one
    /// that is not after `now_unix`.
    pub fn resolve(&self, now_unix: u64) -> Result<u64, AdminError> {
        let expires = match self {
            Self::At(at) => at.unix_ms / 1000,
            Self::AfterSecs(secs) => now_unix.saturating_add(*secs),
        };
        if expires <= now_unix {
            return Err(AdminError::ExpiryNotInFuture {
                given: format_unix_secs(expires),
                now: format_unix_secs(now_unix),
            });
        }
        Ok(expires)
    }
}

pub(super) fn run(cmd: &AllowListCommand, ctx: &mut AdminContext<'_>) -> anyhow::Result<()> {
    match cmd {
        AllowListCommand::Add(args) => add(args, ctx),
        AllowListCommand::Remove {
            fingerprint,
            signing,
        } => remove(fingerprint, signing, ctx),
        AllowListCommand::Sign(signing) => {
            let operator = require_operator(ctx)?;
            sign_and_report(ctx, operator, signing)
        }
        AllowListCommand::List { json } => list(*json, ctx),
    }
}

fn require_operator<'a>(ctx: &AdminContext<'a>) -> Result<&'a Identity, AdminError> {
    ctx.operator.ok_or(AdminError::OperatorKeyMissing)
}

fn add(args: &AddArgs, ctx: &mut AdminContext<'_>) -> anyhow::Result<()> {
    // Checked first, so a refused change leaves the store as it was.
    let operator = require_operator(ctx)?;
    let viewer = read_viewer_key(&args.key)?;
    let entry = AllowListEntry {
        viewer,
        name: field_text::<NAME_MAX>("name", &args.name)?,
        email: email_text(&args.email)?,
        expires_unix: args.expires.resolve(ctx.now_unix)?,
    };
    let fingerprint = entry.fingerprint();
    let existing = ctx.store.allowlist_entry(&fingerprint)?;
    if existing.is_none() && ctx.store.allowlist_entries()?.len() >= MAX_ENTRIES {
        return Err(AdminError::AllowListFull { max: MAX_ENTRIES }.into());
    }
    ctx.store.put_allowlist_entry(&entry)?;
    writeln!(
        ctx.out,
        "{} viewer {fingerprint}: {} <{}>, enrolment expires {}",
        if existing.is_some() {
            "updated"
        } else {
            "added"
        },
        printable(&entry.name),
        printable(&entry.email),
        entry_expiry(entry.expires_unix),
    )?;
    sign_and_report(ctx, operator, &args.signing).with_context(|| {
        format!("viewer {fingerprint} is enrolled at the relay, but the signed list hosts fetch was not re-issued; run `assent-relay allowlist sign`")
    })
}

fn remove(
    fingerprint: &Fingerprint,
    signing: &SigningArgs,
    ctx: &mut AdminContext<'_>,
) -> anyhow::Result<()> {
    let operator = require_operator(ctx)?;
    let entry = ctx
        .store
        .allowlist_entry(fingerprint)?
        .ok_or(AdminError::NotListed(*fingerprint))?;
    if !ctx.store.remove_allowlist_entry(fingerprint)? {
        // Removed by someone else meanwhile: the list still needs re-signing.
        writeln!(ctx.out, "viewer {fingerprint} was already removed")?;
    } else {
        writeln!(
            ctx.out,
            "removed viewer {fingerprint} ({}) from the allowlist",
            printable(&entry.name)
        )?;
    }
    // Re-signing comes before anything else: until hosts get a list without
    // this viewer, they would still let it in.
    sign_and_report(ctx, operator, signing).with_context(|| {
        format!("viewer {fingerprint} was removed at the relay, but the signed list hosts fetch still names it; run `assent-relay allowlist sign` now")
    })?;
    let forgotten = ctx.store.forget_locations(fingerprint)?;
    writeln!(
        ctx.out,
        "forgot {forgotten} confirmed location(s) of viewer {}",
        short_hex(fingerprint.as_bytes())
    )?;
    Ok(())
}

/// An entry's expiry for people: `u64::MAX` means it lasts as long as the list.
fn entry_expiry(expires_unix: u64) -> String {
    if expires_unix == u64::MAX {
        "never (lasts as long as the list)".into()
    } else {
        format_unix_secs(expires_unix)
    }
}

/// Reads a viewer's public key: PEM `PUBLIC KEY` (SPKI) or raw SPKI DER.
fn read_viewer_key(path: &Path) -> Result<PublicIdentity, AdminError> {
    let refuse = |problem: String| AdminError::ViewerKey {
        path: path.to_path_buf(),
        problem,
    };
    // Checked before opening: opening a FIFO would block.
    let meta = std::fs::metadata(path).map_err(|e| refuse(e.to_string()))?;
    if !meta.is_file() {
        return Err(refuse("not a regular file".into()));
    }
    // Zeroized: an operator may point this at a private key by mistake.
    let mut bytes = Zeroizing::new(Vec::new());
    std::fs::File::open(path)
        .and_then(|file| file.take(KEY_FILE_MAX + 1).read_to_end(&mut bytes))
        .map_err(|e| refuse(e.to_string()))?;
    if bytes.len() as u64 > KEY_FILE_MAX {
        return Err(refuse("far too large for a public key".into()));
    }
    let from_pem;
    let der: &[u8] = if bytes.first() == Some(&0x30) {
        &bytes
    } else if bytes.windows(11).any(|w| w == b"PRIVATE KEY") {
        return Err(refuse(
            "this is a private key; give the engineer's public key (`assent-viewer keygen` prints it), and never copy a private key to the relay".into(),
        ));
    } else {
        from_pem = SubjectPublicKeyInfoDer::from_pem_slice(&bytes).map_err(|e| {
            refuse(format!(
                "no PEM \"PUBLIC KEY\" block ({e}); give the public key `assent-viewer keygen` printed"
            ))
        })?;
        &from_pem
    };
    PublicIdentity::from_spki_der(der).map_err(|e| refuse(e.to_string()))
}

/// A name or e-mail as the allowlist stores it: trimmed, non-empty, no
/// control characters, within the list's limit.
pub(super) fn field_text<const MAX: usize>(
    field: &'static str,
    value: &str,
) -> Result<Text<MAX>, AdminError> {
    let invalid = |problem: String| AdminError::InvalidValue { field, problem };
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid("must not be empty".into()));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid("must not contain control characters".into()));
    }
    Text::new(value).map_err(|_| {
        invalid(format!(
            "is {} bytes; at most {MAX} are allowed",
            value.len()
        ))
    })
}

fn email_text(value: &str) -> Result<Text<EMAIL_MAX>, AdminError> {
    let text = field_text::<EMAIL_MAX>("email", value)?;
    let well_formed = text.rsplit_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@')
    }) && !text.chars().any(char::is_whitespace);
    if !well_formed {
        return Err(AdminError::InvalidValue {
            field: "email",
            problem: format!(
                "{:?} is not an e-mail address (confirmation codes are sent there)",
                printable(&text)
            ),
        });
    }
    Ok(text)
}

/// What [`issue`] stored.
struct Issued {
    serial: u64,
    entries: usize,
    expires_unix: u64,
}

/// Signs every current entry into a new list and stores it. Another relay
/// issuing at the same moment takes the serial; then this re-reads and retries.
fn issue(
    store: &dyn StateStore,
    operator: &Identity,
    now_unix: u64,
    signing: &SigningArgs,
) -> anyhow::Result<Issued> {
    let expires_unix = now_unix
        .checked_add(signing.list_valid_for)
        .ok_or_else(|| AdminError::InvalidValue {
            field: "list-valid-for",
            problem: "ends after the last representable time".into(),
        })?;
    let mut conflict = String::new();
    for _ in 0..SIGN_ATTEMPTS {
        let entries = store.allowlist_entries()?;
        let count = entries.len();
        let entries =
            List::new(entries).map_err(|_| AdminError::AllowListFull { max: MAX_ENTRIES })?;
        let list = AllowList {
            serial: store.next_allowlist_serial()?,
            issued_unix: now_unix.saturating_sub(ISSUE_BACKDATE_SECS),
            expires_unix,
            entries,
        };
        match store.store_signed_allowlist(&list.sign(operator, &mut OsRng)) {
            Ok(serial) => {
                return Ok(Issued {
                    serial,
                    entries: count,
                    expires_unix,
                })
            }
            Err(StoreError::Conflict(detail)) => conflict = detail,
            Err(other) => return Err(other.into()),
        }
    }
    anyhow::bail!("could not store the signed allowlist: other relays kept issuing lists at the same moment ({conflict}); retry")
}

fn sign_and_report(
    ctx: &mut AdminContext<'_>,
    operator: &Identity,
    signing: &SigningArgs,
) -> anyhow::Result<()> {
    if let Some(previous) = ctx.store.latest_signed_allowlist()? {
        if previous.document.operator != operator.fingerprint() {
            writeln!(
                ctx.out,
                "warning: the previous list (serial {}) was signed by operator key {}, not the configured key {}; hosts pinned to the old key will refuse this list",
                previous.serial,
                previous.document.operator,
                operator.fingerprint()
            )?;
        }
    }
    let issued = issue(ctx.store, operator, ctx.now_unix, signing)?;
    writeln!(
        ctx.out,
        "signed allowlist serial {} with {} viewer(s), valid until {}",
        issued.serial,
        issued.entries,
        format_unix_secs(issued.expires_unix)
    )?;
    Ok(())
}

fn list(json: bool, ctx: &mut AdminContext<'_>) -> anyhow::Result<()> {
    let mut entries = ctx.store.allowlist_entries()?;
    entries.sort_by_key(AllowListEntry::fingerprint);
    let now = ctx.now_unix;
    if json {
        for entry in &entries {
            let line = serde_json::json!({
                "fingerprint": hex::encode(entry.fingerprint().as_bytes()),
                "name": entry.name.as_str(),
                "email": entry.email.as_str(),
                "expires_unix": entry.expires_unix,
                "expires": entry_expiry(entry.expires_unix),
                "expired": now >= entry.expires_unix,
            });
            writeln!(ctx.out, "{line}")?;
        }
        return Ok(());
    }
    if entries.is_empty() {
        writeln!(
            ctx.out,
            "no viewer identities are enrolled; add one with `assent-relay allowlist add`"
        )?;
    } else {
        print_table(&entries, now, ctx.out)?;
    }
    signed_list_status(&entries, ctx)
}

fn print_table(entries: &[AllowListEntry], now: u64, out: &mut dyn Write) -> anyhow::Result<()> {
    let rows: Vec<[String; 5]> = entries
        .iter()
        .map(|entry| {
            [
                entry.fingerprint().to_string(),
                printable(&entry.name),
                printable(&entry.email),
                entry_expiry(entry.expires_unix),
                if now >= entry.expires_unix {
                    "EXPIRED".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    let header = ["FINGERPRINT", "NAME", "E-MAIL", "EXPIRES (UTC)", ""].map(String::from);
    let mut widths = [0usize; 4];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line = format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Tells the operator whether hosts have a current, matching list to fetch.
fn signed_list_status(
    entries: &[AllowListEntry],
    ctx: &mut AdminContext<'_>,
) -> anyhow::Result<()> {
    let now = ctx.now_unix;
    let Some(stored) = ctx.store.latest_signed_allowlist()? else {
        writeln!(
            ctx.out,
            "no signed list has been issued: hosts have none to fetch; run `assent-relay allowlist sign`"
        )?;
        return Ok(());
    };
    let list = match AllowList::from_bytes(&stored.document.body) {
        Ok(list) => list,
        Err(e) => {
            writeln!(ctx.out, "signed list serial {} cannot be read ({e}); run `assent-relay allowlist sign` to replace it", stored.serial)?;
            return Ok(());
        }
    };
    writeln!(
        ctx.out,
        "signed list: serial {}, {} viewer(s), issued {}, valid until {}, signed by operator {}",
        list.serial,
        list.entries.len(),
        format_unix_secs(list.issued_unix),
        format_unix_secs(list.expires_unix),
        stored.document.operator,
    )?;
    if now >= list.expires_unix {
        writeln!(
            ctx.out,
            "the signed list has EXPIRED and hosts refuse it; run `assent-relay allowlist sign`"
        )?;
    } else if list.expires_unix - now < RENEW_WARNING_SECS {
        writeln!(
            ctx.out,
            "the signed list expires within a week; renew it with `assent-relay allowlist sign`"
        )?;
    }
    if let Some(operator) = ctx.operator {
        match stored.document.verify(operator.public(), now) {
            Ok(_) | Err(AllowListError::Expired { .. }) => {}
            Err(e) => writeln!(
                ctx.out,
                "the signed list does not verify under the configured operator key: {e}"
            )?,
        }
    }
    let mut signed: Vec<&AllowListEntry> = list.entries.iter().collect();
    signed.sort_by_key(|entry| entry.fingerprint());
    if !signed.iter().copied().eq(entries.iter()) {
        writeln!(ctx.out, "the signed list differs from the entries above (a change was not signed); run `assent-relay allowlist sign`")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
