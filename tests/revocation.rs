//! Revocation of screen view and file transfer is immediate (issue 12,
//! R10): once the revoke has returned — which the host does before it
//! writes the `Revoked` audit record (`session::apply`) — not one more
//! frame or file chunk is sealed. The host's real screen stream and file
//! exchange over real QUIC on loopback, with real record keys; the revoke
//! is what `session::Gates::set` does to the grants.
//!
//! "Sealed" is counted at the sealer ([`SealedCount`]), so a record sealed
//! after the revoke is caught whether or not it reached the viewer. Each
//! test revokes many times at arbitrary moments of a busy stream, so a
//! seal racing the revoke is hit.

#[path = "revocation/loopback.rs"]
mod loopback;

use assent_net::file_exchange::TRANSFER_REVOKED;
use assent_net::SealedCount;
use assent_proto::consent::CapabilitySet;
use assent_proto::handshake::Channel;
use assent_proto::messages::consent::Capability;
use assent_proto::messages::file_transfer::FILE_CHUNK_MAX;
use assent_proto::wire::MessageType;
use loopback::{
    count_records, file_sink, host_files, noise_file, only, revoke, sealed_beyond, stream_noise,
    within, Pair,
};
use tokio::sync::watch;

const ROUNDS: usize = 40;
/// Big enough that sealing a frame takes a while, small enough for CI.
const SCREEN: (u32, u32) = (256, 128);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_frame_is_sealed_once_screen_view_is_revoked() {
    let mut pair = Pair::connect().await;
    let screen = pair.channel(Channel::Screen).await;
    let (send, _) = screen.host;
    let sealed: SealedCount = send.sealed_count();
    let mut received = count_records(screen.viewer.1);
    let (grants_tx, grants) = watch::channel(CapabilitySet::EMPTY);
    let mut dropped = stream_noise(send, grants, SCREEN);

    let mut late = Vec::new();
    for round in 0..ROUNDS {
        grants_tx.send_replace(only(Capability::ScreenView));
        // Frames of this grant are flowing: the viewer has two records
        // more than were sealed before it (the rest of the last round's
        // may still be on the way).
        let target = sealed.get() + 2;
        within("frames", received.wait_for(|n| *n >= target))
            .await
            .unwrap();
        revoke(&grants_tx);
        let at_revoke = sealed.get();
        // The capture thread lets the screen go only after the stream
        // stopped sending for this grant: anything late is sealed by then.
        within("the capture thread to stop", dropped.recv())
            .await
            .unwrap();
        let after = sealed.get();
        if after != at_revoke {
            late.push((round, after - at_revoke));
        }
    }
    assert!(
        late.is_empty(),
        "(round, records sealed after the revoke returned): {late:?}"
    );
    // Every record counted as sealed reached the viewer and opened.
    let total = sealed.get();
    within(
        "the viewer to have every record",
        received.wait_for(|n| *n >= total),
    )
    .await
    .unwrap();
    assert_eq!(*received.borrow(), total);
}

/// Large enough that a transfer is mid-way when the revoke comes.
const FILE_SIZE: usize = 8 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_file_chunk_is_sealed_once_file_transfer_is_revoked() {
    let mut pair = Pair::connect().await;
    let files_channel = pair.channel(Channel::Files).await;
    let sealed = files_channel.host.0.sealed_count();
    let mut seen = file_sink(files_channel.viewer);
    let (grants_tx, grants) = watch::channel(CapabilitySet::EMPTY);
    let files = host_files(files_channel.host, grants).await;
    let dir = tempfile::tempdir().unwrap();
    let path = noise_file(&dir, FILE_SIZE);

    let mut late = Vec::new();
    for round in 0..ROUNDS {
        grants_tx.send_replace(only(Capability::FileTransfer));
        let first = seen.borrow().chunks;
        let offered = sealed.get();
        files.send(path.clone());
        // Revoked mid-way, with the host sealing: right after its third
        // chunk, while the next one is being read and sealed.
        within("chunks", sealed_beyond(&sealed, offered + 3)).await;
        revoke(&grants_tx);
        let at_revoke = sealed.get() as usize;
        // The host's FileAbort comes after anything it sealed before it.
        let aborted = within("the abort", seen.wait_for(|s| s.aborts.len() > round))
            .await
            .unwrap()
            .clone();
        assert_eq!(aborted.aborts[round], TRANSFER_REVOKED, "round {round}");
        let chunks = (aborted.chunks - first) as usize;
        assert!(
            chunks * FILE_CHUNK_MAX < FILE_SIZE,
            "round {round}: the transfer was not mid-way ({chunks} chunks)"
        );
        let after_revoke = aborted.kinds[at_revoke..]
            .iter()
            .filter(|k| matches!(k, MessageType::FileChunk | MessageType::FileComplete))
            .count();
        if after_revoke > 0 {
            late.push((round, after_revoke));
        }
    }
    assert!(
        late.is_empty(),
        "(round, file chunks sealed after the revoke returned): {late:?}"
    );
}
