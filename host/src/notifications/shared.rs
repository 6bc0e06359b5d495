//! The book as the tasks of `assent-host run` share it: the intake, the
//! own checks and the delivery to the relay all change one
//! [`NotificationBook`] behind a lock, off the async threads (every change
//! is an fsync). Each new report is announced, in book order, to whoever
//! subscribed (the terminal), and wakes the delivery task.

use std::sync::{Arc, Mutex, MutexGuard};

use assent_proto::notification_intake::{IntakeRequest, RaisedNotification};
use tokio::sync::{broadcast, Notify};

use super::book::{Applied, BookError, IntakeChannel, NotificationBook, NotificationId};
use super::record::Report;
use crate::relay_link::now_unix_ms;

#[derive(Clone)]
pub struct SharedBook {
    book: Arc<Mutex<NotificationBook>>,
    reports: broadcast::Sender<Report>,
    outbox: Arc<Notify>,
}

impl SharedBook {
    pub fn new(book: NotificationBook) -> Self {
        let (reports, _) = broadcast::channel(256);
        Self {
            book: Arc::new(Mutex::new(book)),
            reports,
            outbox: Arc::new(Notify::new()),
        }
    }

    pub async fn apply(&self, request: IntakeRequest) -> Result<Applied, BookError> {
        self.change(move |book, now| book.apply(request, now)).await
    }

    pub async fn raise(&self, raised: RaisedNotification) -> Result<Applied, BookError> {
        self.change(move |book, now| book.raise(raised, now)).await
    }

    pub async fn clear(&self, id: NotificationId) -> Result<Applied, BookError> {
        self.change(move |book, now| book.clear(&id, now)).await
    }

    /// Removes a delivered report from the outbox, durably.
    pub async fn acknowledge(&self, seq: u64) -> Result<bool, BookError> {
        let book = self.book.clone();
        blocking(move || lock(&book).acknowledge(seq)).await
    }

    /// The oldest undelivered report, waiting until there is one.
    pub async fn next_report(&self) -> Report {
        loop {
            if let Some(report) = self.read(|book| book.front().cloned()) {
                return report;
            }
            // A report made between the check and here left a permit.
            self.outbox.notified().await;
        }
    }

    /// New reports as they are made, in the order the book made them.
    pub fn subscribe(&self) -> broadcast::Receiver<Report> {
        self.reports.subscribe()
    }

    pub fn count_intake(&self, channel: IntakeChannel, accepted: bool) {
        lock(&self.book).count_intake(channel, accepted);
    }

    pub async fn save_counts(&self) -> Result<(), BookError> {
        let book = self.book.clone();
        blocking(move || lock(&book).save_counts()).await
    }

    pub fn read<R>(&self, read: impl FnOnce(&NotificationBook) -> R) -> R {
        read(&lock(&self.book))
    }

    async fn change(
        &self,
        change: impl FnOnce(&mut NotificationBook, u64) -> Result<Applied, BookError> + Send + 'static,
    ) -> Result<Applied, BookError> {
        let book = self.book.clone();
        let reports = self.reports.clone();
        let applied = blocking(move || {
            let mut book = lock(&book);
            let applied = change(&mut book, now_unix_ms())?;
            // Announced under the lock, so listeners see book order.
            if let Applied::Reported(report) = &applied {
                let _ = reports.send(report.clone());
            }
            Ok(applied)
        })
        .await?;
        if matches!(applied, Applied::Reported(_)) {
            self.outbox.notify_one();
        }
        Ok(applied)
    }
}

fn lock(book: &Mutex<NotificationBook>) -> MutexGuard<'_, NotificationBook> {
    // A panic elsewhere cannot leave the book half-changed: changes are
    // made on a copy and swapped in after the write.
    book.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BookError> + Send + 'static,
) -> Result<T, BookError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(BookError::Write {
            path: "notification book task".into(),
            source: std::io::Error::other(e.to_string()),
        })
    })
}
