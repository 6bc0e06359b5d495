//! Where the remote screen sits in the window, and the mapping between
//! window pixels and remote pixels.
//!
//! The remote screen is always drawn 1:1, never scaled, because engineers
//! read exact values off instrument screens and a resampled digit can lie.
//! When the window is at least the remote size the image sits at the
//! window's top-left corner and the rest is background. When the window is
//! smaller the image is cropped to a window-sized view that the engineer
//! pans with Ctrl+Alt+arrows; the view never leaves the image.

/// The window's view onto the remote screen, all in physical pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewport {
    window: (u32, u32),
    remote: (u32, u32),
    /// Remote pixel shown at the window's top-left corner.
    offset: (u32, u32),
}

impl Viewport {
    pub fn new(window: (u32, u32), remote: (u32, u32)) -> Viewport {
        let mut viewport = Viewport {
            window,
            remote,
            offset: (0, 0),
        };
        viewport.clamp();
        viewport
    }

    pub fn window_size(&self) -> (u32, u32) {
        self.window
    }

    pub fn remote_size(&self) -> (u32, u32) {
        self.remote
    }

    /// Remote pixel shown at the window's top-left corner.
    pub fn offset(&self) -> (u32, u32) {
        self.offset
    }

    pub fn set_window_size(&mut self, window: (u32, u32)) {
        self.window = window;
        self.clamp();
    }

    pub fn set_remote_size(&mut self, remote: (u32, u32)) {
        self.remote = remote;
        self.clamp();
    }

    /// Pans by a quarter of the window in each direction given (-1, 0, 1),
    /// staying inside the image.
    pub fn pan(&mut self, dx: i32, dy: i32) {
        let step = |size: u32| i64::from((size / 4).max(1));
        let x = i64::from(self.offset.0) + i64::from(dx.signum()) * step(self.window.0);
        let y = i64::from(self.offset.1) + i64::from(dy.signum()) * step(self.window.1);
        self.offset = (clamp_to_u32(x), clamp_to_u32(y));
        self.clamp();
    }

    /// The remote pixel under a window position (winit's physical cursor
    /// position), or `None` when the position is over the background or
    /// outside the window.
    pub fn to_remote(&self, x: f64, y: f64) -> Option<(i32, i32)> {
        let (wx, wy) = (x.floor(), y.floor());
        if !(wx >= 0.0 && wy >= 0.0) {
            return None;
        }
        let (rx, ry) = (wx + f64::from(self.offset.0), wy + f64::from(self.offset.1));
        if wx >= f64::from(self.window.0)
            || wy >= f64::from(self.window.1)
            || rx >= f64::from(self.remote.0)
            || ry >= f64::from(self.remote.1)
        {
            return None;
        }
        // In range: below u32::MAX by the checks above, and remote sizes
        // come from frames, which fit in memory, so they fit in i32.
        Some((rx as i32, ry as i32))
    }

    /// Like [`Viewport::to_remote`] but pinned to the nearest remote pixel,
    /// so a drag that leaves the image keeps moving along its edge. `None`
    /// only when there is no remote image.
    pub fn to_remote_clamped(&self, x: f64, y: f64) -> Option<(i32, i32)> {
        if self.remote.0 == 0 || self.remote.1 == 0 {
            return None;
        }
        let pin = |pos: f64, offset: u32, window: u32, remote: u32| {
            let last_visible = window.min(remote.saturating_sub(offset)).max(1) - 1;
            let pos = if pos.is_nan() { 0.0 } else { pos.floor() };
            let pos = pos.clamp(0.0, f64::from(last_visible)) as u32;
            (offset + pos) as i32
        };
        Some((
            pin(x, self.offset.0, self.window.0, self.remote.0),
            pin(y, self.offset.1, self.window.1, self.remote.1),
        ))
    }

    /// The remote position as a window position, if it is in view (for
    /// drawing the remote cursor marker).
    pub fn to_window(&self, x: i32, y: i32) -> Option<(u32, u32)> {
        let x = u32::try_from(x).ok()?.checked_sub(self.offset.0)?;
        let y = u32::try_from(y).ok()?.checked_sub(self.offset.1)?;
        (x < self.window.0 && y < self.window.1).then_some((x, y))
    }

    fn clamp(&mut self) {
        let max_x = self.remote.0.saturating_sub(self.window.0);
        let max_y = self.remote.1.saturating_sub(self.window.1);
        self.offset = (self.offset.0.min(max_x), self.offset.1.min(max_y));
    }
}

fn clamp_to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_at_least_the_remote_size_maps_pixels_one_to_one() {
        let v = Viewport::new((1920, 1200), (1280, 800));
        assert_eq!(v.to_remote(0.0, 0.0), Some((0, 0)));
        assert_eq!(v.to_remote(10.7, 20.2), Some((10, 20)));
        assert_eq!(v.to_remote(1279.9, 799.9), Some((1279, 799)));
        assert_eq!(v.offset(), (0, 0));
    }

    #[test]
    fn a_position_over_the_background_is_not_a_remote_pixel() {
        let v = Viewport::new((1920, 1200), (1280, 800));
        assert_eq!(v.to_remote(1280.0, 10.0), None);
        assert_eq!(v.to_remote(10.0, 800.0), None);
        assert_eq!(v.to_remote(-0.5, 10.0), None);
        assert_eq!(v.to_remote(f64::NAN, 10.0), None);
    }

    #[test]
    fn a_smaller_window_is_a_cropped_view_that_pans_inside_the_image() {
        let mut v = Viewport::new((800, 600), (1920, 1080));
        assert_eq!(v.to_remote(799.0, 599.0), Some((799, 599)));
        assert_eq!(v.to_remote(800.0, 10.0), None, "outside the window");
        v.pan(1, 1);
        assert_eq!(v.offset(), (200, 150));
        assert_eq!(v.to_remote(0.0, 0.0), Some((200, 150)));
        for _ in 0..20 {
            v.pan(1, 1);
        }
        assert_eq!(v.offset(), (1120, 480), "stops at the image's far edge");
        assert_eq!(v.to_remote(799.0, 599.0), Some((1919, 1079)));
        for _ in 0..20 {
            v.pan(-1, -1);
        }
        assert_eq!(v.offset(), (0, 0));
    }

    #[test]
    fn growing_the_window_pulls_the_view_back_inside_the_image() {
        let mut v = Viewport::new((800, 600), (1920, 1080));
        for _ in 0..20 {
            v.pan(1, 1);
        }
        v.set_window_size((1600, 1000));
        assert_eq!(v.offset(), (320, 80));
        v.set_window_size((2000, 1200));
        assert_eq!(v.offset(), (0, 0));
    }

    #[test]
    fn a_drag_outside_the_image_is_pinned_to_its_edge() {
        let v = Viewport::new((1920, 1200), (1280, 800));
        assert_eq!(v.to_remote_clamped(5000.0, -40.0), Some((1279, 0)));
        assert_eq!(v.to_remote_clamped(100.5, 900.0), Some((100, 799)));
        assert_eq!(
            Viewport::new((100, 100), (0, 0)).to_remote_clamped(1.0, 1.0),
            None
        );
    }

    #[test]
    fn remote_positions_map_back_into_the_window_only_when_in_view() {
        let mut v = Viewport::new((800, 600), (1920, 1080));
        v.pan(1, 0);
        assert_eq!(v.to_window(200, 10), Some((0, 10)));
        assert_eq!(v.to_window(199, 10), None);
        assert_eq!(v.to_window(1000, 10), None);
        assert_eq!(v.to_window(-1, 10), None);
    }
}
