//! Arithmetic operators on single values: `+ - * / div mod` on Integer and
//! Decimal (overflow and division by zero give empty), string `+` and `&`,
//! quantity arithmetic with units, and date/time plus or minus a duration.

use super::ast::BinOp;
use super::decimal::Decimal;
use super::error::Error;
use super::quantity::Quantity;
use super::temporal::Temporal;
use super::value::{Prim, SystemValue};

/// The result of an operator on two values: a value, or empty.
type Outcome = Result<Option<SystemValue>, Error>;

fn number(p: &Prim<'_>) -> Option<Decimal> {
    match p {
        Prim::Integer(i) => Some(Decimal::from_i64(*i)),
        Prim::Decimal(d) => Some(*d),
        _ => None,
    }
}

fn mismatch(op: BinOp, a: &Prim<'_>, b: &Prim<'_>) -> Error {
    Error::execution(format!(
        "{op:?} is not defined for {} and {}",
        a.to_value().type_name(),
        b.to_value().type_name()
    ))
}

/// `a op b` for `+ - * / div mod`.
pub(crate) fn apply(op: BinOp, a: &Prim<'_>, b: &Prim<'_>) -> Outcome {
    if let (Prim::Integer(x), Prim::Integer(y)) = (a, b) {
        let r = match op {
            BinOp::Add => x.checked_add(*y),
            BinOp::Sub => x.checked_sub(*y),
            BinOp::Mul => x.checked_mul(*y),
            BinOp::IntDiv => x.checked_div(*y),
            BinOp::Mod => x.checked_rem(*y),
            _ => return decimal(op, Decimal::from_i64(*x), Decimal::from_i64(*y)),
        };
        return Ok(r.map(SystemValue::Integer));
    }
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        return decimal(op, x, y);
    }
    match (a, b) {
        (Prim::String(x), Prim::String(y)) if op == BinOp::Add => {
            Ok(Some(SystemValue::string(&format!("{x}{y}"))))
        }
        (Prim::Date(t) | Prim::DateTime(t) | Prim::Time(t), Prim::Quantity(q))
            if matches!(op, BinOp::Add | BinOp::Sub) =>
        {
            shift(t, q, op == BinOp::Sub).map(|t| t.map(SystemValue::temporal))
        }
        (Prim::Quantity(x), Prim::Quantity(y)) => Ok(match op {
            BinOp::Add | BinOp::Sub => x.add(y, op == BinOp::Sub),
            BinOp::Mul | BinOp::Div => x.mul(y, op == BinOp::Div),
            _ => return Err(mismatch(op, a, b)),
        }
        .map(SystemValue::Quantity)),
        (Prim::Quantity(q), n) if number(n).is_some() && matches!(op, BinOp::Mul | BinOp::Div) => {
            let n = number(n).unwrap_or(Decimal::ZERO);
            let value = if op == BinOp::Mul {
                q.value.mul(&n)
            } else {
                q.value.div(&n)
            };
            Ok(value.map(|v| SystemValue::Quantity(q.scaled(v))))
        }
        (n, Prim::Quantity(q)) if number(n).is_some() && op == BinOp::Mul => {
            let n = number(n).unwrap_or(Decimal::ZERO);
            Ok(q.value.mul(&n).map(|v| SystemValue::Quantity(q.scaled(v))))
        }
        _ => Err(mismatch(op, a, b)),
    }
}

fn decimal(op: BinOp, x: Decimal, y: Decimal) -> Outcome {
    Ok(match op {
        BinOp::Add => x.add(&y).map(SystemValue::Decimal),
        BinOp::Sub => x.sub(&y).map(SystemValue::Decimal),
        BinOp::Mul => x.mul(&y).map(SystemValue::Decimal),
        BinOp::Div => x.div(&y).map(SystemValue::Decimal),
        BinOp::IntDiv => x
            .div_trunc(&y)
            .and_then(|d| d.to_i64())
            .map(SystemValue::Integer),
        BinOp::Mod => x.rem(&y).map(SystemValue::Decimal),
        _ => return Err(Error::execution(format!("{op:?} is not arithmetic"))),
    })
}

/// A date/time moved by a duration; the duration's fraction is dropped.
fn shift(t: &Temporal, q: &Quantity, subtract: bool) -> Result<Option<Temporal>, Error> {
    let unit = q.date_unit().ok_or_else(|| {
        Error::execution(format!(
            "'{}' is not a calendar duration that dates can be moved by",
            q.unit
        ))
    })?;
    let Some(amount) = q.value.trunc().to_i64() else {
        return Ok(None);
    };
    let amount = if subtract { -amount } else { amount };
    Ok(t.add(amount, unit))
}
