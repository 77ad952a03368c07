//! FHIRPath `Quantity`: a decimal value with a UCUM unit or a calendar duration
//! keyword (`4 'mg'`, `1 week`). Units are compared through a small UCUM
//! reader (metric prefixes, base and common derived units, customary length and
//! mass, time units, products, quotients and exponents), so that
//! `4.0000 'g' = 4000.0 'mg'` and `7 days = 1 'wk'`; calendar years and months
//! are not comparable with UCUM `a` and `mo`, as the specification says. A unit
//! this reader does not know is comparable only with the very same unit.

use super::decimal::Decimal;
use super::temporal::CalendarUnit;
use std::cmp::Ordering;
use std::fmt;

/// A value with its unit (`1` for none).
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    pub value: Decimal,
    pub unit: String,
}

/// Exponents of the UCUM base units: m, g, s, rad, K, C, cd, mol.
type Dims = [i8; 8];

const NONE: Dims = [0; 8];

/// What a unit measures, for deciding comparability.
#[derive(Debug, Clone, PartialEq)]
enum Dim {
    Ucum(Dims),
    /// Calendar years and months (counted in months).
    CalendarMonths,
    /// A unit this reader does not know: only equal to itself.
    Opaque(String),
}

/// Atoms: symbol, factor to base units, dimensions, takes metric prefixes.
const ATOMS: &[(&str, &str, Dims, bool)] = &[
    ("m", "1", [1, 0, 0, 0, 0, 0, 0, 0], true),
    ("g", "1", [0, 1, 0, 0, 0, 0, 0, 0], true),
    ("s", "1", [0, 0, 1, 0, 0, 0, 0, 0], true),
    ("rad", "1", [0, 0, 0, 1, 0, 0, 0, 0], true),
    ("K", "1", [0, 0, 0, 0, 1, 0, 0, 0], true),
    ("C", "1", [0, 0, 0, 0, 0, 1, 0, 0], true),
    ("cd", "1", [0, 0, 0, 0, 0, 0, 1, 0], true),
    ("mol", "1", [0, 0, 0, 0, 0, 0, 0, 1], true),
    ("eq", "1", [0, 0, 0, 0, 0, 0, 0, 1], true),
    ("min", "60", [0, 0, 1, 0, 0, 0, 0, 0], false),
    ("h", "3600", [0, 0, 1, 0, 0, 0, 0, 0], false),
    ("d", "86400", [0, 0, 1, 0, 0, 0, 0, 0], false),
    ("wk", "604800", [0, 0, 1, 0, 0, 0, 0, 0], false),
    ("mo", "2629800", [0, 0, 1, 0, 0, 0, 0, 0], false),
    ("a", "31557600", [0, 0, 1, 0, 0, 0, 0, 0], false),
    ("l", "0.001", [3, 0, 0, 0, 0, 0, 0, 0], true),
    ("L", "0.001", [3, 0, 0, 0, 0, 0, 0, 0], true),
    ("Hz", "1", [0, 0, -1, 0, 0, 0, 0, 0], true),
    ("N", "1000", [1, 1, -2, 0, 0, 0, 0, 0], true),
    ("Pa", "1000", [-1, 1, -2, 0, 0, 0, 0, 0], true),
    ("bar", "100000000", [-1, 1, -2, 0, 0, 0, 0, 0], true),
    ("J", "1000", [2, 1, -2, 0, 0, 0, 0, 0], true),
    ("W", "1000", [2, 1, -3, 0, 0, 0, 0, 0], true),
    ("A", "1", [0, 0, -1, 0, 0, 1, 0, 0], true),
    ("V", "1000", [2, 1, -2, 0, 0, -1, 0, 0], true),
    ("mm[Hg]", "133322", [-1, 1, -2, 0, 0, 0, 0, 0], false),
    ("cm[H2O]", "98066.5", [-1, 1, -2, 0, 0, 0, 0, 0], false),
    ("%", "0.01", NONE, false),
    ("[ppm]", "0.000001", NONE, false),
    ("[lb_av]", "453.59237", [0, 1, 0, 0, 0, 0, 0, 0], false),
    ("[oz_av]", "28.349523125", [0, 1, 0, 0, 0, 0, 0, 0], false),
    ("[in_i]", "0.0254", [1, 0, 0, 0, 0, 0, 0, 0], false),
    ("[ft_i]", "0.3048", [1, 0, 0, 0, 0, 0, 0, 0], false),
    ("[yd_i]", "0.9144", [1, 0, 0, 0, 0, 0, 0, 0], false),
    ("[mi_i]", "1609.344", [1, 0, 0, 0, 0, 0, 0, 0], false),
];

const PREFIXES: &[(&str, i32)] = &[
    ("da", 1),
    ("Y", 24),
    ("Z", 21),
    ("E", 18),
    ("P", 15),
    ("T", 12),
    ("G", 9),
    ("M", 6),
    ("k", 3),
    ("h", 2),
    ("d", -1),
    ("c", -2),
    ("m", -3),
    ("u", -6),
    ("n", -9),
    ("p", -12),
    ("f", -15),
];

/// Calendar duration keywords, singular and plural.
const KEYWORDS: &[(&str, CalendarUnit, &str)] = &[
    ("year", CalendarUnit::Year, "a"),
    ("month", CalendarUnit::Month, "mo"),
    ("week", CalendarUnit::Week, "wk"),
    ("day", CalendarUnit::Day, "d"),
    ("hour", CalendarUnit::Hour, "h"),
    ("minute", CalendarUnit::Minute, "min"),
    ("second", CalendarUnit::Second, "s"),
    ("millisecond", CalendarUnit::Millisecond, "ms"),
];

/// The calendar unit a duration keyword names (`week`, `days`, …).
pub fn calendar_keyword(unit: &str) -> Option<CalendarUnit> {
    keyword(unit).map(|k| k.1)
}

fn keyword(unit: &str) -> Option<&'static (&'static str, CalendarUnit, &'static str)> {
    let singular = unit.strip_suffix('s').unwrap_or(unit);
    KEYWORDS.iter().find(|k| k.0 == singular)
}

fn dec(text: &str) -> Decimal {
    Decimal::parse(text).unwrap_or(Decimal::ZERO)
}

/// A conversion factor to base units, kept as a fraction so that `1/min`
/// and `60/h` stay exactly equal.
#[derive(Debug, Clone, Copy)]
struct Factor {
    num: Decimal,
    den: Decimal,
}

impl Factor {
    fn of(num: Decimal) -> Factor {
        Factor {
            num,
            den: Decimal::from_i64(1),
        }
    }

    fn one() -> Factor {
        Factor::of(Decimal::from_i64(1))
    }

    fn times(self, other: Factor) -> Option<Factor> {
        Some(Factor {
            num: self.num.mul(&other.num)?,
            den: self.den.mul(&other.den)?,
        })
    }

    fn over(self, other: Factor) -> Option<Factor> {
        if other.num.is_zero() {
            return None;
        }
        Some(Factor {
            num: self.num.mul(&other.den)?,
            den: self.den.mul(&other.num)?,
        })
    }
}

fn power_of_ten(exp: i32) -> Option<Decimal> {
    Decimal::parse(&format!("1e{exp}"))
}

/// Reads a UCUM unit expression into a factor to base units and dimensions.
struct Ucum<'s> {
    text: &'s str,
    pos: usize,
    depth: usize,
}

impl Ucum<'_> {
    fn parse(text: &str) -> Option<(Factor, Dims)> {
        let mut p = Ucum {
            text,
            pos: 0,
            depth: 0,
        };
        let r = p.term()?;
        (p.pos == text.len()).then_some(r)
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn term(&mut self) -> Option<(Factor, Dims)> {
        self.depth += 1;
        if self.depth > 16 {
            return None;
        }
        let mut acc = if self.peek() == Some(b'/') {
            (Factor::one(), NONE)
        } else {
            self.component()?
        };
        while let Some(op @ (b'.' | b'/')) = self.peek() {
            self.pos += 1;
            let (f, d) = self.component()?;
            acc = combine(acc, (f, d), op == b'/')?;
        }
        self.depth -= 1;
        Some(acc)
    }

    fn component(&mut self) -> Option<(Factor, Dims)> {
        match self.peek()? {
            b'(' => {
                self.pos += 1;
                let inner = self.term()?;
                if self.peek() != Some(b')') {
                    return None;
                }
                self.pos += 1;
                let exp = self.exponent();
                raise(inner, exp)
            }
            b'{' => {
                self.skip_annotation()?;
                Some((Factor::one(), NONE))
            }
            _ => {
                let start = self.pos;
                while let Some(c) = self.peek() {
                    match c {
                        b'.' | b'/' | b'(' | b')' | b'{' => break,
                        b'[' => {
                            let close = self.text[self.pos..].find(']')?;
                            self.pos += close + 1;
                        }
                        _ => {
                            self.pos += self.text[self.pos..]
                                .chars()
                                .next()
                                .map_or(1, char::len_utf8)
                        }
                    }
                }
                let symbol = &self.text[start..self.pos];
                if self.peek() == Some(b'{') {
                    self.skip_annotation()?;
                }
                simple(symbol)
            }
        }
    }

    fn exponent(&mut self) -> i32 {
        let rest = &self.text[self.pos..];
        let sign = usize::from(rest.starts_with(['+', '-']));
        let n = rest[sign..].bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 2 {
            return 1;
        }
        self.pos += sign + n;
        rest[..sign + n].parse().unwrap_or(1)
    }

    fn skip_annotation(&mut self) -> Option<()> {
        let close = self.text[self.pos..].find('}')?;
        self.pos += close + 1;
        Some(())
    }
}

/// A symbol with an optional exponent: `mg`, `m2`, `s-1`, `10*3`, `[in_i]`.
fn simple(symbol: &str) -> Option<(Factor, Dims)> {
    if symbol.is_empty() {
        return None;
    }
    if let Some(exp) = symbol
        .strip_prefix("10*")
        .or_else(|| symbol.strip_prefix("10^"))
    {
        let e: i32 = exp.parse().ok().filter(|e: &i32| e.abs() <= 24)?;
        return Some((Factor::of(power_of_ten(e)?), NONE));
    }
    if symbol.bytes().all(|b| b.is_ascii_digit()) {
        return Some((Factor::of(Decimal::parse(symbol)?), NONE));
    }
    let body_len = symbol.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (body, exp) = if body_len < symbol.len() {
        let body = symbol[..body_len]
            .strip_suffix(['+', '-'])
            .unwrap_or(&symbol[..body_len]);
        let exp: i32 = symbol[body.len()..].parse().ok()?;
        (body, exp)
    } else {
        (symbol, 1)
    };
    raise(atom(body)?, exp)
}

fn atom(symbol: &str) -> Option<(Factor, Dims)> {
    if let Some(a) = ATOMS.iter().find(|a| a.0 == symbol) {
        return Some((Factor::of(dec(a.1)), a.2));
    }
    PREFIXES.iter().find_map(|(p, e)| {
        let rest = symbol.strip_prefix(p)?;
        let a = ATOMS.iter().find(|a| a.0 == rest && a.3)?;
        Some((Factor::of(dec(a.1).mul(&power_of_ten(*e)?)?), a.2))
    })
}

fn raise((f, d): (Factor, Dims), exp: i32) -> Option<(Factor, Dims)> {
    if exp.abs() > 9 {
        return None;
    }
    let mut factor = Factor::one();
    for _ in 0..exp.unsigned_abs() {
        factor = factor.times(f)?;
    }
    if exp < 0 {
        factor = Factor::one().over(factor)?;
    }
    let e = i8::try_from(exp).ok()?;
    let mut dims = NONE;
    for (out, x) in dims.iter_mut().zip(d) {
        *out = x.checked_mul(e)?;
    }
    Some((factor, dims))
}

fn combine(a: (Factor, Dims), b: (Factor, Dims), divide: bool) -> Option<(Factor, Dims)> {
    let factor = if divide {
        a.0.over(b.0)?
    } else {
        a.0.times(b.0)?
    };
    let mut dims = a.1;
    for (out, x) in dims.iter_mut().zip(b.1) {
        *out = if divide {
            out.checked_sub(x)?
        } else {
            out.checked_add(x)?
        };
    }
    Some((factor, dims))
}

impl Quantity {
    pub fn new(value: Decimal, unit: impl Into<String>) -> Quantity {
        Quantity {
            value,
            unit: unit.into(),
        }
    }

    /// The unit as UCUM (calendar keywords become `a`, `mo`, `wk`, `d`, …).
    fn ucum_unit(&self) -> &str {
        keyword(&self.unit).map_or(&self.unit, |k| k.2)
    }

    /// The unit's factor to base units and what it measures.
    fn unit_factor(&self) -> (Factor, Dim) {
        if let Some(k) = keyword(&self.unit) {
            match k.1 {
                CalendarUnit::Year => return (Factor::of(dec("12")), Dim::CalendarMonths),
                CalendarUnit::Month => return (Factor::one(), Dim::CalendarMonths),
                _ => {}
            }
        }
        match Ucum::parse(self.ucum_unit()) {
            Some((f, d)) => (f, Dim::Ucum(d)),
            None => (Factor::one(), Dim::Opaque(self.unit.clone())),
        }
    }

    /// Both values over a common denominator, or `None` when the units do not compare.
    fn comparable_values(&self, other: &Quantity) -> Option<(Decimal, Decimal)> {
        if self.unit == other.unit {
            return Some((self.value, other.value));
        }
        let (fa, da) = self.unit_factor();
        let (fb, db) = other.unit_factor();
        if da != db {
            return None;
        }
        // a·na/da ⋛ b·nb/db  ⇔  a·na·db ⋛ b·nb·da (denominators are positive)
        let a = self.value.mul(&fa.num)?.mul(&fb.den)?;
        let b = other.value.mul(&fb.num)?.mul(&fa.den)?;
        Some((a, b))
    }

    /// Order of two quantities; `None` when their units do not compare.
    pub fn compare(&self, other: &Quantity) -> Option<Ordering> {
        let (a, b) = self.comparable_values(other)?;
        Some(a.cmp(&b))
    }

    /// Equivalence: comparable and equal at the precision of the less precise.
    pub fn equivalent(&self, other: &Quantity) -> bool {
        let in_base = |q: &Quantity| {
            let (f, _) = q.unit_factor();
            q.value.mul(&f.num)?.div(&f.den)
        };
        if !self.comparable(other) {
            return false;
        }
        let (a, b) = if self.unit == other.unit {
            (Some(self.value), Some(other.value))
        } else {
            (in_base(self), in_base(other))
        };
        a.zip(b).is_some_and(|(a, b)| {
            let digits = a.scale().min(b.scale());
            a.round(digits) == b.round(digits)
        })
    }

    /// The calendar unit for date arithmetic: keywords and the definite UCUM
    /// time units (`wk`, `d`, `h`, `min`, `s`, `ms`); not `a` or `mo`.
    pub fn date_unit(&self) -> Option<CalendarUnit> {
        calendar_keyword(&self.unit).or(match self.unit.as_str() {
            "wk" => Some(CalendarUnit::Week),
            "d" => Some(CalendarUnit::Day),
            "h" => Some(CalendarUnit::Hour),
            "min" => Some(CalendarUnit::Minute),
            "s" => Some(CalendarUnit::Second),
            "ms" => Some(CalendarUnit::Millisecond),
            _ => None,
        })
    }

    /// `self ± other`, in the unit of `self`; `None` when units do not compare.
    pub fn add(&self, other: &Quantity, subtract: bool) -> Option<Quantity> {
        let other_value = if self.unit == other.unit {
            other.value
        } else {
            let (fa, da) = self.unit_factor();
            let (fb, db) = other.unit_factor();
            if da != db {
                return None;
            }
            // b in a's unit: b·nb/db ÷ (na/da)
            let num = other.value.mul(&fb.num)?.mul(&fa.den)?;
            num.div(&fb.den.mul(&fa.num)?)?
        };
        let value = if subtract {
            self.value.sub(&other_value)?
        } else {
            self.value.add(&other_value)?
        };
        Some(Quantity::new(value, self.unit.clone()))
    }

    /// `self × other` or `self ÷ other`, with the units combined (`cm.m`, `g/m`).
    pub fn mul(&self, other: &Quantity, divide: bool) -> Option<Quantity> {
        let (a, b) = (self.ucum_unit(), other.ucum_unit());
        Ucum::parse(a)?;
        Ucum::parse(b)?;
        let wrap = |u: &str| {
            if u.contains(['.', '/']) {
                format!("({u})")
            } else {
                u.to_string()
            }
        };
        let unit = match (a, b, divide) {
            (_, "1", _) => a.to_string(),
            ("1", _, false) => b.to_string(),
            (_, _, false) => format!("{a}.{}", wrap(b)),
            (_, _, true) => format!("{a}/{}", wrap(b)),
        };
        let value = if divide {
            self.value.div(&other.value)?
        } else {
            self.value.mul(&other.value)?
        };
        Some(Quantity::new(value, unit))
    }

    /// The same quantity with its value scaled.
    pub fn scaled(&self, value: Decimal) -> Quantity {
        Quantity::new(value, self.unit.clone())
    }

    /// Whether two quantities can be compared (same dimensions).
    pub fn comparable(&self, other: &Quantity) -> bool {
        self.comparable_values(other).is_some()
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if calendar_keyword(&self.unit).is_some() {
            write!(f, "{} {}", self.value, self.unit)
        } else {
            write!(f, "{} '{}'", self.value, self.unit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(v: &str, u: &str) -> Quantity {
        Quantity::new(Decimal::parse(v).unwrap(), u)
    }

    #[test]
    fn conversions() {
        assert_eq!(
            q("4.0000", "g").compare(&q("4000.0", "mg")),
            Some(Ordering::Equal)
        );
        assert_eq!(q("7", "days").compare(&q("1", "wk")), Some(Ordering::Equal));
        assert_eq!(
            q("1", "year").compare(&q("12", "months")),
            Some(Ordering::Equal)
        );
        assert_eq!(q("1", "mo").compare(&q("1", "month")), None);
        assert_eq!(q("1", "cm").compare(&q("1", "s")), None);
        assert!(q("4", "g").equivalent(&q("4040", "mg")));
        let area = q("2.0", "cm").mul(&q("2.0", "m"), false).unwrap();
        assert_eq!(area.compare(&q("0.040", "m2")), Some(Ordering::Equal));
        let ratio = q("4.0", "g").mul(&q("2.0", "m"), true).unwrap();
        assert_eq!(ratio.compare(&q("2", "g/m")), Some(Ordering::Equal));
        let one = q("1.0", "m").mul(&q("1.0", "m"), true).unwrap();
        assert_eq!(one.compare(&q("1", "1")), Some(Ordering::Equal));
        assert_eq!(
            q("185", "[lb_av]").compare(&q("185", "kg")),
            Some(Ordering::Less)
        );
        assert_eq!(
            q("1", "mm[Hg]").compare(&q("133.322", "Pa")),
            Some(Ordering::Equal)
        );
        assert_eq!(
            q("1", "/min").compare(&q("60", "/h")),
            Some(Ordering::Equal)
        );
        assert_eq!(
            q("1", "{beats}/min").compare(&q("1", "/min")),
            Some(Ordering::Equal)
        );
        assert_eq!(
            q("1", "10*3/uL").compare(&q("1000", "/uL")),
            Some(Ordering::Equal)
        );
        assert_eq!(
            q("1", "g").add(&q("500", "mg"), false).unwrap().to_string(),
            "1.5 'g'"
        );
    }

    #[test]
    fn text() {
        assert_eq!(q("1", "week").to_string(), "1 week");
        assert_eq!(q("1", "wk").to_string(), "1 'wk'");
    }
}
