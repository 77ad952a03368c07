//! XML → JSON. A recursive descent over quick-xml events guided by the type
//! model: each element name is looked up among the elements of its parent's
//! type, primitives become JSON values of their JSON kind (with `_name`
//! companions for `id` and extensions), repeating elements become arrays and
//! properties come out in definition order. Anything the model does not know,
//! any DTD, stray text or excessive nesting is an [`Issue`] with the FHIRPath of
//! the element at fault.

use super::escape::{attr_value, is_blank};
use super::slots::{Occurrence, Slots};
use super::{
    FHIR_NS, Loc, MAX_DEPTH, Shape, XHTML_NS, XSI_NS, child_elements, find_element, located,
};
use super::{primitive_type, shape, xhtml};
use crate::fhir::model::{Element, JsonKind, Model, model};
use crate::fhir::outcome::Issue;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use serde_json::{Map, Number, Value};
use std::str::FromStr;

fn structure(msg: impl Into<String>) -> Issue {
    Issue::error("structure", msg)
}

/// What the next significant event is.
enum Next<'a> {
    Open(BytesStart<'a>, bool),
    Close,
}

/// The namespace of an element, as far as FHIR cares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ns {
    Fhir,
    Xhtml,
    Other,
}

/// Which attributes an element may carry besides its `xml_attr` elements.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Attrs<'t> {
    /// A resource: `xsi:` attributes are tolerated.
    Resource,
    /// A complex element.
    Element,
    /// A primitive of the given type: `value`.
    Primitive(&'t str),
}

struct Parser<'a> {
    reader: NsReader<&'a [u8]>,
    model: &'static Model,
    depth: usize,
}

/// Reads a whole document into the JSON form of its resource.
pub(crate) fn read_document(bytes: &[u8]) -> Result<Value, Issue> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Err(e) = std::str::from_utf8(bytes) {
        let msg = format!(
            "the document is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        );
        return Err(structure(msg));
    }
    let mut p = Parser {
        reader: NsReader::from_reader(bytes),
        model: model(),
        depth: 1,
    };
    let (root, empty) = loop {
        match p.reader.read_event() {
            Ok(Event::Decl(d)) => check_decl(&d)?,
            Ok(Event::DocType(_)) => return Err(Issue::error("security", "DTDs are not allowed")),
            Ok(Event::Text(t)) if is_blank(&t) => {}
            Ok(Event::Comment(_) | Event::PI(_)) => {}
            Ok(Event::Start(e)) => break (e, false),
            Ok(Event::Empty(e)) => break (e, true),
            Ok(Event::Eof) => return Err(structure("the document has no root element")),
            Ok(_) => return Err(structure("text before the root element")),
            Err(e) => {
                return Err(structure(format!(
                    "the document is not well-formed XML: {e}"
                )));
            }
        }
    };
    let resource = p.resource(&root, empty, None)?;
    loop {
        match p.reader.read_event() {
            Ok(Event::Eof) => return Ok(Value::Object(resource)),
            Ok(Event::Text(t)) if is_blank(&t) => {}
            Ok(Event::Comment(_) | Event::PI(_)) => {}
            Ok(Event::DocType(_)) => return Err(Issue::error("security", "DTDs are not allowed")),
            Ok(_) => return Err(structure("content after the root element")),
            Err(e) => {
                return Err(structure(format!(
                    "the document is not well-formed XML: {e}"
                )));
            }
        }
    }
}

fn check_decl(d: &quick_xml::events::BytesDecl) -> Result<(), Issue> {
    let version = d
        .version()
        .map_err(|e| structure(format!("bad XML declaration: {e}")))?;
    if version.as_ref() != b"1.0" {
        return Err(structure("only XML 1.0 is supported"));
    }
    if let Some(enc) = d.encoding() {
        let enc = enc.map_err(|e| structure(format!("bad XML declaration: {e}")))?;
        if !enc.eq_ignore_ascii_case(b"UTF-8") {
            return Err(structure("only the UTF-8 encoding is supported"));
        }
    }
    Ok(())
}

/// The JSON value of a primitive of type `type_code` from its XML text.
fn primitive_value(model: &Model, type_code: &str, text: String) -> Result<Value, Issue> {
    let kind = primitive_type(model, type_code)
        .and_then(|t| t.primitive.as_ref())
        .map_or(JsonKind::String, |p| p.json);
    if text.is_empty() {
        return Err(Issue::error("value", "empty value"));
    }
    let bad = || Issue::error("value", format!("'{text}' is not a valid {type_code}"));
    match kind {
        JsonKind::Boolean => match text.as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(bad()),
        },
        JsonKind::Number => {
            let range = match type_code {
                "integer" => Some(i64::from(i32::MIN)..=i64::from(i32::MAX)),
                "positiveInt" => Some(1..=i64::from(i32::MAX)),
                "unsignedInt" => Some(0..=i64::from(i32::MAX)),
                _ => None,
            };
            if let Some(range) = range {
                let digits = match text.strip_prefix('-') {
                    Some(d) if type_code == "integer" => d,
                    _ => &text,
                };
                let ok = !digits.is_empty()
                    && digits.bytes().all(|b| b.is_ascii_digit())
                    && text.parse::<i64>().is_ok_and(|n| range.contains(&n));
                if !ok {
                    return Err(bad());
                }
            }
            Number::from_str(&text)
                .map(Value::Number)
                .map_err(|_| bad())
        }
        JsonKind::String => Ok(Value::String(text)),
    }
}

impl<'a> Parser<'a> {
    /// The next element start or end, skipping white space, comments and
    /// processing instructions; any other content is an error at `loc`.
    fn next(&mut self, loc: &Loc) -> Result<Next<'a>, Issue> {
        loop {
            let event = self.reader.read_event().map_err(|e| {
                structure(format!("the document is not well-formed XML: {e}")).at(loc.render())
            })?;
            return match event {
                Event::Start(e) => Ok(Next::Open(e, false)),
                Event::Empty(e) => Ok(Next::Open(e, true)),
                Event::End(_) => Ok(Next::Close),
                Event::Text(t) if is_blank(&t) => continue,
                Event::CData(t) if is_blank(&t) => continue,
                Event::Comment(_) | Event::PI(_) => continue,
                Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) => {
                    Err(structure("text is not allowed here").at(loc.render()))
                }
                Event::DocType(_) => {
                    Err(Issue::error("security", "DTDs are not allowed").at(loc.render()))
                }
                Event::Decl(_) => Err(structure("misplaced XML declaration").at(loc.render())),
                Event::Eof => Err(structure("unexpected end of the document").at(loc.render())),
            };
        }
    }

    /// The namespace (FHIR, XHTML or other) and local name of an element.
    fn name<'e>(&self, e: &'e BytesStart) -> Result<(Ns, &'e str), Issue> {
        let (res, local) = self.reader.resolve_element(e.name());
        let local = std::str::from_utf8(local.into_inner())
            .map_err(|_| structure("element name is not UTF-8"))?;
        let ns = match res {
            ResolveResult::Bound(ns) if ns.as_ref() == FHIR_NS.as_bytes() => Ns::Fhir,
            ResolveResult::Bound(ns) if ns.as_ref() == XHTML_NS.as_bytes() => Ns::Xhtml,
            ResolveResult::Unknown(p) => {
                let p = String::from_utf8_lossy(&p).into_owned();
                return Err(structure(format!("undeclared namespace prefix '{p}'")));
            }
            _ => Ns::Other,
        };
        Ok((ns, local))
    }

    /// Reads a resource element (`loc` is the element wrapping it, none at the root).
    fn resource(
        &mut self,
        e: &BytesStart,
        empty: bool,
        loc: Option<&Loc>,
    ) -> Result<Map<String, Value>, Issue> {
        let at = || loc.map(Loc::render).unwrap_or_default();
        let (ns, rt) = self.name(e).map_err(|i| i.at(at()))?;
        let root = Loc::root(rt);
        let loc = loc.unwrap_or(&root);
        if ns != Ns::Fhir {
            return Err(
                structure(format!("'{rt}' is not in the FHIR namespace {FHIR_NS}"))
                    .at(loc.render()),
            );
        }
        let model = self.model;
        let def = model
            .resource(rt)
            .ok_or_else(|| structure(format!("unknown resource type '{rt}'")).at(loc.render()))?;
        let mut slots = Slots::default();
        self.attributes(e, &[], loc, &mut slots, Attrs::Resource)?;
        if !empty {
            self.children(&def.elements, loc, &mut slots)?;
        }
        let mut map = Map::new();
        map.insert("resourceType".to_string(), Value::String(rt.to_string()));
        slots.into_map(&mut map);
        Ok(map)
    }

    /// Reads the attributes of `e`: namespace declarations are skipped, `xml_attr`
    /// elements of `elements` go to `slots`, and the `value` attribute of a
    /// primitive is returned. `xsi:` attributes are tolerated on resources only.
    fn attributes(
        &self,
        e: &BytesStart,
        elements: &[Element],
        loc: &Loc,
        slots: &mut Slots,
        mode: Attrs,
    ) -> Result<Option<Value>, Issue> {
        let mut value = None;
        for attr in e.attributes() {
            let attr =
                attr.map_err(|err| structure(format!("bad attribute: {err}")).at(loc.render()))?;
            if attr.key.as_namespace_binding().is_some() {
                continue;
            }
            let (res, local) = self.reader.resolve_attribute(attr.key);
            let local = String::from_utf8_lossy(local.as_ref());
            let unknown = || structure(format!("unknown attribute '{local}'")).at(loc.render());
            match res {
                ResolveResult::Unbound => {}
                ResolveResult::Bound(ns)
                    if mode == Attrs::Resource && ns.as_ref() == XSI_NS.as_bytes() =>
                {
                    continue;
                }
                _ => return Err(unknown()),
            }
            if let Attrs::Primitive(type_code) = mode
                && local == "value"
            {
                let text = attr_value(&attr.value).map_err(|i| located(i, loc))?;
                value = Some(
                    primitive_value(self.model, type_code, text).map_err(|i| located(i, loc))?,
                );
                continue;
            }
            let Some((index, el)) = elements
                .iter()
                .enumerate()
                .find(|(_, el)| el.xml_attr && el.name == local)
            else {
                return Err(unknown());
            };
            let at = loc.child(&el.name, None);
            let text = attr_value(&attr.value).map_err(|i| located(i, &at))?;
            let type_code = el.types.first().map_or("string", String::as_str);
            let v = primitive_value(self.model, type_code, text).map_err(|i| located(i, &at))?;
            slots.push(index, &el.name, false, false, Some(v), None);
        }
        Ok(value)
    }

    /// Reads child elements of `elements` up to the end of the current element.
    fn children(
        &mut self,
        elements: &'static [Element],
        loc: &Loc,
        slots: &mut Slots,
    ) -> Result<(), Issue> {
        loop {
            match self.next(loc)? {
                Next::Close => return Ok(()),
                Next::Open(e, empty) => {
                    self.depth += 1;
                    self.child(elements, &e, empty, loc, slots)?;
                    self.depth -= 1;
                }
            }
        }
    }

    /// Reads one child element into `slots`.
    fn child(
        &mut self,
        elements: &'static [Element],
        e: &BytesStart,
        empty: bool,
        loc: &Loc,
        slots: &mut Slots,
    ) -> Result<(), Issue> {
        let (ns, local) = self.name(e).map_err(|i| i.at(loc.render()))?;
        let Some((index, el, type_code)) =
            find_element(elements, local).filter(|(_, el, _)| !el.xml_attr)
        else {
            let msg = format!("unknown element '{local}'");
            return Err(structure(msg).at(loc.child(local, None).render()));
        };
        let count = slots.count(index);
        let at = loc.child(local, el.is_array().then_some(count));
        if count > 0 && !el.is_array() {
            return Err(structure(format!("'{}' may occur only once", el.name)).at(at.render()));
        }
        if self.depth > MAX_DEPTH {
            return Err(Issue::error("too-long", "elements nest too deep").at(at.render()));
        }
        let kind = shape(self.model, el, type_code);
        if kind != Shape::Xhtml && ns != Ns::Fhir {
            let msg = format!("'{local}' is not in the FHIR namespace {FHIR_NS}");
            return Err(structure(msg).at(at.render()));
        }
        let (value, ext) = match kind {
            Shape::Xhtml => {
                let div = xhtml::capture(&mut self.reader, e, empty, self.depth)
                    .map_err(|i| located(i, &at))?;
                (Some(Value::String(div)), None)
            }
            Shape::Resource => (
                Some(Value::Object(self.wrapped(e, empty, type_code, &at)?)),
                None,
            ),
            Shape::Primitive => self.primitive(e, empty, type_code, &at)?,
            Shape::Complex => {
                let children = child_elements(self.model, el, type_code);
                let mut inner = Slots::default();
                self.attributes(e, children, &at, &mut inner, Attrs::Element)?;
                if !empty {
                    self.children(children, &at, &mut inner)?;
                }
                let mut map = Map::new();
                inner.into_map(&mut map);
                if map.is_empty() {
                    let msg = "element has neither attributes nor children (FHIR elements are never empty)";
                    return Err(Issue::error("invalid", msg).at(at.render()));
                }
                (Some(Value::Object(map)), None)
            }
        };
        slots.push(
            index,
            local,
            el.is_array(),
            kind == Shape::Primitive,
            value,
            ext,
        );
        Ok(())
    }

    /// Reads a primitive element: its value and its `_` companion (id, extensions).
    fn primitive(
        &mut self,
        e: &BytesStart,
        empty: bool,
        type_code: &str,
        at: &Loc,
    ) -> Result<Occurrence, Issue> {
        let model = self.model;
        let elements = primitive_type(model, type_code).map_or(&[][..], |t| t.elements.as_slice());
        let mut inner = Slots::default();
        let value = self.attributes(e, elements, at, &mut inner, Attrs::Primitive(type_code))?;
        if !empty {
            self.children(elements, at, &mut inner)?;
        }
        let mut ext = Map::new();
        inner.into_map(&mut ext);
        if value.is_none() && ext.is_empty() {
            return Err(
                Issue::error("invalid", "element has neither a value nor extensions")
                    .at(at.render()),
            );
        }
        Ok((value, (!ext.is_empty()).then_some(ext)))
    }

    /// Reads an element that wraps a resource (`<contained><Patient>…</Patient></contained>`).
    fn wrapped(
        &mut self,
        e: &BytesStart,
        empty: bool,
        type_code: &str,
        at: &Loc,
    ) -> Result<Map<String, Value>, Issue> {
        self.attributes(e, &[], at, &mut Slots::default(), Attrs::Element)?;
        let missing = || structure("the element holds no resource").at(at.render());
        if empty {
            return Err(missing());
        }
        let Next::Open(inner, inner_empty) = self.next(at)? else {
            return Err(missing());
        };
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Issue::error("too-long", "elements nest too deep").at(at.render()));
        }
        let resource = self.resource(&inner, inner_empty, Some(at))?;
        self.depth -= 1;
        let rt = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("");
        let concrete = self.model.resource(type_code).is_some();
        if concrete && rt != type_code {
            return Err(structure(format!("expected a {type_code}, found a {rt}")).at(at.render()));
        }
        match self.next(at)? {
            Next::Close => Ok(resource),
            Next::Open(..) => {
                Err(structure("the element holds more than one resource").at(at.render()))
            }
        }
    }
}
