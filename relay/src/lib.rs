//! `assent-relay`: the QUIC relay operators deploy — the only listening
//! server in Assent (R1). It brokers hosts and viewers, decides who may reach
//! a host before the host hears of them (R7, R8, R9), counts failures and
//! abnormal patterns (R6, R14), keeps the sealed audit trail and registry
//! (R12, R13), and forwards end-to-end encrypted sessions it cannot read (R3).
//!
//! | module | owns |
//! | --- | --- |
//! | [`server`] | accepting connections, login, pairing, blind forwarding |
//! | [`board`] | open support requests and who is paired with them |
//! | [`intrusion`] | intrusion detection, admission throttling before login, engineer-identity bans |
//! | [`store`] | the state store trait, SQLite implementation, sealed columns |
//! | [`config`] | TOML + environment + flags configuration |
//! | [`metrics`] | Prometheus counters and the `/metrics` endpoint |
//! | [`notifier`] | location-confirmation codes by outbox file or SMTP |
//! | [`tls`] | the relay certificate: operator-supplied or generated and pinned |

pub mod admin;
pub mod board;
pub(crate) mod civil_time;
pub mod config;
pub mod intrusion;
pub mod metrics;
pub mod notifier;
pub mod server;
pub mod store;
pub mod tls;
