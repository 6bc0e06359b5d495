use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::notifications::book::NotificationBook;

const PUMP: &str = r#"{"id":"pump-pressure","severity":"error","kind":"failure","title":"Pump pressure low","detail":"12 bar"}"#;
const PUMP_CLEAR: &str = r#"{"id":"pump-pressure","clear":true}"#;

/// A drop directory without its watcher, so the test decides when it is read.
fn drop_only() -> (tempfile::TempDir, SharedBook, Arc<DropDir>) {
    let dir = tempfile::tempdir().unwrap();
    let book = SharedBook::new(NotificationBook::open(dir.path(), 1).unwrap());
    let drop_dir = Arc::new(prepare(dir.path(), None).unwrap());
    (dir, book, drop_dir)
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

#[tokio::test]
async fn dropped_files_are_taken_and_removed_or_set_aside_with_a_reason() {
    let (_dir, book, drop) = drop_only();
    let drop_dir = drop.path();
    std::fs::write(drop_dir.join("pump.json"), PUMP).unwrap();
    std::fs::write(
        drop_dir.join("bad.json"),
        b"{\"id\":\"x\",\"clear\":true,\"title\":\"t\"}",
    )
    .unwrap();
    std::fs::write(drop_dir.join("huge.json"), vec![b' '; INTAKE_MAX + 1]).unwrap();
    std::fs::write(drop_dir.join("half-written.tmp"), b"{").unwrap();
    take_dropped(&drop, &book).await;

    assert!(book.read(|b| b.find("pump-pressure").is_some()));
    assert!(
        !drop_dir.join("pump.json").exists(),
        "accepted files are removed"
    );
    let rejected = drop_dir.join(REJECTED_DIR);
    assert!(rejected.join("bad.json").exists());
    let reason = std::fs::read_to_string(rejected.join("bad.json.reason")).unwrap();
    assert!(reason.contains("not allowed with \"clear\""), "{reason}");
    let reason = std::fs::read_to_string(rejected.join("huge.json.reason")).unwrap();
    assert!(reason.contains("limit"), "{reason}");
    assert!(
        drop_dir.join("half-written.tmp").exists(),
        "only *.json is taken"
    );
    assert_eq!(
        std::fs::read_dir(drop_dir.join(TAKING_DIR))
            .unwrap()
            .count(),
        0,
        "nothing is left in .taking"
    );
    let counts = book.intake_counts();
    assert_eq!((counts.drop_accepted, counts.drop_refused), (1, 2));
}

#[tokio::test]
async fn a_second_refusal_of_the_same_name_keeps_the_first() {
    let (_dir, book, drop) = drop_only();
    for _ in 0..2 {
        std::fs::write(drop.path().join("bad.json"), b"garbage").unwrap();
        take_dropped(&drop, &book).await;
    }
    let rejected = drop.path().join(REJECTED_DIR);
    assert!(rejected.join("bad.json").exists());
    assert!(rejected.join("bad.1.json").exists());
    assert!(rejected.join("bad.1.json.reason").exists());
}

#[tokio::test]
async fn a_symlink_in_the_drop_directory_is_not_followed() {
    let (dir, book, drop) = drop_only();
    let target = dir.path().join("secret.json");
    std::fs::write(&target, PUMP).unwrap();
    std::os::unix::fs::symlink(&target, drop.path().join("link.json")).unwrap();
    take_dropped(&drop, &book).await;
    assert!(book.read(|b| b.active().is_empty()));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), PUMP);
    assert!(drop
        .path()
        .join(REJECTED_DIR)
        .join("link.json.reason")
        .exists());
}

#[tokio::test]
async fn links_planted_in_rejected_are_skipped_never_written_through() {
    let (dir, book, drop) = drop_only();
    let victim = dir.path().join("host.key");
    std::fs::write(&victim, b"secret key").unwrap();
    let rejected = drop.path().join(REJECTED_DIR);
    // Where the reason for `bad.json` would go, and where a second
    // `bad.json` would be moved.
    std::os::unix::fs::symlink(&victim, rejected.join("bad.json.reason")).unwrap();
    std::os::unix::fs::symlink(&victim, rejected.join("bad.1.json")).unwrap();
    std::fs::write(drop.path().join("bad.json"), b"garbage").unwrap();
    take_dropped(&drop, &book).await;

    assert_eq!(std::fs::read(&victim).unwrap(), b"secret key");
    for link in ["bad.json.reason", "bad.1.json"] {
        let meta = std::fs::symlink_metadata(rejected.join(link)).unwrap();
        assert!(meta.file_type().is_symlink(), "{link} is left as it was");
    }
    assert_eq!(
        std::fs::read(rejected.join("bad.2.json")).unwrap(),
        b"garbage"
    );
    let reason = std::fs::read_to_string(rejected.join("bad.2.json.reason")).unwrap();
    assert!(!reason.is_empty());
    assert!(
        !rejected.join("bad.1.json.reason").exists(),
        "no reason without its file"
    );
}

#[tokio::test]
async fn a_file_dropped_again_under_the_same_name_while_one_is_taken_is_not_lost() {
    let (_dir, book, drop) = drop_only();
    let path = drop.path().join("pump.json");
    std::fs::write(&path, PUMP).unwrap();
    // The writer renames a new file onto the same name after the first was
    // read and recorded, before it is removed.
    take_dropped_with(&drop, &book, |name| {
        assert_eq!(name, "pump.json");
        let tmp = drop.path().join(".pump.tmp");
        std::fs::write(&tmp, PUMP_CLEAR).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    })
    .await;
    assert!(book.read(|b| b.find("pump-pressure").is_some()));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), PUMP_CLEAR);

    take_dropped(&drop, &book).await;
    assert!(
        book.read(|b| b.find("pump-pressure").is_none()),
        "the second file was taken too"
    );
    assert!(!path.exists());
}

#[tokio::test]
async fn a_file_left_in_taking_by_a_crash_is_taken_at_the_next_look() {
    let (_dir, book, drop) = drop_only();
    let taking = drop.path().join(TAKING_DIR);
    std::fs::write(taking.join("pump.json"), PUMP).unwrap();
    take_dropped(&drop, &book).await;
    assert!(book.read(|b| b.find("pump-pressure").is_some()));
    assert_eq!(std::fs::read_dir(&taking).unwrap().count(), 0);
}

#[tokio::test]
async fn a_taking_directory_swapped_for_a_link_is_not_followed() {
    let (dir, book, drop) = drop_only();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let taking = drop.path().join(TAKING_DIR);
    std::fs::rename(&taking, dir.path().join("moved-away")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &taking).unwrap();
    std::fs::write(drop.path().join("pump.json"), PUMP).unwrap();
    take_dropped(&drop, &book).await;
    assert!(book.read(|b| b.find("pump-pressure").is_some()));
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn modes_are_set_exactly_at_start_even_on_existing_directories() {
    let dir = tempfile::tempdir().unwrap();
    let drop_path = dir.path().join(DROP_DIR);
    // As an earlier run under umask 077 would have left them.
    for sub in ["", REJECTED_DIR, TAKING_DIR] {
        let path = drop_path.join(sub);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o750)).unwrap();
    }
    prepare(dir.path(), None).unwrap();
    assert_eq!(mode(&drop_path), 0o770);
    assert_eq!(mode(&drop_path.join(REJECTED_DIR)), 0o770);
    assert_eq!(mode(&drop_path.join(TAKING_DIR)), 0o700);

    let fresh = tempfile::tempdir().unwrap();
    prepare(fresh.path(), None).unwrap();
    let drop_path = fresh.path().join(DROP_DIR);
    assert_eq!(mode(&drop_path), 0o770);
    assert_eq!(mode(&drop_path.join(REJECTED_DIR)), 0o770);
    assert_eq!(mode(&drop_path.join(TAKING_DIR)), 0o700);
}

#[test]
fn a_drop_directory_every_user_may_write_is_refused() {
    for sub in ["", REJECTED_DIR] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DROP_DIR).join(sub);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = prepare(dir.path(), None).err().unwrap();
        assert!(error.to_string().contains("every user"), "{error}");
        assert_eq!(mode(&path), 0o777, "left as found for its owner to look at");
    }
}

#[test]
fn a_drop_directory_that_is_a_link_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, dir.path().join(DROP_DIR)).unwrap();
    let error = prepare(dir.path(), None).err().unwrap();
    assert!(format!("{error:#}").contains("not a link"), "{error:#}");
}

#[test]
fn one_look_reads_a_bounded_number_of_directory_entries() {
    let (_dir, _book, drop) = drop_only();
    for i in 0..ENTRIES_PER_POLL + 10 {
        std::fs::write(drop.path().join(format!("{i}.json")), b"{}").unwrap();
    }
    // The entries read include `rejected/` and `.taking/`, which are skipped.
    let seen = oldest_first(&drop.dir).unwrap().len();
    assert!(
        (ENTRIES_PER_POLL - 2..=ENTRIES_PER_POLL).contains(&seen),
        "{seen} of {} files seen",
        ENTRIES_PER_POLL + 10
    );
    let claimed = claim_waiting(&drop).unwrap();
    assert_eq!(claimed.len(), FILES_PER_POLL);
}
