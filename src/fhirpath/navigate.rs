//! Navigation over FHIR JSON, driven by the type model: a member name finds
//! its JSON property (for a choice element `value` any `valueQuantity`,
//! `valueString`, …), arrays are flattened, primitives are paired with their
//! `_name` siblings (extensions and ids), and every child gets its FHIR type —
//! the choice's type, the element's type, `BackboneElement` for inline
//! structures, the `resourceType` for contained and entry resources.

use super::value::{NULL, Shape};
use crate::fhir::model::{Element, model};
use serde_json::{Map, Value};

/// A child node found by navigation.
pub(crate) struct Child<'v> {
    pub value: &'v Value,
    pub extension: Option<&'v Value>,
    pub type_name: Option<&'static str>,
    pub shape: Shape,
}

/// The type and elements of a resource, from its `resourceType`.
pub(crate) fn resource_type(v: &Value) -> (Option<&'static str>, Shape) {
    let Some(rt) = v.get("resourceType").and_then(Value::as_str) else {
        return (None, Shape(None));
    };
    match model().resource(rt) {
        Some(t) => (Some(t.name.as_str()), Shape(Some(&t.elements))),
        None => (None, Shape(None)),
    }
}

/// The elements of a type by name.
pub(crate) fn type_shape(name: &str) -> Shape {
    Shape(model().type_def(name).map(|t| t.elements.as_slice()))
}

/// The type of an element holding a value of type `code` (for a choice, the chosen type).
pub(crate) fn element_type(
    el: &'static Element,
    code: &'static str,
) -> (Option<&'static str>, Shape) {
    if !el.children.is_empty() || el.content_ref.is_some() {
        let name = el
            .types
            .first()
            .map(String::as_str)
            .filter(|t| *t == "Element")
            .unwrap_or("BackboneElement");
        return (Some(name), Shape(model().children(el, "")));
    }
    if code.is_empty() {
        return (None, Shape(None));
    }
    (Some(code), type_shape(code))
}

/// The type of an element of `parent`: as [`element_type`], except that the
/// `id` of a resource is of type `id` (the R4 definitions say `string`, the
/// specification `id`).
pub(crate) fn child_type(
    parent: &'static [Element],
    el: &'static Element,
    code: &'static str,
) -> (Option<&'static str>, Shape) {
    let resource = parent.get(1).is_some_and(|e| e.name == "meta");
    if resource && el.name == "id" {
        return (Some("id"), type_shape("id"));
    }
    element_type(el, code)
}

/// The `_key` sibling of a property (a primitive's id and extensions).
fn sibling<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    let mut buf = [0u8; 96];
    if key.len() < buf.len() {
        buf[0] = b'_';
        buf[1..=key.len()].copy_from_slice(key.as_bytes());
        obj.get(std::str::from_utf8(&buf[..=key.len()]).ok()?)
    } else {
        obj.get(&format!("_{key}"))
    }
    .filter(|v| !v.is_null())
}

/// The object that holds a node's children: its own, or for a primitive its `_x` sibling.
fn object_of<'v>(value: &'v Value, extension: Option<&'v Value>) -> Option<&'v Map<String, Value>> {
    match (value, extension) {
        (Value::Object(o), _) => Some(o),
        (Value::Array(_), _) => None,
        (_, Some(Value::Object(o))) => Some(o),
        _ => None,
    }
}

/// Adds the node(s) of one property: arrays flattened and zipped with `_name`.
fn emit<'v>(
    value: &'v Value,
    extension: Option<&'v Value>,
    (type_name, shape): (Option<&'static str>, Shape),
    out: &mut Vec<Child<'v>>,
) {
    let mut push = |value: &'v Value, extension: Option<&'v Value>| {
        let extension = extension.filter(|e| !e.is_null());
        if value.is_null() && extension.is_none() {
            return;
        }
        let (type_name, shape) = match type_name {
            Some("Resource" | "DomainResource") | None if value.is_object() => {
                match resource_type(value) {
                    (Some(t), s) => (Some(t), s),
                    _ => (type_name, shape),
                }
            }
            _ => (type_name, shape),
        };
        out.push(Child {
            value,
            extension,
            type_name,
            shape,
        });
    };
    let ext = match extension {
        Some(Value::Array(e)) => Some(e.as_slice()),
        _ => None,
    };
    match (value, ext) {
        (Value::Array(items), ext) => {
            let ext = ext.unwrap_or_default();
            for i in 0..items.len().max(ext.len()) {
                push(items.get(i).unwrap_or(&NULL), ext.get(i));
            }
        }
        // A repeating primitive with only its `_name` array.
        (Value::Null, Some(ext)) => {
            for e in ext {
                push(&NULL, Some(e));
            }
        }
        _ => push(value, extension),
    }
}

/// The children of a node named `name` (the FHIRPath member step).
pub(crate) fn member<'v>(
    value: &'v Value,
    extension: Option<&'v Value>,
    shape: Shape,
    name: &str,
    out: &mut Vec<Child<'v>>,
) {
    let Some(obj) = object_of(value, extension) else {
        return;
    };
    let Some(elements) = shape.0 else {
        let (v, ext) = (obj.get(name), sibling(obj, name));
        if v.is_some() || ext.is_some() {
            emit(v_or_null(v), ext, (None, Shape(None)), out);
        }
        return;
    };
    let Some(el) = elements.iter().find(|e| e.name == name) else {
        return;
    };
    if !el.choice {
        let (v, ext) = (obj.get(name), sibling(obj, name));
        if v.is_some() || ext.is_some() {
            let code = el.types.first().map_or("", String::as_str);
            emit(v_or_null(v), ext, child_type(elements, el, code), out);
        }
        return;
    }
    for (key, v) in obj {
        if let Some(base) = key.strip_prefix('_') {
            if let Some(code) = el.type_for_key(base).filter(|_| !obj.contains_key(base)) {
                emit(&NULL, Some(v), child_type(elements, el, code), out);
            }
        } else if let Some(code) = el.type_for_key(key) {
            emit(v, sibling(obj, key), child_type(elements, el, code), out);
        }
    }
}

fn v_or_null(v: Option<&Value>) -> &Value {
    v.unwrap_or(&NULL)
}

/// Every child of a node, in the order of its JSON properties (`children()`).
pub(crate) fn children<'v>(
    value: &'v Value,
    extension: Option<&'v Value>,
    shape: Shape,
    out: &mut Vec<Child<'v>>,
) {
    let Some(obj) = object_of(value, extension) else {
        return;
    };
    let typed = |key: &str| -> (Option<&'static str>, Shape) {
        shape
            .0
            .and_then(|els| {
                els.iter()
                    .find_map(|e| e.type_for_key(key).map(|code| child_type(els, e, code)))
            })
            .unwrap_or((None, Shape(None)))
    };
    for (key, v) in obj {
        if key == "resourceType" || key == "fhir_comments" {
            continue;
        }
        match key.strip_prefix('_') {
            Some(base) if obj.contains_key(base) => {}
            Some(base) => emit(&NULL, Some(v), typed(base), out),
            None => emit(v, sibling(obj, key), typed(key), out),
        }
    }
}
