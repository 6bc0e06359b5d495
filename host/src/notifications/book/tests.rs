use assent_proto::messages::notification::{NotificationKind, NotificationSource, Severity};

use super::*;

const NOW: u64 = 1_700_000_000_000;

fn raised(id: &str, title: &str) -> RaisedNotification {
    RaisedNotification {
        id: Text::new(id).unwrap(),
        source: NotificationSource::InstrumentSoftware,
        severity: Severity::Error,
        kind: NotificationKind::Failure,
        title: Text::new(title).unwrap(),
        detail: Text::new("").unwrap(),
    }
}

fn id(id: &str) -> NotificationId {
    Text::new(id).unwrap()
}

/// A book in a fresh directory with notification "a" raised (and reported).
fn book_with_a_raised() -> (tempfile::TempDir, NotificationBook) {
    let dir = tempfile::tempdir().unwrap();
    let mut book = NotificationBook::open(dir.path(), NOW).unwrap();
    book.raise(raised("a", "A"), NOW).unwrap();
    (dir, book)
}

fn outbox_seqs(book: &NotificationBook) -> Vec<u64> {
    book.outbox().map(Report::seq).collect()
}

#[test]
fn a_raise_with_the_same_id_replaces_the_active_notification() {
    let dir = tempfile::tempdir().unwrap();
    let mut book = NotificationBook::open(dir.path(), NOW).unwrap();
    book.raise(raised("pump", "Pump pressure low"), NOW)
        .unwrap();
    book.raise(raised("door", "Door open"), NOW).unwrap();
    book.raise(raised("pump", "Pump pressure very low"), NOW + 1)
        .unwrap();
    let titles: Vec<_> = book.active().iter().map(|n| n.title.as_str()).collect();
    assert_eq!(titles, ["Door open", "Pump pressure very low"]);
    assert_eq!(book.outbox_len(), 3, "each change is one report");
}

#[test]
fn raising_exactly_what_is_active_reports_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    let mut book = NotificationBook::open(dir.path(), NOW).unwrap();
    book.raise(raised("pump", "Pump pressure low"), NOW)
        .unwrap();
    let again = book
        .raise(raised("pump", "Pump pressure low"), NOW + 5)
        .unwrap();
    assert_eq!(again, Applied::Unchanged);
    assert_eq!(book.outbox_len(), 1);
}

#[test]
fn a_clear_removes_the_notification_and_queues_a_clear_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut book = NotificationBook::open(dir.path(), NOW).unwrap();
    book.raise(raised("pump", "Pump pressure low"), NOW)
        .unwrap();
    let Applied::Reported(Report::Cleared(cleared)) = book.clear(&id("pump"), NOW + 9).unwrap()
    else {
        panic!("a clear of an active notification is reported");
    };
    assert!(book.active().is_empty());
    assert_eq!(cleared.cleared_unix_ms, NOW + 9);
    assert_eq!(book.recently_cleared().count(), 1);
    assert!(matches!(book.outbox().last(), Some(Report::Cleared(c)) if c.id.as_str() == "pump"));
}

#[test]
fn clearing_an_id_that_is_not_active_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut book = NotificationBook::open(dir.path(), NOW).unwrap();
    assert_eq!(book.clear(&id("nothing"), NOW).unwrap(), Applied::Unchanged);
    assert_eq!(book.outbox_len(), 0);
    assert!(!NotificationBook::path_in(dir.path()).exists());
}

#[test]
fn seq_keeps_counting_across_a_reopen_and_the_outbox_survives_in_order() {
    let (dir, mut book) = book_with_a_raised();
    book.raise(raised("b", "B"), NOW).unwrap();
    book.clear(&id("a"), NOW).unwrap();
    let before = outbox_seqs(&book);
    drop(book);

    let mut book = NotificationBook::open(dir.path(), NOW + 1_000_000).unwrap();
    assert_eq!(outbox_seqs(&book), before);
    assert_eq!(book.active().len(), 1);
    book.raise(raised("c", "C"), NOW).unwrap();
    let after = outbox_seqs(&book);
    assert_eq!(after.len(), 4);
    assert!(after.windows(2).all(|w| w[1] == w[0] + 1), "{after:?}");
}

#[test]
fn a_fresh_book_numbers_from_the_clock_so_seq_never_goes_back() {
    let (dir, book) = book_with_a_raised();
    let old = book.front().unwrap().seq();
    std::fs::remove_file(NotificationBook::path_in(dir.path())).unwrap();
    let mut fresh = NotificationBook::open(dir.path(), NOW + 1).unwrap();
    fresh.raise(raised("a", "A"), NOW).unwrap();
    assert!(fresh.front().unwrap().seq() > old);
}

#[test]
fn a_fresh_book_behind_the_relays_numbering_moves_above_it_durably_in_order() {
    let dir = tempfile::tempdir().unwrap();
    // Deleted and started again while the clock is behind the old numbering.
    let mut book = NotificationBook::open(dir.path(), NOW).unwrap();
    book.raise(raised("a", "A"), NOW).unwrap();
    book.raise(raised("b", "B"), NOW).unwrap();
    book.clear(&id("a"), NOW).unwrap();
    let relay_last_seq = book.next_seq() + 5_000;

    let shift = book.number_above(relay_last_seq).unwrap();

    let seqs = outbox_seqs(&book);
    assert_eq!(seqs.len(), 3);
    assert_eq!(seqs[0], relay_last_seq + 1, "{seqs:?}");
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert_eq!(book.find("b").unwrap().seq, seqs[1]);
    assert!(book.next_seq() > seqs[2]);
    assert!(shift > 0);
    // Durable: a reopened book has the new numbering and keeps counting.
    let mut reopened = NotificationBook::open(dir.path(), NOW).unwrap();
    assert_eq!(outbox_seqs(&reopened), seqs);
    reopened.raise(raised("c", "C"), NOW).unwrap();
    assert_eq!(*outbox_seqs(&reopened).last().unwrap(), seqs[2] + 1);
}

#[test]
fn a_new_book_straddling_the_relays_numbering_moves_wholly_above_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut book = NotificationBook::open(dir.path(), NOW).unwrap();
    for i in 0..10 {
        book.raise(raised(&format!("n{i}"), "N"), NOW).unwrap();
    }
    let seqs = outbox_seqs(&book);
    // The relay's last is in the middle of what this new book numbered.
    let relay_last_seq = seqs[4];
    book.number_above(relay_last_seq).unwrap();
    let moved = outbox_seqs(&book);
    assert_eq!(moved[0], relay_last_seq + 1, "{moved:?}");
    assert_eq!(moved.len(), 10);
    assert!(moved.windows(2).all(|w| w[1] == w[0] + 1), "{moved:?}");
}

#[test]
fn a_checked_book_is_never_renumbered_so_a_report_whose_ack_was_lost_keeps_its_seq() {
    let dir = tempfile::tempdir().unwrap();
    let mut book = NotificationBook::open(dir.path(), NOW).unwrap();
    assert_eq!(book.number_above(0).unwrap(), 0);
    book.raise(raised("a", "A"), NOW).unwrap();
    book.raise(raised("b", "B"), NOW).unwrap();
    let seqs = outbox_seqs(&book);
    // The relay stored the first report but its Ack was lost: the repeat
    // must keep its seq so the relay recognises it. Also after a reopen.
    let mut reopened = NotificationBook::open(dir.path(), NOW).unwrap();
    for relay_last_seq in [seqs[0], seqs[1], u64::MAX] {
        assert_eq!(reopened.number_above(relay_last_seq).unwrap(), 0);
        assert_eq!(outbox_seqs(&reopened), seqs);
    }
}

#[test]
fn a_book_written_before_the_numbering_check_existed_counts_as_checked() {
    let (dir, _book) = book_with_a_raised();
    let path = NotificationBook::path_in(dir.path());
    let mut file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    file.as_object_mut()
        .unwrap()
        .remove("numbered_against_relay")
        .unwrap();
    std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();

    let mut old = NotificationBook::open(dir.path(), NOW).unwrap();
    let seqs = outbox_seqs(&old);
    assert_eq!(old.number_above(seqs[0] + 100).unwrap(), 0);
    assert_eq!(outbox_seqs(&old), seqs);
}

#[test]
fn numbering_above_what_the_relay_can_store_is_refused_and_changes_nothing() {
    let (_dir, mut book) = book_with_a_raised();
    let seqs = outbox_seqs(&book);
    assert!(matches!(
        book.number_above(i64::MAX as u64),
        Err(BookError::SeqExhausted { .. })
    ));
    assert_eq!(outbox_seqs(&book), seqs);
    // Still unchecked: a later login with a sane answer works.
    assert!(book.number_above(seqs[0]).unwrap() > 0);
}

#[test]
fn acknowledged_reports_leave_the_outbox_durably() {
    let (dir, mut book) = book_with_a_raised();
    book.raise(raised("b", "B"), NOW).unwrap();
    let first = book.front().unwrap().seq();
    assert!(book.acknowledge(first).unwrap());
    assert!(
        !book.acknowledge(first).unwrap(),
        "a second ack finds nothing"
    );
    let reopened = NotificationBook::load(dir.path()).unwrap().unwrap();
    assert_eq!(outbox_seqs(&reopened), [first + 1]);
    assert_eq!(reopened.active().len(), 2, "delivery does not clear");
}

#[test]
fn a_corrupt_book_is_an_error_naming_the_file_and_is_left_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = NotificationBook::path_in(dir.path());
    std::fs::write(&path, b"{\"format\":1,\"next_seq\":").unwrap();
    let error = NotificationBook::open(dir.path(), NOW).err().unwrap();
    assert!(matches!(error, BookError::Corrupt { .. }), "{error}");
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "{error}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"{\"format\":1,\"next_seq\":"
    );
}

#[test]
fn a_book_whose_text_exceeds_the_wire_bounds_is_corrupt() {
    let (dir, _book) = book_with_a_raised();
    let path = NotificationBook::path_in(dir.path());
    let text = std::fs::read_to_string(&path).unwrap();
    let long = "x".repeat(assent_proto::messages::notification::TITLE_MAX + 1);
    std::fs::write(
        &path,
        text.replace("\"title\": \"A\"", &format!("\"title\": \"{long}\"")),
    )
    .unwrap();
    let error = NotificationBook::load(dir.path()).err().unwrap();
    assert!(error.to_string().contains("title"), "{error}");
}

#[test]
fn a_book_whose_counter_is_behind_its_reports_is_corrupt() {
    let (dir, book) = book_with_a_raised();
    let path = NotificationBook::path_in(dir.path());
    let text = std::fs::read_to_string(&path).unwrap();
    let next = format!("\"next_seq\": {}", book.next_seq());
    std::fs::write(&path, text.replace(&next, "\"next_seq\": 1")).unwrap();
    assert!(matches!(
        NotificationBook::load(dir.path()),
        Err(BookError::Corrupt { .. })
    ));
}

#[test]
fn the_active_set_is_bounded_but_replacing_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let mut book = NotificationBook::open(dir.path(), NOW).unwrap();
    for i in 0..ACTIVE_MAX {
        book.state.active.push(Notification {
            seq: i as u64,
            id: id(&format!("n{i}")),
            source: NotificationSource::Instrument,
            severity: Severity::Info,
            kind: NotificationKind::Failure,
            title: Text::new("t").unwrap(),
            detail: Text::new("").unwrap(),
            raised_unix_ms: NOW,
        });
    }
    let error = book.raise(raised("one-more", "X"), NOW).err().unwrap();
    assert!(matches!(error, BookError::TooManyActive), "{error}");
    assert!(book.raise(raised("n7", "replaced"), NOW).is_ok());
    assert_eq!(book.active().len(), ACTIVE_MAX);
}

#[test]
fn the_outbox_is_bounded_with_a_clear_refusal() {
    let (_dir, mut book) = book_with_a_raised();
    let report = book.front().unwrap().clone();
    while book.outbox_len() < OUTBOX_MAX {
        book.state.outbox.push_back(report.clone());
    }
    let error = book.raise(raised("b", "B"), NOW).err().unwrap();
    assert!(matches!(error, BookError::OutboxFull), "{error}");
    assert!(error.to_string().contains("waiting for the relay"));
    assert!(book.find("b").is_none(), "a refused raise is not active");
}

#[test]
fn a_failed_write_changes_nothing() {
    let (dir, mut book) = book_with_a_raised();
    // The temporary file cannot be created where a directory stands.
    std::fs::create_dir(NotificationBook::path_in(dir.path()).with_extension("json.tmp")).unwrap();
    let error = book.raise(raised("b", "B"), NOW).err().unwrap();
    assert!(matches!(error, BookError::Write { .. }), "{error}");
    assert!(book.find("b").is_none());
    assert_eq!(book.outbox_len(), 1);
    let seq = book.next_seq();
    assert!(book.clear(&id("a"), NOW).is_err());
    assert_eq!(book.next_seq(), seq, "no seq is used up by a failed change");
}

#[test]
fn intake_counts_are_written_only_when_saved_or_with_a_change() {
    let (dir, mut book) = book_with_a_raised();
    book.set_intake_counts(IntakeCounts {
        socket_refused: 1,
        drop_refused: 1,
        ..IntakeCounts::default()
    });
    let on_disk = || {
        NotificationBook::load(dir.path())
            .unwrap()
            .unwrap()
            .intake_counts()
    };
    assert_eq!(on_disk().socket_refused, 0);
    book.save_counts().unwrap();
    let counts = on_disk();
    assert_eq!((counts.socket_refused, counts.drop_refused), (1, 1));
}
