//! Math functions: `abs`, `ceiling`, `floor`, `truncate`, `round` (exact, on
//! decimals) and `exp`, `ln`, `log`, `power`, `sqrt` (through floating point;
//! results that are not real numbers are empty).

use super::Args;
use crate::fhirpath::ast::Func;
use crate::fhirpath::decimal::Decimal;
use crate::fhirpath::error::Error;
use crate::fhirpath::eval::{Items, single};
use crate::fhirpath::value::{Item, Prim, SystemValue};

fn number(p: &Prim<'_>) -> Option<Decimal> {
    match p {
        Prim::Integer(i) => Some(Decimal::from_i64(*i)),
        Prim::Decimal(d) => Some(*d),
        _ => None,
    }
}

/// An argument as a number (`None` when empty).
fn number_arg(args: &Args<'_, '_, '_>, i: usize) -> Result<Option<Decimal>, Error> {
    let items = args.value(i)?;
    match single(&items, args.call.func.name())? {
        None => Ok(None),
        Some(item) => item
            .prim()
            .as_ref()
            .and_then(number)
            .map(Some)
            .ok_or_else(|| Error::execution("expects a number")),
    }
}

fn integer_or_none(d: Decimal) -> Option<SystemValue> {
    d.to_i64().map(SystemValue::Integer)
}

pub(super) fn call<'a>(
    func: Func,
    input: &[Item<'a>],
    args: &Args<'_, '_, 'a>,
) -> Result<Items<'a>, Error> {
    let Some(item) = single(input, func.name())? else {
        return Ok(Vec::new());
    };
    let prim = item.prim();
    if let (Func::Abs, Some(Prim::Quantity(q))) = (func, &prim) {
        return Ok(vec![Item::Value(SystemValue::Quantity(
            q.scaled(q.value.abs()),
        ))]);
    }
    let Some(x) = prim.as_ref().and_then(number) else {
        return Err(Error::execution(format!(
            "{}() needs a number",
            func.name()
        )));
    };
    let integer_input = matches!(prim, Some(Prim::Integer(_)));
    let float = |f: f64| Decimal::from_f64(f).map(SystemValue::Decimal);
    let result = match func {
        Func::Abs if integer_input => integer_or_none(x.abs()),
        Func::Abs => Some(SystemValue::Decimal(x.abs())),
        Func::Ceiling => integer_or_none(x.ceil()),
        Func::Floor => integer_or_none(x.floor()),
        Func::Truncate => integer_or_none(x.trunc()),
        Func::Round => {
            let digits = match args.len() {
                0 => 0,
                _ => match args.integer(0)? {
                    Some(d) if d >= 0 => u32::try_from(d).unwrap_or(u32::MAX),
                    Some(_) => {
                        return Err(Error::execution("round() needs a precision of 0 or more"));
                    }
                    None => return Ok(Vec::new()),
                },
            };
            Some(SystemValue::Decimal(x.round(digits)))
        }
        Func::Exp => float(x.to_f64().exp()),
        Func::Ln => float(x.to_f64().ln()),
        Func::Sqrt => float(x.to_f64().sqrt()),
        Func::Log => match number_arg(args, 0)? {
            Some(base) => float(x.to_f64().ln() / base.to_f64().ln()),
            None => None,
        },
        _ => match number_arg(args, 0)? {
            Some(e) => power(x, e, integer_input),
            None => None,
        },
    };
    Ok(result.map(Item::Value).into_iter().collect())
}

/// `x.power(e)`: exact for integer exponents of integers.
fn power(x: Decimal, e: Decimal, integer_base: bool) -> Option<SystemValue> {
    let exponent = e.to_i64().and_then(|e| u32::try_from(e).ok());
    if let (true, Some(base), Some(exp)) = (integer_base, x.to_i64(), exponent) {
        return base.checked_pow(exp).map(SystemValue::Integer);
    }
    Decimal::from_f64(x.to_f64().powf(e.to_f64())).map(SystemValue::Decimal)
}
