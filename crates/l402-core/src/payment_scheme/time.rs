//! RFC 3339 timestamps (`expires`, receipt `timestamp`), without a date library.
//!
//! We emit `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds), as Aperture does. We accept the
//! RFC 3339 `date-time` production: `T` or `t` (or a space, which RFC 3339 allows by
//! agreement) between date and time, optional fractional seconds, and `Z`/`z` or a
//! numeric offset. Leap seconds (`:60`) are refused: they cannot be told from the next
//! second without a table, and no server emits them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a timestamp was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// Not an RFC 3339 date-time (wrong shape, a field out of range, a leap second).
    #[error("not an rfc 3339 timestamp")]
    Malformed,
    /// Before 1970 or too far in the future to represent.
    #[error("timestamp out of range")]
    OutOfRange,
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count from 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    // Both fit: d is 1..=31 and m 1..=12 by construction.
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// `t` as `YYYY-MM-DDTHH:MM:SSZ`, truncated to whole seconds. Times before 1970 are
/// written as 1970-01-01T00:00:00Z.
#[must_use]
pub fn format_rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let secs = i64::try_from(secs).unwrap_or(i64::MAX / 2);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn digits(b: &[u8], at: usize, n: usize) -> Result<u32, TimestampError> {
    let field = b.get(at..at + n).ok_or(TimestampError::Malformed)?;
    field.iter().try_fold(0u32, |acc, &c| {
        if c.is_ascii_digit() {
            Ok(acc * 10 + u32::from(c - b'0'))
        } else {
            Err(TimestampError::Malformed)
        }
    })
}

fn expect(b: &[u8], at: usize, what: &[u8]) -> Result<(), TimestampError> {
    match b.get(at) {
        Some(c) if what.contains(c) => Ok(()),
        _ => Err(TimestampError::Malformed),
    }
}

/// Parses an RFC 3339 date-time. Fractional seconds are kept to the nanosecond.
///
/// # Errors
/// [`TimestampError`] for anything else, or a time before 1970.
pub fn parse_rfc3339(s: &str) -> Result<SystemTime, TimestampError> {
    let b = s.as_bytes();
    if b.len() > 64 {
        return Err(TimestampError::Malformed);
    }
    let year = digits(b, 0, 4)?;
    expect(b, 4, b"-")?;
    let month = digits(b, 5, 2)?;
    expect(b, 7, b"-")?;
    let day = digits(b, 8, 2)?;
    expect(b, 10, b"Tt ")?;
    let hour = digits(b, 11, 2)?;
    expect(b, 13, b":")?;
    let minute = digits(b, 14, 2)?;
    expect(b, 16, b":")?;
    let second = digits(b, 17, 2)?;
    let year = i64::from(year);
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(TimestampError::Malformed);
    }
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(c - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return Err(TimestampError::Malformed);
        }
        for _ in n..9 {
            nanos *= 10;
        }
    }
    let offset: i64 = match b.get(i) {
        Some(b'Z' | b'z') if b.len() == i + 1 => 0,
        Some(&sign @ (b'+' | b'-')) if b.len() == i + 6 => {
            let oh = digits(b, i + 1, 2)?;
            expect(b, i + 3, b":")?;
            let om = digits(b, i + 4, 2)?;
            if oh > 23 || om > 59 {
                return Err(TimestampError::Malformed);
            }
            let off = i64::from(oh * 3600 + om * 60);
            if sign == b'+' { off } else { -off }
        }
        _ => return Err(TimestampError::Malformed),
    };
    let secs = days_from_civil(year, month, day) * 86_400
        + i64::from(hour * 3600 + minute * 60 + second)
        - offset;
    let secs = u64::try_from(secs).map_err(|_| TimestampError::OutOfRange)?;
    UNIX_EPOCH
        .checked_add(Duration::new(secs, nanos))
        .ok_or(TimestampError::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn known_instants() {
        assert_eq!(format_rfc3339(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(at(1_773_576_300)), "2026-03-15T12:05:00Z");
        assert_eq!(parse_rfc3339("2026-03-15T12:05:00Z"), Ok(at(1_773_576_300)));
        assert_eq!(
            parse_rfc3339("2026-03-15t14:05:00+02:00"),
            Ok(at(1_773_576_300))
        );
        assert_eq!(
            parse_rfc3339("2026-03-15T11:05:00-01:00"),
            Ok(at(1_773_576_300))
        );
        assert_eq!(
            parse_rfc3339("2026-03-15T12:05:00.25Z"),
            Ok(at(1_773_576_300) + Duration::from_millis(250))
        );
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Ok(at(1_709_164_800)));
    }

    #[test]
    fn refuses_what_is_not_rfc_3339() {
        for bad in [
            "",
            "2026-03-15",
            "2026-03-15T12:05:00",
            "2026-03-15T12:05:00ZZ",
            "2026-13-15T12:05:00Z",
            "2025-02-29T00:00:00Z",
            "2026-03-15T24:00:00Z",
            "2026-03-15T12:05:60Z",
            "2026-03-15T12:05:00.Z",
            "2026-03-15T12:05:00+0200",
            "+026-03-15T12:05:00Z",
            "2026-03-15T12:05:00 Z",
            "1715000000",
        ] {
            assert_eq!(parse_rfc3339(bad), Err(TimestampError::Malformed), "{bad}");
        }
        assert_eq!(
            parse_rfc3339("1969-12-31T23:59:59Z"),
            Err(TimestampError::OutOfRange)
        );
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(secs in 0u64..253_402_300_800) {
            let t = at(secs);
            prop_assert_eq!(parse_rfc3339(&format_rfc3339(t)), Ok(t));
        }

        #[test]
        fn parser_never_panics(s in "\\PC{0,40}") {
            let _ = parse_rfc3339(&s);
        }
    }
}
