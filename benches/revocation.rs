//! Revoke-to-stop latency of remote control (issue 12, R10). Figures go to
//! BENCHMARKS.md.
//!
//! The host's real injector (`assent_host::remote_input::Injector`, its
//! bounded queue and `ControlGate`) over a recording sink as slow as XTest
//! (`XTEST_EVENT_COST` per event). Each round fills the queue, waits until
//! the first event is injected (so one is in progress or about to be),
//! then revokes. Measured: from the revoke's start until `ControlGate::close`
//! returns, which is when nothing more can be injected; the host writes the
//! `Revoked` audit record only after that. Each round also checks that no
//! event was injected after the revoke (a failure aborts the bench).
//!
//! Run: `cargo bench --bench revocation` (under `cargo test` it runs 5
//! rounds as a smoke test).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use assent_host::control::InputInjector;
use assent_host::remote_input::{ControlGate, Injector, INJECT_QUEUE_EVENTS, XTEST_EVENT_COST};
use assent_proto::messages::input::PointerMove;
use tokio::sync::watch;

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let rounds = if bench { 500 } else { 5 };
    let mut latencies = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        latencies.push(one_revoke());
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "revoke remote control with a full queue ({INJECT_QUEUE_EVENTS} events, {} ms per \
         injection), {rounds} rounds: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; \
         events injected after a revoke: 0",
        XTEST_EVENT_COST.as_millis(),
        ms(at(0.5)),
        ms(at(0.99)),
        ms(at(1.0)),
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
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
