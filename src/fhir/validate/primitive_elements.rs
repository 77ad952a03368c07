//! Primitive elements: single values and repeating ones, each value checked
//! for its JSON kind and its lexical form, and the `_name` companions that
//! carry a value's `id` and extensions (arrays aligned, `null` only as a filler).

use serde_json::Value;

use super::walk::describe;
use super::{Validator, primitives};
use crate::fhir::model::{Element, JsonKind, TypeDef};

impl<'m> Validator<'m> {
    /// Checks a primitive element: its value(s) and its `_name` companion(s).
    pub(super) fn primitive_element(
        &mut self,
        element: &Element,
        def: &'m TypeDef,
        name: &str,
        value: Option<&Value>,
        ext: Option<&Value>,
        depth: usize,
    ) {
        let mark = self.enter(name);
        if element.is_array() {
            self.primitive_array(element, def, name, value, ext, depth);
        } else {
            match value {
                Some(Value::Array(_)) => self.report(
                    "structure",
                    format_args!("element '{name}' must not be an array"),
                ),
                Some(Value::Null) => {
                    self.report(
                        "structure",
                        format_args!("element '{name}' must not be null"),
                    );
                }
                Some(v) => self.primitive_value(v, def, name),
                None => {}
            }
            match ext {
                Some(Value::Array(_)) => self.report(
                    "structure",
                    format_args!("element '_{name}' must not be an array"),
                ),
                Some(x) => self.companion(x, def, name, depth),
                None => {}
            }
        }
        self.leave(mark);
    }

    /// Checks a repeating primitive element: `name` and `_name` arrays, aligned,
    /// with `null` only where the other array has something.
    fn primitive_array(
        &mut self,
        element: &Element,
        def: &'m TypeDef,
        name: &str,
        value: Option<&Value>,
        ext: Option<&Value>,
        depth: usize,
    ) {
        let (Some(values), Some(exts)) = (self.items(value, name, ""), self.items(ext, name, "_"))
        else {
            return;
        };
        if !values.is_empty() && !exts.is_empty() && values.len() != exts.len() {
            self.report(
                "structure",
                format_args!(
                    "'{name}' has {} items but '_{name}' has {}: the two arrays must have the same length",
                    values.len(),
                    exts.len()
                ),
            );
        }
        let n = values.len().max(exts.len());
        if n > 0 {
            self.count(element, name, n);
        }
        for i in 0..n {
            let m = self.enter_index(i);
            let v = values.get(i).filter(|v| !v.is_null());
            let x = exts.get(i).filter(|x| !x.is_null());
            if v.is_none() && x.is_none() {
                self.report(
                    "structure",
                    format_args!(
                        "null is only allowed in '{name}' where '_{name}' has an id or extensions at the same position, and vice versa"
                    ),
                );
            }
            if let Some(v) = v {
                self.primitive_value(v, def, name);
            }
            if let Some(x) = x {
                self.companion(x, def, name, depth);
            }
            self.leave(m);
        }
    }

    /// The items of one of the two arrays of a repeating primitive (none when absent);
    /// `None` (after reporting) when it is not an array.
    fn items<'v>(
        &mut self,
        value: Option<&'v Value>,
        name: &str,
        prefix: &str,
    ) -> Option<&'v [Value]> {
        match value {
            None => Some(&[]),
            Some(Value::Array(items)) => {
                if items.is_empty() {
                    self.report(
                        "structure",
                        format_args!("element '{prefix}{name}' must not be an empty array"),
                    );
                }
                Some(items)
            }
            Some(_) => {
                self.report(
                    "structure",
                    format_args!("element '{prefix}{name}' must be an array"),
                );
                None
            }
        }
    }

    /// Checks the `_name` companion of one primitive value: `id` and `extension` only.
    fn companion(&mut self, ext: &Value, def: &'m TypeDef, name: &str, depth: usize) {
        match ext {
            Value::Object(obj) => self.object(obj, &def.elements, depth + 1, false),
            other => self.report(
                "structure",
                format_args!(
                    "'_{name}' must be a JSON object with 'id' and/or 'extension', not {}",
                    describe(other)
                ),
            ),
        }
    }

    /// Checks one primitive value: its JSON kind, then its lexical form.
    fn primitive_value(&mut self, value: &Value, def: &TypeDef, name: &str) {
        let Some(primitive) = &def.primitive else {
            return;
        };
        let code = def.name.as_str();
        let checked = match (primitive.json, value) {
            (JsonKind::String, Value::String(s)) if s.is_empty() => {
                self.report(
                    "structure",
                    format_args!("element '{name}' must not be an empty string"),
                );
                return;
            }
            (JsonKind::String, Value::String(s)) => primitives::check_string(code, s),
            (JsonKind::Number, Value::Number(n)) => primitives::check_number(code, n.as_str()),
            (JsonKind::Boolean, Value::Bool(_)) => Ok(()),
            (kind, other) => {
                let wanted = match kind {
                    JsonKind::String => "string",
                    JsonKind::Number => "number",
                    JsonKind::Boolean => "boolean (true or false)",
                };
                self.report(
                    "structure",
                    format_args!(
                        "element '{name}' ({code}) must be a JSON {wanted}, not {}",
                        describe(other)
                    ),
                );
                return;
            }
        };
        if let Err(problem) = checked {
            self.report("value", format_args!("{problem}"));
        }
    }
}
