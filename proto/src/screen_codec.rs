//! Lossless screen tile codec (filled in by the screen codec work).

/// One captured screen image as the capture backend hands it over: BGRX,
/// 4 bytes per pixel, rows `stride` bytes apart (stride >= width * 4).
#[derive(Debug, Clone, Copy)]
pub struct CapturedFrame<'a> {
    pub width: u32,
    pub height: u32,
    pub stride: usize,
    pub bgrx: &'a [u8],
}
