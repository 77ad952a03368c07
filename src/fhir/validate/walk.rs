//! The walk over a resource's JSON form: resources (the root, `contained`,
//! `Bundle.entry.resource`, …), objects of complex types and backbone elements,
//! single and repeating elements, and the cardinality of every element.
//! Primitive elements continue in `primitive_elements.rs`.

use serde_json::{Map, Value};

use super::{MAX_DEPTH, Validator, show};
use crate::fhir::model::{Element, Kind, Model, TypeDef};

/// What the value of an element is, once its type is known.
#[derive(Clone, Copy)]
enum Shape<'m> {
    Primitive(&'m TypeDef),
    /// An object with these elements (a data type, a backbone element, a content reference).
    Complex(&'m [Element]),
    /// A resource of the given type (`Resource` for any).
    Resource(&'m str),
    /// Not in the model: not looked into.
    Unknown,
}

type Object = Map<String, Value>;

impl<'m> Validator<'m> {
    /// Checks a resource at the current path (empty for the root): a JSON object
    /// whose `resourceType` names a concrete resource type, of type `allowed`
    /// unless that is `Resource` or `DomainResource`.
    pub(super) fn resource(&mut self, value: &Value, allowed: &str, depth: usize) {
        let model: &'m Model = self.model;
        let Some(obj) = value.as_object() else {
            self.report(
                "structure",
                format_args!("a resource must be a JSON object, not {}", describe(value)),
            );
            return;
        };
        let name = match obj.get("resourceType") {
            Some(Value::String(s)) => s.as_str(),
            None => {
                self.report("structure", format_args!("missing 'resourceType'"));
                return;
            }
            Some(other) => {
                self.report(
                    "structure",
                    format_args!("'resourceType' must be a string, not {}", describe(other)),
                );
                return;
            }
        };
        let Some(def) = model.resource(name) else {
            self.report(
                "not-supported",
                format_args!("'{}' is not a known resource type", show(name)),
            );
            return;
        };
        if !matches!(allowed, "Resource" | "DomainResource") && allowed != name {
            self.report(
                "structure",
                format_args!("a {allowed} resource is expected here, not a {name}"),
            );
            return;
        }
        let mark = self.path.is_empty().then(|| {
            self.root = &def.name;
            self.enter(&def.name)
        });
        self.object(obj, &def.elements, depth, true);
        if let Some(mark) = mark {
            self.leave(mark);
        }
    }

    /// Checks one item of `Bundle.entry` as the walk of its whole Bundle
    /// would, at `Bundle.entry[index]`.
    pub(super) fn bundle_entry(&mut self, value: &Value, index: usize) {
        let model: &'m Model = self.model;
        let Some(def) = model.resource("Bundle") else {
            return;
        };
        let Some((_, element, code)) = find(&def.elements, "entry") else {
            return;
        };
        self.root = &def.name;
        let shape = self.shape(element, code);
        let mark = self.enter(&def.name);
        self.enter("entry");
        self.enter_index(index);
        self.complex_item(value, shape, "entry", 0);
        self.leave(mark);
    }

    /// Checks the properties of an object holding `elements`, and that the
    /// mandatory ones are there.
    pub(super) fn object(
        &mut self,
        obj: &Object,
        elements: &'m [Element],
        depth: usize,
        resource_root: bool,
    ) {
        if depth >= MAX_DEPTH {
            self.report(
                "structure",
                format_args!("elements nested more than {MAX_DEPTH} levels deep are not accepted"),
            );
            return;
        }
        if obj.is_empty() {
            self.report("structure", format_args!("an empty object is not allowed"));
            return;
        }
        let has_companions = obj.keys().any(|k| k.starts_with('_'));
        // The choice elements seen so far, with the property (type) chosen.
        let mut chosen: Vec<(usize, &str)> = Vec::new();
        for (key, value) in obj {
            if resource_root && key == "resourceType" {
                continue;
            }
            let (is_companion, name) = match key.strip_prefix('_') {
                Some(name) => (true, name),
                None => (false, key.as_str()),
            };
            let Some((index, element, code)) = find(elements, name) else {
                self.unknown(key, elements);
                continue;
            };
            if element.choice {
                match chosen.iter().find(|(i, _)| *i == index) {
                    Some(&(_, other)) if other != name => {
                        self.report_at(
                            name,
                            "structure",
                            format_args!(
                                "only one of '{other}' and '{name}' may be present ({}[x] has one type)",
                                element.name
                            ),
                        );
                        continue;
                    }
                    Some(_) => {}
                    None => chosen.push((index, name)),
                }
            }
            if element.max == 0 {
                self.report_at(
                    name,
                    "structure",
                    format_args!("element '{name}' is not allowed here"),
                );
                continue;
            }
            // Resource.id is an `id`, though the definitions call it a string.
            let code = if resource_root && element.name == "id" {
                "id"
            } else {
                code
            };
            match self.shape(element, code) {
                Shape::Primitive(def) if is_companion => {
                    if !obj.contains_key(name) {
                        self.primitive_element(element, def, name, None, Some(value), depth);
                    }
                }
                Shape::Primitive(def) => {
                    let ext = if has_companions {
                        companion_of(obj, name)
                    } else {
                        None
                    };
                    self.primitive_element(element, def, name, Some(value), ext, depth);
                }
                _ if is_companion => self.report_at(
                    key,
                    "structure",
                    format_args!("'{key}' is not allowed: '{name}' is not a primitive element"),
                ),
                shape => self.complex_element(element, shape, name, value, depth),
            }
        }
        self.required(obj, elements, has_companions);
    }

    /// Reports a property that names no element of the object.
    fn unknown(&mut self, key: &str, elements: &[Element]) {
        let name = key.strip_prefix('_').unwrap_or(key);
        let shown = show(key);
        if key == "resourceType" {
            self.report_at(
                key,
                "structure",
                format_args!("'resourceType' is only allowed at the root of a resource"),
            );
        } else if key == "fhir_comments" {
            self.report_at(
                &shown,
                "structure",
                format_args!("'fhir_comments' is not allowed in FHIR R4"),
            );
        } else if let Some(e) = elements.iter().find(|e| e.choice && e.name == name) {
            let example = e.types.first().map_or(String::new(), |t| e.json_name(t));
            self.report_at(
                &shown,
                "structure",
                format_args!(
                    "unknown element '{shown}': the choice element '{name}[x]' needs its type in the name, e.g. '{example}'"
                ),
            );
        } else {
            self.report_at(
                &shown,
                "structure",
                format_args!("unknown element '{shown}'"),
            );
        }
    }

    /// Reports the mandatory elements that are absent (a `_name` companion counts).
    fn required(&mut self, obj: &Object, elements: &[Element], has_companions: bool) {
        for element in elements.iter().filter(|e| e.min > 0) {
            let present = if element.choice {
                obj.keys().any(|k| {
                    element
                        .type_for_key(k.strip_prefix('_').unwrap_or(k))
                        .is_some()
                })
            } else {
                obj.contains_key(&element.name)
                    || (has_companions && companion_of(obj, &element.name).is_some())
            };
            if !present {
                let suffix = if element.choice { "[x]" } else { "" };
                self.report_at(
                    &element.name,
                    "required",
                    format_args!("missing required element '{}{suffix}'", element.name),
                );
            }
        }
    }

    /// What a value of `element` holds when it is of type `code`.
    fn shape(&self, element: &'m Element, code: &str) -> Shape<'m> {
        let model: &'m Model = self.model;
        if !element.children.is_empty() || element.content_ref.is_some() {
            return model
                .children(element, code)
                .map_or(Shape::Unknown, Shape::Complex);
        }
        match model.type_def(code) {
            Some(def) if def.kind == Kind::Primitive => Shape::Primitive(def),
            Some(def) if def.kind == Kind::Resource => Shape::Resource(&def.name),
            Some(def) => Shape::Complex(&def.elements),
            None => Shape::Unknown,
        }
    }

    /// Checks a complex (or resource) element, single or repeating.
    fn complex_element(
        &mut self,
        element: &Element,
        shape: Shape<'m>,
        name: &str,
        value: &Value,
        depth: usize,
    ) {
        let mark = self.enter(name);
        if element.is_array() {
            match value {
                Value::Array(items) => {
                    self.count(element, name, items.len());
                    for (i, item) in items.iter().enumerate() {
                        let m = self.enter_index(i);
                        self.complex_item(item, shape, name, depth);
                        self.leave(m);
                    }
                }
                _ => self.report(
                    "structure",
                    format_args!("element '{name}' must be an array"),
                ),
            }
        } else if value.is_array() {
            self.report(
                "structure",
                format_args!("element '{name}' must not be an array"),
            );
        } else {
            self.complex_item(value, shape, name, depth);
        }
        self.leave(mark);
    }

    /// Checks one value of a complex (or resource) element.
    fn complex_item(&mut self, value: &Value, shape: Shape<'m>, name: &str, depth: usize) {
        match (value, shape) {
            (Value::Object(_), Shape::Resource(allowed)) => {
                self.resource(value, allowed, depth + 1)
            }
            (Value::Object(obj), Shape::Complex(elements)) => {
                self.object(obj, elements, depth + 1, false);
            }
            (Value::Object(_), _) => {}
            (Value::Null, _) => {
                self.report(
                    "structure",
                    format_args!("element '{name}' must not be null"),
                );
            }
            (Value::Array(_), _) => {
                self.report(
                    "structure",
                    format_args!("element '{name}' must not hold nested arrays"),
                );
            }
            (other, _) => self.report(
                "structure",
                format_args!(
                    "element '{name}' must be a JSON object, not {}",
                    describe(other)
                ),
            ),
        }
    }

    /// Checks the number of items of a repeating element.
    pub(super) fn count(&mut self, element: &Element, name: &str, n: usize) {
        if n == 0 {
            self.report(
                "structure",
                format_args!("element '{name}' must not be an empty array"),
            );
        } else if n < element.min as usize {
            self.report(
                "required",
                format_args!(
                    "element '{name}' needs at least {} items, not {n}",
                    element.min
                ),
            );
        } else if n > element.max as usize {
            self.report(
                "structure",
                format_args!(
                    "element '{name}' allows at most {} items, not {n}",
                    element.max
                ),
            );
        }
    }
}

/// The element a property name (without `_`) selects, with its index and type code.
fn find<'e>(elements: &'e [Element], name: &str) -> Option<(usize, &'e Element, &'e str)> {
    elements
        .iter()
        .enumerate()
        .find_map(|(i, e)| e.type_for_key(name).map(|t| (i, e, t)))
}

/// The `_name` companion of property `name`, if the object has one.
fn companion_of<'v>(obj: &'v Object, name: &str) -> Option<&'v Value> {
    obj.get(format!("_{name}").as_str())
}

/// "a string", "an object", … for diagnostics.
pub(super) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
