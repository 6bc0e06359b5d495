//! `assent-viewer` as a library: the support engineer's side of Assent.
//!
//! | module | owns |
//! | --- | --- |
//! | [`identity`] | the engineer's RSA-4096 key, its public half, the device ID (R4, R7, R8) |
//! | [`connect`] | relay login, location confirmation, pairing, password, handshake (R1–R8) |
//! | [`session`] | channels, one-at-a-time consent requests, screen decoding, input gating (R3, R10) |
//! | [`files`] | file transfer: Files channel, auto-accept only while granted, send queue (R10–R12) |
//! | [`notifications`] | the host's active notifications, their lines, the Notifications channel (R15) |
//! | [`headless`] | `connect --headless`: screenshots, frame counts, scripted input |
//! | [`gui`] | the session shown in the [`window`] |
//! | [`stats`] | `--stats` arithmetic (R17) |
//! | [`window`] | the window onto the remote screen (winit + softbuffer) |
//! | [`atomic_file`] | whole-or-nothing file writes |

pub mod atomic_file;
pub mod connect;
pub mod files;
pub mod gui;
pub mod headless;
pub mod identity;
pub mod notifications;
pub mod session;
pub mod stats;
pub mod window;
