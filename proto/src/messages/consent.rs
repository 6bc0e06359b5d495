//! Consent messages (R10): the engineer asks for each capability separately,
//! the technician answers each, and may revoke any grant at any time.

use crate::wire::{DecodeError, Field, Reader};

/// What an engineer may ask the technician for, one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    ScreenView,
    RemoteControl,
    /// Absent from PHI builds (R11).
    #[cfg(feature = "file-transfer")]
    FileTransfer,
}

impl Capability {
    /// Every capability this build can grant.
    pub const ALL: &'static [Capability] = &[
        Capability::ScreenView,
        Capability::RemoteControl,
        #[cfg(feature = "file-transfer")]
        Capability::FileTransfer,
    ];

    pub fn code(self) -> u8 {
        match self {
            Capability::ScreenView => 1,
            Capability::RemoteControl => 2,
            #[cfg(feature = "file-transfer")]
            Capability::FileTransfer => 3,
        }
    }

    /// Wire value to capability. On a PHI build, file transfer's code is
    /// recognised only to refuse it clearly.
    pub fn from_code(code: u8) -> Result<Self, DecodeError> {
        match code {
            1 => Ok(Capability::ScreenView),
            2 => Ok(Capability::RemoteControl),
            #[cfg(feature = "file-transfer")]
            3 => Ok(Capability::FileTransfer),
            #[cfg(not(feature = "file-transfer"))]
            3 => Err(DecodeError::Unavailable(crate::wire::FILE_TRANSFER_UNAVAILABLE)),
            v => Err(DecodeError::InvalidValue {
                what: "capability",
                value: u64::from(v),
            }),
        }
    }

    /// How the technician's prompt names it.
    pub fn label(self) -> &'static str {
        match self {
            Capability::ScreenView => "screen view",
            Capability::RemoteControl => "remote control",
            #[cfg(feature = "file-transfer")]
            Capability::FileTransfer => "file transfer",
        }
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

impl Field for Capability {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.code());
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::from_code(r.u8()?)
    }
}
