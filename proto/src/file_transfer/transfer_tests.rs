use proptest::prelude::*;
use sha2::{Digest, Sha256};

use super::*;
use crate::messages::file_transfer::{
    FileChunk, FileOffer, FileOfferAnswer, TransferDirection, ABORT_REASON_MAX, FILE_CHUNK_MAX,
    OFFER_REASON_MAX,
};
use crate::wire::{Bytes, Field, Text};

const ID: u64 = 7;

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

fn offer_for(name: &str, data: &[u8]) -> FileOffer {
    FileOffer {
        transfer_id: ID,
        name: Text::new(name).unwrap(),
        size: data.len() as u64,
        sha256: sha256(data),
        direction: TransferDirection::ToHost,
    }
}

fn incoming(data: &[u8]) -> IncomingTransfer {
    IncomingTransfer::new(&offer_for("run.csv", data), &TransferLimits::default()).unwrap()
}

fn chunk(offset: u64, data: &[u8]) -> FileChunk {
    FileChunk {
        transfer_id: ID,
        offset,
        data: Bytes::new(data.to_vec()).unwrap(),
    }
}

fn accepted_sender(data: &[u8]) -> OutgoingTransfer {
    let offer = OutgoingOffer::new(
        ID,
        SafeFileName::parse("run.csv").unwrap(),
        data.len() as u64,
        sha256(data),
        TransferDirection::FromHost,
    );
    let receiver = IncomingTransfer::new(&offer.message(), &TransferLimits::default()).unwrap();
    offer.answered(&receiver.acceptance()).unwrap()
}

#[test]
fn a_file_sent_in_chunks_in_order_is_verified_with_its_name_size_and_hash() {
    let data: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
    let mut receiver = incoming(&data);
    let mut offset = 0;
    for piece in data.chunks(FILE_CHUNK_MAX) {
        receiver.accept_chunk(&chunk(offset, piece)).unwrap();
        offset += piece.len() as u64;
        assert_eq!(receiver.received(), offset);
    }
    let verified = receiver.finish().unwrap();
    assert_eq!(verified.name().as_str(), "run.csv");
    assert_eq!(verified.size(), data.len() as u64);
    assert_eq!(verified.sha256(), &sha256(&data));
    assert_eq!(verified.direction(), TransferDirection::ToHost);
    assert_eq!(verified.transfer_id(), ID);
}

#[test]
fn an_empty_file_is_verified_without_any_chunk() {
    let verified = incoming(b"").finish().unwrap();
    assert_eq!(verified.size(), 0);
    assert_eq!(verified.sha256(), &sha256(b""));
}

#[test]
fn an_offer_with_an_unsafe_name_is_refused() {
    let err = IncomingTransfer::new(
        &offer_for("../../etc/cron.d/x", b"data"),
        &TransferLimits::default(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        TransferError::InvalidName(FileNameError::PathSeparator { .. })
    ));
    assert!(err.to_string().contains("contains a path separator"));
}

#[test]
fn an_offer_over_the_size_limit_is_refused_and_one_at_the_limit_is_accepted() {
    let limits = TransferLimits { max_file_size: 10 };
    let mut offer = offer_for("big.bin", b"");
    offer.size = 11;
    assert_eq!(
        IncomingTransfer::new(&offer, &limits).unwrap_err(),
        TransferError::TooLarge { size: 11, max: 10 }
    );
    offer.size = 10;
    assert!(IncomingTransfer::new(&offer, &limits).is_ok());
    offer.size = u64::MAX;
    assert!(matches!(
        IncomingTransfer::new(&offer, &TransferLimits::default()),
        Err(TransferError::TooLarge { .. })
    ));
}

#[test]
fn the_default_limit_is_two_gibibytes() {
    assert_eq!(TransferLimits::default().max_file_size, 1 << 31);
}

#[test]
fn a_chunk_of_another_transfer_is_refused() {
    let mut receiver = incoming(b"abc");
    let mut stray = chunk(0, b"abc");
    stray.transfer_id = ID + 1;
    assert_eq!(
        receiver.accept_chunk(&stray),
        Err(TransferError::WrongTransfer {
            expected: ID,
            got: ID + 1
        })
    );
    assert_eq!(receiver.received(), 0);
}

#[test]
fn a_chunk_at_the_wrong_offset_is_refused_whether_gap_or_overlap() {
    let mut receiver = incoming(b"abcdef");
    assert_eq!(
        receiver.accept_chunk(&chunk(1, b"bc")),
        Err(TransferError::OutOfOrder {
            expected: 0,
            got: 1
        })
    );
    receiver.accept_chunk(&chunk(0, b"abc")).unwrap();
    // A replay of the first chunk overlaps what was received.
    assert_eq!(
        receiver.accept_chunk(&chunk(0, b"abc")),
        Err(TransferError::OutOfOrder {
            expected: 3,
            got: 0
        })
    );
    assert_eq!(
        receiver.accept_chunk(&chunk(4, b"ef")),
        Err(TransferError::OutOfOrder {
            expected: 3,
            got: 4
        })
    );
}

#[test]
fn a_chunk_past_the_announced_size_is_refused() {
    let mut receiver = incoming(b"abc");
    receiver.accept_chunk(&chunk(0, b"ab")).unwrap();
    assert_eq!(
        receiver.accept_chunk(&chunk(2, b"cd")),
        Err(TransferError::BeyondSize { size: 3, end: 4 })
    );
    assert_eq!(receiver.received(), 2);
}

#[test]
fn a_refused_chunk_changes_nothing_so_the_right_one_still_verifies() {
    let mut receiver = incoming(b"abcd");
    receiver.accept_chunk(&chunk(0, b"ab")).unwrap();
    assert!(receiver.accept_chunk(&chunk(2, b"xyz")).is_err());
    assert!(receiver.accept_chunk(&chunk(3, b"d")).is_err());
    receiver.accept_chunk(&chunk(2, b"cd")).unwrap();
    assert!(receiver.finish().is_ok());
}

#[test]
fn content_that_differs_from_the_announced_hash_is_refused() {
    let mut receiver = incoming(b"the real content");
    receiver
        .accept_chunk(&chunk(0, b"the fake content"))
        .unwrap();
    assert_eq!(receiver.finish(), Err(TransferError::HashMismatch));
}

#[test]
fn finishing_before_every_byte_arrived_is_refused() {
    let mut receiver = incoming(b"abcdef");
    receiver.accept_chunk(&chunk(0, b"abc")).unwrap();
    assert_eq!(
        receiver.finish(),
        Err(TransferError::Incomplete {
            transferred: 3,
            size: 6
        })
    );
}

#[test]
fn the_sender_sends_nothing_until_accepted_and_a_refusal_ends_the_offer() {
    let offer = OutgoingOffer::new(
        ID,
        SafeFileName::parse("x.bin").unwrap(),
        1,
        sha256(b"x"),
        TransferDirection::ToHost,
    );
    assert_eq!(
        offer
            .clone()
            .answered(&refuse_offer(ID, "technician said no"))
            .unwrap_err(),
        TransferError::Refused {
            reason: "technician said no".into()
        }
    );
    let mut other = offer.clone().message();
    other.transfer_id = ID + 1;
    let answer_for_other = IncomingTransfer::new(&other, &TransferLimits::default())
        .unwrap()
        .acceptance();
    assert_eq!(
        offer.answered(&answer_for_other).unwrap_err(),
        TransferError::WrongTransfer {
            expected: ID,
            got: ID + 1
        }
    );
}

#[test]
fn the_sender_tracks_offsets_and_refuses_data_past_the_size() {
    let mut sender = accepted_sender(b"abcde");
    assert_eq!(sender.next_chunk_len(), 5);
    let first = sender.chunk(b"abc".to_vec()).unwrap();
    assert_eq!((first.offset, first.data.as_slice()), (0, &b"abc"[..]));
    assert_eq!(sender.next_chunk_len(), 2);
    assert_eq!(
        sender.chunk(b"def".to_vec()),
        Err(TransferError::BeyondSize { size: 5, end: 6 })
    );
    let second = sender.chunk(b"de".to_vec()).unwrap();
    assert_eq!(second.offset, 3);
    assert_eq!(sender.next_chunk_len(), 0);
    assert_eq!(sender.complete().unwrap().transfer_id, ID);
}

#[test]
fn the_sender_refuses_a_chunk_over_the_chunk_limit() {
    let mut sender = accepted_sender(&vec![0; FILE_CHUNK_MAX + 1]);
    assert_eq!(sender.next_chunk_len(), FILE_CHUNK_MAX);
    assert_eq!(
        sender.chunk(vec![0; FILE_CHUNK_MAX + 1]),
        Err(TransferError::ChunkTooLarge {
            len: FILE_CHUNK_MAX + 1,
            max: FILE_CHUNK_MAX
        })
    );
    assert_eq!(sender.sent(), 0);
}

#[test]
fn the_sender_cannot_complete_early_or_after_the_file_changed() {
    let mut sender = accepted_sender(b"abcd");
    sender.chunk(b"ab".to_vec()).unwrap();
    assert_eq!(
        sender.complete(),
        Err(TransferError::Incomplete {
            transferred: 2,
            size: 4
        })
    );
    let mut sender = accepted_sender(b"abcd");
    sender.chunk(b"abXd".to_vec()).unwrap();
    assert_eq!(sender.complete(), Err(TransferError::SourceChanged));
}

#[test]
fn reasons_are_cut_to_the_wire_limit_without_control_characters() {
    let long = format!("{}\x1b[2J", "測".repeat(200));
    let answer = refuse_offer(ID, &long);
    assert!(!answer.accepted);
    assert!(answer.reason.len() <= OFFER_REASON_MAX);
    assert!(answer.reason.len() > OFFER_REASON_MAX - 3);
    assert!(FileOfferAnswer::from_bytes(&answer.to_bytes()).is_ok());
    let aborted = abort(ID, &format!("bad\nname \x1b{}", "x".repeat(2000)));
    assert!(aborted.reason.starts_with("bad name  x"));
    assert_eq!(aborted.reason.len(), ABORT_REASON_MAX);
}

/// Cuts `data` at the given points (sorted, deduplicated, at most 64 KiB apart).
fn split(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.extend([0, data.len()]);
    points.sort_unstable();
    points.dedup();
    let mut pieces = Vec::new();
    for pair in points.windows(2) {
        for piece in data[pair[0]..pair[1]].chunks(FILE_CHUNK_MAX) {
            pieces.push(piece.to_vec());
        }
    }
    pieces
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_split_of_a_file_into_ordered_chunks_verifies(
        data in prop::collection::vec(any::<u8>(), 0..200_000),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let mut receiver = incoming(&data);
        let mut offset = 0;
        for piece in split(&data, &cuts) {
            receiver.accept_chunk(&chunk(offset, &piece)).unwrap();
            offset += piece.len() as u64;
        }
        let verified = receiver.finish().unwrap();
        prop_assert_eq!(verified.size(), data.len() as u64);
        prop_assert_eq!(verified.sha256(), &sha256(&data));
    }

    #[test]
    fn what_the_sender_produces_the_receiver_verifies_through_the_wire(
        data in prop::collection::vec(any::<u8>(), 0..200_000),
    ) {
        let offer = OutgoingOffer::new(
            ID,
            SafeFileName::parse("run.csv").unwrap(),
            data.len() as u64,
            sha256(&data),
            TransferDirection::ToHost,
        );
        let offer_on_wire = FileOffer::from_bytes(&offer.message().to_bytes()).unwrap();
        let mut receiver = IncomingTransfer::new(&offer_on_wire, &TransferLimits::default()).unwrap();
        let mut sender = offer.answered(&receiver.acceptance()).unwrap();
        let mut rest = &data[..];
        while sender.next_chunk_len() > 0 {
            let (piece, tail) = rest.split_at(sender.next_chunk_len());
            rest = tail;
            let sent = sender.chunk(piece.to_vec()).unwrap();
            receiver.accept_chunk(&FileChunk::from_bytes(&sent.to_bytes()).unwrap()).unwrap();
        }
        prop_assert_eq!(sender.complete().unwrap().transfer_id, ID);
        let verified = receiver.finish().unwrap();
        prop_assert_eq!(verified.sha256(), &sha256(&data));
    }

    #[test]
    fn flipping_any_byte_of_the_content_is_caught_by_the_hash(
        data in prop::collection::vec(any::<u8>(), 1..5_000),
        index in any::<usize>(),
        flip in 1..=255u8,
    ) {
        let mut received = data.clone();
        let at = index % received.len();
        received[at] ^= flip;
        let mut receiver = incoming(&data);
        for (i, piece) in received.chunks(1000).enumerate() {
            receiver.accept_chunk(&chunk(i as u64 * 1000, piece)).unwrap();
        }
        prop_assert_eq!(receiver.finish(), Err(TransferError::HashMismatch));
    }
}
