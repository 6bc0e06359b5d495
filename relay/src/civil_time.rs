//! UTC calendar dates for the admin commands and e-mail headers, without a date crate: parsing
//! the RFC 3339 dates and times operators type (`--expires`, `--since`,
//! `--until`), durations like `90d`, and formatting unix times for listings
//! and exports (R7, R12). Proleptic Gregorian calendar, UTC only.

use std::str::FromStr;

pub(crate) use assent_proto::civil_time::{
    civil_from_days, days_from_civil, days_in_month, format_unix_ms,
};
use assent_proto::civil_time::{LAST_FORMATTED_MS, MS_PER_DAY};

pub(crate) const SECS_PER_DAY: u64 = 86_400;

/// Why a date, time or duration typed on the command line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("{0:?} is not a date or time; give an RFC 3339 date like 2027-06-30 or a UTC time like 2027-06-30T14:00:00Z")]
    Malformed(String),
    #[error("{input:?}: {problem}")]
    OutOfRange { input: String, problem: String },
    #[error("{0:?} is not a duration; give a whole number of days, weeks or hours, like 90d, 12w or 36h")]
    MalformedDuration(String),
}

/// `2027-06-30` for a midnight, `2027-06-30T14:05:09Z` otherwise: a unix
/// second shown as briefly as it can be without losing anything.
pub(crate) fn format_unix_secs(unix: u64) -> String {
    let unix_ms = unix.saturating_mul(1000).min(LAST_FORMATTED_MS);
    let (year, month, day) = civil_from_days((unix_ms / MS_PER_DAY) as i64);
    let secs = unix_ms % MS_PER_DAY / 1000;
    if secs == 0 {
        format!("{year:04}-{month:02}-{day:02}")
    } else {
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }
}

/// A point in time typed on the command line: an RFC 3339 date (its 00:00
/// UTC) or date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GivenTime {
    pub unix_ms: u64,
    /// Given as a bare date: `--until` then means "through that day".
    pub date_only: bool,
}

impl GivenTime {
    /// The instant just after the day (or time) given ends, for inclusive
    /// "until" bounds: the next midnight for a date, the instant itself otherwise.
    pub fn end_unix_ms(&self) -> u64 {
        if self.date_only {
            self.unix_ms.saturating_add(MS_PER_DAY)
        } else {
            self.unix_ms
        }
    }
}

impl FromStr for GivenTime {
    type Err = DateError;

    /// Accepts `YYYY-MM-DD`, or that followed by `T` (or a space) and
    /// `HH:MM[:SS[.fraction]]` and an optional `Z` or `±HH:MM` offset; no
    /// offset means UTC. Milliseconds are kept, finer digits dropped.
    fn from_str(input: &str) -> Result<Self, DateError> {
        let s = input.trim();
        let malformed = || DateError::Malformed(input.to_owned());
        let range = |problem: String| DateError::OutOfRange {
            input: input.to_owned(),
            problem,
        };
        let (date, time) = match s.get(..10) {
            Some(date) if s.len() == 10 => (date, None),
            Some(date) => {
                let rest = s.get(10..).ok_or_else(malformed)?;
                let time = rest.strip_prefix(['T', 't', ' ']).ok_or_else(malformed)?;
                (date, Some(time))
            }
            None => return Err(malformed()),
        };
        let days = parse_date(date).ok_or_else(malformed)?.map_err(range)?;
        let day_ms = u64::try_from(days)
            .map_err(|_| range("dates before 1970-01-01 are not supported".into()))?
            * MS_PER_DAY;
        let Some(time) = time else {
            return Ok(Self {
                unix_ms: day_ms,
                date_only: true,
            });
        };
        let (ms_of_day, offset_ms) = parse_time(time).ok_or_else(malformed)?.map_err(range)?;
        let unix_ms = i128::from(day_ms) + i128::from(ms_of_day) - i128::from(offset_ms);
        let unix_ms = u64::try_from(unix_ms)
            .map_err(|_| range("times before 1970-01-01T00:00:00Z are not supported".into()))?;
        Ok(Self {
            unix_ms,
            date_only: false,
        })
    }
}

/// `YYYY-MM-DD` to days since 1970; `None` when it is not of that shape,
/// `Some(Err)` when it names no real day.
fn parse_date(date: &str) -> Option<Result<i64, String>> {
    let bytes = date.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year = digits(&date[..4])?;
    let month = digits(&date[5..7])?;
    let day = digits(&date[8..10])?;
    let year = i64::from(year);
    if !(1..=12).contains(&month) {
        return Some(Err(format!("month {month} does not exist")));
    }
    if day == 0 || day > days_in_month(year, month) {
        return Some(Err(format!(
            "day {day} does not exist in {year:04}-{month:02}"
        )));
    }
    Some(Ok(days_from_civil(year, month, day)))
}

/// `HH:MM[:SS[.frac]][Z|±HH:MM]` to (milliseconds into the day, offset east
/// of UTC in milliseconds).
fn parse_time(time: &str) -> Option<Result<(u32, i64), String>> {
    let (clock, offset_ms) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else if let Some(at) = time.rfind(['+', '-']) {
        let (clock, zone) = time.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let zone = &zone[1..];
        if zone.len() != 5 || zone.as_bytes()[2] != b':' {
            return None;
        }
        let (hours, minutes) = (digits(&zone[..2])?, digits(&zone[3..])?);
        if hours > 23 || minutes > 59 {
            return Some(Err(format!("offset {zone} is not a valid UTC offset")));
        }
        (clock, sign * i64::from(hours * 3600 + minutes * 60) * 1000)
    } else {
        (time, 0)
    };
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, fraction)) => (hms, Some(fraction)),
        None => (clock, None),
    };
    let mut parts = hms.split(':');
    let hours = two_digits(parts.next()?)?;
    let minutes = two_digits(parts.next()?)?;
    let seconds = match parts.next() {
        Some(seconds) => two_digits(seconds)?,
        None if fraction.is_none() => 0,
        None => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    let millis = match fraction {
        Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            // Milliseconds: the first three digits, padded.
            let padded = format!("{:0<3}", &f[..f.len().min(3)]);
            digits(&padded)?
        }
        Some(_) => return None,
        None => 0,
    };
    if hours > 23 || minutes > 59 || seconds > 59 {
        return Some(Err(format!(
            "{hours:02}:{minutes:02}:{seconds:02} is not a time of day (leap seconds are not accepted)"
        )));
    }
    Some(Ok((
        (hours * 3600 + minutes * 60 + seconds) * 1000 + millis,
        offset_ms,
    )))
}

fn two_digits(s: &str) -> Option<u32> {
    if s.len() == 2 {
        digits(s)
    } else {
        None
    }
}

/// A non-empty run of ASCII digits (no sign, no spaces) as a number.
fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A duration typed on the command line, in seconds: a positive whole number
/// followed by `d` (days), `w` (weeks) or `h` (hours), e.g. `90d`.
pub fn parse_duration_secs(input: &str) -> Result<u64, DateError> {
    let malformed = || DateError::MalformedDuration(input.to_owned());
    let s = input.trim();
    let unit = s.chars().last().ok_or_else(malformed)?;
    let unit_secs: u64 = match unit.to_ascii_lowercase() {
        'h' => 3600,
        'd' => SECS_PER_DAY,
        'w' => 7 * SECS_PER_DAY,
        _ => return Err(malformed()),
    };
    let number = &s[..s.len() - unit.len_utf8()];
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    let count: u64 = number.parse().map_err(|_| malformed())?;
    if count == 0 {
        return Err(DateError::OutOfRange {
            input: input.to_owned(),
            problem: "a duration must be longer than zero".into(),
        });
    }
    count
        .checked_mul(unit_secs)
        .filter(|secs| *secs <= 1000 * 366 * SECS_PER_DAY)
        .ok_or_else(|| DateError::OutOfRange {
            input: input.to_owned(),
            problem: "durations longer than 1000 years are not accepted".into(),
        })
}

#[cfg(test)]
mod tests;
