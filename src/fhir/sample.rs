//! Generated instances of any FHIR type, built from the model: every required
//! element, and near the root every optional one too, each with a valid value of
//! its type. Tests and the conformance runner use them so that resource types
//! without an official example are exercised as well.

use crate::fhir::model::{Element, Kind, model};
use serde_json::{Map, Number, Value, json};
use std::str::FromStr;

/// Down to this depth every element is filled; below it only required ones.
const RICH_DEPTH: usize = 2;
/// No deeper than this (types refer to themselves: Identifier → Reference → Identifier).
const MAX_DEPTH: usize = 6;

/// A valid instance of a resource type with the given id, or `None` for an unknown type.
pub fn resource(resource_type: &str, id: &str) -> Option<Value> {
    let t = model().resource(resource_type)?;
    let mut out = Map::new();
    out.insert("resourceType".into(), json!(resource_type));
    out.insert("id".into(), json!(id));
    fill(&mut out, &t.elements, 0);
    Some(Value::Object(out))
}

fn fill(out: &mut Map<String, Value>, elements: &[Element], depth: usize) {
    for e in elements {
        let wanted = e.min > 0 || depth < RICH_DEPTH;
        if !wanted || skipped(e, depth) || out.contains_key(&e.name) {
            continue;
        }
        let Some(type_code) = type_of(e) else {
            continue;
        };
        if let Some(v) = value(e, type_code, depth) {
            let v = if e.is_array() { json!([v]) } else { v };
            out.insert(e.json_name(type_code), v);
        }
    }
    if out.is_empty() {
        // An element must hold something: its first primitive child, else its
        // first complex one (a Ratio holds only Quantities).
        let candidates = || {
            elements
                .iter()
                .filter(|e| !skipped(e, depth))
                .filter_map(|e| Some((e, type_of(e)?)))
        };
        let first = candidates()
            .find(|(_, t)| is_primitive(t))
            .or_else(|| candidates().find(|(_, t)| *t != "Extension"));
        if let Some((e, t)) = first
            && let Some(v) = value(e, t, depth)
        {
            out.insert(e.json_name(t), if e.is_array() { json!([v]) } else { v });
        }
    }
}

fn skipped(e: &Element, depth: usize) -> bool {
    let at_root = depth == 0 && matches!(e.name.as_str(), "implicitRules" | "language");
    at_root
        || matches!(
            e.name.as_str(),
            "id" | "meta" | "contained" | "modifierExtension"
        )
        || e.types.iter().any(|t| t == "Resource")
        || e.max == 0
}

/// The type code of an element; a content reference (`Questionnaire.item.item`)
/// has none of its own and is a backbone element.
fn type_of(e: &Element) -> Option<&str> {
    match (e.types.first(), &e.content_ref) {
        (Some(t), _) => Some(t),
        (None, Some(_)) => Some("BackboneElement"),
        (None, None) => None,
    }
}

fn is_primitive(type_code: &str) -> bool {
    model()
        .type_def(type_code)
        .is_some_and(|t| t.kind == Kind::Primitive)
}

fn value(e: &Element, type_code: &str, depth: usize) -> Option<Value> {
    if let Some(v) = primitive(type_code) {
        return Some(v);
    }
    if depth >= MAX_DEPTH {
        return None;
    }
    match type_code {
        "Extension" => Some(
            json!({"url": "http://example.org/fhir/StructureDefinition/sample", "valueString": "x"}),
        ),
        "Narrative" => Some(json!({
            "status": "generated",
            "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>generated</p></div>"
        })),
        _ => {
            let children = model().children(e, type_code)?;
            let mut out = Map::new();
            fill(&mut out, children, depth + 1);
            (!out.is_empty()).then_some(Value::Object(out))
        }
    }
}

/// A valid value of a primitive type.
fn primitive(type_code: &str) -> Option<Value> {
    Some(match type_code {
        "boolean" => json!(true),
        "integer" | "positiveInt" => json!(1),
        "unsignedInt" => json!(0),
        "decimal" => Value::Number(Number::from_str("1.50").ok()?),
        "string" | "markdown" => json!("sample text"),
        "code" => json!("unknown"),
        "id" => json!("sample-1"),
        "uri" => json!("urn:example:sample"),
        "url" => json!("http://example.org/sample"),
        "canonical" => json!("http://example.org/fhir/sample"),
        "oid" => json!("urn:oid:1.2.3.4"),
        "uuid" => json!("urn:uuid:8f0c4b7e-2b36-4b5e-9d3e-3a6f1f0e2c11"),
        "base64Binary" => json!("aGVtb2xpbms="),
        "date" => json!("2024-01-31"),
        "dateTime" => json!("2024-01-31T10:15:00+01:00"),
        "instant" => json!("2024-01-31T10:15:00.123Z"),
        "time" => json!("10:15:00"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_resource_type_gets_an_instance() {
        for t in model().resource_types() {
            let r = resource(t, "x").unwrap();
            assert_eq!(r["resourceType"], t.as_str());
            assert!(r.as_object().unwrap().len() > 2, "{t}: {r}");
        }
        let obs = resource("Observation", "o").unwrap();
        assert!(
            obs.get("status").is_some() && obs.get("code").is_some(),
            "{obs}"
        );
        assert!(resource("Nothing", "x").is_none());
    }
}
