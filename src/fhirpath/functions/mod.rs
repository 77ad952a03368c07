//! Function calls: evaluates the input (the call's target or the focus),
//! dispatches on the [`Func`] resolved at parse time, and gives the
//! implementations typed access to their arguments. The functions live by
//! theme in the submodules.

mod boundary;
mod collections;
mod conversion;
mod existence;
mod fhir;
mod math;
mod strings;
mod tree;
mod utility;

use super::ast::{Call, Expr, Func};
use super::error::Error;
use super::eval::{Evaluator, Items, Scope, single};
use super::value::{Item, Prim};

/// A call's arguments, evaluated on demand.
pub(crate) struct Args<'c, 'e, 'a> {
    pub ev: &'c Evaluator<'e, 'a>,
    pub call: &'c Call,
    /// The caller's scope, where value arguments are evaluated.
    pub scope: &'c Scope<'a>,
}

impl<'a> Args<'_, '_, 'a> {
    pub fn len(&self) -> usize {
        self.call.args.len()
    }

    /// The expression of argument `i` (for lambdas).
    pub fn expr(&self, i: usize) -> Result<&Expr, Error> {
        self.call.args.get(i).ok_or_else(|| {
            Error::execution(format!(
                "{}() is missing an argument",
                self.call.func.name()
            ))
        })
    }

    /// Argument `i` evaluated on the caller's focus.
    pub fn value(&self, i: usize) -> Result<Items<'a>, Error> {
        self.ev.eval(self.expr(i)?, self.scope)
    }

    /// Argument `i` as a single string; `None` when it is empty.
    pub fn string(&self, i: usize) -> Result<Option<String>, Error> {
        let items = self.value(i)?;
        match single(&items, self.call.func.name())?.map(Item::prim) {
            None => Ok(None),
            Some(Some(Prim::String(s))) => Ok(Some(s.to_string())),
            Some(_) => Err(Error::execution(format!(
                "the argument of {}() must be a string",
                self.call.func.name()
            ))),
        }
    }

    /// Argument `i` as a single integer; `None` when it is empty.
    pub fn integer(&self, i: usize) -> Result<Option<i64>, Error> {
        let items = self.value(i)?;
        match single(&items, self.call.func.name())?.map(Item::prim) {
            None => Ok(None),
            Some(Some(Prim::Integer(n))) => Ok(Some(n)),
            Some(_) => Err(Error::execution(format!(
                "the argument of {}() must be an integer",
                self.call.func.name()
            ))),
        }
    }
}

/// Evaluates a function call.
pub(crate) fn call<'a>(
    ev: &Evaluator<'_, 'a>,
    call: &Call,
    scope: &Scope<'a>,
) -> Result<Items<'a>, Error> {
    let input = ev.focus(call.target.as_ref(), scope)?;
    let args = Args { ev, call, scope };
    match call.func {
        Func::Empty
        | Func::Exists
        | Func::All
        | Func::AllTrue
        | Func::AnyTrue
        | Func::AllFalse
        | Func::AnyFalse
        | Func::SubsetOf
        | Func::SupersetOf
        | Func::Count
        | Func::Distinct
        | Func::IsDistinct
        | Func::Not => existence::call(call.func, input, &args),
        Func::Where
        | Func::Select
        | Func::Repeat
        | Func::Single
        | Func::First
        | Func::Last
        | Func::Tail
        | Func::Skip
        | Func::Take
        | Func::Intersect
        | Func::Exclude
        | Func::Union
        | Func::Combine
        | Func::Iif
        | Func::Aggregate
        | Func::Sort
        | Func::Trace => collections::call(call.func, input, &args),
        Func::ToBoolean
        | Func::ConvertsToBoolean
        | Func::ToInteger
        | Func::ConvertsToInteger
        | Func::ToDate
        | Func::ConvertsToDate
        | Func::ToDateTime
        | Func::ConvertsToDateTime
        | Func::ToDecimal
        | Func::ConvertsToDecimal
        | Func::ToQuantity
        | Func::ConvertsToQuantity
        | Func::ToString
        | Func::ConvertsToString
        | Func::ToTime
        | Func::ConvertsToTime => conversion::call(call.func, &input, &args),
        Func::IndexOf
        | Func::LastIndexOf
        | Func::Substring
        | Func::StartsWith
        | Func::EndsWith
        | Func::Contains
        | Func::Upper
        | Func::Lower
        | Func::Replace
        | Func::Matches
        | Func::MatchesFull
        | Func::ReplaceMatches
        | Func::Length
        | Func::ToChars
        | Func::Trim
        | Func::Split
        | Func::Join
        | Func::Encode
        | Func::Decode
        | Func::Escape
        | Func::Unescape => strings::call(call.func, &input, &args),
        Func::Abs
        | Func::Ceiling
        | Func::Exp
        | Func::Floor
        | Func::Ln
        | Func::Log
        | Func::Power
        | Func::Round
        | Func::Sqrt
        | Func::Truncate => math::call(call.func, &input, &args),
        Func::Children | Func::Descendants => tree::call(call.func, &input),
        Func::Type | Func::Now | Func::TimeOfDay | Func::Today => {
            utility::call(call.func, &input, &args)
        }
        Func::Extension
        | Func::HasValue
        | Func::GetValue
        | Func::Resolve
        | Func::MemberOf
        | Func::HtmlChecks
        | Func::ConformsTo => fhir::call(call.func, input, &args),
        Func::LowBoundary | Func::HighBoundary | Func::Precision | Func::Comparable => {
            boundary::call(call.func, &input, &args)
        }
    }
}
