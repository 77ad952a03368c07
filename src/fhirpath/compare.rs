//! Equality (`=`), equivalence (`~`) and order (`<`, `>`, …) of items and of
//! collections: numbers compare by value across Integer and Decimal, dates and
//! times by their precision (empty when it decides), quantities through their
//! units, strings exactly (equivalence ignores case and spacing), and other
//! nodes by their JSON content.

use super::decimal::Decimal;
use super::error::Error;
use super::quantity::Quantity;
use super::temporal::{Temporal, TemporalKind};
use super::value::{Item, Prim};
use std::borrow::Cow;
use std::cmp::Ordering;

/// A string read as the date, date-time or time it is compared with.
fn as_temporal_like(s: &str, like: &Temporal) -> Option<Temporal> {
    match like.kind {
        TemporalKind::Date => Temporal::parse_date(s).or_else(|| Temporal::parse_datetime(s)),
        TemporalKind::DateTime => Temporal::parse_datetime(s),
        TemporalKind::Time => Temporal::parse_time(s),
    }
}

fn temporal(p: &Prim<'_>) -> Option<Temporal> {
    match p {
        Prim::Date(t) | Prim::DateTime(t) | Prim::Time(t) => Some(*t),
        _ => None,
    }
}

fn number(p: &Prim<'_>) -> Option<Decimal> {
    match p {
        Prim::Integer(i) => Some(Decimal::from_i64(*i)),
        Prim::Decimal(d) => Some(*d),
        _ => None,
    }
}

/// Implicit conversions that make two primitives comparable: a string
/// becomes a date/time next to one, a number a quantity next to one.
fn unify<'x>(a: Prim<'x>, b: Prim<'x>) -> (Prim<'x>, Prim<'x>) {
    fn lift<'x>(p: Prim<'x>, other: &Prim<'_>) -> Prim<'x> {
        match (&p, temporal(other), number(&p)) {
            (Prim::String(s), Some(t), _) => as_temporal_like(s, &t).map_or(p, Prim::temporal),
            (_, _, Some(n)) if matches!(other, Prim::Quantity(_)) => {
                Prim::Quantity(Cow::Owned(Quantity::new(n, "1")))
            }
            _ => p,
        }
    }
    let a = lift(a, &b);
    let b = lift(b, &a);
    (a, b)
}

/// `a = b` for two primitives: `None` when it cannot be decided (precision).
fn prim_equals(a: Prim<'_>, b: Prim<'_>) -> Option<bool> {
    let (a, b) = unify(a, b);
    if let (Some(x), Some(y)) = (number(&a), number(&b)) {
        return Some(x == y);
    }
    match (&a, &b) {
        (Prim::Boolean(x), Prim::Boolean(y)) => Some(x == y),
        (Prim::String(x), Prim::String(y)) => Some(x == y),
        (Prim::Quantity(x), Prim::Quantity(y)) => x.compare(y).map(|o| o == Ordering::Equal),
        _ => match (temporal(&a), temporal(&b)) {
            (Some(x), Some(y)) => x.compare(&y).map(|o| o == Ordering::Equal).or_else(|| {
                // A date and a time never meet.
                (x.kind == TemporalKind::Time)
                    .ne(&(y.kind == TemporalKind::Time))
                    .then_some(false)
            }),
            _ => Some(false),
        },
    }
}

/// Spaces collapsed and case folded, for string equivalence.
fn folded(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn prim_equivalent(a: Prim<'_>, b: Prim<'_>) -> bool {
    let (a, b) = unify(a, b);
    if let (Some(x), Some(y)) = (number(&a), number(&b)) {
        let digits = x.scale().min(y.scale());
        return x.round(digits) == y.round(digits);
    }
    match (&a, &b) {
        (Prim::Boolean(x), Prim::Boolean(y)) => x == y,
        (Prim::String(x), Prim::String(y)) => folded(x) == folded(y),
        (Prim::Quantity(x), Prim::Quantity(y)) => x.equivalent(y),
        _ => match (temporal(&a), temporal(&b)) {
            (Some(x), Some(y)) => x.equivalent(&y),
            _ => false,
        },
    }
}

/// `a = b` for two items (`None`: not decidable, the result is empty).
pub(crate) fn equals(a: &Item<'_>, b: &Item<'_>) -> Option<bool> {
    match (a.prim(), b.prim()) {
        (Some(x), Some(y)) => prim_equals(x, y),
        (None, None) => Some(a.json() == b.json() && a.extension() == b.extension()),
        _ => Some(false),
    }
}

/// `a ~ b` for two items.
pub(crate) fn equivalent(a: &Item<'_>, b: &Item<'_>) -> bool {
    match (a.prim(), b.prim()) {
        (Some(x), Some(y)) => prim_equivalent(x, y),
        (None, None) => a.json() == b.json(),
        _ => false,
    }
}

/// Whether a collection holds an item equal to `item`.
pub(crate) fn contains(items: &[Item<'_>], item: &Item<'_>) -> bool {
    items.iter().any(|i| equals(i, item) == Some(true))
}

/// `=` on collections: empty if either is empty.
pub(crate) fn collections_equal(a: &[Item<'_>], b: &[Item<'_>]) -> Option<bool> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    if a.len() != b.len() {
        return Some(false);
    }
    let mut undecided = false;
    for (x, y) in a.iter().zip(b) {
        match equals(x, y) {
            Some(false) => return Some(false),
            None => undecided = true,
            Some(true) => {}
        }
    }
    (!undecided).then_some(true)
}

/// `~` on collections: same size and every item matched, in any order.
pub(crate) fn collections_equivalent(a: &[Item<'_>], b: &[Item<'_>]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut used = vec![false; b.len()];
    a.iter().all(|x| {
        let found = b
            .iter()
            .enumerate()
            .position(|(j, y)| !used[j] && equivalent(x, y));
        if let Some(j) = found {
            used[j] = true;
        }
        found.is_some()
    })
}

/// Order of two items for `<`, `>`, `<=`, `>=`: `Ok(None)` when undecidable,
/// an error when the types cannot be compared.
pub(crate) fn order(a: &Item<'_>, b: &Item<'_>) -> Result<Option<Ordering>, Error> {
    let (Some(x), Some(y)) = (a.prim(), b.prim()) else {
        return Err(Error::execution("only primitive values can be compared"));
    };
    let (x, y) = unify(x, y);
    if let (Some(m), Some(n)) = (number(&x), number(&y)) {
        return Ok(Some(m.cmp(&n)));
    }
    match (&x, &y) {
        (Prim::String(s), Prim::String(t)) => Ok(Some(s.cmp(t))),
        (Prim::Quantity(p), Prim::Quantity(q)) => Ok(p.compare(q)),
        _ => match (temporal(&x), temporal(&y)) {
            (Some(s), Some(t))
                if (s.kind == TemporalKind::Time) == (t.kind == TemporalKind::Time) =>
            {
                Ok(s.compare(&t))
            }
            _ => Err(Error::execution(format!(
                "cannot compare {} with {}",
                x.to_value().type_name(),
                y.to_value().type_name()
            ))),
        },
    }
}
