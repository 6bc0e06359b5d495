//! The viewer's tile decoder (`Framebuffer::apply`), three ways:
//! 1. arbitrary bytes as a stream of framed messages (the envelope decoder
//!    in arbitrary chunk sizes), every `FrameUpdate` applied to one
//!    framebuffer;
//! 2. arbitrary bytes as back-to-back `FrameUpdate` payloads (skips the
//!    envelope, so the fuzzer spends its effort on tiles and zstd);
//! 3. arbitrary bytes as a small screen, encoded by `TileEncoder`, framed,
//!    decoded and applied: the viewer's image equals the screen exactly.
//!
//! In 1 and 2 nothing may panic, the image always has exactly
//! `width * height * 4` bytes within `MAX_FRAME_SIDE`, and a refused update
//! leaves the image as it was.
#![no_main]

use assent_proto::messages::screen::FrameUpdate;
use assent_proto::screen_codec::{
    CapturedFrame, EncoderSettings, Framebuffer, TileEncoder, MAX_FRAME_SIDE,
};
use assent_proto::wire::{Field, FrameDecoder, Message, MessageType, Reader};
use libfuzzer_sys::fuzz_target;

/// Images up to this size are copied to check a refused update changed
/// nothing; larger ones (up to 256 MiB) only have their size checked.
const COMPARE_LIMIT: usize = 4 << 20;

fn apply_checked(framebuffer: &mut Framebuffer, update: &FrameUpdate) {
    let before = (framebuffer.bgrx().len() <= COMPARE_LIMIT).then(|| {
        (
            framebuffer.width(),
            framebuffer.height(),
            framebuffer.bgrx().to_vec(),
        )
    });
    let result = framebuffer.apply(update);
    let (width, height) = (framebuffer.width(), framebuffer.height());
    assert!((1..=MAX_FRAME_SIDE).contains(&width) && (1..=MAX_FRAME_SIDE).contains(&height));
    assert_eq!(
        framebuffer.bgrx().len(),
        width as usize * height as usize * 4
    );
    match (result, before) {
        (Err(_), Some(before)) => {
            assert_eq!(before.0, width);
            assert_eq!(before.1, height);
            assert!(
                before.2 == framebuffer.bgrx(),
                "refused update changed pixels"
            );
        }
        (Ok(applied), _) => assert_eq!(applied.tiles, update.tiles.len()),
        (Err(_), None) => {}
    }
}

fn framed_stream(data: &[u8]) {
    let Some((&chunk, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut decoder = FrameDecoder::new();
    let mut framebuffer = Framebuffer::new(64, 64).expect("64×64 is a valid screen");
    for piece in data.chunks(chunk) {
        let mut input = piece;
        while !input.is_empty() {
            match decoder.decode(&mut input) {
                Ok(Some(frame)) if frame.message_type == MessageType::FrameUpdate => {
                    if let Ok(update) = frame.decode::<FrameUpdate>() {
                        apply_checked(&mut framebuffer, &update);
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

fn bare_payloads(data: &[u8]) {
    let mut reader = Reader::new(data);
    let mut framebuffer = Framebuffer::new(64, 64).expect("64×64 is a valid screen");
    while let Ok(update) = FrameUpdate::decode(&mut reader) {
        apply_checked(&mut framebuffer, &update);
    }
}

fn encoder_round_trip(data: &[u8]) {
    let [w, h, padding, level, pixels @ ..] = data else {
        return;
    };
    if pixels.is_empty() {
        return;
    }
    let width = u32::from(*w % 160) + 1;
    let height = u32::from(*h % 160) + 1;
    let stride = width as usize * 4 + usize::from(*padding % 8);
    // The fuzz bytes, repeated: runs and repeats like real screens have.
    let bgrx: Vec<u8> = pixels
        .iter()
        .copied()
        .cycle()
        .take(stride * height as usize)
        .collect();
    let mut encoder = TileEncoder::new(EncoderSettings {
        zstd_level: i32::from(*level as i8 % 8),
    });
    let frame = CapturedFrame {
        width,
        height,
        stride,
        bgrx: &bgrx,
    };
    let mut framebuffer = Framebuffer::new(1, 1).expect("1×1 is a valid screen");
    for update in encoder
        .encode(&frame, 1)
        .expect("a well-formed frame encodes")
    {
        let wire = update.to_frame().expect("encoder output fits a frame");
        let decoded = FrameUpdate::from_frame(&wire).expect("encoder output decodes");
        framebuffer.apply(&decoded).expect("encoder output applies");
    }
    let row = width as usize * 4;
    for (y, packed) in framebuffer.bgrx().chunks(row).enumerate() {
        assert!(packed == &bgrx[y * stride..][..row], "row {y} differs");
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((mode, rest)) => match mode % 3 {
            0 => framed_stream(rest),
            1 => bare_payloads(rest),
            _ => encoder_round_trip(rest),
        },
        None => {}
    }
});
