//! Host side: damage detection against the previous frame, and tile encoding.

use zstd::zstd_safe::CCtx;

use super::{check_frame_size, row_bytes, CapturedFrame, CodecError, TILE_SIDE};
use crate::messages::screen::{
    FrameUpdate, Tile, TileEncoding, BYTES_PER_PIXEL, MAX_TILES_PER_UPDATE, TILE_DATA_MAX,
};
use crate::wire::{Bytes, List};

/// zstd level used unless the settings say otherwise, chosen by measurement
/// (`cargo bench --bench tiles`, BENCHMARKS.md "Screen tile codec"): on a
/// 1080p instrument screen, levels 1 to 3 cost about the same CPU (a full
/// change ≈ 10–12 ms encode + decode on one core, 2 % damage ≈ 1.2 ms) and
/// 3 is the smallest of them; level 4 saves ≈ 20 % of the bytes but nearly
/// doubles encode time and reaches the 20 ms full-change goal.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// How the host encodes tiles. The output is lossless whatever the level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderSettings {
    /// zstd compression level; zstd clamps values outside its range
    /// (negative levels are its fast modes).
    pub zstd_level: i32,
}

impl Default for EncoderSettings {
    fn default() -> Self {
        Self {
            zstd_level: DEFAULT_ZSTD_LEVEL,
        }
    }
}

/// Turns captured frames into updates holding only the tiles that changed.
///
/// It keeps the last frame it sent, packed, which is exactly what the viewer's
/// [`Framebuffer`](super::Framebuffer) holds after applying the updates.
pub struct TileEncoder {
    settings: EncoderSettings,
    width: u32,
    height: u32,
    /// The last frame as sent, rows packed `width * 4` bytes apart.
    previous: Vec<u8>,
    /// Send every tile on the next frame (first frame, size change, request).
    send_everything: bool,
    compressor: CCtx<'static>,
    /// Per tile column of the current band: did any pixel change?
    dirty_columns: Vec<bool>,
    packed_tile: Vec<u8>,
    compressed_tile: Box<[u8]>,
}

impl std::fmt::Debug for TileEncoder {
    // No pixels: the screen may show patient data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TileEncoder")
            .field("settings", &self.settings)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("send_everything", &self.send_everything)
            .finish_non_exhaustive()
    }
}

impl TileEncoder {
    pub fn new(settings: EncoderSettings) -> Self {
        Self {
            settings,
            width: 0,
            height: 0,
            previous: Vec::new(),
            send_everything: true,
            compressor: CCtx::create(),
            dirty_columns: Vec::new(),
            packed_tile: Vec::with_capacity(TILE_DATA_MAX),
            compressed_tile: vec![0; TILE_DATA_MAX].into_boxed_slice(),
        }
    }

    pub fn settings(&self) -> EncoderSettings {
        self.settings
    }

    /// Makes the next [`encode`](Self::encode) send every tile, e.g. when a
    /// viewer (re)connects and holds no image yet.
    pub fn request_full(&mut self) {
        self.send_everything = true;
    }

    /// Encodes the tiles of `frame` that differ from the previous frame (every
    /// tile on the first frame, after [`request_full`](Self::request_full) or
    /// when the size changed). Returns no update when nothing changed; else
    /// updates of at most [`MAX_TILES_PER_UPDATE`] tiles, the last one marked
    /// `frame_complete`. An invalid frame is refused and changes nothing.
    pub fn encode(
        &mut self,
        frame: &CapturedFrame<'_>,
        frame_seq: u64,
    ) -> Result<Vec<FrameUpdate>, CodecError> {
        check_captured_frame(frame)?;
        if (frame.width, frame.height) != (self.width, self.height) {
            self.width = frame.width;
            self.height = frame.height;
            // Contents do not matter: every tile is sent and copied in.
            self.previous = vec![0; row_bytes(frame.width) * frame.height as usize];
            self.send_everything = true;
        }
        let columns = frame.width.div_ceil(TILE_SIDE) as usize;
        self.dirty_columns.resize(columns, false);

        let mut tiles = Vec::new();
        for band_y in (0..frame.height).step_by(TILE_SIDE as usize) {
            let band_h = TILE_SIDE.min(frame.height - band_y);
            self.mark_dirty_columns(frame, band_y, band_h);
            for column in 0..columns {
                if self.dirty_columns[column] {
                    let x = column as u32 * TILE_SIDE;
                    let w = TILE_SIDE.min(frame.width - x);
                    tiles.push(self.encode_tile(frame, x, band_y, w, band_h));
                }
            }
        }
        self.send_everything = false;
        Ok(split_into_updates(
            tiles,
            frame_seq,
            frame.width,
            frame.height,
        ))
    }

    /// Marks the tile columns of one band of rows that changed. A whole row
    /// is compared first (one memcmp), so unchanged rows cost almost nothing.
    fn mark_dirty_columns(&mut self, frame: &CapturedFrame<'_>, band_y: u32, band_h: u32) {
        self.dirty_columns.fill(self.send_everything);
        if self.send_everything {
            return;
        }
        let row_len = row_bytes(frame.width);
        let tile_row_len = row_bytes(TILE_SIDE);
        let mut clean_columns = self.dirty_columns.len();
        for y in band_y..band_y + band_h {
            let now = captured_row(frame, y);
            let before = &self.previous[y as usize * row_len..][..row_len];
            if now == before {
                continue;
            }
            let segments = now.chunks(tile_row_len).zip(before.chunks(tile_row_len));
            for (dirty, (now, before)) in self.dirty_columns.iter_mut().zip(segments) {
                if !*dirty && now != before {
                    *dirty = true;
                    clean_columns -= 1;
                }
            }
            if clean_columns == 0 {
                break;
            }
        }
    }

    /// Packs one tile, records it as sent, and compresses it when that helps.
    fn encode_tile(&mut self, frame: &CapturedFrame<'_>, x: u32, y: u32, w: u32, h: u32) -> Tile {
        let row_len = row_bytes(frame.width);
        let offset = x as usize * BYTES_PER_PIXEL;
        let tile_row_len = row_bytes(w);
        self.packed_tile.clear();
        for row in y..y + h {
            let pixels = &captured_row(frame, row)[offset..][..tile_row_len];
            self.packed_tile.extend_from_slice(pixels);
            self.previous[row as usize * row_len + offset..][..tile_row_len]
                .copy_from_slice(pixels);
        }
        // One byte less room than raw: zstd succeeds only when it is smaller.
        let room = self.packed_tile.len() - 1;
        let compressed = self.compressor.compress(
            &mut self.compressed_tile[..room],
            &self.packed_tile,
            self.settings.zstd_level,
        );
        let (encoding, data) = match compressed {
            Ok(len) => (TileEncoding::Zstd, self.compressed_tile[..len].to_vec()),
            Err(_) => (TileEncoding::Raw, self.packed_tile.clone()),
        };
        Tile {
            x,
            y,
            // Both at most TILE_SIDE.
            w: w as u16,
            h: h as u16,
            encoding,
            data: Bytes::new(data).expect("a tile is at most 64×64 pixels"),
        }
    }
}

/// Checks the frame's layout so that every row slice taken later is in bounds.
fn check_captured_frame(frame: &CapturedFrame<'_>) -> Result<(), CodecError> {
    check_frame_size(frame.width, frame.height)?;
    let row_len = row_bytes(frame.width);
    if frame.stride < row_len {
        return Err(CodecError::StrideTooShort {
            stride: frame.stride,
            width: frame.width,
        });
    }
    // The last row needs its pixels only, not the padding after them.
    let needed = frame
        .stride
        .checked_mul(frame.height as usize - 1)
        .and_then(|bytes| bytes.checked_add(row_len))
        .unwrap_or(usize::MAX);
    if frame.bgrx.len() < needed {
        return Err(CodecError::FrameBufferTooShort {
            len: frame.bgrx.len(),
            needed,
        });
    }
    Ok(())
}

/// The pixels of row `y`, without the stride padding.
fn captured_row<'a>(frame: &CapturedFrame<'a>, y: u32) -> &'a [u8] {
    &frame.bgrx[y as usize * frame.stride..][..row_bytes(frame.width)]
}

/// Groups a frame's tiles into updates; only the last says `frame_complete`.
fn split_into_updates(
    tiles: Vec<Tile>,
    frame_seq: u64,
    width: u32,
    height: u32,
) -> Vec<FrameUpdate> {
    let mut updates = Vec::with_capacity(tiles.len().div_ceil(MAX_TILES_PER_UPDATE));
    let mut tiles = tiles.into_iter().peekable();
    while tiles.peek().is_some() {
        let chunk: Vec<Tile> = tiles.by_ref().take(MAX_TILES_PER_UPDATE).collect();
        updates.push(FrameUpdate {
            frame_seq,
            width,
            height,
            frame_complete: tiles.peek().is_none(),
            tiles: List::new(chunk).expect("chunks hold at most MAX_TILES_PER_UPDATE tiles"),
        });
    }
    updates
}
