//! When the relay's TLS certificate stops being valid, for the "certificate
//! about to expire" check (R15). The relay is pinned (R2), so expiry does not
//! stop the connection today, but an operator replacing the certificate
//! late means every host must be re-pinned; support should hear early.
//!
//! Only the one field is read, with a small bounded DER walk over
//! `Certificate → TBSCertificate → Validity → notAfter`; the certificate
//! has already been verified against the pin when this runs.

use assent_proto::civil_time::days_from_civil;

/// `notAfter` of the relay certificate this connection was made with, in
/// unix seconds; `None` when it cannot be read.
pub fn relay_certificate_not_after(connection: &quinn::Connection) -> Option<i64> {
    let identity = connection.peer_identity()?;
    let chain = identity
        .downcast::<Vec<quinn::rustls::pki_types::CertificateDer<'static>>>()
        .ok()?;
    not_after(chain.first()?.as_ref())
}

/// `notAfter` of a DER X.509 certificate, in unix seconds.
pub fn not_after(der: &[u8]) -> Option<i64> {
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, certificate, _) = tlv(der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = tlv(certificate)? else {
        return None;
    };
    let mut rest = tbs;
    // [0] version is optional; then serial, signature algorithm, issuer.
    let (tag, _, after) = tlv(rest)?;
    if tag == 0xA0 {
        rest = after;
    }
    for _ in 0..3 {
        rest = tlv(rest)?.2;
    }
    let (SEQUENCE, validity, _) = tlv(rest)? else {
        return None;
    };
    let (_, _, after_not_before) = tlv(validity)?;
    let (tag, time, _) = tlv(after_not_before)?;
    let time = std::str::from_utf8(time).ok()?;
    match tag {
        0x17 => utc_time(time),
        0x18 => generalized_time(time),
        _ => None,
    }
}

/// One DER element: tag, contents, what follows. Single-byte tags only
/// (all the certificate fields walked here have one).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, input) = input.split_first()?;
    let (&first, mut input) = input.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || input.len() < count {
            return None;
        }
        let (bytes, rest) = input.split_at(count);
        input = rest;
        bytes
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b))
    };
    if input.len() < len {
        return None;
    }
    let (contents, rest) = input.split_at(len);
    Some((tag, contents, rest))
}

/// `YYMMDDHHMMSSZ`; years 50–99 are 19xx (RFC 5280).
fn utc_time(text: &str) -> Option<i64> {
    let yy: i64 = digits(text, 0, 2)?;
    let year = if yy >= 50 { 1900 + yy } else { 2000 + yy };
    date_time(year, text.get(2..)?)
}

/// `YYYYMMDDHHMMSSZ`.
fn generalized_time(text: &str) -> Option<i64> {
    date_time(digits(text, 0, 4)?, text.get(4..)?)
}

/// `MMDDHHMMSSZ` after the year.
fn date_time(year: i64, text: &str) -> Option<i64> {
    if text.len() != 11 || !text.ends_with('Z') {
        return None;
    }
    let month = digits(text, 0, 2)? as u32;
    let day = digits(text, 2, 2)? as u32;
    let (hour, minute, second) = (
        digits(text, 4, 2)?,
        digits(text, 6, 2)?,
        digits(text, 8, 2)?,
    );
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

fn digits(text: &str, at: usize, len: usize) -> Option<i64> {
    let part = text.get(at..at + len)?;
    part.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| part.parse().ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if contents.len() < 0x80 {
            out.push(contents.len() as u8);
        } else {
            out.push(0x82);
            out.extend_from_slice(&(contents.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(contents);
        out
    }

    /// A certificate skeleton with the fields `not_after` walks over.
    fn certificate(not_after_tag: u8, not_after: &str) -> Vec<u8> {
        let validity = [
            element(0x17, b"240101000000Z"),
            element(not_after_tag, not_after.as_bytes()),
        ]
        .concat();
        let tbs = [
            element(0xA0, &element(0x02, &[2])),
            element(0x02, &[0x11; 20]),
            element(0x30, &element(0x06, &[0x2a; 8])),
            element(0x30, &[0x31; 200]),
            element(0x30, &validity),
            element(0x30, &[0; 10]),
        ]
        .concat();
        element(
            0x30,
            &[element(0x30, &tbs), element(0x30, &[0; 4])].concat(),
        )
    }

    #[test]
    fn not_after_is_read_from_utc_and_generalized_times() {
        let expected = days_from_civil(2031, 5, 17) * 86_400 + 12 * 3600 + 34 * 60 + 56;
        assert_eq!(
            not_after(&certificate(0x17, "310517123456Z")),
            Some(expected)
        );
        assert_eq!(
            not_after(&certificate(0x18, "20310517123456Z")),
            Some(expected)
        );
        let past = days_from_civil(1999, 12, 31) * 86_400;
        assert_eq!(not_after(&certificate(0x17, "991231000000Z")), Some(past));
    }

    #[test]
    fn a_truncated_or_malformed_certificate_gives_no_date() {
        let good = certificate(0x17, "310517123456Z");
        for len in 0..good.len() {
            assert_eq!(not_after(&good[..len]), None, "cut at {len}");
        }
        assert_eq!(not_after(&certificate(0x17, "31051712345xZ")), None);
        assert_eq!(not_after(&certificate(0x17, "311317123456Z")), None);
        assert_eq!(not_after(&certificate(0x04, "310517123456Z")), None);
    }
}
