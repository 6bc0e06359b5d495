//! Revoke-to-stop latency of remote control, screen view and file transfer
//! (issue 12, R10). Figures go to BENCHMARKS.md.
//!
//! Remote control: the host's real injector (`assent_host::remote_input::Injector`, its
//! bounded queue and `ControlGate`) over a recording sink as slow as XTest
//! (`XTEST_EVENT_COST` per event). Each round fills the queue, waits until
//! the first event is injected (so one is in progress or about to be),
//! then revokes. Measured: from the revoke's start until `ControlGate::close`
//! returns, which is when nothing more can be injected; the host writes the
//! `Revoked` audit record only after that. Each round also checks that no
//! event was injected after the revoke (a failure aborts the bench).
//!
//! Screen view and file transfer: the host's real screen stream
//! (`screen_stream::run_with_source` over a 1920×1080 screen of noise,
//! every pixel new at every capture, pacing out of the way, so the host is
//! sealing nearly all the time) and its real file exchange (`FilesHandle`,
//! an 8 MiB file, revoked right after the third chunk was sealed), each over
//! real QUIC on loopback to a viewer end that reads as fast as it can (the
//! fixtures of `tests/revocation.rs`). Measured: from the revoke's start
//! until the grants update returns (`send_modify`, what `session::Gates`
//! does), after which nothing more can be sealed; and until the host has
//! stopped (frames: the capture thread let the screen go; files: the host
//! sealed its `FileAbort`). Each round also checks that nothing was sealed
//! after the revoke (a failure aborts the bench).
//!
//! Run: `cargo bench --bench revocation` (under `cargo test` it runs 5
//! rounds of each as a smoke test).

#[path = "../tests/revocation/loopback.rs"]
mod loopback;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use assent_host::control::InputInjector;
use assent_host::remote_input::{ControlGate, Injector, INJECT_QUEUE_EVENTS, XTEST_EVENT_COST};
use assent_proto::consent::CapabilitySet;
use assent_proto::handshake::Channel;
use assent_proto::messages::consent::Capability;
use assent_proto::messages::input::PointerMove;
use assent_proto::wire::MessageType;
use loopback::{
    count_records, file_sink, host_files, noise_file, only, revoke, sealed_beyond, stream_noise,
    within, Pair,
};
use tokio::sync::watch;

const SCREEN: (u32, u32) = (1920, 1080);
const FILE_SIZE: usize = 8 * 1024 * 1024;

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let rounds = if bench { 500 } else { 5 };
    let mut latencies = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        latencies.push(one_revoke());
    }
    println!(
        "revoke remote control with a full queue ({INJECT_QUEUE_EVENTS} events, {} ms per \
         injection), {rounds} rounds: {}; events injected after a revoke: 0",
        XTEST_EVENT_COST.as_millis(),
        quantiles(&mut latencies),
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let rounds = if bench { 200 } else { 5 };
    let (mut returned, mut stopped) = runtime.block_on(frames(rounds));
    println!(
        "revoke screen view of a {}x{} noise screen, unpaced, {rounds} rounds: revoke returned \
         {}; capture stopped {}; frames sealed after a revoke: 0",
        SCREEN.0,
        SCREEN.1,
        quantiles(&mut returned),
        quantiles(&mut stopped),
    );
    let (mut returned, mut stopped) = runtime.block_on(files(rounds));
    println!(
        "revoke file transfer mid-way through {} MiB, {rounds} rounds: revoke returned {}; \
         transfer aborted {}; chunks sealed after a revoke: 0",
        FILE_SIZE >> 20,
        quantiles(&mut returned),
        quantiles(&mut stopped),
    );
}

/// "p50 …, p99 …, max …" of `samples`, in milliseconds.
fn quantiles(samples: &mut [Duration]) -> String {
    samples.sort();
    let at = |q: f64| ms(samples[((samples.len() - 1) as f64 * q).round() as usize]);
    format!(
        "p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Revoke screen view of a busy stream `rounds` times.
async fn frames(rounds: usize) -> (Vec<Duration>, Vec<Duration>) {
    let mut pair = Pair::connect().await;
    let screen = pair.channel(Channel::Screen).await;
    let (send, _) = screen.host;
    let sealed = send.sealed_count();
    let mut received = count_records(screen.viewer.1);
    let (grants_tx, grants) = watch::channel(CapabilitySet::EMPTY);
    let mut dropped = stream_noise(send, grants, SCREEN);
    let (mut returned, mut stopped) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        grants_tx.send_replace(only(Capability::ScreenView));
        let target = sealed.get() + 2;
        within("frames", received.wait_for(|n| *n >= target))
            .await
            .unwrap();
        let start = Instant::now();
        let took = revoke(&grants_tx);
        let at_revoke = sealed.get();
        within("the capture thread", dropped.recv()).await.unwrap();
        stopped.push(start.elapsed());
        returned.push(took);
        assert_eq!(
            sealed.get(),
            at_revoke,
            "round {round}: sealed after the revoke"
        );
    }
    (returned, stopped)
}

/// Revoke a file transfer mid-way `rounds` times.
async fn files(rounds: usize) -> (Vec<Duration>, Vec<Duration>) {
    let mut pair = Pair::connect().await;
    let channel = pair.channel(Channel::Files).await;
    let sealed = channel.host.0.sealed_count();
    let mut seen = file_sink(channel.viewer);
    let (grants_tx, grants) = watch::channel(CapabilitySet::EMPTY);
    let files = host_files(channel.host, grants).await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = noise_file(&dir, FILE_SIZE);
    let (mut returned, mut stopped) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        grants_tx.send_replace(only(Capability::FileTransfer));
        let offered = sealed.get();
        files.send(path.clone());
        within("chunks", sealed_beyond(&sealed, offered + 3)).await;
        let start = Instant::now();
        let took = revoke(&grants_tx);
        let at_revoke = sealed.get();
        let counted_at = start.elapsed();
        // After the revoke the host seals one more record, its FileAbort
        // (possibly before `at_revoke` was read: then the viewer's copy
        // ends the wait, and the count's reading is when it had stopped).
        let moved_at = within("the abort", async {
            loop {
                if sealed.get() > at_revoke || seen.borrow().aborts.len() > round {
                    break start.elapsed();
                }
                tokio::task::yield_now().await;
            }
        })
        .await;
        let aborted = within("the abort", seen.wait_for(|s| s.aborts.len() > round))
            .await
            .unwrap()
            .clone();
        let abort_at = aborted
            .kinds
            .iter()
            .rposition(|k| *k == MessageType::FileAbort);
        let counted = abort_at.is_some_and(|at| (at as u64) < at_revoke);
        stopped.push(if counted { counted_at } else { moved_at });
        returned.push(took);
        let late = aborted.kinds[at_revoke as usize..]
            .iter()
            .filter(|k| **k != MessageType::FileAbort)
            .count();
        assert_eq!(late, 0, "round {round}: sealed after the revoke");
    }
    (returned, stopped)
}

/// One round: fill the queue, revoke during an injection, time the revoke.
fn one_revoke() -> Duration {
    let gate = ControlGate::default();
    gate.open();
    let (injected_tx, injected) = mpsc::channel();
    let (sink, log) = InputInjector::slow_recording(1920, 1080, XTEST_EVENT_COST, injected_tx);
    let (_, prompt_open) = watch::channel(false);
    let mut injector = Injector::start(move || Ok(sink), gate.clone(), prompt_open);
    for x in 0..INJECT_QUEUE_EVENTS as i32 {
        assert!(injector.inject(PointerMove { x, y: 0 }.into()));
    }
    injected.recv().expect("the first event is injected");
    let start = Instant::now();
    gate.close();
    let latency = start.elapsed();
    let at_revoke = log.events().len();
    drop(injector);
    assert_eq!(
        log.events().len(),
        at_revoke,
        "an event was injected after the revoke"
    );
    latency
}
