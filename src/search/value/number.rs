//! Numbers for search: the implicit range of a search number and the R4
//! meaning of each prefix on `number` (and, after unit conversion, `quantity`)
//! parameters.
//!
//! A search number stands for the range its significant digits allow (R4
//! search, "number"): `100` is `[99.5, 100.5)`, `100.00` is
//! `[99.995, 100.005)`. The precision is that of the last digit written, so
//! exponent notation follows the same rule: `1.00e2` is `[99.5, 100.5)` like
//! `100`, and `1e2` (one significant figure) is `[50, 150)`. R4's own example
//! says `1e2` is `[95, 105)`, which matches no significant-figure rule and
//! contradicts the note beside it ("100 and 1.00e2 both have the same number
//! of significant digits"); we follow the rule, not the example.
//!
//! Stored values are targets, taken at their exact value: a decimal element
//! is the point `[v, v]`, a `Range` element is `[low, high]`. The stored
//! value's own precision is not widened (R4: "values that equal 100, to 3
//! significant figures precision … searching for values in the range
//! [99.5 ... 100.5)"), which also gives R4's exact matching of integers.
//!
//! With `S = [lo, hi)` the search range, `x` the search value and `[tlo, thi]`
//! the stored range, a prefix means:
//!
//! | prefix | matches when | note |
//! |---|---|---|
//! | `eq` | `tlo >= lo AND thi < hi` | S contains the target |
//! | `ne` | not `eq` | |
//! | `gt` | `thi > x` | R4: `gt`, `lt`, `ge`, `le`, `sa`, `eb` ignore the implicit precision |
//! | `lt` | `tlo < x` | |
//! | `ge` | `thi >= x` | |
//! | `le` | `tlo <= x` | |
//! | `sa` | `tlo > x` | the whole target lies above `x` |
//! | `eb` | `thi < x` | the whole target lies below `x` |
//! | `ap` | `thi >= alo AND tlo <= ahi` | `[alo, ahi]` is `x ± 10 % of |x|`, widened to contain S |
//!
//! For SQL, store `lo REAL, hi REAL` (`Decimal::to_f64` of the exact bounds;
//! `lo = hi` for a point) and use [`number_condition`] mapped through
//! `Decimal::to_f64`. Rounding to `f64` is monotonic and agrees with the
//! exact comparison whenever the stored value and the bound differ in their
//! first 15 significant digits.

use super::decimal::Decimal;
use super::prefix::{Column, Condition, Op, Prefix, Term};

/// A search number with its implicit range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NumRange {
    /// The value written.
    pub value: Decimal,
    /// Low end of the implicit range (inclusive): value − ½ unit of the last digit.
    pub lo: Decimal,
    /// High end of the implicit range (exclusive): value + ½ unit of the last digit.
    pub hi: Decimal,
    /// Low end for `ap` (inclusive): the smaller of `value − 10 % of |value|` and `lo`.
    pub approx_lo: Decimal,
    /// High end for `ap` (inclusive): the larger of `value + 10 % of |value|` and `hi`.
    pub approx_hi: Decimal,
}

/// The implicit range of a search number (see the module documentation), or
/// `None` if the text is not a decimal (`Decimal::parse_with_precision`).
pub fn decimal_range(text: &str) -> Option<NumRange> {
    let (value, precision) = Decimal::parse_with_precision(text)?;
    let half = Decimal::new(5, precision.checked_sub(1)?)?;
    let lo = value.checked_sub(half)?;
    let hi = value.checked_add(half)?;
    let tenth = value.abs().checked_mul(Decimal::new(1, -1)?)?;
    let approx_lo = value.checked_sub(tenth)?.min(lo);
    let approx_hi = value.checked_add(tenth)?.max(hi);
    Some(NumRange {
        value,
        lo,
        hi,
        approx_lo,
        approx_hi,
    })
}

/// Whether a stored range `[lo, hi]` (a point when equal) matches `search`
/// under `prefix`, by the table in the module documentation.
pub fn range_matches(prefix: Prefix, search: &NumRange, lo: &Decimal, hi: &Decimal) -> bool {
    let x = &search.value;
    let eq = *lo >= search.lo && *hi < search.hi;
    match prefix {
        Prefix::Eq => eq,
        Prefix::Ne => !eq,
        Prefix::Gt => hi > x,
        Prefix::Lt => lo < x,
        Prefix::Ge => hi >= x,
        Prefix::Le => lo <= x,
        Prefix::Sa => lo > x,
        Prefix::Eb => hi < x,
        Prefix::Ap => *hi >= search.approx_lo && *lo <= search.approx_hi,
    }
}

/// Whether the stored decimal text matches the search number text under
/// `prefix`; false when either text is not a decimal.
pub fn number_matches(prefix: Prefix, search_text: &str, stored_text: &str) -> bool {
    match (decimal_range(search_text), Decimal::parse(stored_text)) {
        (Some(search), Some(stored)) => range_matches(prefix, &search, &stored, &stored),
        _ => false,
    }
}

fn term(column: Column, op: Op, value: Decimal) -> Term<Decimal> {
    Term { column, op, value }
}

/// The condition on stored `(lo, hi)` columns that selects exactly what
/// [`range_matches`] accepts. Map it with `Decimal::to_f64` for REAL columns,
/// or first through a unit conversion for quantities (every conversion is
/// monotonic, so the condition keeps its meaning).
pub fn number_condition(prefix: Prefix, search: &NumRange) -> Condition<Decimal> {
    use Column::{Hi, Lo};
    let x = search.value;
    let any_of = match prefix {
        Prefix::Eq => vec![vec![
            term(Lo, Op::Ge, search.lo),
            term(Hi, Op::Lt, search.hi),
        ]],
        Prefix::Ne => vec![
            vec![term(Lo, Op::Lt, search.lo)],
            vec![term(Hi, Op::Ge, search.hi)],
        ],
        Prefix::Gt => vec![vec![term(Hi, Op::Gt, x)]],
        Prefix::Lt => vec![vec![term(Lo, Op::Lt, x)]],
        Prefix::Ge => vec![vec![term(Hi, Op::Ge, x)]],
        Prefix::Le => vec![vec![term(Lo, Op::Le, x)]],
        Prefix::Sa => vec![vec![term(Lo, Op::Gt, x)]],
        Prefix::Eb => vec![vec![term(Hi, Op::Lt, x)]],
        Prefix::Ap => vec![vec![
            term(Hi, Op::Ge, search.approx_lo),
            term(Lo, Op::Le, search.approx_hi),
        ]],
    };
    Condition { any_of }
}

#[cfg(test)]
mod tests {
    use super::super::test_rng::{ALPHABET, Rng};
    use super::*;

    fn d(text: &str) -> Decimal {
        Decimal::parse(text).unwrap()
    }

    fn bounds(text: &str) -> (Decimal, Decimal) {
        let r = decimal_range(text).unwrap();
        (r.lo, r.hi)
    }

    #[test]
    fn implicit_ranges() {
        assert_eq!(bounds("100"), (d("99.5"), d("100.5")));
        assert_eq!(bounds("100.00"), (d("99.995"), d("100.005")));
        assert_eq!(bounds("1e2"), (d("50"), d("150")));
        assert_eq!(bounds("1.00e2"), (d("99.5"), d("100.5")));
        assert_eq!(bounds("2.0"), (d("1.95"), d("2.05")));
        assert_eq!(bounds("0"), (d("-0.5"), d("0.5")));
        assert_eq!(bounds("-0.010"), (d("-0.0105"), d("-0.0095")));
        assert_eq!(bounds("5.40e-3"), (d("0.005395"), d("0.005405")));
        assert_eq!(decimal_range("1.2.3"), None);
        assert_eq!(decimal_range("ge5"), None);
    }

    #[test]
    fn approx_bounds_are_ten_percent_or_the_implicit_range() {
        let r = decimal_range("100").unwrap();
        assert_eq!((r.approx_lo, r.approx_hi), (d("90"), d("110")));
        let r = decimal_range("-5.4").unwrap();
        assert_eq!((r.approx_lo, r.approx_hi), (d("-5.94"), d("-4.86")));
        // 10 % of 1e2 is narrower than its implicit range [50, 150).
        let r = decimal_range("1e2").unwrap();
        assert_eq!((r.approx_lo, r.approx_hi), (d("50"), d("150")));
        let r = decimal_range("0").unwrap();
        assert_eq!((r.approx_lo, r.approx_hi), (d("-0.5"), d("0.5")));
        let r = decimal_range("2").unwrap();
        assert_eq!((r.approx_lo, r.approx_hi), (d("1.5"), d("2.5")));
    }

    #[test]
    fn number_matches_each_prefix() {
        use Prefix::*;
        let cases = [
            (Eq, "100", "99.5", true),
            (Eq, "100", "100.5", false),
            (Eq, "100", "100.4999", true),
            (Eq, "100.0", "100.05", false),
            (Eq, "100.0", "100.049", true),
            (Eq, "1e2", "140", true),
            (Eq, "1e2", "150", false),
            (Eq, "2", "2", true),
            (Eq, "2.5", "2", false),
            (Ne, "100", "100.5", true),
            (Ne, "100", "99.5", false),
            (Gt, "100", "100", false),
            (Gt, "100", "100.0001", true),
            (Gt, "100", "100.4", true),
            (Lt, "100", "99.9999", true),
            (Lt, "100", "100", false),
            (Ge, "100", "100", true),
            (Ge, "100", "99.9", false),
            (Le, "100", "100", true),
            (Le, "100", "100.1", false),
            (Sa, "0.8", "0.8", false),
            (Sa, "8e-1", "0.81", true),
            (Eb, "0.8", "0.79", true),
            (Eb, "0.8", "0.8", false),
            (Ap, "100", "110", true),
            (Ap, "100", "110.01", false),
            (Ap, "100", "89.99", false),
            (Ap, "-100", "-109", true),
            (Eq, "abc", "1", false),
            (Eq, "1", "abc", false),
        ];
        for (p, search, stored, expected) in cases {
            assert_eq!(
                number_matches(p, search, stored),
                expected,
                "{p:?} {search} vs {stored}"
            );
        }
    }

    #[test]
    fn range_targets() {
        let s = decimal_range("100").unwrap();
        let (lo, hi) = (d("99"), d("101"));
        assert!(!range_matches(Prefix::Eq, &s, &lo, &hi));
        assert!(range_matches(Prefix::Ne, &s, &lo, &hi));
        assert!(range_matches(Prefix::Gt, &s, &lo, &hi));
        assert!(range_matches(Prefix::Lt, &s, &lo, &hi));
        assert!(!range_matches(Prefix::Sa, &s, &lo, &hi));
        assert!(!range_matches(Prefix::Eb, &s, &lo, &hi));
        assert!(range_matches(Prefix::Eq, &s, &d("99.6"), &d("100.4")));
        assert!(range_matches(Prefix::Ge, &s, &d("90"), &d("100")));
        assert!(!range_matches(Prefix::Gt, &s, &d("90"), &d("100")));
    }

    /// A random decimal text with up to 12 significant digits.
    fn random_text(rng: &mut Rng) -> String {
        let digits = rng.range_i64(1, 12) as u32;
        let m = rng.range_i64(-(10i64.pow(digits) - 1), 10i64.pow(digits) - 1);
        let frac = rng.range_i64(0, 6) as usize;
        let mut s = m.unsigned_abs().to_string();
        while s.len() <= frac {
            s.insert(0, '0');
        }
        if frac > 0 {
            s.insert(s.len() - frac, '.');
        }
        if m < 0 {
            s.insert(0, '-');
        }
        if rng.below(5) == 0 {
            s.push_str(&format!("e{}", rng.range_i64(-3, 3)));
        }
        s
    }

    #[test]
    fn condition_agrees_with_matches_exactly_and_in_f64() {
        let mut rng = Rng::new(5);
        for _ in 0..30_000 {
            let search = decimal_range(&random_text(&mut rng)).unwrap();
            let near = [
                search.lo,
                search.hi,
                search.value,
                search.approx_lo,
                search.approx_hi,
            ];
            let target = |rng: &mut Rng| {
                if rng.below(2) == 0 {
                    *rng.pick(&near)
                } else {
                    decimal_range(&random_text(rng)).unwrap().value
                }
            };
            let (a, b) = (target(&mut rng), target(&mut rng));
            let (lo, hi) = if rng.below(3) == 0 {
                (a, a)
            } else {
                (a.min(b), a.max(b))
            };
            for p in Prefix::ALL {
                let expected = range_matches(p, &search, &lo, &hi);
                let cond = number_condition(p, &search);
                assert_eq!(
                    cond.matches(&lo, &hi),
                    expected,
                    "{p:?} {search:?} [{lo}, {hi}]"
                );
                let real = cond.map(|v| v.to_f64());
                assert_eq!(
                    real.matches(&lo.to_f64(), &hi.to_f64()),
                    expected,
                    "f64 {p:?} {search:?} [{lo}, {hi}]"
                );
            }
        }
    }

    #[test]
    fn decimal_range_never_panics_on_mutations() {
        let mut rng = Rng::new(9);
        let seeds = ["100", "-5.40e-3", "1e2", "0.000"];
        for _ in 0..20_000 {
            let seed = *rng.pick(&seeds);
            let text = rng.mutate(seed, ALPHABET);
            if let Some(r) = decimal_range(&text) {
                assert!(
                    r.approx_lo <= r.lo && r.lo < r.value && r.value < r.hi,
                    "{text}"
                );
                assert!(r.hi <= r.approx_hi, "{text}");
            }
        }
    }
}
