//! Conversion functions: `toBoolean`, `toInteger`, `toDecimal`, `toString`,
//! `toDate`, `toDateTime`, `toTime`, `toQuantity` and their `convertsTo…`
//! questions. A value that does not convert gives empty; more than one input
//! item is an error.

use super::Args;
use crate::fhirpath::ast::Func;
use crate::fhirpath::decimal::Decimal;
use crate::fhirpath::error::Error;
use crate::fhirpath::eval::{Items, boolean, single};
use crate::fhirpath::quantity::{Quantity, calendar_keyword};
use crate::fhirpath::temporal::{Temporal, TemporalKind};
use crate::fhirpath::value::{Item, Prim, SystemValue};

pub(super) fn call<'a>(
    func: Func,
    input: &[Item<'a>],
    args: &Args<'_, '_, 'a>,
) -> Result<Items<'a>, Error> {
    let Some(item) = single(input, func.name())? else {
        return Ok(Vec::new());
    };
    let prim = item.prim();
    let unit = match func {
        Func::ToQuantity | Func::ConvertsToQuantity if args.len() > 0 => args.string(0)?,
        _ => None,
    };
    let converted = prim.as_ref().and_then(|p| match func {
        Func::ToBoolean | Func::ConvertsToBoolean => to_boolean(p).map(SystemValue::Boolean),
        Func::ToInteger | Func::ConvertsToInteger => to_integer(p).map(SystemValue::Integer),
        Func::ToDecimal | Func::ConvertsToDecimal => to_decimal(p).map(SystemValue::Decimal),
        Func::ToDate | Func::ConvertsToDate => to_temporal(p, TemporalKind::Date),
        Func::ToDateTime | Func::ConvertsToDateTime => to_temporal(p, TemporalKind::DateTime),
        Func::ToTime | Func::ConvertsToTime => to_temporal(p, TemporalKind::Time),
        Func::ToQuantity | Func::ConvertsToQuantity => {
            to_quantity(p, unit.as_deref()).map(SystemValue::Quantity)
        }
        _ => Some(SystemValue::string(&p.to_text())),
    });
    let question = matches!(
        func,
        Func::ConvertsToBoolean
            | Func::ConvertsToInteger
            | Func::ConvertsToDecimal
            | Func::ConvertsToDate
            | Func::ConvertsToDateTime
            | Func::ConvertsToTime
            | Func::ConvertsToQuantity
            | Func::ConvertsToString
    );
    Ok(if question {
        boolean(converted.is_some())
    } else {
        converted.map(Item::Value).into_iter().collect()
    })
}

fn to_boolean(p: &Prim<'_>) -> Option<bool> {
    match p {
        Prim::Boolean(b) => Some(*b),
        Prim::Integer(1) => Some(true),
        Prim::Integer(0) => Some(false),
        Prim::Decimal(d) if *d == Decimal::from_i64(1) => Some(true),
        Prim::Decimal(d) if d.is_zero() => Some(false),
        Prim::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" | "1.0" => Some(true),
            "false" | "f" | "no" | "n" | "0" | "0.0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// `[+-]digits`
fn is_integer_text(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `[+-]digits[.digits]`
fn is_decimal_text(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    match body.split_once('.') {
        Some((i, f)) => is_integer_text(i) && is_integer_text(f) && !f.starts_with(['+', '-']),
        None => is_integer_text(body),
    }
}

fn to_integer(p: &Prim<'_>) -> Option<i64> {
    match p {
        Prim::Integer(i) => Some(*i),
        Prim::Boolean(b) => Some(i64::from(*b)),
        Prim::String(s) if is_integer_text(s) => s.parse().ok(),
        _ => None,
    }
}

fn to_decimal(p: &Prim<'_>) -> Option<Decimal> {
    match p {
        Prim::Integer(i) => Some(Decimal::from_i64(*i)),
        Prim::Decimal(d) => Some(*d),
        Prim::Boolean(b) => Decimal::parse(if *b { "1.0" } else { "0.0" }),
        Prim::String(s) if is_decimal_text(s) => Decimal::parse(s),
        _ => None,
    }
}

fn to_temporal(p: &Prim<'_>, kind: TemporalKind) -> Option<SystemValue> {
    let t = match (p, kind) {
        (Prim::Date(t), TemporalKind::Date) | (Prim::DateTime(t), TemporalKind::DateTime) => *t,
        (Prim::Time(t), TemporalKind::Time) => *t,
        (Prim::DateTime(t), TemporalKind::Date) => t.date_part(),
        (Prim::Date(t), TemporalKind::DateTime) => t.as_datetime(),
        (Prim::String(s), TemporalKind::Date) => Temporal::parse_date(s)?,
        (Prim::String(s), TemporalKind::DateTime) => Temporal::parse_datetime(s)?,
        (Prim::String(s), TemporalKind::Time) => Temporal::parse_time(s)?,
        _ => return None,
    };
    Some(SystemValue::temporal(t))
}

/// A quantity from its string form: `1`, `1.5 'mg'`, `4 days`.
fn parse_quantity(s: &str) -> Option<Quantity> {
    let s = s.trim();
    let (number, unit) = match s.find(' ') {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    };
    if !is_decimal_text(number) {
        return None;
    }
    let value = Decimal::parse(number)?;
    let unit = if unit.is_empty() {
        "1".to_string()
    } else if let Some(quoted) = unit.strip_prefix('\'').and_then(|u| u.strip_suffix('\'')) {
        quoted.to_string()
    } else if calendar_keyword(unit).is_some() {
        unit.to_string()
    } else {
        return None;
    };
    Some(Quantity::new(value, unit))
}

fn to_quantity(p: &Prim<'_>, unit: Option<&str>) -> Option<Quantity> {
    let q = match p {
        Prim::Quantity(q) => q.as_ref().clone(),
        Prim::Integer(i) => Quantity::new(Decimal::from_i64(*i), "1"),
        Prim::Decimal(d) => Quantity::new(*d, "1"),
        Prim::Boolean(b) => Quantity::new(Decimal::parse(if *b { "1.0" } else { "0.0" })?, "1"),
        Prim::String(s) => parse_quantity(s)?,
        _ => return None,
    };
    match unit {
        None => Some(q),
        Some(u) if u == q.unit => Some(q),
        Some(u) => {
            let target = Quantity::new(Decimal::from_i64(0), u);
            target.add(&q, false)
        }
    }
}
