//! Shared test keys. RSA-4096 generation takes seconds to tens of seconds, so
//! each key is made once per test binary (`OnceLock`) and reused by every
//! module's unit tests. Keys are also cached in the system temp directory,
//! written and read through `Identity::save`/`load` (so a concurrent run sees
//! a whole key or none); any problem with the cache falls back to generating.

use std::path::PathBuf;
use std::sync::OnceLock;

use rand_core::OsRng;

use super::{Identity, IdentityError};

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

/// The instrument controller's device key.
pub(crate) fn host() -> &'static Identity {
    static KEY: OnceLock<Identity> = OnceLock::new();
    KEY.get_or_init(|| cached_or_generated("host"))
}

/// An enrolled support engineer.
pub(crate) fn viewer() -> &'static Identity {
    static KEY: OnceLock<Identity> = OnceLock::new();
    KEY.get_or_init(|| cached_or_generated("viewer"))
}

/// The operator who signs allowlists.
pub(crate) fn operator() -> &'static Identity {
    static KEY: OnceLock<Identity> = OnceLock::new();
    KEY.get_or_init(|| cached_or_generated("operator"))
}

/// A fourth, unrelated key (an impostor, a stranger, another operator).
pub(crate) fn other() -> &'static Identity {
    static KEY: OnceLock<Identity> = OnceLock::new();
    KEY.get_or_init(|| cached_or_generated("other"))
}
