//! Shared test keys (crate feature `test-support`, and this crate's own
//! tests). RSA-4096 generation takes seconds to tens of seconds, so each key
//! is made once per test process and reused by every test, in this crate and
//! in the relay, host and viewer test suites. Keys are also cached in the system temp directory,
//! written and read through `Identity::save`/`load` (so a concurrent run sees
//! a whole key or none); any problem with the cache falls back to generating.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use rand_core::OsRng;

use crate::allowlist::{AllowList, AllowListEntry};
use crate::handshake::host::HostCredentials;
use crate::handshake::viewer::{self, ViewerConfig};
use crate::handshake::SessionKeys;
use crate::identity::{Identity, IdentityError};
use crate::password::{OneTimePassword, StretchParams};
use crate::wire::{List, Text};

fn cache_path(name: &str) -> Option<PathBuf> {
    let dir = std::env::temp_dir().join("assent-test-keys-v1");
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join(format!("{name}.pem")))
}

fn cached_or_generated(name: &str) -> Identity {
    let path = cache_path(name);
    if let Some(identity) = path.as_deref().and_then(|p| Identity::load(p).ok()) {
        return identity;
    }
    let identity = Identity::generate(&mut OsRng).expect("test key generation");
    if let Some(path) = path {
        // Another test process may have won the race: use its key so runs agree.
        if let Err(IdentityError::AlreadyExists(_)) = identity.save(&path) {
            if let Ok(theirs) = Identity::load(&path) {
                return theirs;
            }
        }
    }
    identity
}

/// The test key called `name` ("host", "viewer", "operator", "other", or any
/// other name for more keys), shared for the life of the process.
pub fn key(name: &str) -> Arc<Identity> {
    static KEYS: OnceLock<Mutex<HashMap<String, Arc<Identity>>>> = OnceLock::new();
    let keys = KEYS.get_or_init(Default::default);
    let mut keys = keys.lock().unwrap_or_else(|p| p.into_inner());
    keys.entry(name.to_owned())
        .or_insert_with(|| Arc::new(cached_or_generated(name)))
        .clone()
}

fn named(cell: &'static OnceLock<Arc<Identity>>, name: &str) -> &'static Identity {
    cell.get_or_init(|| key(name))
}

/// The instrument controller's device key.
pub fn host() -> &'static Identity {
    static KEY: OnceLock<Arc<Identity>> = OnceLock::new();
    named(&KEY, "host")
}

/// An enrolled support engineer.
pub fn viewer() -> &'static Identity {
    static KEY: OnceLock<Arc<Identity>> = OnceLock::new();
    named(&KEY, "viewer")
}

/// The operator who signs allowlists.
pub fn operator() -> &'static Identity {
    static KEY: OnceLock<Arc<Identity>> = OnceLock::new();
    named(&KEY, "operator")
}

/// A fourth, unrelated key (an impostor, a stranger, another operator).
pub fn other() -> &'static Identity {
    static KEY: OnceLock<Arc<Identity>> = OnceLock::new();
    named(&KEY, "other")
}

/// Viewer and host keys of session `session_id`, from a real handshake
/// between the "viewer" and "host" keys, the viewer on an allowlist signed
/// by "operator" (fast argon2 parameters), for tests of what runs after it.
pub fn session_keys(session_id: [u8; 32]) -> (SessionKeys, SessionKeys) {
    const NOW: u64 = 1_800_000_000;
    let operator = operator();
    let entry = AllowListEntry {
        viewer: viewer().public().clone(),
        name: Text::new("Eve Engineer").unwrap(),
        email: Text::new("eve@example.com").unwrap(),
        expires_unix: u64::MAX,
    };
    let allowlist = AllowList {
        serial: 1,
        issued_unix: NOW - 60,
        expires_unix: NOW + 3600,
        entries: List::new(vec![entry]).unwrap(),
    }
    .sign(operator, &mut OsRng)
    .verify(operator.public(), NOW)
    .unwrap();
    let password = OneTimePassword::generate(&mut OsRng);
    let stretch = StretchParams::fast_for_tests();
    let host = HostCredentials::new(key("host"), &password, session_id, &stretch).unwrap();
    let config = ViewerConfig {
        identity: key("viewer"),
        password: &password,
        session_id,
        expected_host: self::host().fingerprint(),
        stretch,
    };
    let (expect_host_hello, hello) = viewer::start(config, &mut OsRng).unwrap();
    let (expect_viewer_finish, host_hello) =
        host.respond(&allowlist, NOW, &hello, &mut OsRng).unwrap();
    let (expect_host_finish, viewer_finish) = expect_host_hello
        .receive_host_hello(&host_hello, &mut OsRng)
        .unwrap();
    let (host_keys, host_finish) = expect_viewer_finish
        .receive_viewer_finish(&viewer_finish)
        .unwrap();
    let viewer_keys = expect_host_finish
        .receive_host_finish(&host_finish)
        .unwrap();
    (viewer_keys, host_keys)
}
