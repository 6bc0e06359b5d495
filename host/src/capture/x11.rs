//! [`X11Screen`]: the X11 [`ScreenSource`]. Pixels come from `scrap`
//! (MIT-SHM `GetImage` into shared memory, no copy); the pointer and its image
//! come from a second, pure-Rust `x11rb` connection, which also notices a
//! resolution change or a dead X server (scrap silently returns stale pixels
//! in both cases).

use std::ffi::CString;
use std::rc::Rc;

use assent_proto::messages::screen::CursorUpdate;
use assent_proto::screen_codec::CapturedFrame;
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::xfixes::ConnectionExt as _;
use x11rb::protocol::xproto::{ConnectionExt as _, Window};
use x11rb::rust_connection::RustConnection;

use super::cursor::{CursorImage, CursorTracker};
use super::{CaptureError, ScreenSource};

/// Bytes per captured pixel (B, G, R, X).
const BYTES_PER_PIXEL: usize = 4;

/// The whole screen of an X display (every monitor), captured through
/// MIT-SHM. Pixel, cursor and injected pointer positions all use the root
/// window's coordinates.
///
/// Not `Send`: scrap's capturer holds a raw xcb connection and shared memory
/// it must not share across threads. Create the `X11Screen` on the thread
/// that captures, and keep it there.
pub struct X11Screen {
    display: String,
    conn: RustConnection,
    screen_index: usize,
    root: Window,
    /// Root window size the capturer was built for; a different size means
    /// the resolution changed and the capturer must be re-created.
    size: (u16, u16),
    capturer: scrap::x11::Capturer,
    cursor: CursorTracker,
}

impl X11Screen {
    /// Connects to `display` (e.g. `":0"`), or to `$DISPLAY` when `None`.
    pub fn open(display: Option<&str>) -> Result<X11Screen, CaptureError> {
        let display = match display {
            Some(name) => name.to_owned(),
            None => std::env::var("DISPLAY")
                .ok()
                .filter(|name| !name.is_empty())
                .ok_or_else(|| CaptureError::NoDisplay {
                    detail: "DISPLAY is not set".into(),
                })?,
        };
        let (conn, screen_index) =
            x11rb::connect(Some(&display)).map_err(|e| CaptureError::NoDisplay {
                detail: format!("cannot connect to {display}: {e}"),
            })?;
        // Without MIT-SHM scrap's requests fail silently and it returns a
        // blank image, so check first; XFixes gives the cursor image.
        for extension in ["MIT-SHM", "XFIXES"] {
            let present = conn
                .extension_information(extension)
                .map_err(|e| lost(&display, e))?
                .is_some();
            if !present {
                return Err(CaptureError::MissingExtension { display, extension });
            }
        }
        // XFixes answers GetCursorImage only after the version handshake.
        conn.xfixes_query_version(4, 0)
            .map_err(|e| lost(&display, e))?
            .reply()
            .map_err(|e| lost(&display, e))?;
        let root = conn.setup().roots[screen_index].root;
        let size = root_size(&conn, root, &display)?;
        let capturer = open_capturer(&display, screen_index, root, size)?;
        Ok(X11Screen {
            display,
            conn,
            screen_index,
            root,
            size,
            capturer,
            cursor: CursorTracker::default(),
        })
    }

    /// The display this screen reads, e.g. `":0"`.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// Re-creates the capturer when the root window changed size: scrap's
    /// buffer is sized once, at creation.
    fn follow_resolution_change(&mut self) -> Result<(), CaptureError> {
        let now = root_size(&self.conn, self.root, &self.display)?;
        if now != self.size {
            tracing::info!(
                display = %self.display,
                width = now.0,
                height = now.1,
                "screen resolution changed; re-creating the capturer"
            );
            self.capturer = open_capturer(&self.display, self.screen_index, self.root, now)?;
            self.size = now;
        }
        Ok(())
    }
}

impl ScreenSource for X11Screen {
    fn size(&self) -> (u32, u32) {
        (u32::from(self.size.0), u32::from(self.size.1))
    }

    fn capture(&mut self) -> Result<CapturedFrame<'_>, CaptureError> {
        self.follow_resolution_change()?;
        let (width, height) = self.size();
        let stride = width as usize * BYTES_PER_PIXEL;
        // scrap issues each GetImage at the end of the previous `frame()` but
        // xcb sends it only when the next `frame()` waits for the reply, so
        // this image is the screen as it is now (the integration test
        // `capture_shows_a_change_drawn_just_before_it` holds us to that).
        let bgrx = self.capturer.frame();
        let needed = stride * height as usize;
        if bgrx.len() < needed {
            return Err(CaptureError::CaptureFailed {
                reason: format!(
                    "scrap returned {} bytes for a {width}×{height} screen",
                    bgrx.len()
                ),
            });
        }
        Ok(CapturedFrame {
            width,
            height,
            stride,
            bgrx: &bgrx[..needed],
        })
    }

    fn cursor(&mut self) -> Result<Option<CursorUpdate>, CaptureError> {
        let pointer = self
            .conn
            .query_pointer(self.root)
            .map_err(|e| lost(&self.display, e))?
            .reply()
            .map_err(|e| lost(&self.display, e))?;
        if !pointer.same_screen {
            return Ok(None);
        }
        let image = self
            .conn
            .xfixes_get_cursor_image()
            .map_err(|e| lost(&self.display, e))?
            .reply()
            .map_err(|e| lost(&self.display, e))?;
        let shape = self.cursor.shape_if_changed(&CursorImage {
            serial: image.cursor_serial,
            width: image.width,
            height: image.height,
            hot_x: image.xhot,
            hot_y: image.yhot,
            argb: &image.cursor_image,
        });
        Ok(Some(CursorUpdate {
            x: i32::from(pointer.root_x),
            y: i32::from(pointer.root_y),
            visible: true,
            shape,
        }))
    }
}

/// Opens scrap's capturer on the whole root window of `screen_index`.
///
/// We build scrap's `Display` ourselves instead of listing RandR monitors
/// through scrap: its monitor iterator reads a reply it has already freed,
/// and capturing the whole root keeps captured pixels, cursor positions and
/// injected pointer positions in the same (root) coordinates.
fn open_capturer(
    display: &str,
    screen_index: usize,
    root: Window,
    (width, height): (u16, u16),
) -> Result<scrap::x11::Capturer, CaptureError> {
    let name = CString::new(display).map_err(|_| CaptureError::NoDisplay {
        detail: format!("display name {display:?} contains a NUL byte"),
    })?;
    let server =
        scrap::x11::Server::connect(name.as_ptr().cast()).map_err(|e| CaptureError::NoDisplay {
            detail: format!("xcb cannot connect to {display}: {e:?}"),
        })?;
    if usize::try_from(server.screenp()).ok() != Some(screen_index) {
        return Err(CaptureError::CaptureFailed {
            reason: format!(
                "xcb and x11rb chose different screens of {display} ({} and {screen_index})",
                server.screenp()
            ),
        });
    }
    let rect = scrap::x11::Rect {
        x: 0,
        y: 0,
        w: width,
        h: height,
    };
    // SAFETY: `Display::new` is `unsafe` only because scrap trusts `root` and
    // `rect` to describe a window on `server`. They do: `root` is the root
    // window of the same screen (checked above) and `rect` its current
    // geometry. Were they stale, the X server would refuse the GetImage and
    // scrap would hand back an old image, not touch invalid memory.
    let whole_screen = unsafe { scrap::x11::Display::new(Rc::new(server), true, rect, root) };
    let capturer =
        scrap::x11::Capturer::new(whole_screen).map_err(|e| CaptureError::CaptureFailed {
            reason: format!("cannot set up shared-memory capture on {display}: {e}"),
        })?;
    Ok(capturer)
}

fn root_size(
    conn: &RustConnection,
    root: Window,
    display: &str,
) -> Result<(u16, u16), CaptureError> {
    let geometry = conn
        .get_geometry(root)
        .map_err(|e| lost(display, e))?
        .reply()
        .map_err(|e| lost(display, e))?;
    Ok((geometry.width, geometry.height))
}

fn lost(display: &str, error: impl std::fmt::Display) -> CaptureError {
    CaptureError::ConnectionLost {
        display: display.to_owned(),
        reason: error.to_string(),
    }
}
