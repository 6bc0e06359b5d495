//! Lossless screen tile codec (R17): the host's [`TileEncoder`] turns captured
//! BGRX frames into [`FrameUpdate`]s carrying only the 64×64 tiles that
//! changed, each raw or zstd-compressed; the viewer's [`Framebuffer`] applies
//! them and reproduces the host's screen pixel for pixel.
//!
//! A still screen costs nothing: the encoder emits no update at all. Every
//! update from the network is checked in full (geometry, lengths, bounded
//! decompression) before a single pixel of the framebuffer changes.
//!
//! [`FrameUpdate`]: crate::messages::screen::FrameUpdate

mod encoder;
mod framebuffer;

#[cfg(test)]
mod tests;

pub use encoder::{EncoderSettings, TileEncoder, DEFAULT_ZSTD_LEVEL};
pub use framebuffer::{Applied, Framebuffer};

use crate::messages::screen::BYTES_PER_PIXEL;

/// One captured screen image as the capture backend hands it over: BGRX,
/// 4 bytes per pixel, rows `stride` bytes apart (stride >= width * 4).
#[derive(Debug, Clone, Copy)]
pub struct CapturedFrame<'a> {
    pub width: u32,
    pub height: u32,
    pub stride: usize,
    pub bgrx: &'a [u8],
}

/// Side of a full tile, in pixels. Edge tiles are narrower or shorter; no
/// tile is larger, which is what makes [`TILE_DATA_MAX`] a hard bound.
///
/// [`TILE_DATA_MAX`]: crate::messages::screen::TILE_DATA_MAX
pub const TILE_SIDE: u32 = 64;

/// Largest screen side either end accepts, in pixels. An 8192×8192 image is
/// 256 MiB of BGRX: the most a peer can make a viewer allocate.
pub const MAX_FRAME_SIDE: u32 = 8192;

/// What was wrong with a captured frame (host side) or with an update from
/// the peer (viewer side). Every decoder error means the peer sent bytes no
/// correct encoder produces: close the screen stream and report it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("screen of {width}×{height} pixels is not supported: each side must be 1 to {MAX_FRAME_SIDE} pixels")]
    FrameSizeUnsupported { width: u32, height: u32 },
    #[error("captured frame stride of {stride} bytes is shorter than one row of {width} pixels; the capture backend reported a wrong layout")]
    StrideTooShort { stride: usize, width: u32 },
    #[error("captured frame holds {len} bytes but its size and stride need {needed}; the capture backend returned a truncated image")]
    FrameBufferTooShort { len: usize, needed: usize },
    #[error("tile of {w}×{h} pixels is not allowed: each side must be 1 to {TILE_SIDE} pixels")]
    TileSizeInvalid { w: u16, h: u16 },
    #[error("tile of {w}×{h} pixels at ({x}, {y}) lies outside the {width}×{height} screen")]
    TileOutsideFrame {
        x: u32,
        y: u32,
        w: u16,
        h: u16,
        width: u32,
        height: u32,
    },
    #[error("raw tile carries {got} bytes, but its pixels need exactly {expected}")]
    RawTileLengthMismatch { expected: usize, got: usize },
    #[error(
        "compressed tile declares {got} bytes of pixels, but the tile needs exactly {expected}"
    )]
    CompressedTileLengthMismatch { expected: usize, got: u64 },
    #[error("compressed tile does not decompress to exactly {expected} bytes: {reason}")]
    CompressedTileInvalid {
        expected: usize,
        reason: &'static str,
    },
}

/// Checks a screen size against the bounds both ends share.
fn check_frame_size(width: u32, height: u32) -> Result<(), CodecError> {
    let side_ok = |side: u32| (1..=MAX_FRAME_SIDE).contains(&side);
    if side_ok(width) && side_ok(height) {
        Ok(())
    } else {
        Err(CodecError::FrameSizeUnsupported { width, height })
    }
}

/// Bytes in one packed row (no padding) of `width` pixels.
fn row_bytes(width: u32) -> usize {
    width as usize * BYTES_PER_PIXEL
}
