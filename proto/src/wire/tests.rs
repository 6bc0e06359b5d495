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

#[test]
fn frame_split_anywhere_decodes_identically() {
    let frame = Frame {
        message_type: MessageType::Notification,
        payload: (0..200u8).collect(),
    };
    let bytes = frame.to_bytes();
    for split in 0..=bytes.len() {
        let mut decoder = FrameDecoder::new();
        let (first, second) = bytes.split_at(split);
        let mut input = first;
        let mut got = decoder.decode(&mut input).unwrap();
        assert!(input.is_empty());
        if got.is_none() {
            let mut input = second;
            got = decoder.decode(&mut input).unwrap();
            assert!(input.is_empty());
        }
        assert_eq!(got.as_ref(), Some(&frame), "split at {split}");
        assert!(decoder.is_idle());
    }
}

#[test]
fn bad_magic_unknown_type_and_wrong_version_are_refused() {
    let good = Header {
        message_type: MessageType::Ack,
        len: 0,
    }
    .encode();
    let mut bad_magic = good;
    bad_magic[0] = b'X';
    assert_eq!(Header::decode(&bad_magic), Err(DecodeError::BadMagic));
    let mut bad_version = good;
    bad_version[2] = 9;
    assert_eq!(
        Header::decode(&bad_version),
        Err(DecodeError::UnsupportedVersion(9))
    );
    let mut unknown = good;
    unknown[3..5].copy_from_slice(&0x7777u16.to_be_bytes());
    assert_eq!(
        Header::decode(&unknown),
        Err(DecodeError::UnknownMessageType(0x7777))
    );
}

#[test]
fn lying_list_count_is_refused_before_decoding_items() {
    // A count of 4 billion with no items behind it.
    let bytes = u32::MAX.to_be_bytes();
    let err = List::<u64, 10>::from_bytes(&bytes).unwrap_err();
    assert_eq!(
        err,
        DecodeError::TooManyItems {
            count: u32::MAX as usize,
            max: 10
        }
    );
    // Within the bound but more than the bytes present: truncated, no huge allocation.
    let mut bytes = 10u32.to_be_bytes().to_vec();
    bytes.extend_from_slice(&[0; 8]);
    assert!(matches!(
        List::<u64, 10>::from_bytes(&bytes),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn text_with_control_characters_is_refused() {
    assert_eq!(
        Text::<16>::new("bell\u{7}"),
        Err(DecodeError::ControlCharacter)
    );
    let mut bytes = 5u32.to_be_bytes().to_vec();
    bytes.extend_from_slice(b"ab\x1b[m");
    assert_eq!(
        Text::<16>::from_bytes(&bytes),
        Err(DecodeError::ControlCharacter)
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_bytes_in_arbitrary_chunks_never_panic(
            data in proptest::collection::vec(any::<u8>(), 0..4096),
            chunk in 1usize..64,
        ) {
            let mut decoder = FrameDecoder::new();
            'outer: for piece in data.chunks(chunk) {
                let mut input = piece;
                while !input.is_empty() {
                    match decoder.decode(&mut input) {
                        Ok(Some(frame)) => prop_assert!(frame.payload.len() <= frame.message_type.max_len()),
                        Ok(None) => break,
                        Err(_) => break 'outer,
                    }
                }
            }
        }

        #[test]
        fn valid_frames_survive_any_chunking(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..8),
            chunk in 1usize..512,
        ) {
            let frames: Vec<Frame> = payloads
                .into_iter()
                .map(|payload| Frame { message_type: MessageType::Notification, payload })
                .collect();
            let stream: Vec<u8> = frames.iter().flat_map(Frame::to_bytes).collect();
            let mut decoder = FrameDecoder::new();
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                let mut input = piece;
                while let Some(frame) = decoder.decode(&mut input).unwrap() {
                    got.push(frame);
                }
            }
            prop_assert_eq!(got, frames);
            prop_assert!(decoder.is_idle());
        }
    }
}
