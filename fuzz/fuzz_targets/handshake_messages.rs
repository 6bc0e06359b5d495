//! Each handshake message decoder (ViewerHello, HostHello, ViewerFinish,
//! HostFinish, HandshakeAbort) on arbitrary bytes: a clean error or a value
//! that re-encodes to exactly the input (canonical encoding, no panic).
#![no_main]

use assent_proto::messages::handshake::{
    HandshakeAbort, HostFinish, HostHello, ViewerFinish, ViewerHello,
};
use assent_proto::wire::Field;
use libfuzzer_sys::fuzz_target;

fn check<M: Field + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
    if let Ok(message) = M::from_bytes(bytes) {
        assert_eq!(message.to_bytes(), bytes, "decoding must be canonical");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 5 {
        0 => check::<ViewerHello>(bytes),
        1 => check::<HostHello>(bytes),
        2 => check::<ViewerFinish>(bytes),
        3 => check::<HostFinish>(bytes),
        _ => check::<HandshakeAbort>(bytes),
    }
});
