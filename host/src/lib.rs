//! `assent-host` as a library, so integration tests can drive its parts
//! under a real X server; `main.rs` is only the command line.
//!
//! | module | owns | requirements |
//! | --- | --- | --- |
//! | [`config`] | data directory: identity, pins, `host.toml` | R1, R2, R4 |
//! | [`anchor_files`] | trust anchors: safe writes, owner and mode checked at load | R7, R16, R21 |
//! | [`enroll`] | one-time enrolment, PHI approval | R11, R13 |
//! | [`run`] | always-on presence with reconnect | R1, R13 |
//! | [`relay_link`] | login, allowlist verification, audit reports | R6, R7, R12 |
//! | [`support`] | support request, one-time password, handshakes with lockout | R5, R6, R9 |
//! | [`session`] | consent per capability, revocation, the session's tasks | R10, R12 |
//! | [`technician`] | consent prompts (terminal and dialog), commands, input pause | R10 |
//! | [`consent_dialog`] | the technician's X11 windows: consent dialog, session window | R10 |
//! | [`screen_stream`] | capture → tiles → paced frames, only while granted | R10, R17 |
//! | [`grant_gate`] | frames and file chunks sealed only under their grant | R10 |
//! | [`remote_input`] | injection only while granted; dropped input audited | R10 |
//! | [`capture`] | X11 screen and cursor capture | R17 |
//! | [`control`] | X11 input injection, no stuck keys, rate limit | R10 |
//! | [`notifications`] | local intake, Assent's own checks, durable queue to the relay | R15 |
//! | [`upgrade`] | signed upgrades: check, approve, install, roll back | R16 |
//! | `file_transfer` | files both ways (absent from PHI builds) | R11, R12 |

pub mod allowlist_serial;
pub mod allowlist_watch;
pub mod anchor_files;
pub mod capture;
pub mod config;
pub mod consent_dialog;
pub mod control;
pub mod enroll;
#[cfg(feature = "file-transfer")]
pub mod file_transfer;
pub mod grant_gate;
pub mod notifications;
pub mod platform;
pub mod relay_link;
pub mod remote_input;
pub mod run;
pub mod screen_stream;
pub mod session;
pub mod support;
pub mod technician;
pub mod upgrade;
