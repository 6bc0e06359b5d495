use std::collections::VecDeque;

use rand_core::{CryptoRng, OsRng, RngCore};

use super::*;

/// Hands out the given u32s, then zeros.
struct ScriptedRng(VecDeque<u32>);

impl RngCore for ScriptedRng {
    fn next_u32(&mut self) -> u32 {
        self.0.pop_front().unwrap_or(0)
    }
    fn next_u64(&mut self) -> u64 {
        u64::from(self.next_u32())
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest {
            *byte = self.next_u32() as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for ScriptedRng {}

fn code(text: &str) -> LocationCode {
    LocationCode::parse(text).expect("test code")
}

fn message(to: &str, code_text: &str, sent_at_unix: u64) -> LocationCodeMessage {
    LocationCodeMessage {
        to_email: to.to_owned(),
        viewer_name: "Dana Engineer".to_owned(),
        code: code(code_text),
        sent_at_unix,
        expires_at_unix: sent_at_unix + 600,
        relay_name: "Example relay".to_owned(),
        location: "device key SHA256:3f1c, network 203.0.113.0/24".to_owned(),
    }
}

#[test]
fn generated_codes_are_eight_digits() {
    for _ in 0..1000 {
        let code = LocationCode::generate(&mut OsRng);
        assert_eq!(code.as_str().len(), LocationCode::DIGITS);
        assert!(code.as_str().bytes().all(|b| b.is_ascii_digit()));
    }
}

#[test]
fn generated_codes_are_uniform_over_leading_digits() {
    const SAMPLES: usize = 50_000;
    let mut counts = [0usize; 10];
    for _ in 0..SAMPLES {
        let code = LocationCode::generate(&mut OsRng);
        counts[usize::from(code.as_str().as_bytes()[0] - b'0')] += 1;
    }
    // Chi-square with 9 degrees of freedom; 46 is about the 1e-6 tail, so a
    // fair generator practically never fails while a skewed one does.
    let expected = SAMPLES as f64 / 10.0;
    let chi2: f64 = counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum();
    assert!(
        chi2 < 46.0,
        "leading digits skewed: {counts:?} (chi2 {chi2})"
    );
}

#[test]
fn draws_in_the_biased_zone_are_rejected_not_folded() {
    // 4_200_000_000 and above would make low codes more likely if folded
    // with `%`; they must be thrown away.
    let mut rng = ScriptedRng(VecDeque::from([u32::MAX, 4_200_000_000, 123]));
    assert_eq!(LocationCode::generate(&mut rng).as_str(), "00000123");
    let mut rng = ScriptedRng(VecDeque::from([4_199_999_999]));
    assert_eq!(LocationCode::generate(&mut rng).as_str(), "99999999");
}

#[test]
fn typed_codes_may_contain_spaces_and_dashes_but_nothing_else() {
    assert_eq!(code("1234 5678").as_str(), "12345678");
    assert_eq!(code(" 1234-5678 ").as_str(), "12345678");
    for bad in [
        "",
        "1234567",
        "123456789",
        "1234567a",
        "١٢٣٤٥٦٧٨",
        "1234\n5678",
        &"1".repeat(100),
    ] {
        assert_eq!(LocationCode::parse(bad), Err(CodeFormatError), "{bad:?}");
    }
}

#[test]
fn codes_never_show_in_debug_output() {
    let msg = message("dana@example.org", "31415926", 1_700_000_000);
    assert!(!format!("{msg:?}").contains("31415926"));
    assert_eq!(format!("{:?}", msg.code), "LocationCode(<redacted>)");
}

#[test]
fn code_hash_binds_code_identity_and_device() {
    let base = code_hash(&code("12345678"), b"viewer-fp", b"device-1");
    assert_eq!(
        base,
        code_hash(&code("1234 5678"), b"viewer-fp", b"device-1")
    );
    assert_ne!(
        base,
        code_hash(&code("12345679"), b"viewer-fp", b"device-1")
    );
    assert_ne!(
        base,
        code_hash(&code("12345678"), b"viewer-fq", b"device-1")
    );
    assert_ne!(
        base,
        code_hash(&code("12345678"), b"viewer-fp", b"device-2")
    );
    // Length prefixes: moving bytes between fields changes the hash.
    assert_ne!(
        code_hash(&code("12345678"), b"ab", b"c"),
        code_hash(&code("12345678"), b"a", b"bc")
    );
    // The domain label: not a bare SHA-256 of the code.
    let bare: [u8; 32] = Sha256::digest(b"12345678").into();
    assert_ne!(base, bare);
}

#[test]
fn code_hash_matches_only_the_code_it_was_made_from() {
    let stored = code_hash(&code("24681357"), b"fp", b"dev");
    assert!(code_hash_matches(&stored, &code("24681357"), b"fp", b"dev"));
    assert!(!code_hash_matches(
        &stored,
        &code("24681358"),
        b"fp",
        b"dev"
    ));
    assert!(!code_hash_matches(
        &stored,
        &code("24681357"),
        b"fp",
        b"other"
    ));
}

#[test]
fn rate_limiter_allows_n_codes_per_address_per_hour() {
    let start = Instant::now();
    let mut limiter = CodeRateLimiter::new(3);
    for minute in 0..3 {
        limiter
            .try_acquire("dana@example.org", start + Duration::from_secs(60 * minute))
            .expect("within the limit");
    }
    let refused = limiter.try_acquire("dana@example.org", start + Duration::from_secs(600));
    assert_eq!(
        refused,
        Err(CodeRateLimited::TooMany {
            retry_after: Duration::from_secs(3000)
        })
    );
    // Case and surrounding space do not make a new address.
    assert!(limiter
        .try_acquire(" DANA@Example.org", start + Duration::from_secs(601))
        .is_err());
    // Another address has its own allowance.
    limiter
        .try_acquire("lee@example.org", start + Duration::from_secs(601))
        .expect("separate address");
    // An hour after the first code, one more is allowed, and only one.
    let later = start + Duration::from_secs(3600);
    limiter
        .try_acquire("dana@example.org", later)
        .expect("window moved");
    assert!(limiter.try_acquire("dana@example.org", later).is_err());
}

#[test]
fn rate_limiter_memory_is_bounded_and_recovers_after_an_hour() {
    let start = Instant::now();
    let mut limiter = CodeRateLimiter::with_max_addresses(5, 2);
    limiter.try_acquire("a@example.org", start).expect("first");
    limiter.try_acquire("b@example.org", start).expect("second");
    assert_eq!(
        limiter.try_acquire("c@example.org", start),
        Err(CodeRateLimited::Busy)
    );
    // Known addresses still work while full.
    limiter
        .try_acquire("a@example.org", start)
        .expect("known address");
    // Once their codes are an hour old, the old addresses are forgotten.
    let later = start + HOUR;
    limiter
        .try_acquire("c@example.org", later)
        .expect("room again");
    assert!(limiter.sent.len() <= 2);
}

#[test]
fn only_plain_addresses_are_accepted() {
    for good in [
        "dana@example.org",
        "a.b+tag@sub.example.co.uk",
        "x@localhost",
    ] {
        assert_eq!(check_email_address(good), Ok(()), "{good}");
    }
    for bad in [
        "",
        "dana",
        "@example.org",
        "dana@",
        "dana@@example.org",
        "Dana <dana@example.org>",
        "dana@example.org\r\nBcc: evil@example.org",
        "dana@exa mple.org",
        "dana@-example.org",
        "dana@example..org",
        "dänä@example.org",
        &format!("{}@example.org", "a".repeat(65)),
    ] {
        assert!(check_email_address(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn dates_are_rendered_in_rfc5322_form() {
    assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
    assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    assert_eq!(
        rfc5322_date(1_700_000_000),
        "Tue, 14 Nov 2023 22:13:20 +0000"
    );
    assert_eq!(utc_timestamp(1_700_000_000), "2023-11-14 22:13:20");
    assert_eq!(rfc5322_date(u64::MAX), "Fri, 31 Dec 9999 23:59:59 +0000");
}

#[test]
fn names_cannot_add_headers_or_lines_to_the_email() {
    let mut msg = message("dana@example.org", "11112222", 1_700_000_000);
    msg.viewer_name = "Dana\r\nBcc: evil@example.org\r\n\r\nConfirmation code: 99999999".to_owned();
    msg.location = "net\n.\nQUIT".to_owned();
    let text = render_email(&msg, "relay@example.org").expect("renders");
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    assert!(!head.contains("Bcc"), "{head}");
    assert!(
        !body
            .lines()
            .any(|l| l.starts_with("Bcc") || l == "." || l == "QUIT"),
        "{body}"
    );
    let code_lines: Vec<&str> = body.lines().filter(|l| l.starts_with(CODE_LINE)).collect();
    assert_eq!(code_lines, ["Confirmation code: 11112222"]);
    assert!(text
        .split("\r\n")
        .all(|line| !line.contains('\n') && line.len() < 998));
}

#[test]
fn a_message_to_a_bad_address_is_refused() {
    let msg = message("dana@example.org\r\nBcc: x@y.org", "11112222", 1);
    assert!(matches!(
        render_email(&msg, "relay@example.org"),
        Err(NotifyError::InvalidMessage {
            field: "to_email",
            ..
        })
    ));
}

#[test]
fn arbitrary_message_fields_never_panic() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let pieces = [
        "a", "@", ".", "\r\n", "\0", "é", "😀", " ", "-", "x.org", "\u{202e}",
    ];
    let mut text = || -> String {
        (0..next() % 40)
            .map(|_| pieces[(next() % pieces.len() as u64) as usize])
            .collect()
    };
    for _ in 0..2000 {
        let mut msg = message("dana@example.org", "12345678", 0);
        msg.to_email = text();
        msg.viewer_name = text();
        msg.relay_name = text();
        msg.location = text();
        let _ = render_email(&msg, "relay@example.org");
        let _ = LocationCode::parse(&text());
        let _ = check_email_address(&text());
    }
    let _ = utc_parts(u64::MAX);
}

#[test]
fn outbox_writes_one_private_file_per_message_with_the_code() {
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox_dir = dir.path().join("outbox");
    let outbox = OutboxNotifier::new(&outbox_dir);
    outbox
        .send(&message("dana@example.org", "55556666", 1_700_000_000))
        .expect("sent");
    let files: Vec<_> = std::fs::read_dir(&outbox_dir)
        .expect("outbox created")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "one file, no temporary left: {files:?}");
    let text = std::fs::read_to_string(&files[0]).expect("readable");
    assert!(text.starts_with("From: assent-relay@localhost\r\nTo: dana@example.org\r\nSubject: "));
    assert!(text.contains("\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
    assert!(text.contains("\r\n\r\nHello Dana Engineer,"));
    assert!(text.contains("Confirmation code: 55556666\r\n"));
    assert!(
        text.contains("2023-11-14 22:23:20 (UTC)"),
        "expiry shown: {text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files[0])
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "message readable by the relay only");
        let dir_mode = std::fs::metadata(&outbox_dir)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
    }
}

#[test]
fn outbox_file_names_sort_by_sending_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = OutboxNotifier::new(dir.path());
    for (sent_at, code_text) in [
        (1_000_000_000, "00000003"),
        (999, "00000001"),
        (1_000, "00000002"),
    ] {
        outbox
            .send(&message("dana@example.org", code_text, sent_at))
            .expect("sent");
    }
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("read")
        .map(|e| e.expect("entry").file_name().into_string().expect("UTF-8"))
        .collect();
    names.sort();
    let codes: Vec<String> = names
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(dir.path().join(name)).expect("read");
            outbox::code_sent_to(&text, "dana@example.org")
                .expect("code")
                .as_str()
                .to_owned()
        })
        .collect();
    assert_eq!(codes, ["00000001", "00000002", "00000003"]);
}

#[test]
fn read_latest_code_finds_the_newest_code_for_that_address_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = OutboxNotifier::new(dir.path());
    assert_eq!(
        OutboxNotifier::read_latest_code(dir.path(), "dana@example.org").expect("read"),
        None
    );
    outbox
        .send(&message("dana@example.org", "11111111", 100))
        .expect("sent");
    outbox
        .send(&message("dana@example.org", "22222222", 200))
        .expect("sent");
    outbox
        .send(&message("lee@example.org", "33333333", 300))
        .expect("sent");
    // Things in the outbox that are not messages are skipped.
    std::fs::write(dir.path().join("README"), "not a message").expect("write");
    std::fs::write(dir.path().join("99999999999999999999-x.eml"), [0xff, 0xfe]).expect("write");
    let latest = OutboxNotifier::read_latest_code(dir.path(), "DANA@example.org")
        .expect("read")
        .expect("a code");
    assert_eq!(latest.as_str(), "22222222");
    let lee = OutboxNotifier::read_latest_code(dir.path(), "lee@example.org")
        .expect("read")
        .expect("a code");
    assert_eq!(lee.as_str(), "33333333");
    assert_eq!(
        OutboxNotifier::read_latest_code(dir.path(), "nobody@example.org").expect("read"),
        None
    );
}

#[test]
fn outbox_refuses_a_bad_message_without_writing_anything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = OutboxNotifier::new(dir.path());
    let err = outbox
        .send(&message("not an address", "11111111", 1))
        .expect_err("refused");
    assert!(matches!(err, NotifyError::InvalidMessage { .. }), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).expect("read").count(), 0);
}

#[test]
fn outbox_that_cannot_be_written_reports_the_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let blocker = dir.path().join("file-not-dir");
    std::fs::write(&blocker, "x").expect("write");
    let err = OutboxNotifier::new(blocker.join("outbox"))
        .send(&message("dana@example.org", "11111111", 1))
        .expect_err("cannot create a directory under a file");
    assert!(err.to_string().contains("file-not-dir"), "{err}");
}

#[test]
fn default_config_builds_an_outbox_notifier_in_the_data_dir() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = RelayConfig {
        data_dir: dir.path().to_owned(),
        ..RelayConfig::default()
    };
    let notifier = build_notifier(&config, &|_: &str| None).expect("outbox");
    notifier
        .send(&message("dana@example.org", "12121212", 5))
        .expect("sent");
    let code = OutboxNotifier::read_latest_code(&dir.path().join("outbox"), "dana@example.org")
        .expect("read")
        .expect("code");
    assert_eq!(code.as_str(), "12121212");
}
