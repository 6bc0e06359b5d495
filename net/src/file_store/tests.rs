use std::fs;
use std::path::Path;

use assent_proto::file_transfer::{
    IncomingTransfer, SafeFileName, TransferError, TransferLimits, VerifiedFile,
    PARTIAL_FILE_PREFIX,
};
use assent_proto::messages::file_transfer::{
    FileChunk, FileOffer, TransferDirection, FILE_CHUNK_MAX,
};
use assent_proto::wire::{Bytes, Text};
use sha2::{Digest, Sha256};

use super::*;

/// Every entry in `dir`, sorted, hidden ones included.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn name(name: &str) -> SafeFileName {
    SafeFileName::parse(name).unwrap()
}

fn offer(name: &str, announced: &[u8]) -> FileOffer {
    FileOffer {
        transfer_id: 1,
        name: Text::new(name).unwrap(),
        size: announced.len() as u64,
        sha256: Sha256::digest(announced).into(),
        direction: TransferDirection::ToHost,
    }
}

/// Receives `sent` against an offer for `announced`, the way a shell does:
/// each chunk is checked by the transfer rules, then written.
fn receive(
    pending: &mut PendingFile,
    file_name: &str,
    announced: &[u8],
    sent: &[u8],
) -> Result<VerifiedFile, TransferError> {
    let mut transfer =
        IncomingTransfer::new(&offer(file_name, announced), &TransferLimits::default())?;
    for piece in sent.chunks(FILE_CHUNK_MAX) {
        let chunk = FileChunk {
            transfer_id: 1,
            offset: transfer.received(),
            data: Bytes::new(piece.to_vec()).unwrap(),
        };
        transfer.accept_chunk(&chunk)?;
        pending.write_chunk(&chunk.data).unwrap();
    }
    transfer.finish()
}

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 256) as u8).collect()
}

#[test]
fn a_verified_file_appears_under_its_name_with_exact_content_only_after_commit() {
    let dir = tempfile::tempdir().unwrap();
    let receive_dir = ReceiveDir::new(dir.path().to_path_buf()).unwrap();
    let data = content(150_000);
    let mut pending = receive_dir
        .begin(&name("run.csv"), Overwrite::Refuse)
        .unwrap();
    let verified = receive(&mut pending, "run.csv", &data, &data).unwrap();

    // Before commit: only the hidden partial file, never the real name.
    let before = entries(dir.path());
    assert_eq!(before.len(), 1, "{before:?}");
    assert!(before[0].starts_with(PARTIAL_FILE_PREFIX), "{before:?}");

    let path = pending.commit(&verified).unwrap();
    assert_eq!(path, receive_dir.path().join("run.csv"));
    assert_eq!(fs::read(&path).unwrap(), data);
    assert_eq!(entries(dir.path()), ["run.csv"]);
}

#[test]
fn the_partial_file_of_a_killed_transfer_is_removed_when_the_directory_is_opened_again() {
    let dir = tempfile::tempdir().unwrap();
    // What a process killed mid-transfer leaves: a partial file nobody
    // locks, last written a while ago.
    let abandoned = dir.path().join(format!("{PARTIAL_FILE_PREFIX}k1ll3d"));
    let written_before = |path: &Path, ago: u64| {
        fs::write(path, b"the first half of run.csv").unwrap();
        let when = std::time::SystemTime::now() - std::time::Duration::from_secs(ago);
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(when)
            .unwrap();
    };
    written_before(&abandoned, 120);
    // Just written: it may be a transfer that has not locked it yet.
    let fresh = dir.path().join(format!("{PARTIAL_FILE_PREFIX}fr3sh"));
    written_before(&fresh, 0);
    written_before(&dir.path().join("run-1.csv"), 120);
    written_before(&dir.path().join(".assent-notes"), 120);

    ReceiveDir::new(dir.path().to_path_buf()).unwrap();

    assert_eq!(
        entries(dir.path()),
        [".assent-notes", ".assent-partial-fr3sh", "run-1.csv"]
    );
}

#[test]
fn opening_the_directory_again_leaves_a_live_transfer_alone() {
    let dir = tempfile::tempdir().unwrap();
    let receive_dir = ReceiveDir::new(dir.path().to_path_buf()).unwrap();
    let data = content(70_000);
    let mut transfer =
        IncomingTransfer::new(&offer("run.csv", &data), &TransferLimits::default()).unwrap();
    let mut pending = receive_dir
        .begin(&name("run.csv"), Overwrite::Refuse)
        .unwrap();
    for (index, piece) in data.chunks(FILE_CHUNK_MAX.min(40_000)).enumerate() {
        if index == 1 {
            // A transfer stalled for minutes: only its lock says it is alive.
            let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(600);
            pending.temp.as_file().set_modified(long_ago).unwrap();
            // Another session (or process) opens the same directory meanwhile.
            ReceiveDir::new(dir.path().to_path_buf()).unwrap();
            assert_eq!(
                entries(dir.path()).len(),
                1,
                "the live partial file was removed"
            );
        }
        let chunk = FileChunk {
            transfer_id: 1,
            offset: transfer.received(),
            data: Bytes::new(piece.to_vec()).unwrap(),
        };
        transfer.accept_chunk(&chunk).unwrap();
        pending.write_chunk(&chunk.data).unwrap();
    }
    let path = pending.commit(&transfer.finish().unwrap()).unwrap();
    assert_eq!(fs::read(path).unwrap(), data);
}

#[cfg(unix)]
#[test]
fn a_link_named_like_a_partial_file_is_not_followed_or_removed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let precious = outside.path().join("calibration.dat");
    fs::write(&precious, b"precious").unwrap();
    let link = dir.path().join(format!("{PARTIAL_FILE_PREFIX}link"));
    std::os::unix::fs::symlink(&precious, &link).unwrap();

    ReceiveDir::new(dir.path().to_path_buf()).unwrap();

    assert!(fs::symlink_metadata(&link).is_ok(), "the link was removed");
    assert_eq!(fs::read(&precious).unwrap(), b"precious");
}

#[cfg(unix)]
#[test]
fn a_fifo_named_like_a_partial_file_neither_hangs_the_sweep_nor_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join(format!("{PARTIAL_FILE_PREFIX}fifo"));
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    ReceiveDir::new(dir.path().to_path_buf()).unwrap();
    assert!(fs::symlink_metadata(&fifo).is_ok(), "the FIFO was removed");
    // As if a file listed as regular were swapped for a FIFO before the
    // sweep opens it: opening a FIFO for reading without O_NONBLOCK waits
    // for a writer forever, and this test would hang.
    assert!(!is_abandoned(&fifo).unwrap());
}

#[test]
fn a_dropped_pending_file_leaves_no_file_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let receive_dir = ReceiveDir::new(dir.path().to_path_buf()).unwrap();
    let mut pending = receive_dir
        .begin(&name("run.csv"), Overwrite::Refuse)
        .unwrap();
    pending.write_chunk(b"half of the file").unwrap();
    assert_eq!(pending.written(), 16);
    assert_eq!(entries(dir.path()).len(), 1);
    drop(pending);
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn a_hash_mismatch_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let receive_dir = ReceiveDir::new(dir.path().to_path_buf()).unwrap();
    let mut pending = receive_dir
        .begin(&name("run.csv"), Overwrite::Refuse)
        .unwrap();
    let result = receive(
        &mut pending,
        "run.csv",
        b"announced data",
        b"tampered data!",
    );
    assert_eq!(result.unwrap_err(), TransferError::HashMismatch);
    drop(pending);
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn an_existing_file_is_not_overwritten_without_consent() {
    let dir = tempfile::tempdir().unwrap();
    let receive_dir = ReceiveDir::new(dir.path().to_path_buf()).unwrap();
    fs::write(dir.path().join("run.csv"), b"original").unwrap();
    let err = receive_dir
        .begin(&name("run.csv"), Overwrite::Refuse)
        .unwrap_err();
    assert!(matches!(err, FileStoreError::AlreadyExists(_)), "{err}");
    assert_eq!(fs::read(dir.path().join("run.csv")).unwrap(), b"original");
    assert_eq!(entries(dir.path()), ["run.csv"]);
}

#[test]
fn a_file_created_at_the_target_during_the_transfer_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let receive_dir = ReceiveDir::new(dir.path().to_path_buf()).unwrap();
    let mut pending = receive_dir
        .begin(&name("run.csv"), Overwrite::Refuse)
        .unwrap();
    let verified = receive(&mut pending, "run.csv", b"new", b"new").unwrap();
    fs::write(dir.path().join("run.csv"), b"appeared meanwhile").unwrap();
    let err = pending.commit(&verified).unwrap_err();
    assert!(matches!(err, FileStoreError::AlreadyExists(_)), "{err}");
    assert_eq!(
        fs::read(dir.path().join("run.csv")).unwrap(),
        b"appeared meanwhile"
    );
    assert_eq!(entries(dir.path()), ["run.csv"]);
}

#[test]
fn an_existing_file_is_replaced_when_the_technician_allowed_it() {
    let dir = tempfile::tempdir().unwrap();
    let receive_dir = ReceiveDir::new(dir.path().to_path_buf()).unwrap();
    fs::write(dir.path().join("run.csv"), b"original").unwrap();
    let mut pending = receive_dir
        .begin(&name("run.csv"), Overwrite::Allow)
        .unwrap();
    let verified = receive(&mut pending, "run.csv", b"replacement", b"replacement").unwrap();
    pending.commit(&verified).unwrap();
    assert_eq!(
        fs::read(dir.path().join("run.csv")).unwrap(),
        b"replacement"
    );
    assert_eq!(entries(dir.path()), ["run.csv"]);
}

#[cfg(unix)]
#[test]
fn a_symlink_at_the_target_name_is_neither_followed_nor_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let victim = elsewhere.path().join("passwd");
    fs::write(&victim, b"precious").unwrap();
    let receive_dir = ReceiveDir::new(dir.path().to_path_buf()).unwrap();
    let link = dir.path().join("run.csv");
    std::os::unix::fs::symlink(&victim, &link).unwrap();

    let refused = receive_dir.begin(&name("run.csv"), Overwrite::Refuse);
    assert!(matches!(refused, Err(FileStoreError::AlreadyExists(_))));
    let refused = receive_dir.begin(&name("run.csv"), Overwrite::Allow);
    assert!(matches!(refused, Err(FileStoreError::TargetNotAFile(_))));

    // A dangling link counts as taken too: nothing is created through it.
    let dangling = elsewhere.path().join("not-yet");
    std::os::unix::fs::symlink(&dangling, dir.path().join("new.bin")).unwrap();
    let refused = receive_dir.begin(&name("new.bin"), Overwrite::Refuse);
    assert!(matches!(refused, Err(FileStoreError::AlreadyExists(_))));

    // A link put there during the transfer is caught at commit, with consent too.
    let mut pending = receive_dir
        .begin(&name("late.bin"), Overwrite::Allow)
        .unwrap();
    let verified = receive(&mut pending, "late.bin", b"payload", b"payload").unwrap();
    std::os::unix::fs::symlink(&victim, dir.path().join("late.bin")).unwrap();
    assert!(matches!(
        pending.commit(&verified),
        Err(FileStoreError::TargetNotAFile(_))
    ));

    assert_eq!(fs::read(&victim).unwrap(), b"precious");
    assert!(!dangling.exists());
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(entries(dir.path()), ["late.bin", "new.bin", "run.csv"]);
    assert_eq!(entries(elsewhere.path()), ["passwd"]);
}

#[test]
fn a_directory_at_the_target_name_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let receive_dir = ReceiveDir::new(dir.path().to_path_buf()).unwrap();
    fs::create_dir(dir.path().join("results")).unwrap();
    let refused = receive_dir.begin(&name("results"), Overwrite::Allow);
    assert!(matches!(refused, Err(FileStoreError::TargetNotAFile(_))));
}

#[test]
fn commit_refuses_bytes_that_differ_from_what_was_verified() {
    let dir = tempfile::tempdir().unwrap();
    let receive_dir = ReceiveDir::new(dir.path().to_path_buf()).unwrap();
    let mut pending = receive_dir
        .begin(&name("run.csv"), Overwrite::Refuse)
        .unwrap();
    let verified = receive(&mut pending, "run.csv", b"abc", b"abc").unwrap();
    // A shell bug writing one chunk twice must not reach the real name.
    pending.write_chunk(b"abc").unwrap();
    assert!(matches!(
        pending.commit(&verified),
        Err(FileStoreError::ContentMismatch {
            written: 6,
            size: 3
        })
    ));
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn commit_refuses_a_verified_file_of_another_name() {
    let dir = tempfile::tempdir().unwrap();
    let receive_dir = ReceiveDir::new(dir.path().to_path_buf()).unwrap();
    let mut pending = receive_dir
        .begin(&name("a.txt"), Overwrite::Refuse)
        .unwrap();
    let verified = receive(&mut pending, "b.txt", b"abc", b"abc").unwrap();
    assert!(matches!(
        pending.commit(&verified),
        Err(FileStoreError::NameMismatch { .. })
    ));
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn a_receive_dir_must_be_an_existing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    fs::write(&file, b"").unwrap();
    assert!(matches!(
        ReceiveDir::new(file),
        Err(FileStoreError::NotADirectory(_))
    ));
    let missing = ReceiveDir::new(dir.path().join("missing")).unwrap_err();
    assert!(
        matches!(&missing, FileStoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "{missing}"
    );
}

#[test]
fn a_source_file_streams_its_size_and_hash_and_reads_in_bounded_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.bin");
    let data = content(3 * FILE_CHUNK_MAX + 123);
    fs::write(&path, &data).unwrap();
    let mut source = SourceFile::open(&path).unwrap();
    assert_eq!(source.name().as_str(), "export.bin");
    assert_eq!(source.size(), data.len() as u64);
    assert_eq!(source.sha256(), &<[u8; 32]>::from(Sha256::digest(&data)));
    let mut read = Vec::new();
    while let Some(chunk) = source.read_chunk().unwrap() {
        assert!(!chunk.is_empty() && chunk.len() <= FILE_CHUNK_MAX);
        read.extend_from_slice(&chunk);
    }
    assert_eq!(read, data);
    assert_eq!(source.read_chunk().unwrap(), None);
}

#[test]
fn a_source_file_with_a_name_the_receiver_would_refuse_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (file_name, expected) in [
        ("con.txt", "Windows device name CON"),
        ("notes.", "ends with '.'"),
        (".hidden", "hidden file"),
    ] {
        let path = dir.path().join(file_name);
        fs::write(&path, b"x").unwrap();
        let err = SourceFile::open(&path).unwrap_err();
        assert!(
            matches!(err, FileStoreError::UnsafeSourceName { .. }),
            "{err}"
        );
        assert!(err.to_string().contains(expected), "{err}");
    }
}

#[test]
fn a_directory_or_device_is_not_a_source_file() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("results");
    fs::create_dir(&sub).unwrap();
    assert!(matches!(
        SourceFile::open(&sub),
        Err(FileStoreError::SourceNotAFile(_))
    ));
    #[cfg(unix)]
    assert!(matches!(
        SourceFile::open(Path::new("/dev/null")),
        Err(FileStoreError::SourceNotAFile(_))
    ));
}

#[test]
fn a_source_file_that_shrinks_while_being_sent_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("growing.log");
    fs::write(&path, content(2 * FILE_CHUNK_MAX)).unwrap();
    let mut source = SourceFile::open(&path).unwrap();
    source.read_chunk().unwrap();
    fs::write(&path, b"truncated").unwrap();
    assert!(matches!(
        source.read_chunk(),
        Err(FileStoreError::SourceChanged(_))
    ));
}

#[test]
fn a_file_sent_from_a_source_arrives_identical_in_the_receive_dir() {
    let from = tempfile::tempdir().unwrap();
    let to = tempfile::tempdir().unwrap();
    let path = from.path().join("Ergebnis 測定.csv");
    let data = content(200_000);
    fs::write(&path, &data).unwrap();

    let mut source = SourceFile::open(&path).unwrap();
    let offer = source.offer(9, TransferDirection::FromHost);
    let mut incoming = IncomingTransfer::new(&offer.message(), &TransferLimits::default()).unwrap();
    let mut outgoing = offer.answered(&incoming.acceptance()).unwrap();
    let receive_dir = ReceiveDir::new(to.path().to_path_buf()).unwrap();
    let mut pending = receive_dir
        .begin(incoming.name(), Overwrite::Refuse)
        .unwrap();
    while let Some(data) = source.read_chunk().unwrap() {
        let chunk = outgoing.chunk(data).unwrap();
        incoming.accept_chunk(&chunk).unwrap();
        pending.write_chunk(&chunk.data).unwrap();
    }
    outgoing.complete().unwrap();
    let verified = incoming.finish().unwrap();
    assert_eq!(verified.direction(), TransferDirection::FromHost);
    let kept = pending.commit(&verified).unwrap();
    assert_eq!(fs::read(kept).unwrap(), data);
    assert_eq!(entries(to.path()), ["Ergebnis 測定.csv"]);
}
