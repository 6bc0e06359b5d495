//! Screen capture (R10 screen view, R17): what the host reads off the
//! instrument PC's screen, behind the small [`ScreenSource`] trait so the
//! session logic never touches a platform crate and tests can substitute a
//! synthetic screen.
//!
//! [`X11Screen`] is the X11 implementation: pixels through `scrap` (MIT-SHM),
//! the pointer position and image through `x11rb` (core protocol + XFixes).

mod cursor;
mod x11;

use assent_proto::messages::screen::CursorUpdate;
use assent_proto::screen_codec::CapturedFrame;

pub use x11::X11Screen;

/// A screen the host can stream: its size, its current image and its cursor.
pub trait ScreenSource {
    /// Size of the images [`capture`](Self::capture) returns, in pixels. It
    /// may change after a `capture` call when the screen's resolution
    /// changed; the caller then tells the viewer (`ScreenInfo`).
    fn size(&self) -> (u32, u32);

    /// The screen as it is now: BGRX, 4 bytes per pixel. Blocks for as long
    /// as the read takes (well under a millisecond on X11 at 1280×800).
    fn capture(&mut self) -> Result<CapturedFrame<'_>, CaptureError>;

    /// Where the pointer is; the image only when it changed since the last
    /// call. `None` when the pointer is not on this screen.
    fn cursor(&mut self) -> Result<Option<CursorUpdate>, CaptureError>;
}

impl<S: ScreenSource + ?Sized> ScreenSource for Box<S> {
    fn size(&self) -> (u32, u32) {
        (**self).size()
    }

    fn capture(&mut self) -> Result<CapturedFrame<'_>, CaptureError> {
        (**self).capture()
    }

    fn cursor(&mut self) -> Result<Option<CursorUpdate>, CaptureError> {
        (**self).cursor()
    }
}

/// Why the screen could not be read. Each variant is something different
/// the host can tell the technician or act on.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// Nothing to connect to: no `DISPLAY`, or the X server refused us.
    #[error("no X display ({detail}): set DISPLAY or start the host inside an X session")]
    NoDisplay { detail: String },
    /// The X server lacks an extension capture needs.
    #[error("X display {display} lacks the {extension} extension, which screen capture needs: run the host on an X server that has it (Xorg and Xvfb do)")]
    MissingExtension {
        display: String,
        extension: &'static str,
    },
    /// Reading the screen failed after the connection was set up.
    #[error("screen capture failed: {reason}; stop screen view and start it again")]
    CaptureFailed { reason: String },
    /// The X connection broke (the X session ended or the server died).
    #[error("lost the connection to X display {display} ({reason}): the X session ended; restart the host inside the new session")]
    ConnectionLost { display: String, reason: String },
}
