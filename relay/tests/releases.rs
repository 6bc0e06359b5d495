//! Signed releases (R16) over real QUIC with a real SQLite file: what the
//! operator publishes with `assent-relay release publish` is offered to a
//! logged-in host, which downloads the whole package in bounded chunks and
//! finds it matches the signed manifest; nothing else is served or published.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};

use assent_proto::identity::Identity;
use assent_proto::messages::signalling::{
    PackageRequest, RelayErrorCode, ReleaseQuery, SignallingMessage, PACKAGE_CHUNK_MAX,
};
use assent_proto::release::{
    judge, Freshness, PackageCheck, ReleaseCapability, SignedRelease, HOST_COMPONENT,
};
use assent_proto::wire::Text;
use assent_relay::admin::{
    run_release, AdminContext, ManifestFile, ReleaseCommand, ReleaseKeyFiles, BUILD_TARGET,
};
use assent_relay::store::ReleaseRecord;
use sha2::{Digest, Sha256};
use support::*;

const NOW_UNIX: u64 = 1_795_000_000;

/// A release key pair as `release keygen` leaves it, in its own directory.
struct ReleaseKeys {
    dir: tempfile::TempDir,
    files: ReleaseKeyFiles,
}

impl ReleaseKeys {
    fn of(identity: &Identity) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let files = ReleaseKeyFiles::in_data_dir(dir.path());
        identity.save(&files.private_key).unwrap();
        std::fs::write(&files.public_key, identity.public().to_spki_pem()).unwrap();
        Self { dir, files }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

/// Bytes that differ at every offset, so a misplaced chunk changes the hash.
fn package_bytes(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i * 31 % 251) as u8 ^ (i >> 16) as u8)
        .collect()
}

/// Runs `release publish` as the operator does, against the relay's store.
fn publish(
    relay: &TestRelay,
    keys: &ReleaseKeys,
    package: &Path,
    manifest: &Path,
    release_key: Option<PathBuf>,
) -> (anyhow::Result<()>, String) {
    let cmd = ReleaseCommand::Publish {
        package: package.to_path_buf(),
        manifest: manifest.to_path_buf(),
        release_key,
    };
    let mut out = Vec::new();
    let result = run_release(
        &cmd,
        &mut AdminContext {
            store: relay.store.as_ref(),
            data_key: &relay.data_key,
            operator: None,
            now_unix: NOW_UNIX,
            out: &mut out,
        },
        &keys.files,
    );
    (result, String::from_utf8(out).unwrap())
}

/// Asks for the newest release for `target`; what the relay offers.
async fn offered(host: &mut Client, target: &str) -> Option<SignedRelease> {
    host.send(&ReleaseQuery {
        component: Text::new(HOST_COMPONENT).unwrap(),
        target: Text::new(target).unwrap(),
        installed_version: Text::new("1.0.0").unwrap(),
    })
    .await;
    match host.recv().await {
        SignallingMessage::ReleaseOffer(offer) => offer.release,
        other => panic!("expected an offer, got {other:?}"),
    }
}

#[tokio::test]
async fn a_published_release_is_offered_to_a_host_and_downloads_whole_in_bounded_chunks() {
    bounded(async {
        let relay = TestRelay::start().await;
        let release_key = key("release");
        let keys = ReleaseKeys::of(&release_key);
        // Three stored pieces and a bit: the download crosses piece borders.
        let bytes = package_bytes(2 * PACKAGE_CHUNK_MAX + PACKAGE_CHUNK_MAX / 2 + 7);
        let package = keys.write("assent-host", &bytes);
        let manifest = keys.write(
            "manifest.toml",
            concat!(
                "version = \"1.2.3\"\n",
                "capabilities = [\"screen-view\", \"remote-control\", \"notifications\"]\n",
                "notes = \"Faster screen\"\n",
            )
            .as_bytes(),
        );
        let (result, out) = publish(&relay, &keys, &package, &manifest, None);
        result.unwrap();
        let sha = hex::encode(Sha256::digest(&bytes));
        let mut lines = out.lines();
        assert_eq!(
            lines.next().unwrap_or_default(),
            format!(
                "published assent-host 1.2.3 for {BUILD_TARGET}: sha256 {sha}, {} bytes",
                bytes.len()
            )
        );
        // Publishing also signs the freshness statement hosts are served.
        assert!(
            lines.next().unwrap_or_default().starts_with(&format!(
                "attested assent-host 1.2.3 for {BUILD_TARGET} until "
            )),
            "{out}"
        );
        let freshness = relay
            .store
            .release_freshness(HOST_COMPONENT, BUILD_TARGET)
            .unwrap()
            .expect("a statement is stored");
        let latest = relay
            .store
            .latest_release(HOST_COMPONENT, BUILD_TARGET)
            .unwrap()
            .unwrap();
        assert_eq!(
            judge(
                Some(&latest.signed),
                Some(&freshness),
                release_key.public(),
                HOST_COMPONENT,
                BUILD_TARGET,
                NOW_UNIX,
            ),
            Freshness::Fresh
        );

        let (_, host_id) = enrolled_host(&relay, &key("host"), "DxFLEX").await;
        let mut host = logged_in_host(&relay, &key("host"), &host_id).await;
        let signed = offered(&mut host, BUILD_TARGET)
            .await
            .expect("the published release is offered");
        let manifest = signed.verify(release_key.public()).expect("verifies");
        assert_eq!(manifest.version.as_str(), "1.2.3");
        assert_eq!(manifest.target.as_str(), BUILD_TARGET);
        assert_eq!(manifest.size, bytes.len() as u64);
        assert_eq!(
            manifest.capabilities.to_vec(),
            vec![
                ReleaseCapability::ScreenView,
                ReleaseCapability::RemoteControl,
                ReleaseCapability::Notifications
            ]
        );

        let mut check = PackageCheck::new(&manifest);
        let mut downloaded = Vec::new();
        let mut chunks = 0;
        loop {
            host.send(&PackageRequest {
                sha256: manifest.sha256,
                offset: downloaded.len() as u64,
            })
            .await;
            let chunk = match host.recv().await {
                SignallingMessage::PackageChunk(chunk) => chunk,
                other => panic!("expected a chunk, got {other:?}"),
            };
            assert_eq!(chunk.offset, downloaded.len() as u64);
            assert_eq!(chunk.total, bytes.len() as u64);
            assert!(chunk.data.len() <= PACKAGE_CHUNK_MAX);
            if chunk.data.is_empty() {
                break;
            }
            check.update(&chunk.data).unwrap();
            downloaded.extend_from_slice(&chunk.data);
            chunks += 1;
        }
        check
            .finish()
            .expect("the downloaded package matches its manifest");
        assert_eq!(downloaded, bytes);
        assert!(chunks >= 3, "{chunks} chunks");

        // From an offset inside a piece, the bytes from exactly there.
        host.send(&PackageRequest {
            sha256: manifest.sha256,
            offset: PACKAGE_CHUNK_MAX as u64 + 5,
        })
        .await;
        match host.recv().await {
            SignallingMessage::PackageChunk(chunk) => {
                let from = PACKAGE_CHUNK_MAX + 5;
                assert_eq!(&chunk.data[..], &bytes[from..from + chunk.data.len()]);
                assert!(!chunk.data.is_empty());
            }
            other => panic!("expected a chunk, got {other:?}"),
        }

        // Nothing is published for another target.
        assert_eq!(offered(&mut host, "aarch64-unknown-linux-gnu").await, None);
        relay.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_package_hash_nobody_published_is_not_found() {
    bounded(async {
        let relay = TestRelay::start().await;
        let (mut host, _) = enrolled_host(&relay, &key("host"), "DxFLEX").await;
        host.send(&PackageRequest {
            sha256: [7; 32],
            offset: 0,
        })
        .await;
        match host.recv().await {
            SignallingMessage::RelayError(error) => {
                assert_eq!(error.code, RelayErrorCode::NotFound);
                assert!(
                    error.message.contains(&hex::encode([7u8; 32])),
                    "{}",
                    error.message
                );
            }
            other => panic!("expected NotFound, got {other:?}"),
        }
        // The connection goes on: an empty offer for a query.
        assert_eq!(offered(&mut host, BUILD_TARGET).await, None);
        relay.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_release_signed_with_a_key_hosts_do_not_pin_is_refused_at_publish() {
    bounded(async {
        let relay = TestRelay::start().await;
        let keys = ReleaseKeys::of(&key("release"));
        let stranger = keys.dir.path().join("stranger.key");
        key("other").save(&stranger).unwrap();
        let package = keys.write("assent-host", &package_bytes(1000));
        let manifest = keys.write(
            "manifest.toml",
            b"version = \"2.0.0\"\ncapabilities = [\"screen-view\"]\n",
        );
        let (result, out) = publish(&relay, &keys, &package, &manifest, Some(stranger));
        let error = format!("{:#}", result.unwrap_err());
        assert!(
            error.contains("is not the release key hosts pin"),
            "{error}"
        );
        assert!(out.is_empty());
        assert_eq!(relay.store.releases(10).unwrap(), vec![]);
        assert_eq!(
            relay
                .store
                .latest_release(HOST_COMPONENT, BUILD_TARGET)
                .unwrap(),
            None
        );
        relay.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_older_version_is_published_only_when_signed_as_a_rollback() {
    bounded(async {
        let relay = TestRelay::start().await;
        let keys = ReleaseKeys::of(&key("release"));
        let package = keys.write("assent-host", &package_bytes(5000));
        let newer = keys.write("new.toml", b"version = \"1.3.0\"\ncapabilities = []\n");
        let older = keys.write("old.toml", b"version = \"1.2.9\"\ncapabilities = []\n");
        let rollback = keys.write(
            "rollback.toml",
            b"version = \"1.2.9\"\ncapabilities = []\nrollback = true\n",
        );
        let store = relay.store.as_ref();
        // Nothing published yet: nothing to roll back from.
        let error = publish(&relay, &keys, &package, &rollback, None)
            .0
            .unwrap_err();
        assert!(
            format!("{error:#}").contains("nothing is published"),
            "{error:#}"
        );
        publish(&relay, &keys, &package, &newer, None).0.unwrap();
        let not_older = keys.write(
            "not-older.toml",
            b"version = \"1.4.0\"\ncapabilities = []\nrollback = true\n",
        );
        let error = publish(&relay, &keys, &package, &not_older, None)
            .0
            .unwrap_err();
        assert!(format!("{error:#}").contains("not older"), "{error:#}");
        let error = publish(&relay, &keys, &package, &older, None)
            .0
            .unwrap_err();
        assert!(
            format!("{error:#}").contains("set rollback = true"),
            "{error:#}"
        );
        publish(&relay, &keys, &package, &rollback, None).0.unwrap();
        let latest = store
            .latest_release(HOST_COMPONENT, BUILD_TARGET)
            .unwrap()
            .unwrap();
        assert_eq!((latest.version.as_str(), latest.rollback), ("1.2.9", true));
        // The signed manifest names the release it undoes: hosts on any
        // other version refuse it.
        let manifest = latest.signed.verify(key("release").public()).unwrap();
        assert_eq!(manifest.rolls_back.as_deref(), Some("1.3.0"));
        assert_eq!(store.releases(10).unwrap().len(), 2);
        // `release list`: newest first, the rollback marked.
        let mut out = Vec::new();
        run_release(
            &ReleaseCommand::List,
            &mut AdminContext {
                store,
                data_key: &relay.data_key,
                operator: None,
                now_unix: NOW_UNIX,
                out: &mut out,
            },
            &keys.files,
        )
        .unwrap();
        let listed = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = listed.lines().collect();
        assert_eq!(lines.len(), 2, "{listed}");
        assert!(lines[0].starts_with("assent-host 1.2.9 for ") && lines[0].ends_with(", rollback"));
        assert!(lines[1].starts_with("assent-host 1.3.0 for ") && !lines[1].contains("rollback"));
        relay.stop().await;
    })
    .await;
}

#[test]
fn manifest_errors_name_the_key_and_what_is_allowed() {
    let error = |text: &str| format!("{:#}", ManifestFile::parse(text).unwrap_err());
    let unknown = error("version = \"1.0.0\"\ncapabilities = []\nchannel = \"beta\"\n");
    assert!(
        unknown.starts_with("channel: unknown field") && unknown.contains("notes"),
        "{unknown}"
    );
    let version = error("version = \"1.0\"\ncapabilities = []\n");
    assert!(
        version.starts_with("version:") && version.contains("MAJOR.MINOR.PATCH"),
        "{version}"
    );
    let capability = error("version = \"1.0.0\"\ncapabilities = [\"teleport\"]\n");
    assert!(
        capability.starts_with("capabilities:") && capability.contains("file-transfer"),
        "{capability}"
    );
    let missing = error("capabilities = []\n");
    assert!(missing.contains("version"), "{missing}");
    let wrong_type = error("version = \"1.0.0\"\ncapabilities = []\nrollback = \"yes\"\n");
    assert!(
        wrong_type.starts_with("rollback: ") && wrong_type.contains("line 3"),
        "{wrong_type}"
    );
    let target = error("version = \"1.0.0\"\ncapabilities = []\ntarget = \"x86 64\"\n");
    assert!(target.starts_with("target:"), "{target}");

    let defaults = ManifestFile::parse("version = \"1.0.0\"\ncapabilities = []\n").unwrap();
    assert_eq!(defaults.component, HOST_COMPONENT);
    assert_eq!(defaults.target, BUILD_TARGET);
    assert!(!defaults.rollback);
}

/// A release of `bytes` as 3.0.0, signed with the test release key.
fn signed_record(bytes: &[u8]) -> ReleaseRecord {
    let manifest = assent_proto::release::ReleaseManifest {
        version: Text::new("3.0.0").unwrap(),
        component: Text::new(HOST_COMPONENT).unwrap(),
        target: Text::new(BUILD_TARGET).unwrap(),
        sha256: Sha256::digest(bytes).into(),
        size: bytes.len() as u64,
        capabilities: assent_proto::wire::List::new(vec![]).unwrap(),
        notes: Text::default(),
        rolls_back: None,
        published_unix: NOW_UNIX,
    };
    ReleaseRecord {
        component: HOST_COMPONENT.into(),
        target: BUILD_TARGET.into(),
        version: "3.0.0".into(),
        sha256: manifest.sha256,
        size: manifest.size,
        rollback: false,
        published_unix_ms: NOW_UNIX * 1000,
        signed: manifest
            .sign(&key("release"), &mut rand_core::OsRng)
            .unwrap(),
    }
}

/// Hands out `good` bytes, then fails: an upload cut short.
struct FailingReader {
    good: std::io::Cursor<Vec<u8>>,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.good.read(buf)? {
            0 => Err(std::io::Error::other("disk went away")),
            n => Ok(n),
        }
    }
}

#[tokio::test]
async fn a_package_that_does_not_match_its_manifest_or_breaks_off_is_never_served() {
    bounded(async {
        let relay = TestRelay::start().await;
        let keys = ReleaseKeys::of(&key("release"));
        let bytes = package_bytes(PACKAGE_CHUNK_MAX + 100);
        let record = signed_record(&bytes);
        drop(keys);
        let store = relay.store.as_ref();
        let mut altered = bytes.clone();
        altered[10] ^= 1;
        let mut truncated = bytes.clone();
        truncated.truncate(bytes.len() - 1);
        let mut longer = bytes.clone();
        longer.push(0);
        for package in [altered, truncated, longer] {
            assert!(store
                .publish_release(&record, &mut std::io::Cursor::new(package))
                .is_err());
        }
        let mut broken = FailingReader {
            good: std::io::Cursor::new(bytes[..PACKAGE_CHUNK_MAX + 10].to_vec()),
        };
        assert!(store.publish_release(&record, &mut broken).is_err());
        assert_eq!(store.package_slice(&record.sha256, 0).unwrap(), None);
        assert_eq!(
            store.latest_release(HOST_COMPONENT, BUILD_TARGET).unwrap(),
            None
        );

        // The same record with the right bytes then publishes whole.
        store
            .publish_release(&record, &mut std::io::Cursor::new(bytes.clone()))
            .unwrap();
        let first = store.package_slice(&record.sha256, 0).unwrap().unwrap();
        assert_eq!(first.total, bytes.len() as u64);
        assert_eq!(first.data, bytes[..PACKAGE_CHUNK_MAX]);
        relay.stop().await;
    })
    .await;
}

/// Hands out the package; at its end, before the last pieces are stored,
/// a concurrent `release publish` of the same package replaces the stored
/// row (and with it the pieces stored so far), as a second run would.
struct RacedReader {
    package: std::io::Cursor<Vec<u8>>,
    db: PathBuf,
    sha256: [u8; 32],
    raced: bool,
}

impl Read for RacedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.package.read(buf)?;
        if n == 0 && !self.raced {
            self.raced = true;
            let size = self.package.get_ref().len() as i64;
            let db = rusqlite::Connection::open(&self.db).map_err(std::io::Error::other)?;
            db.busy_timeout(std::time::Duration::from_secs(10))
                .and_then(|()| db.execute_batch("PRAGMA foreign_keys = ON;"))
                .and_then(|()| {
                    db.execute(
                        "DELETE FROM release_packages WHERE sha256 = ?1",
                        [&self.sha256[..]],
                    )
                })
                .and_then(|_| {
                    db.execute(
                        "INSERT INTO release_packages (sha256, size, complete) VALUES (?1, ?2, 0)",
                        rusqlite::params![&self.sha256[..], size],
                    )
                })
                .map_err(std::io::Error::other)?;
        }
        Ok(n)
    }
}

#[tokio::test]
async fn a_package_whose_pieces_a_concurrent_publish_replaced_is_never_marked_complete() {
    bounded(async {
        let relay = TestRelay::start().await;
        // Larger than one write batch, so some pieces are stored before the race.
        let bytes = package_bytes(5 * 1024 * 1024 + 100);
        let record = signed_record(&bytes);
        let mut raced = RacedReader {
            package: std::io::Cursor::new(bytes),
            db: relay.db_path.clone(),
            sha256: record.sha256,
            raced: false,
        };
        let store = relay.store.as_ref();
        let result = store.publish_release(&record, &mut raced);
        assert!(raced.raced, "the race never ran");
        assert!(
            result.is_err(),
            "a package with missing pieces was published"
        );
        assert!(store
            .latest_release(HOST_COMPONENT, BUILD_TARGET)
            .unwrap()
            .is_none());
        relay.stop().await;
    })
    .await;
}
