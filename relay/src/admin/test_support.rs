//! What the admin tests share: a real SQLite store in a temporary directory,
//! cached RSA-4096 test keys, and command lines parsed the way the binary
//! parses them.

use std::path::PathBuf;

use assent_proto::audit::ChainHead;
use assent_proto::identity::Identity;
use assent_proto::messages::audit_event::AuditEvent;
use assent_proto::wire::Text;
use clap::Parser;
use rand_core::OsRng;
use tempfile::TempDir;

use super::*;
use crate::store::SqliteStore;

// Test keys: the shared, cached RSA-4096 keys of `assent_proto::test_keys`.
pub(crate) fn viewer_key() -> &'static Identity {
    assent_proto::test_keys::viewer()
}
pub(crate) fn second_viewer_key() -> &'static Identity {
    assent_proto::test_keys::other()
}
pub(crate) fn operator_key() -> &'static Identity {
    assent_proto::test_keys::operator()
}
pub(crate) fn other_operator_key() -> &'static Identity {
    assent_proto::test_keys::host()
}

/// 2026-11-18T11:06:40Z.
pub(crate) const NOW: u64 = 1_795_000_000;
pub(crate) const DAY: u64 = 86_400;
pub(crate) const HOST_A: &str = "H-AAAA2222";
pub(crate) const HOST_B: &str = "H-BBBB3333";

/// The binary's argument shape, for parsing test command lines.
#[derive(Parser)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Subcommand)]
pub(crate) enum Cmd {
    #[command(subcommand)]
    Allowlist(AllowListCommand),
    #[command(subcommand)]
    Audit(AuditCommand),
}

pub(crate) fn parse(args: &[&str]) -> Result<Cmd, clap::Error> {
    Cli::try_parse_from(std::iter::once("assent-relay").chain(args.iter().copied()))
        .map(|cli| cli.command)
}

pub(crate) fn allowlist_cmd(args: &[&str]) -> AllowListCommand {
    let mut full = vec!["allowlist"];
    full.extend_from_slice(args);
    match parse(&full) {
        Ok(Cmd::Allowlist(cmd)) => cmd,
        other => panic!("{args:?} did not parse: {:?}", other.err()),
    }
}

pub(crate) fn audit_cmd(args: &[&str]) -> AuditCommand {
    let mut full = vec!["audit"];
    full.extend_from_slice(args);
    match parse(&full) {
        Ok(Cmd::Audit(cmd)) => cmd,
        other => panic!("{args:?} did not parse: {:?}", other.err()),
    }
}

pub(crate) struct Fixture {
    pub dir: TempDir,
    pub db: PathBuf,
    pub store: SqliteStore,
    pub data_key: DataKey,
    pub now: u64,
}

impl Fixture {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("relay.db");
        let data_key = DataKey::generate(&mut OsRng);
        let store = SqliteStore::open(&db, &data_key).unwrap();
        Self {
            dir,
            db,
            store,
            data_key,
            now: NOW,
        }
    }

    pub(crate) fn allowlist_as(
        &self,
        operator: Option<&Identity>,
        args: &[&str],
    ) -> (anyhow::Result<()>, String) {
        let cmd = allowlist_cmd(args);
        let mut out = Vec::new();
        let result = run_allowlist(
            &cmd,
            &mut AdminContext {
                store: &self.store,
                data_key: &self.data_key,
                operator,
                now_unix: self.now,
                out: &mut out,
            },
        );
        (result, String::from_utf8(out).unwrap())
    }

    /// Runs an allowlist command with the operator key; it must succeed.
    pub(crate) fn allowlist(&self, args: &[&str]) -> String {
        let (result, out) = self.allowlist_as(Some(operator_key()), args);
        result.unwrap_or_else(|e| panic!("{args:?}: {e:#}"));
        out
    }

    pub(crate) fn try_audit(&self, cmd: &AuditCommand) -> (anyhow::Result<AuditOutcome>, String) {
        let mut out = Vec::new();
        let outcome = run_audit(
            cmd,
            &mut AdminContext {
                store: &self.store,
                data_key: &self.data_key,
                operator: None,
                now_unix: self.now,
                out: &mut out,
            },
        );
        (outcome, String::from_utf8(out).unwrap())
    }

    /// Runs an audit command parsed from `args`; it must run.
    pub(crate) fn audit(&self, args: &[&str]) -> (AuditOutcome, String) {
        let (outcome, out) = self.try_audit(&audit_cmd(args));
        (outcome.unwrap_or_else(|e| panic!("{args:?}: {e:#}")), out)
    }

    /// Sequence numbers `audit list` shows for these arguments.
    pub(crate) fn listed(&self, args: &[&str]) -> Vec<u64> {
        let mut full = vec!["list"];
        full.extend_from_slice(args);
        let (outcome, out) = self.audit(&full);
        assert_eq!(outcome, AuditOutcome::Complete);
        out.lines()
            .skip(1)
            .filter_map(|line| line.split_whitespace().next()?.parse().ok())
            .collect()
    }

    /// Writes a viewer's public key as `assent-viewer keygen` prints it.
    pub(crate) fn key_file(&self, identity: &Identity) -> String {
        let path = self
            .dir
            .path()
            .join(format!("{}.pub.pem", identity.fingerprint().0[0]));
        std::fs::write(&path, pem("PUBLIC KEY", identity.public().spki_der())).unwrap();
        path.to_str().unwrap().to_owned()
    }

    pub(crate) fn add_viewer(&self, identity: &Identity, name: &str) -> String {
        let key = self.key_file(identity);
        self.allowlist(&add_args(&key, name, "engineer@service.example", &[]))
    }

    pub(crate) fn signed_list(&self) -> assent_proto::allowlist::VerifiedAllowList {
        let stored = self.store.latest_signed_allowlist().unwrap().unwrap();
        stored
            .document
            .verify(operator_key().public(), self.now)
            .unwrap()
    }

    pub(crate) fn append(&self, time_unix_ms: u64, event: AuditEvent) {
        let key = self.data_key.audit_key();
        self.store
            .append_audit(&mut |head: &ChainHead| {
                head.seal_next(&key, &mut OsRng, time_unix_ms, event.clone())
            })
            .unwrap();
    }

    /// A second connection to the database file: what a tamperer holds.
    pub(crate) fn raw(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.db).unwrap()
    }
}

/// `allowlist add` arguments for a key file, name and e-mail, then `extra`.
pub(crate) fn add_args<'a>(
    key: &'a str,
    name: &'a str,
    email: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec!["add", "--key", key, "--name", name, "--email", email];
    args.extend_from_slice(extra);
    args
}

pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    let body: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        body.join("\n")
    )
}

pub(crate) fn text<const N: usize>(s: &str) -> Text<N> {
    Text::new(s).unwrap()
}

pub(crate) fn admin_error(result: anyhow::Result<()>) -> AdminError {
    match result.map_err(|e| e.downcast::<AdminError>()) {
        Err(Ok(error)) => error,
        other => panic!("expected an AdminError, got {other:?}"),
    }
}
