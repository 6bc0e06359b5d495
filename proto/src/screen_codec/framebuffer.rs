//! Viewer side: the screen image, updated from untrusted [`FrameUpdate`]s.
//!
//! An update is checked and decompressed in full into a staging buffer
//! before any pixel changes, so a bad update leaves the image as it was.
//! Decompression writes into exactly `w * h * 4` bytes: a tile claiming more
//! (a "zstd bomb") fails instead of allocating.

use zstd::zstd_safe::{self, DCtx};

use super::{check_frame_size, row_bytes, CodecError, TILE_SIDE};
use crate::messages::screen::{FrameUpdate, Tile, TileEncoding, BYTES_PER_PIXEL};

/// The viewer's copy of the host screen: BGRX, rows packed `width * 4` bytes.
pub struct Framebuffer {
    width: u32,
    height: u32,
    bgrx: Vec<u8>,
    decompressor: DCtx<'static>,
    /// Decompressed pixels of the update being applied, tile after tile.
    staging: Vec<u8>,
}

/// What one applied update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub frame_seq: u64,
    /// Tiles written.
    pub tiles: usize,
    /// The frame is whole: present it now.
    pub frame_complete: bool,
    /// The screen size changed; the image was reset to black first.
    pub resized: bool,
}

impl std::fmt::Debug for Framebuffer {
    // No pixels: the screen may show patient data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Framebuffer")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

impl Framebuffer {
    /// A black screen of the given size.
    pub fn new(width: u32, height: u32) -> Result<Self, CodecError> {
        check_frame_size(width, height)?;
        Ok(Self {
            width,
            height,
            bgrx: black(width, height),
            decompressor: DCtx::create(),
            staging: Vec::new(),
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// The image, BGRX, rows packed `width * 4` bytes apart.
    pub fn bgrx(&self) -> &[u8] {
        &self.bgrx
    }

    /// Resets to a black screen of a new size (on a `ScreenInfo` message).
    pub fn reset(&mut self, width: u32, height: u32) -> Result<(), CodecError> {
        check_frame_size(width, height)?;
        self.width = width;
        self.height = height;
        self.bgrx = black(width, height);
        Ok(())
    }

    /// Applies one update. A size different from the current one resets the
    /// image to black at the new size first. Every tile must have sides of
    /// 1 to 64 pixels, lie inside the screen and carry exactly its pixels; if
    /// any does not, nothing changes and the error names what was wrong.
    pub fn apply(&mut self, update: &FrameUpdate) -> Result<Applied, CodecError> {
        check_frame_size(update.width, update.height)?;
        self.staging.clear();
        for tile in update.tiles.iter() {
            let len = tile_len(tile, update.width, update.height)?;
            match tile.encoding {
                TileEncoding::Raw if tile.data.len() != len => {
                    return Err(CodecError::RawTileLengthMismatch {
                        expected: len,
                        got: tile.data.len(),
                    });
                }
                TileEncoding::Raw => {}
                TileEncoding::Zstd => self.stage_compressed(&tile.data, len)?,
            }
        }

        let resized = (update.width, update.height) != (self.width, self.height);
        if resized {
            self.width = update.width;
            self.height = update.height;
            self.bgrx = black(update.width, update.height);
        }
        let mut staged = self.staging.as_slice();
        for tile in update.tiles.iter() {
            let pixels = match tile.encoding {
                TileEncoding::Raw => tile.data.as_slice(),
                TileEncoding::Zstd => {
                    let (pixels, rest) = staged.split_at(tile_pixels(tile));
                    staged = rest;
                    pixels
                }
            };
            draw_tile(&mut self.bgrx, self.width, tile, pixels);
        }
        Ok(Applied {
            frame_seq: update.frame_seq,
            tiles: update.tiles.len(),
            frame_complete: update.frame_complete,
            resized,
        })
    }

    /// Decompresses one tile onto the end of the staging buffer, into room
    /// for exactly `len` bytes.
    fn stage_compressed(&mut self, data: &[u8], len: usize) -> Result<(), CodecError> {
        // An honest frame header says how big the tile is: refuse a wrong one
        // before decompressing anything.
        if let Ok(Some(declared)) = zstd_safe::get_frame_content_size(data) {
            if declared != len as u64 {
                return Err(CodecError::CompressedTileLengthMismatch {
                    expected: len,
                    got: declared,
                });
            }
        }
        let start = self.staging.len();
        self.staging.resize(start + len, 0);
        match self
            .decompressor
            .decompress(&mut self.staging[start..], data)
        {
            Ok(written) if written == len => Ok(()),
            Ok(written) => Err(CodecError::CompressedTileLengthMismatch {
                expected: len,
                got: written as u64,
            }),
            Err(code) => Err(CodecError::CompressedTileInvalid {
                expected: len,
                reason: zstd_safe::get_error_name(code),
            }),
        }
    }

    /// The image as RGBA with opaque alpha (for PNG).
    pub fn to_rgba(&self) -> Vec<u8> {
        let mut rgba = Vec::with_capacity(self.bgrx.len());
        for pixel in self.bgrx.chunks_exact(BYTES_PER_PIXEL) {
            rgba.extend_from_slice(&[pixel[2], pixel[1], pixel[0], 0xff]);
        }
        rgba
    }

    /// The image as `0x00RRGGBB` words, row by row (a softbuffer window).
    pub fn to_0rgb_u32(&self) -> Vec<u32> {
        self.bgrx
            .chunks_exact(BYTES_PER_PIXEL)
            .map(|p| u32::from_le_bytes([p[0], p[1], p[2], 0]))
            .collect()
    }
}

fn black(width: u32, height: u32) -> Vec<u8> {
    vec![0; row_bytes(width) * height as usize]
}

fn tile_pixels(tile: &Tile) -> usize {
    usize::from(tile.w) * usize::from(tile.h) * BYTES_PER_PIXEL
}

/// Checks a tile's size and position; returns the bytes its pixels take.
fn tile_len(tile: &Tile, width: u32, height: u32) -> Result<usize, CodecError> {
    let side_ok = |side: u16| (1..=TILE_SIDE).contains(&u32::from(side));
    if !side_ok(tile.w) || !side_ok(tile.h) {
        return Err(CodecError::TileSizeInvalid {
            w: tile.w,
            h: tile.h,
        });
    }
    // In u64: x + w must not wrap around u32.
    let inside =
        |at: u32, side: u16, limit: u32| u64::from(at) + u64::from(side) <= u64::from(limit);
    if !inside(tile.x, tile.w, width) || !inside(tile.y, tile.h, height) {
        return Err(CodecError::TileOutsideFrame {
            x: tile.x,
            y: tile.y,
            w: tile.w,
            h: tile.h,
            width,
            height,
        });
    }
    Ok(tile_pixels(tile))
}

/// Copies a checked tile's packed rows into the image.
fn draw_tile(bgrx: &mut [u8], width: u32, tile: &Tile, pixels: &[u8]) {
    let row_len = row_bytes(width);
    let tile_row_len = usize::from(tile.w) * BYTES_PER_PIXEL;
    let offset = tile.x as usize * BYTES_PER_PIXEL;
    for (row, tile_row) in pixels.chunks_exact(tile_row_len).enumerate() {
        let y = tile.y as usize + row;
        bgrx[y * row_len + offset..][..tile_row_len].copy_from_slice(tile_row);
    }
}
