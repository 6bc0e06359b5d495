//! Notification client (R15): the host reports instrument and software
//! status to support in real time.
//!
//! | module | owns |
//! | --- | --- |
//! | [`book`] | the durable book: active notifications, the outbox, `seq` |
//! | [`shared`] | the book as `assent-host run`'s tasks share it |
//! | [`intake`] | the local Unix socket `notify.sock` |
//! | [`drop_dir`] | the drop directory `notify.d/` |
//! | [`checks`] | Assent's own checks (disk, clock, relay, capture, certificate) |
//! | [`delivery`] | the outbox to the relay, in order, each `seq` once |
//! | [`session_feed`] | the notifications channel of a support session |
//!
//! This file is `assent-host notifications`, which reads the book whether
//! or not `assent-host run` is running.

pub mod book;
pub mod certificate;
pub mod checks;
pub mod delivery;
pub mod drop_dir;
pub mod intake;
pub mod record;
pub mod session_feed;
pub mod shared;

use anyhow::Result;
use serde::Serialize;

use crate::config::HostFiles;
use book::{IntakeCounts, NotificationBook};
use record::{ClearRecord, NotificationRecord, SeverityName, SourceName};

use assent_proto::civil_time::format_unix_ms;

/// `assent-host notifications`.
#[derive(clap::Args)]
pub struct NotificationsArgs {
    /// Also list recently cleared notifications.
    #[arg(long)]
    pub all: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Print how many notifications the intake took and refused, and how
    /// many reports wait for the relay.
    #[arg(long)]
    pub stats: bool,
}

#[derive(Serialize)]
struct Listing {
    active: Vec<NotificationRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recently_cleared: Option<Vec<ClearRecord>>,
}

#[derive(Serialize)]
struct Stats {
    intake: IntakeCounts,
    undelivered: usize,
}

pub async fn run_cli(files: &HostFiles, args: NotificationsArgs) -> Result<()> {
    let dir = files.dir.clone();
    let book = tokio::task::spawn_blocking(move || NotificationBook::load(&dir)).await??;
    if args.stats {
        let stats = Stats {
            intake: book.as_ref().map(|b| b.intake_counts()).unwrap_or_default(),
            undelivered: book.as_ref().map_or(0, |b| b.outbox_len()),
        };
        print_stats(&stats, args.json)?;
        return Ok(());
    }
    let listing = Listing {
        active: book
            .as_ref()
            .map(|b| b.active().iter().map(Into::into).collect())
            .unwrap_or_default(),
        recently_cleared: args.all.then(|| {
            book.as_ref()
                .map(|b| b.recently_cleared().map(Into::into).collect())
                .unwrap_or_default()
        }),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&listing)?);
        return Ok(());
    }
    if listing.active.is_empty() {
        println!("no active notifications");
    }
    for n in &listing.active {
        print_notification(n);
    }
    if let Some(cleared) = &listing.recently_cleared {
        println!("recently cleared:");
        for c in cleared {
            println!("  {} (cleared {})", c.id, format_unix_ms(c.cleared_unix_ms));
        }
    }
    if let Some(waiting) = book.as_ref().map(|b| b.outbox_len()).filter(|&n| n > 0) {
        println!("{waiting} report(s) not yet delivered to the relay");
    }
    Ok(())
}

fn print_notification(n: &NotificationRecord) {
    println!(
        "[{}] {} ({})",
        SeverityName::as_str(n.severity),
        n.title,
        n.id
    );
    println!(
        "    {} · {} · raised {}",
        SourceName::as_str(n.source).replace('_', " "),
        n.kind.as_str().replace('_', " "),
        format_unix_ms(n.raised_unix_ms)
    );
    if !n.detail.is_empty() {
        println!("    {}", n.detail);
    }
}

fn print_stats(stats: &Stats, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(stats)?);
        return Ok(());
    }
    let c = &stats.intake;
    println!(
        "intake socket:          {} accepted, {} refused",
        c.socket_accepted, c.socket_refused
    );
    println!(
        "intake drop directory:  {} accepted, {} refused",
        c.drop_accepted, c.drop_refused
    );
    println!("reports waiting for the relay: {}", stats.undelivered);
    Ok(())
}
