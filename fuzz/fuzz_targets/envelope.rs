//! Envelope decoder: arbitrary bytes, fed in arbitrary chunk sizes, must give
//! frames or a clean error — never a panic, and never a buffer larger than the
//! announced (already bounded) frame.
#![no_main]

use assent_proto::wire::{FrameDecoder, MessageType, HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut decoder = FrameDecoder::new();
    for piece in data.chunks(chunk) {
        let mut input = piece;
        while !input.is_empty() {
            match decoder.decode(&mut input) {
                Ok(Some(frame)) => {
                    assert!(frame.payload.len() <= frame.message_type.max_len());
                    assert!(MessageType::ALL.contains(&frame.message_type));
                    let bytes = frame.to_bytes();
                    assert_eq!(bytes.len(), HEADER_LEN + frame.payload.len());
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
