//! Functions added after FHIRPath N1 that the test suite exercises:
//! `lowBoundary`/`highBoundary` (the range a decimal, quantity, date or time
//! stands for, at a given precision), `precision()` and `comparable()`.

use super::Args;
use crate::fhirpath::ast::Func;
use crate::fhirpath::decimal::Decimal;
use crate::fhirpath::error::Error;
use crate::fhirpath::eval::{Items, boolean, single};
use crate::fhirpath::quantity::Quantity;
use crate::fhirpath::temporal::{Precision, Temporal, TemporalKind};
use crate::fhirpath::value::{Item, Prim, SystemValue};

/// Decimal boundaries have at most this many digits after the point.
const MAX_DIGITS: i64 = 31;

pub(super) fn call<'a>(
    func: Func,
    input: &[Item<'a>],
    args: &Args<'_, '_, 'a>,
) -> Result<Items<'a>, Error> {
    let Some(item) = single(input, func.name())? else {
        return Ok(Vec::new());
    };
    let Some(prim) = item.prim() else {
        return Ok(Vec::new());
    };
    if func == Func::Comparable {
        let other = args.value(0)?;
        let other = single(&other, "comparable()")?.and_then(Item::prim);
        return Ok(match (&prim, other) {
            (Prim::Quantity(a), Some(Prim::Quantity(b))) => boolean(a.comparable(&b)),
            _ => Vec::new(),
        });
    }
    if func == Func::Precision {
        let digits = match &prim {
            Prim::Decimal(d) => i64::from(d.scale()),
            Prim::Integer(_) => 0,
            Prim::Date(t) | Prim::DateTime(t) | Prim::Time(t) => temporal_digits(t),
            _ => return Ok(Vec::new()),
        };
        return Ok(vec![Item::Value(SystemValue::Integer(digits))]);
    }
    let high = func == Func::HighBoundary;
    let precision = if args.len() > 0 {
        args.integer(0)?
    } else {
        None
    };
    let value = match prim {
        Prim::Integer(i) => {
            decimal(Decimal::from_i64(i), precision, high).map(SystemValue::Decimal)
        }
        Prim::Decimal(d) => decimal(d, precision, high).map(SystemValue::Decimal),
        Prim::Quantity(q) => decimal(q.value, precision, high)
            .map(|v| SystemValue::Quantity(Quantity::new(v, q.unit.clone()))),
        Prim::Date(t) | Prim::DateTime(t) | Prim::Time(t) => {
            temporal(t, precision, high).map(SystemValue::temporal)
        }
        _ => None,
    };
    Ok(value.map(Item::Value).into_iter().collect())
}

/// The number of digits a date, date-time or time is written with.
fn temporal_digits(t: &Temporal) -> i64 {
    let date = match t.precision {
        Precision::Year => 4,
        Precision::Month => 6,
        Precision::Day => 8,
        Precision::Hour => 10,
        Precision::Minute => 12,
        Precision::Second => 14,
        Precision::Fraction => 17,
    };
    if t.kind == TemporalKind::Time {
        date - 8
    } else {
        date
    }
}

/// The lowest (or highest) value `d` may stand for, with `precision` digits.
fn decimal(d: Decimal, precision: Option<i64>, high: bool) -> Option<Decimal> {
    let digits = precision.unwrap_or(8);
    if !(0..=MAX_DIGITS).contains(&digits) {
        return None;
    }
    let digits = u32::try_from(digits).ok()?;
    let half = Decimal::parse(&format!("5e-{}", d.scale() + 1))?;
    let edge = if high { d.add(&half)? } else { d.sub(&half)? };
    let unit = Decimal::parse(&format!("1e-{digits}"))?;
    if edge.abs() < unit {
        return Decimal::ZERO.with_scale(digits);
    }
    let scaled = edge.mul(&Decimal::parse(&format!("1e{digits}"))?)?;
    let whole = if high { scaled.ceil() } else { scaled.floor() };
    whole
        .div(&Decimal::parse(&format!("1e{digits}"))?)?
        .with_scale(digits)
}

/// The earliest (or latest) moment a date, date-time or time may stand for,
/// at the precision the digit count names.
fn temporal(t: Temporal, precision: Option<i64>, high: bool) -> Option<Temporal> {
    let time = t.kind == TemporalKind::Time;
    let target = match (precision, time) {
        (None, false) if t.kind == TemporalKind::Date => Precision::Day,
        (None, false) => Precision::Fraction,
        (None, true) => Precision::Fraction,
        (Some(p), false) => match p {
            4 => Precision::Year,
            6 => Precision::Month,
            8 => Precision::Day,
            10 => Precision::Hour,
            12 => Precision::Minute,
            14 => Precision::Second,
            17 => Precision::Fraction,
            _ => return None,
        },
        (Some(p), true) => match p {
            2 => Precision::Hour,
            4 => Precision::Minute,
            6 => Precision::Second,
            9 => Precision::Fraction,
            _ => return None,
        },
    };
    let mut out = t;
    // A date-time known to the hour is read as known to the minute (`T08` is `T08:00`).
    if out.precision == Precision::Hour && !time {
        out.precision = Precision::Minute;
    }
    if out.precision < Precision::Month {
        out.month = if high { 12 } else { 1 };
    }
    if out.precision < Precision::Day {
        out.day = if high {
            Temporal::parse_date(&format!("{:04}-{:02}-01", out.year, out.month))
                .and_then(|d| d.add(1, crate::fhirpath::temporal::CalendarUnit::Month))
                .and_then(|d| d.add(-1, crate::fhirpath::temporal::CalendarUnit::Day))
                .map_or(28, |d| d.day)
        } else {
            1
        };
    }
    if out.precision < Precision::Hour {
        out.hour = if high { 23 } else { 0 };
    }
    if out.precision < Precision::Minute {
        out.minute = if high { 59 } else { 0 };
    }
    if out.precision < Precision::Second {
        out.second = if high { 59 } else { 0 };
    }
    if out.precision < Precision::Fraction {
        out.nanos = if high { 999_000_000 } else { 0 };
        out.frac_digits = 3;
    }
    if target >= Precision::Hour && !time && out.tz.is_none() {
        out.tz = Some(if high { -12 * 60 } else { 14 * 60 });
    }
    out.precision = target;
    if target == Precision::Fraction {
        out.frac_digits = out.frac_digits.max(3);
    }
    if target <= Precision::Day && t.kind == TemporalKind::DateTime {
        out.kind = TemporalKind::Date;
        out.tz = None;
    }
    Some(out)
}
