//! `assent-proto`: everything Assent's security rests on, as pure code.
//!
//! Sans-IO by rule: no sockets, no tasks, no clock reads. Bytes, keys and
//! `Instant`s go in; bytes, keys and decisions come out. The relay, host and
//! viewer are shells that move bytes between QUIC streams and these state
//! machines. The wire format and rationale are in `PROTOCOL.md`.
//!
//! | module | owns | requirements |
//! | --- | --- | --- |
//! | [`wire`] | envelope, message registry, canonical encoding | bad input |
//! | [`messages`] | every message, one module per concern | R9–R12, R15 |
//! | [`civil_time`] | UTC calendar dates for listings and certificates | — |
//! | [`identity`] | RSA-4096 identities, fingerprints, PSS signatures | R4 |
//! | [`instrument`] | instrument models that hold PHI | R11 |
//! | [`allowlist`] | operator-signed list of viewer identities | R7 |
//! | [`handshake`] | x25519 + SPAKE2 + RSA handshake as typed states | R3–R5 |
//! | [`record`] | ChaCha20-Poly1305 records, replay defence, rekeying | R3 |
//! | [`password`] | one-time session passwords | R5 |
//! | [`lockout`] | exponential lockout and burning | R6 |
//! | [`consent`] | per-capability consent state machine | R10 |
//! | [`host_session`] | the host's whole session: admission, prompts, grants, channels | R9, R10, R12 |
//! | [`audit`] | sealed, hash-chained audit records and their verifier | R12 |
//! | [`screen_codec`] | lossless damage-tracked tile codec for screen frames | R17 |
//! | [`pacing`] | frame pacing under a bandwidth budget | R17 |
//! | [`file_transfer`] | file names, transfer state (absent from PHI builds) | R11, R12 |
//! | [`notification_intake`] | the host's local JSON notification intake | R15 |
//! | [`release`] | signed release manifests, upgrade decisions, package checks | R16 |
//! | [`secret_file`] | owner-only key files, never half-written or overwritten | R4, R13 |

#![forbid(unsafe_code)]

pub mod allowlist;
pub mod audit;
pub mod civil_time;
pub mod consent;
#[cfg(feature = "file-transfer")]
pub mod file_transfer;
pub mod handshake;
pub mod host_session;
pub mod identity;
pub mod instrument;
pub mod lockout;
pub mod messages;
pub mod notification_intake;
pub mod pacing;
pub mod password;
pub mod record;
pub mod release;
pub mod screen_codec;
pub mod secret_file;
#[cfg(any(test, feature = "test-support"))]
pub mod test_keys;
pub mod wire;
