//! Shared helpers for the end-to-end tests: they run the real binaries.

#![allow(dead_code)]

pub mod hostile_relay;
pub mod rogue;
pub mod sockets;

pub use assent::lab;

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

/// A lab with the cached test keys and the full host build.
pub fn lab(model: &str) -> lab::Lab {
    lab_with(model, binary("assent-host"))
}

/// A lab running the given `assent-host` build.
pub fn lab_with(model: &str, host_binary: PathBuf) -> lab::Lab {
    lab::Lab::start(lab::LabOptions {
        bin_dir: binary("assent-relay").parent().unwrap().to_path_buf(),
        host_binary,
        model: model.to_owned(),
        profile: None,
        keys: lab::LabKeys::Provided {
            operator: assent_proto::test_keys::key("operator"),
            viewer: assent_proto::test_keys::key("viewer"),
            host: assent_proto::test_keys::key("host"),
        },
        echo: false,
    })
    .unwrap_or_else(|e| panic!("{e:#}"))
}

/// One number the relay's database holds (`sql` selects one integer).
pub fn relay_count(lab: &lab::Lab, sql: &str) -> i64 {
    let db = rusqlite::Connection::open(lab.relay_dir().join("relay.db")).expect("open relay.db");
    db.busy_timeout(std::time::Duration::from_secs(10))
        .expect("set a busy timeout");
    db.query_row(sql, [], |row| row.get(0))
        .unwrap_or_else(|e| panic!("running {sql:?} on relay.db: {e}"))
}

/// Runs SQL on the relay's database (while it runs, as a tampering relay
/// could, or to set up a state that is slow to reach otherwise).
pub fn relay_sql(lab: &lab::Lab, sql: &str) {
    let db = rusqlite::Connection::open(lab.relay_dir().join("relay.db")).expect("open relay.db");
    db.busy_timeout(std::time::Duration::from_secs(10))
        .expect("set a busy timeout");
    db.execute_batch(sql)
        .unwrap_or_else(|e| panic!("running {sql:?} on relay.db: {e}"));
}
