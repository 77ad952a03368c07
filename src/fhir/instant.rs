//! Time as FHIR writes it: `instant` values for `meta.lastUpdated`, and the range of
//! time a (possibly partial) `dateTime` such as `2024-05` stands for, which
//! `_since` and `_at` use. Times are microseconds since the Unix epoch, UTC.

use super::calendar::{civil_from_days, days_from_civil, days_in_month};
use std::time::{SystemTime, UNIX_EPOCH};

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// An `instant` in UTC with microseconds: `2026-11-21T09:30:12.345678Z`.
pub fn format_instant(micros: i64) -> String {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let rest = micros.rem_euclid(MICROS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let secs = rest / MICROS_PER_SECOND;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        rest % MICROS_PER_SECOND
    )
}

/// The half-open range `[start, end)` of microseconds that a FHIR date, dateTime or
/// instant covers at its precision: `2024` is the whole year, `2024-05-01T10:00Z`
/// one minute. A value without a time zone is read as UTC. `None` if malformed.
pub fn parse_range(text: &str) -> Option<(i64, i64)> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let s = b.get(from..from + len)?;
        s.iter()
            .all(u8::is_ascii_digit)
            .then(|| s.iter().fold(0i64, |acc, c| acc * 10 + i64::from(c - b'0')))
    };
    let year = num(0, 4)?;
    if b.len() == 4 {
        let start = days_from_civil(year, 1, 1) * MICROS_PER_DAY;
        return Some((start, days_from_civil(year + 1, 1, 1) * MICROS_PER_DAY));
    }
    if b.get(4) != Some(&b'-') {
        return None;
    }
    let month = num(5, 2).filter(|m| (1..=12).contains(m))?;
    if b.len() == 7 {
        let start = days_from_civil(year, month, 1) * MICROS_PER_DAY;
        let (ny, nm) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        return Some((start, days_from_civil(ny, nm, 1) * MICROS_PER_DAY));
    }
    if b.get(7) != Some(&b'-') {
        return None;
    }
    let day = num(8, 2).filter(|d| (1..=days_in_month(year, month)).contains(d))?;
    let day_start = days_from_civil(year, month, day) * MICROS_PER_DAY;
    if b.len() == 10 {
        return Some((day_start, day_start + MICROS_PER_DAY));
    }
    if b.get(10) != Some(&b'T') || b.get(13) != Some(&b':') {
        return None;
    }
    let hour = num(11, 2).filter(|h| *h < 24)?;
    let minute = num(14, 2).filter(|m| *m < 60)?;
    let mut pos = 16;
    let mut second = None;
    let mut fraction = None;
    if b.get(pos) == Some(&b':') {
        second = Some(num(pos + 1, 2).filter(|s| *s < 60)?);
        pos += 3;
        if b.get(pos) == Some(&b'.') {
            let digits = b[pos + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if digits == 0 {
                return None;
            }
            fraction = Some((pos + 1, digits));
            pos += 1 + digits;
        }
    }
    let offset = match b.get(pos) {
        None => 0,
        Some(b'Z') if b.len() == pos + 1 => 0,
        Some(sign @ (b'+' | b'-')) if b.len() == pos + 6 && b[pos + 3] == b':' => {
            let minutes =
                num(pos + 1, 2).filter(|h| *h <= 14)? * 60 + num(pos + 4, 2).filter(|m| *m < 60)?;
            if *sign == b'+' { minutes } else { -minutes }
        }
        _ => return None,
    };
    let mut start = day_start + (hour * 3600 + minute * 60 - offset * 60) * MICROS_PER_SECOND;
    let width = match (second, fraction) {
        (None, _) => 60 * MICROS_PER_SECOND,
        (Some(s), None) => {
            start += s * MICROS_PER_SECOND;
            MICROS_PER_SECOND
        }
        (Some(s), Some((from, digits))) => {
            start += s * MICROS_PER_SECOND;
            let used = digits.min(6);
            let frac = num(from, used)?;
            let scale = 10i64.pow(6 - used as u32);
            start += frac * scale;
            scale
        }
    };
    Some((start, start + width))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_back() {
        let t = 1_763_717_412_345_678;
        let text = format_instant(t);
        assert_eq!(text, "2025-11-21T09:30:12.345678Z");
        assert_eq!(parse_range(&text), Some((t, t + 1)));
        assert_eq!(format_instant(0), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn partial_values_cover_their_precision() {
        let (s, e) = parse_range("2024").unwrap();
        assert_eq!(format_instant(s), "2024-01-01T00:00:00.000000Z");
        assert_eq!(format_instant(e), "2025-01-01T00:00:00.000000Z");
        let (s, e) = parse_range("2024-02").unwrap();
        assert_eq!(e - s, 29 * MICROS_PER_DAY);
        let (s, _) = parse_range("2024-02-29T10:00+02:00").unwrap();
        assert_eq!(format_instant(s), "2024-02-29T08:00:00.000000Z");
        assert_eq!(
            parse_range("2024-02-29T10:00:05.5Z").map(|(s, e)| e - s),
            Some(100_000)
        );
    }

    #[test]
    fn malformed_values_are_refused() {
        for bad in [
            "",
            "24",
            "2024-13",
            "2023-02-29",
            "2024-01-01T25:00Z",
            "2024-01-01T10",
            "2024-01-01T10:00:00.Z",
            "2024-01-01X",
            "2024-01-01T10:00:00+2:00",
        ] {
            assert_eq!(parse_range(bad), None, "{bad}");
        }
    }
}
