//! The references of a resource, as a transaction rewrites them: every
//! `Reference.reference` anywhere in it (contained resources and extensions
//! included), and the links of its narrative (`a@href`, `img@src`).
//!
//! Three R4 elements are called `reference` but are URIs, not References:
//! `DetectedIssue.reference`, `Immunization.education.reference` and
//! `Expression.reference`; they are left alone.

use crate::fhir::rest::instance::resource_type;
use serde_json::Value;

/// Calls `f` with the FHIRPath of each `Reference.reference` of `resource`
/// (from the resource type on) and a mutable handle on its text.
pub fn for_each_reference(resource: &mut Value, f: &mut dyn FnMut(&str, &mut String)) {
    let root = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("Resource")
        .to_string();
    let mut path = root.clone();
    walk(resource, &mut path, &root, None, f);
}

/// Walks `node` at `path`, inside a resource of `resource_type`, reached
/// through the member `key`. `path` is one buffer for the whole walk: each
/// step appends to it and truncates it back.
fn walk(
    node: &mut Value,
    path: &mut String,
    resource_type: &str,
    key: Option<&str>,
    f: &mut dyn FnMut(&str, &mut String),
) {
    use std::fmt::Write as _;
    match node {
        Value::Object(fields) => {
            let own_type = fields
                .get("resourceType")
                .and_then(Value::as_str)
                .map(str::to_string);
            let uri_named_reference = own_type.as_deref() == Some("DetectedIssue")
                || (key == Some("education") && resource_type == "Immunization")
                || fields.contains_key("language") && fields.contains_key("expression");
            let t = own_type.as_deref().unwrap_or(resource_type);
            for (name, child) in fields.iter_mut() {
                let mark = path.len();
                path.push('.');
                path.push_str(name);
                if name == "reference" && !uri_named_reference {
                    if let Value::String(text) = child {
                        f(path, text);
                    }
                } else if child.is_object() || child.is_array() {
                    walk(child, path, t, Some(name), f);
                }
                path.truncate(mark);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                if item.is_object() || item.is_array() {
                    let mark = path.len();
                    let _ = write!(path, "[{i}]");
                    walk(item, path, resource_type, key, f);
                    path.truncate(mark);
                }
            }
        }
        _ => {}
    }
}

/// The references by search criteria of `resource` (`Patient?identifier=…`),
/// each with its FHIRPath.
pub fn conditional_references(resource: &mut Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for_each_reference(resource, &mut |path, text| {
        if is_conditional(text) {
            found.push((path.to_string(), text.clone()));
        }
    });
    found
}

/// `urn:uuid:…` or `urn:oid:…`: a fullUrl that only names an entry of the Bundle.
pub fn is_placeholder(text: &str) -> bool {
    text.starts_with("urn:uuid:") || text.starts_with("urn:oid:")
}

/// `Patient?identifier=…`: a reference by search criteria.
pub fn is_conditional(text: &str) -> bool {
    text.split_once('?')
        .is_some_and(|(t, _)| !t.contains('/') && resource_type(t).is_ok())
}

/// Replaces, in the narrative `div`s of `resource` (its own and its contained
/// resources'), each quoted `href`/`src` value that `map` knows.
pub fn rewrite_narrative(resource: &mut Value, map: &dyn Fn(&str) -> Option<String>) {
    if let Some(div) = resource
        .get_mut("text")
        .and_then(|t| t.get_mut("div"))
        .and_then(|d| match d {
            Value::String(s) => Some(s),
            _ => None,
        })
        && let Some(rewritten) = rewrite_links(div, map)
    {
        *div = rewritten;
    }
    if let Some(Value::Array(contained)) = resource.get_mut("contained") {
        for c in contained {
            rewrite_narrative(c, map);
        }
    }
}

/// `html` with every `href="…"`/`src="…"` (either quote) value that `map`
/// knows replaced; `None` when there is none.
fn rewrite_links(html: &str, map: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let mut out = String::with_capacity(html.len());
    let mut changed = false;
    let mut rest = html;
    while let Some(at) = find_attribute(rest) {
        let (before, after) = rest.split_at(at.value_start);
        out.push_str(before);
        let quote = at.quote;
        let end = after.find(quote).unwrap_or(after.len());
        let value = &after[..end];
        match map(value) {
            Some(new) => {
                out.push_str(&new);
                changed = true;
            }
            None => out.push_str(value),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// Where the next `href=`/`src=` value starts, and its quote.
struct Attribute {
    value_start: usize,
    quote: char,
}

fn find_attribute(text: &str) -> Option<Attribute> {
    let mut from = 0;
    while from < text.len() {
        let rest = &text[from..];
        let hit = ["href=", "src="]
            .iter()
            .filter_map(|name| rest.find(name).map(|i| (i, name.len())))
            .min()?;
        let value_at = from + hit.0 + hit.1;
        match text[value_at..].chars().next() {
            Some(q @ ('"' | '\'')) => {
                return Some(Attribute {
                    value_start: value_at + 1,
                    quote: q,
                });
            }
            _ => from = value_at,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn references(mut r: Value) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for_each_reference(&mut r, &mut |path, text| {
            out.push((path.to_string(), text.clone()))
        });
        out
    }

    #[test]
    fn every_reference_with_its_path() {
        let r = json!({
            "resourceType": "Observation",
            "subject": {"reference": "urn:uuid:1"},
            "performer": [{"reference": "Practitioner/p"}, {"display": "x"}],
            "extension": [{"url": "u", "valueReference": {"reference": "urn:uuid:2"}}],
            "contained": [{"resourceType": "Provenance", "target": [{"reference": "#x"}]}]
        });
        assert_eq!(
            references(r),
            vec![
                ("Observation.subject.reference".into(), "urn:uuid:1".into()),
                (
                    "Observation.performer[0].reference".into(),
                    "Practitioner/p".into()
                ),
                (
                    "Observation.extension[0].valueReference.reference".into(),
                    "urn:uuid:2".into()
                ),
                (
                    "Observation.contained[0].target[0].reference".into(),
                    "#x".into()
                ),
            ]
        );
    }

    #[test]
    fn uris_named_reference_are_left_alone() {
        assert!(
            references(json!({"resourceType": "DetectedIssue", "reference": "urn:uuid:1"}))
                .is_empty()
        );
        assert!(
            references(json!({"resourceType": "Immunization",
                "education": [{"reference": "urn:uuid:1"}]}))
            .is_empty()
        );
        assert!(
            references(json!({"resourceType": "PlanDefinition", "action": [{"condition": [
                {"kind": "applicability", "expression": {"language": "text/cql", "expression": "x", "reference": "urn:uuid:1"}}
            ]}]}))
            .is_empty()
        );
        // A DetectedIssue's own references are still references.
        assert_eq!(
            references(json!({"resourceType": "DetectedIssue",
                "patient": {"reference": "urn:uuid:9"}}))
            .len(),
            1
        );
    }

    #[test]
    fn narrative_links_are_rewritten() {
        let mut r = json!({
            "resourceType": "Patient",
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\"urn:uuid:1\">x</a><img src='urn:uuid:2'/><a href=\"other\">y</a>href=urn:uuid:1</div>"},
            "contained": [{"resourceType": "Basic", "text": {"div": "<div><a href=\"urn:uuid:2\">z</a></div>"}}]
        });
        let map = |v: &str| match v {
            "urn:uuid:1" => Some("Patient/a".to_string()),
            "urn:uuid:2" => Some("Binary/b".to_string()),
            _ => None,
        };
        rewrite_narrative(&mut r, &map);
        assert_eq!(
            r["text"]["div"],
            "<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\"Patient/a\">x</a><img src='Binary/b'/><a href=\"other\">y</a>href=urn:uuid:1</div>"
        );
        assert_eq!(
            r["contained"][0]["text"]["div"],
            "<div><a href=\"Binary/b\">z</a></div>"
        );
    }
}
