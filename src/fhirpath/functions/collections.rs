//! Filtering, projection, subsetting and combining: `where`, `select`,
//! `repeat`, `single`, `first`, `last`, `tail`, `skip`, `take`, `intersect`,
//! `exclude`, `union`, `combine`, `aggregate`, `sort`, and the two that pass
//! their input through or choose a branch: `trace` and `iif`.

use super::Args;
use crate::fhirpath::ast::{Expr, Func};
use crate::fhirpath::compare;
use crate::fhirpath::error::Error;
use crate::fhirpath::eval::{Items, MAX_ITEMS, Scope, single, to_bool, union_into};
use crate::fhirpath::value::{Item, SystemValue};
use std::cmp::Ordering;
use std::collections::HashSet;

pub(super) fn call<'a>(
    func: Func,
    input: Items<'a>,
    args: &Args<'_, '_, 'a>,
) -> Result<Items<'a>, Error> {
    let ev = args.ev;
    Ok(match func {
        Func::Where => {
            let criteria = args.expr(0)?;
            let mut out = Vec::new();
            for (i, item) in input.into_iter().enumerate() {
                if to_bool(&ev.eval_on(criteria, &item, i)?, "where()")? == Some(true) {
                    out.push(item);
                }
            }
            out
        }
        Func::Select => {
            let projection = args.expr(0)?;
            let mut out = Vec::new();
            for (i, item) in input.iter().enumerate() {
                out.extend(ev.eval_on(projection, item, i)?);
                if out.len() > MAX_ITEMS {
                    return Err(Error::execution("select() grew beyond a million items"));
                }
            }
            out
        }
        Func::Repeat => repeat(input, args)?,
        Func::Single => single(&input, "single()")?.cloned().into_iter().collect(),
        Func::First => input.into_iter().take(1).collect(),
        Func::Last => input.into_iter().last().into_iter().collect(),
        Func::Tail => input.into_iter().skip(1).collect(),
        Func::Skip => {
            let n = args.integer(0)?.unwrap_or(0).max(0);
            input.into_iter().skip(to_usize(n)).collect()
        }
        Func::Take => {
            let n = args.integer(0)?.unwrap_or(0).max(0);
            input.into_iter().take(to_usize(n)).collect()
        }
        Func::Intersect => {
            let other = args.value(0)?;
            let mut out = Vec::new();
            let common = input
                .into_iter()
                .filter(|i| compare::contains(&other, i))
                .collect();
            union_into(&mut out, common);
            out
        }
        Func::Exclude => {
            let other = args.value(0)?;
            input
                .into_iter()
                .filter(|i| !compare::contains(&other, i))
                .collect()
        }
        Func::Union => {
            let mut out = Vec::new();
            union_into(&mut out, input);
            union_into(&mut out, args.value(0)?);
            out
        }
        Func::Combine => {
            let mut out = input;
            out.extend(args.value(0)?);
            out
        }
        Func::Iif => {
            let item = single(&input, "iif()")?;
            let scope = Scope {
                this: item.cloned(),
                index: args.scope.index,
                total: args.scope.total.clone(),
            };
            let criterion = to_bool(&ev.eval(args.expr(0)?, &scope)?, "iif()")?;
            if criterion == Some(true) {
                ev.eval(args.expr(1)?, &scope)?
            } else if args.len() > 2 {
                ev.eval(args.expr(2)?, &scope)?
            } else {
                Vec::new()
            }
        }
        Func::Aggregate => {
            let mut total = if args.len() > 1 {
                args.value(1)?
            } else {
                Vec::new()
            };
            let aggregator = args.expr(0)?;
            for (i, item) in input.into_iter().enumerate() {
                let scope = Scope {
                    this: Some(item),
                    index: Some(i),
                    total: Some(total),
                };
                total = ev.eval(aggregator, &scope)?;
            }
            total
        }
        Func::Sort => sort(input, args)?,
        _ => {
            let label = args.string(0)?.unwrap_or_default();
            let shown = if args.len() > 1 {
                let projection = args.expr(1)?;
                let mut out = Vec::new();
                for (i, item) in input.iter().enumerate() {
                    out.extend(ev.eval_on(projection, item, i)?);
                }
                out
            } else {
                input.clone()
            };
            tracing::trace!(target: "fhirpath", "trace {label}: {} item(s): {:?}", shown.len(), shown);
            input
        }
    })
}

fn to_usize(n: i64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// `repeat(projection)`: the projection applied again to what it yields,
/// until nothing new appears.
fn repeat<'a>(input: Items<'a>, args: &Args<'_, '_, 'a>) -> Result<Items<'a>, Error> {
    let projection = args.expr(0)?;
    let mut out: Items<'a> = Vec::new();
    let mut seen = HashSet::new();
    let mut frontier = input;
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for (i, item) in frontier.iter().enumerate() {
            for found in args.ev.eval_on(projection, item, i)? {
                if seen.insert(identity(&found)) {
                    next.push(found);
                }
            }
        }
        if out.len() + next.len() > REPEAT_LIMIT {
            return Err(Error::execution(
                "repeat() grew beyond a hundred thousand items",
            ));
        }
        out.extend(next.iter().cloned());
        frontier = next;
    }
    Ok(out)
}

/// At most this many items come out of `repeat()`.
const REPEAT_LIMIT: usize = 100_000;

/// What makes an item new for `repeat()`: a node's place, a value's type and text.
#[derive(Hash, PartialEq, Eq)]
enum Identity {
    Node(usize, usize),
    Value(&'static str, String),
}

fn identity(item: &Item<'_>) -> Identity {
    let address = |v: Option<&serde_json::Value>| v.map_or(0, |v| std::ptr::from_ref(v) as usize);
    match item {
        Item::Value(v) => {
            let text = match v {
                SystemValue::Decimal(d) => d.normalized().to_string(),
                other => other.to_string(),
            };
            Identity::Value(v.type_name(), text)
        }
        node => Identity::Node(address(node.json()), address(node.extension())),
    }
}

/// `sort(keys…)`: by each key in turn (`-key` descending), or by the items.
fn sort<'a>(input: Items<'a>, args: &Args<'_, '_, 'a>) -> Result<Items<'a>, Error> {
    let mut keyed = Vec::with_capacity(input.len());
    for (i, item) in input.into_iter().enumerate() {
        let mut keys = Vec::new();
        for k in 0..args.len() {
            let (expr, descending) = match args.expr(k)? {
                Expr::Negate(inner) => (inner.as_ref(), true),
                e => (e, false),
            };
            keys.push((args.ev.eval_on(expr, &item, i)?, descending));
        }
        if args.len() == 0 {
            keys.push((vec![item.clone()], false));
        }
        keyed.push((keys, item));
    }
    let mut failure = None;
    keyed.sort_by(|(a, _), (b, _)| {
        for ((x, descending), (y, _)) in a.iter().zip(b) {
            // Empty keys come first, in either direction.
            let o = match (x.first(), y.first()) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(p), Some(q)) => {
                    let o = compare::order(p, q).unwrap_or_else(|e| {
                        failure.get_or_insert(e);
                        None
                    });
                    let o = o.unwrap_or(Ordering::Equal);
                    if *descending { o.reverse() } else { o }
                }
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(keyed.into_iter().map(|(_, item)| item).collect()),
    }
}
