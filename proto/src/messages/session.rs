//! Every message that travels inside end-to-end records between viewer and
//! host (R10, R11, R15, R17): consent, screen, input, file transfer and
//! notifications, behind one decoder the shells dispatch on.
//!
//! A record's plaintext is exactly one frame (envelope plus payload), so
//! [`SessionMessage::from_frame_bytes`] is what a shell calls on an opened
//! record. On a PHI build (R11) a file-transfer frame is refused with
//! [`crate::wire::DecodeError::Unavailable`] carrying
//! [`crate::wire::FILE_TRANSFER_UNAVAILABLE`]: that is an answerable request
//! ([`SessionError::from_decode_error`]), not a broken stream.

use super::consent::{
    Capability, CapabilityDecision, CapabilityRequest, CapabilityRevoked, SessionEnd, SessionError,
};
#[cfg(feature = "file-transfer")]
use super::file_transfer::{FileAbort, FileChunk, FileComplete, FileOffer, FileOfferAnswer};
use super::input::{KeyEvent, PointerButton, PointerMove, Wheel};
use super::notification::{Notification, NotificationCleared};
use super::screen::{CursorUpdate, FrameUpdate, ScreenInfo};
use crate::handshake::Channel;
use crate::wire::Text;

#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;

/// Declares a dispatch enum over message types: one variant per type, named
/// like its [`crate::wire::MessageType`], with `decode`, `from_frame_bytes`,
/// `message_type`, `to_frame` and `From` for each message. A type the channel
/// does not carry is refused, never guessed at.
#[doc(hidden)]
#[macro_export]
macro_rules! dispatch_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident on $channel:literal {
            $( $(#[cfg($cfg:meta)])? $variant:ident($ty:ty) ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $( $(#[cfg($cfg)])? $variant($ty), )*
        }

        impl $name {
            /// Decodes a frame of any type this channel carries; a frame of
            /// another type is refused.
            pub fn decode(
                frame: &$crate::wire::Frame,
            ) -> Result<Self, $crate::wire::DecodeError> {
                match frame.message_type {
                    $(
                        $(#[cfg($cfg)])?
                        $crate::wire::MessageType::$variant => Ok(Self::$variant(frame.decode()?)),
                    )*
                    other => Err($crate::wire::DecodeError::InvalidValue {
                        what: concat!("message type on the ", $channel, " channel"),
                        value: u64::from(other.code()),
                    }),
                }
            }

            /// Decodes exactly one complete frame (header and payload, nothing
            /// after it), e.g. the plaintext of one record.
            pub fn from_frame_bytes(bytes: &[u8]) -> Result<Self, $crate::wire::DecodeError> {
                let mut r = $crate::wire::Reader::new(bytes);
                let header = $crate::wire::Header::decode(&r.array()?)?;
                let payload = r.take(header.len as usize)?;
                r.finish()?;
                Self::decode(&$crate::wire::Frame {
                    message_type: header.message_type,
                    payload: payload.to_vec(),
                })
            }

            pub fn message_type(&self) -> $crate::wire::MessageType {
                match self {
                    $(
                        $(#[cfg($cfg)])?
                        Self::$variant(_) => $crate::wire::MessageType::$variant,
                    )*
                }
            }

            /// Encodes as a complete frame; refuses a payload over the type's bound.
            pub fn to_frame(&self) -> Result<Vec<u8>, $crate::wire::DecodeError> {
                match self {
                    $(
                        $(#[cfg($cfg)])?
                        Self::$variant(m) => $crate::wire::Message::to_frame(m),
                    )*
                }
            }
        }

        $(
            $(#[cfg($cfg)])?
            impl From<$ty> for $name {
                fn from(m: $ty) -> Self {
                    Self::$variant(m)
                }
            }
        )*
    };
}

crate::dispatch_enum! {
    /// Any message carried inside an end-to-end record.
    pub enum SessionMessage on "end-to-end session" {
        CapabilityRequest(CapabilityRequest),
        CapabilityDecision(CapabilityDecision),
        CapabilityRevoked(CapabilityRevoked),
        SessionError(SessionError),
        SessionEnd(SessionEnd),
        ScreenInfo(ScreenInfo),
        FrameUpdate(FrameUpdate),
        CursorUpdate(CursorUpdate),
        PointerMove(PointerMove),
        PointerButton(PointerButton),
        Wheel(Wheel),
        KeyEvent(KeyEvent),
        #[cfg(feature = "file-transfer")]
        FileOffer(FileOffer),
        #[cfg(feature = "file-transfer")]
        FileOfferAnswer(FileOfferAnswer),
        #[cfg(feature = "file-transfer")]
        FileChunk(FileChunk),
        #[cfg(feature = "file-transfer")]
        FileComplete(FileComplete),
        #[cfg(feature = "file-transfer")]
        FileAbort(FileAbort),
        Notification(Notification),
        NotificationCleared(NotificationCleared),
    }
}

impl SessionMessage {
    /// The capability that must be granted before the host sends (screen,
    /// file data) or acts on (input) this message (R10); `None` for consent
    /// traffic, errors and notifications, which flow in any consent state.
    pub fn capability(&self) -> Option<Capability> {
        match self {
            Self::ScreenInfo(_) | Self::FrameUpdate(_) | Self::CursorUpdate(_) => {
                Some(Capability::ScreenView)
            }
            Self::PointerMove(_) | Self::PointerButton(_) | Self::Wheel(_) | Self::KeyEvent(_) => {
                Some(Capability::RemoteControl)
            }
            #[cfg(feature = "file-transfer")]
            Self::FileOffer(_)
            | Self::FileOfferAnswer(_)
            | Self::FileChunk(_)
            | Self::FileComplete(_)
            | Self::FileAbort(_) => Some(Capability::FileTransfer),
            Self::CapabilityRequest(_)
            | Self::CapabilityDecision(_)
            | Self::CapabilityRevoked(_)
            | Self::SessionError(_)
            | Self::SessionEnd(_)
            | Self::Notification(_)
            | Self::NotificationCleared(_) => None,
        }
    }
}

impl SessionMessage {
    /// The end-to-end channel (its own QUIC stream and keys) this message
    /// travels on; a receiver refuses it on any other, so, for example,
    /// input can never arrive disguised as screen traffic.
    pub fn channel(&self) -> Channel {
        match self {
            Self::ScreenInfo(_) | Self::FrameUpdate(_) | Self::CursorUpdate(_) => Channel::Screen,
            Self::PointerMove(_) | Self::PointerButton(_) | Self::Wheel(_) | Self::KeyEvent(_) => {
                Channel::Input
            }
            #[cfg(feature = "file-transfer")]
            Self::FileOffer(_)
            | Self::FileOfferAnswer(_)
            | Self::FileChunk(_)
            | Self::FileComplete(_)
            | Self::FileAbort(_) => Channel::Files,
            Self::Notification(_) | Self::NotificationCleared(_) => Channel::Notifications,
            Self::CapabilityRequest(_)
            | Self::CapabilityDecision(_)
            | Self::CapabilityRevoked(_)
            | Self::SessionError(_)
            | Self::SessionEnd(_) => Channel::Control,
        }
    }
}

/// Text for a peer-facing message built from arbitrary local text (an error's
/// `Display`, a path): control characters become spaces and it is cut at a
/// character boundary to fit, so building an error message never fails.
pub fn lossy_text<const MAX: usize>(text: &str) -> Text<MAX> {
    let mut out = String::with_capacity(text.len().min(MAX));
    for c in text.chars() {
        let c = if c.is_control() && c != '\n' && c != '\t' {
            ' '
        } else {
            c
        };
        if out.len() + c.len_utf8() > MAX {
            break;
        }
        out.push(c);
    }
    // Cannot fail: every character was filtered and the length checked above.
    Text::new(out).unwrap_or_default()
}
