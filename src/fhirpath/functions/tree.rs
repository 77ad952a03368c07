//! Tree navigation: `children()` (every child node, in document order) and
//! `descendants()` (all nodes below, depth first, without recursion so that
//! deep resources cannot exhaust the stack).

use crate::fhirpath::ast::Func;
use crate::fhirpath::error::Error;
use crate::fhirpath::eval::{Items, MAX_ITEMS, step};
use crate::fhirpath::navigate;
use crate::fhirpath::value::Item;

pub(super) fn call<'a>(func: Func, input: &[Item<'a>]) -> Result<Items<'a>, Error> {
    let mut out = Vec::new();
    for item in input {
        step(item, &mut out, navigate::children);
    }
    if func == Func::Children {
        return Ok(out);
    }
    let mut all = Vec::new();
    let mut stack: Vec<Item<'a>> = out.into_iter().rev().collect();
    while let Some(item) = stack.pop() {
        let mut kids = Vec::new();
        step(&item, &mut kids, navigate::children);
        stack.extend(kids.into_iter().rev());
        all.push(item);
        if all.len() > MAX_ITEMS {
            return Err(Error::execution(
                "descendants() grew beyond a million items",
            ));
        }
    }
    Ok(all)
}
