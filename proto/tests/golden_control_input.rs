//! Golden codes (issue 12) for the control and input enums, whose
//! messages' bytes are in `golden_wire.rs`: a vector holds one value of an
//! enum, so only a full table catches a renumbered code. Also `PointerMove`
//! both ways (`golden_wire.rs` checks only its encoding, as a record's
//! plaintext).

mod golden;

use assent_proto::messages::consent::{Capability, DecisionOutcome, SessionErrorCode};
use assent_proto::messages::input::{MouseButton, PointerMove};
use golden::{assert_codes, assert_golden};

#[test]
fn control_enum_codes_are_fixed() {
    assert_codes(&[
        (Capability::ScreenView, 1),
        (Capability::RemoteControl, 2),
        // On a PHI build code 3 is refused (as unavailable), like any code outside the table.
        #[cfg(feature = "file-transfer")]
        (Capability::FileTransfer, 3),
    ]);
    use DecisionOutcome as D;
    assert_codes(&[(D::Granted, 1), (D::Refused, 2), (D::TimedOut, 3)]);
    use SessionErrorCode as E;
    assert_codes(&[
        (E::Malformed, 1),
        (E::Unavailable, 2),
        (E::NotGranted, 3),
        (E::RateLimited, 4),
        (E::Internal, 5),
        (E::InvalidState, 6),
    ]);
}

#[test]
fn input_codes_and_pointer_move_bytes_are_fixed() {
    use MouseButton as B;
    assert_codes(&[
        (B::Left, 1),
        (B::Middle, 2),
        (B::Right, 3),
        (B::Back, 4),
        (B::Forward, 5),
    ]);
    assert_golden(
        &PointerMove { x: 100, y: -2 },
        &["4153 01 0601 00000008", "00000064", "fffffffe"], // x 100, y -2
    );
}
