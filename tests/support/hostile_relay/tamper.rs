//! What the hostile relay can be told to do to the frames it forwards. Each
//! rule acts once, on the stream of its sender, so the real relay carries
//! the tampered stream on to the receiver as it would its own.

use std::ops::Range;

use assent_proto::handshake::Direction;
use assent_proto::messages::handshake::{HostFinish, HostHello, ViewerFinish, ViewerHello};
use assent_proto::messages::signalling::{ChannelKind, SignallingMessage};
use assent_proto::wire::{Field, Frame, MessageType};

/// One attack on the frames of one stream direction.
#[derive(Debug, Clone)]
pub enum Tamper {
    /// Flips one bit in the middle of field `field` (its name in
    /// [`handshake_fields`]) of the first `message` handshake frame.
    FlipField {
        message: MessageType,
        field: &'static str,
    },
    /// Holds record `seq` and sends it after record `seq + 1`.
    Swap(RecordAt),
    /// Never forwards record `seq`.
    Drop(RecordAt),
    /// Forwards record `seq` one byte short (its tag cut).
    Truncate(RecordAt),
    /// In place of record `seq`, ends the stream (a FIN), then forwards
    /// nothing more of it.
    Fin(RecordAt),
    /// Serves `frame` to the host in place of the relay's next allowlist.
    ReplaceAllowList(Frame),
}

/// A sealed record: which channel, which way, which sequence number.
#[derive(Debug, Clone, Copy)]
pub struct RecordAt {
    pub channel: ChannelKind,
    pub direction: Direction,
    pub seq: u64,
}

/// What a pipe does with one frame.
pub(super) enum Out {
    Frame(Vec<u8>),
    Finish,
}

/// Where a frame is: what the pipe knows about its stream.
pub(super) struct At {
    /// Read from the host or viewer that wrote it (not from the relay).
    pub from_sender: bool,
    pub direction: Option<Direction>,
    pub channel: Option<ChannelKind>,
    /// Sequence number, for sealed records.
    pub seq: Option<u64>,
}

impl Tamper {
    /// How [`super::HostileRelay::wait_fired`] names it.
    pub fn name(&self) -> &'static str {
        match self {
            Tamper::FlipField { .. } => "flip",
            Tamper::Swap(_) => "swap",
            Tamper::Drop(_) => "drop",
            Tamper::Truncate(_) => "truncate",
            Tamper::Fin(_) => "fin",
            Tamper::ReplaceAllowList(_) => "allowlist",
        }
    }

    /// Whether this rule acts on `frame` at `at`.
    pub(super) fn applies(&self, frame: &Frame, at: &At) -> bool {
        match self {
            Tamper::FlipField { message, .. } => at.from_sender && frame.message_type == *message,
            Tamper::Swap(r) | Tamper::Drop(r) | Tamper::Truncate(r) | Tamper::Fin(r) => {
                at.from_sender
                    && frame.message_type == MessageType::SealedRecord
                    && at.channel == Some(r.channel)
                    && at.direction == Some(r.direction)
                    && at.seq == Some(r.seq)
            }
            Tamper::ReplaceAllowList(_) => {
                !at.from_sender
                    && at.direction == Some(Direction::ViewerToHost)
                    && frame.message_type == MessageType::AllowListDocument
            }
        }
    }
}

/// The fields of each handshake message in wire order, with the byte range
/// each takes in `frame`'s payload (from the project's own codec: each
/// field encoded in turn, checked against the payload).
pub fn handshake_fields(frame: &Frame) -> Option<Vec<(&'static str, Range<usize>)>> {
    let mut out = Vec::new();
    let mut fields = Vec::new();
    let mut field = |name: &'static str, encode: &dyn Fn(&mut Vec<u8>)| {
        let start = out.len();
        encode(&mut out);
        fields.push((name, start..out.len()));
    };
    match frame.message_type {
        MessageType::ViewerHello => {
            let m: ViewerHello = frame.decode().ok()?;
            field("session_id", &|o| m.session_id.encode(o));
            field("viewer_nonce", &|o| m.viewer_nonce.encode(o));
            field("viewer_ephemeral", &|o| m.viewer_ephemeral.encode(o));
            field("viewer_pake", &|o| m.viewer_pake.encode(o));
            field("viewer_identity", &|o| m.viewer_identity.encode(o));
        }
        MessageType::HostHello => {
            let m: HostHello = frame.decode().ok()?;
            field("host_nonce", &|o| m.host_nonce.encode(o));
            field("host_ephemeral", &|o| m.host_ephemeral.encode(o));
            field("host_pake", &|o| m.host_pake.encode(o));
            field("host_identity", &|o| m.host_identity.encode(o));
            field("signature", &|o| m.signature.encode(o));
        }
        MessageType::ViewerFinish => {
            let m: ViewerFinish = frame.decode().ok()?;
            field("signature", &|o| m.signature.encode(o));
            field("confirm", &|o| m.confirm.encode(o));
        }
        MessageType::HostFinish => {
            let m: HostFinish = frame.decode().ok()?;
            field("confirm", &|o| m.confirm.encode(o));
        }
        _ => return None,
    }
    assert_eq!(
        out, frame.payload,
        "the codec's fields do not make up the frame"
    );
    Some(fields)
}

/// Applies `rule` to `frame`; `held` keeps a swapped record until its successor.
pub(super) fn apply(rule: &Tamper, mut frame: Frame, held: &mut Option<Vec<u8>>) -> Vec<Out> {
    match rule {
        Tamper::FlipField { field, .. } => {
            let fields = handshake_fields(&frame).expect("a handshake message");
            let (_, range) = fields
                .iter()
                .find(|(name, _)| name == field)
                .unwrap_or_else(|| panic!("no field {field} in {:?}", frame.message_type));
            // The middle byte: past any length prefix, inside the value.
            let at = range.start + range.len() / 2;
            frame.payload[at] ^= 0x10;
            vec![Out::Frame(frame.to_bytes())]
        }
        Tamper::Swap(_) => {
            *held = Some(frame.to_bytes());
            Vec::new()
        }
        Tamper::Drop(_) => Vec::new(),
        Tamper::Truncate(_) => {
            frame.payload.pop();
            vec![Out::Frame(frame.to_bytes())]
        }
        Tamper::Fin(_) => vec![Out::Finish],
        Tamper::ReplaceAllowList(old) => {
            assert!(matches!(
                SignallingMessage::decode(old),
                Ok(SignallingMessage::AllowListDocument(_))
            ));
            vec![Out::Frame(old.to_bytes())]
        }
    }
}
