use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assent_net::file_exchange::{CompletedTransfer, ExchangeEvent, ExchangeRequest};
use assent_proto::messages::file_transfer::{FileOffer, TransferDirection};
use assent_proto::wire::Text;
use tokio::sync::mpsc;

use super::*;

/// File transfer with a stand-in for the exchange task: what the viewer
/// asks of it comes out of the receiver, its events go into the sender.
fn with_fake_exchange(
    send: &[&str],
) -> (
    FileTransfers,
    mpsc::Receiver<ExchangeRequest>,
    mpsc::Sender<ExchangeEvent>,
) {
    let mut files = FileTransfers::new(FilesPlan {
        download_dir: PathBuf::from("unused"),
        send: send.iter().map(PathBuf::from).collect(),
    });
    let (requests, request_queue) = mpsc::channel(16);
    let (event_queue, events) = mpsc::channel(16);
    files.exchange = Exchange::Running {
        requests,
        events,
        task: None,
    };
    (files, request_queue, event_queue)
}

fn offer(transfer_id: u64, name: &str) -> ExchangeEvent {
    ExchangeEvent::Offered(FileOffer {
        transfer_id,
        name: Text::new(name).unwrap(),
        size: 3,
        sha256: [0xab; 32],
        direction: TransferDirection::FromHost,
    })
}

fn sent(name: &str) -> ExchangeEvent {
    ExchangeEvent::Completed(CompletedTransfer {
        name: name.into(),
        size: 3,
        sha256: [1; 32],
        direction: TransferDirection::ToHost,
        saved_to: None,
    })
}

fn received(name: &str, path: &str) -> ExchangeEvent {
    ExchangeEvent::Completed(CompletedTransfer {
        name: name.into(),
        size: 3,
        sha256: [1; 32],
        direction: TransferDirection::FromHost,
        saved_to: Some(PathBuf::from(path)),
    })
}

fn failed(name: &str, error: &str) -> ExchangeEvent {
    ExchangeEvent::Failed {
        name: name.into(),
        error: error.into(),
    }
}

/// The path of every `Send` request waiting in `requests`.
fn sends(requests: &mut mpsc::Receiver<ExchangeRequest>) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    while let Ok(request) = requests.try_recv() {
        match request {
            ExchangeRequest::Send { path, direction } => {
                assert_eq!(direction, TransferDirection::ToHost);
                paths.push(path);
            }
            other => panic!("not a send: {other:?}"),
        }
    }
    paths
}

async fn event(files: &mut FileTransfers, event: ExchangeEvent) -> Vec<FileReport> {
    files.handle(FilesInput::Exchange(event)).await
}

#[test]
fn queued_files_leave_one_at_a_time_in_order() {
    let mut queue = SendQueue::default();
    queue.push("a.csv".into());
    queue.push("b.csv".into());
    assert_eq!(queue.start_next(), Some(Path::new("a.csv")));
    assert_eq!(queue.start_next(), None, "one file in flight at a time");
    assert_eq!(queue.finish(), Some(PathBuf::from("a.csv")));
    assert_eq!(queue.start_next(), Some(Path::new("b.csv")));
    queue.finish();
    assert_eq!(queue.start_next(), None);
    assert!(queue.is_idle());
}

#[test]
fn the_file_in_flight_is_known_by_its_path_and_by_its_file_name() {
    let mut queue = SendQueue::default();
    queue.push("/data/run 7.csv".into());
    assert!(!queue.is_in_flight("run 7.csv"), "nothing in flight yet");
    queue.start_next();
    assert!(queue.is_in_flight("/data/run 7.csv"));
    assert!(queue.is_in_flight("run 7.csv"));
    assert!(!queue.is_in_flight("run 8.csv"));
    assert!(!queue.is_in_flight("data"));
}

#[test]
fn a_failure_is_ours_only_when_it_names_the_file_we_send_and_not_the_one_we_receive() {
    let mut queue = SendQueue::default();
    queue.push("/tmp/log.txt".into());
    queue.start_next();
    assert_eq!(
        failed_direction("log.txt", None, &queue),
        TransferDirection::ToHost
    );
    assert_eq!(
        failed_direction("/tmp/log.txt", Some("other.txt"), &queue),
        TransferDirection::ToHost
    );
    assert_eq!(
        failed_direction("log.txt", Some("log.txt"), &queue),
        TransferDirection::FromHost,
        "the offer being received comes first"
    );
    assert_eq!(
        failed_direction("refused.bin", None, &queue),
        TransferDirection::FromHost,
        "an offer the exchange refused on its own"
    );
}

#[tokio::test]
async fn an_offer_from_the_host_is_accepted_only_while_file_transfer_is_granted() {
    let (mut files, mut requests, _events) = with_fake_exchange(&[]);
    let reports = event(&mut files, offer(7, "early.txt")).await;
    assert_eq!(
        reports,
        vec![FileReport::Offered {
            name: "early.txt".into(),
            size: 3,
            sha256: [0xab; 32]
        }]
    );
    match requests.try_recv().unwrap() {
        ExchangeRequest::Answer {
            transfer_id: 7,
            accept: false,
            reason,
        } => assert_eq!(reason, "file transfer is not granted"),
        other => panic!("{other:?}"),
    }
    // The exchange reports the refusal as a failure of the offer.
    let reports = event(
        &mut files,
        failed("early.txt", "file transfer is not granted"),
    )
    .await;
    assert!(matches!(
        &reports[..],
        [FileReport::Failed {
            direction: TransferDirection::FromHost,
            ..
        }]
    ));

    files.follow_grant(true).await;
    event(&mut files, offer(8, "late.txt")).await;
    assert!(matches!(
        requests.try_recv().unwrap(),
        ExchangeRequest::Answer {
            transfer_id: 8,
            accept: true,
            ..
        }
    ));
    let reports = event(&mut files, received("late.txt", "/dl/late.txt")).await;
    assert_eq!(
        reports,
        vec![FileReport::Received {
            name: "late.txt".into(),
            size: 3,
            path: "/dl/late.txt".into()
        }]
    );

    files.follow_grant(false).await;
    assert!(matches!(
        requests.try_recv().unwrap(),
        ExchangeRequest::AbortAll { .. }
    ));
    event(&mut files, offer(9, "after.txt")).await;
    assert!(matches!(
        requests.try_recv().unwrap(),
        ExchangeRequest::Answer {
            transfer_id: 9,
            accept: false,
            ..
        }
    ));
}

#[tokio::test]
async fn files_to_send_wait_for_the_grant_then_go_one_after_another() {
    let (mut files, mut requests, _events) =
        with_fake_exchange(&["/x/a.csv", "/x/b.csv", "/x/c.csv"]);
    assert!(sends(&mut requests).is_empty(), "nothing before the grant");

    let reports = files.follow_grant(true).await;
    assert_eq!(
        reports,
        vec![FileReport::Sending {
            path: "/x/a.csv".into()
        }]
    );
    assert_eq!(sends(&mut requests), vec![PathBuf::from("/x/a.csv")]);
    files.follow_grant(true).await;
    assert!(
        sends(&mut requests).is_empty(),
        "a repeated grant sends nothing more"
    );

    let reports = event(&mut files, sent("a.csv")).await;
    assert_eq!(
        reports,
        vec![
            FileReport::Sent {
                name: "a.csv".into(),
                size: 3
            },
            FileReport::Sending {
                path: "/x/b.csv".into()
            }
        ]
    );
    assert_eq!(sends(&mut requests), vec![PathBuf::from("/x/b.csv")]);

    // A failure of the file in flight also lets the next one go.
    let reports = event(&mut files, failed("b.csv", "the peer aborted: no")).await;
    assert!(matches!(
        &reports[0],
        FileReport::Failed {
            direction: TransferDirection::ToHost,
            ..
        }
    ));
    assert_eq!(sends(&mut requests), vec![PathBuf::from("/x/c.csv")]);
}

#[tokio::test]
async fn a_revocation_aborts_the_transfer_in_flight_and_holds_the_rest_until_granted_again() {
    let (mut files, mut requests, _events) = with_fake_exchange(&["/x/a.csv", "/x/b.csv"]);
    files.follow_grant(true).await;
    assert_eq!(sends(&mut requests), vec![PathBuf::from("/x/a.csv")]);

    files.follow_grant(false).await;
    match requests.try_recv().unwrap() {
        ExchangeRequest::AbortAll { reason } => assert!(reason.contains("revoked"), "{reason}"),
        other => panic!("{other:?}"),
    }
    event(
        &mut files,
        failed("a.csv", "file transfer was revoked by the technician"),
    )
    .await;
    assert!(
        sends(&mut requests).is_empty(),
        "nothing is sent without the grant"
    );

    files.follow_grant(true).await;
    assert_eq!(sends(&mut requests), vec![PathBuf::from("/x/b.csv")]);
}

#[tokio::test]
async fn files_still_queued_when_the_channel_closes_are_reported_as_failed() {
    let (mut files, _requests, _events) = with_fake_exchange(&["/x/a.csv", "/x/b.csv"]);
    files.follow_grant(true).await;
    let reports = files.handle(FilesInput::ExchangeEnded).await;
    let names: Vec<_> = reports
        .iter()
        .map(|r| match r {
            FileReport::Failed {
                name,
                direction: TransferDirection::ToHost,
                ..
            } => name.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["/x/a.csv", "/x/b.csv"]);
    assert!(files.follow_grant(false).await.is_empty());
}

#[tokio::test]
async fn a_typed_path_is_sent_only_with_the_grant_and_an_empty_line_sends_nothing() {
    let (mut files, mut requests, _events) = with_fake_exchange(&[]);
    let reports = files
        .handle(FilesInput::PathTyped(Some("/x/a.csv\n".into())))
        .await;
    assert!(matches!(&reports[..], [FileReport::Note(n)] if n.contains("not granted")));
    assert!(sends(&mut requests).is_empty());

    files.follow_grant(true).await;
    let reports = files.handle(FilesInput::PathTyped(Some("\n".into()))).await;
    assert_eq!(reports, vec![FileReport::Note("no file sent".into())]);
    files
        .handle(FilesInput::PathTyped(Some("'/x/my file.csv'\n".into())))
        .await;
    assert_eq!(sends(&mut requests), vec![PathBuf::from("/x/my file.csv")]);
    let reports = files.handle(FilesInput::PathTyped(None)).await;
    assert!(matches!(&reports[..], [FileReport::Note(n)] if n.contains("stdin")));
}

#[test]
fn asking_for_a_path_without_the_grant_says_how_to_get_it() {
    let mut files = FileTransfers::new(FilesPlan::default());
    assert!(matches!(files.ask_for_path(), FileReport::Note(n) if n.contains("Ctrl+Alt+F")));
    assert!(files.path_prompt.is_none(), "no prompt without the grant");
}

#[test]
fn report_lines_are_the_documented_stable_lines() {
    assert_eq!(
        FileReport::Offered {
            name: "a.csv".into(),
            size: 12,
            sha256: [0x0f; 32]
        }
        .line(),
        format!("file offered: a.csv (12 bytes, sha256 {})", "0f".repeat(32))
    );
    assert_eq!(
        FileReport::Received {
            name: "a.csv".into(),
            size: 12,
            path: "/dl/a.csv".into()
        }
        .line(),
        "file received: a.csv (12 bytes, SHA-256 verified) -> /dl/a.csv"
    );
    assert_eq!(
        FileReport::Sent {
            name: "b.bin".into(),
            size: 0
        }
        .line(),
        "file sent: b.bin (0 bytes)"
    );
    assert_eq!(
        FileReport::Failed {
            name: "b.bin".into(),
            error: "the peer aborted: no".into(),
            direction: TransferDirection::ToHost
        }
        .line(),
        "file transfer failed: b.bin: the peer aborted: no"
    );
    assert_eq!(
        FileReport::Sending {
            path: "/x/b.bin".into()
        }
        .line(),
        "file sending: /x/b.bin"
    );
    assert!(!FileReport::Progress {
        name: "a".into(),
        done: 1,
        size: 2
    }
    .is_printed());
}

#[test]
fn names_and_reasons_from_the_peer_cannot_break_a_line_or_reorder_text() {
    let line = FileReport::Failed {
        name: "a\nfile received: fake".into(),
        error: "x\u{202E}txt.exe".into(),
        direction: TransferDirection::FromHost,
    }
    .line();
    assert!(!line.contains('\n'), "{line}");
    assert!(!line.contains('\u{202E}'), "{line}");
    assert!(
        line.contains(r"\u{a}") && line.contains(r"\u{202e}"),
        "{line}"
    );
    assert_eq!(printable("plain name.csv"), "plain name.csv");
}

#[test]
fn the_download_dir_may_be_missing_but_not_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, b"x").unwrap();
    assert!(parse_download_dir(file.to_str().unwrap()).is_err());
    let missing = dir.path().join("new");
    assert_eq!(parse_download_dir(missing.to_str().unwrap()), Ok(missing));
    assert!(parse_download_dir(dir.path().to_str().unwrap()).is_ok());
}

#[test]
fn the_download_dir_is_created_when_it_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a").join("downloads");
    let opened = open_download_dir(&nested).unwrap();
    assert!(nested.is_dir());
    assert_eq!(opened.path(), std::fs::canonicalize(&nested).unwrap());
    let file = dir.path().join("f");
    std::fs::write(&file, b"x").unwrap();
    assert!(open_download_dir(&file).is_err());
}

#[test]
fn only_an_existing_regular_file_can_be_sent() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.csv");
    std::fs::write(&file, b"x").unwrap();
    assert_eq!(parse_file_to_send(file.to_str().unwrap()), Ok(file));
    assert!(parse_file_to_send(dir.path().to_str().unwrap())
        .unwrap_err()
        .contains("not a regular file"));
    assert!(parse_file_to_send(dir.path().join("none").to_str().unwrap()).is_err());
}

#[test]
fn a_typed_path_loses_its_line_end_and_one_pair_of_quotes() {
    assert_eq!(typed_path_text("/a b\r\n"), "/a b");
    assert_eq!(typed_path_text("'/a b'\n"), "/a b");
    assert_eq!(typed_path_text("\"/a\"\n"), "/a");
    assert_eq!(typed_path_text("'/a\n"), "'/a");
}

fn sent_report() -> FileReport {
    FileReport::Sent {
        name: "a".into(),
        size: 1,
    }
}

#[test]
fn sending_is_done_only_a_settle_time_after_the_last_file_left() {
    let start = Instant::now();
    let mut goals = FileGoals::new(2, None);
    assert!(goals.is_set());
    assert!(!goals.done(start));
    goals.on_report(&sent_report(), start).unwrap();
    assert!(!goals.done(start + Duration::from_secs(5)), "one of two");
    assert_eq!(goals.unmet(), vec!["only 1 of 2 files were sent"]);
    let last = start + Duration::from_secs(1);
    goals.on_report(&sent_report(), last).unwrap();
    assert!(!goals.done(last));
    assert_eq!(goals.deadline(last), Some(last + FileGoals::SETTLE));
    assert!(goals.done(last + FileGoals::SETTLE));
    assert_eq!(goals.deadline(last + FileGoals::SETTLE), None);
    assert!(goals.unmet().is_empty());
}

#[test]
fn receiving_is_done_after_the_asked_number_of_verified_files() {
    let now = Instant::now();
    let mut goals = FileGoals::new(0, Some(2));
    let file = FileReport::Received {
        name: "a".into(),
        size: 1,
        path: "/a".into(),
    };
    goals.on_report(&file, now).unwrap();
    // A failed incoming file does not count, and does not end the run.
    goals
        .on_report(
            &FileReport::Failed {
                name: "b".into(),
                error: "hash mismatch".into(),
                direction: TransferDirection::FromHost,
            },
            now,
        )
        .unwrap();
    assert!(!goals.done(now));
    assert_eq!(goals.unmet(), vec!["only 1 of 2 files were received"]);
    goals.on_report(&file, now).unwrap();
    assert!(goals.done(now));
}

#[test]
fn a_file_the_run_was_to_send_that_failed_fails_the_run() {
    let mut goals = FileGoals::new(1, None);
    let e = goals
        .on_report(
            &FileReport::Failed {
                name: "a.csv".into(),
                error: "the technician refused the file".into(),
                direction: TransferDirection::ToHost,
            },
            Instant::now(),
        )
        .unwrap_err();
    assert_eq!(e, "sending a.csv failed: the technician refused the file");
}

#[test]
fn without_file_goals_nothing_is_waited_for() {
    let goals = FileGoals::new(0, None);
    assert!(!goals.is_set());
    assert!(goals.done(Instant::now()));
    assert!(goals.unmet().is_empty());
}
