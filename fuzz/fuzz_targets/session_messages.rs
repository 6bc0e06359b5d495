//! Everything that can arrive inside an end-to-end record, and everything a
//! relay can receive: arbitrary bytes give a message that re-encodes to the
//! same frame, or a clean error.
#![no_main]

use assent_proto::messages::session::SessionMessage;
use assent_proto::messages::signalling::SignallingMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    if which % 2 == 0 {
        if let Ok(message) = SessionMessage::from_frame_bytes(bytes) {
            assert_eq!(message.to_frame().unwrap(), bytes);
        }
    } else if let Ok(message) = SignallingMessage::from_frame_bytes(bytes) {
        assert_eq!(message.to_frame().unwrap(), bytes);
    }
});
