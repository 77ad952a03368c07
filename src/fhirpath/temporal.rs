//! FHIRPath `Date`, `DateTime` and `Time` values: parsing with their precision
//! (`2015`, `2015-02`, `2015-02-04T14:34`, `14:34:28.123`), comparison that is
//! empty when precisions differ, time-zone normalisation, calendar arithmetic
//! with durations, and the text form (`toString()`).

use crate::fhir::calendar;
use std::cmp::Ordering;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// How much of a date, date-time or time is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Precision {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    /// Seconds with a fraction; compared as `Second` (the spec treats them alike).
    Fraction,
}

impl Precision {
    /// Seconds and fractions of seconds are one precision for comparison.
    fn comparable(self) -> Precision {
        if self == Precision::Fraction {
            Precision::Second
        } else {
            self
        }
    }
}

/// A calendar or clock unit for date arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CalendarUnit {
    Year,
    Month,
    Week,
    Day,
    Hour,
    Minute,
    Second,
    Millisecond,
}

/// Which of the three kinds a [`Temporal`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemporalKind {
    Date,
    DateTime,
    Time,
}

/// A date, date-time or time. Fields beyond `precision` are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Temporal {
    pub kind: TemporalKind,
    pub year: i32,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub nanos: u32,
    /// Digits of the fraction of a second as written (0 when none).
    pub frac_digits: u8,
    pub precision: Precision,
    /// Offset from UTC in minutes, when given.
    pub tz: Option<i16>,
    /// The offset was written `Z`.
    pub zulu: bool,
}

fn days_in_month(y: i32, m: u8) -> u8 {
    calendar::days_in_month(i64::from(y), i64::from(m)) as u8
}

fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    calendar::days_from_civil(i64::from(y), i64::from(m), i64::from(d))
}

fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let (y, m, d) = calendar::civil_from_days(z);
    (y, m as u8, d as u8)
}

const NANOS_PER_DAY: i64 = 86_400_000_000_000;

/// Reads `n` ASCII digits at the start of `s`.
fn digits(s: &str, n: usize) -> Option<(u32, &str)> {
    let head = s.get(..n)?;
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((head.parse().ok()?, &s[n..]))
}

impl Temporal {
    fn empty(kind: TemporalKind) -> Temporal {
        Temporal {
            kind,
            year: 0,
            month: 0,
            day: 0,
            hour: 0,
            minute: 0,
            second: 0,
            nanos: 0,
            frac_digits: 0,
            precision: Precision::Year,
            tz: None,
            zulu: false,
        }
    }

    /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`; returns the rest of the text.
    fn parse_date_part<'s>(s: &'s str, t: &mut Temporal) -> Option<&'s str> {
        let (y, mut rest) = digits(s, 4)?;
        t.year = i32::try_from(y).ok()?;
        t.precision = Precision::Year;
        if let Some(r) = rest.strip_prefix('-') {
            let (m, r) = digits(r, 2)?;
            if !(1..=12).contains(&m) {
                return None;
            }
            t.month = m as u8;
            t.precision = Precision::Month;
            rest = r;
            if let Some(r) = rest.strip_prefix('-') {
                let (d, r) = digits(r, 2)?;
                if d < 1 || d > u32::from(days_in_month(t.year, t.month)) {
                    return None;
                }
                t.day = d as u8;
                t.precision = Precision::Day;
                rest = r;
            }
        }
        Some(rest)
    }

    /// `HH`, `HH:mm`, `HH:mm:ss` or `HH:mm:ss.fff`; returns the rest of the text.
    fn parse_time_part<'s>(s: &'s str, t: &mut Temporal) -> Option<&'s str> {
        let (h, mut rest) = digits(s, 2)?;
        if h > 23 {
            return None;
        }
        t.hour = h as u8;
        t.precision = Precision::Hour;
        if let Some(r) = rest.strip_prefix(':') {
            let (m, r) = digits(r, 2)?;
            if m > 59 {
                return None;
            }
            t.minute = m as u8;
            t.precision = Precision::Minute;
            rest = r;
            if let Some(r) = rest.strip_prefix(':') {
                let (sec, r) = digits(r, 2)?;
                if sec > 59 {
                    return None;
                }
                t.second = sec as u8;
                t.precision = Precision::Second;
                rest = r;
                if let Some(r) = rest.strip_prefix('.') {
                    let n = r.bytes().take_while(u8::is_ascii_digit).count();
                    if n == 0 {
                        return None;
                    }
                    let kept = n.min(9);
                    let (f, _) = digits(r, kept)?;
                    t.nanos = f * 10u32.pow(9 - kept as u32);
                    t.frac_digits = kept as u8;
                    t.precision = Precision::Fraction;
                    rest = &r[n..];
                }
            }
        }
        Some(rest)
    }

    /// `Z`, `+HH:MM` or `-HH:MM`.
    fn parse_zone(s: &str, t: &mut Temporal) -> Option<()> {
        if s == "Z" {
            t.tz = Some(0);
            t.zulu = true;
            return Some(());
        }
        let sign: i16 = match s.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let (h, r) = digits(&s[1..], 2)?;
        let r = r.strip_prefix(':')?;
        let (m, r) = digits(r, 2)?;
        if !r.is_empty() || h > 14 || m > 59 {
            return None;
        }
        t.tz = Some(sign * (h as i16 * 60 + m as i16));
        Some(())
    }

    /// A date: `2015`, `2015-02`, `2015-02-04`.
    pub fn parse_date(s: &str) -> Option<Temporal> {
        let mut t = Temporal::empty(TemporalKind::Date);
        let rest = Temporal::parse_date_part(s, &mut t)?;
        rest.is_empty().then_some(t)
    }

    /// A date-time: a date, optionally `T` and a time, optionally a zone.
    /// `2015T` and `2015-02-04T` (FHIRPath literals) are date-times of the date's precision.
    pub fn parse_datetime(s: &str) -> Option<Temporal> {
        let mut t = Temporal::empty(TemporalKind::DateTime);
        let rest = Temporal::parse_date_part(s, &mut t)?;
        let Some(rest) = rest.strip_prefix('T') else {
            return rest.is_empty().then_some(t);
        };
        if rest.is_empty() {
            return Some(t);
        }
        if t.precision != Precision::Day {
            return None;
        }
        let rest = Temporal::parse_time_part(rest, &mut t)?;
        if !rest.is_empty() {
            Temporal::parse_zone(rest, &mut t)?;
        }
        Some(t)
    }

    /// A time of day without zone: `14`, `14:34`, `14:34:28.123`.
    pub fn parse_time(s: &str) -> Option<Temporal> {
        let mut t = Temporal::empty(TemporalKind::Time);
        let rest = Temporal::parse_time_part(s, &mut t)?;
        rest.is_empty().then_some(t)
    }

    /// The current moment in UTC, with milliseconds.
    pub fn now() -> Temporal {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let days = (since.as_secs() / 86_400) as i64;
        let secs = since.as_secs() % 86_400;
        let (y, m, d) = civil_from_days(days);
        Temporal {
            kind: TemporalKind::DateTime,
            year: y as i32,
            month: m,
            day: d,
            hour: (secs / 3600) as u8,
            minute: (secs / 60 % 60) as u8,
            second: (secs % 60) as u8,
            nanos: since.subsec_millis() * 1_000_000,
            frac_digits: 3,
            precision: Precision::Fraction,
            tz: Some(0),
            zulu: false,
        }
    }

    /// The date of a date-time, at most to the day.
    pub fn date_part(&self) -> Temporal {
        let mut t = Temporal::empty(TemporalKind::Date);
        t.year = self.year;
        t.month = self.month;
        t.day = self.day;
        t.precision = self.precision.min(Precision::Day);
        t
    }

    /// The time of a date-time (precision at least the hour).
    pub fn time_part(&self) -> Temporal {
        let mut t = *self;
        t.kind = TemporalKind::Time;
        t.year = 0;
        t.month = 0;
        t.day = 0;
        t.tz = None;
        t.zulu = false;
        t.precision = self.precision.max(Precision::Hour);
        t
    }

    /// The same value as a date-time.
    pub fn as_datetime(&self) -> Temporal {
        Temporal {
            kind: TemporalKind::DateTime,
            ..*self
        }
    }

    /// Nanoseconds since midnight.
    fn day_nanos(&self) -> i64 {
        ((i64::from(self.hour) * 60 + i64::from(self.minute)) * 60 + i64::from(self.second))
            * 1_000_000_000
            + i64::from(self.nanos)
    }

    fn set_day_nanos(&mut self, n: i64) {
        let secs = n / 1_000_000_000;
        self.nanos = (n % 1_000_000_000) as u32;
        self.second = (secs % 60) as u8;
        self.minute = (secs / 60 % 60) as u8;
        self.hour = (secs / 3600) as u8;
    }

    /// Moves a date-time by a number of nanoseconds (carrying into the date).
    fn shift_nanos(&self, n: i64) -> Option<Temporal> {
        let mut t = *self;
        if t.kind == TemporalKind::Time {
            t.set_day_nanos((t.day_nanos() + n).rem_euclid(NANOS_PER_DAY));
            return Some(t);
        }
        let total = t.day_nanos().checked_add(n)?;
        let days = total.div_euclid(NANOS_PER_DAY);
        t.set_day_nanos(total.rem_euclid(NANOS_PER_DAY));
        let (y, m, d) = civil_from_days(days_from_civil(t.year, t.month, t.day) + days);
        t.year = i32::try_from(y).ok()?;
        t.month = m;
        t.day = d;
        t.valid_year()
    }

    fn valid_year(self) -> Option<Temporal> {
        (1..=9999).contains(&self.year).then_some(self)
    }

    /// The same instant in UTC (only meaningful from the hour on).
    fn to_utc(self) -> Option<Temporal> {
        let offset = i64::from(self.tz.unwrap_or(0));
        let mut t = self.shift_nanos(-offset * 60_000_000_000)?;
        t.tz = Some(0);
        Some(t)
    }

    /// Adds `amount` of `unit` (negative to subtract). Units finer than the
    /// value's precision are first converted to it, dropping the remainder.
    pub fn add(&self, amount: i64, unit: CalendarUnit) -> Option<Temporal> {
        let (amount, unit) = self.coarsen(amount, unit);
        let mut t = *self;
        match unit {
            CalendarUnit::Year | CalendarUnit::Month => {
                let months = if unit == CalendarUnit::Year {
                    amount.checked_mul(12)?
                } else {
                    amount
                };
                if t.kind == TemporalKind::Time {
                    return Some(t);
                }
                let total =
                    (i64::from(t.year) * 12 + i64::from(t.month.max(1)) - 1).checked_add(months)?;
                t.year = i32::try_from(total.div_euclid(12)).ok()?;
                if t.precision >= Precision::Month {
                    t.month = (total.rem_euclid(12) + 1) as u8;
                }
                if t.precision >= Precision::Day {
                    t.day = t.day.min(days_in_month(t.year, t.month));
                }
                t.valid_year()
            }
            _ => {
                let nanos_per = match unit {
                    CalendarUnit::Week => 7 * NANOS_PER_DAY,
                    CalendarUnit::Day => NANOS_PER_DAY,
                    CalendarUnit::Hour => 3_600_000_000_000,
                    CalendarUnit::Minute => 60_000_000_000,
                    CalendarUnit::Second => 1_000_000_000,
                    _ => 1_000_000,
                };
                t.shift_nanos(amount.checked_mul(nanos_per)?)
            }
        }
    }

    /// A duration in a unit finer than the precision, in the precision's unit.
    fn coarsen(&self, amount: i64, unit: CalendarUnit) -> (i64, CalendarUnit) {
        let finest = match self.precision {
            Precision::Year => CalendarUnit::Year,
            Precision::Month => CalendarUnit::Month,
            Precision::Day => CalendarUnit::Day,
            Precision::Hour => CalendarUnit::Hour,
            Precision::Minute => CalendarUnit::Minute,
            Precision::Second | Precision::Fraction => CalendarUnit::Millisecond,
        };
        if unit <= finest {
            return (amount, unit);
        }
        let ms = |u: CalendarUnit| -> i64 {
            match u {
                CalendarUnit::Year => 365 * 86_400_000,
                CalendarUnit::Month => 30 * 86_400_000,
                CalendarUnit::Week => 7 * 86_400_000,
                CalendarUnit::Day => 86_400_000,
                CalendarUnit::Hour => 3_600_000,
                CalendarUnit::Minute => 60_000,
                CalendarUnit::Second => 1000,
                CalendarUnit::Millisecond => 1,
            }
        };
        (amount.saturating_mul(ms(unit)) / ms(finest), finest)
    }

    fn fields(&self) -> [i64; 6] {
        [
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
            i64::from(self.hour),
            i64::from(self.minute),
            i64::from(self.second) * 1_000_000_000 + i64::from(self.nanos),
        ]
    }

    /// Order of two values; `None` when it cannot be known (different
    /// precisions that agree as far as both go, or one zone missing).
    pub fn compare(&self, other: &Temporal) -> Option<Ordering> {
        if (self.kind == TemporalKind::Time) != (other.kind == TemporalKind::Time) {
            return None;
        }
        let (pa, pb) = (self.precision.comparable(), other.precision.comparable());
        let (a, b) = if pa >= Precision::Hour && pb >= Precision::Hour {
            match (self.tz, other.tz) {
                (Some(_), Some(_)) => (self.to_utc()?, other.to_utc()?),
                (None, None) => (*self, *other),
                _ => return None,
            }
        } else {
            (*self, *other)
        };
        let (fa, fb) = (a.fields(), b.fields());
        let first = if self.kind == TemporalKind::Time {
            3
        } else {
            0
        };
        let last = pa.min(pb) as usize;
        for i in first..=last {
            match fa[i].cmp(&fb[i]) {
                Ordering::Equal => {}
                o => return Some(o),
            }
        }
        (pa == pb).then_some(Ordering::Equal)
    }

    /// Equivalence (`~`): equal, with the same precision.
    pub fn equivalent(&self, other: &Temporal) -> bool {
        self.precision.comparable() == other.precision.comparable()
            && self.compare(other) == Some(Ordering::Equal)
    }

    fn write_date(&self, out: &mut String) {
        let _ = write!(out, "{:04}", self.year);
        if self.precision >= Precision::Month {
            let _ = write!(out, "-{:02}", self.month);
        }
        if self.precision >= Precision::Day {
            let _ = write!(out, "-{:02}", self.day);
        }
    }

    fn write_time(&self, out: &mut String) {
        let _ = write!(out, "{:02}", self.hour);
        if self.precision >= Precision::Minute {
            let _ = write!(out, ":{:02}", self.minute);
        }
        if self.precision >= Precision::Second {
            let _ = write!(out, ":{:02}", self.second);
        }
        if self.precision == Precision::Fraction && self.frac_digits > 0 {
            let digits = u32::from(self.frac_digits.min(9));
            let frac = self.nanos / 10u32.pow(9 - digits);
            let _ = write!(out, ".{:0width$}", frac, width = digits as usize);
        }
    }
}

impl std::fmt::Display for Temporal {
    /// The ISO 8601 form FHIR uses (`toString()`), without the `@` of literals.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = String::new();
        match self.kind {
            TemporalKind::Date => self.write_date(&mut out),
            TemporalKind::Time => self.write_time(&mut out),
            TemporalKind::DateTime => {
                self.write_date(&mut out);
                if self.precision >= Precision::Hour {
                    out.push('T');
                    self.write_time(&mut out);
                    match self.tz {
                        Some(_) if self.zulu => out.push('Z'),
                        Some(tz) => {
                            let sign = if tz < 0 { '-' } else { '+' };
                            let tz = tz.unsigned_abs();
                            let _ = write!(out, "{sign}{:02}:{:02}", tz / 60, tz % 60);
                        }
                        None => {}
                    }
                }
            }
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> Temporal {
        Temporal::parse_datetime(s).unwrap()
    }

    #[test]
    fn parse_and_print() {
        assert_eq!(
            dt("2015-02-04T14:34:28.123+10:00").to_string(),
            "2015-02-04T14:34:28.123+10:00"
        );
        assert_eq!(dt("2015T").to_string(), "2015");
        assert_eq!(
            dt("2015-02-04T14:34:28Z").to_string(),
            "2015-02-04T14:34:28Z"
        );
        assert!(Temporal::parse_date("2023-02-29").is_none());
        assert!(Temporal::parse_time("14:34:28Z").is_none());
        assert_eq!(Temporal::parse_time("14:34").unwrap().to_string(), "14:34");
    }

    #[test]
    fn comparison() {
        let a = dt("2017-11-05T01:30:00.0-04:00");
        let b = dt("2017-11-05T01:15:00.0-05:00");
        assert_eq!(a.compare(&b), Some(Ordering::Less));
        assert_eq!(
            dt("2018-03-01T10:30").compare(&dt("2018-03-01T10:30:00")),
            None
        );
        assert_eq!(
            dt("2012-04-15T15:30:31").compare(&dt("2012-04-15T15:30:31.0")),
            Some(Ordering::Equal)
        );
        assert_eq!(
            dt("2012-04-15T15:00:00Z").compare(&dt("2012-04-15T10:00:00")),
            None
        );
        let date = Temporal::parse_date("2012-04-15").unwrap();
        assert_eq!(
            date.compare(&dt("2012-04-16T10:00:00")),
            Some(Ordering::Less)
        );
        assert_eq!(date.compare(&dt("2012-04-15T10:00:00")), None);
    }

    #[test]
    fn arithmetic() {
        let d = Temporal::parse_date("1973-12-25").unwrap();
        assert_eq!(
            d.add(7, CalendarUnit::Day).unwrap().to_string(),
            "1974-01-01"
        );
        assert_eq!(
            d.add(1, CalendarUnit::Month).unwrap().to_string(),
            "1974-01-25"
        );
        let t = dt("1973-12-25T00:00:00.000+10:00");
        assert_eq!(
            t.add(10, CalendarUnit::Millisecond).unwrap().to_string(),
            "1973-12-25T00:00:00.010+10:00"
        );
        let jan31 = Temporal::parse_date("2020-01-31").unwrap();
        assert_eq!(
            jan31.add(1, CalendarUnit::Month).unwrap().to_string(),
            "2020-02-29"
        );
        assert_eq!(
            d.add(25, CalendarUnit::Hour).unwrap().to_string(),
            "1973-12-26"
        );
        assert!(d.add(i64::MAX, CalendarUnit::Day).is_none());
    }
}
