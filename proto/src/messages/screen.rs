//! Screen messages (R10, R17), host to viewer inside end-to-end records, and
//! only after the technician granted screen view.
//!
//! The host sends changed tiles only (damage tracking), each raw or
//! zstd-compressed, always lossless. One captured frame may span several
//! [`FrameUpdate`]s; the viewer presents it when `frame_complete` arrives.
//! The bounds below make the largest legal update fit one record, so the
//! tile codec never has to split a tile.

use crate::wire::{Bytes, DecodeError, Field, List, Reader};

/// Bytes per pixel in raw tiles and cursor images.
pub const BYTES_PER_PIXEL: usize = 4;
/// Largest tile data: one 64×64 tile of raw pixels. The encoder sends a tile
/// raw whenever zstd would not make it smaller, so a compressed tile never
/// needs more.
pub const TILE_DATA_MAX: usize = 64 * 64 * BYTES_PER_PIXEL;
/// Most tiles in one update: as many largest tiles as fit one record.
pub const MAX_TILES_PER_UPDATE: usize = 63;
/// Largest cursor image side, in pixels.
pub const CURSOR_SIDE_MAX: u16 = 128;
/// Largest cursor image, in bytes (RGBA).
pub const CURSOR_RGBA_MAX: usize =
    CURSOR_SIDE_MAX as usize * CURSOR_SIDE_MAX as usize * BYTES_PER_PIXEL;

crate::wire_struct! {
    /// Host to viewer: the captured screen's size, sent first and again
    /// whenever the resolution changes (the viewer resets its image).
    pub struct ScreenInfo : ScreenInfo {
        pub width: u32,
        pub height: u32,
    }
}

crate::wire_enum! {
    /// How a tile's pixels are carried. Both are lossless.
    pub enum TileEncoding {
        /// BGRX rows, `w * h * 4` bytes.
        Raw = 0,
        /// The raw bytes, zstd-compressed.
        Zstd = 1,
    }
}

crate::wire_struct! {
    /// One changed rectangle of the screen.
    pub struct Tile {
        pub x: u32,
        pub y: u32,
        pub w: u16,
        pub h: u16,
        pub encoding: TileEncoding,
        pub data: Bytes<TILE_DATA_MAX>,
    }
}

crate::wire_struct! {
    /// Host to viewer: changed tiles of one captured frame.
    pub struct FrameUpdate : FrameUpdate {
        /// Capture counter; every update of one frame carries the same value.
        pub frame_seq: u64,
        /// Screen size the tiles belong to (must match the last [`ScreenInfo`]).
        pub width: u32,
        pub height: u32,
        /// True on the last update of this frame: present it now.
        pub frame_complete: bool,
        pub tiles: List<Tile, MAX_TILES_PER_UPDATE>,
    }
}

/// Worst-case encoded size of a [`FrameUpdate`]: header fields, list count,
/// then full tiles (x, y, w, h, encoding, length prefix, data).
const FRAME_UPDATE_MAX: usize =
    8 + 4 + 4 + 1 + 4 + MAX_TILES_PER_UPDATE * (4 + 4 + 2 + 2 + 1 + 4 + TILE_DATA_MAX);
const _: () =
    assert!(FRAME_UPDATE_MAX <= crate::wire::MAX_RECORD_PLAINTEXT - crate::wire::HEADER_LEN);

/// A cursor image. Decoding checks the image is exactly `w × h` RGBA pixels,
/// at most [`CURSOR_SIDE_MAX`] a side, with the hot spot inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorShape {
    pub w: u16,
    pub h: u16,
    pub hot_x: u16,
    pub hot_y: u16,
    /// Rows of RGBA pixels, straight (not premultiplied) alpha.
    pub rgba: Bytes<CURSOR_RGBA_MAX>,
}

impl CursorShape {
    /// Checks the invariants the decoder enforces, so a sender finds out first.
    pub fn new(w: u16, h: u16, hot_x: u16, hot_y: u16, rgba: Vec<u8>) -> Result<Self, DecodeError> {
        let shape = Self {
            w,
            h,
            hot_x,
            hot_y,
            rgba: Bytes::new(rgba)?,
        };
        shape.validate()?;
        Ok(shape)
    }

    fn validate(&self) -> Result<(), DecodeError> {
        if self.w > CURSOR_SIDE_MAX || self.h > CURSOR_SIDE_MAX {
            return Err(DecodeError::InvalidValue {
                what: "cursor side",
                value: u64::from(self.w.max(self.h)),
            });
        }
        let expected = usize::from(self.w) * usize::from(self.h) * BYTES_PER_PIXEL;
        if self.rgba.len() != expected {
            return Err(DecodeError::InvalidValue {
                what: "cursor image length",
                value: self.rgba.len() as u64,
            });
        }
        // An empty image has no hot spot to check.
        if expected > 0 && (self.hot_x >= self.w || self.hot_y >= self.h) {
            return Err(DecodeError::InvalidValue {
                what: "cursor hot spot",
                value: u64::from(self.hot_x.max(self.hot_y)),
            });
        }
        Ok(())
    }
}

impl Field for CursorShape {
    fn encode(&self, out: &mut Vec<u8>) {
        self.w.encode(out);
        self.h.encode(out);
        self.hot_x.encode(out);
        self.hot_y.encode(out);
        self.rgba.encode(out);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let shape = Self {
            w: Field::decode(r)?,
            h: Field::decode(r)?,
            hot_x: Field::decode(r)?,
            hot_y: Field::decode(r)?,
            rgba: Field::decode(r)?,
        };
        shape.validate()?;
        Ok(shape)
    }
}

crate::wire_struct! {
    /// Host to viewer: where the pointer is, and its image when it changed.
    pub struct CursorUpdate : CursorUpdate {
        /// Screen coordinates of the hot spot.
        pub x: i32,
        pub y: i32,
        pub visible: bool,
        /// Present only when the image changed since the last update.
        pub shape: Option<CursorShape>,
    }
}

#[cfg(test)]
pub(crate) mod strategies {
    use proptest::prelude::*;

    use super::*;
    use crate::messages::session::test_support::{bytes, largest, largest_is, list, Largest};
    use crate::messages::session::SessionMessage;

    largest_is! {
        TileEncoding => TileEncoding::Zstd,
        Tile => Tile {
            x: largest(),
            y: largest(),
            w: largest(),
            h: largest(),
            encoding: largest(),
            data: largest(),
        },
        CursorShape => CursorShape::new(
            CURSOR_SIDE_MAX,
            CURSOR_SIDE_MAX,
            CURSOR_SIDE_MAX - 1,
            CURSOR_SIDE_MAX - 1,
            vec![0x7f; CURSOR_RGBA_MAX],
        )
        .expect("largest cursor is valid"),
    }

    pub(crate) fn screen_info() -> impl Strategy<Value = ScreenInfo> {
        (any::<u32>(), any::<u32>()).prop_map(|(width, height)| ScreenInfo { width, height })
    }

    fn tile() -> impl Strategy<Value = Tile> {
        let encoding = prop_oneof![Just(TileEncoding::Raw), Just(TileEncoding::Zstd)];
        (
            any::<u32>(),
            any::<u32>(),
            any::<u16>(),
            any::<u16>(),
            encoding,
            bytes(),
        )
            .prop_map(|(x, y, w, h, encoding, data)| Tile {
                x,
                y,
                w,
                h,
                encoding,
                data,
            })
    }

    pub(crate) fn frame_update() -> impl Strategy<Value = FrameUpdate> {
        (
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            any::<bool>(),
            list(tile(), 8),
        )
            .prop_map(
                |(frame_seq, width, height, frame_complete, tiles)| FrameUpdate {
                    frame_seq,
                    width,
                    height,
                    frame_complete,
                    tiles,
                },
            )
    }

    fn cursor_shape() -> impl Strategy<Value = CursorShape> {
        (0u16..=12, 0u16..=12)
            .prop_flat_map(|(w, h)| {
                let pixels = usize::from(w) * usize::from(h) * BYTES_PER_PIXEL;
                (
                    Just(w),
                    Just(h),
                    0..w.max(1),
                    0..h.max(1),
                    proptest::collection::vec(any::<u8>(), pixels),
                )
            })
            .prop_map(|(w, h, hot_x, hot_y, rgba)| {
                CursorShape::new(w, h, hot_x, hot_y, rgba).expect("generated cursor is valid")
            })
    }

    pub(crate) fn cursor_update() -> impl Strategy<Value = CursorUpdate> {
        (
            any::<i32>(),
            any::<i32>(),
            any::<bool>(),
            proptest::option::of(cursor_shape()),
        )
            .prop_map(|(x, y, visible, shape)| CursorUpdate {
                x,
                y,
                visible,
                shape,
            })
    }

    pub(crate) fn largest_instances() -> Vec<SessionMessage> {
        vec![
            ScreenInfo {
                width: largest(),
                height: largest(),
            }
            .into(),
            FrameUpdate {
                frame_seq: largest(),
                width: largest(),
                height: largest(),
                frame_complete: largest(),
                tiles: Largest::largest(),
            }
            .into(),
            CursorUpdate {
                x: largest(),
                y: largest(),
                visible: largest(),
                shape: largest(),
            }
            .into(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Message;

    fn cursor_bytes(w: u16, h: u16, hot_x: u16, hot_y: u16, rgba_len: usize) -> Vec<u8> {
        CursorShape {
            w,
            h,
            hot_x,
            hot_y,
            rgba: Bytes::new(vec![0; rgba_len]).unwrap(),
        }
        .to_bytes()
    }

    #[test]
    fn cursor_image_of_the_wrong_length_is_refused() {
        let bytes = cursor_bytes(4, 4, 0, 0, 4 * 4 * 4 - 1);
        assert_eq!(
            CursorShape::from_bytes(&bytes),
            Err(DecodeError::InvalidValue {
                what: "cursor image length",
                value: 63
            })
        );
        assert!(CursorShape::new(4, 4, 0, 0, vec![0; 65]).is_err());
    }

    #[test]
    fn cursor_hot_spot_outside_the_image_is_refused() {
        assert!(CursorShape::from_bytes(&cursor_bytes(4, 4, 4, 0, 64)).is_err());
        assert!(CursorShape::from_bytes(&cursor_bytes(4, 4, 0, 4, 64)).is_err());
        assert!(CursorShape::from_bytes(&cursor_bytes(4, 4, 3, 3, 64)).is_ok());
    }

    #[test]
    fn cursor_wider_than_the_limit_is_refused() {
        // 129 × 1 pixels fit the byte bound but not the side limit.
        let bytes = cursor_bytes(CURSOR_SIDE_MAX + 1, 1, 0, 0, 129 * 4);
        assert_eq!(
            CursorShape::from_bytes(&bytes),
            Err(DecodeError::InvalidValue {
                what: "cursor side",
                value: 129
            })
        );
    }

    #[test]
    fn a_full_update_of_largest_tiles_fits_one_record() {
        let update = FrameUpdate {
            frame_seq: 1,
            width: 1920,
            height: 1080,
            frame_complete: true,
            tiles: crate::messages::session::test_support::largest(),
        };
        let frame = update.to_frame().unwrap();
        assert_eq!(frame.len(), crate::wire::HEADER_LEN + FRAME_UPDATE_MAX);
        assert!(frame.len() <= crate::wire::MAX_RECORD_PLAINTEXT);
    }

    #[test]
    fn a_list_claiming_more_tiles_than_allowed_is_refused_before_decoding_them() {
        let mut payload = Vec::new();
        payload.extend_from_slice(&[0; 8 + 4 + 4]);
        payload.push(1);
        payload.extend_from_slice(&(MAX_TILES_PER_UPDATE as u32 + 1).to_be_bytes());
        assert_eq!(
            FrameUpdate::from_bytes(&payload),
            Err(DecodeError::TooManyItems {
                count: MAX_TILES_PER_UPDATE + 1,
                max: MAX_TILES_PER_UPDATE
            })
        );
    }
}
