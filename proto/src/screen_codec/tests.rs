use proptest::prelude::*;
use zstd::zstd_safe::{CCtx, CParameter};

use super::*;
use crate::messages::screen::{FrameUpdate, Tile, TileEncoding, MAX_TILES_PER_UPDATE};
use crate::wire::{Bytes, List};

/// A capture backend's image: BGRX rows `stride` bytes apart, the padding
/// filled with garbage that must never reach the viewer.
#[derive(Clone)]
struct Screen {
    width: u32,
    height: u32,
    stride: usize,
    bgrx: Vec<u8>,
}

impl Screen {
    fn new(width: u32, height: u32, padding: usize) -> Self {
        let stride = width as usize * 4 + padding;
        Self {
            width,
            height,
            stride,
            bgrx: vec![0xee; stride * height as usize],
        }
        .filled(0, 0, width, height, [0x30, 0x20, 0x10, 0])
    }

    fn frame(&self) -> CapturedFrame<'_> {
        CapturedFrame {
            width: self.width,
            height: self.height,
            stride: self.stride,
            bgrx: &self.bgrx,
        }
    }

    fn set(&mut self, x: u32, y: u32, pixel: [u8; 4]) {
        let at = y as usize * self.stride + x as usize * 4;
        self.bgrx[at..at + 4].copy_from_slice(&pixel);
    }

    fn filled(mut self, x: u32, y: u32, w: u32, h: u32, pixel: [u8; 4]) -> Self {
        for yy in y..(y + h).min(self.height) {
            for xx in x..(x + w).min(self.width) {
                self.set(xx, yy, pixel);
            }
        }
        self
    }

    /// Pixels that zstd cannot shrink (the padding byte too: the codec
    /// carries all four bytes whatever the backend puts there).
    fn noisy(mut self, x: u32, y: u32, w: u32, h: u32, seed: u64) -> Self {
        let mut state = seed | 1;
        for yy in y..(y + h).min(self.height) {
            for xx in x..(x + w).min(self.width) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let [b, g, r, x, ..] = state.to_le_bytes();
                self.set(xx, yy, [b, g, r, x]);
            }
        }
        self
    }

    /// The image as the viewer must hold it: rows packed, no padding.
    fn packed(&self) -> Vec<u8> {
        let row = self.width as usize * 4;
        self.bgrx
            .chunks(self.stride)
            .take(self.height as usize)
            .flat_map(|r| &r[..row])
            .copied()
            .collect()
    }
}

fn encoder() -> TileEncoder {
    TileEncoder::new(EncoderSettings::default())
}

fn tiles(updates: &[FrameUpdate]) -> Vec<&Tile> {
    updates.iter().flat_map(|u| u.tiles.iter()).collect()
}

fn apply_all(framebuffer: &mut Framebuffer, updates: &[FrameUpdate]) {
    for update in updates {
        framebuffer.apply(update).expect("encoder output applies");
    }
}

fn tile_count(width: u32, height: u32) -> usize {
    (width.div_ceil(TILE_SIDE) * height.div_ceil(TILE_SIDE)) as usize
}

fn update(width: u32, height: u32, tiles: Vec<Tile>) -> FrameUpdate {
    FrameUpdate {
        frame_seq: 9,
        width,
        height,
        frame_complete: true,
        tiles: List::new(tiles).unwrap(),
    }
}

fn raw_tile(x: u32, y: u32, w: u16, h: u16, pixel: u8) -> Tile {
    let len = usize::from(w) * usize::from(h) * 4;
    Tile {
        x,
        y,
        w,
        h,
        encoding: TileEncoding::Raw,
        data: Bytes::new(vec![pixel; len]).unwrap(),
    }
}

fn zstd_tile(w: u16, h: u16, pixels: &[u8], declare_size: bool) -> Tile {
    let mut cctx = CCtx::create();
    cctx.set_parameter(CParameter::ContentSizeFlag(declare_size))
        .unwrap();
    let mut out = vec![0; zstd::zstd_safe::compress_bound(pixels.len())];
    let len = cctx.compress2(&mut out[..], pixels).unwrap();
    out.truncate(len);
    Tile {
        x: 0,
        y: 0,
        w,
        h,
        encoding: TileEncoding::Zstd,
        data: Bytes::new(out).unwrap(),
    }
}

/// A framebuffer already showing a non-black image, to see it left alone.
fn painted_framebuffer() -> Framebuffer {
    let mut framebuffer = Framebuffer::new(100, 80).unwrap();
    framebuffer
        .apply(&update(100, 80, vec![raw_tile(0, 0, 64, 64, 0x55)]))
        .unwrap();
    framebuffer
}

fn assert_refused_and_unchanged(bad: &FrameUpdate, expected: CodecError) {
    let mut framebuffer = painted_framebuffer();
    let before = framebuffer.bgrx().to_vec();
    assert_eq!(framebuffer.apply(bad), Err(expected));
    assert_eq!((framebuffer.width(), framebuffer.height()), (100, 80));
    assert_eq!(framebuffer.bgrx(), before);
}

// ---- encoder ----

#[test]
fn round_trip_reproduces_odd_sized_frames_with_padded_strides_exactly() {
    let mut screen = Screen::new(130, 67, 12)
        .filled(3, 5, 40, 9, [0xff, 0xff, 0xff, 0])
        .noisy(70, 30, 50, 30, 7);
    let mut encoder = encoder();
    let mut framebuffer = Framebuffer::new(1, 1).unwrap();
    apply_all(
        &mut framebuffer,
        &encoder.encode(&screen.frame(), 1).unwrap(),
    );
    assert_eq!(framebuffer.bgrx(), screen.packed());
    assert_eq!((framebuffer.width(), framebuffer.height()), (130, 67));

    screen = screen.filled(120, 60, 10, 7, [1, 2, 3, 0]);
    apply_all(
        &mut framebuffer,
        &encoder.encode(&screen.frame(), 2).unwrap(),
    );
    assert_eq!(framebuffer.bgrx(), screen.packed());
}

#[test]
fn the_first_frame_sends_every_tile() {
    let screen = Screen::new(130, 67, 0);
    let updates = encoder().encode(&screen.frame(), 1).unwrap();
    assert_eq!(tiles(&updates).len(), tile_count(130, 67));
}

#[test]
fn an_unchanged_frame_produces_no_update() {
    let screen = Screen::new(200, 150, 8).noisy(10, 10, 100, 100, 3);
    let mut encoder = encoder();
    assert!(!encoder.encode(&screen.frame(), 1).unwrap().is_empty());
    assert!(encoder.encode(&screen.frame(), 2).unwrap().is_empty());
    // Changed padding is not a changed screen.
    let mut repadded = screen.clone();
    for row in repadded.bgrx.chunks_mut(repadded.stride) {
        row[200 * 4..].fill(0x11);
    }
    assert!(encoder.encode(&repadded.frame(), 3).unwrap().is_empty());
}

#[test]
fn one_changed_pixel_sends_exactly_the_tile_holding_it() {
    let mut screen = Screen::new(300, 200, 4);
    let mut encoder = encoder();
    encoder.encode(&screen.frame(), 1).unwrap();
    screen.set(130, 70, [9, 9, 9, 0]);
    let updates = encoder.encode(&screen.frame(), 2).unwrap();
    assert_eq!(updates.len(), 1);
    assert!(updates[0].frame_complete);
    assert_eq!(updates[0].frame_seq, 2);
    let sent = tiles(&updates);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].x, sent[0].y, sent[0].w, sent[0].h),
        (128, 64, 64, 64)
    );
}

#[test]
fn a_change_in_an_edge_tile_sends_that_partial_tile() {
    let mut screen = Screen::new(130, 67, 0);
    let mut encoder = encoder();
    encoder.encode(&screen.frame(), 1).unwrap();
    screen.set(129, 66, [1, 1, 1, 0]);
    let updates = encoder.encode(&screen.frame(), 2).unwrap();
    let sent = tiles(&updates);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].x, sent[0].y, sent[0].w, sent[0].h),
        (128, 64, 2, 3)
    );
}

#[test]
fn request_full_sends_every_tile_again() {
    let screen = Screen::new(200, 100, 0);
    let mut encoder = encoder();
    encoder.encode(&screen.frame(), 1).unwrap();
    encoder.request_full();
    let updates = encoder.encode(&screen.frame(), 2).unwrap();
    assert_eq!(tiles(&updates).len(), tile_count(200, 100));
    assert!(encoder.encode(&screen.frame(), 3).unwrap().is_empty());
}

#[test]
fn a_size_change_sends_every_tile_and_resizes_the_viewer() {
    let mut encoder = encoder();
    let mut framebuffer = Framebuffer::new(1, 1).unwrap();
    let small = Screen::new(100, 100, 0);
    apply_all(
        &mut framebuffer,
        &encoder.encode(&small.frame(), 1).unwrap(),
    );
    let large = Screen::new(150, 90, 0).noisy(0, 0, 20, 20, 5);
    let updates = encoder.encode(&large.frame(), 2).unwrap();
    assert_eq!(tiles(&updates).len(), tile_count(150, 90));
    assert!(framebuffer.apply(&updates[0]).unwrap().resized);
    apply_all(&mut framebuffer, &updates[1..]);
    assert_eq!(framebuffer.bgrx(), large.packed());
}

#[test]
fn updates_hold_at_most_63_tiles_and_only_the_last_completes_the_frame() {
    // 16 × 10 = 160 tiles: 63 + 63 + 34.
    let screen = Screen::new(1000, 600, 0);
    let updates = encoder().encode(&screen.frame(), 5).unwrap();
    let sizes: Vec<usize> = updates.iter().map(|u| u.tiles.len()).collect();
    assert_eq!(sizes, [MAX_TILES_PER_UPDATE, MAX_TILES_PER_UPDATE, 34]);
    let complete: Vec<bool> = updates.iter().map(|u| u.frame_complete).collect();
    assert_eq!(complete, [false, false, true]);
    assert!(updates.iter().all(|u| u.frame_seq == 5));
}

#[test]
fn incompressible_tiles_go_raw_and_flat_tiles_go_zstd() {
    let screen = Screen::new(128, 64, 0).noisy(0, 0, 64, 64, 11);
    let updates = encoder().encode(&screen.frame(), 1).unwrap();
    let sent = tiles(&updates);
    assert_eq!(sent[0].encoding, TileEncoding::Raw);
    assert_eq!(sent[0].data.len(), 64 * 64 * 4);
    assert_eq!(sent[1].encoding, TileEncoding::Zstd);
    assert!(sent[1].data.len() < 200, "{} bytes", sent[1].data.len());
}

#[test]
fn a_stride_shorter_than_a_row_is_refused() {
    let screen = Screen::new(10, 10, 0);
    let frame = CapturedFrame {
        stride: 39,
        ..screen.frame()
    };
    assert_eq!(
        encoder().encode(&frame, 1),
        Err(CodecError::StrideTooShort {
            stride: 39,
            width: 10
        })
    );
}

#[test]
fn a_buffer_shorter_than_its_rows_is_refused_but_the_last_row_needs_no_padding() {
    let screen = Screen::new(10, 10, 8);
    let exact = 48 * 9 + 40;
    let frame = CapturedFrame {
        bgrx: &screen.bgrx[..exact - 1],
        ..screen.frame()
    };
    assert_eq!(
        encoder().encode(&frame, 1),
        Err(CodecError::FrameBufferTooShort {
            len: exact - 1,
            needed: exact
        })
    );
    let frame = CapturedFrame {
        bgrx: &screen.bgrx[..exact],
        ..screen.frame()
    };
    assert!(encoder().encode(&frame, 1).is_ok());
}

#[test]
fn a_frame_beyond_the_maximum_side_or_empty_is_refused() {
    let wide = Screen::new(MAX_FRAME_SIDE + 1, 1, 0);
    assert_eq!(
        encoder().encode(&wide.frame(), 1),
        Err(CodecError::FrameSizeUnsupported {
            width: MAX_FRAME_SIDE + 1,
            height: 1
        })
    );
    let empty = CapturedFrame {
        width: 0,
        height: 5,
        stride: 0,
        bgrx: &[],
    };
    assert!(matches!(
        encoder().encode(&empty, 1),
        Err(CodecError::FrameSizeUnsupported { .. })
    ));
    assert!(matches!(
        Framebuffer::new(1, MAX_FRAME_SIDE + 1),
        Err(CodecError::FrameSizeUnsupported { .. })
    ));
}

#[test]
fn a_refused_frame_leaves_the_encoder_as_it_was() {
    let screen = Screen::new(100, 100, 0);
    let mut encoder = encoder();
    encoder.encode(&screen.frame(), 1).unwrap();
    let broken = CapturedFrame {
        width: 50,
        stride: 10,
        ..screen.frame()
    };
    assert!(encoder.encode(&broken, 2).is_err());
    assert!(encoder.encode(&screen.frame(), 3).unwrap().is_empty());
}

// ---- framebuffer ----

#[test]
fn a_tile_outside_the_frame_is_refused() {
    for (x, y) in [(37, 0), (0, 17), (u32::MAX - 10, 0), (0, u32::MAX)] {
        assert_refused_and_unchanged(
            &update(100, 80, vec![raw_tile(x, y, 64, 64, 1)]),
            CodecError::TileOutsideFrame {
                x,
                y,
                w: 64,
                h: 64,
                width: 100,
                height: 80,
            },
        );
    }
    // Touching the right and bottom edges is inside.
    let mut framebuffer = painted_framebuffer();
    let edge = update(100, 80, vec![raw_tile(36, 16, 64, 64, 1)]);
    assert!(framebuffer.apply(&edge).is_ok());
}

#[test]
fn a_tile_larger_than_64_pixels_or_empty_is_refused() {
    for (w, h) in [(65, 1), (1, 65), (0, 4), (4, 0)] {
        let tile = Tile {
            data: Bytes::new(Vec::new()).unwrap(),
            ..raw_tile(0, 0, 1, 1, 0)
        };
        assert_refused_and_unchanged(
            &update(100, 80, vec![Tile { w, h, ..tile }]),
            CodecError::TileSizeInvalid { w, h },
        );
    }
}

#[test]
fn a_raw_tile_of_the_wrong_length_is_refused() {
    let mut tile = raw_tile(0, 0, 8, 8, 1);
    tile.data = Bytes::new(vec![1; 8 * 8 * 4 - 1]).unwrap();
    assert_refused_and_unchanged(
        &update(100, 80, vec![tile]),
        CodecError::RawTileLengthMismatch {
            expected: 256,
            got: 255,
        },
    );
}

#[test]
fn corrupt_zstd_is_refused() {
    let mut tile = zstd_tile(8, 8, &[7; 256], true);
    let mut data = tile.data.into_vec();
    let last = data.len() - 1;
    data[last] ^= 0xff;
    data.truncate(last - 1);
    tile.data = Bytes::new(data).unwrap();
    let mut framebuffer = painted_framebuffer();
    let before = framebuffer.bgrx().to_vec();
    assert!(matches!(
        framebuffer.apply(&update(100, 80, vec![tile])),
        Err(CodecError::CompressedTileInvalid { expected: 256, .. })
    ));
    assert_eq!(framebuffer.bgrx(), before);

    let garbage = Tile {
        encoding: TileEncoding::Zstd,
        ..raw_tile(0, 0, 8, 8, 0x42)
    };
    assert!(matches!(
        framebuffer.apply(&update(100, 80, vec![garbage])),
        Err(CodecError::CompressedTileInvalid { .. })
    ));
}

#[test]
fn a_zstd_tile_declaring_the_wrong_length_is_refused() {
    let tile = zstd_tile(8, 8, &[7; 255], true);
    assert_refused_and_unchanged(
        &update(100, 80, vec![tile]),
        CodecError::CompressedTileLengthMismatch {
            expected: 256,
            got: 255,
        },
    );
}

#[test]
fn a_zstd_tile_decompressing_to_too_few_bytes_is_refused() {
    let tile = zstd_tile(8, 8, &[7; 200], false);
    assert_refused_and_unchanged(
        &update(100, 80, vec![tile]),
        CodecError::CompressedTileLengthMismatch {
            expected: 256,
            got: 200,
        },
    );
}

#[test]
fn a_zstd_bomb_is_refused_without_decompressing_past_the_tile() {
    // 64 MiB of zeros in a few KiB, once with an honest header, once without.
    let bomb = vec![0u8; 64 << 20];
    let declared = zstd_tile(64, 64, &bomb, true);
    assert_refused_and_unchanged(
        &update(100, 80, vec![declared]),
        CodecError::CompressedTileLengthMismatch {
            expected: 64 * 64 * 4,
            got: 64 << 20,
        },
    );
    let hidden = zstd_tile(64, 64, &bomb, false);
    let mut framebuffer = painted_framebuffer();
    assert!(matches!(
        framebuffer.apply(&update(100, 80, vec![hidden])),
        Err(CodecError::CompressedTileInvalid {
            expected: 16384,
            ..
        })
    ));
}

#[test]
fn an_update_for_a_screen_beyond_the_maximum_side_is_refused() {
    assert_refused_and_unchanged(
        &update(MAX_FRAME_SIDE + 1, 80, vec![]),
        CodecError::FrameSizeUnsupported {
            width: MAX_FRAME_SIDE + 1,
            height: 80,
        },
    );
}

#[test]
fn a_bad_tile_after_good_ones_leaves_the_framebuffer_unchanged_even_on_resize() {
    let good = raw_tile(0, 0, 4, 4, 0xaa);
    let bad = raw_tile(190, 0, 64, 4, 0xaa);
    assert_refused_and_unchanged(
        &update(200, 50, vec![good, bad]),
        CodecError::TileOutsideFrame {
            x: 190,
            y: 0,
            w: 64,
            h: 4,
            width: 200,
            height: 50,
        },
    );
}

#[test]
fn a_new_size_resets_the_image_to_black() {
    let mut framebuffer = painted_framebuffer();
    let applied = framebuffer
        .apply(&update(120, 80, vec![raw_tile(0, 0, 1, 1, 0xaa)]))
        .unwrap();
    assert!(applied.resized);
    assert_eq!(framebuffer.bgrx()[..4], [0xaa; 4]);
    assert!(framebuffer.bgrx()[4..].iter().all(|&b| b == 0));
    framebuffer.reset(3, 2).unwrap();
    assert_eq!(framebuffer.bgrx(), [0; 3 * 2 * 4]);
}

#[test]
fn applied_reports_the_frame_and_whether_it_is_complete() {
    let mut framebuffer = painted_framebuffer();
    let mut partial = update(
        100,
        80,
        vec![raw_tile(0, 0, 2, 2, 1), raw_tile(4, 4, 2, 2, 1)],
    );
    partial.frame_complete = false;
    assert_eq!(
        framebuffer.apply(&partial).unwrap(),
        Applied {
            frame_seq: 9,
            tiles: 2,
            frame_complete: false,
            resized: false
        }
    );
}

#[test]
fn rgba_and_0rgb_views_reorder_channels_and_drop_the_padding_byte() {
    let screen = Screen::new(2, 1, 0)
        .filled(0, 0, 1, 1, [0x01, 0x02, 0x03, 0x77])
        .filled(1, 0, 1, 1, [0xb0, 0xd0, 0xc0, 0]);
    let mut framebuffer = Framebuffer::new(2, 1).unwrap();
    apply_all(
        &mut framebuffer,
        &encoder().encode(&screen.frame(), 1).unwrap(),
    );
    assert_eq!(
        framebuffer.to_rgba(),
        [0x03, 0x02, 0x01, 0xff, 0xc0, 0xd0, 0xb0, 0xff]
    );
    assert_eq!(framebuffer.to_0rgb_u32(), [0x0003_0201, 0x00c0_d0b0]);
}

// ---- properties ----

/// A rectangle repainted between two frames: flat colour or noise.
#[derive(Debug, Clone)]
struct Paint {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
    noise: bool,
    value: u64,
}

fn paint() -> impl Strategy<Value = Paint> {
    (
        0u32..200,
        0u32..200,
        1u32..90,
        1u32..90,
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(x, y, w, h, noise, value)| Paint {
            x,
            y,
            w,
            h,
            noise,
            value,
        })
}

fn painted(screen: Screen, paint: &Paint) -> Screen {
    if paint.noise {
        screen.noisy(paint.x, paint.y, paint.w, paint.h, paint.value)
    } else {
        let [b, g, r, ..] = paint.value.to_le_bytes();
        screen.filled(paint.x, paint.y, paint.w, paint.h, [b, g, r, 0])
    }
}

/// Small updates of any shape: mostly wrong, some right.
fn hostile_update() -> impl Strategy<Value = FrameUpdate> {
    let tile = (
        0u32..140,
        0u32..140,
        0u16..70,
        0u16..70,
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..300),
        any::<bool>(),
    )
        .prop_map(|(x, y, w, h, zstd, data, compress_right_size)| {
            let len = usize::from(w) * usize::from(h) * 4;
            let data = if compress_right_size && (1..=TILE_DATA_MAX).contains(&len) {
                let pixels: Vec<u8> = data.iter().copied().cycle().take(len).collect();
                if zstd {
                    zstd_tile(w, h, &pixels, true).data.into_vec()
                } else {
                    pixels
                }
            } else {
                data
            };
            Tile {
                x,
                y,
                w,
                h,
                encoding: if zstd {
                    TileEncoding::Zstd
                } else {
                    TileEncoding::Raw
                },
                data: Bytes::new(data).unwrap(),
            }
        });
    (1u32..130, 1u32..130, proptest::collection::vec(tile, 0..6))
        .prop_map(|(width, height, tiles)| update(width, height, tiles))
}

use crate::messages::screen::TILE_DATA_MAX;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_sequence_of_frames_round_trips_pixel_exactly_sending_only_changed_tiles(
        width in 1u32..200,
        height in 1u32..200,
        padding in 0usize..10,
        first in paint(),
        changes in proptest::collection::vec(proptest::collection::vec(paint(), 0..4), 1..4),
    ) {
        let mut screen = painted(Screen::new(width, height, padding), &first);
        let mut encoder = encoder();
        let mut framebuffer = Framebuffer::new(1, 1).unwrap();
        let mut previous = None;
        for (seq, frame_changes) in changes.iter().enumerate() {
            let updates = encoder.encode(&screen.frame(), seq as u64).unwrap();
            for tile in tiles(&updates) {
                let raw = usize::from(tile.w) * usize::from(tile.h) * 4;
                match tile.encoding {
                    TileEncoding::Raw => prop_assert_eq!(tile.data.len(), raw),
                    TileEncoding::Zstd => prop_assert!(tile.data.len() < raw),
                }
                // Only tiles that differ from what the viewer holds are sent.
                if let Some(before) = &previous {
                    prop_assert!(tile_differs(before, &screen, tile));
                }
            }
            apply_all(&mut framebuffer, &updates);
            let expected = screen.packed();
            prop_assert_eq!(framebuffer.bgrx(), expected.as_slice());
            previous = Some(screen.clone());
            for change in frame_changes {
                screen = painted(screen, change);
            }
        }
    }

    #[test]
    fn hostile_updates_never_panic_and_a_refused_one_changes_nothing(
        updates in proptest::collection::vec(hostile_update(), 1..5),
    ) {
        let mut framebuffer = Framebuffer::new(64, 64).unwrap();
        for update in &updates {
            let before = (framebuffer.width(), framebuffer.height(), framebuffer.bgrx().to_vec());
            if framebuffer.apply(update).is_err() {
                let after = (framebuffer.width(), framebuffer.height(), framebuffer.bgrx().to_vec());
                prop_assert_eq!(before, after);
            }
        }
    }
}

fn tile_differs(before: &Screen, now: &Screen, tile: &Tile) -> bool {
    let (a, b) = (before.packed(), now.packed());
    let row = now.width as usize * 4;
    (tile.y..tile.y + u32::from(tile.h)).any(|y| {
        let start = y as usize * row + tile.x as usize * 4;
        let len = usize::from(tile.w) * 4;
        a[start..start + len] != b[start..start + len]
    })
}
