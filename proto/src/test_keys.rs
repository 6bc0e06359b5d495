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

use crate::identity::{Identity, IdentityError};

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
