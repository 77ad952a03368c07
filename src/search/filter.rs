//! What a request may see of one resource type, as a condition over
//! resources ([`Filter`]), and its two uses: added to a search, so that the
//! store only ever matches what passes ([`restrict`]); and judged in memory,
//! against the index entries of one resource or version (a read, a version in
//! history, an included resource, a resource about to be written).
//!
//! The judgement in memory knows the tests a compartment and the usual query
//! constraints are made of (ids, references, tokens, strings, uris, presence);
//! a test it does not know (dates, numbers, quantities, composites, chains
//! within a constraint) counts as failing, so an unknown never lets a
//! resource through.

use super::entry::{Entry, TokenKind, Value as Indexed};
use super::extract::extract_some;
use super::query::{Clause, Cond, RefTarget, Search, StringMode, Test, UriMode};
use super::registry::Registry;
use super::value::normalize::normalize;
use serde_json::Value;
use std::collections::BTreeSet;

/// The resources of one type a request may see.
#[derive(Debug, Clone)]
pub enum Filter {
    /// Every one.
    All,
    /// Those meeting any of these conditions; none at all when empty.
    Any(Vec<Cond>),
}

impl Filter {
    /// No resource.
    pub fn nothing() -> Filter {
        Filter::Any(Vec::new())
    }

    /// Whether no resource can pass.
    pub fn is_nothing(&self) -> bool {
        matches!(self, Filter::Any(conds) if conds.is_empty())
    }

    /// The resources both filters let through.
    pub fn and(self, other: Filter) -> Filter {
        match (self, other) {
            (Filter::All, f) | (f, Filter::All) => f,
            (a, b) if a.is_nothing() || b.is_nothing() => Filter::nothing(),
            (Filter::Any(a), Filter::Any(b)) => {
                Filter::Any(vec![Cond::All(vec![Cond::Any(a), Cond::Any(b)])])
            }
        }
    }

    /// The filter as one condition; `None` when it lets everything through.
    pub fn cond(&self) -> Option<Cond> {
        match self {
            Filter::All => None,
            Filter::Any(conds) => Some(Cond::Any(conds.clone())),
        }
    }

    /// Whether the resource `id` whose index entries are `entries` passes.
    pub fn admits(&self, id: &str, entries: &[Entry]) -> bool {
        match self {
            Filter::All => true,
            Filter::Any(conds) => conds.iter().any(|c| holds(c, id, entries) == Some(true)),
        }
    }

    /// Whether `resource` (of `resource_type`, with the id it carries)
    /// passes, extracting only the parameters the filter tests.
    pub fn admits_resource(
        &self,
        registry: &Registry,
        resource_type: &str,
        resource: &Value,
        base: &str,
    ) -> bool {
        let conds = match self {
            Filter::All => return true,
            Filter::Any(conds) if conds.is_empty() => return false,
            Filter::Any(conds) => conds,
        };
        let mut slots = BTreeSet::new();
        for c in conds {
            slots_of(c, &mut slots);
        }
        let entries = extract_some(registry, resource_type, resource, base, |p| {
            slots.contains(&p.slot)
        });
        let id = resource.get("id").and_then(Value::as_str).unwrap_or("");
        self.admits(id, &entries)
    }
}

/// Restricts a search to what `filter_of` lets through, type by type: each
/// branch must also meet the filter of its type, and so must the resources a
/// chain reaches and the sources of a `_has`, so that neither can match by way
/// of a resource the request may not see.
pub fn restrict(search: &mut Search, filter_of: &dyn Fn(&str) -> Filter) {
    for branch in &mut search.branches {
        for clause in &mut branch.clauses {
            for c in &mut clause.0 {
                restrict_cond(c, filter_of);
            }
        }
        if let Filter::Any(conds) = filter_of(&branch.resource_type) {
            branch.clauses.push(Clause(conds));
        }
    }
}

fn restrict_cond(c: &mut Cond, filter_of: &dyn Fn(&str) -> Filter) {
    let within = |inner: &mut Box<Cond>, t: &str| {
        if let Some(f) = filter_of(t).cond() {
            let old = std::mem::replace(inner.as_mut(), Cond::Any(Vec::new()));
            **inner = Cond::All(vec![old, f]);
        }
    };
    match c {
        Cond::Chain { targets, .. } => {
            for (t, inner) in targets {
                restrict_cond(inner, filter_of);
                within(inner, t);
            }
        }
        Cond::Has {
            source_type, inner, ..
        } => {
            restrict_cond(inner, filter_of);
            within(inner, source_type);
        }
        Cond::Any(conds) | Cond::All(conds) => {
            for c in conds {
                restrict_cond(c, filter_of);
            }
        }
        Cond::Id(_)
        | Cond::LastUpdated(..)
        | Cond::Index { .. }
        | Cond::Not { .. }
        | Cond::Missing { .. } => {}
    }
}

/// The parameter slots a condition tests.
fn slots_of(c: &Cond, out: &mut BTreeSet<usize>) {
    match c {
        Cond::Index { param, .. } | Cond::Not { param, .. } | Cond::Missing { param, .. } => {
            out.insert(param.slot);
        }
        Cond::Any(conds) | Cond::All(conds) => conds.iter().for_each(|c| slots_of(c, out)),
        Cond::Id(_) | Cond::LastUpdated(..) | Cond::Chain { .. } | Cond::Has { .. } => {}
    }
}

/// Whether a condition holds of a resource: `None` when it cannot be told in
/// memory.
fn holds(c: &Cond, id: &str, entries: &[Entry]) -> Option<bool> {
    match c {
        Cond::Id(wanted) => Some(wanted == id),
        Cond::Index { param, test } => any_passes(test, entries, param.slot),
        Cond::Not { param, test } => any_passes(test, entries, param.slot).map(|b| !b),
        Cond::Missing { param, missing } => {
            if matches!(param.kind, super::registry::Kind::Composite) {
                return None;
            }
            Some(entries.iter().any(|e| e.slot == param.slot) != *missing)
        }
        Cond::Any(conds) => {
            let mut unknown = false;
            for c in conds {
                match holds(c, id, entries) {
                    Some(true) => return Some(true),
                    None => unknown = true,
                    Some(false) => {}
                }
            }
            (!unknown).then_some(false)
        }
        Cond::All(conds) => {
            let mut unknown = false;
            for c in conds {
                match holds(c, id, entries) {
                    Some(false) => return Some(false),
                    None => unknown = true,
                    Some(true) => {}
                }
            }
            (!unknown).then_some(true)
        }
        Cond::LastUpdated(..) | Cond::Chain { .. } | Cond::Has { .. } => None,
    }
}

/// Whether a value of the parameter in `slot` passes `test`.
fn any_passes(test: &Test, entries: &[Entry], slot: usize) -> Option<bool> {
    let mut values = entries.iter().filter(|e| e.slot == slot).peekable();
    if values.peek().is_none() {
        return Some(false);
    }
    let mut out = Some(false);
    for e in values {
        match passes(test, &e.value) {
            Some(true) => return Some(true),
            None => out = None,
            Some(false) => {}
        }
    }
    out
}

/// The test of one indexed value, as the store's index tables apply it.
fn passes(test: &Test, value: &Indexed) -> Option<bool> {
    Some(match (test, value) {
        (
            Test::Token { system, code },
            Indexed::Token {
                kind,
                system: s,
                code: c,
            },
        ) => {
            *kind == TokenKind::Code
                && system.as_ref().is_none_or(|x| x == s)
                && code.as_ref().is_none_or(|x| x == c)
        }
        (Test::TokenText(key), Indexed::Token { kind, code, .. }) => {
            *kind == TokenKind::Text && code.starts_with(key.as_str())
        }
        (
            Test::OfType {
                type_system,
                type_code,
                value,
            },
            Indexed::Token { kind, system, code },
        ) => {
            *kind == TokenKind::OfType
                && code == value
                && *system == format!("{type_system}|{type_code}")
        }
        (Test::String { key, mode }, Indexed::String { norm, exact }) => match mode {
            StringMode::StartsWith => norm.starts_with(key.as_str()),
            StringMode::Contains => norm.contains(key.as_str()),
            StringMode::Exact => *norm == normalize(key) && exact == key,
        },
        (
            Test::Reference(RefTarget::Local { resource_type, id }),
            Indexed::Local {
                target_type,
                target_id,
            },
        ) => {
            target_id == id
                && match resource_type {
                    Some(t) => t == target_type,
                    None => !target_type.is_empty(),
                }
        }
        (Test::Reference(RefTarget::Url(url)), Indexed::Url(u)) => u == url,
        (
            Test::Reference(RefTarget::Identifier { system, value }),
            Indexed::Token {
                kind: TokenKind::Code,
                system: s,
                code,
            },
        ) => system.as_ref().is_none_or(|x| x == s) && value.as_ref().is_none_or(|x| x == code),
        (
            Test::Uri {
                value,
                mode: UriMode::Exact,
            },
            Indexed::Uri(u),
        ) => u == value,
        (Test::Uri { .. }, _)
        | (Test::Date(..), _)
        | (Test::Number(..), _)
        | (Test::Quantity { .. }, _)
        | (Test::Composite(_), _) => return None,
        _ => false,
    })
}

#[cfg(test)]
mod tests;
