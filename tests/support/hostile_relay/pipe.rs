//! One direction of one forwarded stream, frame by frame: read what one
//! side wrote, let the rules act, write it on to the other side.

use std::sync::{Arc, Mutex, OnceLock};

use assent_proto::handshake::Direction;
use assent_proto::messages::signalling::{ClientRole, OpenChannel, RelayHello};
use assent_proto::wire::{Frame, FrameDecoder, MessageType};
use quinn::{ReadError, RecvStream, SendStream, WriteError};

use super::ledger::RecordId;
use super::tamper::{apply, At, Out};
use super::Shared;

/// The two pipes of a stream share what its first frame said.
#[derive(Default)]
pub(super) struct StreamTag {
    pub open: Mutex<Option<OpenChannel>>,
}

/// What the pipe knows of the connection it reads from or writes to.
pub(super) struct ConnectionTag {
    /// Learnt from `RelayHello` on the client's first stream.
    pub role: OnceLock<ClientRole>,
}

pub(super) struct Pipe {
    pub from: RecvStream,
    pub to: SendStream,
    /// Reading from the host or viewer (not from the relay).
    pub from_sender: bool,
    pub connection: Arc<ConnectionTag>,
    pub stream: Arc<StreamTag>,
    pub shared: Arc<Shared>,
    /// Names where records were seen, for the ledger's report.
    pub place: &'static str,
}

impl Pipe {
    pub async fn run(mut self) {
        let ledger_stream = self.shared.ledger.new_stream();
        let mut decoder = FrameDecoder::new();
        let mut held = None;
        loop {
            let chunk = match self.from.read_chunk(64 * 1024, true).await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => {
                    if !decoder.is_idle() {
                        self.shared
                            .ledger
                            .unreadable("a stream ended mid-frame".into());
                    }
                    let _ = self.to.finish();
                    // Until the other side has it all: closing this
                    // connection would drop what it has not received.
                    let _ = self.to.stopped().await;
                    return;
                }
                Err(ReadError::Reset(code)) => {
                    let _ = self.to.reset(code);
                    return;
                }
                Err(_) => return,
            };
            let mut input = &chunk.bytes[..];
            while !input.is_empty() {
                let frame = match decoder.decode(&mut input) {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(e) => {
                        self.shared
                            .ledger
                            .unreadable(format!("{}: {e}", self.place));
                        return;
                    }
                };
                for out in self.on_frame(frame, &mut held) {
                    let bytes = match out {
                        Out::Frame(bytes) => bytes,
                        Out::Finish => {
                            let _ = self.to.finish();
                            // Swallow the rest: the receiver saw the end.
                            while let Ok(Some(_)) = self.from.read_chunk(64 * 1024, true).await {}
                            return;
                        }
                    };
                    self.shared.ledger.bytes(ledger_stream, &bytes);
                    match self.to.write_all(&bytes).await {
                        Ok(()) => {}
                        Err(WriteError::Stopped(code)) => {
                            let _ = self.from.stop(code);
                            return;
                        }
                        Err(_) => return,
                    }
                }
            }
        }
    }

    fn direction(&self) -> Option<Direction> {
        let role = *self.connection.role.get()?;
        let sent_by_host = (role == ClientRole::Host) == self.from_sender;
        Some(if sent_by_host {
            Direction::HostToViewer
        } else {
            Direction::ViewerToHost
        })
    }

    /// Notes what `frame` says about its stream, records it, and returns
    /// what to write in its place.
    fn on_frame(&self, frame: Frame, held: &mut Option<Vec<u8>>) -> Vec<Out> {
        match frame.message_type {
            MessageType::RelayHello if self.from_sender => {
                if let Ok(hello) = frame.decode::<RelayHello>() {
                    let _ = self.connection.role.set(hello.role);
                }
            }
            MessageType::AllowListDocument if !self.from_sender => {
                self.shared.allowlists.lock().unwrap().push(frame.clone());
            }
            MessageType::OpenChannel => {
                if let Ok(open) = frame.decode::<OpenChannel>() {
                    *self.stream.open.lock().unwrap() = Some(open);
                }
            }
            _ => {}
        }
        let open = self.stream.open.lock().unwrap().clone();
        let sealed = frame.message_type == MessageType::SealedRecord;
        let seq = sealed
            .then(|| {
                frame
                    .payload
                    .get(..8)?
                    .try_into()
                    .ok()
                    .map(u64::from_be_bytes)
            })
            .flatten();
        let at = At {
            from_sender: self.from_sender,
            direction: self.direction(),
            channel: open.as_ref().map(|o| o.channel),
            seq,
        };
        if sealed && self.from_sender {
            match (&open, at.direction, seq) {
                (Some(open), Some(direction), Some(seq)) => {
                    let id = RecordId {
                        session_id: open.session_id,
                        channel: open.channel as u8,
                        direction,
                        seq,
                    };
                    self.shared.ledger.sealed(id, self.place);
                    if direction == Direction::ViewerToHost {
                        self.shared.record(open, &frame.to_bytes());
                    }
                }
                _ => self
                    .shared
                    .ledger
                    .unreadable(format!("{}: a sealed record outside a channel", self.place)),
            }
        }
        if let Some(rule) = self.shared.take_rule(&frame, &at) {
            let out = apply(&rule, frame, held);
            if held.is_none() {
                self.shared.fired(rule.name());
            }
            return out;
        }
        let mut out = vec![Out::Frame(frame.to_bytes())];
        if sealed {
            if let Some(earlier) = held.take() {
                // The swapped record goes after its successor.
                out.push(Out::Frame(earlier));
                self.shared.fired("swap");
            }
        }
        out
    }
}
