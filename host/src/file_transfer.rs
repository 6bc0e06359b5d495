//! File transfer on the host (R10, R11, R12); this module is compiled only
//! with the `file-transfer` feature, so a PHI build has none of it. Every
//! file the engineer sends is shown to the technician (name, size,
//! SHA-256) and accepted only with the file-transfer grant and a yes; it
//! lands in the configured directory under a sanitised name, only after its
//! hash verified. Files go to the engineer only when the technician types
//! `send PATH`. Every completed transfer is audited.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use assent_net::file_exchange::{
    run_exchange, ExchangeConfig, ExchangeEvent, ExchangeRequest, TRANSFER_REVOKED,
};
use assent_net::file_store::ReceiveDir;
use assent_net::{SealedRecv, SealedSend};
use assent_proto::file_transfer::TransferLimits;
use assent_proto::messages::audit_event::AuditEvent;
use assent_proto::messages::consent::Capability;
use assent_proto::messages::file_transfer::TransferDirection;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::{mpsc, watch};

use crate::grant_gate::SealGate;
use crate::relay_link::host_text;
use crate::session::SessionEvent;
use crate::technician::{Answer, Technician};
use assent_proto::consent::CapabilitySet;

const FILES: Capability = Capability::FileTransfer;

/// How long the technician has to accept an incoming file.
const OFFER_PROMPT_TIMEOUT: Duration = Duration::from_secs(60);

pub struct FilesHandle {
    receive_dir: Option<PathBuf>,
    limits: TransferLimits,
    requests: Option<mpsc::Sender<ExchangeRequest>>,
    grants: Option<watch::Receiver<CapabilitySet>>,
}

/// Who and what the audit records name.
pub struct TransferContext {
    pub host_id: String,
    pub session_id: [u8; 32],
    pub engineer: String,
}

impl FilesHandle {
    pub fn new(receive_dir: Option<PathBuf>, max_file_size: u64) -> Self {
        Self {
            receive_dir,
            limits: TransferLimits { max_file_size },
            requests: None,
            grants: None,
        }
    }

    /// Starts serving the Files channel the engineer opened.
    pub fn attach(
        &mut self,
        send: SealedSend,
        recv: SealedRecv,
        grants: watch::Receiver<CapabilitySet>,
        technician: Technician,
        events: mpsc::Sender<SessionEvent>,
        context: TransferContext,
    ) {
        let receive_dir = match self.receive_dir.clone().map(ReceiveDir::new).transpose() {
            Ok(dir) => dir,
            Err(e) => {
                println!("incoming files are refused: {e}");
                None
            }
        };
        let (requests, request_queue) = mpsc::channel(16);
        let (exchange_events, exchange_queue) = mpsc::channel(64);
        let config = ExchangeConfig {
            receive_dir,
            limits: self.limits,
            receives: TransferDirection::ToHost,
            // The grant itself, held while each chunk is sealed (R10).
            allowed: Box::new(SealGate::new(grants.clone(), FILES)),
        };
        tokio::spawn(run_exchange(
            send,
            recv,
            config,
            request_queue,
            exchange_events,
        ));
        tokio::spawn(follow(
            exchange_queue,
            requests.clone(),
            grants.clone(),
            technician,
            events,
            context,
        ));
        self.requests = Some(requests);
        self.grants = Some(grants);
    }

    /// The technician's `send PATH`.
    pub fn send(&self, path: PathBuf) {
        let granted = self
            .grants
            .as_ref()
            .is_some_and(|g| g.borrow().allows(FILES));
        match (&self.requests, granted) {
            (Some(requests), true) => {
                let request = ExchangeRequest::Send {
                    path,
                    direction: TransferDirection::FromHost,
                };
                if requests.try_send(request).is_err() {
                    println!("the file channel is busy or closed; try again");
                }
            }
            _ => println!(
                "cannot send {}: file transfer is not granted",
                path.display()
            ),
        }
    }
}

/// Answers offers (grant + technician), reports progress, audits results,
/// and aborts everything in flight when the grant is revoked.
async fn follow(
    mut exchange: mpsc::Receiver<ExchangeEvent>,
    requests: mpsc::Sender<ExchangeRequest>,
    mut grants: watch::Receiver<CapabilitySet>,
    technician: Technician,
    events: mpsc::Sender<SessionEvent>,
    context: TransferContext,
) {
    let mut progress: HashMap<String, ProgressBar> = HashMap::new();
    loop {
        let event = tokio::select! {
            event = exchange.recv() => match event { Some(event) => event, None => return },
            changed = grants.changed() => {
                if changed.is_err() { return; }
                if !grants.borrow().allows(FILES) {
                    let _ = requests.send(ExchangeRequest::AbortAll { reason: TRANSFER_REVOKED.into() }).await;
                }
                continue;
            }
        };
        match event {
            ExchangeEvent::Offered(offer) => {
                let accept = if !grants.borrow().allows(FILES) {
                    Err("file transfer is not granted".to_owned())
                } else {
                    let question = format!(
                        "{} sends the file {:?} ({} bytes, SHA-256 {}). Accept?",
                        context.engineer,
                        offer.name.as_str(),
                        offer.size,
                        hex(&offer.sha256)
                    );
                    // A revoke closes the prompt at once instead of waiting
                    // for its answer (the exchange refuses a late yes).
                    tokio::select! {
                        answer = technician.ask(&question, Instant::now() + OFFER_PROMPT_TIMEOUT) => match answer {
                            Answer::Yes => Ok(()),
                            Answer::No => Err("the technician refused the file".to_owned()),
                            Answer::NoAnswer => Err("the technician did not answer".to_owned()),
                        },
                        () = revoked(&mut grants) => Err(TRANSFER_REVOKED.to_owned()),
                    }
                };
                let answer = match accept {
                    Ok(()) => ExchangeRequest::Answer {
                        transfer_id: offer.transfer_id,
                        accept: true,
                        reason: String::new(),
                    },
                    Err(reason) => ExchangeRequest::Answer {
                        transfer_id: offer.transfer_id,
                        accept: false,
                        reason,
                    },
                };
                let _ = requests.send(answer).await;
            }
            ExchangeEvent::Progress { name, done, size } => {
                let bar = progress
                    .entry(name.clone())
                    .or_insert_with(|| new_bar(&name, size));
                bar.set_position(done);
            }
            ExchangeEvent::Completed(done) => {
                if let Some(bar) = progress.remove(&done.name) {
                    bar.finish_and_clear();
                }
                match &done.saved_to {
                    Some(path) => println!(
                        "received {} ({} bytes, SHA-256 verified) → {}",
                        done.name,
                        done.size,
                        path.display()
                    ),
                    None => println!("sent {} ({} bytes)", done.name, done.size),
                }
                let event = AuditEvent::FileTransfer {
                    host_id: host_text(&context.host_id),
                    session_id: context.session_id,
                    name: assent_net::relay_client::text(&done.name),
                    size: done.size,
                    sha256: done.sha256,
                    direction: done.direction,
                };
                let _ = events.send(SessionEvent::Audit(event)).await;
            }
            ExchangeEvent::Failed { name, error } => {
                if let Some(bar) = progress.remove(&name) {
                    bar.abandon();
                }
                println!("file transfer of {name:?} failed: {error}");
            }
        }
    }
}

/// Returns once the file-transfer grant is gone (or the session ends).
async fn revoked(grants: &mut watch::Receiver<CapabilitySet>) {
    let _ = grants.wait_for(|g| !g.allows(FILES)).await;
}

/// A progress bar on the technician's terminal (hidden when stderr is not one).
fn new_bar(name: &str, size: u64) -> ProgressBar {
    let bar = ProgressBar::new(size);
    if let Ok(style) =
        ProgressStyle::with_template("  {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(name.to_owned());
    bar
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
