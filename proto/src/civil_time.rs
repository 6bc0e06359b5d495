//! UTC calendar dates without a date crate (proleptic Gregorian, Howard
//! Hinnant's algorithms): shared by the relay's admin commands and the
//! host's certificate check and listings, so both print times alike.

/// Milliseconds in a day.
pub const MS_PER_DAY: u64 = 86_400_000;
/// Latest instant formatted: 9999-12-31T23:59:59.999Z. Later times (only a
/// faulty clock writes them) are shown as that, so output stays RFC 3339.
pub const LAST_FORMATTED_MS: u64 = 253_402_300_799_999;
/// Days from 0000-03-01 to 1970-01-01 (Hinnant's epoch shift).
const EPOCH_SHIFT_DAYS: i64 = 719_468;
const DAYS_PER_ERA: i64 = 146_097;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`). `month` is 1–12 and `day` 1–31; callers check that
/// the day exists in the month ([`days_in_month`]).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * DAYS_PER_ERA + doe - EPOCH_SHIFT_DAYS
}

/// The date `days` after 1970-01-01 (Hinnant's `civil_from_days`): year,
/// month 1–12, day 1–31.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + EPOCH_SHIFT_DAYS;
    let era = z.div_euclid(DAYS_PER_ERA);
    let doe = z.rem_euclid(DAYS_PER_ERA);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // Both are small and positive by construction (1..=31, 1..=12).
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

pub fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// `2027-06-30T14:05:09.042Z`: RFC 3339 in UTC with milliseconds.
pub fn format_unix_ms(unix_ms: u64) -> String {
    let unix_ms = unix_ms.min(LAST_FORMATTED_MS);
    let (year, month, day) = civil_from_days((unix_ms / MS_PER_DAY) as i64);
    let ms_of_day = unix_ms % MS_PER_DAY;
    let secs = ms_of_day / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        ms_of_day % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_through_day_numbers() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for days in [-1, 0, 59, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn unix_times_format_as_rfc_3339_utc() {
        assert_eq!(format_unix_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(
            format_unix_ms(1_700_000_000_999),
            "2023-11-14T22:13:20.999Z"
        );
        assert_eq!(format_unix_ms(u64::MAX), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn february_has_29_days_only_in_leap_years() {
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(2026, 13), 0);
    }
}
