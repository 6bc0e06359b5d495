//! Cursor images: turns the X server's cursor image (XFixes, premultiplied
//! ARGB words) into the wire's [`CursorShape`] (straight RGBA, at most
//! [`CURSOR_SIDE_MAX`] a side) and sends it only when the image changed.

use assent_proto::messages::screen::{CursorShape, CURSOR_SIDE_MAX};

/// Remembers which cursor image the viewer already has, so an unchanged
/// image costs nothing on the wire.
#[derive(Debug, Default)]
pub(crate) struct CursorTracker {
    /// XFixes cursor serial of the image last sent; `None` before the first.
    sent_serial: Option<u32>,
}

/// One cursor image as XFixes `GetCursorImage` reports it.
pub(crate) struct CursorImage<'a> {
    pub serial: u32,
    pub width: u16,
    pub height: u16,
    pub hot_x: u16,
    pub hot_y: u16,
    /// Row-major premultiplied ARGB, one word per pixel.
    pub argb: &'a [u32],
}

impl CursorTracker {
    /// The shape to send with this update: `Some` the first time and
    /// whenever the server's cursor serial changed, `None` otherwise.
    pub(crate) fn shape_if_changed(&mut self, image: &CursorImage<'_>) -> Option<CursorShape> {
        if self.sent_serial == Some(image.serial) {
            return None;
        }
        let shape = cursor_shape_from_argb(image)?;
        self.sent_serial = Some(image.serial);
        Some(shape)
    }
}

/// Converts an XFixes image to a wire shape, cropping images larger than
/// [`CURSOR_SIDE_MAX`] to the window around the hot spot. `None` when the
/// reply is inconsistent (fewer pixels than its size says).
pub(crate) fn cursor_shape_from_argb(image: &CursorImage<'_>) -> Option<CursorShape> {
    let (w, h) = (usize::from(image.width), usize::from(image.height));
    if image.argb.len() < w * h {
        return None;
    }
    let side = usize::from(CURSOR_SIDE_MAX);
    let (x0, out_w) = crop_axis(w, usize::from(image.hot_x), side);
    let (y0, out_h) = crop_axis(h, usize::from(image.hot_y), side);

    let mut rgba = Vec::with_capacity(out_w * out_h * 4);
    for row in image.argb.chunks_exact(w.max(1)).skip(y0).take(out_h) {
        for &pixel in &row[x0..x0 + out_w] {
            rgba.extend_from_slice(&straight_rgba(pixel));
        }
    }
    // Keep the hot spot inside the (possibly cropped) image, as the wire
    // format requires.
    let hot_x = usize::from(image.hot_x)
        .saturating_sub(x0)
        .min(out_w.saturating_sub(1));
    let hot_y = usize::from(image.hot_y)
        .saturating_sub(y0)
        .min(out_h.saturating_sub(1));
    CursorShape::new(out_w as u16, out_h as u16, hot_x as u16, hot_y as u16, rgba).ok()
}

/// Start and length of the kept span on one axis: everything when it fits,
/// otherwise `side` pixels centred on the hot spot as far as the image allows.
fn crop_axis(len: usize, hot: usize, side: usize) -> (usize, usize) {
    if len <= side {
        return (0, len);
    }
    let start = hot.saturating_sub(side / 2).min(len - side);
    (start, side)
}

/// One premultiplied ARGB word to straight-alpha R, G, B, A bytes.
fn straight_rgba(argb: u32) -> [u8; 4] {
    let [a, r, g, b] = argb.to_be_bytes();
    if a == 0 {
        return [0, 0, 0, 0];
    }
    let unpremultiply = |c: u8| -> u8 {
        let a = u32::from(a);
        ((u32::from(c) * 255 + a / 2) / a).min(255) as u8
    };
    [unpremultiply(r), unpremultiply(g), unpremultiply(b), a]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(serial: u32, w: u16, h: u16, hot: (u16, u16), argb: &[u32]) -> CursorImage<'_> {
        CursorImage {
            serial,
            width: w,
            height: h,
            hot_x: hot.0,
            hot_y: hot.1,
            argb,
        }
    }

    #[test]
    fn premultiplied_argb_becomes_straight_rgba() {
        // Opaque red, half-transparent white (premultiplied 0x80), clear.
        let argb = [0xffff_0000, 0x8080_8080, 0x0000_0000];
        let shape = cursor_shape_from_argb(&image(1, 3, 1, (0, 0), &argb)).unwrap();
        assert_eq!(
            shape.rgba.as_slice(),
            &[255, 0, 0, 255, 255, 255, 255, 128, 0, 0, 0, 0][..]
        );
        assert_eq!((shape.w, shape.h), (3, 1));
    }

    #[test]
    fn shape_is_sent_only_when_the_cursor_serial_changes() {
        let argb = [0xff00_00ff; 4];
        let mut tracker = CursorTracker::default();
        assert!(tracker
            .shape_if_changed(&image(7, 2, 2, (1, 1), &argb))
            .is_some());
        assert!(tracker
            .shape_if_changed(&image(7, 2, 2, (1, 1), &argb))
            .is_none());
        assert!(tracker
            .shape_if_changed(&image(8, 2, 2, (1, 1), &argb))
            .is_some());
    }

    #[test]
    fn oversized_cursor_is_cropped_around_its_hot_spot() {
        let (w, h) = (300u16, 200u16);
        // Each pixel's blue channel encodes its column modulo 256, opaque.
        let argb: Vec<u32> = (0..u32::from(h))
            .flat_map(|_| (0..u32::from(w)).map(|x| 0xff00_0000 | (x & 0xff)))
            .collect();
        let shape = cursor_shape_from_argb(&image(1, w, h, (250, 10), &argb)).unwrap();
        assert_eq!((shape.w, shape.h), (CURSOR_SIDE_MAX, CURSOR_SIDE_MAX));
        // The window ends at the right edge (172..300); the hot spot keeps
        // pointing at column 250 and row 10.
        assert_eq!((shape.hot_x, shape.hot_y), (250 - 172, 10));
        let hot_pixel = usize::from(shape.hot_y) * 128 + usize::from(shape.hot_x);
        assert_eq!(shape.rgba.as_slice()[hot_pixel * 4 + 2], 250);
    }

    #[test]
    fn reply_with_fewer_pixels_than_its_size_gives_no_shape() {
        assert!(cursor_shape_from_argb(&image(1, 4, 4, (0, 0), &[0; 15])).is_none());
    }
}
