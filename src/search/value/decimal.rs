//! Exact decimal numbers, read from their text and never through a float.
//!
//! A [`Decimal`] is `mantissa × 10^exponent` with a mantissa of at most 38
//! decimal digits (an `i128`), kept without trailing zeros so that equal
//! values have equal representations. Parsing keeps the value exact; the
//! precision that the text expresses (`100` versus `100.00`) is returned
//! separately by [`Decimal::parse_with_precision`], because it belongs to the
//! search semantics, not to the value.
//!
//! Arithmetic is exact whenever the result fits in 38 significant digits and
//! rounds half to even otherwise: sums of numbers of very different
//! magnitude, products whose operands have more than 38 digits together, and
//! [`Decimal::div_int`] (used for the few conversions that divide, such as
//! degrees Fahrenheit). Every operation is monotonic, so a range converted
//! bound by bound stays a range.

use std::cmp::Ordering;
use std::fmt;

/// The most significant digits a parsed decimal may have (as many as an IEEE
/// decimal128). A longer text is refused rather than silently rounded.
pub const MAX_DIGITS: u32 = 34;

/// The largest decimal exponent a parsed value may have, in both directions:
/// the value's leading digit and the precision of its last digit must lie
/// within `10^-300 ..= 10^300`, so that every bound derived from a parsed
/// value is a finite, normal `f64` for the SQL columns.
pub const MAX_PARSE_EXPONENT: i64 = 300;

/// `10^38`: every mantissa is below this.
const MANTISSA_LIMIT: u128 = 100_000_000_000_000_000_000_000_000_000_000_000_000;

/// Results whose exponent leaves `-1000..=1000` are refused (`None`).
const MAX_EXPONENT: i64 = 1000;

/// An exact decimal number: `mantissa × 10^exponent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Decimal {
    mantissa: i128,
    exponent: i32,
}

/// The number of decimal digits of `m` (1 for zero).
fn digit_count(m: u128) -> u32 {
    if m == 0 { 1 } else { m.ilog10() + 1 }
}

/// `m / 10^k`, rounded half to even.
fn round_shift(m: u128, k: u32) -> u128 {
    if k == 0 {
        return m;
    }
    match 10u128.checked_pow(k) {
        // 10^k exceeds every u128, so m / 10^k < 0.5.
        None => 0,
        Some(d) => {
            let (q, r) = (m / d, m % d);
            let half = d / 2;
            if r > half || (r == half && q % 2 == 1) {
                q + 1
            } else {
                q
            }
        }
    }
}

/// `m × 10^k` when it fits in an `i128`.
fn shift_up(m: i128, k: i64) -> Option<i128> {
    let k = u32::try_from(k).ok()?;
    m.checked_mul(10i128.checked_pow(k)?)
}

impl Decimal {
    /// Zero.
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        exponent: 0,
    };

    /// Builds `(-1)^negative × magnitude × 10^exponent`, rounding the
    /// magnitude to 38 digits and removing trailing zeros.
    fn from_parts(negative: bool, magnitude: u128, exponent: i64) -> Option<Decimal> {
        if magnitude == 0 {
            return Some(Decimal::ZERO);
        }
        let (mut m, mut e) = (magnitude, exponent);
        let d = digit_count(m);
        if d > 38 {
            m = round_shift(m, d - 38);
            e += i64::from(d - 38);
        }
        while m % 10 == 0 {
            m /= 10;
            e += 1;
        }
        if m >= MANTISSA_LIMIT || !(-MAX_EXPONENT..=MAX_EXPONENT).contains(&e) {
            return None;
        }
        let m = m as i128;
        Some(Decimal {
            mantissa: if negative { -m } else { m },
            exponent: e as i32,
        })
    }

    /// `mantissa × 10^exponent`, or `None` when it cannot be represented
    /// (more than 38 significant digits are rounded half to even first).
    pub fn new(mantissa: i128, exponent: i32) -> Option<Decimal> {
        Decimal::from_parts(mantissa < 0, mantissa.unsigned_abs(), i64::from(exponent))
    }

    /// The mantissa, without trailing zeros (zero for zero).
    pub fn mantissa(&self) -> i128 {
        self.mantissa
    }

    /// The exponent of the mantissa's last digit (zero for zero).
    pub fn exponent(&self) -> i32 {
        self.exponent
    }

    /// Reads a FHIR decimal or a search number: `-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    /// Leading zeros are allowed; a leading `+`, spaces, `inf` or `NaN` are not.
    pub fn parse(text: &str) -> Option<Decimal> {
        Decimal::parse_with_precision(text).map(|(value, _)| value)
    }

    /// Like [`Decimal::parse`], also giving the exponent of the last digit
    /// written, which is the precision the text expresses: `100` → 0,
    /// `100.00` → -2, `1e2` → 2, `1.00e2` → 0, `0.0050` → -4. Refuses more than
    /// [`MAX_DIGITS`] significant digits (counted from the first non-zero
    /// digit to the last digit written) and values beyond
    /// [`MAX_PARSE_EXPONENT`].
    pub fn parse_with_precision(text: &str) -> Option<(Decimal, i32)> {
        let b = text.as_bytes();
        let mut i = 0;
        let negative = b.first() == Some(&b'-');
        if negative {
            i += 1;
        }
        let int_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let int_digits = &b[int_start..i];
        if int_digits.is_empty() {
            return None;
        }
        let mut frac_digits: &[u8] = &[];
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            frac_digits = &b[start..i];
            if frac_digits.is_empty() {
                return None;
            }
        }
        let mut exp_value: i64 = 0;
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            let exp_negative = match b.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            let start = i;
            while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
                exp_value = exp_value * 10 + i64::from(d - b'0');
                if exp_value > 100_000 {
                    return None;
                }
                i += 1;
            }
            if i == start {
                return None;
            }
            if exp_negative {
                exp_value = -exp_value;
            }
        }
        if i != b.len() {
            return None;
        }
        let mut magnitude: u128 = 0;
        let mut significant: u32 = 0;
        for &d in int_digits.iter().chain(frac_digits) {
            if significant == 0 && d == b'0' {
                continue;
            }
            significant += 1;
            if significant > MAX_DIGITS {
                return None;
            }
            magnitude = magnitude * 10 + u128::from(d - b'0');
        }
        let precision = exp_value - frac_digits.len() as i64;
        if !(-MAX_PARSE_EXPONENT..=MAX_PARSE_EXPONENT).contains(&precision) {
            return None;
        }
        if magnitude != 0 && precision + i64::from(digit_count(magnitude)) - 1 > MAX_PARSE_EXPONENT
        {
            return None;
        }
        let value = Decimal::from_parts(negative, magnitude, precision)?;
        Some((value, precision as i32))
    }

    /// The nearest `f64` (correctly rounded), for storage in a REAL column.
    /// Values of a parsed text are always finite; results of arithmetic far
    /// beyond the `f64` range become infinite or zero.
    pub fn to_f64(&self) -> f64 {
        format!("{}e{}", self.mantissa, self.exponent)
            .parse::<f64>()
            .unwrap_or(f64::NAN)
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// The absolute value.
    pub fn abs(self) -> Decimal {
        Decimal {
            mantissa: self.mantissa.abs(),
            exponent: self.exponent,
        }
    }

    /// `self + other`: exact when the exact sum has at most 38 significant
    /// digits, else rounded to 37 or 38. `None` only beyond the exponent range.
    pub fn checked_add(self, other: Decimal) -> Option<Decimal> {
        if self.is_zero() {
            return Some(other);
        }
        if other.is_zero() {
            return Some(self);
        }
        let (ea, eb) = (i64::from(self.exponent), i64::from(other.exponent));
        let e = ea.min(eb);
        if let (Some(a), Some(b)) = (
            shift_up(self.mantissa, ea - e),
            shift_up(other.mantissa, eb - e),
        ) && let Some(sum) = a.checked_add(b)
        {
            return Decimal::from_parts(sum < 0, sum.unsigned_abs(), e);
        }
        // Too far apart or too long: keep 37 digits below the larger leading digit.
        let top =
            |d: &Decimal| i64::from(d.exponent) + i64::from(digit_count(d.mantissa.unsigned_abs()));
        let target = top(&self).max(top(&other)) - 37;
        let align = |d: &Decimal| -> i128 {
            let e = i64::from(d.exponent);
            let m = if e >= target {
                // At most 37 digits after the shift, so it fits.
                shift_up(d.mantissa.abs(), e - target).unwrap_or(0)
            } else {
                let k = u32::try_from(target - e).unwrap_or(u32::MAX);
                round_shift(d.mantissa.unsigned_abs(), k) as i128
            };
            if d.mantissa < 0 { -m } else { m }
        };
        let sum = align(&self) + align(&other);
        Decimal::from_parts(sum < 0, sum.unsigned_abs(), target)
    }

    /// `self - other`, as [`Decimal::checked_add`].
    pub fn checked_sub(self, other: Decimal) -> Option<Decimal> {
        self.checked_add(-other)
    }

    /// `self × other`: exact when the two mantissas have at most 38 digits
    /// together, else the longer operand is rounded first. `None` only beyond
    /// the exponent range.
    pub fn checked_mul(self, other: Decimal) -> Option<Decimal> {
        let (mut a, mut b) = (self.mantissa.unsigned_abs(), other.mantissa.unsigned_abs());
        let mut e = i64::from(self.exponent) + i64::from(other.exponent);
        while digit_count(a) + digit_count(b) > 38 {
            if digit_count(a) >= digit_count(b) {
                a = round_shift(a, 1);
            } else {
                b = round_shift(b, 1);
            }
            e += 1;
        }
        let product = a.checked_mul(b)?;
        Decimal::from_parts((self.mantissa < 0) != (other.mantissa < 0), product, e)
    }

    /// `self / divisor`, rounded half to even to `38 − (digits of divisor)`
    /// significant digits or more (34 or more for divisors up to 9999);
    /// `None` for a zero divisor.
    pub fn div_int(self, divisor: u32) -> Option<Decimal> {
        if divisor == 0 {
            return None;
        }
        let m = self.mantissa.unsigned_abs();
        let k = 38u32.saturating_sub(digit_count(m));
        let n = m * 10u128.pow(k);
        let d = u128::from(divisor);
        let (mut q, r) = (n / d, n % d);
        if 2 * r > d || (2 * r == d && q % 2 == 1) {
            q += 1;
        }
        Decimal::from_parts(
            self.mantissa < 0,
            q,
            i64::from(self.exponent) - i64::from(k),
        )
    }
}

impl std::ops::Neg for Decimal {
    type Output = Decimal;

    /// The value with its sign changed (always exact).
    fn neg(self) -> Decimal {
        Decimal {
            mantissa: -self.mantissa,
            exponent: self.exponent,
        }
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Decimal) -> Ordering {
        let (sa, sb) = (self.mantissa.signum(), other.mantissa.signum());
        if sa != sb || sa == 0 {
            return sa.cmp(&sb);
        }
        let (ma, mb) = (self.mantissa.unsigned_abs(), other.mantissa.unsigned_abs());
        let (da, db) = (digit_count(ma), digit_count(mb));
        let top_a = i64::from(self.exponent) + i64::from(da);
        let top_b = i64::from(other.exponent) + i64::from(db);
        let magnitude = if top_a != top_b {
            top_a.cmp(&top_b)
        } else if da <= db {
            // Same leading position: widen the shorter mantissa (stays below 10^38).
            (ma * 10u128.pow(db - da)).cmp(&mb)
        } else {
            ma.cmp(&(mb * 10u128.pow(da - db)))
        };
        if sa > 0 {
            magnitude
        } else {
            magnitude.reverse()
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Decimal {
    /// Plain notation (`-12.5`, `1200`) for exponents from -40 up to a total
    /// of 21 digits, else `<mantissa>e<exponent>`; either form parses back to
    /// the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let digits = self.mantissa.unsigned_abs().to_string();
        let e = self.exponent;
        if e < -40 || (e > 0 && digits.len() + e as usize > 21) {
            return write!(f, "{sign}{digits}e{e}");
        }
        if e >= 0 {
            return write!(f, "{sign}{digits}{}", "0".repeat(e as usize));
        }
        let point = e.unsigned_abs() as usize;
        if digits.len() > point {
            let (int, frac) = digits.split_at(digits.len() - point);
            write!(f, "{sign}{int}.{frac}")
        } else {
            write!(f, "{sign}0.{}{digits}", "0".repeat(point - digits.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_rng::{ALPHABET, Rng};
    use super::*;

    fn d(text: &str) -> Decimal {
        Decimal::parse(text).unwrap_or_else(|| panic!("{text} should parse"))
    }

    #[test]
    fn parse_values_and_normal_form() {
        assert_eq!(d("100"), Decimal::new(1, 2).unwrap());
        assert_eq!(d("100.00"), d("1e2"));
        assert_eq!(d("1.00e2").mantissa(), 1);
        assert_eq!(d("-0.0050").mantissa(), -5);
        assert_eq!(d("-0.0050").exponent(), -3);
        assert_eq!(d("-0"), Decimal::ZERO);
        assert_eq!(d("007.5"), d("7.5"));
        assert_eq!(d("5.40e-3"), d("0.0054"));
        assert_eq!(d("1E+3"), d("1000"));
        assert_eq!(
            d("12345678901234567890123456789012.34").mantissa(),
            1234567890123456789012345678901234
        );
    }

    #[test]
    fn parse_precision_is_the_last_written_digit() {
        let p = |t: &str| Decimal::parse_with_precision(t).unwrap().1;
        assert_eq!(p("100"), 0);
        assert_eq!(p("100.00"), -2);
        assert_eq!(p("1e2"), 2);
        assert_eq!(p("1.00e2"), 0);
        assert_eq!(p("0.0050"), -4);
        assert_eq!(p("0"), 0);
        assert_eq!(p("0.000"), -3);
        assert_eq!(p("25e-1"), -1);
    }

    #[test]
    fn parse_refuses_what_is_not_a_decimal() {
        for bad in [
            "", "-", "+1", " 1", "1 ", "1.", ".5", "1.e2", "1e", "1e+", "--1", "1..2", "0x10",
            "inf", "NaN", "1,5", "١", "1e100001", "1e301", "1e-301", "10e300",
        ] {
            assert_eq!(Decimal::parse(bad), None, "{bad:?}");
        }
        // 34 significant digits are fine, 35 are not; leading zeros do not count.
        assert!(Decimal::parse(&format!("0.000{}", "1".repeat(34))).is_some());
        assert!(Decimal::parse(&"1".repeat(35)).is_none());
        assert!(Decimal::parse(&format!("1{}", "0".repeat(34))).is_none());
        assert!(Decimal::parse("1e300").is_some());
        assert!(Decimal::parse("1e-300").is_some());
    }

    #[test]
    fn ordering_is_numeric() {
        let ordered = [
            "-1e300",
            "-100.5",
            "-100",
            "-99.999",
            "-1",
            "-0.5",
            "-1e-300",
            "0",
            "1e-300",
            "0.1",
            "0.10001",
            "1",
            "1.5",
            "9.99",
            "10",
            "99.5",
            "100",
            "100.000001",
            "1e2.5e0",
            "1e300",
        ];
        let values: Vec<Decimal> = ordered.iter().filter_map(|t| Decimal::parse(t)).collect();
        assert_eq!(values.len(), ordered.len() - 1); // "1e2.5e0" is not a number
        for w in values.windows(2) {
            assert!(w[0] < w[1], "{} < {}", w[0], w[1]);
        }
        assert_eq!(d("1.0").cmp(&d("1")), Ordering::Equal);
        assert_eq!(d("12").cmp(&d("1.2e1")), Ordering::Equal);
    }

    #[test]
    fn addition_is_exact_when_it_fits_and_rounds_otherwise() {
        assert_eq!(d("99.5").checked_add(d("0.5")), Some(d("100")));
        assert_eq!(d("100").checked_sub(d("0.005")), Some(d("99.995")));
        assert_eq!(d("-273.15").checked_add(d("273.15")), Some(Decimal::ZERO));
        assert_eq!(d("1e300").checked_add(d("1e-300")), Some(d("1e300")));
        let a = d("1234567890123456789012345678901234"); // 34 digits
        assert_eq!(
            a.checked_add(d("0.5")).unwrap().mantissa(),
            12345678901234567890123456789012345
        );
        // 39 digits needed: rounded half to even at the 38th.
        assert_eq!(a.checked_add(d("0.00001")), Some(a));
        assert_eq!(a.checked_add(d("0.00005")), Some(a));
        assert_eq!(a.checked_add(d("0.00006")), a.checked_add(d("0.0001")));
        // Too far apart for one i128: the small operand is rounded away.
        let r = d("1e31").checked_add(d("6e-6")).unwrap();
        assert!(r > d("1e31") && r <= d("1e31").checked_add(d("1e-5")).unwrap());
    }

    #[test]
    fn multiplication_and_division() {
        assert_eq!(
            d("2.2").checked_mul(d("0.45359237")),
            Some(d("0.997903214"))
        );
        assert_eq!(d("-3").checked_mul(d("1e-3")), Some(d("-0.003")));
        assert_eq!(d("0").checked_mul(d("123")), Some(Decimal::ZERO));
        let long = d("1234567890123456789012345678901234");
        let p = long.checked_mul(d("3.785411784")).unwrap();
        assert!(p.mantissa().unsigned_abs() < MANTISSA_LIMIT);
        assert!((p.to_f64() - 4.673347838e33).abs() / 4.67e33 < 1e-9);
        assert_eq!(d("9").div_int(9), Some(d("1")));
        assert_eq!(
            d("1").div_int(3).unwrap().to_string(),
            format!("0.{}", "3".repeat(37))
        );
        assert_eq!(
            d("2").div_int(3).unwrap().to_string(),
            format!("0.{}7", "6".repeat(36))
        );
        assert_eq!(d("-5").div_int(60).unwrap().to_f64(), -5.0 / 60.0);
        assert_eq!(d("1").div_int(0), None);
        assert_eq!(
            Decimal::new(1, -1000).unwrap().checked_mul(d("1e-300")),
            None
        );
        assert_eq!(Decimal::new(1, 1001), None);
    }

    #[test]
    fn sign_accessors() {
        assert!(d("0.000").is_zero());
        assert!(!d("1e-300").is_zero());
        assert_eq!(d("-2.50").abs(), d("2.5"));
        assert_eq!(d("2.5").abs(), d("2.5"));
        assert_eq!(-d("2.5"), d("-2.5"));
        assert_eq!(-Decimal::ZERO, Decimal::ZERO);
        assert_eq!((d("-0.07").mantissa(), d("-0.07").exponent()), (-7, -2));
        assert_eq!(Decimal::new(-1200, -3), Some(d("-1.2")));
    }

    #[test]
    fn to_f64_and_display() {
        assert_eq!(d("99.995").to_f64(), 99.995);
        assert_eq!(d("-1e-300").to_f64(), -1e-300);
        assert_eq!(d("0.1").to_f64(), 0.1);
        assert_eq!(d("1.50").to_string(), "1.5");
        assert_eq!(d("-0.0054").to_string(), "-0.0054");
        assert_eq!(d("1e2").to_string(), "100");
        assert_eq!(d("1e100").to_string(), "1e100");
        assert_eq!(Decimal::ZERO.to_string(), "0");
    }

    #[test]
    fn display_round_trips() {
        let mut rng = Rng::new(7);
        for _ in 0..2000 {
            let m = rng.range_i64(-999_999_999_999, 999_999_999_999) as i128;
            let e = rng.range_i64(-60, 60) as i32;
            let v = Decimal::new(m, e).unwrap();
            assert_eq!(Decimal::parse(&v.to_string()), Some(v), "{v}");
            // The f64 image is monotonic with the decimal order.
            let w = Decimal::new(m + 1, e).unwrap();
            assert!(v < w && v.to_f64() <= w.to_f64());
        }
    }

    #[test]
    fn parse_never_panics_on_mutations() {
        let mut rng = Rng::new(1);
        let seeds = ["100", "-1.50e-3", "0.0", "12345678901234567890", "1E+300"];
        for _ in 0..20_000 {
            let seed = *rng.pick(&seeds);
            let text = rng.mutate(seed, ALPHABET);
            if let Some((v, p)) = Decimal::parse_with_precision(&text) {
                assert!(v.to_f64().is_finite(), "{text}");
                assert!(i64::from(p).abs() <= MAX_PARSE_EXPONENT);
            }
        }
    }
}
