//! Existence functions (`empty`, `exists`, `all`, `allTrue`, `anyTrue`,
//! `allFalse`, `anyFalse`, `subsetOf`, `supersetOf`, `count`, `distinct`,
//! `isDistinct`) and `not()`.

use super::Args;
use crate::fhirpath::ast::Func;
use crate::fhirpath::compare;
use crate::fhirpath::error::Error;
use crate::fhirpath::eval::{Items, boolean, maybe_bool, to_bool, union_into};
use crate::fhirpath::value::{Item, Prim, SystemValue};

pub(super) fn call<'a>(
    func: Func,
    input: Items<'a>,
    args: &Args<'_, '_, 'a>,
) -> Result<Items<'a>, Error> {
    Ok(match func {
        Func::Empty => boolean(input.is_empty()),
        Func::Exists if args.len() == 0 => boolean(!input.is_empty()),
        Func::Exists => {
            let criteria = args.expr(0)?;
            for (i, item) in input.iter().enumerate() {
                if to_bool(&args.ev.eval_on(criteria, item, i)?, "exists()")? == Some(true) {
                    return Ok(boolean(true));
                }
            }
            boolean(false)
        }
        Func::All => {
            let criteria = args.expr(0)?;
            for (i, item) in input.iter().enumerate() {
                if to_bool(&args.ev.eval_on(criteria, item, i)?, "all()")? != Some(true) {
                    return Ok(boolean(false));
                }
            }
            boolean(true)
        }
        Func::AllTrue => boolean(booleans(&input)?.iter().all(|b| *b)),
        Func::AnyTrue => boolean(booleans(&input)?.iter().any(|b| *b)),
        Func::AllFalse => boolean(booleans(&input)?.iter().all(|b| !*b)),
        Func::AnyFalse => boolean(booleans(&input)?.iter().any(|b| !*b)),
        Func::SubsetOf => {
            let other = args.value(0)?;
            boolean(input.iter().all(|i| compare::contains(&other, i)))
        }
        Func::SupersetOf => {
            let other = args.value(0)?;
            boolean(other.iter().all(|i| compare::contains(&input, i)))
        }
        Func::Count => vec![Item::Value(SystemValue::Integer(
            i64::try_from(input.len()).unwrap_or(i64::MAX),
        ))],
        Func::Distinct => distinct(input),
        Func::IsDistinct => {
            let n = input.len();
            boolean(distinct(input).len() == n)
        }
        _ => maybe_bool(to_bool(&input, "not()")?.map(|b| !b)),
    })
}

/// The items without repeats, in their first order.
pub(super) fn distinct(input: Items<'_>) -> Items<'_> {
    let mut out = Vec::with_capacity(input.len());
    union_into(&mut out, input);
    out
}

/// Every item as a Boolean; anything else is an error.
fn booleans(input: &[Item<'_>]) -> Result<Vec<bool>, Error> {
    input
        .iter()
        .map(|i| match i.prim() {
            Some(Prim::Boolean(b)) => Ok(b),
            _ => Err(Error::execution("expects Boolean items")),
        })
        .collect()
}
