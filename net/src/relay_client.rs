//! The client side of relay signalling, shared by host and viewer: connect
//! outbound (R1) with the relay's certificate verified (R2), say hello, take
//! the login challenge, then exchange signalling messages on one stream.

use std::net::SocketAddr;
use std::time::Duration;

use assent_proto::messages::signalling::{
    ClientRole, RelayChallenge, RelayError, RelayHello, SignallingMessage,
};
use assent_proto::wire::{Message, Text};

use crate::{client_config, client_endpoint, connect, ephemeral_bind_addr, framed};
use crate::{CertFingerprint, FramedRecv, FramedSend, NetError, RelayTrust};

/// How long a client waits for one signalling answer before giving up.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the relay is and how to recognise it.
#[derive(Debug, Clone)]
pub struct RelayTarget {
    pub addr: SocketAddr,
    /// Name checked against the certificate under an operator CA; under a
    /// pin any name will do.
    pub server_name: String,
    pub trust: RelayTrust,
}

/// An answer the relay gave instead of the one we asked for.
#[derive(Debug, thiserror::Error)]
pub enum RelayClientError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("the relay refused: {}{}", .0.message, retry_hint(.0.retry_after_secs))]
    Refused(RelayError),
    #[error("the relay answered {got} where {expected} was expected")]
    Unexpected { expected: &'static str, got: String },
    #[error("the relay closed the signalling stream")]
    Closed,
}

fn retry_hint(secs: Option<u64>) -> String {
    match secs {
        Some(s) => format!(" (retry in {s} s)"),
        None => String::new(),
    }
}

impl RelayTarget {
    /// A relay given as `host:port`, recognised by its certificate pin.
    pub fn pinned(relay: &str, server_name: &str, pin: CertFingerprint) -> Result<Self, NetError> {
        Ok(Self {
            addr: resolve_relay(relay)?,
            server_name: server_name.to_owned(),
            trust: RelayTrust::Pinned(pin),
        })
    }
}

/// Resolves `host:port` to one address (the first; IPv4 or IPv6).
pub fn resolve_relay(relay: &str) -> Result<SocketAddr, NetError> {
    use std::net::ToSocketAddrs;
    let unresolvable = |why: String| NetError::UnresolvableRelay {
        relay: relay.to_owned(),
        why,
    };
    relay
        .to_socket_addrs()
        .map_err(|e| unresolvable(format!("{e}; use host:port")))?
        .next()
        .ok_or_else(|| unresolvable("it resolves to no address".into()))
}

/// One signalling connection to the relay.
pub struct RelayClient {
    pub connection: quinn::Connection,
    send: FramedSend,
    recv: FramedRecv,
    // Kept alive with the connection; a client endpoint accepts nothing (R1).
    _endpoint: quinn::Endpoint,
}

impl RelayClient {
    /// Connects, sends `RelayHello` and returns the login challenge.
    pub async fn open(
        target: &RelayTarget,
        role: ClientRole,
        software_version: &str,
    ) -> Result<(Self, RelayChallenge), RelayClientError> {
        let endpoint = client_endpoint(ephemeral_bind_addr(target.addr))?;
        let config = client_config(target.trust.clone())?;
        let connection = connect(&endpoint, target.addr, &target.server_name, config).await?;
        let (send, recv) = connection.open_bi().await.map_err(NetError::from)?;
        let (send, recv) = framed(send, recv);
        let mut client = Self {
            connection,
            send,
            recv,
            _endpoint: endpoint,
        };
        client
            .send(&RelayHello {
                role,
                software_version: assent_proto::messages::session::lossy_text(software_version),
            })
            .await?;
        match client.next_within(ANSWER_TIMEOUT).await? {
            SignallingMessage::RelayChallenge(challenge) => Ok((client, challenge)),
            other => Err(unexpected("RelayChallenge", other)),
        }
    }

    pub async fn send<M: Message>(&mut self, message: &M) -> Result<(), RelayClientError> {
        Ok(self.send.send(message).await?)
    }

    /// Sends any signalling message (the dispatch enum, not a concrete type).
    pub async fn send_message(
        &mut self,
        message: &SignallingMessage,
    ) -> Result<(), RelayClientError> {
        let frame = message.to_frame().map_err(NetError::Encode)?;
        Ok(self.send.send_raw(&frame).await?)
    }

    /// The next signalling message, whatever it is; `RelayError` is returned
    /// as a message so callers that wait for pairing can show it.
    pub async fn next(&mut self) -> Result<SignallingMessage, RelayClientError> {
        let frame = self.recv.recv().await?.ok_or(RelayClientError::Closed)?;
        SignallingMessage::decode(&frame).map_err(|e| RelayClientError::Net(NetError::Decode(e)))
    }

    /// [`Self::next`], bounded in time.
    pub async fn next_within(
        &mut self,
        limit: Duration,
    ) -> Result<SignallingMessage, RelayClientError> {
        match tokio::time::timeout(limit, self.next()).await {
            Ok(answer) => answer,
            Err(_) => Err(RelayClientError::Net(NetError::RecvTimeout(limit))),
        }
    }

    /// Sends a request and returns the answer; a `RelayError` answer is an error.
    pub async fn request<M: Message>(
        &mut self,
        message: &M,
    ) -> Result<SignallingMessage, RelayClientError> {
        self.send(message).await?;
        match self.next_within(ANSWER_TIMEOUT).await? {
            SignallingMessage::RelayError(e) => Err(RelayClientError::Refused(e)),
            answer => Ok(answer),
        }
    }

    /// Says goodbye: finishes the signalling stream and closes the connection.
    pub async fn close(mut self) {
        self.send.finish_and_wait(Duration::from_secs(2)).await;
        self.connection.close(quinn::VarInt::from_u32(0), b"bye");
    }
}

/// The error for an answer of the wrong kind (a `RelayError` stays a refusal).
pub fn unexpected(expected: &'static str, got: SignallingMessage) -> RelayClientError {
    match got {
        SignallingMessage::RelayError(e) => RelayClientError::Refused(e),
        other => RelayClientError::Unexpected {
            expected,
            got: format!("{:?}", other.message_type()),
        },
    }
}

/// Text for a signalling field from trusted local input, cut to fit.
pub fn text<const MAX: usize>(value: &str) -> Text<MAX> {
    assent_proto::messages::session::lossy_text(value)
}
