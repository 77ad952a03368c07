//! JSON → XML. Walks the resource with the type model so that elements come out
//! in definition order whatever the JSON key order, merges primitives with their
//! `_name` companions (value, `id` attribute, extension children), wraps nested
//! resources in their element and embeds narrative as XHTML. Every JSON property
//! must be known to the model, so that nothing is silently dropped.

use super::escape::escape_attr;
use super::{
    FHIR_NS, Loc, MAX_DEPTH, Shape, child_elements, find_element, located, primitive_type, shape,
};
use crate::fhir::model::{Element, JsonKind, Model, model};
use crate::fhir::outcome::Issue;
use serde_json::{Map, Value};
use std::borrow::Cow;

type Object = Map<String, Value>;

/// The output being built.
struct Writer<'m> {
    model: &'m Model,
    out: String,
    pretty: bool,
    level: usize,
}

/// One element present in a JSON object, with its value and `_` companion.
struct Entry<'v, 'm> {
    /// Index in the definition, for ordering.
    index: usize,
    el: &'m Element,
    type_code: &'m str,
    /// The JSON property name (without `_`).
    name: &'v str,
    value: Option<&'v Value>,
    companion: Option<&'v Value>,
}

fn structure(msg: impl Into<String>) -> Issue {
    Issue::error("structure", msg)
}

/// Writes the whole document.
pub(crate) fn write_document(resource: &Value, pretty: bool) -> Result<String, Issue> {
    let mut w = Writer {
        model: model(),
        out: String::with_capacity(4096),
        pretty,
        level: 0,
    };
    w.out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let obj = resource
        .as_object()
        .ok_or_else(|| structure("a resource must be a JSON object"))?;
    w.resource(obj, None, 0)?;
    if pretty {
        w.out.push('\n');
    }
    Ok(w.out)
}

/// The elements present in `obj`, in definition order. Unknown properties, `_`
/// data on non-primitives and two types of one choice element are errors.
fn plan<'v, 'm>(
    model: &Model,
    obj: &'v Object,
    elements: &'m [Element],
    loc: &Loc,
    is_resource: bool,
) -> Result<Vec<Entry<'v, 'm>>, Issue> {
    let mut entries: Vec<Entry> = Vec::with_capacity(obj.len());
    for (key, value) in obj {
        if is_resource && key == "resourceType" {
            continue;
        }
        let (name, companion) = key
            .strip_prefix('_')
            .map_or((key.as_str(), false), |n| (n, true));
        let unknown =
            || structure(format!("unknown property '{key}'")).at(loc.child(key, None).render());
        let (index, el, type_code) = find_element(elements, name).ok_or_else(unknown)?;
        if companion && (el.xml_attr || shape(model, el, type_code) != Shape::Primitive) {
            return Err(unknown());
        }
        let (value, companion) = if companion {
            (None, Some(value))
        } else {
            (Some(value), None)
        };
        match entries.iter_mut().find(|e| e.index == index) {
            Some(e) if e.name == name => {
                e.value = e.value.or(value);
                e.companion = e.companion.or(companion);
            }
            Some(_) => {
                let msg = "more than one type given for a choice element";
                return Err(structure(msg).at(loc.child(name, None).render()));
            }
            None => entries.push(Entry {
                index,
                el,
                type_code,
                name,
                value,
                companion,
            }),
        }
    }
    entries.sort_by_key(|e| e.index);
    Ok(entries)
}

impl Writer<'_> {
    fn newline(&mut self) {
        if self.pretty {
            self.out.push('\n');
            for _ in 0..self.level {
                self.out.push_str("  ");
            }
        }
    }

    fn close(&mut self, tag: &str) {
        self.newline();
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
    }

    /// Writes a resource; `loc` is the element holding it (none at the root).
    fn resource(&mut self, obj: &Object, loc: Option<&Loc>, depth: usize) -> Result<(), Issue> {
        let at = || loc.map(Loc::render).unwrap_or_default();
        let rt = obj
            .get("resourceType")
            .and_then(Value::as_str)
            .ok_or_else(|| structure("resource without resourceType").at(at()))?;
        let def = self
            .model
            .resource(rt)
            .ok_or_else(|| structure(format!("unknown resource type '{rt}'")).at(at()))?;
        let root = Loc::root(rt);
        let ns = if depth == 0 { Some(FHIR_NS) } else { None };
        self.object(
            rt,
            ns,
            obj,
            &def.elements,
            None,
            loc.unwrap_or(&root),
            depth,
            true,
        )
    }

    /// Writes `<tag …>` for an object over `elements`: attributes (`xml_attr`
    /// elements, then `value`), then the child elements in definition order.
    #[allow(clippy::too_many_arguments)]
    fn object(
        &mut self,
        tag: &str,
        xmlns: Option<&str>,
        obj: &Object,
        elements: &[Element],
        value: Option<&str>,
        loc: &Loc,
        depth: usize,
        is_resource: bool,
    ) -> Result<(), Issue> {
        if depth > MAX_DEPTH {
            return Err(Issue::error("too-long", "the resource nests too deep").at(loc.render()));
        }
        if obj.is_empty() && value.is_none() && !is_resource {
            return Err(
                Issue::error("invalid", "empty object (FHIR elements are never empty)")
                    .at(loc.render()),
            );
        }
        let entries = plan(self.model, obj, elements, loc, is_resource)?;
        self.newline();
        self.out.push('<');
        self.out.push_str(tag);
        if let Some(ns) = xmlns {
            self.out.push_str(" xmlns=\"");
            self.out.push_str(ns);
            self.out.push('"');
        }
        for e in entries.iter().filter(|e| e.el.xml_attr) {
            let at = loc.child(e.name, None);
            let v = e
                .value
                .ok_or_else(|| structure("missing value").at(at.render()))?;
            let text = self.scalar(v, e.type_code).map_err(|i| located(i, &at))?;
            self.attr(e.name, &text, &at)?;
        }
        if let Some(v) = value {
            self.attr("value", v, loc)?;
        }
        if entries.iter().all(|e| e.el.xml_attr) {
            self.out.push_str("/>");
            return Ok(());
        }
        self.out.push('>');
        self.level += 1;
        for e in entries.iter().filter(|e| !e.el.xml_attr) {
            self.entry(e, loc, depth)?;
        }
        self.level -= 1;
        self.close(tag);
        Ok(())
    }

    fn attr(&mut self, name: &str, value: &str, loc: &Loc) -> Result<(), Issue> {
        self.out.push(' ');
        self.out.push_str(name);
        self.out.push_str("=\"");
        escape_attr(value, &mut self.out).map_err(|i| located(i, loc))?;
        self.out.push('"');
        Ok(())
    }

    /// Writes all occurrences of one element.
    fn entry(&mut self, e: &Entry, loc: &Loc, depth: usize) -> Result<(), Issue> {
        let at = loc.child(e.name, None);
        let kind = shape(self.model, e.el, e.type_code);
        if kind == Shape::Primitive {
            return self.primitives(e, loc, depth);
        }
        let items: Vec<&Value> = match (e.el.is_array(), e.value) {
            (true, Some(Value::Array(a))) if !a.is_empty() => a.iter().collect(),
            (false, Some(Value::Array(_))) | (true, Some(_)) | (_, None) => {
                let msg = if e.el.is_array() {
                    "expected a non-empty array"
                } else {
                    "expected a single value"
                };
                return Err(structure(msg).at(at.render()));
            }
            (false, Some(v)) => vec![v],
        };
        for (i, item) in items.into_iter().enumerate() {
            let at = loc.child(e.name, e.el.is_array().then_some(i));
            self.complex(e, kind, item, &at, depth)?;
        }
        Ok(())
    }

    /// Writes one non-primitive occurrence.
    fn complex(
        &mut self,
        e: &Entry,
        kind: Shape,
        item: &Value,
        at: &Loc,
        depth: usize,
    ) -> Result<(), Issue> {
        let wrong = |what: &str| structure(format!("expected {what}")).at(at.render());
        match kind {
            Shape::Xhtml => {
                let div = item.as_str().ok_or_else(|| wrong("a string"))?;
                let xhtml = super::xhtml::normalize(div).map_err(|i| located(i, at))?;
                self.newline();
                self.out.push_str(&xhtml);
                Ok(())
            }
            Shape::Resource => {
                let obj = item.as_object().ok_or_else(|| wrong("a resource"))?;
                let rt = obj
                    .get("resourceType")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if self.model.resource(e.type_code).is_some() && rt != e.type_code {
                    return Err(wrong(&format!("a {}, not a {rt}", e.type_code)));
                }
                self.newline();
                self.out.push('<');
                self.out.push_str(e.name);
                self.out.push('>');
                self.level += 1;
                self.resource(obj, Some(at), depth + 1)?;
                self.level -= 1;
                self.close(e.name);
                Ok(())
            }
            _ => {
                let obj = item.as_object().ok_or_else(|| wrong("an object"))?;
                let children = child_elements(self.model, e.el, e.type_code);
                self.object(e.name, None, obj, children, None, at, depth + 1, false)
            }
        }
    }

    /// Writes the occurrences of a primitive element, merging values and `_name` data.
    fn primitives(&mut self, e: &Entry, loc: &Loc, depth: usize) -> Result<(), Issue> {
        let at = loc.child(e.name, None);
        let list = primitive_items(e.el, e.value, e.companion).map_err(|i| located(i, &at))?;
        let children =
            primitive_type(self.model, e.type_code).map_or(&[][..], |t| t.elements.as_slice());
        let empty = Map::new();
        for (i, (v, ext)) in list.into_iter().enumerate() {
            let at = loc.child(e.name, e.el.is_array().then_some(i));
            let text = match v {
                Some(v) => Some(self.scalar(v, e.type_code).map_err(|i| located(i, &at))?),
                None => None,
            };
            if ext.is_some_and(Map::is_empty) {
                return Err(Issue::error("invalid", "empty '_' object").at(at.render()));
            }
            if text.is_none() && ext.is_none() {
                return Err(structure("a primitive needs a value or extensions").at(at.render()));
            }
            let ext = ext.unwrap_or(&empty);
            self.object(
                e.name,
                None,
                ext,
                children,
                text.as_deref(),
                &at,
                depth + 1,
                false,
            )?;
        }
        Ok(())
    }

    /// The XML text of a JSON primitive value, which must have the JSON kind of
    /// its type (characters XML cannot hold are refused when it is escaped).
    fn scalar<'v>(&self, v: &'v Value, type_code: &str) -> Result<Cow<'v, str>, Issue> {
        let kind = primitive_type(self.model, type_code)
            .and_then(|t| t.primitive.as_ref())
            .map_or(JsonKind::String, |p| p.json);
        match (kind, v) {
            (JsonKind::Boolean, Value::Bool(b)) => {
                Ok(Cow::Borrowed(if *b { "true" } else { "false" }))
            }
            (JsonKind::Number, Value::Number(n)) => Ok(Cow::Owned(n.to_string())),
            (JsonKind::String, Value::String(s)) if !s.is_empty() => Ok(Cow::Borrowed(s)),
            _ => Err(Issue::error(
                "value",
                format!("{v} is not a valid JSON value for a {type_code}"),
            )),
        }
    }
}

/// One occurrence of a primitive: its value and its `_name` data.
type PrimitiveItem<'a> = (Option<&'a Value>, Option<&'a Object>);

/// The occurrences of a primitive element, with values and `_` data aligned.
fn primitive_items<'a>(
    el: &Element,
    value: Option<&'a Value>,
    companion: Option<&'a Value>,
) -> Result<Vec<PrimitiveItem<'a>>, Issue> {
    let ext_of = |v: &'a Value| match v {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(m)),
        _ => Err(structure("'_' data must be an object")),
    };
    let val_of = |v: &'a Value| match v {
        Value::Null => Ok(None),
        Value::Array(_) | Value::Object(_) => Err(structure("expected a primitive value")),
        v => Ok(Some(v)),
    };
    if !el.is_array() {
        if value.is_some_and(Value::is_null) || companion.is_some_and(Value::is_null) {
            return Err(structure("null is only allowed in arrays"));
        }
        let v = value.map(val_of).transpose()?.flatten();
        let e = companion.map(ext_of).transpose()?.flatten();
        return Ok(vec![(v, e)]);
    }
    let as_array = |v: Option<&'a Value>| match v {
        None => Ok(None),
        Some(Value::Array(a)) if !a.is_empty() => Ok(Some(a)),
        Some(_) => Err(structure("expected a non-empty array")),
    };
    let values = as_array(value)?;
    let exts = as_array(companion)?;
    let len = values.or(exts).map_or(0, Vec::len);
    if values.is_some_and(|v| v.len() != len) || exts.is_some_and(|e| e.len() != len) {
        return Err(structure(
            "the value array and the '_' array differ in length",
        ));
    }
    (0..len)
        .map(|i| {
            let v = values
                .and_then(|a| a.get(i))
                .map(val_of)
                .transpose()?
                .flatten();
            let e = exts
                .and_then(|a| a.get(i))
                .map(ext_of)
                .transpose()?
                .flatten();
            Ok((v, e))
        })
        .collect()
}
