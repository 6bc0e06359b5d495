//! `assent-relay enrolment issue|list|revoke` (issue 13): the operator
//! invites one instrument to enrol. A token is a random secret shown once;
//! the store keeps its hash, bound to the instrument's model, ID, serial and
//! profile (R11), until it expires, is used once, or is revoked. Issue and
//! revocation are audited (R12); use and refusals are audited by the server.

use anyhow::Context;
use assent_proto::audit::ChainHead;
use assent_proto::instrument::{default_profile, profile_allowed, InstrumentProfile};
use assent_proto::messages::audit_event::AuditEvent;
use assent_proto::messages::signalling::{
    EnrolmentToken, INSTRUMENT_ID_MAX, INSTRUMENT_MODEL_MAX, SERIAL_NUMBER_MAX,
};
use assent_proto::wire::Text;
use rand_core::OsRng;

use super::allowlist::field_text;
use super::{printable, AdminContext, AdminError};
use crate::civil_time::{format_unix_secs, parse_duration_secs, SECS_PER_DAY};
use crate::store::{EnrolmentGrant, EnrolmentTokenState};

/// Longest a token may stay valid: an invitation, not a standing credential.
pub const MAX_TOKEN_VALIDITY_SECS: u64 = 90 * SECS_PER_DAY;

/// Invite instruments to enrol with one-time tokens (issue 13).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum EnrolmentCommand {
    /// Issue a one-time enrolment token for one instrument and print it once.
    /// Give it to the installer, who passes it to `assent-host enroll
    /// --token`; the host must enrol with exactly these details.
    Issue(IssueArgs),
    /// Show issued tokens (ID, instrument, profile, expiry, state); never the secrets.
    List,
    /// Revoke an unused token so it can no longer enrol anything.
    Revoke {
        /// The token ID as `enrolment issue` and `enrolment list` show it (16 hex digits).
        #[arg(value_name = "TOKEN_ID")]
        token_id: String,
    },
}

/// What `enrolment issue` binds the token to.
#[derive(Debug, Clone, clap::Args)]
pub struct IssueArgs {
    /// Instrument model, e.g. "Navios EX" (spelling variants such as
    /// "navios-ex" enrol too).
    #[arg(long)]
    pub model: String,
    /// Instrument ID, exactly as the host will register it.
    #[arg(long)]
    pub instrument_id: String,
    /// Instrument serial number, exactly as the host will register it.
    #[arg(long)]
    pub serial: String,
    /// Whether the instrument holds patient data (R11): `phi` or `no-phi`.
    /// Default: `no-phi` only for models known to hold none; any model not
    /// known is `phi`. A model on the PHI list cannot be `no-phi`.
    #[arg(long, value_parser = parse_profile)]
    pub profile: Option<InstrumentProfile>,
    /// How long the token can be used: `7d`, `36h`, `2w` (at most 90d).
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration_secs)]
    pub expires: u64,
}

fn parse_profile(value: &str) -> Result<InstrumentProfile, String> {
    InstrumentProfile::from_name(value.trim())
        .ok_or_else(|| format!("{value:?} is not a profile; use phi or no-phi"))
}

pub(super) fn run(cmd: &EnrolmentCommand, ctx: &mut AdminContext<'_>) -> anyhow::Result<()> {
    match cmd {
        EnrolmentCommand::Issue(args) => issue(args, ctx),
        EnrolmentCommand::List => list(ctx),
        EnrolmentCommand::Revoke { token_id } => revoke(token_id, ctx),
    }
}

fn issue(args: &IssueArgs, ctx: &mut AdminContext<'_>) -> anyhow::Result<()> {
    let model: Text<INSTRUMENT_MODEL_MAX> = field_text("model", &args.model)?;
    let instrument_id: Text<INSTRUMENT_ID_MAX> = field_text("instrument-id", &args.instrument_id)?;
    let serial_number: Text<SERIAL_NUMBER_MAX> = field_text("serial", &args.serial)?;
    let profile = args.profile.unwrap_or_else(|| default_profile(&model));
    if !profile_allowed(&model, profile) {
        return Err(AdminError::InvalidValue {
            field: "profile",
            problem: format!(
                "{:?} is on the PHI list (R11) and cannot be issued as no-phi",
                printable(&model)
            ),
        }
        .into());
    }
    if args.expires > MAX_TOKEN_VALIDITY_SECS {
        return Err(AdminError::InvalidValue {
            field: "expires",
            problem: "an enrolment token may be valid for at most 90d; issue a new one later"
                .into(),
        }
        .into());
    }
    let token = EnrolmentToken::generate(profile, &mut OsRng);
    let now_ms = ctx.now_unix.saturating_mul(1000);
    let expires_unix = ctx.now_unix.saturating_add(args.expires);
    let grant = EnrolmentGrant {
        token_hash: token.hash(),
        instrument_model: model,
        instrument_id,
        serial_number,
        profile,
        issued_unix_ms: now_ms,
        expires_unix_ms: expires_unix.saturating_mul(1000),
    };
    // Audited first: a token that exists always has its issue record; a
    // record whose token failed to store names a token nobody ever saw.
    audit(
        ctx,
        AuditEvent::EnrolmentTokenIssued {
            token_id: Text::new(grant.token_id()).unwrap_or_default(),
            model: grant.instrument_model.clone(),
            instrument_id: grant.instrument_id.clone(),
            serial_number: grant.serial_number.clone(),
            profile,
            expires_unix_ms: grant.expires_unix_ms,
        },
    )?;
    ctx.store.issue_enrolment_token(&grant)?;
    writeln!(ctx.out, "enrolment token: {}", token.to_text())?;
    writeln!(ctx.out, "token ID: {}", grant.token_id())?;
    writeln!(
        ctx.out,
        "for model {:?}, instrument ID {:?}, serial {:?}, profile {profile}; expires {}",
        printable(&grant.instrument_model),
        printable(&grant.instrument_id),
        printable(&grant.serial_number),
        format_unix_secs(expires_unix)
    )?;
    writeln!(
        ctx.out,
        "the token is shown only now; it enrols one host, with exactly these details"
    )?;
    Ok(())
}

fn list(ctx: &mut AdminContext<'_>) -> anyhow::Result<()> {
    let tokens = ctx.store.enrolment_tokens()?;
    if tokens.is_empty() {
        writeln!(ctx.out, "no enrolment tokens issued")?;
    }
    let now_ms = ctx.now_unix.saturating_mul(1000);
    for token in tokens {
        let grant = &token.grant;
        let state = match &token.state {
            EnrolmentTokenState::Used { host_id, .. } => format!("used by {host_id}"),
            EnrolmentTokenState::Revoked { .. } => "revoked".into(),
            EnrolmentTokenState::Unused if grant.expires_unix_ms <= now_ms => "expired".into(),
            EnrolmentTokenState::Unused => "unused".into(),
        };
        writeln!(
            ctx.out,
            "{}  {:?} id {:?} serial {:?}  {}  expires {}  {state}",
            grant.token_id(),
            printable(&grant.instrument_model),
            printable(&grant.instrument_id),
            printable(&grant.serial_number),
            grant.profile,
            format_unix_secs(grant.expires_unix_ms / 1000),
        )?;
    }
    Ok(())
}

fn revoke(token_id: &str, ctx: &mut AdminContext<'_>) -> anyhow::Result<()> {
    let token_id = token_id.trim().to_ascii_lowercase();
    let now_ms = ctx.now_unix.saturating_mul(1000);
    let Some(grant) = ctx.store.revoke_enrolment_token(&token_id, now_ms)? else {
        return Err(AdminError::InvalidValue {
            field: "token-id",
            problem: format!(
                "no unused token has ID {:?}; `assent-relay enrolment list` shows them",
                printable(&token_id)
            ),
        }
        .into());
    };
    audit(
        ctx,
        AuditEvent::EnrolmentTokenRevoked {
            token_id: Text::new(grant.token_id()).unwrap_or_default(),
        },
    )?;
    writeln!(ctx.out, "revoked enrolment token {}", grant.token_id())?;
    Ok(())
}

fn audit(ctx: &AdminContext<'_>, event: AuditEvent) -> anyhow::Result<()> {
    let key = ctx.data_key.audit_key();
    let now_ms = ctx.now_unix.saturating_mul(1000);
    ctx.store
        .append_audit(&mut |head: &ChainHead| {
            head.seal_next(&key, &mut OsRng, now_ms, event.clone())
        })
        .context("recording the audit event")?;
    Ok(())
}

#[cfg(test)]
mod tests;
