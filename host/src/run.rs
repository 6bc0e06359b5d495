//! `assent-host run`: the always-on service. It keeps an outbound connection
//! to the relay (R1; it never listens on the network), so the host shows as
//! online (R13), refreshes and verifies the signed allowlist (R7), and
//! reconnects with exponential backoff when the relay goes away.
//!
//! It also runs the notification client (R15): the local intake (socket
//! and drop directory), Assent's own checks, delivery of the outbox while
//! online, and a line on this terminal for every new notification.
//! Work that needs the relay connection runs in [`start_online_tasks`],
//! including the periodic check for a signed upgrade (R16).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use assent_net::relay_client::{RelayClient, RelayTarget};
use assent_proto::identity::{Identity, PublicIdentity};
use assent_proto::messages::signalling::{NotificationSeqQuery, SignallingMessage};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tracing::warn;

use crate::allowlist_serial::AcceptedSerial;
use crate::allowlist_watch::fetch_newer;
use crate::config::{HostConfig, HostFiles};
use crate::notifications::book::NotificationBook;
use crate::notifications::certificate::relay_certificate_not_after;
use crate::notifications::checks::{self, CheckSettings};
use crate::notifications::delivery;
use crate::notifications::intake::{self, IntakeSettings};
use crate::notifications::record::Report;
use crate::notifications::shared::SharedBook;
use crate::relay_link::{fetch_allowlist, login_with_clock, now_unix_ms, RelayLink};
use crate::upgrade;

const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const ALLOWLIST_REFRESH: Duration = Duration::from_secs(300);
/// Intake counts reach the book file (for `notifications --stats`) this often.
const COUNTS_SAVE: Duration = Duration::from_secs(1);
const LOCK_FILE: &str = "run.lock";

/// `assent-host run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Group allowed to report notifications through the intake socket
    /// (`notify.sock`, mode 0660) and the drop directory (`notify.d/`,
    /// 0770) in the data directory. The data directory itself must be
    /// searchable by that group.
    #[arg(long, value_name = "GROUP")]
    pub intake_group: Option<String>,
    /// Raise "disk space low" below this much free space on the data
    /// directory's filesystem, in MiB.
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    pub disk_low_mib: u64,
    /// Raise "system clock is off" when this PC's clock and the relay's
    /// differ by more than this, in seconds.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub clock_skew_secs: u64,
    /// Raise "relay unreachable" after this many seconds without a relay
    /// connection; it clears when the connection is back.
    #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub relay_unreachable_secs: u64,
    /// Warn this many days before the relay's TLS certificate expires.
    #[arg(long, default_value_t = 30, value_name = "DAYS")]
    pub certificate_warning_days: u64,
    /// X display whose screen capture is checked (default: $DISPLAY; no
    /// check without a display).
    #[arg(long)]
    pub display: Option<String>,
    /// Test hook: ms between Assent's own checks (default one minute).
    #[arg(long, hide = true, default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(50..))]
    pub check_interval_ms: u64,
    /// Test hook: ms between looks at the drop directory.
    #[arg(long, hide = true, default_value_t = 200, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub drop_poll_ms: u64,
    /// Hours between checks for a signed upgrade (R16); a release found is
    /// shown as a notification, never installed without you.
    #[arg(long, default_value_t = 6, value_name = "HOURS", value_parser = clap::value_parser!(u64).range(1..=720))]
    pub upgrade_check_hours: u64,
    /// Test hook: ms between upgrade checks (overrides the hours).
    #[arg(long, hide = true, value_parser = clap::value_parser!(u64).range(100..))]
    pub upgrade_check_ms: Option<u64>,
    /// Test hook: longest wait between reconnection attempts, in ms.
    #[arg(long, hide = true, default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(100..))]
    pub reconnect_max_ms: u64,
}

/// What the service knows about its relay connection.
#[derive(Debug, Clone)]
enum LinkState {
    Online,
    Offline { since: Instant, error: String },
}

/// Everything `assent-host run` holds for its whole life.
struct Service {
    config: HostConfig,
    target: RelayTarget,
    identity: Arc<Identity>,
    operator: PublicIdentity,
    book: SharedBook,
    clock_skew_limit: Duration,
    certificate: watch::Sender<Option<i64>>,
    link_state: watch::Sender<LinkState>,
    reconnect_max: Duration,
    data_dir: PathBuf,
    upgrade_check_interval: Duration,
}

/// The relay connection while logged in, for the work that needs it.
#[derive(Clone)]
pub struct Online {
    pub host_id: String,
    pub link: RelayLink,
    pub connection: quinn::Connection,
    /// Raise notifications for the technician and support here.
    pub book: SharedBook,
    pub data_dir: PathBuf,
    pub upgrade_check_interval: Duration,
    /// False when the book's numbering could not be checked against the
    /// relay: its reports then wait for the next login.
    pub deliver_notifications: bool,
}

/// Starts the work that runs only while logged in; it is stopped when the
/// connection is lost and started again after the next login.
pub fn start_online_tasks(online: &Online) -> Vec<JoinHandle<()>> {
    let mut tasks = vec![tokio::spawn(upgrade::periodic::check_periodically(
        online.data_dir.clone(),
        online.link.clone(),
        online.book.clone(),
        online.upgrade_check_interval,
    ))];
    if online.deliver_notifications {
        tasks.push(tokio::spawn(delivery::deliver(
            online.book.clone(),
            online.link.clone(),
            online.connection.clone(),
        )));
    }
    tasks
}

/// At every login, before any delivery: asks the relay for the last
/// notification `seq` it stored for us, and a book not yet checked moves
/// its numbering above it (see [`NotificationBook::number_above`]). `false` when that
/// failed: delivering then could have reports dropped as repeats, so they
/// wait for the next login; the session itself goes on.
async fn check_notification_numbering(client: &mut RelayClient, book: &SharedBook) -> bool {
    let relay_last_seq = match client.request(&NotificationSeqQuery {}).await {
        Ok(SignallingMessage::NotificationSeq(answer)) => answer.last_seq,
        Ok(other) => {
            warn!(answer = ?other.message_type(), "unexpected answer to the notification seq query; notifications wait for the next login");
            return false;
        }
        Err(error) => {
            warn!(error = %format!("{error:#}"), "notification seq query failed; notifications wait for the next login");
            return false;
        }
    };
    match book.number_above(relay_last_seq).await {
        Ok(0) => true,
        Ok(shift) => {
            warn!(
                shift,
                relay_last_seq,
                "this notification book numbered at or below the relay's last report (was it \
                 deleted?); its reports now number above it"
            );
            true
        }
        Err(error) => {
            warn!(%error, "cannot check the notification numbering; notifications wait for the next login");
            false
        }
    }
}

pub async fn run(files: &HostFiles, args: RunArgs) -> Result<()> {
    let config = files.load_config()?;
    let identity = files.load_identity()?;
    let operator = files.load_operator_key()?;
    let target = config.relay_target()?;
    let _lock = RunLock::acquire(&files.dir)?;
    let dir = files.dir.clone();
    let book =
        tokio::task::spawn_blocking(move || NotificationBook::open(&dir, now_unix_ms())).await??;
    let book = SharedBook::new(book);
    let (active, waiting) = book.read(|b| (b.active().len(), b.outbox_len()));
    println!("{active} active notification(s), {waiting} report(s) waiting for the relay");
    let intake = intake::start(
        &files.dir,
        book.clone(),
        IntakeSettings {
            group: args.intake_group.clone(),
            drop_poll: Duration::from_millis(args.drop_poll_ms),
        },
    )?;
    println!(
        "notification intake: socket {}, drop directory {}",
        intake.socket.display(),
        intake.drop_dir.display()
    );

    let (certificate, certificate_date) = watch::channel(None);
    let (link_state, link_states) = watch::channel(LinkState::Offline {
        since: Instant::now(),
        error: "not connected yet".into(),
    });
    let display = args
        .display
        .clone()
        .or_else(|| std::env::var("DISPLAY").ok().filter(|d| !d.is_empty()));
    let checks = CheckSettings {
        data_dir: files.dir.clone(),
        disk_low_bytes: args.disk_low_mib.saturating_mul(1024 * 1024),
        clock_skew_limit: Duration::from_secs(args.clock_skew_secs),
        certificate_warning: Duration::from_secs(
            args.certificate_warning_days.saturating_mul(86_400),
        ),
        display,
        interval: Duration::from_millis(args.check_interval_ms),
    };
    let background = [
        tokio::spawn(show_reports(book.subscribe())),
        tokio::spawn(save_counts(book.clone())),
        tokio::spawn(watch_reachability(
            book.clone(),
            config.relay.clone(),
            Duration::from_secs(args.relay_unreachable_secs),
            link_states,
        )),
        tokio::spawn(checks::run_periodic(book.clone(), checks, certificate_date)),
    ];
    let service = Service {
        config,
        target,
        identity,
        operator,
        book: book.clone(),
        clock_skew_limit: Duration::from_secs(args.clock_skew_secs),
        certificate,
        link_state,
        reconnect_max: Duration::from_millis(args.reconnect_max_ms),
        data_dir: files.dir.clone(),
        upgrade_check_interval: args.upgrade_check_ms.map_or(
            Duration::from_secs(args.upgrade_check_hours * 3600),
            Duration::from_millis,
        ),
    };
    let result = tokio::select! {
        result = stay_connected(&service) => result,
        _ = tokio::signal::ctrl_c() => {
            println!("stopping");
            Ok(())
        }
    };
    for task in background {
        task.abort();
    }
    drop(intake);
    let _ = std::fs::remove_file(files.dir.join(intake::SOCKET_FILE));
    if let Err(e) = book.save_counts().await {
        warn!(error = %e, "could not save the intake counts");
    }
    result
}

/// Logs in, serves while online, and reconnects with backoff, forever.
async fn stay_connected(service: &Service) -> Result<()> {
    let mut backoff = BACKOFF_FIRST;
    loop {
        let Err(e) = serve_while_online(service).await;
        let was_online = matches!(*service.link_state.borrow(), LinkState::Online);
        if was_online {
            backoff = BACKOFF_FIRST;
        }
        let error = format!("{e:#}");
        service.link_state.send_modify(|state| {
            *state = match state {
                LinkState::Offline { since, .. } => LinkState::Offline {
                    since: *since,
                    error: error.clone(),
                },
                LinkState::Online => LinkState::Offline {
                    since: Instant::now(),
                    error: error.clone(),
                },
            }
        });
        warn!(%error, "relay connection");
        println!(
            "offline: {error}; reconnecting in {} ms",
            backoff.as_millis()
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(service.reconnect_max);
    }
}

/// One connection: login, own checks that need the relay, then presence
/// until the connection fails (it never ends otherwise).
async fn serve_while_online(service: &Service) -> Result<std::convert::Infallible> {
    let logged_in =
        login_with_clock(&service.target, &service.identity, &service.config.host_id).await?;
    let skew_ms = logged_in.clock_skew_ms();
    let mut client = logged_in.client;
    let list = fetch_allowlist(&mut client, &service.operator).await?;
    AcceptedSerial::of(&HostFiles::new(service.data_dir.clone())).accept(&list)?;
    let deliver_notifications = check_notification_numbering(&mut client, &service.book).await;
    checks::report(
        &service.book,
        checks::CLOCK_SKEW,
        checks::clock_finding(skew_ms, service.clock_skew_limit),
    )
    .await;
    service
        .certificate
        .send_replace(relay_certificate_not_after(&client.connection));
    println!(
        "online as {} (allowlist serial {}, {} engineer(s))",
        service.config.host_id,
        list.serial(),
        list.entries().len()
    );
    service.link_state.send_replace(LinkState::Online);
    let connection = client.connection.clone();
    let online = Online {
        host_id: service.config.host_id.clone(),
        link: RelayLink::spawn(client, &service.config.host_id),
        connection: connection.clone(),
        book: service.book.clone(),
        data_dir: service.data_dir.clone(),
        upgrade_check_interval: service.upgrade_check_interval,
        deliver_notifications,
    };
    let _tasks = AbortOnDrop(start_online_tasks(&online));
    loop {
        tokio::select! {
            closed = connection.closed() => bail!("connection to the relay lost: {closed}"),
            _ = tokio::time::sleep(ALLOWLIST_REFRESH) => {
                let accepted = AcceptedSerial::of(&HostFiles::new(service.data_dir.clone()));
                if let Some(list) = fetch_newer(&online.link, &service.operator, &accepted, None).await? {
                    tracing::info!(serial = list.serial(), "allowlist refreshed");
                }
            }
        }
    }
}

/// Raises "relay unreachable" once the relay has been away for `after`,
/// and clears it when the connection is back. Both are reports like any
/// other: queued while offline, delivered in order after the login.
async fn watch_reachability(
    book: SharedBook,
    relay: String,
    after: Duration,
    mut states: watch::Receiver<LinkState>,
) {
    loop {
        let state = states.borrow_and_update().clone();
        match state {
            LinkState::Online => checks::report(&book, checks::RELAY_UNREACHABLE, None).await,
            LinkState::Offline { since, error } => {
                let due = since + after;
                if Instant::now() < due {
                    tokio::select! {
                        _ = tokio::time::sleep_until(due.into()) => continue,
                        changed = states.changed() => {
                            if changed.is_err() { return }
                            continue;
                        }
                    }
                }
                let problem = checks::unreachable_problem(&relay, since.elapsed(), &error);
                checks::report(&book, checks::RELAY_UNREACHABLE, Some(problem)).await;
            }
        }
        if states.changed().await.is_err() {
            return;
        }
    }
}

/// The technician sees every new notification on this terminal.
async fn show_reports(mut reports: broadcast::Receiver<Report>) {
    loop {
        match reports.recv().await {
            Ok(report) => println!("{}", report.describe()),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                println!("({missed} more notification changes; see `assent-host notifications`)")
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn save_counts(book: SharedBook) {
    loop {
        tokio::time::sleep(COUNTS_SAVE).await;
        if let Err(e) = book.save_counts().await {
            warn!(error = %e, "could not save the intake counts");
        }
    }
}

struct AbortOnDrop(Vec<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// One `assent-host run` per data directory: two would share the intake
/// socket and both write the book.
struct RunLock(#[allow(dead_code)] std::fs::File);

impl RunLock {
    fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // An flock, released when the file closes.
        match file.try_lock() {
            Ok(()) => Ok(Self(file)),
            Err(std::fs::TryLockError::WouldBlock) => bail!(
                "another `assent-host run` is already using {}; stop it first",
                dir.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_on_the_same_data_directory_is_refused_until_the_first_ends() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        let error = RunLock::acquire(dir.path()).err().unwrap().to_string();
        assert!(error.contains("already using"), "{error}");
        drop(first);
        RunLock::acquire(dir.path()).unwrap();
    }
}
