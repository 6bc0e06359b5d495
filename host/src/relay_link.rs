//! The host's signalling connection to the relay (R1: outbound only): log
//! in with the host key, fetch and verify the operator-signed allowlist
//! (R7), and report audit events and failed handshakes (R6, R12). Reports
//! go through one task that owns the stream, so the session's tasks can
//! report concurrently and each waits for the relay's durable `Ack`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use assent_net::relay_client::{unexpected, RelayClient, RelayClientError, RelayTarget};
use assent_proto::allowlist::VerifiedAllowList;
use assent_proto::identity::{Identity, PublicIdentity};
use assent_proto::messages::audit_event::{AuditEvent, AuditReport};
use assent_proto::messages::signalling::{
    AllowListRequest, ClientRole, HostLogin, SignallingMessage,
};
use assent_proto::wire::{Bytes, Text};
use rand_core::OsRng;
use tokio::sync::{mpsc, oneshot};

pub const SOFTWARE_VERSION: &str = concat!("assent-host ", env!("CARGO_PKG_VERSION"));

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Connects and logs in as the enrolled host.
pub async fn login(
    target: &RelayTarget,
    identity: &Identity,
    host_id: &str,
) -> Result<RelayClient> {
    Ok(login_with_clock(target, identity, host_id).await?.client)
}

/// A login and what the relay said about its clock.
pub struct LoggedIn {
    pub client: RelayClient,
    /// The relay's clock when it accepted the login, unix milliseconds.
    pub relay_unix_ms: u64,
    /// Our clock when the acceptance arrived, unix milliseconds.
    pub local_unix_ms: u64,
}

impl LoggedIn {
    /// How far our clock is ahead of the relay's (negative: behind), in
    /// milliseconds; off by at most one round trip.
    pub fn clock_skew_ms(&self) -> i64 {
        self.local_unix_ms as i64 - self.relay_unix_ms as i64
    }
}

/// [`login`], keeping the relay's clock reading for the skew check (R15).
pub async fn login_with_clock(
    target: &RelayTarget,
    identity: &Identity,
    host_id: &str,
) -> Result<LoggedIn> {
    let (mut client, challenge) = RelayClient::open(target, ClientRole::Host, SOFTWARE_VERSION)
        .await
        .with_context(|| format!("connecting to the relay at {}", target.addr))?;
    let mut login = HostLogin {
        host_id: Text::new(host_id).map_err(|_| anyhow!("host ID {host_id:?} is too long"))?,
        signature: Bytes::default(),
    };
    login.sign(identity, &challenge, &mut OsRng);
    match client
        .request(&login)
        .await
        .context("logging in to the relay")?
    {
        SignallingMessage::LoginAccepted(accepted) => Ok(LoggedIn {
            client,
            relay_unix_ms: accepted.relay_unix_ms,
            local_unix_ms: now_unix_ms(),
        }),
        other => Err(unexpected("LoginAccepted", other)).context("logging in to the relay"),
    }
}

/// Fetches the signed allowlist and verifies it against the operator key
/// pinned at enrolment (R7: the host checks again, whatever the relay did).
pub async fn fetch_allowlist(
    client: &mut RelayClient,
    operator: &PublicIdentity,
) -> Result<VerifiedAllowList> {
    let answer = client
        .request(&AllowListRequest { known_serial: None })
        .await
        .context("fetching the engineer allowlist from the relay")?;
    let SignallingMessage::AllowListDocument(document) = answer else {
        return Err(unexpected("AllowListDocument", answer)).context("fetching the allowlist");
    };
    document.list.verify(operator, now_unix()).context(
        "the allowlist from the relay does not verify against the operator key pinned at enrolment",
    )
}

enum Call {
    Request {
        message: SignallingMessage,
        reply: oneshot::Sender<Result<SignallingMessage, String>>,
    },
}

/// A cloneable handle on the signalling stream, owned by one task.
#[derive(Clone)]
pub struct RelayLink {
    calls: mpsc::Sender<Call>,
    host_id: Arc<str>,
}

impl RelayLink {
    /// Starts the task that owns `client`. The task ends when the relay
    /// closes the connection or every handle is dropped.
    pub fn spawn(client: RelayClient, host_id: &str) -> Self {
        let (calls, mut queue) = mpsc::channel::<Call>(64);
        tokio::spawn(async move {
            let mut client = client;
            while let Some(Call::Request { message, reply }) = queue.recv().await {
                let answer = request(&mut client, &message).await;
                let _ = reply.send(answer.map_err(|e| e.to_string()));
            }
            client.close().await;
        });
        Self {
            calls,
            host_id: host_id.into(),
        }
    }

    /// A link served by `answer` instead of a relay, in order, one call at
    /// a time: for exercising a session without a relay (tests, benches).
    pub fn answered_by(
        host_id: &str,
        mut answer: impl FnMut(SignallingMessage) -> Result<SignallingMessage, String> + Send + 'static,
    ) -> Self {
        let (calls, mut queue) = mpsc::channel::<Call>(64);
        tokio::spawn(async move {
            while let Some(Call::Request { message, reply }) = queue.recv().await {
                let _ = reply.send(answer(message));
            }
        });
        Self {
            calls,
            host_id: host_id.into(),
        }
    }

    pub fn host_id(&self) -> &str {
        &self.host_id
    }

    /// Sends one signalling message and waits for the relay's answer.
    pub async fn call(&self, message: SignallingMessage) -> Result<SignallingMessage> {
        let (reply, answer) = oneshot::channel();
        self.calls
            .send(Call::Request { message, reply })
            .await
            .map_err(|_| anyhow!("the relay connection is closed"))?;
        answer
            .await
            .map_err(|_| anyhow!("the relay connection is closed"))?
            .map_err(|e| anyhow!("relay: {e}"))
    }

    /// Records an audit event at the relay; returns once it is durable (R12).
    pub async fn audit(&self, event: AuditEvent) -> Result<()> {
        let report = AuditReport {
            occurred_unix_ms: now_unix_ms(),
            event,
        };
        match self.call(report.into()).await? {
            SignallingMessage::Ack(_) => Ok(()),
            other => bail!("relay did not acknowledge the audit record: {other:?}"),
        }
    }
}

async fn request(
    client: &mut RelayClient,
    message: &SignallingMessage,
) -> Result<SignallingMessage, RelayClientError> {
    client.send_message(message).await?;
    match client
        .next_within(assent_net::relay_client::ANSWER_TIMEOUT)
        .await?
    {
        SignallingMessage::RelayError(e) => Err(RelayClientError::Refused(e)),
        answer => Ok(answer),
    }
}

/// `Text` of a host ID for audit events (host IDs are at most 64 bytes).
pub fn host_text(host_id: &str) -> Text<64> {
    assent_net::relay_client::text(host_id)
}
