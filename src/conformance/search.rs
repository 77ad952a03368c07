//! The search section of the conformance runner: every official R4 JSON example
//! is stored, then found again by each of its own indexed values, one search
//! per value (`[type]?[param]=[its value]&_id=[its id]` must find exactly it).
//! What "its own value" means depends on the kind of value:
//! - a string: `:exact` with the text as written;
//! - a token: `system|code` (`|code` without a system), `:text` for a display
//!   or text, `:of-type` for a typed identifier, `:identifier` for the
//!   identifier of a reference;
//! - a date, a Period, a Timing: `ge` its first instant and `le` its last (an
//!   open end is left out), both at microsecond precision;
//! - a number: the value as written back (its implicit precision contains it);
//! - a quantity: `value|system|code`, and for a converted value its canonical
//!   unit; a Range: `ge` its low and `le` its high;
//! - a reference: `Type/id` or the URL; a uri: itself;
//! - a composite: its components joined by `$`, each without a prefix (`ge`
//!   for a date), from the same element.

use crate::client::Client;
use crate::fhir::instant::format_instant;
use crate::fhir::rest::request::percent_encode as encode;
use crate::search::entry::{Entry, TokenKind, Value as Indexed};
use crate::search::extract::extract;
use crate::search::registry::{Kind, Param, registry};
use axum::http::Method;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The counts of the section.
#[derive(Debug, Default)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    /// Failures, for the report (the first few).
    pub failures: Vec<String>,
}

/// Searches `resource` (stored on the server `client` talks to) by each of its
/// own values.
pub async fn check(client: &mut Client, base: &str, resource: &Value, tally: &mut Tally) {
    let (Some(t), Some(id)) = (resource["resourceType"].as_str(), resource["id"].as_str()) else {
        return;
    };
    for query in queries(t, resource, base) {
        let path = format!("/{t}?{query}&_id={}", encode(id));
        let found = match client.send(Method::GET, &path, &[], Vec::new()).await {
            Ok(r) if r.status.is_success() => serde_json::from_slice::<Value>(&r.body)
                .ok()
                .and_then(|b| b["total"].as_u64()),
            Ok(r) => {
                tally.fail(format!("{path}: status {}: {}", r.status, r.text()));
                continue;
            }
            Err(e) => {
                tally.fail(format!("{path}: {e}"));
                continue;
            }
        };
        if found == Some(1) {
            tally.passed += 1;
        } else {
            tally.fail(format!("{path}: total {found:?}, expected 1"));
        }
    }
}

impl Tally {
    fn fail(&mut self, why: String) {
        self.failed += 1;
        if self.failures.len() < 200 {
            self.failures.push(why);
        }
    }
}

/// The queries that must find `resource` (without its `_id`).
fn queries(t: &str, resource: &Value, base: &str) -> Vec<String> {
    let reg = registry();
    let by_slot: HashMap<usize, &Arc<Param>> = reg.of_type(t).map(|p| (p.slot, p)).collect();
    let entries = extract(reg, t, resource, base);
    let mut out = Vec::new();
    let mut composites: BTreeMap<(usize, u32), Vec<&Entry>> = BTreeMap::new();
    for e in &entries {
        if let Some(p) = by_slot.get(&e.slot) {
            if p.code != "phonetic" {
                out.extend(single(p, &e.value));
            }
            continue;
        }
        if let Some(p) = (1..=e.slot).find_map(|s| by_slot.get(&(e.slot - s)))
            && p.kind == Kind::Composite
        {
            composites.entry((p.slot, e.group)).or_default().push(e);
        }
    }
    for ((slot, _), parts) in composites {
        let p = by_slot[&slot];
        let mut values = Vec::new();
        for i in 0..p.components.len() {
            match parts.iter().find(|e| e.slot == slot + 1 + i) {
                Some(e) => match component(&e.value) {
                    Some(v) => values.push(v),
                    None => break,
                },
                None => break,
            }
        }
        if values.len() == p.components.len() {
            out.push(format!("{}={}", p.code, encode(&values.join("$"))));
        }
    }
    out
}

/// The query for one value of a (non-composite) parameter, if it has one.
fn single(p: &Param, v: &Indexed) -> Option<String> {
    let code = &p.code;
    Some(match v {
        Indexed::String { exact, .. } => format!("{code}:exact={}", encode(&escape(exact))),
        Indexed::Token {
            kind,
            system,
            code: c,
        } => {
            let modifier = match (p.kind, kind) {
                (Kind::Reference, TokenKind::Code) => ":identifier",
                (Kind::Reference, _) => return None,
                (_, TokenKind::Text) => ":text",
                (_, TokenKind::OfType) => ":of-type",
                _ => "",
            };
            let value = match kind {
                TokenKind::Text => escape(c),
                TokenKind::OfType => {
                    let (ts, tc) = system.rsplit_once('|')?;
                    format!("{}|{}|{}", escape(ts), escape(tc), escape(c))
                }
                TokenKind::Code => format!("{}|{}", escape(system), escape(c)),
            };
            format!("{code}{modifier}={}", encode(&value))
        }
        Indexed::Date { lo, hi } => {
            let mut parts = Vec::new();
            if *lo != i64::MIN {
                parts.push(format!("{code}=ge{}", encode(&format_instant(*lo))));
            }
            if *hi != i64::MAX {
                parts.push(format!("{code}=le{}", encode(&format_instant(*hi))));
            }
            if parts.is_empty() {
                return None;
            }
            parts.join("&")
        }
        Indexed::Number { lo, hi, .. } if lo == hi => format!("{code}={}", number(*lo)?),
        Indexed::Number { lo, hi, .. } => {
            format!("{code}=ge{}&{code}=le{}", number(*lo)?, number(*hi)?)
        }
        Indexed::Quantity {
            lo,
            hi,
            system,
            code: unit,
            ..
        } => {
            let suffix = if unit.is_empty() {
                String::new()
            } else {
                format!("|{}|{}", escape(system), escape(unit))
            };
            if lo == hi {
                format!("{code}={}", encode(&format!("{}{suffix}", number(*lo)?)))
            } else {
                let mut parts = Vec::new();
                if lo.is_finite() {
                    parts.push(format!(
                        "{code}=ge{}",
                        encode(&format!("{}{suffix}", number(*lo)?))
                    ));
                }
                if hi.is_finite() {
                    parts.push(format!(
                        "{code}=le{}",
                        encode(&format!("{}{suffix}", number(*hi)?))
                    ));
                }
                parts.join("&")
            }
        }
        Indexed::Local {
            target_type,
            target_id,
        } => format!("{code}={}", encode(&format!("{target_type}/{target_id}"))),
        Indexed::Url(url) | Indexed::Uri(url) => format!("{code}={}", encode(&escape(url))),
    })
}

/// One component of a composite value, without prefix or modifier.
fn component(v: &Indexed) -> Option<String> {
    Some(match v {
        Indexed::String { norm, .. } => escape(norm),
        Indexed::Token {
            kind: TokenKind::Code,
            system,
            code,
        } => format!("{}|{}", escape(system), escape(code)),
        Indexed::Token { .. } => return None,
        Indexed::Date { lo, .. } if *lo != i64::MIN => format!("ge{}", format_instant(*lo)),
        Indexed::Date { .. } => return None,
        Indexed::Number { lo, hi, .. } if lo == hi => number(*lo)?,
        Indexed::Quantity {
            lo,
            hi,
            system,
            code,
            ..
        } if lo == hi => {
            if code.is_empty() {
                number(*lo)?
            } else {
                format!("{}|{}|{}", number(*lo)?, escape(system), escape(code))
            }
        }
        Indexed::Number { .. } | Indexed::Quantity { .. } => return None,
        Indexed::Local {
            target_type,
            target_id,
        } => format!("{target_type}/{target_id}"),
        Indexed::Url(u) | Indexed::Uri(u) => escape(u),
    })
}

/// A stored number written back as a search value with 15 significant
/// digits: what a `REAL` column holds exactly (`66.899999999999991` is found
/// by `6.69000000000000e1`, whose implicit range is ±5e-14).
fn number(v: f64) -> Option<String> {
    v.is_finite().then(|| format!("{v:.14e}"))
}

/// R4 search escaping of `\`, `,`, `|` and `$`.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '|' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
