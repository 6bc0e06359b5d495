//! Golden bytes (issue 12) for the file-transfer messages inside records,
//! written field by field from `PROTOCOL.md` and the canonical field
//! encoding. A PHI build (R11) has none of these types; there the same
//! frames must be refused as "not available", not as unknown.

mod golden;

/// Envelope of the `FileOffer` below: "AS", v1, FileOffer, 63 bytes.
const FILE_OFFER_HEADER: &str = "4153 01 0701 0000003f";
/// A `CapabilityRequest` for file transfer (capability code 3).
const FILE_TRANSFER_REQUEST: &str = "4153 01 0401 00000001 03";

#[cfg(feature = "file-transfer")]
mod vectors {
    use assent_proto::messages::consent::{Capability, CapabilityRequest};
    use assent_proto::messages::file_transfer::{
        FileAbort, FileChunk, FileComplete, FileOffer, FileOfferAnswer, TransferDirection,
    };

    use super::golden::{assert_codes, assert_golden, bytes, fill, prefixed, text};
    use super::{FILE_OFFER_HEADER, FILE_TRANSFER_REQUEST};

    #[test]
    fn file_offer_and_answer_bytes_are_fixed() {
        let offer = FileOffer {
            transfer_id: 1,
            name: text("run-42.csv"),
            size: 0x1234,
            sha256: [0xab; 32],
            direction: TransferDirection::FromHost,
        };
        assert_golden(
            &offer,
            &[
                FILE_OFFER_HEADER,
                "0000000000000001",                  // transfer_id
                &prefixed("0000000a", "run-42.csv"), // name
                "0000000000001234",                  // size
                &fill(0xab, 32),                     // sha256
                "02",                                // direction: from host
            ],
        );
        assert_golden(
            &FileOfferAnswer {
                transfer_id: 1,
                accepted: false,
                reason: text("no space"),
            },
            &[
                "4153 01 0702 00000015",
                "0000000000000001",
                "00", // refused
                &prefixed("00000008", "no space"),
            ],
        );
        assert_golden(
            &FileOfferAnswer {
                transfer_id: 1,
                accepted: true,
                reason: text(""),
            },
            &[
                "4153 01 0702 0000000d",
                "0000000000000001",
                "01",
                "00000000",
            ],
        );
    }

    #[test]
    fn file_chunk_complete_and_abort_bytes_are_fixed() {
        assert_golden(
            &FileChunk {
                transfer_id: 1,
                offset: 0x1_0000,
                data: bytes(0x5c, 4),
            },
            &[
                "4153 01 0703 00000018",
                "0000000000000001",  // transfer_id
                "0000000000010000",  // offset
                "00000004 5c5c5c5c", // data
            ],
        );
        assert_golden(
            &FileComplete { transfer_id: 1 },
            &["4153 01 0704 00000008", "0000000000000001"],
        );
        assert_golden(
            &FileAbort {
                transfer_id: 1,
                reason: text("cancelled"),
            },
            &[
                "4153 01 0705 00000015",
                "0000000000000001",
                &prefixed("00000009", "cancelled"),
            ],
        );
    }

    #[test]
    fn file_transfer_codes_are_fixed() {
        assert_codes(&[
            (TransferDirection::ToHost, 1),
            (TransferDirection::FromHost, 2),
        ]);
        assert_golden(
            &CapabilityRequest {
                capability: Capability::FileTransfer,
            },
            &[FILE_TRANSFER_REQUEST],
        );
    }
}

#[cfg(not(feature = "file-transfer"))]
#[test]
fn a_phi_build_refuses_the_golden_file_transfer_frames_as_unavailable() {
    use assent_proto::messages::consent::CapabilityRequest;
    use assent_proto::wire::{DecodeError, Header, Message, FILE_TRANSFER_UNAVAILABLE};

    let unavailable = DecodeError::Unavailable(FILE_TRANSFER_UNAVAILABLE);
    let header: [u8; 9] = golden::unhex(&[FILE_OFFER_HEADER]).try_into().unwrap();
    assert_eq!(Header::decode(&header).unwrap_err(), unavailable);
    let request = golden::unhex(&[FILE_TRANSFER_REQUEST]);
    assert_eq!(
        CapabilityRequest::from_frame(&request).unwrap_err(),
        unavailable
    );
}
