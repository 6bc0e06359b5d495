//! Every message of the relay signalling protocol and of the end-to-end
//! session, one module per concern. Envelope codes and bounds are in
//! [`crate::wire::MessageType`].

pub mod audit_event;
pub mod consent;
#[cfg(feature = "file-transfer")]
pub mod file_transfer;
pub mod handshake;
pub mod input;
pub mod notification;
pub mod screen;
pub mod session;
pub mod signalling;
