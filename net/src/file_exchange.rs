//! The Files channel driver shared by host and viewer (R10–R12). It speaks
//! the file-transfer messages over one sealed channel, one file each way at
//! a time, and leaves every decision to its shell: an offer is reported as
//! [`ExchangeEvent::Offered`] and nothing is written until the shell answers
//! yes. Received bytes go to a temporary file that is renamed only after
//! size and SHA-256 verify (`file_store`); any failure, abort or lost
//! channel drops it, so no partial file is ever left. Absent from PHI
//! builds (R11).

use std::path::PathBuf;

use assent_proto::file_transfer::{
    abort, refuse_offer, IncomingTransfer, OutgoingOffer, OutgoingTransfer, TransferLimits,
};
use assent_proto::messages::file_transfer::{FileOffer, TransferDirection};
use assent_proto::messages::session::SessionMessage;
use tokio::sync::mpsc;
use tracing::debug;

use crate::channel::ChannelError;
use crate::file_store::{Overwrite, PendingFile, ReceiveDir, SourceFile};
use crate::{SealedRecord, SealedRecv, SealedSend};

/// Progress is reported about this often (in bytes).
const PROGRESS_STEP: u64 = 1024 * 1024;

/// What the shell asks of the exchange.
#[derive(Debug)]
pub enum ExchangeRequest {
    /// Offer a local file to the peer.
    Send {
        path: PathBuf,
        direction: TransferDirection,
    },
    /// Answer an [`ExchangeEvent::Offered`].
    Answer {
        transfer_id: u64,
        accept: bool,
        reason: String,
    },
    /// Stop everything in flight (e.g. the grant was revoked).
    AbortAll { reason: String },
}

/// A transfer that finished with its hash verified.
#[derive(Debug, Clone)]
pub struct CompletedTransfer {
    pub name: String,
    pub size: u64,
    pub sha256: [u8; 32],
    pub direction: TransferDirection,
    /// Where a received file now is; `None` for a file we sent.
    pub saved_to: Option<PathBuf>,
}

/// What the exchange tells the shell.
#[derive(Debug)]
pub enum ExchangeEvent {
    /// The peer offers a file; answer with [`ExchangeRequest::Answer`].
    Offered(FileOffer),
    Progress {
        name: String,
        done: u64,
        size: u64,
    },
    Completed(CompletedTransfer),
    Failed {
        name: String,
        error: String,
    },
}

pub struct ExchangeConfig {
    /// Where accepted files land; `None` refuses every offer.
    pub receive_dir: Option<ReceiveDir>,
    pub limits: TransferLimits,
    /// The direction of files this side receives (the host receives
    /// `ToHost`, the viewer `FromHost`); offers the other way are refused.
    pub receives: TransferDirection,
    /// Whether files may flow right now, asked where a file is offered or
    /// begun, before each chunk is written, and at the moment each chunk
    /// is sealed: on the host, the file-transfer grant (R10). When it says
    /// no with a transfer under way, everything in flight is aborted. (The
    /// shell's `AbortAll` aborts at the revoke itself, when nothing is
    /// moving.)
    pub allowed: Box<dyn TransferPermission>,
}

/// Whether file transfer is allowed at this moment (R10).
pub trait TransferPermission: Send + Sync {
    /// Runs `step` only if files may flow now, and keeps them allowed
    /// while it runs: a revoke returns only after `step`, so nothing is
    /// sealed under a grant already revoked. False, with `step` not run,
    /// if they may not flow.
    fn while_allowed(&self, step: &mut dyn FnMut()) -> bool;
}

/// A check that holds nothing while `step` runs: right only for a
/// permission nobody revokes (the viewer's `|| true`).
impl<F: Fn() -> bool + Send + Sync> TransferPermission for F {
    fn while_allowed(&self, step: &mut dyn FnMut()) -> bool {
        let allowed = self();
        if allowed {
            step();
        }
        allowed
    }
}

/// Why transfers stop when [`ExchangeConfig::allowed`] says no.
pub const TRANSFER_REVOKED: &str = "file transfer was revoked by the technician";

struct Incoming {
    transfer: IncomingTransfer,
    /// `None` until the shell accepted.
    pending: Option<PendingFile>,
    reported: u64,
}

enum Outgoing {
    Offered(OutgoingOffer, SourceFile),
    Sending(OutgoingTransfer, SourceFile, TransferDirection),
}

/// Serves the Files channel until it closes or the shell goes away.
pub async fn run_exchange(
    mut send: SealedSend,
    mut recv: SealedRecv,
    config: ExchangeConfig,
    mut requests: mpsc::Receiver<ExchangeRequest>,
    events: mpsc::Sender<ExchangeEvent>,
) {
    let mut exchange = Exchange {
        config,
        incoming: None,
        outgoing: None,
        next_id: 1,
        events,
    };
    loop {
        let sending = matches!(exchange.outgoing, Some(Outgoing::Sending(..)));
        let step = tokio::select! {
            message = recv.recv() => match message {
                Ok(Some((message, _))) => exchange.on_message(message, &mut send).await,
                Ok(None) => Err(ChannelError::Net(crate::NetError::TruncatedFrame)),
                Err(ChannelError::Decode(e)) => {
                    exchange.abort_all(&mut send, &format!("malformed file-transfer message: {e}")).await
                }
                Err(e) => Err(e),
            },
            request = requests.recv() => match request {
                Some(request) => exchange.on_request(request, &mut send).await,
                None => return,
            },
            () = std::future::ready(()), if sending => exchange.send_next_chunk(&mut send).await,
        };
        if let Err(e) = step {
            debug!(error = %e, "file channel closed");
            exchange.fail_all(&e.to_string()).await;
            return;
        }
    }
}

struct Exchange {
    config: ExchangeConfig,
    incoming: Option<Incoming>,
    outgoing: Option<Outgoing>,
    next_id: u64,
    events: mpsc::Sender<ExchangeEvent>,
}

impl Exchange {
    async fn event(&self, event: ExchangeEvent) {
        let _ = self.events.send(event).await;
    }

    async fn failed(&self, name: &str, error: impl ToString) {
        self.event(ExchangeEvent::Failed {
            name: name.to_owned(),
            error: error.to_string(),
        })
        .await;
    }

    async fn on_message(
        &mut self,
        message: SessionMessage,
        send: &mut SealedSend,
    ) -> Result<(), ChannelError> {
        match message {
            SessionMessage::FileOffer(offer) => self.on_offer(offer, send).await,
            SessionMessage::FileOfferAnswer(answer) => {
                match self.outgoing.take() {
                    Some(Outgoing::Offered(offer, source))
                        if offer.transfer_id() == answer.transfer_id =>
                    {
                        let (name, direction) = (offer.name().to_string(), offer.direction());
                        match offer.answered(&answer) {
                            Ok(transfer) => {
                                self.outgoing = Some(Outgoing::Sending(transfer, source, direction))
                            }
                            Err(e) => self.failed(&name, e).await,
                        }
                    }
                    other => self.outgoing = other,
                }
                Ok(())
            }
            // Revoked with a transfer under way: not one more byte is written.
            SessionMessage::FileChunk(_) if self.in_flight() && !self.allowed() => {
                self.abort_all(send, TRANSFER_REVOKED).await
            }
            SessionMessage::FileChunk(chunk) => {
                let Some(incoming) = self.incoming.as_mut().filter(|i| {
                    i.pending.is_some() && i.transfer.transfer_id() == chunk.transfer_id
                }) else {
                    return send
                        .send(
                            &abort(chunk.transfer_id, "no such transfer is being received").into(),
                        )
                        .await
                        .map(drop);
                };
                let written = incoming
                    .transfer
                    .accept_chunk(&chunk)
                    .map_err(|e| e.to_string())
                    .and_then(|()| {
                        incoming.pending.as_mut().map_or(Ok(()), |p| {
                            p.write_chunk(&chunk.data).map_err(|e| e.to_string())
                        })
                    });
                match written {
                    Ok(()) => {
                        let done = incoming.transfer.received();
                        if done - incoming.reported >= PROGRESS_STEP {
                            incoming.reported = done;
                            let event = ExchangeEvent::Progress {
                                name: incoming.transfer.name().to_string(),
                                done,
                                size: incoming.transfer.size(),
                            };
                            self.event(event).await;
                        }
                        Ok(())
                    }
                    Err(e) => self.abort_incoming(send, &e).await,
                }
            }
            SessionMessage::FileComplete(complete) => {
                let Some(incoming) = self.incoming.take_if(|i| {
                    i.pending.is_some() && i.transfer.transfer_id() == complete.transfer_id
                }) else {
                    return Ok(());
                };
                let name = incoming.transfer.name().to_string();
                let Some(pending) = incoming.pending else {
                    return Ok(());
                };
                let result = incoming
                    .transfer
                    .finish()
                    .map_err(|e| e.to_string())
                    .and_then(|verified| {
                        pending
                            .commit(&verified)
                            .map(|path| (verified, path))
                            .map_err(|e| e.to_string())
                    });
                match result {
                    Ok((verified, path)) => {
                        let done = CompletedTransfer {
                            name,
                            size: verified.size(),
                            sha256: *verified.sha256(),
                            direction: verified.direction(),
                            saved_to: Some(path),
                        };
                        self.event(ExchangeEvent::Completed(done)).await;
                        Ok(())
                    }
                    Err(e) => {
                        send.send(&abort(complete.transfer_id, &e).into()).await?;
                        self.failed(&name, e).await;
                        Ok(())
                    }
                }
            }
            SessionMessage::FileAbort(aborted) => {
                if let Some(incoming) = self
                    .incoming
                    .take_if(|i| i.transfer.transfer_id() == aborted.transfer_id)
                {
                    // Dropping the pending file deletes what was received.
                    let name = incoming.transfer.name().to_string();
                    self.failed(&name, format!("the peer aborted: {}", aborted.reason))
                        .await;
                }
                let ours = match &self.outgoing {
                    Some(Outgoing::Offered(o, _)) => o.transfer_id() == aborted.transfer_id,
                    Some(Outgoing::Sending(t, ..)) => t.transfer_id() == aborted.transfer_id,
                    None => false,
                };
                if ours {
                    let name = self.outgoing_name();
                    self.outgoing = None;
                    self.failed(&name, format!("the peer aborted: {}", aborted.reason))
                        .await;
                }
                Ok(())
            }
            other => {
                debug!(kind = ?other.message_type(), "ignored on the file channel");
                Ok(())
            }
        }
    }

    async fn on_offer(
        &mut self,
        offer: FileOffer,
        send: &mut SealedSend,
    ) -> Result<(), ChannelError> {
        let refusal = if self.incoming.is_some() {
            Some("one file at a time: wait for the current transfer to finish".to_owned())
        } else if self.config.receive_dir.is_none() {
            Some("this side does not accept files".to_owned())
        } else if offer.direction != self.config.receives {
            Some("the offer names the wrong direction".to_owned())
        } else {
            None
        };
        let checked = match refusal {
            Some(reason) => Err(reason),
            None => IncomingTransfer::new(&offer, &self.config.limits).map_err(|e| e.to_string()),
        };
        match checked {
            Ok(transfer) => {
                self.incoming = Some(Incoming {
                    transfer,
                    pending: None,
                    reported: 0,
                });
                self.event(ExchangeEvent::Offered(offer)).await;
            }
            Err(reason) => {
                send.send(&refuse_offer(offer.transfer_id, &reason).into())
                    .await?;
                self.failed(offer.name.as_str(), reason).await;
            }
        }
        Ok(())
    }

    async fn on_request(
        &mut self,
        request: ExchangeRequest,
        send: &mut SealedSend,
    ) -> Result<(), ChannelError> {
        match request {
            ExchangeRequest::Send { path, direction } => {
                let name = path.display().to_string();
                if !self.allowed() {
                    self.failed(&name, "file transfer is not granted").await;
                    return Ok(());
                }
                if self.outgoing.is_some() {
                    self.failed(&name, "one file at a time: wait for the current transfer")
                        .await;
                    return Ok(());
                }
                let opened = tokio::task::spawn_blocking(move || SourceFile::open(&path)).await;
                let source = match opened {
                    Ok(Ok(source)) => source,
                    Ok(Err(e)) => {
                        self.failed(&name, e).await;
                        return Ok(());
                    }
                    Err(e) => {
                        self.failed(&name, e).await;
                        return Ok(());
                    }
                };
                let offer = source.offer(self.next_id, direction);
                self.next_id += 1;
                send.send(&offer.message().into()).await?;
                self.outgoing = Some(Outgoing::Offered(offer, source));
                Ok(())
            }
            ExchangeRequest::Answer {
                transfer_id,
                accept,
                reason,
            } => {
                let Some(incoming) = self
                    .incoming
                    .take_if(|i| i.pending.is_none() && i.transfer.transfer_id() == transfer_id)
                else {
                    return Ok(());
                };
                let name = incoming.transfer.name().clone();
                // A yes that comes after the grant went is no yes.
                let (accept, reason) = if accept && !self.allowed() {
                    (false, TRANSFER_REVOKED.to_owned())
                } else {
                    (accept, reason)
                };
                let begun = match (&self.config.receive_dir, accept) {
                    (Some(dir), true) => dir
                        .begin(&name, Overwrite::Refuse)
                        .map_err(|e| e.to_string()),
                    (None, true) => Err("this side does not accept files".to_owned()),
                    (_, false) => Err(reason),
                };
                match begun {
                    Ok(pending) => {
                        send.send(&incoming.transfer.acceptance().into()).await?;
                        self.incoming = Some(Incoming {
                            pending: Some(pending),
                            ..incoming
                        });
                    }
                    Err(reason) => {
                        send.send(&refuse_offer(transfer_id, &reason).into())
                            .await?;
                        self.failed(name.as_str(), reason).await;
                    }
                }
                Ok(())
            }
            ExchangeRequest::AbortAll { reason } => self.abort_all(send, &reason).await,
        }
    }

    fn allowed(&self) -> bool {
        self.config.allowed.while_allowed(&mut || {})
    }

    /// Seals `message` only while files may flow; `None` when they may not.
    fn seal_if_allowed(
        &self,
        send: &mut SealedSend,
        message: &SessionMessage,
    ) -> Option<Result<SealedRecord, ChannelError>> {
        let mut sealed = None;
        self.config
            .allowed
            .while_allowed(&mut || sealed = Some(send.seal(message)));
        sealed
    }

    fn in_flight(&self) -> bool {
        self.incoming.is_some() || self.outgoing.is_some()
    }

    async fn send_next_chunk(&mut self, send: &mut SealedSend) -> Result<(), ChannelError> {
        if !self.allowed() {
            return self.abort_all(send, TRANSFER_REVOKED).await;
        }
        let Some(Outgoing::Sending(mut transfer, mut source, direction)) = self.outgoing.take()
        else {
            return Ok(());
        };
        let name = transfer.name().to_string();
        let chunk = match source.read_chunk() {
            Ok(chunk) => chunk,
            Err(e) => {
                send.send(&abort(transfer.transfer_id(), &e.to_string()).into())
                    .await?;
                self.failed(&name, e).await;
                return Ok(());
            }
        };
        match chunk {
            Some(data) => match transfer.chunk(data) {
                Ok(chunk) => {
                    let id = transfer.transfer_id();
                    self.outgoing = Some(Outgoing::Sending(transfer, source, direction));
                    // Checked and sealed under the grant: once a revoke has
                    // returned, not one more chunk is sealed (R10).
                    match self.seal_if_allowed(send, &chunk.into()) {
                        Some(sealed) => {
                            send.send_sealed(sealed?).await?;
                        }
                        None => {
                            debug!(transfer_id = id, "revoked between chunks");
                            return self.abort_all(send, TRANSFER_REVOKED).await;
                        }
                    }
                }
                Err(e) => {
                    send.send(&abort(transfer.transfer_id(), &e.to_string()).into())
                        .await?;
                    self.failed(&name, e).await;
                }
            },
            None => {
                let (size, sha256, id) =
                    (transfer.size(), *source.sha256(), transfer.transfer_id());
                match transfer.complete() {
                    Ok(complete) => {
                        // Completed only under the grant, like each chunk.
                        let Some(sealed) = self.seal_if_allowed(send, &complete.into()) else {
                            send.send(&abort(id, TRANSFER_REVOKED).into()).await?;
                            self.failed(&name, TRANSFER_REVOKED).await;
                            return Ok(());
                        };
                        send.send_sealed(sealed?).await?;
                        let done = CompletedTransfer {
                            name,
                            size,
                            sha256,
                            direction,
                            saved_to: None,
                        };
                        self.event(ExchangeEvent::Completed(done)).await;
                    }
                    Err(e) => {
                        send.send(&abort(id, &e.to_string()).into()).await?;
                        self.failed(&name, e).await;
                    }
                }
            }
        }
        Ok(())
    }

    async fn abort_incoming(
        &mut self,
        send: &mut SealedSend,
        reason: &str,
    ) -> Result<(), ChannelError> {
        if let Some(incoming) = self.incoming.take() {
            send.send(&abort(incoming.transfer.transfer_id(), reason).into())
                .await?;
            self.failed(incoming.transfer.name().as_str(), reason).await;
        }
        Ok(())
    }

    async fn abort_all(&mut self, send: &mut SealedSend, reason: &str) -> Result<(), ChannelError> {
        self.abort_incoming(send, reason).await?;
        let id = match &self.outgoing {
            Some(Outgoing::Offered(o, _)) => Some(o.transfer_id()),
            Some(Outgoing::Sending(t, ..)) => Some(t.transfer_id()),
            None => None,
        };
        if let Some(id) = id {
            let name = self.outgoing_name();
            self.outgoing = None;
            send.send(&abort(id, reason).into()).await?;
            self.failed(&name, reason).await;
        }
        Ok(())
    }

    /// The channel is gone: whatever was in flight failed (and partial
    /// received data is deleted as the pending file drops).
    async fn fail_all(&mut self, reason: &str) {
        if let Some(incoming) = self.incoming.take() {
            self.failed(incoming.transfer.name().as_str(), reason).await;
        }
        if self.outgoing.is_some() {
            let name = self.outgoing_name();
            self.outgoing = None;
            self.failed(&name, reason).await;
        }
    }

    fn outgoing_name(&self) -> String {
        match &self.outgoing {
            Some(Outgoing::Offered(o, _)) => o.name().to_string(),
            Some(Outgoing::Sending(t, ..)) => t.name().to_string(),
            None => String::new(),
        }
    }
}
