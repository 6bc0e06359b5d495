//! The session's notification channel (R15): the engineer sees the
//! connected host's active notifications. When the viewer opens the
//! `Notifications` channel the host sends every active notification at
//! once, then each change, sealed like every other channel. They carry no
//! screen or control, so no consent is asked (R10 covers screen, control
//! and files). The book is written by `assent-host run`, another process:
//! the feed watches its file (a cheap stamp check every 250 ms).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assent_net::SealedSend;
use assent_proto::messages::notification::{Notification, NotificationCleared};
use assent_proto::messages::session::SessionMessage;
use tracing::{debug, warn};

use super::book::NotificationBook;
use crate::relay_link::now_unix_ms;

const POLL: Duration = Duration::from_millis(250);

/// What the viewer has been sent: the notifications it holds as active.
#[derive(Default)]
pub struct Shown(BTreeMap<String, Notification>);

impl Shown {
    /// The messages that bring the viewer from what it was shown to what
    /// `book` holds, in `seq` order; records them as shown.
    pub fn catch_up(&mut self, book: &NotificationBook) -> Vec<SessionMessage> {
        let mut changes: Vec<(u64, SessionMessage)> = Vec::new();
        for n in book.active() {
            if self.0.get(n.id.as_str()).map(|s| s.seq) != Some(n.seq) {
                changes.push((n.seq, n.clone().into()));
                self.0.insert(n.id.as_str().to_owned(), n.clone());
            }
        }
        let gone: Vec<String> = self
            .0
            .keys()
            .filter(|id| book.find(id).is_none())
            .cloned()
            .collect();
        for id in gone {
            let Some(shown) = self.0.remove(&id) else {
                continue;
            };
            let cleared = book
                .recently_cleared()
                .filter(|c| c.id == shown.id)
                .last()
                .cloned()
                // Cleared so long ago its record is gone: still say so.
                .unwrap_or_else(|| NotificationCleared {
                    seq: book.next_seq().saturating_sub(1),
                    id: shown.id.clone(),
                    cleared_unix_ms: now_unix_ms(),
                });
            changes.push((cleared.seq, cleared.into()));
        }
        changes.sort_by_key(|(seq, _)| *seq);
        changes.into_iter().map(|(_, m)| m).collect()
    }
}

/// Feeds the channel until it closes.
pub async fn run(mut send: SealedSend, data_dir: PathBuf) {
    let path = NotificationBook::path_in(&data_dir);
    let mut shown = Shown::default();
    let mut seen = None;
    loop {
        let stamp = stamp(&path);
        if stamp != seen {
            seen = stamp;
            let dir = data_dir.clone();
            match tokio::task::spawn_blocking(move || NotificationBook::load(&dir)).await {
                Ok(Ok(Some(book))) => {
                    for message in shown.catch_up(&book) {
                        if send.send(&message).await.is_err() {
                            debug!("the notification channel closed");
                            return;
                        }
                    }
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) => warn!(error = %e, "cannot show notifications to the engineer"),
                Err(_) => return,
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Changes whenever the book is rewritten (a rename makes a new inode).
fn stamp(path: &Path) -> Option<(u64, i64, i64, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.ino(), meta.mtime(), meta.mtime_nsec(), meta.len()))
}

#[cfg(test)]
mod tests {
    use assent_proto::messages::notification::{NotificationKind, NotificationSource, Severity};
    use assent_proto::notification_intake::RaisedNotification;
    use assent_proto::wire::Text;

    use super::*;

    fn raised(id: &str, title: &str) -> RaisedNotification {
        RaisedNotification {
            id: Text::new(id).unwrap(),
            source: NotificationSource::Instrument,
            severity: Severity::Critical,
            kind: NotificationKind::Failure,
            title: Text::new(title).unwrap(),
            detail: Text::new("").unwrap(),
        }
    }

    fn ids(messages: &[SessionMessage]) -> Vec<String> {
        messages
            .iter()
            .map(|m| match m {
                SessionMessage::Notification(n) => format!("+{}", n.id.as_str()),
                SessionMessage::NotificationCleared(c) => format!("-{}", c.id.as_str()),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_viewer_gets_every_active_notification_then_only_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut book = NotificationBook::open(dir.path(), 1).unwrap();
        book.raise(raised("a", "A"), 1).unwrap();
        book.raise(raised("b", "B"), 1).unwrap();
        let mut shown = Shown::default();
        assert_eq!(ids(&shown.catch_up(&book)), ["+a", "+b"]);
        assert!(
            shown.catch_up(&book).is_empty(),
            "nothing new, nothing sent"
        );

        book.raise(raised("a", "A worse"), 2).unwrap();
        book.clear(&Text::new("b").unwrap(), 3).unwrap();
        book.raise(raised("c", "C"), 4).unwrap();
        let messages = shown.catch_up(&book);
        assert_eq!(ids(&messages), ["+a", "-b", "+c"], "in the book's order");
        let SessionMessage::NotificationCleared(cleared) = &messages[1] else {
            unreachable!()
        };
        assert_eq!(
            cleared.cleared_unix_ms, 3,
            "the clear as the book recorded it"
        );
    }
}
