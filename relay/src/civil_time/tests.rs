use proptest::prelude::*;

use super::*;

#[test]
fn known_dates_map_to_known_day_numbers() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    assert_eq!(days_from_civil(2024, 2, 29), 19_782);
    assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    assert_eq!(civil_from_days(-1), (1969, 12, 31));
    assert_eq!(days_from_civil(9999, 12, 31), 2_932_896);
}

#[test]
fn unix_times_format_as_rfc3339_utc() {
    assert_eq!(format_unix_ms(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(
        format_unix_ms(1_782_828_309_042),
        "2026-06-30T14:05:09.042Z"
    );
    assert_eq!(format_unix_secs(1_782_777_600), "2026-06-30");
    assert_eq!(format_unix_secs(1_782_828_309), "2026-06-30T14:05:09Z");
}

#[test]
fn times_past_year_9999_are_clamped_not_garbled() {
    assert_eq!(format_unix_ms(u64::MAX), "9999-12-31T23:59:59.999Z");
    assert_eq!(format_unix_secs(u64::MAX), "9999-12-31T23:59:59Z");
}

#[test]
fn dates_and_times_parse_to_utc_unix_ms() {
    let date: GivenTime = "2026-06-30".parse().unwrap();
    assert_eq!(
        date,
        GivenTime {
            unix_ms: 1_782_777_600_000,
            date_only: true
        }
    );
    assert_eq!(date.end_unix_ms(), 1_782_777_600_000 + MS_PER_DAY);
    let utc: GivenTime = "2026-06-30T14:05:09Z".parse().unwrap();
    assert_eq!(utc.unix_ms, 1_782_828_309_000);
    assert!(!utc.date_only);
    assert_eq!(utc.end_unix_ms(), utc.unix_ms);
    // No offset means UTC; a space may replace the T; fractions keep milliseconds.
    for same in [
        "2026-06-30 14:05:09",
        "2026-06-30t14:05:09z",
        "2026-06-30T16:05:09+02:00",
        "2026-06-30T09:05:09-05:00",
    ] {
        assert_eq!(
            same.parse::<GivenTime>().unwrap().unix_ms,
            utc.unix_ms,
            "{same}"
        );
    }
    assert_eq!(
        "2026-06-30T14:05:09.0429Z"
            .parse::<GivenTime>()
            .unwrap()
            .unix_ms,
        utc.unix_ms + 42
    );
    assert_eq!(
        "2026-06-30T14:05".parse::<GivenTime>().unwrap().unix_ms,
        utc.unix_ms - 9_000
    );
}

#[test]
fn impossible_or_malformed_dates_are_refused_with_the_input_named() {
    for bad in [
        "2026-02-29",
        "2026-13-01",
        "2026-04-31",
        "2026-00-10",
        "2026-06-30T24:00:00Z",
        "2026-06-30T12:60:00Z",
        "2026-06-30T12:00:60Z",
        "2026-06-30T12:00:00+24:00",
    ] {
        let err = bad.parse::<GivenTime>().unwrap_err();
        assert!(
            matches!(err, DateError::OutOfRange { .. }),
            "{bad}: {err:?}"
        );
        assert!(err.to_string().contains(bad), "{err}");
    }
    for bad in [
        "",
        "tomorrow",
        "30/06/2026",
        "2026-6-30",
        "2026-06-30T",
        "2026-06-30X12:00",
        "2026-06-30T1:00",
        "2026-06-30T12:00:00.Z",
        "2026-06-30T12:00:00+0200",
        "２０２６-06-30",
        "2026-06-30T12:00:00:00",
    ] {
        assert!(
            matches!(
                bad.parse::<GivenTime>(),
                Err(DateError::Malformed(ref s)) if s == bad
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        "1969-12-31".parse::<GivenTime>(),
        Err(DateError::OutOfRange { .. })
    ));
    assert!(matches!(
        "1970-01-01T00:30:00+01:00".parse::<GivenTime>(),
        Err(DateError::OutOfRange { .. })
    ));
}

#[test]
fn durations_are_whole_hours_days_or_weeks() {
    assert_eq!(parse_duration_secs("90d"), Ok(90 * SECS_PER_DAY));
    assert_eq!(parse_duration_secs("2w"), Ok(14 * SECS_PER_DAY));
    assert_eq!(parse_duration_secs("36H"), Ok(36 * 3600));
    for bad in ["", "d", "90", "-5d", "1.5d", "90m", "9 0d", "90dd", "+3d"] {
        assert!(
            matches!(
                parse_duration_secs(bad),
                Err(DateError::MalformedDuration(_))
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        parse_duration_secs("0d"),
        Err(DateError::OutOfRange { .. })
    ));
    assert!(matches!(
        parse_duration_secs("99999999999999999999d"),
        Err(DateError::MalformedDuration(_))
    ));
    assert!(matches!(
        parse_duration_secs("400000d"),
        Err(DateError::OutOfRange { .. })
    ));
}

proptest! {
    #[test]
    fn day_numbers_round_trip_through_civil_dates(days in -1_000_000i64..4_000_000) {
        let (year, month, day) = civil_from_days(days);
        prop_assert!((1..=12).contains(&month));
        prop_assert!(day >= 1 && day <= days_in_month(year, month));
        prop_assert_eq!(days_from_civil(year, month, day), days);
    }

    #[test]
    fn consecutive_days_are_consecutive_dates(days in -1_000_000i64..4_000_000) {
        let (y1, m1, d1) = civil_from_days(days);
        let (y2, m2, d2) = civil_from_days(days + 1);
        if d1 < days_in_month(y1, m1) {
            prop_assert_eq!((y2, m2, d2), (y1, m1, d1 + 1));
        } else if m1 < 12 {
            prop_assert_eq!((y2, m2, d2), (y1, m1 + 1, 1));
        } else {
            prop_assert_eq!((y2, m2, d2), (y1 + 1, 1, 1));
        }
    }

    #[test]
    fn formatted_times_parse_back_to_the_same_instant(unix_ms in 0u64..=LAST_FORMATTED_MS) {
        let text = format_unix_ms(unix_ms);
        let parsed: GivenTime = text.parse().unwrap();
        prop_assert_eq!(parsed.unix_ms, unix_ms);
        let secs = unix_ms / 1000;
        let parsed: GivenTime = format_unix_secs(secs).parse().unwrap();
        prop_assert_eq!(parsed.unix_ms, secs * 1000);
    }

    #[test]
    fn arbitrary_text_never_panics_the_parsers(s in "\\PC{0,40}") {
        let _ = s.parse::<GivenTime>();
        let _ = parse_duration_secs(&s);
    }
}
