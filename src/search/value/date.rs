//! Dates for search: FHIR `date`, `dateTime` and `instant` texts as ranges of
//! time, `Period`s, and the R4 meaning of each comparison prefix.
//!
//! A value is the range of time its precision covers (R4 search, "date"):
//! `2013` is all of that year, `2013-01-14T10:00` that minute, and
//! `10:00:00.5` the tenth of a second from 10:00:00.500000 to 10:00:00.599999.
//! A [`DateRange`] holds that range in microseconds since 1970-01-01T00:00:00Z,
//! both ends inclusive. The accepted forms are `YYYY`, `YYYY-MM`,
//! `YYYY-MM-DD`, and `YYYY-MM-DDThh`, `…Thh:mm`, `…Thh:mm:ss` and
//! `…Thh:mm:ss.f…` (any number of fraction digits; those past the sixth only
//! narrow the range to one microsecond), each time form optionally followed
//! by `Z`, `+hh:mm` or `-hh:mm`. The hour-only form is not a FHIR dateTime but
//! appears in search values; it is accepted.
//!
//! Decisions:
//! - A value without a time zone (every date, and a dateTime without one) is
//!   read as UTC. R4 suggests the server's local time zone; UTC makes results
//!   independent of the host.
//! - A space where the zone's sign should be is read as `+`: form decoding
//!   turns an unescaped `+` in a URL into a space.
//! - A leap second (`:60`, which FHIR's dateTime allows) is the last
//!   microsecond of its minute.
//! - Years are `0001`–`9999`, hours `00`–`23` (no `24:00`), zones at most
//!   `±14:00`. Invalid calendar dates (February 30th, month 13) are refused.

use super::prefix::{Column, Condition, Op, Prefix, Term};
use crate::fhir::calendar::{days_from_civil, days_in_month};

/// Microseconds in a second.
const SECOND: i64 = 1_000_000;

/// A range of time in microseconds since the Unix epoch (UTC), both ends
/// inclusive: `hi` is the last microsecond of the range. An open end of a
/// [`period`] is `i64::MIN` or `i64::MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DateRange {
    /// The first microsecond.
    pub lo: i64,
    /// The last microsecond.
    pub hi: i64,
}

/// A cursor over the bytes of a date text.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    /// Exactly `n` ASCII digits as a number.
    fn digits(&mut self, n: usize) -> Option<i64> {
        let part = self.bytes.get(self.at..self.at + n)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.at += n;
        Some(part.iter().fold(0, |acc, d| acc * 10 + i64::from(d - b'0')))
    }

    /// Consumes `byte` if it is next.
    fn eat(&mut self, byte: u8) -> bool {
        let found = self.bytes.get(self.at) == Some(&byte);
        if found {
            self.at += 1;
        }
        found
    }

    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

/// The range of time a FHIR date, dateTime or instant text covers (see the
/// module documentation for the forms and decisions), or `None` if the text
/// is not one of them.
pub fn range(text: &str) -> Option<DateRange> {
    let mut c = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    let year = c.digits(4).filter(|y| *y >= 1)?;
    let start_of_year = days_from_civil(year, 1, 1) * 86_400 * SECOND;
    if c.done() {
        return Some(DateRange {
            lo: start_of_year,
            hi: days_from_civil(year + 1, 1, 1) * 86_400 * SECOND - 1,
        });
    }
    if !c.eat(b'-') {
        return None;
    }
    let month = c.digits(2).filter(|m| (1..=12).contains(m))?;
    if c.done() {
        let lo = days_from_civil(year, month, 1) * 86_400 * SECOND;
        let days = days_in_month(year, month);
        return Some(DateRange {
            lo,
            hi: lo + days * 86_400 * SECOND - 1,
        });
    }
    if !c.eat(b'-') {
        return None;
    }
    let day = c
        .digits(2)
        .filter(|d| (1..=days_in_month(year, month)).contains(d))?;
    let midnight = days_from_civil(year, month, day) * 86_400 * SECOND;
    if c.done() {
        return Some(DateRange {
            lo: midnight,
            hi: midnight + 86_400 * SECOND - 1,
        });
    }
    if !c.eat(b'T') {
        return None;
    }
    let hour = c.digits(2).filter(|h| (0..=23).contains(h))?;
    let mut lo = midnight + hour * 3600 * SECOND;
    let mut width = 3600 * SECOND;
    if c.eat(b':') {
        let minute = c.digits(2).filter(|m| (0..=59).contains(m))?;
        lo += minute * 60 * SECOND;
        width = 60 * SECOND;
        if c.eat(b':') {
            let second = c.digits(2).filter(|s| (0..=60).contains(s))?;
            width = SECOND;
            let mut fraction = 0;
            if c.eat(b'.') {
                let start = c.at;
                while c.bytes.get(c.at).is_some_and(u8::is_ascii_digit) {
                    c.at += 1;
                }
                let digits = &c.bytes[start..c.at];
                if digits.is_empty() {
                    return None;
                }
                // The first six digits are the microseconds; more only narrow
                // the range to within one microsecond.
                for i in 0..6 {
                    fraction = fraction * 10 + digits.get(i).map_or(0, |d| i64::from(d - b'0'));
                }
                width = 10i64.pow(6u32.saturating_sub(digits.len() as u32));
            }
            if second == 60 {
                lo += 59 * SECOND + SECOND - 1;
                width = 1;
            } else {
                lo += second * SECOND + fraction;
            }
        }
    }
    if !c.done() {
        let sign = match c.bytes.get(c.at) {
            Some(b'Z') => 0,
            Some(b'+' | b' ') => 1,
            Some(b'-') => -1,
            _ => return None,
        };
        c.at += 1;
        if sign != 0 {
            let hh = c.digits(2).filter(|h| (0..=14).contains(h))?;
            if !c.eat(b':') {
                return None;
            }
            let mm = c
                .digits(2)
                .filter(|m| (0..=59).contains(m) && (hh < 14 || *m == 0))?;
            lo -= sign * (hh * 3600 + mm * 60) * SECOND;
        }
        if !c.done() {
            return None;
        }
    }
    Some(DateRange {
        lo,
        hi: lo + width - 1,
    })
}

/// The range of a FHIR `Period`: from the start of `start`'s range to the end
/// of `end`'s. A missing start is open below (`i64::MIN`) and a missing end
/// open above (`i64::MAX`), as R4 search says of missing boundaries. `None`
/// when both are missing, when a present one does not parse, or when the
/// period ends before it starts.
pub fn period(start: Option<&str>, end: Option<&str>) -> Option<DateRange> {
    if start.is_none() && end.is_none() {
        return None;
    }
    let lo = match start {
        Some(text) => range(text)?.lo,
        None => i64::MIN,
    };
    let hi = match end {
        Some(text) => range(text)?.hi,
        None => i64::MAX,
    };
    (lo <= hi).then_some(DateRange { lo, hi })
}

/// The widening of the search range for `ap`: a tenth of the distance from
/// `now` to the nearest end of the search range (zero when `now` is inside
/// it). R4 recommends "10% of the gap between now and the date".
pub fn approx_margin(search: DateRange, now: i64) -> i64 {
    let gap = if now < search.lo {
        search.lo as i128 - now as i128
    } else if now > search.hi {
        now as i128 - search.hi as i128
    } else {
        0
    };
    i64::try_from(gap / 10).unwrap_or(i64::MAX)
}

/// Whether a stored range matches a search range under `prefix`, by the R4
/// range definitions read literally (S is the search range, T the stored
/// one; "above S" is everything after S's last microsecond, "below S"
/// everything before its first):
///
/// | prefix | matches when |
/// |---|---|
/// | `eq` | S contains T |
/// | `ne` | S does not contain T |
/// | `gt` | the range above S overlaps T |
/// | `lt` | the range below S overlaps T |
/// | `ge` | `gt` or `eq` |
/// | `le` | `lt` or `eq` |
/// | `sa` | T does not overlap S and the range above S contains T |
/// | `eb` | T does not overlap S and the range below S contains T |
/// | `ap` | T overlaps S widened on both sides by [`approx_margin`] |
///
/// `now` (microseconds since the epoch) is used by `ap` only.
pub fn date_matches(prefix: Prefix, search: DateRange, stored: DateRange, now: i64) -> bool {
    let overlaps = |a: DateRange, b: DateRange| a.lo <= b.hi && b.lo <= a.hi;
    let contains =
        |outer: DateRange, inner: DateRange| outer.lo <= inner.lo && inner.hi <= outer.hi;
    let above = search
        .hi
        .checked_add(1)
        .map(|lo| DateRange { lo, hi: i64::MAX });
    let below = search
        .lo
        .checked_sub(1)
        .map(|hi| DateRange { lo: i64::MIN, hi });
    let eq = contains(search, stored);
    let gt = above.is_some_and(|a| overlaps(a, stored));
    let lt = below.is_some_and(|b| overlaps(b, stored));
    match prefix {
        Prefix::Eq => eq,
        Prefix::Ne => !eq,
        Prefix::Gt => gt,
        Prefix::Lt => lt,
        Prefix::Ge => gt || eq,
        Prefix::Le => lt || eq,
        Prefix::Sa => !overlaps(search, stored) && above.is_some_and(|a| contains(a, stored)),
        Prefix::Eb => !overlaps(search, stored) && below.is_some_and(|b| contains(b, stored)),
        Prefix::Ap => {
            let m = approx_margin(search, now);
            let wide = DateRange {
                lo: search.lo.saturating_sub(m),
                hi: search.hi.saturating_add(m),
            };
            overlaps(wide, stored)
        }
    }
}

fn term(column: Column, op: Op, value: i64) -> Term<i64> {
    Term { column, op, value }
}

/// The condition on stored `(lo, hi)` columns (INTEGER microseconds, as in
/// [`DateRange`]) that selects exactly what [`date_matches`] accepts for
/// every stored range with `lo <= hi`:
///
/// | prefix | condition |
/// |---|---|
/// | `eq` | `lo >= S.lo AND hi <= S.hi` |
/// | `ne` | `lo < S.lo OR hi > S.hi` |
/// | `gt` | `hi > S.hi` |
/// | `lt` | `lo < S.lo` |
/// | `ge` | `lo >= S.lo OR hi > S.hi` |
/// | `le` | `hi <= S.hi OR lo < S.lo` |
/// | `sa` | `lo > S.hi` |
/// | `eb` | `hi < S.lo` |
/// | `ap` | `lo <= S.hi + m AND hi >= S.lo - m` (m from [`approx_margin`]) |
pub fn date_condition(prefix: Prefix, search: DateRange, now: i64) -> Condition<i64> {
    use Column::{Hi, Lo};
    let any_of = match prefix {
        Prefix::Eq => vec![vec![
            term(Lo, Op::Ge, search.lo),
            term(Hi, Op::Le, search.hi),
        ]],
        Prefix::Ne => vec![
            vec![term(Lo, Op::Lt, search.lo)],
            vec![term(Hi, Op::Gt, search.hi)],
        ],
        Prefix::Gt => vec![vec![term(Hi, Op::Gt, search.hi)]],
        Prefix::Lt => vec![vec![term(Lo, Op::Lt, search.lo)]],
        Prefix::Ge => vec![
            vec![term(Lo, Op::Ge, search.lo)],
            vec![term(Hi, Op::Gt, search.hi)],
        ],
        Prefix::Le => vec![
            vec![term(Hi, Op::Le, search.hi)],
            vec![term(Lo, Op::Lt, search.lo)],
        ],
        Prefix::Sa => vec![vec![term(Lo, Op::Gt, search.hi)]],
        Prefix::Eb => vec![vec![term(Hi, Op::Lt, search.lo)]],
        Prefix::Ap => {
            let m = approx_margin(search, now);
            vec![vec![
                term(Lo, Op::Le, search.hi.saturating_add(m)),
                term(Hi, Op::Ge, search.lo.saturating_sub(m)),
            ]]
        }
    };
    Condition { any_of }
}

#[cfg(test)]
mod tests {
    use super::super::test_rng::{ALPHABET, Rng};
    use super::*;

    /// Microseconds of a UTC instant, computed independently of `range`
    /// (values checked against Python's `datetime`).
    fn at(text: &str) -> i64 {
        range(text)
            .unwrap_or_else(|| panic!("{text} should parse"))
            .lo
    }

    fn r(text: &str) -> DateRange {
        range(text).unwrap_or_else(|| panic!("{text} should parse"))
    }

    const DAY: i64 = 86_400 * SECOND;

    #[test]
    fn days_from_civil_known_values() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2013, 1, 14), 15_719);
        assert_eq!(days_from_civil(1, 1, 1), -719_162);
        assert_eq!(days_from_civil(9999, 12, 31), 2_932_896);
        assert_eq!(
            days_from_civil(2024, 2, 29) + 1,
            days_from_civil(2024, 3, 1)
        );
        assert_eq!(
            days_from_civil(1900, 2, 28) + 1,
            days_from_civil(1900, 3, 1)
        );
    }

    #[test]
    fn range_of_each_precision() {
        let y2013 = 1_356_998_400 * SECOND; // 2013-01-01T00:00:00Z
        assert_eq!(
            r("2013"),
            DateRange {
                lo: y2013,
                hi: y2013 + 365 * DAY - 1
            }
        );
        assert_eq!(r("2012").hi - r("2012").lo + 1, 366 * DAY);
        assert_eq!(
            r("2013-02"),
            DateRange {
                lo: y2013 + 31 * DAY,
                hi: y2013 + 59 * DAY - 1
            }
        );
        assert_eq!(r("2024-02").hi - r("2024-02").lo + 1, 29 * DAY);
        assert_eq!(
            r("2013-01-14"),
            DateRange {
                lo: y2013 + 13 * DAY,
                hi: y2013 + 14 * DAY - 1
            }
        );
        let t10 = y2013 + 13 * DAY + 10 * 3600 * SECOND;
        assert_eq!(
            r("2013-01-14T10"),
            DateRange {
                lo: t10,
                hi: t10 + 3600 * SECOND - 1
            }
        );
        assert_eq!(
            r("2013-01-14T10:00"),
            DateRange {
                lo: t10,
                hi: t10 + 60 * SECOND - 1
            }
        );
        assert_eq!(
            r("2013-01-14T10:00:00"),
            DateRange {
                lo: t10,
                hi: t10 + SECOND - 1
            }
        );
        assert_eq!(
            r("2013-01-14T10:00:00.5"),
            DateRange {
                lo: t10 + 500_000,
                hi: t10 + 599_999
            }
        );
        assert_eq!(
            r("2013-01-14T10:00:00.50"),
            DateRange {
                lo: t10 + 500_000,
                hi: t10 + 509_999
            }
        );
        assert_eq!(
            r("2013-01-14T10:00:00.123456"),
            DateRange {
                lo: t10 + 123_456,
                hi: t10 + 123_456
            }
        );
        assert_eq!(
            r("2013-01-14T10:00:00.1234569999"),
            DateRange {
                lo: t10 + 123_456,
                hi: t10 + 123_456
            }
        );
        assert_eq!(
            r("2013-12-31T23:59:60"),
            DateRange {
                lo: y2013 + 365 * DAY - 1,
                hi: y2013 + 365 * DAY - 1
            }
        );
    }

    #[test]
    fn range_time_zones() {
        let utc = at("2013-01-14T10:00:00Z");
        assert_eq!(at("2013-01-14T10:00:00"), utc);
        assert_eq!(at("2013-01-14T11:30:00+01:30"), utc);
        assert_eq!(at("2013-01-14T11:30:00 01:30"), utc);
        assert_eq!(at("2013-01-14T05:00:00-05:00"), utc);
        assert_eq!(at("2013-01-15T00:00:00+14:00"), utc);
        assert_eq!(at("2013-01-14T10:00:00-00:00"), utc);
        assert_eq!(at("2013-01-14T10:00+00:00"), utc);
        assert_eq!(
            r("2013-01-14T11+01:00"),
            DateRange {
                lo: utc,
                hi: utc + 3600 * SECOND - 1
            }
        );
        assert_eq!(at("1969-12-31T23:59:59.999999Z"), -1);
        assert_eq!(at("1970-01-01T01:00:00+01:00"), 0);
    }

    #[test]
    fn range_refuses_invalid_dates() {
        for bad in [
            "",
            "201",
            "20130",
            "0000",
            "2013-",
            "2013-1",
            "2013-00",
            "2013-13",
            "2013-02-29",
            "2013-02-30",
            "2012-02-30",
            "2013-04-31",
            "2013-01-32",
            "2013-01-00",
            "2013-01-14T",
            "2013-01-14T24:00",
            "2013-01-14T23:60",
            "2013-01-14T10:00:61",
            "2013-01-14T10:00:00.",
            "2013-01-14 10:00",
            "2013-01-14t10:00",
            "2013-01-14T10:00:00z",
            "2013-01-14Z",
            "2013Z",
            "2013-01-14T10:00:00+15:00",
            "2013-01-14T10:00:00+14:30",
            "2013-01-14T10:00:00+0100",
            "2013-01-14T10:00:00+01:00x",
            "2013-01-14T10:0",
            "+2013",
            "２０１３",
            "2013-01-14T10:00:00.5.5",
        ] {
            assert_eq!(range(bad), None, "{bad:?}");
        }
        assert!(range("2012-02-29").is_some());
        assert!(range("2000-02-29").is_some());
        assert!(range("1900-02-29").is_none());
        assert!(range("9999-12-31T23:59:59.999999+14:00").is_some());
        assert!(range("0001-01-01T00:00:00-14:00").is_some());
    }

    #[test]
    fn range_never_panics_on_mutations() {
        let mut rng = Rng::new(11);
        let seeds = [
            "2013-01-14T10:00:00.5+01:00",
            "2013",
            "2024-02-29T23:59:60Z",
            "2013-01-14T10",
        ];
        for _ in 0..30_000 {
            let seed = *rng.pick(&seeds);
            let text = rng.mutate(seed, ALPHABET);
            if let Some(d) = range(&text) {
                assert!(d.lo <= d.hi, "{text}");
            }
        }
    }

    #[test]
    fn period_open_ends_and_order() {
        let p = period(Some("2013-01-14"), Some("2013-01-20")).unwrap();
        assert_eq!(
            p,
            DateRange {
                lo: r("2013-01-14").lo,
                hi: r("2013-01-20").hi
            }
        );
        assert_eq!(
            period(None, Some("2013")),
            Some(DateRange {
                lo: i64::MIN,
                hi: r("2013").hi
            })
        );
        assert_eq!(
            period(Some("2013"), None),
            Some(DateRange {
                lo: r("2013").lo,
                hi: i64::MAX
            })
        );
        assert_eq!(period(None, None), None);
        assert_eq!(period(Some("2013-02-30"), None), None);
        assert_eq!(period(Some("2013"), Some("bad")), None);
        assert_eq!(period(Some("2014"), Some("2013")), None);
        assert!(period(Some("2013-01-14T10:00:00Z"), Some("2013-01-14T10:00:00Z")).is_some());
    }

    #[test]
    fn spec_examples_for_each_prefix() {
        let now = at("2019-11-01");
        let m = |p: &str, search: &str, stored: DateRange| {
            date_matches(Prefix::from_code(p).unwrap(), r(search), stored, now)
        };
        // eq / ne 2013-01-14
        assert!(m("eq", "2013-01-14", r("2013-01-14T00:00")));
        assert!(m("eq", "2013-01-14", r("2013-01-14T10:00")));
        assert!(!m("eq", "2013-01-14", r("2013-01-15T00:00")));
        assert!(m("ne", "2013-01-14", r("2013-01-15T00:00")));
        assert!(!m("ne", "2013-01-14", r("2013-01-14T10:00")));
        // A coarser stored value is not "equal" to a finer search value.
        assert!(!m("eq", "2013-01-14", r("2013-01")));
        // lt / gt 2013-01-14T10:00 both match the whole day.
        assert!(m("lt", "2013-01-14T10:00", r("2013-01-14")));
        assert!(m("gt", "2013-01-14T10:00", r("2013-01-14")));
        assert!(!m("gt", "2013-01-14T10:00", r("2013-01-14T10:00:30")));
        assert!(!m("gt", "2013", r("2013-06")));
        // ge / le with an open period "from 21-Jan 2013 onwards".
        let onwards = period(Some("2013-01-21"), None).unwrap();
        let until = period(None, Some("2013-01-21")).unwrap();
        assert!(m("ge", "2013-03-14", onwards));
        assert!(m("le", "2013-03-14", onwards));
        // sa / eb
        assert!(m(
            "sa",
            "2013-03-14",
            period(Some("2013-03-15"), None).unwrap()
        ));
        assert!(!m("sa", "2013-03-14", onwards));
        assert!(!m("sa", "2013-03-14", until));
        assert!(!m(
            "eb",
            "2013-03-14",
            period(Some("2013-03-15"), None).unwrap()
        ));
        assert!(!m("eb", "2013-03-14", onwards));
        assert!(m("eb", "2013-03-14", until));
        // ap: a 2013 date searched in 2019 is widened by about 0.66 years.
        assert!(m("ap", "2013-03-14", r("2013-03-14")));
        assert!(m("ap", "2013-03-14", r("2013-01-21")));
        assert!(!m("ap", "2013-03-14", r("2015-06-15")));
        assert!(!m("ap", "2013-03-14", r("2012-01-01")));
    }

    #[test]
    fn boundaries_are_exact_to_the_microsecond() {
        let s = r("2013-01-14");
        let now = 0;
        let point = |t: i64| DateRange { lo: t, hi: t };
        assert!(date_matches(Prefix::Eq, s, point(s.hi), now));
        assert!(!date_matches(Prefix::Eq, s, point(s.hi + 1), now));
        assert!(date_matches(Prefix::Gt, s, point(s.hi + 1), now));
        assert!(!date_matches(Prefix::Gt, s, point(s.hi), now));
        assert!(date_matches(Prefix::Lt, s, point(s.lo - 1), now));
        assert!(!date_matches(Prefix::Lt, s, point(s.lo), now));
        assert!(date_matches(Prefix::Ge, s, point(s.lo), now));
        assert!(!date_matches(Prefix::Ge, s, point(s.lo - 1), now));
        assert!(date_matches(Prefix::Le, s, point(s.hi), now));
        assert!(!date_matches(Prefix::Le, s, point(s.hi + 1), now));
        // ge: straddling the start of S is neither above S nor inside it.
        assert!(!date_matches(
            Prefix::Ge,
            s,
            DateRange {
                lo: s.lo - 1,
                hi: s.lo + 5
            },
            now
        ));
        assert!(date_matches(
            Prefix::Ge,
            s,
            DateRange {
                lo: s.lo - 1,
                hi: s.hi + 1
            },
            now
        ));
        assert!(date_matches(Prefix::Sa, s, point(s.hi + 1), now));
        assert!(!date_matches(
            Prefix::Sa,
            s,
            DateRange {
                lo: s.hi,
                hi: s.hi + 9
            },
            now
        ));
        assert!(date_matches(Prefix::Eb, s, point(s.lo - 1), now));
        assert!(!date_matches(
            Prefix::Eb,
            s,
            DateRange {
                lo: s.lo - 9,
                hi: s.lo
            },
            now
        ));
    }

    #[test]
    fn approx_margin_is_a_tenth_of_the_gap_to_now() {
        let s = DateRange { lo: 1000, hi: 2000 };
        assert_eq!(approx_margin(s, 12_000), 1000);
        assert_eq!(approx_margin(s, 0), 100);
        assert_eq!(approx_margin(s, 1500), 0);
        assert_eq!(approx_margin(s, 2000), 0);
        assert_eq!(
            approx_margin(
                DateRange {
                    lo: i64::MIN,
                    hi: i64::MIN
                },
                i64::MAX
            ),
            i64::MAX / 10 * 2 + 1
        );
        assert!(date_matches(
            Prefix::Ap,
            s,
            DateRange { lo: 2999, hi: 5000 },
            12_000
        ));
        assert!(!date_matches(
            Prefix::Ap,
            s,
            DateRange { lo: 3001, hi: 5000 },
            12_000
        ));
        assert!(date_matches(Prefix::Ap, s, DateRange { lo: 0, hi: 900 }, 0));
        assert!(!date_matches(
            Prefix::Ap,
            s,
            DateRange { lo: 0, hi: 899 },
            0
        ));
    }

    #[test]
    fn condition_agrees_with_matches() {
        let mut rng = Rng::new(42);
        let edges = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
        let pick = |rng: &mut Rng| -> i64 {
            match rng.below(4) {
                0 => *rng.pick(&edges),
                1 => rng.range_i64(-40, 40),
                _ => rng.range_i64(-1_000_000, 1_000_000),
            }
        };
        for _ in 0..200_000 {
            let (a, b) = (pick(&mut rng), pick(&mut rng));
            let search = DateRange {
                lo: a.min(b),
                hi: a.max(b),
            };
            let (c, d) = (pick(&mut rng), pick(&mut rng));
            let stored = DateRange {
                lo: c.min(d),
                hi: c.max(d),
            };
            let now = pick(&mut rng);
            for p in Prefix::ALL {
                let cond = date_condition(p, search, now);
                assert_eq!(
                    cond.matches(&stored.lo, &stored.hi),
                    date_matches(p, search, stored, now),
                    "{p:?} search {search:?} stored {stored:?} now {now}"
                );
            }
        }
    }

    #[test]
    fn condition_sql_shape() {
        let s = DateRange { lo: 10, hi: 20 };
        let ne = date_condition(Prefix::Ne, s, 0);
        let (sql, params) = ne.to_sql("lo", "hi");
        assert_eq!(sql, "((lo < ?) OR (hi > ?))");
        assert_eq!(params, vec![&10, &20]);
        let ap = date_condition(Prefix::Ap, s, 120);
        let (sql, params) = ap.to_sql("lo", "hi");
        assert_eq!(sql, "((lo <= ? AND hi >= ?))");
        assert_eq!(params, vec![&30, &0]);
    }
}
