//! File transfer in the viewer (R10–R12): the engineer's side of the Files
//! channel. The channel is opened when file transfer is first requested,
//! and read only from the first grant on (that is when the download
//! directory is created). Files from the host are accepted automatically
//! while file transfer is granted and refused otherwise; files to the host
//! go one after another from a queue, only while it is granted; a
//! revocation aborts whatever is in flight. The host asks its technician
//! about every file and enforces the grant itself: this side only never
//! sends or accepts without it.
//!
//! Verification and the never-partial rule live in
//! [`assent_net::file_exchange`]; this module decides and reports. Every
//! outcome is one stable stdout line ([`FileReport::line`]).
//!
//! "Sent" means every byte left this side: the protocol has no receipt from
//! the host after it verified the hash (a failed check is a `FileAbort` the
//! exchange no longer listens for), so a run that only sends waits
//! [`FileGoals::SETTLE`] before it closes the connection.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assent_net::file_exchange::{run_exchange, ExchangeConfig, ExchangeEvent, ExchangeRequest};
use assent_net::file_store::ReceiveDir;
use assent_net::{SealedRecv, SealedSend};
use assent_proto::file_transfer::TransferLimits;
use assent_proto::messages::file_transfer::TransferDirection;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Received files go here unless `--download-dir` says otherwise
/// (relative to the working directory; created on the first grant).
pub const DEFAULT_DOWNLOAD_DIR: &str = "assent-downloads";

/// Why offers are refused and transfers stopped without the grant.
const NOT_GRANTED: &str = "file transfer is not granted";
const REVOKED: &str = "file transfer was revoked by the technician";

/// How long a finished session waits for the exchange to hand its last
/// bytes to the connection before the connection closes.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

/// What the engineer asked of file transfer for this session.
#[derive(Debug, Clone)]
pub struct FilesPlan {
    pub download_dir: PathBuf,
    /// Files to send to the host once file transfer is granted, in order.
    pub send: Vec<PathBuf>,
}

impl Default for FilesPlan {
    fn default() -> Self {
        Self {
            download_dir: PathBuf::from(DEFAULT_DOWNLOAD_DIR),
            send: Vec::new(),
        }
    }
}

/// `--download-dir`: anything but an existing non-directory (a missing
/// directory is created when file transfer is granted).
pub fn parse_download_dir(value: &str) -> Result<PathBuf, String> {
    let dir = PathBuf::from(value);
    match std::fs::metadata(&dir) {
        Ok(meta) if !meta.is_dir() => Err(format!(
            "{value} exists and is not a directory; choose a directory for received files"
        )),
        _ => Ok(dir),
    }
}

/// `--send`: a regular file that exists now (it is read again when sent).
pub fn parse_file_to_send(value: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(value);
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() => Ok(path),
        Ok(_) => Err(format!(
            "{value} is not a regular file; only single files can be sent"
        )),
        Err(e) => Err(format!("{value}: {e}")),
    }
}

/// Something that happened to a file, for the engineer and the frontend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileReport {
    /// A file from the queue is being offered to the host.
    Sending {
        path: PathBuf,
    },
    /// The host offers a file (answered at once: yes only with the grant).
    Offered {
        name: String,
        size: u64,
        sha256: [u8; 32],
    },
    Progress {
        name: String,
        done: u64,
        size: u64,
    },
    /// A file from the host, stored under its name after its hash verified.
    Received {
        name: String,
        size: u64,
        path: PathBuf,
    },
    /// Every byte of a file was sent to the host.
    Sent {
        name: String,
        size: u64,
    },
    /// `direction`: `ToHost` for a file this viewer sends.
    Failed {
        name: String,
        error: String,
        direction: TransferDirection,
    },
    /// Not a transfer: an answer to the engineer (e.g. "nothing sent").
    Note(String),
}

impl FileReport {
    /// The line shown for it (stable for scripts, except `Progress` and `Note`).
    pub fn line(&self) -> String {
        match self {
            FileReport::Sending { path } => {
                format!("file sending: {}", printable(&path.display().to_string()))
            }
            FileReport::Offered { name, size, sha256 } => format!(
                "file offered: {} ({size} bytes, sha256 {})",
                printable(name),
                hex(sha256)
            ),
            FileReport::Progress { name, done, size } => {
                format!("file progress: {} {done}/{size} bytes", printable(name))
            }
            FileReport::Received { name, size, path } => format!(
                "file received: {} ({size} bytes, SHA-256 verified) -> {}",
                printable(name),
                printable(&path.display().to_string())
            ),
            FileReport::Sent { name, size } => {
                format!("file sent: {} ({size} bytes)", printable(name))
            }
            FileReport::Failed { name, error, .. } => format!(
                "file transfer failed: {}: {}",
                printable(name),
                printable(error)
            ),
            FileReport::Note(note) => printable(note),
        }
    }

    /// Progress goes to the window only: one line per MiB is noise on stdout.
    pub fn is_printed(&self) -> bool {
        !matches!(self, FileReport::Progress { .. })
    }
}

/// Names and reasons come from the peer: control and bidirectional
/// characters are escaped so they cannot break a line or disguise a name.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || is_bidi_control(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Files to send, one at a time: the exchange refuses a second offer while
/// one is in flight, so the next leaves only when the last one finished.
#[derive(Debug, Default)]
pub struct SendQueue {
    waiting: VecDeque<PathBuf>,
    in_flight: Option<PathBuf>,
}

impl SendQueue {
    pub fn push(&mut self, path: PathBuf) {
        self.waiting.push_back(path);
    }

    /// The next file to send, if none is in flight; it is in flight now.
    pub fn start_next(&mut self) -> Option<&Path> {
        if self.in_flight.is_some() {
            return None;
        }
        self.in_flight = self.waiting.pop_front();
        self.in_flight.as_deref()
    }

    /// Whether an exchange event named `name` is about the file in flight:
    /// before its offer the exchange names it by path, after by file name.
    pub fn is_in_flight(&self, name: &str) -> bool {
        self.in_flight.as_deref().is_some_and(|path| {
            path.display().to_string() == name
                || path.file_name().and_then(|n| n.to_str()) == Some(name)
        })
    }

    /// The file in flight finished (sent or failed).
    pub fn finish(&mut self) -> Option<PathBuf> {
        self.in_flight.take()
    }

    /// Everything not finished, in order (the channel is gone).
    pub fn drain(&mut self) -> Vec<PathBuf> {
        self.in_flight
            .take()
            .into_iter()
            .chain(self.waiting.drain(..))
            .collect()
    }

    pub fn is_idle(&self) -> bool {
        self.in_flight.is_none() && self.waiting.is_empty()
    }
}

/// Which way a failure named `name` went. The exchange reports failures by
/// name only, so: the offer being received if it has that name, else the
/// file being sent if it has that name, else an offer the exchange refused
/// before asking us.
pub fn failed_direction(
    name: &str,
    receiving: Option<&str>,
    sending: &SendQueue,
) -> TransferDirection {
    if receiving == Some(name) || !sending.is_in_flight(name) {
        TransferDirection::FromHost
    } else {
        TransferDirection::ToHost
    }
}

/// The exchange's side of the Files channel, as far as it got.
enum Exchange {
    /// File transfer was never requested: no channel.
    NotOpened,
    /// Open, not read until the first grant (nothing flows before it).
    Opened(Box<(SealedSend, SealedRecv)>),
    Running {
        requests: mpsc::Sender<ExchangeRequest>,
        events: mpsc::Receiver<ExchangeEvent>,
        task: Option<JoinHandle<()>>,
    },
    /// The channel closed; no more transfers this session.
    Ended,
}

/// What [`FileTransfers::next`] waits for.
#[derive(Debug)]
pub enum FilesInput {
    Exchange(ExchangeEvent),
    /// The exchange stopped (the channel closed or failed).
    ExchangeEnded,
    /// A line the engineer typed at the "file to send" prompt; `None` at
    /// the end of stdin.
    PathTyped(Option<String>),
}

/// File transfer for one session.
pub struct FileTransfers {
    download_dir: PathBuf,
    limits: TransferLimits,
    exchange: Exchange,
    queue: SendQueue,
    /// The name of the offer from the host being answered or received.
    receiving: Option<String>,
    /// File transfer granted, as this side last acted on it.
    granted: bool,
    path_prompt: Option<oneshot::Receiver<Option<String>>>,
}

impl FileTransfers {
    pub fn new(plan: FilesPlan) -> Self {
        let mut queue = SendQueue::default();
        for path in plan.send {
            queue.push(path);
        }
        Self {
            download_dir: plan.download_dir,
            limits: TransferLimits::default(),
            exchange: Exchange::NotOpened,
            queue,
            receiving: None,
            granted: false,
            path_prompt: None,
        }
    }

    /// The Files channel is still to be opened (before the first request).
    pub fn needs_channel(&self) -> bool {
        matches!(self.exchange, Exchange::NotOpened)
    }

    /// The Files channel, opened; read from the first grant on.
    pub fn attach(&mut self, send: SealedSend, recv: SealedRecv) {
        self.exchange = Exchange::Opened(Box::new((send, recv)));
    }

    /// Follows the grant: the first grant starts the exchange, every grant
    /// sends what is queued, a revocation aborts what is in flight.
    pub async fn follow_grant(&mut self, granted: bool) -> Vec<FileReport> {
        let mut reports = Vec::new();
        if granted == self.granted {
            return reports;
        }
        self.granted = granted;
        if granted {
            if matches!(self.exchange, Exchange::Opened(..)) {
                self.start(&mut reports);
            }
            self.send_next(&mut reports).await;
        } else {
            self.request(ExchangeRequest::AbortAll {
                reason: REVOKED.into(),
            })
            .await;
        }
        reports
    }

    fn start(&mut self, reports: &mut Vec<FileReport>) {
        let Exchange::Opened(opened) = std::mem::replace(&mut self.exchange, Exchange::Ended)
        else {
            return;
        };
        let (send, recv) = *opened;
        let receive_dir = match open_download_dir(&self.download_dir) {
            Ok(dir) => Some(dir),
            Err(e) => {
                reports.push(FileReport::Failed {
                    name: self.download_dir.display().to_string(),
                    error: format!(
                        "cannot use the download directory, files from the host are refused: {e}"
                    ),
                    direction: TransferDirection::FromHost,
                });
                None
            }
        };
        let config = ExchangeConfig {
            receive_dir,
            limits: self.limits,
            receives: TransferDirection::FromHost,
            // The host enforces the grant (R10) and aborts on a revoke.
            allowed: Box::new(|| true),
        };
        let (requests, request_queue) = mpsc::channel(16);
        let (event_queue, events) = mpsc::channel(64);
        let task = tokio::spawn(run_exchange(send, recv, config, request_queue, event_queue));
        self.exchange = Exchange::Running {
            requests,
            events,
            task: Some(task),
        };
    }

    /// The next thing to act on; pending while there is nothing to wait for.
    pub async fn next(&mut self) -> FilesInput {
        let events = match &mut self.exchange {
            Exchange::Running { events, .. } => Some(events),
            _ => None,
        };
        tokio::select! {
            event = recv_event(events) => match event {
                Some(event) => FilesInput::Exchange(event),
                None => FilesInput::ExchangeEnded,
            },
            typed = typed_path(&mut self.path_prompt) => {
                self.path_prompt = None;
                FilesInput::PathTyped(typed)
            }
        }
    }

    /// Acts on what [`FileTransfers::next`] returned.
    pub async fn handle(&mut self, input: FilesInput) -> Vec<FileReport> {
        let mut reports = Vec::new();
        match input {
            FilesInput::Exchange(event) => self.on_event(event, &mut reports).await,
            FilesInput::ExchangeEnded => {
                self.exchange = Exchange::Ended;
                self.receiving = None;
                for path in self.queue.drain() {
                    reports.push(FileReport::Failed {
                        name: path.display().to_string(),
                        error: "the file channel closed; nothing more can be sent this session"
                            .into(),
                        direction: TransferDirection::ToHost,
                    });
                }
            }
            FilesInput::PathTyped(typed) => self.on_path_typed(typed, &mut reports).await,
        }
        reports
    }

    async fn on_event(&mut self, event: ExchangeEvent, reports: &mut Vec<FileReport>) {
        match event {
            ExchangeEvent::Offered(offer) => {
                let name = offer.name.as_str().to_owned();
                reports.push(FileReport::Offered {
                    name: name.clone(),
                    size: offer.size,
                    sha256: offer.sha256,
                });
                // R10: a file is taken only while the engineer holds the grant.
                let answer = ExchangeRequest::Answer {
                    transfer_id: offer.transfer_id,
                    accept: self.granted,
                    reason: if self.granted { "" } else { NOT_GRANTED }.into(),
                };
                self.receiving = Some(name);
                self.request(answer).await;
            }
            ExchangeEvent::Progress { name, done, size } => {
                reports.push(FileReport::Progress { name, done, size });
            }
            ExchangeEvent::Completed(done) => match done.saved_to {
                Some(path) => {
                    self.receiving = None;
                    reports.push(FileReport::Received {
                        name: done.name,
                        size: done.size,
                        path,
                    });
                }
                None => {
                    self.queue.finish();
                    reports.push(FileReport::Sent {
                        name: done.name,
                        size: done.size,
                    });
                    self.send_next(reports).await;
                }
            },
            ExchangeEvent::Failed { name, error } => {
                let direction = failed_direction(&name, self.receiving.as_deref(), &self.queue);
                match direction {
                    TransferDirection::ToHost => {
                        self.queue.finish();
                    }
                    TransferDirection::FromHost => {
                        if self.receiving.as_deref() == Some(name.as_str()) {
                            self.receiving = None;
                        }
                    }
                }
                reports.push(FileReport::Failed {
                    name,
                    error,
                    direction,
                });
                if direction == TransferDirection::ToHost {
                    self.send_next(reports).await;
                }
            }
        }
    }

    /// `Ctrl+Alt+U` in the window: asks for a path on the terminal (stdin)
    /// without blocking the session; the answer comes from [`Self::next`].
    pub fn ask_for_path(&mut self) -> FileReport {
        if !self.granted {
            return FileReport::Note(format!("{NOT_GRANTED}: press Ctrl+Alt+F to ask for it"));
        }
        if self.path_prompt.is_some() {
            return FileReport::Note("type the path of the file to send in the terminal".into());
        }
        let (answer, answered) = oneshot::channel();
        // A plain thread: a read blocked on stdin must not hold up the
        // runtime's shutdown when the session ends first.
        let spawned = std::thread::Builder::new()
            .name("file-path-prompt".into())
            .spawn(move || {
                eprint!("File to send to the host (path, then Enter; an empty line cancels): ");
                let _ = std::io::stderr().flush();
                let mut line = String::new();
                let typed = match std::io::stdin().read_line(&mut line) {
                    Ok(0) | Err(_) => None,
                    Ok(_) => Some(line),
                };
                let _ = answer.send(typed);
            });
        match spawned {
            Ok(_) => {
                self.path_prompt = Some(answered);
                FileReport::Note("type the path of the file to send in the terminal".into())
            }
            Err(e) => FileReport::Note(format!("cannot ask for a path: {e}")),
        }
    }

    async fn on_path_typed(&mut self, typed: Option<String>, reports: &mut Vec<FileReport>) {
        let path = match typed.as_deref().map(typed_path_text) {
            None => {
                reports.push(FileReport::Note("no file sent: stdin is closed".into()));
                return;
            }
            Some("") => {
                reports.push(FileReport::Note("no file sent".into()));
                return;
            }
            Some(path) => PathBuf::from(path),
        };
        if !self.granted {
            reports.push(FileReport::Note(format!(
                "{} not sent: {NOT_GRANTED}",
                path.display()
            )));
            return;
        }
        let busy = self.queue.in_flight.is_some();
        self.queue.push(path);
        if busy {
            reports.push(FileReport::Note(
                "queued: it is sent after the file being sent now".into(),
            ));
        }
        self.send_next(reports).await;
    }

    /// Offers the next queued file, if granted and nothing is in flight.
    async fn send_next(&mut self, reports: &mut Vec<FileReport>) {
        if !self.granted || !matches!(self.exchange, Exchange::Running { .. }) {
            return;
        }
        let Some(path) = self.queue.start_next().map(Path::to_path_buf) else {
            return;
        };
        reports.push(FileReport::Sending { path: path.clone() });
        self.request(ExchangeRequest::Send {
            path,
            direction: TransferDirection::ToHost,
        })
        .await;
    }

    /// A request to the running exchange; if it is gone, its end is
    /// reported by [`Self::next`].
    async fn request(&mut self, request: ExchangeRequest) {
        if let Exchange::Running { requests, .. } = &self.exchange {
            let _ = requests.send(request).await;
        }
    }

    /// The session is over: stops the exchange, letting it hand what it
    /// already sent to the connection (or finishes an unread channel).
    pub async fn shutdown(&mut self) {
        match std::mem::replace(&mut self.exchange, Exchange::Ended) {
            Exchange::Opened(mut opened) => opened.0.finish(),
            Exchange::Running {
                requests,
                events,
                task,
            } => {
                drop((requests, events));
                if let Some(task) = task {
                    let _ = tokio::time::timeout(SHUTDOWN_WAIT, task).await;
                }
            }
            Exchange::NotOpened | Exchange::Ended => {}
        }
    }
}

/// The download directory, created if missing ("on demand": at the first
/// grant, so a session without file transfer leaves no directory behind).
fn open_download_dir(dir: &Path) -> Result<ReceiveDir, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    ReceiveDir::new(dir.to_path_buf()).map_err(|e| e.to_string())
}

/// A typed path without its line end and one pair of quotes around it
/// (terminals quote dropped files).
fn typed_path_text(line: &str) -> &str {
    let line = line.trim();
    for quote in ['\'', '"'] {
        if let Some(inner) = line
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return inner;
        }
    }
    line
}

async fn recv_event(events: Option<&mut mpsc::Receiver<ExchangeEvent>>) -> Option<ExchangeEvent> {
    match events {
        Some(events) => events.recv().await,
        None => std::future::pending().await,
    }
}

async fn typed_path(prompt: &mut Option<oneshot::Receiver<Option<String>>>) -> Option<String> {
    match prompt {
        Some(answered) => answered.await.ok().flatten(),
        None => std::future::pending().await,
    }
}

/// Headless `--send` and `--receive`: when they are done, what is missing.
#[derive(Debug, Clone, Default)]
pub struct FileGoals {
    to_send: usize,
    to_receive: Option<u64>,
    sent: usize,
    received: u64,
    /// When the last file was sent; the run waits [`FileGoals::SETTLE`]
    /// after it so the bytes reach the host before the connection closes.
    all_sent_at: Option<Instant>,
}

impl FileGoals {
    /// With no receipt from the host (see the module doc), the time given
    /// to the last bytes to pass the relay.
    pub const SETTLE: Duration = Duration::from_secs(1);

    pub fn new(to_send: usize, to_receive: Option<u64>) -> Self {
        Self {
            to_send,
            to_receive,
            ..Self::default()
        }
    }

    pub fn is_set(&self) -> bool {
        self.to_send > 0 || self.to_receive.is_some()
    }

    /// Counts a report; a file this run was to send that failed is an
    /// error (the run fails), with what to say.
    pub fn on_report(&mut self, report: &FileReport, now: Instant) -> Result<(), String> {
        match report {
            FileReport::Sent { .. } => {
                self.sent += 1;
                if self.sent >= self.to_send && self.all_sent_at.is_none() {
                    self.all_sent_at = Some(now);
                }
            }
            FileReport::Received { .. } => self.received += 1,
            FileReport::Failed {
                name,
                error,
                direction: TransferDirection::ToHost,
            } => {
                return Err(format!(
                    "sending {} failed: {}",
                    printable(name),
                    printable(error)
                ))
            }
            _ => {}
        }
        Ok(())
    }

    fn sends_done(&self, now: Instant) -> bool {
        self.to_send == 0
            || self
                .all_sent_at
                .is_some_and(|at| now.saturating_duration_since(at) >= Self::SETTLE)
    }

    fn receives_done(&self) -> bool {
        self.to_receive.is_none_or(|n| self.received >= n)
    }

    pub fn done(&self, now: Instant) -> bool {
        self.sends_done(now) && self.receives_done()
    }

    /// When the settle time after the last send ends, while it runs.
    pub fn deadline(&self, now: Instant) -> Option<Instant> {
        self.all_sent_at
            .filter(|_| !self.sends_done(now))
            .map(|at| at + Self::SETTLE)
    }

    pub fn unmet(&self) -> Vec<String> {
        let mut unmet = Vec::new();
        if self.sent < self.to_send {
            unmet.push(format!(
                "only {} of {} files were sent",
                self.sent, self.to_send
            ));
        }
        if let Some(n) = self.to_receive.filter(|&n| self.received < n) {
            unmet.push(format!("only {} of {n} files were received", self.received));
        }
        unmet
    }
}

#[cfg(test)]
mod tests;
