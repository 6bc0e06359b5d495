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

/// The primary monitor of an X display, captured through MIT-SHM.
///
/// Not `Send`: scrap's capturer holds a raw xcb connection and shared memory
/// it must not share across threads. Create the `X11Screen` on the thread
/// that captures, and keep it there.
pub struct X11Screen {
    display: String,
    conn: RustConnection,
    root: Window,
    /// Root window size the capturer was built for; a different size means
    /// the resolution changed and the capturer must be re-created.
    root_size: (u16, u16),
    monitor: Monitor,
    capturer: scrap::x11::Capturer,
    cursor: CursorTracker,
}

/// Where the captured monitor lies on the X screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Monitor {
    x: i16,
    y: i16,
    width: u32,
    height: u32,
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
        // scrap needs MIT-SHM and RandR and crashes without RandR, so check
        // first; XFixes gives the cursor image.
        for extension in ["MIT-SHM", "RANDR", "XFIXES"] {
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
        let root_size = root_size(&conn, root, &display)?;
        let (capturer, monitor) = open_capturer(&display)?;
        Ok(X11Screen {
            display,
            conn,
            root,
            root_size,
            monitor,
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
        if now != self.root_size {
            tracing::info!(
                display = %self.display,
                width = now.0,
                height = now.1,
                "screen resolution changed; re-creating the capturer"
            );
            let (capturer, monitor) = open_capturer(&self.display)?;
            self.capturer = capturer;
            self.monitor = monitor;
            self.root_size = now;
        }
        Ok(())
    }
}

impl ScreenSource for X11Screen {
    fn size(&self) -> (u32, u32) {
        (self.monitor.width, self.monitor.height)
    }

    fn capture(&mut self) -> Result<CapturedFrame<'_>, CaptureError> {
        self.follow_resolution_change()?;
        let Monitor { width, height, .. } = self.monitor;
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
            // Relative to the captured monitor, like the pixels.
            x: i32::from(pointer.root_x) - i32::from(self.monitor.x),
            y: i32::from(pointer.root_y) - i32::from(self.monitor.y),
            visible: true,
            shape,
        }))
    }
}

/// Opens scrap's capturer on the display's primary monitor (the first one
/// when none is marked primary, as under Xvfb).
fn open_capturer(display: &str) -> Result<(scrap::x11::Capturer, Monitor), CaptureError> {
    let name = CString::new(display).map_err(|_| CaptureError::NoDisplay {
        detail: format!("display name {display:?} contains a NUL byte"),
    })?;
    let server =
        scrap::x11::Server::connect(name.as_ptr().cast()).map_err(|e| CaptureError::NoDisplay {
            detail: format!("xcb cannot connect to {display}: {e:?}"),
        })?;
    let mut monitors: Vec<scrap::x11::Display> =
        scrap::x11::Server::displays(Rc::new(server)).collect();
    let primary = monitors.iter().position(|m| m.is_default()).unwrap_or(0);
    if monitors.is_empty() {
        return Err(CaptureError::NoMonitor {
            display: display.to_owned(),
        });
    }
    let chosen = monitors.swap_remove(primary);
    let rect = chosen.rect();
    let monitor = Monitor {
        x: rect.x,
        y: rect.y,
        width: u32::from(rect.w),
        height: u32::from(rect.h),
    };
    let capturer = scrap::x11::Capturer::new(chosen).map_err(|e| CaptureError::CaptureFailed {
        reason: format!("cannot set up shared-memory capture on {display}: {e}"),
    })?;
    Ok((capturer, monitor))
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
