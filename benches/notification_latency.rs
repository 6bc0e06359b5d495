//! Notification latency on loopback (issue 6; goal p50 < 50 ms): from the
//! instrument software writing a line on the host's intake socket to that
//! notification appearing in `assent-relay notifications watch`.
//!
//! Run: `cargo bench --bench notification_latency -- [N]` (default 200).
//! It builds the release binaries first; `ASSENT_BIN_DIR` points it at
//! others (e.g. `target/debug`).
//!
//! Everything is the real thing in its own process: the relay (QUIC,
//! SQLite, sealed storage), `assent-host run` (intake socket, durable book
//! with fsync, delivery over its relay connection, the relay's `Ack`), and
//! the operator's `notifications watch` following the relay's store. The
//! clock starts just before the JSON line is written to the socket and
//! stops when the watch process prints the line naming that notification.
//! Notifications are sent one at a time, spaced by a short random pause,
//! so each measures a quiet system, as an instrument raising a problem
//! would see it.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use assent::lab::process::Proc;
use assent::lab::{Lab, LabKeys, LabOptions};
use rand_core::{OsRng, RngCore};

const DEFAULT_COUNT: usize = 200;

fn main() -> Result<()> {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this
    // binary too, where the end-to-end tests already cover the path.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!(
            "notification_latency is a measurement: run `cargo bench --bench notification_latency`"
        );
        return Ok(());
    }
    let count = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(|a| a.parse::<usize>().context("N must be a number"))
        .transpose()?
        .unwrap_or(DEFAULT_COUNT);
    let bin_dir = binaries()?;
    let lab = Lab::start(LabOptions {
        bin_dir: bin_dir.clone(),
        host_binary: bin_dir.join("assent-host"),
        model: "DxH 900".into(),
        profile: None,
        keys: LabKeys::Provided {
            operator: assent_proto::test_keys::key("operator"),
            viewer: assent_proto::test_keys::key("viewer"),
            host: assent_proto::test_keys::key("host"),
        },
        echo: false,
    })?;
    let host_dir = lab.path("host");
    let run = Proc::start(
        "assent-host run",
        Command::new(bin_dir.join("assent-host"))
            .arg("--data-dir")
            .arg(&host_dir)
            .arg("run"),
        None,
    )?;
    run.try_wait_for("online as").map_err(anyhow::Error::msg)?;
    let watch = Proc::start(
        "assent-relay notifications watch",
        Command::new(bin_dir.join("assent-relay"))
            .arg("--data-dir")
            .arg(lab.path("relay"))
            .args(["notifications", "watch"]),
        None,
    )?;
    let socket_path = host_dir.join("notify.sock");
    let mut socket = connect(&socket_path)?;
    let mut answers = BufReader::new(socket.try_clone()?);

    // Warm-up: the first notifications also pay for first-time work.
    let mut latencies = Vec::with_capacity(count);
    let mut seen = 0;
    for i in 0..count + 5 {
        let id = format!("bench-{i}");
        let line = format!(
            r#"{{"id":"{id}","severity":"warning","kind":"performance_issue","title":"Column temperature drifting","detail":"sample {i}"}}"#
        );
        std::thread::sleep(Duration::from_millis(20 + OsRng.next_u64() % 30));
        let started = Instant::now();
        socket.write_all(line.as_bytes())?;
        socket.write_all(b"\n")?;
        let mut answer = String::new();
        answers.read_line(&mut answer)?;
        if answer.trim() != "ok" {
            bail!("the intake refused notification {id}: {answer}");
        }
        let (index, _) = watch
            .try_wait_for_from(seen, &format!("id={id} "))
            .map_err(anyhow::Error::msg)?;
        let elapsed = started.elapsed();
        seen = index + 1;
        if i >= 5 {
            latencies.push(elapsed);
        }
    }
    report(&mut latencies);
    drop(run);
    Ok(())
}

fn report(latencies: &mut [Duration]) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "notification intake -> relay watch, {} notifications: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms (goal p50 < 50 ms)",
        latencies.len(),
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(0.99)),
        ms(latencies[latencies.len() - 1])
    );
}

/// The intake socket appears once `run` has started its intake.
fn connect(path: &std::path::Path) -> Result<UnixStream> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match UnixStream::connect(path) {
            Ok(s) => return Ok(s),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(e).with_context(|| format!("connecting to {}", path.display())),
        }
    }
}

fn binaries() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("ASSENT_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "assent-relay",
            "-p",
            "assent-host",
        ])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building the release binaries failed");
    }
    Ok(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release"))
}
