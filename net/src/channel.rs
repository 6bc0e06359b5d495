//! End-to-end channels through the relay (R3): the viewer opens one QUIC
//! stream per channel and names it with `OpenChannel`; the relay splices it
//! to a stream it opens to the host. After the handshake every frame on a
//! channel is a `SealedRecord` under that channel's own keys, and a message
//! is accepted only on the channel it belongs to (input never arrives
//! disguised as screen traffic).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use assent_proto::handshake::{Channel, ChannelAlreadyOpen, ChannelKeys, SessionKeys};
use assent_proto::messages::session::SessionMessage;
use assent_proto::messages::signalling::{ChannelKind, OpenChannel, SessionId};
use assent_proto::record::{RecordError, RecordOpener, RecordSealer};
use assent_proto::wire::{DecodeError, Frame, MessageType};

use crate::{framed, FramedRecv, FramedSend, NetError};

/// Why a channel stopped; each ends that channel only.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("end-to-end record refused: {0}")]
    Record(#[from] RecordError),
    #[error("malformed message inside a record: {0}")]
    Decode(#[from] DecodeError),
    #[error("expected a sealed record, got {0:?}")]
    NotSealed(MessageType),
    #[error("{message:?} does not belong on the {channel:?} channel")]
    WrongChannel {
        message: MessageType,
        channel: Channel,
    },
    #[error("the first frame on a new stream was not OpenChannel")]
    NotOpenChannel,
}

/// The wire name of an end-to-end channel.
pub fn channel_kind(channel: Channel) -> ChannelKind {
    ChannelKind::from(channel)
}

/// The channel a wire name stands for; `None` for a channel this build does
/// not have (file transfer in a PHI build, R11).
pub fn channel_of(kind: ChannelKind) -> Option<Channel> {
    kind.channel()
}

/// Viewer side: opens a stream for `kind` of session `session_id`.
pub async fn open_channel(
    connection: &quinn::Connection,
    session_id: SessionId,
    kind: ChannelKind,
) -> Result<(FramedSend, FramedRecv), NetError> {
    let (send, recv) = connection.open_bi().await?;
    let (mut send, recv) = framed(send, recv);
    send.send(&OpenChannel {
        session_id,
        channel: kind,
    })
    .await?;
    Ok((send, recv))
}

/// Host side: the next stream the relay opens, with the channel it names.
/// `Ok(None)` when the connection has no more streams.
pub async fn accept_channel(
    connection: &quinn::Connection,
) -> Result<Option<(OpenChannel, FramedSend, FramedRecv)>, ChannelError> {
    let (send, recv) = match connection.accept_bi().await {
        Ok(pair) => pair,
        Err(
            quinn::ConnectionError::ApplicationClosed(_) | quinn::ConnectionError::LocallyClosed,
        ) => return Ok(None),
        Err(e) => return Err(NetError::from(e).into()),
    };
    let (send, mut recv) = framed(send, recv);
    let frame = recv.recv().await?.ok_or(ChannelError::NotOpenChannel)?;
    if frame.message_type != MessageType::OpenChannel {
        return Err(ChannelError::NotOpenChannel);
    }
    let open: OpenChannel = frame.decode()?;
    Ok(Some((open, send, recv)))
}

/// Takes `channel`'s keys from the session (once: a second open of the same
/// channel is refused, R3) and seals both halves of its stream with them.
pub fn seal_channel(
    keys: &mut SessionKeys,
    channel: Channel,
    send: FramedSend,
    recv: FramedRecv,
) -> Result<(SealedSend, SealedRecv), ChannelAlreadyOpen> {
    Ok(sealed_with(keys.take_channel(channel)?, send, recv))
}

/// Seals both halves of a channel's stream with the keys taken for it.
pub fn sealed_with(
    keys: ChannelKeys,
    send: FramedSend,
    recv: FramedRecv,
) -> (SealedSend, SealedRecv) {
    let ChannelKeys {
        channel,
        sealer,
        opener,
    } = keys;
    (
        SealedSend::new(send, channel, sealer),
        SealedRecv::new(recv, channel, opener),
    )
}

/// Sends session messages of one channel as sealed records.
pub struct SealedSend {
    framed: FramedSend,
    sealer: RecordSealer,
    channel: Channel,
    sealed: SealedCount,
}

/// A record sealed by [`SealedSend::seal`], not yet on the wire.
pub struct SealedRecord(Frame);

/// How many records a [`SealedSend`] has sealed so far, readable while the
/// sender is busy elsewhere: a revocation is proved by this count not moving
/// once the revoke has returned (R10).
#[derive(Debug, Clone, Default)]
pub struct SealedCount(Arc<AtomicU64>);

impl SealedCount {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl SealedSend {
    /// `sealer` is the channel's, from [`SessionKeys::take_channel`].
    pub fn new(framed: FramedSend, channel: Channel, sealer: RecordSealer) -> Self {
        Self {
            framed,
            sealer,
            channel,
            sealed: SealedCount::default(),
        }
    }

    /// Seals and sends one message; returns the bytes put on the wire.
    pub async fn send(&mut self, message: &SessionMessage) -> Result<usize, ChannelError> {
        let record = self.seal(message)?;
        self.send_sealed(record).await
    }

    /// Seals one message without sending it, so a caller can seal under a
    /// lock (a capability's grant) and send after releasing it. Records go
    /// out in the order they were sealed or the peer refuses them.
    pub fn seal(&mut self, message: &SessionMessage) -> Result<SealedRecord, ChannelError> {
        if message.channel() != self.channel {
            return Err(ChannelError::WrongChannel {
                message: message.message_type(),
                channel: self.channel,
            });
        }
        let plaintext = message.to_frame()?;
        let mut record = Vec::with_capacity(plaintext.len() + 64);
        self.sealer.seal(&plaintext, &mut record)?;
        self.sealed.0.fetch_add(1, Ordering::SeqCst);
        Ok(SealedRecord(Frame {
            message_type: MessageType::SealedRecord,
            payload: record,
        }))
    }

    /// Sends a record from [`seal`](Self::seal); returns its wire length.
    pub async fn send_sealed(&mut self, record: SealedRecord) -> Result<usize, ChannelError> {
        let len = record.0.payload.len() + assent_proto::wire::HEADER_LEN;
        self.framed.send_frame(&record.0).await?;
        Ok(len)
    }

    /// The count of records sealed on this channel, to read from elsewhere.
    pub fn sealed_count(&self) -> SealedCount {
        self.sealed.clone()
    }

    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// Finishes the stream (the peer reads the end after what was sent).
    pub fn finish(&mut self) {
        let _ = self.framed.finish();
    }

    /// Finishes the stream and waits (at most `limit`) until the peer has
    /// everything, so closing the connection next cannot cut it short.
    pub async fn finish_and_wait(&mut self, limit: std::time::Duration) {
        self.framed.finish_and_wait(limit).await;
    }
}

/// Receives sealed records of one channel and decodes their messages.
pub struct SealedRecv {
    framed: FramedRecv,
    opener: RecordOpener,
    channel: Channel,
}

impl SealedRecv {
    /// `opener` is the channel's, from [`SessionKeys::take_channel`].
    pub fn new(framed: FramedRecv, channel: Channel, opener: RecordOpener) -> Self {
        Self {
            framed,
            opener,
            channel,
        }
    }

    /// The next message with the bytes it took on the wire; `Ok(None)` at
    /// the end of the stream.
    pub async fn recv(&mut self) -> Result<Option<(SessionMessage, usize)>, ChannelError> {
        let Some(mut frame) = self.framed.recv().await? else {
            return Ok(None);
        };
        if frame.message_type != MessageType::SealedRecord {
            return Err(ChannelError::NotSealed(frame.message_type));
        }
        let wire_len = frame.payload.len() + assent_proto::wire::HEADER_LEN;
        let plaintext = self.opener.open(&mut frame.payload)?;
        let message = SessionMessage::from_frame_bytes(plaintext)?;
        if message.channel() != self.channel {
            return Err(ChannelError::WrongChannel {
                message: message.message_type(),
                channel: self.channel,
            });
        }
        Ok(Some((message, wire_len)))
    }

    pub fn channel(&self) -> Channel {
        self.channel
    }
}
