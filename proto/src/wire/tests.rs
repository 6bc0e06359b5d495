use super::*;

#[test]
fn oversized_length_prefix_is_refused_without_allocating() {
    // A header announcing 4 GiB for a tiny message type.
    let mut bytes = Header {
        message_type: MessageType::Ack,
        len: 0,
    }
    .encode();
    bytes[5..9].copy_from_slice(&u32::MAX.to_be_bytes());
    let mut decoder = FrameDecoder::new();
    let mut input = &bytes[..];
    let err = decoder.decode(&mut input).unwrap_err();
    assert!(
        matches!(err, DecodeError::FrameTooLarge { len, max: 64, .. } if len == u32::MAX as usize)
    );
    // Nothing was buffered for the payload.
    assert!(decoder.is_idle());
    // And the stream stays failed.
    assert_eq!(
        decoder.decode(&mut &b""[..]),
        Err(DecodeError::StreamFailed)
    );
}
