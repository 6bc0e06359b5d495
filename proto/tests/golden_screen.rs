//! Golden bytes (issue 12) for the screen messages inside records, written
//! field by field from `PROTOCOL.md` ("Screen tiles" and the canonical
//! field encoding). Tile data is opaque at this layer (the tile codec checks
//! it), so the tiles here carry marker bytes, not real pixels.

mod golden;

use assent_proto::messages::screen::{
    CursorShape, CursorUpdate, FrameUpdate, ScreenInfo, Tile, TileEncoding,
};
use assent_proto::wire::{Bytes, List};
use golden::{assert_codes, assert_golden, bytes};

#[test]
fn screen_info_bytes_are_fixed() {
    assert_golden(
        &ScreenInfo {
            width: 1920,
            height: 1080,
        },
        &["4153 01 0501 00000008", "00000780", "00000438"], // 1920 × 1080
    );
}

#[test]
fn frame_update_bytes_are_fixed() {
    let update = FrameUpdate {
        frame_seq: 7,
        width: 1920,
        height: 1080,
        frame_complete: true,
        tiles: List::new(vec![
            Tile {
                x: 64,
                y: 128,
                w: 2,
                h: 1,
                encoding: TileEncoding::Raw,
                // Two BGRX pixels.
                data: Bytes::new(vec![0x10, 0x20, 0x30, 0x00, 0x40, 0x50, 0x60, 0x00]).unwrap(),
            },
            Tile {
                x: 1856,
                y: 1024,
                w: 64,
                h: 56,
                encoding: TileEncoding::Zstd,
                data: bytes(0x28, 5),
            },
        ])
        .unwrap(),
    };
    assert_golden(
        &update,
        &[
            "4153 01 0502 00000044", // FrameUpdate, 68 bytes
            "0000000000000007",      // frame_seq
            "00000780 00000438",     // width, height
            "01",                    // frame_complete
            "00000002",              // two tiles
            // Tile: x u32, y u32, w u16, h u16, encoding u8, len u32, data.
            "00000040 00000080 0002 0001 00 00000008 1020300040506000", // raw 2×1
            "00000740 00000400 0040 0038 01 00000005 2828282828",       // zstd 64×56
        ],
    );
}

#[test]
fn cursor_update_bytes_are_fixed() {
    assert_golden(
        &CursorUpdate {
            x: -5,
            y: 300,
            visible: true,
            shape: None,
        },
        &[
            "4153 01 0503 0000000a",
            "fffffffb 0000012c", // x -5, y 300
            "01",                // visible
            "00",                // shape: None (image unchanged)
        ],
    );
    // 3 × 2 pixels, hot spot (1, 0): four u16s that differ, so a swap shows.
    let rgba: Vec<u8> = (0..24).collect();
    let shape = CursorShape::new(3, 2, 1, 0, rgba).unwrap();
    assert_golden(
        &CursorUpdate {
            x: 10,
            y: 20,
            visible: false,
            shape: Some(shape),
        },
        &[
            "4153 01 0503 0000002e", // CursorUpdate, 46 bytes
            "0000000a 00000014",     // x 10, y 20
            "00",                    // hidden
            "01",                    // shape: Some
            "0003 0002",             // w 3, h 2
            "0001 0000",             // hot spot (1, 0)
            "00000018",              // rgba: 3 × 2 × 4 bytes
            "000102030405060708090a0b 0c0d0e0f1011121314151617",
        ],
    );
}

#[test]
fn tile_encoding_codes_are_fixed() {
    assert_codes(&[(TileEncoding::Raw, 0), (TileEncoding::Zstd, 1)]);
}
