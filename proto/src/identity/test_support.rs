//! Shared test keys: RSA-4096 generation takes seconds, so each key is made
//! once per test binary and reused by every module's unit tests.

use std::sync::OnceLock;

use rand_core::OsRng;

use super::Identity;

fn once(cell: &'static OnceLock<Identity>) -> &'static Identity {
    cell.get_or_init(|| Identity::generate(&mut OsRng).expect("test key generation"))
}

/// The instrument controller's device key.
pub(crate) fn host() -> &'static Identity {
    static KEY: OnceLock<Identity> = OnceLock::new();
    once(&KEY)
}

/// An enrolled support engineer.
pub(crate) fn viewer() -> &'static Identity {
    static KEY: OnceLock<Identity> = OnceLock::new();
    once(&KEY)
}

/// The operator who signs allowlists.
pub(crate) fn operator() -> &'static Identity {
    static KEY: OnceLock<Identity> = OnceLock::new();
    once(&KEY)
}

/// A fourth, unrelated key (an impostor, a stranger, another operator).
pub(crate) fn other() -> &'static Identity {
    static KEY: OnceLock<Identity> = OnceLock::new();
    once(&KEY)
}
