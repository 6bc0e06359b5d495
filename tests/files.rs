//! File transfer end to end through the real binaries (R10–R12): both
//! directions with the hash verified, names that could escape the receive
//! directory refused, and an interrupted transfer leaving nothing behind.

mod support;

use std::sync::Mutex;

use assent_proto::messages::consent::{Capability, DecisionOutcome};
use assent_proto::messages::file_transfer::{FileChunk, FileOffer, TransferDirection};
use assent_proto::messages::session::SessionMessage;
use assent_proto::wire::{Bytes, Text};
use sha2::{Digest, Sha256};
use support::lab::Lab;
use support::rogue;

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// The host's receive directory, as enrolment set it up.
fn received(lab: &Lab) -> std::path::PathBuf {
    lab.path("host").join("received")
}

fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Sizes of the partial files in `dir` (transfers being received).
fn partial_sizes(dir: &std::path::Path) -> Vec<u64> {
    entries(dir)
        .iter()
        .filter(|name| name.starts_with(".assent-partial-"))
        .filter_map(|name| std::fs::metadata(dir.join(name)).ok())
        .map(|meta| meta.len())
        .collect()
}

#[test]
fn files_go_both_ways_with_their_hash_checked_and_audited() {
    let _one = one_at_a_time();
    let lab = support::lab("DxH 900");
    let outgoing = lab.path("qc-report.csv");
    let content: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    std::fs::write(&outgoing, &content).unwrap();
    let from_host = lab.path("instrument.log");
    std::fs::write(&from_host, b"2026-11-23 12:00 QC PASS\n".repeat(1000)).unwrap();
    let downloads = lab.path("downloads");
    std::fs::create_dir_all(&downloads).unwrap();

    let (mut host, password) = lab.support(&[]);
    let mut viewer = lab.viewer(
        &password,
        &[
            "--request",
            "files",
            "--send",
            outgoing.to_str().unwrap(),
            "--download-dir",
            downloads.to_str().unwrap(),
            "--receive",
            "1",
        ],
    );
    support::lab::admit_engineer(&mut host);
    support::lab::answer(&mut host, "asks for FILE TRANSFER", "y");
    support::lab::answer(&mut host, "sends the file \"qc-report.csv\"", "y");
    host.wait_for("received qc-report.csv");
    let landed = std::fs::read(received(&lab).join("qc-report.csv")).unwrap();
    assert_eq!(Sha256::digest(&landed), Sha256::digest(&content));
    host.type_line(&format!("send {}", from_host.display()));
    viewer.wait_for("file received: instrument.log");
    assert!(viewer.wait_exit().success(), "{}", viewer.stderr_text());
    assert_eq!(
        std::fs::read(downloads.join("instrument.log")).unwrap(),
        std::fs::read(&from_host).unwrap()
    );
    let audit = lab
        .audit(&["--host", &lab.host_id, "--kind", "file_transfer"])
        .unwrap();
    assert_eq!(audit.matches("file_transfer").count(), 2, "{audit}");
    assert!(
        audit.contains("qc-report.csv") && audit.contains("instrument.log"),
        "{audit}"
    );
}

#[test]
fn traversal_names_are_refused_and_an_interrupted_transfer_leaves_no_file() {
    let _one = one_at_a_time();
    let lab = support::lab("DxH 900");
    let (mut host, password) = lab.support(&[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut rogue =
            rogue::connect(&lab, assent_proto::test_keys::key("viewer"), &password).await;
        support::lab::admit_engineer(&mut host);
        rogue.request(Capability::FileTransfer).await;
        support::lab::answer(&mut host, "asks for FILE TRANSFER", "y");
        match rogue.next_control().await {
            SessionMessage::CapabilityDecision(d) => {
                assert_eq!(d.outcome, DecisionOutcome::Granted)
            }
            other => panic!("unexpected {other:?}"),
        }
        for (id, name) in [
            (1, "../../.bashrc"),
            (2, "/etc/cron.d/evil"),
            (3, "CON.txt"),
            (4, "a\\..\\b"),
        ] {
            let offer = FileOffer {
                transfer_id: id,
                name: Text::new(name).unwrap(),
                size: 4,
                sha256: Sha256::digest(b"evil").into(),
                direction: TransferDirection::ToHost,
            };
            rogue.files.send(&offer.into()).await.unwrap();
            match rogue.next_file_message().await {
                SessionMessage::FileOfferAnswer(answer) => {
                    assert!(!answer.accepted, "{name} was accepted");
                    assert!(!answer.reason.as_str().is_empty());
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // A good name, accepted, then the engineer vanishes half way.
        let content = vec![7u8; 200_000];
        let offer = FileOffer {
            transfer_id: 9,
            name: Text::new("half.bin").unwrap(),
            size: content.len() as u64,
            sha256: Sha256::digest(&content).into(),
            direction: TransferDirection::ToHost,
        };
        rogue.files.send(&offer.into()).await.unwrap();
        support::lab::answer(&mut host, "sends the file \"half.bin\"", "y");
        match rogue.next_file_message().await {
            SessionMessage::FileOfferAnswer(answer) => assert!(answer.accepted),
            other => panic!("unexpected {other:?}"),
        }
        let chunk = FileChunk {
            transfer_id: 9,
            offset: 0,
            data: Bytes::new(content[..65_536].to_vec()).unwrap(),
        };
        rogue.files.send(&chunk.into()).await.unwrap();
        // Really mid-way: the host has written the first chunk, and only it.
        let dir = received(&lab);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while partial_sizes(&dir) != [65_536] {
            assert!(
                std::time::Instant::now() < deadline,
                "the host never wrote the first chunk: {:?}",
                entries(&dir)
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        rogue.vanish();
    });
    host.wait_for("Session ended");
    let _ = host.wait_exit();
    assert_eq!(
        entries(&received(&lab)),
        Vec::<String>::new(),
        "nothing, not even a partial file"
    );
    assert!(!lab.path("host").join(".bashrc").exists());
    let failed = host.stdout_text();
    assert!(failed.contains("half.bin"), "{failed}");
}

/// The rogue's next control message, which must be the revocation of file
/// transfer.
async fn expect_files_revoked(rogue: &mut rogue::RogueSession) {
    match rogue.next_control().await {
        SessionMessage::CapabilityRevoked(r) => {
            assert_eq!(r.capability, Capability::FileTransfer)
        }
        other => panic!("expected file transfer revoked, got {other:?}"),
    }
}

#[test]
fn revoking_file_transfer_is_carried_out_at_once_even_while_an_offer_prompt_is_open() {
    let _one = one_at_a_time();
    let lab = support::lab("DxH 900");
    let (mut host, password) = lab.support(&[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut rogue =
            rogue::connect(&lab, assent_proto::test_keys::key("viewer"), &password).await;
        support::lab::admit_engineer(&mut host);
        let content = vec![7u8; 200_000];
        let sha256: [u8; 32] = Sha256::digest(&content).into();
        // Grants file transfer, offers a file and waits for its prompt.
        let offered = async |rogue: &mut rogue::RogueSession,
                             host: &mut support::lab::Proc,
                             transfer_id,
                             name: &str| {
            // Only prompts shown after this request count.
            let from = host.lines().len();
            rogue.request(Capability::FileTransfer).await;
            support::lab::answer_from(host, from, "asks for FILE TRANSFER", "y");
            match rogue.next_control().await {
                SessionMessage::CapabilityDecision(d) => {
                    assert_eq!(d.outcome, DecisionOutcome::Granted)
                }
                other => panic!("unexpected {other:?}"),
            }
            let offer = FileOffer {
                transfer_id,
                name: Text::new(name).unwrap(),
                size: content.len() as u64,
                sha256,
                direction: TransferDirection::ToHost,
            };
            rogue.files.send(&offer.into()).await.unwrap();
            let (at, _) = host.wait_for_from(from, &format!("sends the file {name:?}"));
            // Answerable (typed lines count) from here on.
            host.wait_for_from(at, support::lab::ANSWER_NOW);
        };

        // 1. `rf` typed into the offer's prompt revokes, not only refuses.
        offered(&mut rogue, &mut host, 1, "prompt.bin").await;
        host.type_line("rf");
        expect_files_revoked(&mut rogue).await;
        match rogue.next_file_message().await {
            SessionMessage::FileOfferAnswer(answer) => assert!(!answer.accepted),
            other => panic!("unexpected {other:?}"),
        }

        // 2. A transfer under way stops at the revoke: aborted, nothing kept.
        offered(&mut rogue, &mut host, 2, "midway.bin").await;
        host.type_line("y");
        match rogue.next_file_message().await {
            SessionMessage::FileOfferAnswer(answer) => assert!(answer.accepted),
            other => panic!("unexpected {other:?}"),
        }
        let chunk = FileChunk {
            transfer_id: 2,
            offset: 0,
            data: Bytes::new(content[..65_536].to_vec()).unwrap(),
        };
        rogue.files.send(&chunk.into()).await.unwrap();
        host.type_line("rf");
        expect_files_revoked(&mut rogue).await;
        match rogue.next_file_message().await {
            SessionMessage::FileAbort(abort) => {
                assert_eq!(abort.transfer_id, 2);
                assert!(abort.reason.as_str().contains("revoked"), "{abort:?}");
            }
            other => panic!("unexpected {other:?}"),
        }
        // The rest arrives after the revoke: refused, never written.
        let rest = FileChunk {
            transfer_id: 2,
            offset: 65_536,
            data: Bytes::new(content[65_536..131_072].to_vec()).unwrap(),
        };
        rogue.files.send(&rest.into()).await.unwrap();
        match rogue.next_file_message().await {
            SessionMessage::FileAbort(abort) => assert_eq!(abort.transfer_id, 2),
            other => panic!("unexpected {other:?}"),
        }
        rogue.vanish();
    });
    host.wait_for("Session ended");
    let _ = host.wait_exit();
    assert_eq!(
        entries(&received(&lab)),
        Vec::<String>::new(),
        "nothing of either file is kept"
    );
    let audit = lab
        .audit(&["--host", &lab.host_id, "--kind", "consent_decision"])
        .unwrap();
    assert_eq!(
        audit.matches("revoked").count() + audit.matches("Revoked").count(),
        2,
        "two revocations audited:\n{audit}"
    );
}
