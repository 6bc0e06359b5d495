use std::os::unix::fs::PermissionsExt;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::*;
use crate::notifications::book::NotificationBook;

const PUMP: &str = r#"{"id":"pump-pressure","severity":"error","kind":"failure","title":"Pump pressure low","detail":"12 bar"}"#;

fn settings() -> IntakeSettings {
    IntakeSettings {
        group: None,
        drop_poll: Duration::from_secs(3600),
    }
}

fn started() -> (tempfile::TempDir, SharedBook, Intake) {
    let dir = tempfile::tempdir().unwrap();
    let book = SharedBook::new(NotificationBook::open(dir.path(), 1).unwrap());
    let intake = start(dir.path(), book.clone(), settings()).unwrap();
    (dir, book, intake)
}

/// Sends `lines` (each ended by a newline) and reads one answer per line.
async fn exchange(socket: &Path, lines: &[&[u8]]) -> Vec<String> {
    let stream = UnixStream::connect(socket).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut answers = BufReader::new(read).lines();
    let mut out = Vec::new();
    for line in lines {
        write.write_all(line).await.unwrap();
        write.write_all(b"\n").await.unwrap();
        out.push(answers.next_line().await.unwrap().unwrap());
    }
    out
}

#[tokio::test]
async fn the_socket_answers_ok_once_recorded_and_an_error_with_the_reason_otherwise() {
    let (_dir, book, intake) = started();
    let answers = exchange(
        &intake.socket,
        &[
            PUMP.as_bytes(),
            b"not json",
            br#"{"id":"x","severity":"error","kind":"failure","title":"T","colour":"red"}"#,
        ],
    )
    .await;
    assert_eq!(answers[0], "ok");
    assert!(
        answers[1].starts_with("error: notification is not valid JSON"),
        "{}",
        answers[1]
    );
    assert!(answers[2].contains("colour"), "{}", answers[2]);
    assert_eq!(
        book.read(|b| b.find("pump-pressure").map(|n| n.title.as_str().to_owned()))
            .as_deref(),
        Some("Pump pressure low")
    );
    let counts = book.intake_counts();
    assert_eq!((counts.socket_accepted, counts.socket_refused), (1, 2));
}

#[tokio::test]
async fn an_over_long_line_is_refused_and_counted_and_the_client_can_go_on() {
    let (_dir, book, intake) = started();
    let long = vec![b'x'; INTAKE_MAX * 4];
    let answers = exchange(&intake.socket, &[&long, PUMP.as_bytes()]).await;
    assert!(
        answers[0].contains(&format!("the limit is {INTAKE_MAX}")),
        "{}",
        answers[0]
    );
    assert_eq!(answers[1], "ok");
    assert_eq!(book.intake_counts().socket_refused, 1);
}

#[tokio::test]
async fn an_over_long_line_is_skipped_without_being_kept() {
    let mut input: &[u8] = &[b'y'; 10 * INTAKE_MAX + 7];
    let mut line = Vec::new();
    let got = read_line(&mut input, &mut line).await.unwrap();
    assert_eq!(got, Line::TooLong(10 * INTAKE_MAX + 7));
    assert!(
        line.capacity() <= 2 * INTAKE_MAX,
        "kept {} bytes",
        line.capacity()
    );
    assert_eq!(read_line(&mut input, &mut line).await.unwrap(), Line::End);
}

#[tokio::test]
async fn a_last_line_without_a_newline_still_counts() {
    let mut input: &[u8] = b"{\"a\":1}\r\nlast";
    let mut line = Vec::new();
    assert_eq!(
        read_line(&mut input, &mut line).await.unwrap(),
        Line::Complete
    );
    assert_eq!(line, b"{\"a\":1}");
    assert_eq!(
        read_line(&mut input, &mut line).await.unwrap(),
        Line::Complete
    );
    assert_eq!(line, b"last");
}

#[tokio::test]
async fn the_intake_may_not_raise_or_clear_assents_own_notifications() {
    let (_dir, book, intake) = started();
    let raise =
        br#"{"id":"assent.disk-space-low","severity":"info","kind":"recovered","title":"fine"}"#;
    let clear = br#"{"id":"assent.relay-unreachable","clear":true}"#;
    let answers = exchange(&intake.socket, &[raise, clear]).await;
    assert!(
        answers.iter().all(|a| a.contains("reserved")),
        "{answers:?}"
    );
    assert_eq!(book.read(|b| b.outbox_len()), 0);
}

#[tokio::test]
async fn many_clients_at_once_are_all_answered() {
    let (_dir, book, intake) = started();
    let clients: Vec<_> = (0..20)
        .map(|i| {
            let socket = intake.socket.clone();
            tokio::spawn(async move {
                let line = PUMP.replace("pump-pressure", &format!("pump-{i}"));
                exchange(&socket, &[line.as_bytes()]).await
            })
        })
        .collect();
    for client in clients {
        assert_eq!(client.await.unwrap(), ["ok"]);
    }
    assert_eq!(book.read(|b| b.active().len()), 20);
}

#[tokio::test]
async fn a_client_that_disconnects_mid_line_does_not_stop_the_intake() {
    let (_dir, _book, intake) = started();
    let mut rude = UnixStream::connect(&intake.socket).await.unwrap();
    rude.write_all(b"{\"id\":\"half").await.unwrap();
    drop(rude);
    assert_eq!(exchange(&intake.socket, &[PUMP.as_bytes()]).await, ["ok"]);
}

#[tokio::test]
async fn the_socket_is_0660_and_a_stale_one_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let book = SharedBook::new(NotificationBook::open(dir.path(), 1).unwrap());
    let first = start(dir.path(), book.clone(), settings()).unwrap();
    let mode = std::fs::metadata(&first.socket)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o660);
    drop(first); // leaves the socket file behind, as a crash would
    let second = start(dir.path(), book, settings()).unwrap();
    assert_eq!(exchange(&second.socket, &[PUMP.as_bytes()]).await, ["ok"]);
}

#[tokio::test]
async fn a_regular_file_where_the_socket_goes_is_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(SOCKET_FILE), b"keep me").unwrap();
    let book = SharedBook::new(NotificationBook::open(dir.path(), 1).unwrap());
    let error = start(dir.path(), book, settings()).err().unwrap();
    assert!(error.to_string().contains("not a socket"), "{error}");
    assert_eq!(
        std::fs::read(dir.path().join(SOCKET_FILE)).unwrap(),
        b"keep me"
    );
}

#[tokio::test]
async fn an_unknown_intake_group_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let book = SharedBook::new(NotificationBook::open(dir.path(), 1).unwrap());
    let settings = IntakeSettings {
        group: Some("no-such-group-here".into()),
        ..settings()
    };
    let error = start(dir.path(), book, settings).err().unwrap();
    assert!(error.to_string().contains("no-such-group-here"), "{error}");
}

#[tokio::test]
async fn the_socket_is_bound_privately_and_only_its_final_path_remains() {
    let (dir, _book, intake) = started();
    let meta = std::fs::symlink_metadata(&intake.socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with(".notify.sock")),
        "the private directory it was bound in is gone: {names:?}"
    );
    assert_eq!(exchange(&intake.socket, &[PUMP.as_bytes()]).await, ["ok"]);
}
