//! FHIRPath `Decimal`: an exact base-10 number (a 128-bit mantissa and a scale),
//! so that `1.50` keeps its two decimals for `toString()` and `0.1 + 0.2 = 0.3`
//! holds. Arithmetic that leaves the representable range gives `None`, which the
//! operators turn into an empty result.

use std::cmp::Ordering;
use std::fmt;

/// Digits kept after the decimal point at most.
const MAX_SCALE: u32 = 36;
/// Digits of the quotient after the point, when a division does not end sooner.
const DIVISION_SCALE: u32 = 20;
/// Mantissas stay below this (10^37), leaving headroom in an `i128`.
const LIMIT: i128 = 10_000_000_000_000_000_000_000_000_000_000_000_000;

/// `mantissa × 10^-scale`.
#[derive(Clone, Copy, Debug)]
pub struct Decimal {
    mantissa: i128,
    scale: u32,
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

/// `m / 10^digits`, rounded half away from zero.
fn shift_down(m: i128, digits: u32) -> i128 {
    let Some(p) = pow10(digits) else {
        return 0;
    };
    let q = m / p;
    let r = m % p;
    if r.unsigned_abs() * 2 >= p.unsigned_abs() {
        q + m.signum()
    } else {
        q
    }
}

impl Decimal {
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        scale: 0,
    };

    fn new(mantissa: i128, scale: u32) -> Option<Decimal> {
        if mantissa.unsigned_abs() >= LIMIT.unsigned_abs() {
            return None;
        }
        let d = Decimal { mantissa, scale };
        Some(if scale > MAX_SCALE {
            d.round(MAX_SCALE)
        } else {
            d
        })
    }

    pub fn from_i64(i: i64) -> Decimal {
        Decimal {
            mantissa: i128::from(i),
            scale: 0,
        }
    }

    /// Reads `-12.50`, `3`, `1e+5` (JSON and FHIRPath number syntax).
    pub fn parse(text: &str) -> Option<Decimal> {
        let (negative, body) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (number, exponent) = match body.find(['e', 'E']) {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        let (int, frac) = match number.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (number, None),
        };
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut mantissa: i128 = 0;
        for b in int.bytes() {
            mantissa = mantissa * 10 + i128::from(b - b'0');
            if mantissa >= LIMIT {
                return None;
            }
        }
        let mut scale: i64 = 0;
        if let Some(frac) = frac {
            if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            for b in frac.bytes() {
                let next = mantissa * 10 + i128::from(b - b'0');
                if next >= LIMIT || scale >= i64::from(MAX_SCALE) {
                    break;
                }
                mantissa = next;
                scale += 1;
            }
        }
        if let Some(e) = exponent {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            let value: i64 = digits.parse().ok()?;
            scale -= if e.starts_with('-') { -value } else { value };
        }
        if negative {
            mantissa = -mantissa;
        }
        if scale < 0 {
            let factor = pow10(u32::try_from(-scale).ok()?)?;
            return Decimal::new(mantissa.checked_mul(factor)?, 0);
        }
        Decimal::new(mantissa, u32::try_from(scale).ok()?)
    }

    /// Digits after the decimal point, as written.
    pub fn scale(&self) -> u32 {
        self.scale
    }

    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// Rounded (half away from zero) to `digits` after the point; never adds digits.
    pub fn round(&self, digits: u32) -> Decimal {
        if digits >= self.scale {
            return *self;
        }
        Decimal {
            mantissa: shift_down(self.mantissa, self.scale - digits),
            scale: digits,
        }
    }

    /// The same value with `digits` after the point (adding zeros or rounding).
    pub fn with_scale(&self, digits: u32) -> Option<Decimal> {
        if digits <= self.scale {
            return Some(self.round(digits));
        }
        let factor = pow10(digits - self.scale)?;
        Decimal::new(self.mantissa.checked_mul(factor)?, digits)
    }

    /// Without trailing zeros after the point (`2.500` → `2.5`, `4.0` → `4`).
    pub fn normalized(&self) -> Decimal {
        let mut d = *self;
        while d.scale > 0 && d.mantissa % 10 == 0 {
            d.mantissa /= 10;
            d.scale -= 1;
        }
        d
    }

    fn split(&self) -> (i128, i128) {
        match pow10(self.scale) {
            Some(p) => (self.mantissa / p, self.mantissa % p),
            None => (0, self.mantissa),
        }
    }

    /// Toward zero, as an integer-valued decimal.
    pub fn trunc(&self) -> Decimal {
        Decimal {
            mantissa: self.split().0,
            scale: 0,
        }
    }

    pub fn floor(&self) -> Decimal {
        let (int, frac) = self.split();
        let m = if frac < 0 { int - 1 } else { int };
        Decimal {
            mantissa: m,
            scale: 0,
        }
    }

    pub fn ceil(&self) -> Decimal {
        let (int, frac) = self.split();
        let m = if frac > 0 { int + 1 } else { int };
        Decimal {
            mantissa: m,
            scale: 0,
        }
    }

    /// The value as an integer, when it is one and fits.
    pub fn to_i64(&self) -> Option<i64> {
        let (int, frac) = self.split();
        if frac != 0 {
            return None;
        }
        i64::try_from(int).ok()
    }

    pub fn abs(&self) -> Decimal {
        Decimal {
            mantissa: self.mantissa.abs(),
            scale: self.scale,
        }
    }

    pub fn neg(&self) -> Decimal {
        Decimal {
            mantissa: -self.mantissa,
            scale: self.scale,
        }
    }

    /// Both operands at the larger scale, losing digits of the finer one if needed.
    fn aligned(a: &Decimal, b: &Decimal) -> Option<(i128, i128, u32)> {
        let mut target = a.scale.max(b.scale);
        loop {
            if let (Some(x), Some(y)) = (a.with_scale(target), b.with_scale(target)) {
                return Some((x.mantissa, y.mantissa, target));
            }
            if target == 0 || target <= a.scale.min(b.scale) {
                return None;
            }
            target -= 1;
        }
    }

    pub fn add(&self, other: &Decimal) -> Option<Decimal> {
        let (x, y, scale) = Decimal::aligned(self, other)?;
        Decimal::new(x.checked_add(y)?, scale)
    }

    pub fn sub(&self, other: &Decimal) -> Option<Decimal> {
        self.add(&other.neg())
    }

    pub fn mul(&self, other: &Decimal) -> Option<Decimal> {
        let product = |a: &Decimal, b: &Decimal| {
            a.mantissa
                .checked_mul(b.mantissa)
                .and_then(|m| Decimal::new(m, a.scale + b.scale))
        };
        product(self, other).or_else(|| product(&self.normalized(), &other.normalized()))
    }

    /// The quotient, exact when it ends within 20 decimals, else rounded there.
    pub fn div(&self, other: &Decimal) -> Option<Decimal> {
        if other.mantissa == 0 {
            return None;
        }
        let (a, b) = (self.normalized(), other.normalized());
        let mut digits = DIVISION_SCALE.max(a.scale);
        loop {
            // a/b × 10^digits = a.m × 10^(digits + b.scale - a.scale) / b.m
            let shift = digits + b.scale - a.scale;
            if let Some(num) = pow10(shift).and_then(|p| a.mantissa.checked_mul(p)) {
                let q = num / b.mantissa;
                let r = num % b.mantissa;
                let q = if r.unsigned_abs() * 2 >= b.mantissa.unsigned_abs() {
                    q + if (num < 0) == (b.mantissa < 0) { 1 } else { -1 }
                } else {
                    q
                };
                return Decimal::new(q, digits).map(|d| d.normalized());
            }
            if digits == 0 {
                return None;
            }
            digits -= 1;
        }
    }

    /// Integer division (`div`): the quotient truncated toward zero.
    pub fn div_trunc(&self, other: &Decimal) -> Option<Decimal> {
        if other.mantissa == 0 {
            return None;
        }
        let (x, y, _) = Decimal::aligned(self, other)?;
        Decimal::new(x / y, 0)
    }

    /// The remainder of `div` (`mod`), with the sign of the dividend.
    pub fn rem(&self, other: &Decimal) -> Option<Decimal> {
        if other.mantissa == 0 {
            return None;
        }
        let (x, y, scale) = Decimal::aligned(self, other)?;
        Decimal::new(x % y, scale)
    }

    pub fn to_f64(&self) -> f64 {
        self.to_string().parse().unwrap_or(f64::NAN)
    }

    /// A finite float as a decimal (its shortest round-tripping form).
    pub fn from_f64(f: f64) -> Option<Decimal> {
        if !f.is_finite() {
            return None;
        }
        Decimal::parse(&f.to_string())
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Decimal) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Decimal {}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    /// Numeric order (`1.10` equals `1.1`).
    fn cmp(&self, other: &Decimal) -> Ordering {
        let (ai, af) = self.split();
        let (bi, bf) = other.split();
        ai.cmp(&bi).then_with(|| {
            let scale = self.scale.max(other.scale);
            let up = |f: i128, s: u32| pow10(scale - s).map_or(0, |p| f * p);
            up(af, self.scale).cmp(&up(bf, other.scale))
        })
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.mantissa.unsigned_abs().to_string();
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let scale = self.scale as usize;
        if scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded = if digits.len() <= scale {
            format!("{}{digits}", "0".repeat(scale + 1 - digits.len()))
        } else {
            digits
        };
        let (int, frac) = padded.split_at(padded.len() - scale);
        write!(f, "{sign}{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::Decimal;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn text_is_kept_and_compared_numerically() {
        assert_eq!(d("1.50").to_string(), "1.50");
        assert_eq!(d("-0.05").to_string(), "-0.05");
        assert_eq!(d("1e+5").to_string(), "100000");
        assert_eq!(d("1.5E-3").to_string(), "0.0015");
        assert_eq!(d("1.10"), d("1.1"));
        assert!(d("-2.1") < d("-2"));
        assert!(d("1234567890987654321.0") > d("1"));
        assert!(Decimal::parse("1.").is_none());
        assert!(Decimal::parse("abc").is_none());
        assert!(Decimal::parse("1e999999999").is_none());
    }

    #[test]
    fn arithmetic() {
        assert_eq!(d("0.1").add(&d("0.2")).unwrap().to_string(), "0.3");
        assert_eq!(d("1.2").mul(&d("1.8")).unwrap().to_string(), "2.16");
        assert_eq!(d("1").div(&d("2")).unwrap().to_string(), "0.5");
        assert_eq!(d("4.0").div(&d("2.0")).unwrap().to_string(), "2");
        assert_eq!(
            d("1.2").div(&d("1.8")).unwrap().round(2).to_string(),
            "0.67"
        );
        assert_eq!(d("2.2").div_trunc(&d("1.8")).unwrap().to_string(), "1");
        assert_eq!(d("2.2").rem(&d("1.8")).unwrap().to_string(), "0.4");
        assert_eq!(d("3.14159").round(3).to_string(), "3.142");
        assert_eq!(d("-2.1").floor().to_string(), "-3");
        assert_eq!(d("-1.1").ceil().to_string(), "-1");
        assert_eq!(d("-1.56").trunc().to_string(), "-1");
        assert!(d("1").div(&d("0")).is_none());
    }
}
