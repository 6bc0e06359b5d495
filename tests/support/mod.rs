//! Shared helpers for the end-to-end tests: they run the real binaries.

#![allow(dead_code)]

pub mod lab;
pub mod rogue;
pub mod sockets;
pub mod xvfb;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Path to a workspace binary, built once per test process (so `cargo test -p
/// assent` works on its own, not only inside `cargo test --workspace`).
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "assent-relay",
                "-p",
                "assent-host",
                "-p",
                "assent-viewer",
            ])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the binaries failed");
    });
    let mut dir = std::env::current_exe().expect("test binary path");
    dir.pop(); // deps/
    dir.pop(); // debug/
    dir.join(name)
}
