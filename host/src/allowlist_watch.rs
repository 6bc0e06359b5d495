//! Newer allowlists while the host is online (R7): each is verified
//! against the operator key pinned at enrolment and refused if older than
//! one accepted before ([`AcceptedSerial`]); a running session hears of
//! each accepted one, so an engineer the operator removed is disconnected.

use std::time::Duration;

use anyhow::{Context, Result};
use assent_net::relay_client::unexpected;
use assent_proto::allowlist::VerifiedAllowList;
use assent_proto::identity::PublicIdentity;
use assent_proto::messages::signalling::{AllowListRequest, SignallingMessage};
use tokio::sync::mpsc;
use tracing::warn;

use crate::allowlist_serial::AcceptedSerial;
use crate::relay_link::{now_unix, RelayLink};
use crate::session::SessionEvent;

/// How often a session asks by default: a removed engineer is out within this.
pub const SESSION_CHECK_DEFAULT: Duration = Duration::from_secs(30);

/// What a running session re-checks its engineer against.
pub struct AllowListWatch {
    pub operator: PublicIdentity,
    pub accepted: AcceptedSerial,
    /// The serial of the list the engineer was admitted on.
    pub serial: u64,
    pub every: Duration,
}

/// Asks the relay for a list newer than `known`: `None` if it has none.
/// A list that does not verify, or is older than one accepted before, is
/// an error (a relay replaying an old list, R21).
pub async fn fetch_newer(
    link: &RelayLink,
    operator: &PublicIdentity,
    accepted: &AcceptedSerial,
    known: Option<u64>,
) -> Result<Option<VerifiedAllowList>> {
    let answer = link
        .call(
            AllowListRequest {
                known_serial: known,
            }
            .into(),
        )
        .await
        .context("asking the relay for a newer engineer allowlist")?;
    let document = match answer {
        SignallingMessage::AllowListDocument(document) => document,
        SignallingMessage::Ack(_) if known.is_some() => return Ok(None),
        other => {
            return Err(unexpected("AllowListDocument", other)).context("refreshing the allowlist")
        }
    };
    let list = document.list.verify(operator, now_unix()).context(
        "the allowlist from the relay does not verify against the operator key pinned at enrolment",
    )?;
    accepted.accept(&list)?;
    Ok(Some(list))
}

/// Until the session's events are gone: every `watch.every`, a newer list
/// goes to the session as [`SessionEvent::AllowList`]; one refused as
/// forged or rolled back as [`SessionEvent::AllowListRefused`] (the list in
/// force stays). A relay that does not answer is left to the connection
/// watch: that is not the engineer's removal.
pub async fn watch_during_session(
    link: RelayLink,
    watch: AllowListWatch,
    events: mpsc::Sender<SessionEvent>,
) {
    let mut serial = watch.serial;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(watch.every) => {}
            _ = events.closed() => return,
        }
        let event = match fetch_newer(&link, &watch.operator, &watch.accepted, Some(serial)).await {
            Ok(None) => continue,
            Ok(Some(list)) => {
                serial = list.serial();
                SessionEvent::AllowList(list)
            }
            Err(e) if e.chain().any(is_refusal) => SessionEvent::AllowListRefused(format!("{e:#}")),
            Err(e) => {
                warn!(error = %format!("{e:#}"), "could not re-check the engineer allowlist");
                continue;
            }
        };
        if events.send(event).await.is_err() {
            return;
        }
    }
}

/// A list that came but must not be taken, as opposed to one that did not come.
fn is_refusal(cause: &(dyn std::error::Error + 'static)) -> bool {
    cause
        .downcast_ref::<assent_proto::allowlist::AllowListError>()
        .is_some()
}
