//! Drawing the remote screen into the window: a CPU copy of the visible
//! part of the frame into a softbuffer surface, then one present (MIT-SHM
//! `PutImage` on X11). No GPU, no scaling: the pixels the host captured are
//! the pixels on the engineer's screen.

use std::num::NonZeroU32;
use std::rc::Rc;
use std::sync::Arc;

use winit::window::Window;

use super::viewport::Viewport;

/// Colour of window area the remote screen does not cover (0x00RRGGBB).
pub const BACKGROUND: u32 = 0x0020_2428;

/// Half the length of the remote cursor marker's arms, in pixels.
const CURSOR_ARM: i64 = 6;

/// One complete remote screen, 0x00RRGGBB per pixel, row-major.
#[derive(Debug, Clone)]
pub struct RemoteFrame {
    width: u32,
    height: u32,
    pixels: Arc<Vec<u32>>,
}

impl RemoteFrame {
    /// `None` when `pixels` is not exactly `width * height` long, or the
    /// frame is empty.
    pub fn new(width: u32, height: u32, pixels: Arc<Vec<u32>>) -> Option<RemoteFrame> {
        let len = usize::try_from(u64::from(width) * u64::from(height)).ok()?;
        (len > 0 && pixels.len() == len).then_some(RemoteFrame {
            width,
            height,
            pixels,
        })
    }

    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    pub fn pixels(&self) -> &[u32] {
        &self.pixels
    }
}

/// Fills `dest` (the window, `viewport.window_size()` pixels row-major)
/// with the part of `frame` the viewport shows, 1:1, background elsewhere,
/// and an inverting cross at the remote cursor position if given.
pub fn compose(
    dest: &mut [u32],
    viewport: &Viewport,
    frame: Option<&RemoteFrame>,
    cursor: Option<(i32, i32)>,
) {
    let (window_w, window_h) = viewport.window_size();
    let window_w = window_w as usize;
    if window_w == 0 {
        return;
    }
    let (off_x, off_y) = viewport.offset();
    for (y, row) in dest
        .chunks_exact_mut(window_w)
        .take(window_h as usize)
        .enumerate()
    {
        let copied = frame.map_or(0, |frame| {
            let (fw, fh) = (frame.width as usize, frame.height as usize);
            let remote_y = y + off_y as usize;
            if remote_y >= fh || off_x as usize >= fw {
                return 0;
            }
            let start = remote_y * fw + off_x as usize;
            let len = (fw - off_x as usize).min(window_w);
            row[..len].copy_from_slice(&frame.pixels[start..start + len]);
            len
        });
        row[copied..].fill(BACKGROUND);
    }
    if let Some((x, y)) = cursor {
        draw_cursor_marker(dest, viewport, x, y);
    }
}

/// A small cross that inverts what is under it, so it shows on any
/// background and never hides which pixel it points at (the centre is left
/// untouched).
fn draw_cursor_marker(dest: &mut [u32], viewport: &Viewport, x: i32, y: i32) {
    let width = viewport.window_size().0 as usize;
    for d in (-CURSOR_ARM..=CURSOR_ARM).filter(|d| *d != 0) {
        for (px, py) in [
            (i64::from(x) + d, i64::from(y)),
            (i64::from(x), i64::from(y) + d),
        ] {
            let (Ok(px), Ok(py)) = (i32::try_from(px), i32::try_from(py)) else {
                continue;
            };
            let Some((wx, wy)) = viewport.to_window(px, py) else {
                continue;
            };
            // Only pixels inside the remote image get the marker.
            if px as u32 >= viewport.remote_size().0 || py as u32 >= viewport.remote_size().1 {
                continue;
            }
            if let Some(pixel) = dest.get_mut(wy as usize * width + wx as usize) {
                *pixel ^= 0x00ff_ffff;
            }
        }
    }
}

/// Errors drawing into the window.
#[derive(Debug, thiserror::Error)]
pub enum SurfaceError {
    /// softbuffer's own error is neither `Send` nor `Sync`, so its message
    /// is kept instead, to travel in `anyhow` errors.
    #[error("cannot draw into the window (softbuffer): {0}")]
    Softbuffer(String),
}

impl From<softbuffer::SoftBufferError> for SurfaceError {
    fn from(e: softbuffer::SoftBufferError) -> Self {
        SurfaceError::Softbuffer(e.to_string())
    }
}

/// The window's pixel buffer.
pub struct ScreenSurface {
    surface: softbuffer::Surface<Rc<Window>, Rc<Window>>,
    // Kept alive for as long as the surface that was made from it.
    _context: softbuffer::Context<Rc<Window>>,
    size: (u32, u32),
}

impl ScreenSurface {
    pub fn new(window: Rc<Window>) -> Result<ScreenSurface, SurfaceError> {
        let context = softbuffer::Context::new(window.clone())?;
        let surface = softbuffer::Surface::new(&context, window)?;
        Ok(ScreenSurface {
            surface,
            _context: context,
            size: (0, 0),
        })
    }

    /// Draws the viewport's view of `frame` (and the remote cursor marker)
    /// into the whole window and presents it. A zero-sized window draws
    /// nothing.
    pub fn present(
        &mut self,
        viewport: &Viewport,
        frame: Option<&RemoteFrame>,
        cursor: Option<(i32, i32)>,
    ) -> Result<(), SurfaceError> {
        let (w, h) = viewport.window_size();
        let (Some(nw), Some(nh)) = (NonZeroU32::new(w), NonZeroU32::new(h)) else {
            return Ok(());
        };
        if self.size != (w, h) {
            self.surface.resize(nw, nh)?;
            self.size = (w, h);
        }
        let mut buffer = self.surface.buffer_mut()?;
        compose(&mut buffer, viewport, frame, cursor);
        buffer.present()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(width: u32, height: u32) -> RemoteFrame {
        let pixels = (0..width * height)
            .map(|i| i.wrapping_mul(2_654_435_761) & 0x00ff_ffff)
            .collect();
        RemoteFrame::new(width, height, Arc::new(pixels)).expect("consistent frame")
    }

    #[test]
    fn a_frame_whose_pixel_count_does_not_match_its_size_is_refused() {
        assert!(RemoteFrame::new(4, 4, Arc::new(vec![0; 15])).is_none());
        assert!(RemoteFrame::new(4, 4, Arc::new(vec![0; 17])).is_none());
        assert!(RemoteFrame::new(0, 0, Arc::new(Vec::new())).is_none());
        assert!(RemoteFrame::new(u32::MAX, u32::MAX, Arc::new(vec![0; 1])).is_none());
        assert!(RemoteFrame::new(4, 4, Arc::new(vec![0; 16])).is_some());
    }

    #[test]
    fn a_frame_in_a_larger_window_is_copied_exactly_with_background_around_it() {
        let frame = pattern(5, 3);
        let viewport = Viewport::new((8, 4), (5, 3));
        let mut dest = vec![0xdead; 8 * 4];
        compose(&mut dest, &viewport, Some(&frame), None);
        for y in 0..4 {
            for x in 0..8 {
                let expected = if x < 5 && y < 3 {
                    frame.pixels()[y * 5 + x]
                } else {
                    BACKGROUND
                };
                assert_eq!(dest[y * 8 + x], expected, "pixel ({x}, {y})");
            }
        }
    }

    #[test]
    fn a_smaller_window_shows_the_panned_part_of_the_frame_exactly() {
        let frame = pattern(10, 6);
        let mut viewport = Viewport::new((4, 4), (10, 6));
        viewport.pan(1, 1);
        let (ox, oy) = viewport.offset();
        assert_eq!((ox, oy), (1, 1));
        let mut dest = vec![0; 16];
        compose(&mut dest, &viewport, Some(&frame), None);
        for y in 0..4 {
            for x in 0..4 {
                let remote = (y + oy as usize) * 10 + x + ox as usize;
                assert_eq!(dest[y * 4 + x], frame.pixels()[remote], "pixel ({x}, {y})");
            }
        }
    }

    #[test]
    fn without_a_frame_the_window_is_background() {
        let viewport = Viewport::new((3, 2), (0, 0));
        let mut dest = vec![0; 6];
        compose(&mut dest, &viewport, None, None);
        assert!(dest.iter().all(|p| *p == BACKGROUND));
    }

    #[test]
    fn the_cursor_marker_inverts_a_cross_and_leaves_its_centre_pixel_exact() {
        let frame = RemoteFrame::new(20, 20, Arc::new(vec![0x0012_3456; 400])).unwrap();
        let viewport = Viewport::new((20, 20), (20, 20));
        let mut dest = vec![0; 400];
        compose(&mut dest, &viewport, Some(&frame), Some((10, 10)));
        let inverted = 0x0012_3456 ^ 0x00ff_ffff;
        assert_eq!(dest[10 * 20 + 10], 0x0012_3456, "centre");
        assert_eq!(dest[10 * 20 + 4], inverted, "left arm end");
        assert_eq!(dest[16 * 20 + 10], inverted, "lower arm end");
        assert_eq!(dest[10 * 20 + 3], 0x0012_3456, "beyond the arm");
        assert_eq!(dest[11 * 20 + 11], 0x0012_3456, "off the cross");
        let changed = dest.iter().filter(|p| **p != 0x0012_3456).count();
        assert_eq!(changed, 4 * CURSOR_ARM as usize);
    }

    #[test]
    fn a_cursor_marker_at_the_edge_is_clipped_not_wrapped() {
        let frame = RemoteFrame::new(8, 8, Arc::new(vec![0; 64])).unwrap();
        let viewport = Viewport::new((8, 8), (8, 8));
        let mut dest = vec![0; 64];
        compose(&mut dest, &viewport, Some(&frame), Some((0, 7)));
        // Arms going left and down leave the image; none lands on row 6's
        // far end or wraps to another row.
        for (i, p) in dest.iter().enumerate() {
            let (x, y) = (i % 8, i / 8);
            let on_cross = (y == 7 && (1..=6).contains(&x)) || (x == 0 && (1..=6).contains(&y));
            assert_eq!(*p != 0, on_cross, "pixel ({x}, {y})");
        }
    }
}
