//! Delivery of the outbox to the relay (R15), while `assent-host run` is
//! logged in: oldest report first, one at a time; a report leaves the
//! outbox only after the relay's `Ack`, durably. A report sent just before
//! a crash or a lost connection is sent again later with the same `seq`,
//! and the relay stores each `seq` once, so nothing is lost or doubled.

use std::time::Duration;

use assent_proto::messages::signalling::SignallingMessage;
use tracing::{debug, warn};

use super::shared::SharedBook;
use crate::relay_link::RelayLink;

const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(60);

/// Delivers reports until the connection closes.
pub async fn deliver(book: SharedBook, link: RelayLink, connection: quinn::Connection) {
    let mut retry = RETRY_FIRST;
    loop {
        let report = book.next_report().await;
        let seq = report.seq();
        let problem = match link.call(report.to_signalling()).await {
            Ok(SignallingMessage::Ack(_)) => match book.acknowledge(seq).await {
                Ok(_) => {
                    debug!(seq, id = report.id(), "notification report delivered");
                    retry = RETRY_FIRST;
                    continue;
                }
                // Delivered, but still in the outbox: it goes again (and
                // the relay ignores the repeat) once the disk recovers.
                Err(e) => e.to_string(),
            },
            Ok(other) => format!("the relay answered {:?}", other.message_type()),
            Err(_) if connection.close_reason().is_some() => return,
            Err(e) => format!("{e:#}"),
        };
        warn!(seq, error = %problem, "notification report not delivered; retrying in {} ms", retry.as_millis());
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(RETRY_MAX);
    }
}
