//! `_summary` and `_elements` (R4 search.html#summary, #elements): the subsets of
//! a resource a client can ask for, chosen with the summary and cardinality flags
//! of the definitions, and tagged `SUBSETTED` as the spec requires.

use crate::fhir::model::{Element, model};
use serde_json::{Map, Value, json};

/// A subset of a resource.
#[derive(Debug, Clone, Copy)]
pub enum Subset<'a> {
    /// `_summary=true`: the elements marked as summary.
    Summary,
    /// `_summary=text`: the narrative with id, meta and the mandatory elements.
    Text,
    /// `_summary=data`: everything but the narrative.
    Data,
    /// `_elements=a,b`: those elements, with id, meta and the mandatory elements.
    Elements(&'a [String]),
}

/// The element of a list that a JSON property (`valueQuantity`, `_birthDate`) belongs to.
fn element_for<'a>(elements: &'a [Element], key: &str) -> Option<&'a Element> {
    let key = key.strip_prefix('_').unwrap_or(key);
    elements.iter().find(|e| e.type_for_key(key).is_some())
}

/// The resource cut down to the subset, with the `SUBSETTED` tag added.
pub fn apply(resource: &Value, subset: Subset<'_>) -> Value {
    let Some(fields) = resource.as_object() else {
        return resource.clone();
    };
    let elements = fields
        .get("resourceType")
        .and_then(Value::as_str)
        .and_then(|t| model().type_def(t))
        .map_or(&[][..], |t| t.elements.as_slice());
    let mut out = Map::new();
    for (key, value) in fields {
        let always = matches!(key.as_str(), "resourceType" | "id" | "meta");
        let element = element_for(elements, key);
        let mandatory = element.is_some_and(|e| e.min > 0);
        let keep = always
            || match subset {
                Subset::Summary => element.is_some_and(|e| e.summary),
                Subset::Text => mandatory || key == "text",
                Subset::Data => key != "text",
                Subset::Elements(names) => {
                    mandatory || element.is_some_and(|e| names.contains(&e.name))
                }
            };
        if !keep {
            continue;
        }
        let value = match (subset, element) {
            (Subset::Summary, Some(e)) if !e.children.is_empty() => {
                summary_of_backbone(value, &e.children)
            }
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    tag_subsetted(&mut out);
    Value::Object(out)
}

/// A backbone element (or a list of them) keeping only its summary children.
fn summary_of_backbone(value: &Value, children: &[Element]) -> Value {
    match value {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| summary_of_backbone(v, children))
                .collect(),
        ),
        Value::Object(fields) => {
            let mut out = Map::new();
            for (key, v) in fields {
                let Some(e) = element_for(children, key) else {
                    continue;
                };
                if e.summary || e.name == "id" {
                    let v = if e.children.is_empty() {
                        v.clone()
                    } else {
                        summary_of_backbone(v, &e.children)
                    };
                    out.insert(key.clone(), v);
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

const SUBSETTED_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";

/// Whether a resource carries the `SUBSETTED` tag.
pub fn is_subsetted(resource: &Value) -> bool {
    has_subsetted(&resource["meta"]["tag"])
}

fn has_subsetted(tags: &Value) -> bool {
    tags.as_array().is_some_and(|tags| {
        tags.iter()
            .any(|t| t["system"] == SUBSETTED_SYSTEM && t["code"] == "SUBSETTED")
    })
}

fn tag_subsetted(resource: &mut Map<String, Value>) {
    if resource
        .get("meta")
        .is_some_and(|m| has_subsetted(&m["tag"]))
    {
        return;
    }
    let tag = json!({
        "system": SUBSETTED_SYSTEM,
        "code": "SUBSETTED",
        "display": "Resource encoded in summary mode"
    });
    let meta = resource.entry("meta").or_insert_with(|| json!({}));
    if let Some(meta) = meta.as_object_mut() {
        match meta.get_mut("tag").and_then(Value::as_array_mut) {
            Some(tags) => tags.push(tag),
            None => {
                meta.insert("tag".into(), json!([tag]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patient() -> Value {
        json!({
            "resourceType": "Patient", "id": "p", "meta": {"versionId": "1"},
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
            "name": [{"family": "Doe"}], "birthDate": "1970-01-01", "_birthDate": {"id": "b"},
            "maritalStatus": {"text": "single"},
            "contact": [{"name": {"family": "Roe"}, "gender": "female"}],
            "link": [{"other": {"reference": "Patient/q"}, "type": "seealso"}]
        })
    }

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object().unwrap().keys().map(String::as_str).collect()
    }

    #[test]
    fn summary_keeps_summary_elements_and_tags() {
        let s = apply(&patient(), Subset::Summary);
        assert_eq!(
            keys(&s),
            [
                "resourceType",
                "id",
                "meta",
                "name",
                "birthDate",
                "_birthDate",
                "link"
            ]
        );
        assert_eq!(s["meta"]["tag"][0]["code"], "SUBSETTED");
        assert_eq!(s["meta"]["versionId"], "1");
    }

    #[test]
    fn text_data_and_elements() {
        assert_eq!(
            keys(&apply(&patient(), Subset::Text)),
            ["resourceType", "id", "meta", "text"]
        );
        assert!(!keys(&apply(&patient(), Subset::Data)).contains(&"text"));
        let wanted = vec!["birthDate".to_string()];
        assert_eq!(
            keys(&apply(&patient(), Subset::Elements(&wanted))),
            ["resourceType", "id", "meta", "birthDate", "_birthDate"]
        );
        let obs = json!({"resourceType": "Observation", "status": "final", "code": {"text": "t"}, "valueQuantity": {"value": 1}, "note": [{"text": "n"}]});
        let wanted = vec!["value".to_string()];
        assert_eq!(
            keys(&apply(&obs, Subset::Elements(&wanted))),
            ["resourceType", "status", "code", "valueQuantity", "meta"]
        );
    }
}
