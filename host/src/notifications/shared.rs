//! The book as the tasks of `assent-host run` share it: the intake, the
//! own checks and the delivery to the relay all change one
//! [`NotificationBook`] behind a lock, off the async threads (every change
//! is an fsync). Each new report is announced, in book order, to whoever
//! subscribed (the terminal), and wakes the delivery task.
//!
//! Nothing on an async thread waits for that lock, which a change holds
//! through a whole rewrite of the book (up to 64 MiB and two fsyncs):
//! intake counts are atomics, taken into the book with its next write, and
//! readers read a copy of the book as last written (see [`SharedBook::read`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use assent_proto::notification_intake::{IntakeRequest, RaisedNotification};
use tokio::sync::{broadcast, Notify};

use super::book::{
    Applied, BookError, IntakeChannel, IntakeCounts, NotificationBook, NotificationId,
};
use super::record::Report;
use crate::relay_link::now_unix_ms;

#[derive(Clone)]
pub struct SharedBook {
    /// The book; held by whoever changes it, through the write.
    book: Arc<Mutex<NotificationBook>>,
    /// A copy of the book as last written, swapped in after each write.
    /// Its lock is only held to clone or swap the `Arc`, never across IO.
    written: Arc<Mutex<Arc<NotificationBook>>>,
    counts: Arc<IntakeCounters>,
    reports: broadcast::Sender<Report>,
    outbox: Arc<Notify>,
}

/// Intake counts since the book was opened, counted without the book's lock.
struct IntakeCounters([AtomicU64; 4]);

impl IntakeCounters {
    fn new(counts: IntakeCounts) -> Self {
        Self(
            [
                counts.socket_accepted,
                counts.socket_refused,
                counts.drop_accepted,
                counts.drop_refused,
            ]
            .map(AtomicU64::new),
        )
    }

    fn count(&self, channel: IntakeChannel, accepted: bool) {
        let i = match (channel, accepted) {
            (IntakeChannel::Socket, true) => 0,
            (IntakeChannel::Socket, false) => 1,
            (IntakeChannel::DropDirectory, true) => 2,
            (IntakeChannel::DropDirectory, false) => 3,
        };
        // Saturating, as the book counts: no wrap to 0 after 2^64.
        let _ = self.0[i].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1));
    }

    fn get(&self) -> IntakeCounts {
        let [socket_accepted, socket_refused, drop_accepted, drop_refused] =
            self.0.each_ref().map(|n| n.load(Ordering::Relaxed));
        IntakeCounts {
            socket_accepted,
            socket_refused,
            drop_accepted,
            drop_refused,
        }
    }
}

impl SharedBook {
    pub fn new(book: NotificationBook) -> Self {
        let (reports, _) = broadcast::channel(256);
        Self {
            counts: Arc::new(IntakeCounters::new(book.intake_counts())),
            written: Arc::new(Mutex::new(Arc::new(book.clone()))),
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
        self.write(move |book| book.acknowledge(seq), |&removed| removed)
            .await
    }

    /// Moves the book's numbering above the relay's, durably, if it is not
    /// already (see [`NotificationBook::number_above`]); by how much.
    pub async fn number_above(&self, relay_last_seq: u64) -> Result<u64, BookError> {
        self.write(
            move |book| book.number_above(relay_last_seq),
            |&shift| shift > 0,
        )
        .await
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

    /// Counts one intake request; never waits (see the module doc).
    pub fn count_intake(&self, channel: IntakeChannel, accepted: bool) {
        self.counts.count(channel, accepted);
    }

    /// The intake counts as they are now, written or not.
    pub fn intake_counts(&self) -> IntakeCounts {
        self.counts.get()
    }

    /// Writes the intake counts if they changed since the last write.
    pub async fn save_counts(&self) -> Result<(), BookError> {
        self.write(NotificationBook::save_counts, |&wrote| wrote)
            .await
            .map(drop)
    }

    /// Reads the book as last written, without waiting for a change being
    /// written (callers run on async threads). A change becomes visible
    /// here once it is durable, just before whoever made it is told; its
    /// intake counts may lag [`Self::intake_counts`].
    ///
    /// The copy costs one more clone of the book per write, next to the
    /// clone, encoding and two fsyncs each write already makes; readers
    /// then only take a lock held for an `Arc` swap.
    pub fn read<R>(&self, read: impl FnOnce(&NotificationBook) -> R) -> R {
        let written = lock(&self.written).clone();
        read(&written)
    }

    /// Locks the book to change it (off the async threads), bringing its
    /// intake counts up to date so the write saves them.
    fn lock_for_change(&self) -> MutexGuard<'_, NotificationBook> {
        let mut book = lock(&self.book);
        book.set_intake_counts(self.counts.get());
        book
    }

    /// Runs `op` on the locked book off the async threads and, when `wrote`
    /// says it changed the file, makes the result what readers see.
    async fn write<T: Send + 'static>(
        &self,
        op: impl FnOnce(&mut NotificationBook) -> Result<T, BookError> + Send + 'static,
        wrote: fn(&T) -> bool,
    ) -> Result<T, BookError> {
        let shared = self.clone();
        blocking(move || {
            let mut book = shared.lock_for_change();
            let outcome = op(&mut book)?;
            if wrote(&outcome) {
                shared.publish(&book);
            }
            Ok(outcome)
        })
        .await
    }

    /// Makes `book`, just written, what readers see.
    fn publish(&self, book: &NotificationBook) {
        let copy = Arc::new(book.clone());
        *lock(&self.written) = copy;
    }

    async fn change(
        &self,
        change: impl FnOnce(&mut NotificationBook, u64) -> Result<Applied, BookError> + Send + 'static,
    ) -> Result<Applied, BookError> {
        let shared = self.clone();
        let applied = blocking(move || {
            let mut book = shared.lock_for_change();
            let applied = change(&mut book, now_unix_ms())?;
            // Published and announced under the lock, so readers and
            // listeners see book order.
            if let Applied::Reported(report) = &applied {
                shared.publish(&book);
                let _ = shared.reports.send(report.clone());
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

fn lock<T>(book: &Mutex<T>) -> MutexGuard<'_, T> {
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

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    const WAIT: Duration = Duration::from_secs(2);

    fn raised(id: &str) -> RaisedNotification {
        assent_proto::notification_intake::parse_intake(
            format!(r#"{{"id":"{id}","severity":"error","kind":"failure","title":"T"}}"#)
                .as_bytes(),
        )
        .map(|request| match request {
            IntakeRequest::Raise(raised) => raised,
            IntakeRequest::Clear { .. } => unreachable!("a raise was parsed"),
        })
        .unwrap()
    }

    /// Runs `work` on another thread while the book is locked, as by a
    /// change being written; `true` when it finished without waiting.
    fn finishes_while_a_change_is_written(
        book: &SharedBook,
        work: impl FnOnce(SharedBook) + Send + 'static,
    ) -> bool {
        let writing = lock(&book.book);
        let (done, finished) = mpsc::channel();
        let other = book.clone();
        std::thread::spawn(move || {
            work(other);
            let _ = done.send(());
        });
        let result = finished.recv_timeout(WAIT).is_ok();
        drop(writing);
        result
    }

    #[tokio::test]
    async fn counting_intake_does_not_wait_for_a_change_being_written() {
        let dir = tempfile::tempdir().unwrap();
        let book = SharedBook::new(NotificationBook::open(dir.path(), 1).unwrap());
        assert!(finishes_while_a_change_is_written(&book, |book| {
            book.count_intake(IntakeChannel::Socket, false);
        }));
        assert_eq!(book.intake_counts().socket_refused, 1);
    }

    #[tokio::test]
    async fn reading_does_not_wait_for_a_change_being_written() {
        let dir = tempfile::tempdir().unwrap();
        let book = SharedBook::new(NotificationBook::open(dir.path(), 1).unwrap());
        book.raise(raised("a")).await.unwrap();
        let (seen, got) = mpsc::channel();
        assert!(finishes_while_a_change_is_written(&book, move |book| {
            let _ = seen.send(book.read(|b| b.active().len()));
        }));
        assert_eq!(got.recv().unwrap(), 1, "readers see each written change");
    }

    #[tokio::test]
    async fn intake_counts_are_written_with_the_next_change_or_save() {
        let dir = tempfile::tempdir().unwrap();
        let book = SharedBook::new(NotificationBook::open(dir.path(), 1).unwrap());
        book.count_intake(IntakeChannel::DropDirectory, false);
        book.raise(raised("a")).await.unwrap();
        let on_disk = || {
            NotificationBook::load(dir.path())
                .unwrap()
                .unwrap()
                .intake_counts()
        };
        assert_eq!(on_disk().drop_refused, 1);
        book.count_intake(IntakeChannel::Socket, true);
        book.save_counts().await.unwrap();
        assert_eq!(on_disk().socket_accepted, 1);
        assert_eq!(book.read(|b| b.intake_counts().socket_accepted), 1);
    }
}
