//! FHIRPath Patch (R4 `fhirpatch.html`): a `Parameters` resource whose
//! `operation` parameters each have parts `type` (`add`, `insert`,
//! `delete`, `replace`, `move`), `path` (FHIRPath), and as the type needs
//! `name`, `value`, `index`, `source` and `destination`.
//!
//! Each `path` is checked against the model and evaluated with
//! [`crate::fhirpath`] on the resource as patched so far. The engine answers
//! nodes that borrow the resource's JSON; each is found again in the tree by
//! its address (a primitive that only has its `_name` sibling, by the
//! sibling's), which gives the object holding it, its property name and its
//! position in the property's array. The model then says what the element
//! is: whether it repeats, which types it takes, its JSON name for a choice
//! type (`valueQuantity`). Changes keep FHIR's JSON shape: arrays for
//! repeating elements, a primitive's id and extensions in the `_name`
//! sibling (kept aligned item for item with the values in arrays), new
//! properties in definition order, and no empty object or array left behind
//! by a `delete`.
//!
//! The rules of the specification: the path of `add`, `replace` and `delete`
//! must select a single element, except that a `delete` that selects nothing
//! does nothing; `insert` and `move` name a whole list (by its path, such as
//! `Patient.identifier`; an empty list by the path of its parent and its
//! name); `add` appends to a list or sets an element that has no value yet;
//! a value must be of a type the element takes (a primitive may stand for
//! another with the same JSON form, `valueString` for a `code`, and a
//! `Quantity` for its profiles); values of other types, and of anonymous
//! elements (`Patient.contact`), are given as parts named after their
//! children. A path may only reach into the resource itself (its contained
//! resources included), never through `resolve()` to another one.

use super::{MAX_DEPTH, PatchError, depth};
use crate::fhir::model::{Element, Kind, TypeDef, model};
use crate::fhirpath::{Environment, Expression, Item};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// Applies `patch` (a FHIRPath Patch `Parameters` resource, JSON form) to
/// `resource` and returns the result. Errors name the operation
/// (`Parameters.parameter[1]`, or one of its parts) and why it failed.
pub fn apply(resource: &Value, patch: &Value) -> Result<Value, PatchError> {
    let operations = read_patch(patch)?;
    let resource_type = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .filter(|t| model().resource(t).is_some())
        .ok_or_else(|| {
            PatchError::unprocessable(None, "the resource to patch has no known resourceType")
        })?;
    let mut out = resource.clone();
    for operation in &operations {
        operation.apply(&mut out, resource_type)?;
    }
    Ok(out)
}

/// The five operation types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Add,
    Insert,
    Delete,
    Replace,
    Move,
}

impl Type {
    fn parse(code: &str) -> Option<Type> {
        Some(match code {
            "add" => Type::Add,
            "insert" => Type::Insert,
            "delete" => Type::Delete,
            "replace" => Type::Replace,
            "move" => Type::Move,
            _ => return None,
        })
    }

    /// The code with its article, for messages (`an add`).
    fn named(self) -> &'static str {
        match self {
            Type::Add => "an add",
            Type::Insert => "an insert",
            Type::Delete => "a delete",
            Type::Replace => "a replace",
            Type::Move => "a move",
        }
    }

    fn code(self) -> &'static str {
        match self {
            Type::Add => "add",
            Type::Insert => "insert",
            Type::Delete => "delete",
            Type::Replace => "replace",
            Type::Move => "move",
        }
    }

    /// The parts an operation of this type needs besides `type` and `path`.
    fn needs(self) -> &'static [&'static str] {
        match self {
            Type::Add => &["name", "value"],
            Type::Insert => &["index", "value"],
            Type::Delete => &[],
            Type::Replace => &["value"],
            Type::Move => &["source", "destination"],
        }
    }
}

/// Every part name an operation may have.
const PART_NAMES: &[&str] = &[
    "type",
    "path",
    "name",
    "value",
    "index",
    "source",
    "destination",
];

/// A value given in the patch, as read before it meets its element.
#[derive(Debug)]
enum Given<'p> {
    /// A `value[x]`: the FHIR type `x` names, the JSON value (`null` when
    /// only `_value[x]` is there) and the `_value[x]` sibling.
    Typed {
        type_name: &'static str,
        value: &'p Value,
        extension: Option<&'p Value>,
    },
    /// A `resource`.
    Resource(&'p Value),
    /// Parts, each naming a child element and giving its value.
    Parts(Vec<(&'p str, Given<'p>)>),
}

/// One operation, read and checked for form.
#[derive(Debug)]
struct Operation<'p> {
    /// Its position in `Parameters.parameter`.
    at: usize,
    kind: Type,
    path: Expression,
    name: Option<&'p str>,
    value: Option<Given<'p>>,
    index: Option<usize>,
    source: Option<usize>,
    destination: Option<usize>,
}

/// Reads every operation of the patch, so that a malformed one is refused
/// before anything is applied.
fn read_patch(patch: &Value) -> Result<Vec<Operation<'_>>, PatchError> {
    if patch.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(PatchError::invalid(
            None,
            "a FHIRPath Patch is a Parameters resource",
        ));
    }
    match patch.get("parameter") {
        None => Ok(Vec::new()),
        Some(Value::Array(parameters)) => parameters
            .iter()
            .enumerate()
            .map(|(i, p)| read_operation(p, i))
            .collect(),
        Some(_) => Err(PatchError::invalid(
            Some("Parameters.parameter".into()),
            "Parameters.parameter is not an array",
        )),
    }
}

fn read_operation(parameter: &Value, at: usize) -> Result<Operation<'_>, PatchError> {
    let here = format!("Parameters.parameter[{at}]");
    let invalid = |expression: &str, why: String| {
        PatchError::invalid(
            Some(expression.to_string()),
            format!("operation {at}: {why}"),
        )
    };
    let Value::Object(members) = parameter else {
        return Err(invalid(&here, "is not an object".into()));
    };
    if members.get("name").and_then(Value::as_str) != Some("operation") {
        return Err(invalid(
            &format!("{here}.name"),
            "a FHIRPath Patch parameter is named \"operation\"".into(),
        ));
    }
    if let Some(key) = members
        .keys()
        .find(|k| k.starts_with("value") || k.as_str() == "resource")
    {
        return Err(invalid(
            &here,
            format!("an operation has parts, not a {key}"),
        ));
    }
    let Some(Value::Array(parts)) = members.get("part") else {
        return Err(invalid(&here, "an operation needs its parts".into()));
    };
    let mut named: HashMap<&str, (usize, &Map<String, Value>)> = HashMap::new();
    for (j, part) in parts.iter().enumerate() {
        let there = format!("{here}.part[{j}]");
        let Value::Object(part) = part else {
            return Err(invalid(&there, "a part is not an object".into()));
        };
        let Some(name) = part.get("name").and_then(Value::as_str) else {
            return Err(invalid(&there, "a part has no name".into()));
        };
        if !PART_NAMES.contains(&name) {
            return Err(invalid(
                &there,
                format!("unknown part {name:?} (expected {})", PART_NAMES.join(", ")),
            ));
        }
        if named.insert(name, (j, part)).is_some() {
            return Err(invalid(&there, format!("more than one {name} part")));
        }
    }
    let text = |name: &str| -> Result<Option<&str>, PatchError> {
        let Some(&(j, part)) = named.get(name) else {
            return Ok(None);
        };
        match single_value(part) {
            Some((_, Value::String(s))) => Ok(Some(s.as_str())),
            _ => Err(invalid(
                &format!("{here}.part[{j}]"),
                format!("the {name} part needs a string value (valueString)"),
            )),
        }
    };
    let integer = |name: &str| -> Result<Option<usize>, PatchError> {
        let Some(&(j, part)) = named.get(name) else {
            return Ok(None);
        };
        match single_value(part) {
            Some((_, Value::Number(n))) => n
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| {
                    invalid(
                        &format!("{here}.part[{j}]"),
                        format!("{name} must be an integer of 0 or more, not {n}"),
                    )
                }),
            _ => Err(invalid(
                &format!("{here}.part[{j}]"),
                format!("the {name} part needs an integer value (valueInteger)"),
            )),
        }
    };
    let kind = match text("type")? {
        Some(code) => Type::parse(code).ok_or_else(|| {
            invalid(
                &format!("{here}.part[{}]", named.get("type").map_or(0, |p| p.0)),
                format!("unknown type {code:?} (expected add, insert, delete, replace or move)"),
            )
        })?,
        None => return Err(invalid(&here, "an operation needs a type part".into())),
    };
    let mut given: Vec<(usize, &str)> = named.iter().map(|(name, (j, _))| (*j, *name)).collect();
    given.sort_unstable();
    for (j, name) in given {
        if !matches!(name, "type" | "path") && !kind.needs().contains(&name) {
            return Err(invalid(
                &format!("{here}.part[{j}]"),
                format!("{} operation takes no {name} part", kind.named()),
            ));
        }
    }
    for name in std::iter::once(&"path").chain(kind.needs()) {
        if !named.contains_key(name) {
            return Err(invalid(
                &here,
                format!("{} operation needs a part named {name}", kind.named()),
            ));
        }
    }
    let path_text = text("path")?.unwrap_or_default();
    let path = Expression::parse(path_text).map_err(|e| {
        invalid(
            &format!("{here}.part[{}]", named.get("path").map_or(0, |p| p.0)),
            format!("path {path_text:?}: {e}"),
        )
    })?;
    let value = match named.get("value") {
        Some(&(j, part)) => Some(
            read_given(part, 0)
                .map_err(|why| invalid(&format!("{here}.part[{j}]"), format!("value: {why}")))?,
        ),
        None => None,
    };
    Ok(Operation {
        at,
        kind,
        path,
        name: text("name")?,
        value,
        index: integer("index")?,
        source: integer("source")?,
        destination: integer("destination")?,
    })
}

/// The one `value[x]` of a part (its key and JSON), if it has exactly one.
fn single_value(part: &Map<String, Value>) -> Option<(&str, &Value)> {
    let mut values = part.iter().filter(|(k, _)| k.starts_with("value"));
    let first = values.next()?;
    values
        .next()
        .is_none()
        .then_some((first.0.as_str(), first.1))
}

/// The FHIR type a `value[x]` suffix names (`Date` → `date`, `HumanName`).
fn value_type(suffix: &str) -> Option<&'static str> {
    let m = model();
    let mut chars = suffix.chars();
    let first = chars.next()?;
    let lowered = format!("{}{}", first.to_ascii_lowercase(), chars.as_str());
    if let Some(t) = m.type_def(&lowered).filter(|t| t.kind == Kind::Primitive) {
        return Some(t.name.as_str());
    }
    m.type_def(suffix)
        .filter(|t| t.kind == Kind::Complex && first.is_ascii_uppercase())
        .map(|t| t.name.as_str())
}

/// Reads a value part (or a part of one): one `value[x]`, a `resource` or
/// parts. `level` counts the parts above, bounded by [`MAX_DEPTH`].
fn read_given(part: &Map<String, Value>, level: usize) -> Result<Given<'_>, String> {
    if level > MAX_DEPTH {
        return Err(format!("parts nest deeper than {MAX_DEPTH} levels"));
    }
    let mut typed = None;
    let mut count = 0;
    for key in part.keys() {
        let Some(suffix) = key
            .strip_prefix("value")
            .or_else(|| key.strip_prefix("_value"))
        else {
            continue;
        };
        let type_name =
            value_type(suffix).ok_or_else(|| format!("{key} names no FHIR data type"))?;
        match typed {
            Some((other, _)) if other != suffix => {
                return Err(format!("more than one value[x] ({key} and value{other})"));
            }
            Some(_) => {}
            None => {
                count += 1;
                typed = Some((suffix, type_name));
            }
        }
    }
    count += usize::from(part.contains_key("resource")) + usize::from(part.contains_key("part"));
    if count != 1 {
        return Err("give exactly one of a value[x], a resource or parts".into());
    }
    if let Some((suffix, type_name)) = typed {
        let value = part.get(&format!("value{suffix}"));
        let extension = part.get(&format!("_value{suffix}"));
        if value.is_none_or(Value::is_null) && extension.is_none_or(|e| !e.is_object()) {
            return Err(format!("value{suffix} has no value"));
        }
        return Ok(Given::Typed {
            type_name,
            value: value.unwrap_or(&Value::Null),
            extension,
        });
    }
    if let Some(resource) = part.get("resource") {
        return Ok(Given::Resource(resource));
    }
    let Some(Value::Array(parts)) = part.get("part") else {
        return Err("part is not an array".into());
    };
    if parts.is_empty() {
        return Err("no parts: a value cannot be empty".into());
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let Value::Object(p) = p else {
                return Err(format!("part[{i}] is not an object"));
            };
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("part[{i}] has no name"))?;
            let given =
                read_given(p, level + 1).map_err(|why| format!("part[{i}] ({name}): {why}"))?;
            Ok((name, given))
        })
        .collect::<Result<Vec<_>, String>>()
        .map(Given::Parts)
}

/// One step of a path through the JSON tree.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Where an element lives: the JSON path of the object holding it, its
/// property name (never the `_name` sibling) and, when the property is an
/// array, its position.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    parent: Vec<Step>,
    key: String,
    index: Option<usize>,
}

/// A node a path selected: the resource itself, or an element.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Root,
    Element(Place),
}

impl Target {
    /// The JSON path of the node.
    fn steps(&self) -> Vec<Step> {
        match self {
            Target::Root => Vec::new(),
            Target::Element(p) => {
                let mut steps = p.parent.clone();
                steps.push(Step::Key(p.key.clone()));
                steps.extend(p.index.map(Step::Index));
                steps
            }
        }
    }
}

/// A node's address, which identifies it within one tree.
fn address(v: &Value) -> *const Value {
    v
}

/// A step that borrows its key, while walking.
#[derive(Clone, Copy)]
enum StepRef<'v> {
    Key(&'v str),
    Index(usize),
}

/// Finds where each selected node is in `doc`, by address. Fails on
/// computed values and on anything outside the resource.
fn locate(doc: &Value, items: &[Item<'_>]) -> Result<Vec<Target>, String> {
    let mut wanted = HashSet::new();
    for item in items {
        match item {
            Item::Node {
                value, extension, ..
            } => {
                wanted.insert(address(value));
                wanted.extend(extension.map(address));
            }
            Item::Value(v) => {
                return Err(format!(
                    "it selects a computed value ({v}), not an element of the resource"
                ));
            }
            Item::Owned { .. } => {
                return Err(
                    "it selects something outside the resource (resolve() may only \
                            reach contained resources)"
                        .into(),
                );
            }
        }
    }
    // Every node gets an entry (its parent's entry and its step); `None` is the root.
    let mut entries: Vec<(Option<usize>, StepRef<'_>)> = Vec::new();
    let mut found: HashMap<*const Value, Option<usize>> = HashMap::new();
    let mut stack = vec![(doc, None)];
    while let Some((v, entry)) = stack.pop() {
        if wanted.contains(&address(v)) {
            found.insert(address(v), entry);
        }
        match v {
            Value::Object(o) => {
                for (k, child) in o {
                    entries.push((entry, StepRef::Key(k)));
                    stack.push((child, Some(entries.len() - 1)));
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    entries.push((entry, StepRef::Index(i)));
                    stack.push((child, Some(entries.len() - 1)));
                }
            }
            _ => {}
        }
    }
    let path_of = |mut entry: Option<usize>| {
        let mut steps = Vec::new();
        while let Some((parent, step)) = entry.and_then(|e| entries.get(e)) {
            steps.push(match step {
                StepRef::Key(k) => Step::Key((*k).to_string()),
                StepRef::Index(i) => Step::Index(*i),
            });
            entry = *parent;
        }
        steps.reverse();
        steps
    };
    items
        .iter()
        .map(|item| {
            let (value, extension) = match item {
                Item::Node {
                    value, extension, ..
                } => (*value, *extension),
                _ => return Err("it selects something that is not an element".to_string()),
            };
            if let Some(&entry) = found.get(&address(value)) {
                target_of(path_of(entry), false)
            } else if let Some(&entry) = extension.and_then(|e| found.get(&address(e))) {
                target_of(path_of(entry), true)
            } else {
                Err("it selects something that is not part of the resource".into())
            }
        })
        .collect()
}

/// The target at a JSON path; `sibling` when the path leads to a
/// primitive's `_name` sibling rather than to its value.
fn target_of(mut steps: Vec<Step>, sibling: bool) -> Result<Target, String> {
    let index = match steps.last() {
        Some(&Step::Index(i)) => {
            steps.pop();
            Some(i)
        }
        _ => None,
    };
    match (steps.pop(), index) {
        (None, None) => Ok(Target::Root),
        (Some(Step::Key(key)), index) => {
            let key = match (sibling, key.strip_prefix('_')) {
                (false, _) => key,
                (true, Some(base)) => base.to_string(),
                (true, None) => return Err("it selects something that is not an element".into()),
            };
            Ok(Target::Element(Place {
                parent: steps,
                key,
                index,
            }))
        }
        _ => Err("it selects an item of a nested array, which FHIR JSON does not have".into()),
    }
}

fn node<'v>(doc: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    steps.iter().try_fold(doc, |v, step| match step {
        Step::Key(k) => v.get(k.as_str()),
        Step::Index(i) => v.get(*i),
    })
}

fn node_mut<'v>(doc: &'v mut Value, steps: &[Step]) -> Option<&'v mut Value> {
    steps.iter().try_fold(doc, |v, step| match step {
        Step::Key(k) => v.get_mut(k.as_str()),
        Step::Index(i) => v.get_mut(*i),
    })
}

/// The object at `steps`.
fn object_mut<'v>(
    doc: &'v mut Value,
    steps: &[Step],
) -> Result<&'v mut Map<String, Value>, String> {
    node_mut(doc, steps)
        .and_then(Value::as_object_mut)
        .ok_or_else(|| "the element is not where it was found".to_string())
}

/// What the model says a node is.
#[derive(Clone, Copy)]
enum Def {
    Resource(&'static TypeDef),
    /// An element, and the type code its value has (the chosen one for a choice).
    Element(&'static Element, &'static str),
}

impl Def {
    /// The elements below the node.
    fn children(self) -> Option<&'static [Element]> {
        match self {
            Def::Resource(t) => Some(&t.elements),
            Def::Element(el, code) => model().children(el, code),
        }
    }

    /// The element of the node's children a JSON property name stands for.
    fn element(self, key: &str) -> Option<(&'static Element, &'static str)> {
        self.children()?
            .iter()
            .find_map(|e| e.type_for_key(key).map(|code| (e, code)))
    }
}

fn is_primitive(code: &str) -> bool {
    model()
        .type_def(code)
        .is_some_and(|t| t.kind == Kind::Primitive)
}

fn is_resource(code: &str) -> bool {
    model()
        .type_def(code)
        .is_some_and(|t| t.kind == Kind::Resource)
}

/// What the node at `steps` is, from the resource's type down.
fn def_at(doc: &Value, steps: &[Step]) -> Option<Def> {
    let resource_of = |v: Option<&Value>| {
        v.and_then(|v| v.get("resourceType"))
            .and_then(Value::as_str)
            .and_then(|t| model().resource(t))
    };
    let mut def = Def::Resource(resource_of(Some(doc))?);
    let mut current = Some(doc);
    for step in steps {
        match step {
            Step::Index(i) => current = current.and_then(|v| v.get(*i)),
            Step::Key(k) => {
                let (el, code) = def.element(k.strip_prefix('_').unwrap_or(k.as_str()))?;
                def = Def::Element(el, code);
                current = current.and_then(|v| v.get(k.as_str()));
            }
        }
        if let Def::Element(_, code) = def
            && is_resource(code)
            && let Some(t) = resource_of(current)
        {
            def = Def::Resource(t);
        }
    }
    Some(def)
}

/// The type code under which `el` takes a value of type `given`: the same
/// type; for an element of one type, a primitive of the same JSON form or a
/// Quantity of another profile.
fn fit(el: &'static Element, given: &str) -> Option<&'static str> {
    if let Some(t) = el.types.iter().find(|t| *t == given) {
        return Some(t.as_str());
    }
    let [only] = el.types.as_slice() else {
        return None;
    };
    if el.choice {
        return None;
    }
    let m = model();
    let (a, b) = (m.type_def(only)?, m.type_def(given)?);
    let quantity = |t: &str| matches!(t, "Quantity" | "Age" | "Count" | "Distance" | "Duration");
    match (&a.primitive, &b.primitive) {
        (Some(x), Some(y)) if x.json == y.json => Some(only.as_str()),
        (None, None) if quantity(only) && quantity(given) => Some(only.as_str()),
        _ => None,
    }
}

/// A value made ready for its element: its JSON, the `_name` sibling of a
/// primitive, and the type code it has there.
struct Built {
    value: Value,
    extension: Option<Value>,
    code: &'static str,
}

impl Built {
    /// How deep the value nests.
    fn depth(&self) -> usize {
        depth(&self.value).max(self.extension.as_ref().map_or(0, depth))
    }
}

/// Makes a given value into the value of element `el`, checking its type.
fn build(el: &'static Element, given: &Given<'_>) -> Result<Built, String> {
    match given {
        Given::Typed {
            type_name,
            value,
            extension,
        } => {
            let code = fit(el, type_name).ok_or_else(|| {
                format!(
                    "{} takes {}, not a {type_name}",
                    el.name,
                    el.types.join(" or ")
                )
            })?;
            if extension.is_some() && !is_primitive(code) {
                return Err(format!("a {type_name} has no _value sibling"));
            }
            Ok(Built {
                value: (*value).clone(),
                extension: extension.cloned(),
                code,
            })
        }
        Given::Resource(resource) => {
            let resource_type = resource
                .get("resourceType")
                .and_then(Value::as_str)
                .filter(|t| model().resource(t).is_some())
                .ok_or("the resource has no known resourceType")?;
            let code = el
                .types
                .iter()
                .find(|t| {
                    matches!(t.as_str(), "Resource" | "DomainResource") || *t == resource_type
                })
                .ok_or_else(|| format!("{} takes no resource", el.name))?;
            Ok(Built {
                value: (*resource).clone(),
                extension: None,
                code: code.as_str(),
            })
        }
        Given::Parts(parts) => {
            let code = match el.types.as_slice() {
                [only] if !el.choice => only.as_str(),
                _ => {
                    return Err(format!(
                        "{} is a choice of types: give a value[x], not parts",
                        el.name
                    ));
                }
            };
            if is_primitive(code) {
                return Err(format!(
                    "{} is a {code}: give a value[x], not parts",
                    el.name
                ));
            }
            let elements = model()
                .children(el, code)
                .ok_or_else(|| format!("the elements of {} are unknown", el.name))?;
            let mut object = Map::new();
            for (name, given) in parts {
                let (child, chosen) = child_named(elements, name)
                    .ok_or_else(|| format!("{} has no element {name}", el.name))?;
                let built = build(child, given)?;
                if chosen.is_some_and(|c| c != built.code) {
                    return Err(format!("{name} does not take a {}", built.code));
                }
                append(&mut object, elements, child, built)?;
            }
            Ok(Built {
                value: Value::Object(object),
                extension: None,
                code,
            })
        }
    }
}

/// The element a name given in a patch stands for: its own name, or for a
/// choice element also a JSON name (`valueQuantity`, with the type it fixes).
fn child_named(
    elements: &'static [Element],
    name: &str,
) -> Option<(&'static Element, Option<&'static str>)> {
    elements
        .iter()
        .find(|e| e.name == name)
        .map(|e| (e, None))
        .or_else(|| {
            elements
                .iter()
                .filter(|e| e.choice)
                .find_map(|e| e.type_for_key(name).map(|code| (e, Some(code))))
        })
}

/// The `_name` sibling's key.
fn sibling(key: &str) -> String {
    format!("_{key}")
}

/// Inserts a new property where the definition order puts it: before the
/// first property of a later element (a `_name` sibling ranks as its element).
fn insert_in_order(
    object: &mut Map<String, Value>,
    elements: &[Element],
    key: String,
    value: Value,
) {
    let rank = |k: &str| {
        let base = k.strip_prefix('_').unwrap_or(k);
        elements.iter().position(|e| e.type_for_key(base).is_some())
    };
    let at = rank(&key)
        .and_then(|mine| {
            object
                .keys()
                .position(|k| rank(k).is_some_and(|theirs| theirs > mine))
        })
        .unwrap_or(object.len());
    object.shift_insert(at, key, value);
}

/// How many items the list `key` has (counting its `_name` sibling's).
fn list_len(object: &Map<String, Value>, key: &str) -> Result<usize, String> {
    let len = |k: &str| match object.get(k) {
        None => Ok(0),
        Some(Value::Array(a)) => Ok(a.len()),
        Some(_) => Err(format!("{k} is not an array although {key} repeats")),
    };
    Ok(len(key)?.max(len(&sibling(key))?))
}

/// The array `key` of `object`, created where it belongs if absent, and
/// padded with nulls to `len` items.
fn array_mut<'o>(
    object: &'o mut Map<String, Value>,
    elements: &[Element],
    key: &str,
    len: usize,
) -> Result<&'o mut Vec<Value>, String> {
    if !object.contains_key(key) {
        insert_in_order(object, elements, key.to_string(), Value::Array(Vec::new()));
    }
    match object.get_mut(key) {
        Some(Value::Array(items)) => {
            if items.len() < len {
                items.resize(len, Value::Null);
            }
            Ok(items)
        }
        _ => Err(format!("{key} is not an array")),
    }
}

/// Drops what a list no longer needs: a `_name` sibling of nulls only, and
/// the list itself when it holds nothing.
fn tidy(object: &mut Map<String, Value>, key: &str) {
    let empty = |v: Option<&Value>| match v {
        Some(Value::Array(items)) => items.iter().all(Value::is_null),
        Some(_) => false,
        None => true,
    };
    let ext = sibling(key);
    if empty(object.get(&ext)) {
        object.shift_remove(&ext);
        if empty(object.get(key)) {
            object.shift_remove(key);
        }
    }
}

/// Puts a value into list `key` at position `at`, with its `_name` sibling in
/// step: in place of the item there (`overwrite`), or before it (`at` may then
/// be the list's length).
fn put_at(
    object: &mut Map<String, Value>,
    elements: &[Element],
    key: &str,
    at: usize,
    built: Built,
    overwrite: bool,
) -> Result<(), String> {
    let len = list_len(object, key)?;
    if at > len || (overwrite && at == len) {
        return Err(format!(
            "index {at} is beyond the end of the list ({len} items)"
        ));
    }
    let put = |list: &mut Vec<Value>, value: Value| {
        if overwrite {
            list[at] = value;
        } else {
            list.insert(at, value);
        }
    };
    let ext = sibling(key);
    if built.extension.is_some() || object.contains_key(&ext) {
        put(
            array_mut(object, elements, &ext, len)?,
            built.extension.unwrap_or(Value::Null),
        );
    }
    put(array_mut(object, elements, key, len)?, built.value);
    tidy(object, key);
    Ok(())
}

/// Sets a single (not repeating) element's value and `_name` sibling.
fn set(object: &mut Map<String, Value>, elements: &[Element], key: &str, built: Built) {
    for (k, v) in [
        (key.to_string(), Some(built.value)),
        (sibling(key), built.extension),
    ] {
        match v.filter(|v| !v.is_null()) {
            Some(v) => match object.get_mut(&k) {
                Some(slot) => *slot = v,
                None => insert_in_order(object, elements, k, v),
            },
            None => {
                object.shift_remove(&k);
            }
        }
    }
}

/// Adds an element to an object: appended to its list if it repeats, else
/// set if it has no value yet.
fn append(
    object: &mut Map<String, Value>,
    elements: &[Element],
    el: &'static Element,
    built: Built,
) -> Result<(), String> {
    let key = el.json_name(built.code);
    if el.is_array() {
        let len = list_len(object, &key)?;
        return put_at(object, elements, &key, len, built, false);
    }
    if let Some(existing) = object.keys().find(|k| {
        el.type_for_key(k.strip_prefix('_').unwrap_or(k.as_str()))
            .is_some()
    }) {
        return Err(format!(
            "{existing} already has a value and does not repeat (replace it instead)"
        ));
    }
    set(object, elements, &key, built);
    Ok(())
}

/// Removes an element (with its `_name` sibling) from its object.
fn remove(object: &mut Map<String, Value>, key: &str, index: Option<usize>) {
    match index {
        None => {
            object.shift_remove(key);
            object.shift_remove(&sibling(key));
        }
        Some(i) => {
            for k in [key.to_string(), sibling(key)] {
                if let Some(Value::Array(items)) = object.get_mut(&k)
                    && i < items.len()
                {
                    items.remove(i);
                }
            }
            tidy(object, key);
        }
    }
}

/// After a delete: takes away the objects left empty above `steps`, up to
/// (not including) the resource.
fn prune(doc: &mut Value, mut steps: Vec<Step>) {
    while !steps.is_empty()
        && node(doc, &steps).is_some_and(|v| v.as_object().is_some_and(Map::is_empty))
    {
        let index = match steps.last() {
            Some(&Step::Index(i)) => {
                steps.pop();
                Some(i)
            }
            _ => None,
        };
        let Some(Step::Key(key)) = steps.pop() else {
            return;
        };
        let Some(object) = node_mut(doc, &steps).and_then(Value::as_object_mut) else {
            return;
        };
        match (key.strip_prefix('_'), index) {
            // A primitive's emptied id-and-extensions object in a list.
            (Some(base), Some(i)) => {
                if let Some(slot) = object.get_mut(&key).and_then(|a| a.get_mut(i)) {
                    *slot = Value::Null;
                }
                let valueless = object
                    .get(base)
                    .and_then(|a| a.get(i))
                    .is_none_or(Value::is_null);
                if valueless {
                    remove(object, base, Some(i));
                } else {
                    tidy(object, base);
                }
            }
            _ => remove(object, &key, index),
        }
    }
}

/// A split of a path into its parent's path and the last member name
/// (`Patient.identifier` → `Patient`, `identifier`), for an empty list.
fn split_last_member(path: &str) -> Option<(&str, &str)> {
    let (parent, name) = path.trim().rsplit_once('.')?;
    let mut chars = name.chars();
    let identifier = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    (identifier && !parent.trim().is_empty()).then_some((parent, name))
}

impl Operation<'_> {
    fn fail(&self, why: impl std::fmt::Display) -> PatchError {
        PatchError::unprocessable(
            Some(format!("Parameters.parameter[{}]", self.at)),
            format!("operation {} ({}): {why}", self.at, self.kind.code()),
        )
    }

    /// The operation's value part (present: reading checked it).
    fn given(&self) -> Result<&Given<'_>, PatchError> {
        self.value
            .as_ref()
            .ok_or_else(|| self.fail("it has no value"))
    }

    fn apply(&self, doc: &mut Value, resource_type: &str) -> Result<(), PatchError> {
        let text = self.path.text();
        self.path
            .check(resource_type, false)
            .map_err(|e| self.fail(format!("path {text}: {e}")))?;
        let targets =
            select(&self.path, doc).map_err(|why| self.fail(format!("path {text}: {why}")))?;
        match self.kind {
            Type::Add => self.add(doc, &targets),
            Type::Insert => self.insert(doc, &targets),
            Type::Delete => self.delete(doc, &targets),
            Type::Replace => self.replace(doc, &targets),
            Type::Move => self.move_item(doc, &targets),
        }
    }

    /// The one target `add` and `replace` need.
    fn single<'t>(&self, targets: &'t [Target]) -> Result<&'t Target, PatchError> {
        match targets {
            [one] => Ok(one),
            [] => Err(self.fail(format!("no content found at {}", self.path.text()))),
            more => Err(self.fail(format!(
                "{} matches {} elements; the path must select one",
                self.path.text(),
                more.len()
            ))),
        }
    }

    /// Refuses a value that would nest deeper than [`MAX_DEPTH`] at `steps` levels.
    fn fits(&self, levels: usize, built: &Built) -> Result<(), PatchError> {
        if levels.saturating_add(built.depth()) > MAX_DEPTH {
            return Err(self.fail(format!(
                "the result would nest deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(())
    }

    fn add(&self, doc: &mut Value, targets: &[Target]) -> Result<(), PatchError> {
        let target = self.single(targets)?;
        let name = self.name.unwrap_or_default();
        let steps = target.steps();
        let def = def_at(doc, &steps)
            .ok_or_else(|| self.fail("the model does not describe the element"))?;
        let elements = def
            .children()
            .ok_or_else(|| self.fail("the element has no children"))?;
        let (el, chosen) = child_named(elements, name)
            .ok_or_else(|| self.fail(format!("{} has no element {name}", self.path.text())))?;
        let built = build(el, self.given()?).map_err(|why| self.fail(why))?;
        if chosen.is_some_and(|c| c != built.code) {
            return Err(self.fail(format!("{name} does not take a {}", built.code)));
        }
        self.fits(steps.len() + 1 + usize::from(el.is_array()), &built)?;
        let object = self.children_of(doc, target)?;
        append(object, elements, el, built).map_err(|why| self.fail(why))
    }

    /// The object that holds a node's children: the node itself, or for a
    /// primitive its `_name` sibling (made if absent).
    fn children_of<'v>(
        &self,
        doc: &'v mut Value,
        target: &Target,
    ) -> Result<&'v mut Map<String, Value>, PatchError> {
        let Target::Element(place) = target else {
            return doc
                .as_object_mut()
                .ok_or_else(|| self.fail("the resource is not an object"));
        };
        let elements = def_at(doc, &place.parent)
            .and_then(Def::children)
            .ok_or_else(|| self.fail("the model does not describe the element"))?;
        let object = object_mut(doc, &place.parent).map_err(|why| self.fail(why))?;
        let complex = match place.index {
            None => object.get(&place.key).is_some_and(Value::is_object),
            Some(i) => object
                .get(&place.key)
                .and_then(|a| a.get(i))
                .is_some_and(Value::is_object),
        };
        let ext = sibling(&place.key);
        let slot = match (complex, place.index) {
            (true, None) => object.get_mut(&place.key),
            (true, Some(i)) => object.get_mut(&place.key).and_then(|a| a.get_mut(i)),
            (false, None) => {
                if !object.contains_key(&ext) {
                    insert_in_order(object, elements, ext.clone(), Value::Object(Map::new()));
                }
                object.get_mut(&ext)
            }
            (false, Some(i)) => {
                let len = list_len(object, &place.key).map_err(|why| self.fail(why))?;
                let slot = array_mut(object, elements, &ext, len)
                    .map_err(|why| self.fail(why))?
                    .get_mut(i);
                slot.map(|s| {
                    if s.is_null() {
                        *s = Value::Object(Map::new());
                    }
                    s
                })
            }
        };
        slot.and_then(Value::as_object_mut)
            .ok_or_else(|| self.fail("the element cannot hold children"))
    }

    /// The elements of the object at `parent`, and the element `key` among them.
    fn element_at(
        &self,
        doc: &Value,
        parent: &[Step],
        key: &str,
    ) -> Result<(&'static [Element], &'static Element), PatchError> {
        let def = def_at(doc, parent)
            .ok_or_else(|| self.fail("the model does not describe the element"))?;
        let elements = def
            .children()
            .ok_or_else(|| self.fail("the model does not describe the element"))?;
        let (el, _) = def
            .element(key)
            .ok_or_else(|| self.fail(format!("{key} is not an element")))?;
        Ok((elements, el))
    }

    fn replace(&self, doc: &mut Value, targets: &[Target]) -> Result<(), PatchError> {
        let Target::Element(place) = self.single(targets)? else {
            return Err(self.fail("the resource itself cannot be replaced"));
        };
        let (elements, el) = self.element_at(doc, &place.parent, &place.key)?;
        let built = build(el, self.given()?).map_err(|why| self.fail(why))?;
        self.fits(
            place.parent.len() + 1 + usize::from(place.index.is_some()),
            &built,
        )?;
        let object = object_mut(doc, &place.parent).map_err(|why| self.fail(why))?;
        let Some(i) = place.index else {
            let key = el.json_name(built.code);
            if key != place.key {
                remove(object, &place.key, None);
            }
            set(object, elements, &key, built);
            return Ok(());
        };
        put_at(object, elements, &place.key, i, built, true).map_err(|why| self.fail(why))
    }

    fn delete(&self, doc: &mut Value, targets: &[Target]) -> Result<(), PatchError> {
        let place = match targets {
            [] => return Ok(()),
            [Target::Element(place)] => place,
            [Target::Root] => return Err(self.fail("the resource itself cannot be deleted")),
            more => {
                return Err(self.fail(format!(
                    "{} matches {} elements; only one can be deleted",
                    self.path.text(),
                    more.len()
                )));
            }
        };
        let object = object_mut(doc, &place.parent).map_err(|why| self.fail(why))?;
        remove(object, &place.key, place.index);
        prune(doc, place.parent.clone());
        Ok(())
    }

    /// The list `insert` and `move` work on: the path of the object that
    /// holds it and its property name. The path selects the whole list, or,
    /// when the list is empty, nothing: then its parent's path and the
    /// list's name say where it goes.
    fn list(&self, doc: &Value, targets: &[Target]) -> Result<(Vec<Step>, String), PatchError> {
        let text = self.path.text();
        let Some(first) = targets.first() else {
            let (parent, name) = split_last_member(text)
                .ok_or_else(|| self.fail(format!("no content found at {text}")))?;
            let parent = Expression::parse(parent)
                .map_err(|_| self.fail(format!("no content found at {text}")))?;
            let owner = select(&parent, doc).map_err(|why| self.fail(format!("{text}: {why}")))?;
            let [owner] = owner.as_slice() else {
                return Err(self.fail(format!(
                    "no content found at {text}, and {} does not select one element",
                    parent.text()
                )));
            };
            let steps = owner.steps();
            let (el, _) = def_at(doc, &steps)
                .and_then(|d| d.element(name))
                .filter(|(el, _)| el.is_array() && !el.choice)
                .ok_or_else(|| self.fail(format!("{text} is not a list")))?;
            return Ok((steps, el.name.clone()));
        };
        let Target::Element(Place {
            parent,
            key,
            index: Some(_),
        }) = first
        else {
            return Err(self.fail(format!("{text} does not select a list")));
        };
        let whole = targets.iter().enumerate().all(|(i, t)| {
            matches!(t, Target::Element(p) if p.parent == *parent && p.key == *key && p.index == Some(i))
        });
        let len = node(doc, parent)
            .and_then(Value::as_object)
            .map(|o| list_len(o, key))
            .transpose()
            .map_err(|why| self.fail(why))?
            .unwrap_or(0);
        if !whole || len != targets.len() {
            return Err(self.fail(format!(
                "{text} must select a whole list, in order (it selects {} elements)",
                targets.len()
            )));
        }
        Ok((parent.clone(), key.clone()))
    }

    fn insert(&self, doc: &mut Value, targets: &[Target]) -> Result<(), PatchError> {
        let (parent, key) = self.list(doc, targets)?;
        let (elements, el) = self.element_at(doc, &parent, &key)?;
        let built = build(el, self.given()?).map_err(|why| self.fail(why))?;
        self.fits(parent.len() + 2, &built)?;
        let object = object_mut(doc, &parent).map_err(|why| self.fail(why))?;
        let at = self.index.unwrap_or_default();
        put_at(object, elements, &key, at, built, false).map_err(|why| self.fail(why))
    }

    fn move_item(&self, doc: &mut Value, targets: &[Target]) -> Result<(), PatchError> {
        let (parent, key) = self.list(doc, targets)?;
        let object = object_mut(doc, &parent).map_err(|why| self.fail(why))?;
        let len = list_len(object, &key).map_err(|why| self.fail(why))?;
        let (source, destination) = (
            self.source.unwrap_or_default(),
            self.destination.unwrap_or_default(),
        );
        for (what, i) in [("source", source), ("destination", destination)] {
            if i >= len {
                return Err(self.fail(format!(
                    "{what} {i} is out of range (the list has {len} items)"
                )));
            }
        }
        for k in [key.clone(), sibling(&key)] {
            if let Some(Value::Array(items)) = object.get_mut(&k) {
                items.resize(len.max(items.len()), Value::Null);
                let item = items.remove(source);
                items.insert(destination, item);
            }
        }
        Ok(())
    }
}

/// Evaluates a path on the resource and finds its nodes.
fn select(path: &Expression, doc: &Value) -> Result<Vec<Target>, String> {
    let items = path
        .evaluate(doc, &Environment::default())
        .map_err(|e| e.to_string())?;
    locate(doc, &items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::patch::ErrorKind;
    use crate::testing::{Roll, mutations};
    use serde_json::json;

    /// An operation parameter from (part name, part) pairs.
    fn op(parts: &[(&str, Value)]) -> Value {
        let parts: Vec<Value> = parts
            .iter()
            .map(|(name, part)| {
                let mut p = json!({"name": name});
                if let (Some(o), Value::Object(fields)) = (p.as_object_mut(), part) {
                    o.extend(fields.clone());
                }
                p
            })
            .collect();
        json!({"name": "operation", "part": parts})
    }

    fn patch(operations: Vec<Value>) -> Value {
        json!({"resourceType": "Parameters", "parameter": operations})
    }

    fn typ(t: &str) -> (&'static str, Value) {
        ("type", json!({"valueCode": t}))
    }

    fn path(p: &str) -> (&'static str, Value) {
        ("path", json!({"valueString": p}))
    }

    fn name(n: &str) -> (&'static str, Value) {
        ("name", json!({"valueString": n}))
    }

    fn int(part: &'static str, i: i64) -> (&'static str, Value) {
        (part, json!({"valueInteger": i}))
    }

    fn value(v: Value) -> (&'static str, Value) {
        ("value", v)
    }

    fn patched(resource: Value, operations: Vec<Value>) -> Value {
        apply(&resource, &patch(operations)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn refused(resource: Value, operations: Vec<Value>) -> PatchError {
        match apply(&resource, &patch(operations)) {
            Ok(v) => panic!("expected an error, got {v}"),
            Err(e) => e,
        }
    }

    fn identifiers(values: &[&str]) -> Value {
        let list: Vec<Value> = values.iter().map(|v| json!({"value": v})).collect();
        json!({"resourceType": "Patient", "identifier": list})
    }

    #[test]
    fn primitives() {
        let p = json!({"resourceType": "Patient", "birthDate": "1920-01-01"});
        assert_eq!(
            patched(
                p.clone(),
                vec![op(&[
                    typ("replace"),
                    path("Patient.birthDate"),
                    value(json!({"valueDate": "1930-01-01"}))
                ])]
            ),
            json!({"resourceType": "Patient", "birthDate": "1930-01-01"})
        );
        assert_eq!(
            patched(
                p.clone(),
                vec![op(&[typ("delete"), path("Patient.birthDate")])]
            ),
            json!({"resourceType": "Patient"})
        );
        // Definition order: birthDate goes between gender and address.
        let out = patched(
            json!({"resourceType": "Patient", "gender": "male", "address": [{"city": "X"}]}),
            vec![op(&[
                typ("add"),
                path("Patient"),
                name("birthDate"),
                value(json!({"valueDate": "1930-01-01"})),
            ])],
        );
        let keys: Vec<&String> = out.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["resourceType", "gender", "birthDate", "address"]);
        // Text for a code: the same JSON form.
        assert_eq!(
            patched(
                json!({"resourceType": "Patient"}),
                vec![op(&[
                    typ("add"),
                    path("Patient"),
                    name("gender"),
                    value(json!({"valueString": "other"}))
                ])]
            )["gender"],
            json!("other")
        );
        let e = refused(
            p.clone(),
            vec![op(&[
                typ("replace"),
                path("Patient.birthDate"),
                value(json!({"valueBoolean": true})),
            ])],
        );
        assert_eq!(e.kind, ErrorKind::Unprocessable);
        assert_eq!(e.expression.as_deref(), Some("Parameters.parameter[0]"));
        assert!(e.message.contains("takes date"), "{e}");
        let e = refused(
            p,
            vec![op(&[
                typ("add"),
                path("Patient"),
                name("birthDate"),
                value(json!({"valueDate": "1930-01-01"})),
            ])],
        );
        assert!(e.message.contains("already has a value"), "{e}");
    }

    #[test]
    fn primitive_extensions_stay_aligned() {
        let ext = json!({"extension": [{"url": "http://example.org/x", "valueString": "x"}]});
        let p = json!({"resourceType": "Patient", "name": [{"given": ["A", "B"], "_given": [null, ext.clone()]}]});
        assert_eq!(
            patched(
                p.clone(),
                vec![op(&[typ("delete"), path("Patient.name.given[1]")])]
            )["name"],
            json!([{"given": ["A"]}])
        );
        assert_eq!(
            patched(
                p.clone(),
                vec![op(&[typ("delete"), path("Patient.name.given[0]")])]
            )["name"],
            json!([{"given": ["B"], "_given": [ext.clone()]}])
        );
        assert_eq!(
            patched(
                p.clone(),
                vec![op(&[
                    typ("replace"),
                    path("Patient.name.given[1]"),
                    value(json!({"valueString": "C"}))
                ])]
            )["name"],
            json!([{"given": ["A", "C"]}])
        );
        assert_eq!(
            patched(
                p.clone(),
                vec![op(&[
                    typ("insert"),
                    path("Patient.name.given"),
                    int("index", 0),
                    value(json!({"valueString": "Z", "_valueString": ext.clone()}))
                ])]
            )["name"],
            json!([{"given": ["Z", "A", "B"], "_given": [ext.clone(), null, ext.clone()]}])
        );
        assert_eq!(
            patched(
                p.clone(),
                vec![op(&[
                    typ("move"),
                    path("Patient.name.given"),
                    int("source", 1),
                    int("destination", 0)
                ])]
            )["name"],
            json!([{"given": ["B", "A"], "_given": [ext.clone(), null]}])
        );
        assert_eq!(
            patched(
                p.clone(),
                vec![op(&[
                    typ("add"),
                    path("Patient.name"),
                    name("given"),
                    value(json!({"valueString": "C"}))
                ])]
            )["name"],
            json!([{"given": ["A", "B", "C"], "_given": [null, ext.clone(), null]}])
        );
        // A primitive that has only extensions is found through them.
        let only = json!({"resourceType": "Patient", "_birthDate": ext.clone()});
        assert_eq!(
            patched(
                only.clone(),
                vec![op(&[
                    typ("replace"),
                    path("Patient.birthDate"),
                    value(json!({"valueDate": "2000"}))
                ])]
            ),
            json!({"resourceType": "Patient", "birthDate": "2000"})
        );
        assert_eq!(
            patched(only, vec![op(&[typ("delete"), path("Patient.birthDate")])]),
            json!({"resourceType": "Patient"})
        );
        // Extensions of a primitive go to its _name sibling, and go away with it.
        let p = json!({"resourceType": "Patient", "birthDate": "2000"});
        let with_ext = patched(
            p.clone(),
            vec![op(&[
                typ("add"),
                path("Patient.birthDate"),
                name("extension"),
                value(json!({"part": [
                    {"name": "url", "valueUri": "http://example.org/x"},
                    {"name": "valueString", "valueString": "x"}
                ]})),
            ])],
        );
        assert_eq!(
            with_ext,
            json!({"resourceType": "Patient", "birthDate": "2000", "_birthDate": ext})
        );
        assert_eq!(
            patched(
                with_ext,
                vec![op(&[typ("delete"), path("Patient.birthDate.extension")])]
            ),
            p
        );
    }

    #[test]
    fn complex_and_anonymous_values() {
        let p = json!({"resourceType": "Patient"});
        assert_eq!(
            patched(
                p.clone(),
                vec![op(&[
                    typ("add"),
                    path("Patient"),
                    name("maritalStatus"),
                    value(json!({"valueCodeableConcept": {"text": "married"}}))
                ])]
            ),
            json!({"resourceType": "Patient", "maritalStatus": {"text": "married"}})
        );
        let contact = patched(
            p.clone(),
            vec![op(&[
                typ("add"),
                path("Patient"),
                name("contact"),
                value(json!({"part": [
                    {"name": "name", "valueHumanName": {"text": "a name"}},
                    {"name": "telecom", "valueContactPoint": {"value": "1"}},
                    {"name": "gender", "valueCode": "male"}
                ]})),
            ])],
        );
        assert_eq!(
            contact,
            json!({"resourceType": "Patient", "contact": [{"name": {"text": "a name"}, "telecom": [{"value": "1"}], "gender": "male"}]})
        );
        // Deleting the last child leaves no empty object or array behind.
        assert_eq!(
            patched(
                contact.clone(),
                vec![
                    op(&[typ("delete"), path("Patient.contact[0].name.text")]),
                    op(&[typ("delete"), path("Patient.contact.telecom")]),
                    op(&[typ("delete"), path("Patient.contact.gender")]),
                ]
            ),
            p
        );
        for (parts, why) in [
            (
                json!({"part": [{"name": "nope", "valueString": "x"}]}),
                "has no element nope",
            ),
            (
                json!({"part": [{"name": "name", "valueString": "x"}]}),
                "takes HumanName",
            ),
            (
                json!({"part": [{"name": "gender", "valueCode": "a"}, {"name": "gender", "valueCode": "b"}]}),
                "already has a value",
            ),
        ] {
            let e = refused(
                p.clone(),
                vec![op(&[
                    typ("add"),
                    path("Patient"),
                    name("contact"),
                    value(parts),
                ])],
            );
            assert!(e.message.contains(why), "{e}");
        }
        let e = refused(
            p,
            vec![op(&[
                typ("add"),
                path("Patient"),
                name("gender"),
                value(json!({"part": [{"name": "x", "valueString": "y"}]})),
            ])],
        );
        assert!(e.message.contains("not parts"), "{e}");
    }

    #[test]
    fn choice_elements() {
        let o = json!({"resourceType": "Observation", "status": "final", "code": {"text": "t"},
            "valueQuantity": {"value": 1}, "note": [{"text": "n"}]});
        let out = patched(
            o.clone(),
            vec![op(&[
                typ("replace"),
                path("Observation.value"),
                value(json!({"valueString": "high"})),
            ])],
        );
        let keys: Vec<&String> = out.as_object().expect("object").keys().collect();
        assert_eq!(
            keys,
            ["resourceType", "status", "code", "valueString", "note"]
        );
        let e = refused(
            o.clone(),
            vec![op(&[
                typ("add"),
                path("Observation"),
                name("value"),
                value(json!({"valueBoolean": true})),
            ])],
        );
        assert!(
            e.message.contains("valueQuantity already has a value"),
            "{e}"
        );
        let e = refused(
            o.clone(),
            vec![op(&[
                typ("replace"),
                path("Observation.value"),
                value(json!({"valueAddress": {"city": "X"}})),
            ])],
        );
        assert!(e.message.contains("not a Address"), "{e}");
        let bare = patched(o, vec![op(&[typ("delete"), path("Observation.value")])]);
        assert_eq!(
            patched(
                bare.clone(),
                vec![op(&[
                    typ("add"),
                    path("Observation"),
                    name("value"),
                    value(json!({"valueBoolean": true}))
                ])]
            )["valueBoolean"],
            json!(true)
        );
        assert_eq!(
            patched(
                bare.clone(),
                vec![op(&[
                    typ("add"),
                    path("Observation"),
                    name("valueBoolean"),
                    value(json!({"valueBoolean": true}))
                ])]
            )["valueBoolean"],
            json!(true)
        );
        let e = refused(
            bare,
            vec![op(&[
                typ("add"),
                path("Observation"),
                name("valueString"),
                value(json!({"valueBoolean": true})),
            ])],
        );
        assert!(e.message.contains("does not take"), "{e}");
    }

    #[test]
    fn lists() {
        let p = identifiers(&["1", "2", "3", "4"]);
        let ids = |v: &Value| -> Vec<String> {
            v["identifier"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|i| i["value"].as_str().unwrap_or("?").to_string())
                        .collect()
                })
                .unwrap_or_default()
        };
        let moved = |s: i64, d: i64| {
            ids(&patched(
                p.clone(),
                vec![op(&[
                    typ("move"),
                    path("Patient.identifier"),
                    int("source", s),
                    int("destination", d),
                ])],
            ))
        };
        assert_eq!(moved(3, 1), ["1", "4", "2", "3"]);
        assert_eq!(moved(0, 3), ["2", "3", "4", "1"]);
        assert_eq!(moved(2, 2), ["1", "2", "3", "4"]);
        let e = refused(
            p.clone(),
            vec![op(&[
                typ("move"),
                path("Patient.identifier"),
                int("source", 4),
                int("destination", 0),
            ])],
        );
        assert!(e.message.contains("source 4 is out of range"), "{e}");
        let inserted = |i: i64| {
            apply(
                &p,
                &patch(vec![op(&[
                    typ("insert"),
                    path("Patient.identifier"),
                    int("index", i),
                    value(json!({"valueIdentifier": {"value": "new"}})),
                ])]),
            )
            .map(|v| ids(&v))
        };
        assert_eq!(inserted(0).expect("inserted"), ["new", "1", "2", "3", "4"]);
        assert_eq!(inserted(4).expect("inserted"), ["1", "2", "3", "4", "new"]);
        assert!(inserted(5).is_err());
        // The path must select the whole list.
        let e = refused(
            p.clone(),
            vec![op(&[
                typ("insert"),
                path("Patient.identifier.where(value = '2')"),
                int("index", 0),
                value(json!({"valueIdentifier": {"value": "new"}})),
            ])],
        );
        assert!(e.message.contains("whole list"), "{e}");
        let e = refused(
            json!({"resourceType": "Patient", "birthDate": "2000"}),
            vec![op(&[
                typ("move"),
                path("Patient.birthDate"),
                int("source", 0),
                int("destination", 0),
            ])],
        );
        assert!(e.message.contains("does not select a list"), "{e}");
        // An empty list is named by its parent's path.
        let empty = json!({"resourceType": "Patient"});
        assert_eq!(
            patched(
                empty.clone(),
                vec![op(&[
                    typ("insert"),
                    path("Patient.identifier"),
                    int("index", 0),
                    value(json!({"valueIdentifier": {"value": "new"}}))
                ])]
            ),
            identifiers(&["new"])
        );
        for bad_path in [
            "Patient.gender",
            "Patient.identifier.where(value = 'x')",
            "Patient.nope",
        ] {
            refused(
                empty.clone(),
                vec![op(&[
                    typ("insert"),
                    path(bad_path),
                    int("index", 0),
                    value(json!({"valueIdentifier": {"value": "new"}})),
                ])],
            );
        }
        refused(
            empty,
            vec![op(&[
                typ("insert"),
                path("Patient.identifier"),
                int("index", 1),
                value(json!({"valueIdentifier": {"value": "new"}})),
            ])],
        );
        // Deletes: one at a time, and nothing to delete is fine.
        assert_eq!(
            ids(&patched(
                p.clone(),
                vec![op(&[typ("delete"), path("Patient.identifier[1]")])]
            )),
            ["1", "3", "4"]
        );
        assert_eq!(
            patched(
                p.clone(),
                vec![op(&[
                    typ("delete"),
                    path("Patient.identifier.where(value = 'x')")
                ])]
            ),
            p
        );
        let e = refused(p, vec![op(&[typ("delete"), path("Patient.identifier")])]);
        assert!(e.message.contains("matches 4 elements"), "{e}");
    }

    #[test]
    fn contained_resources() {
        let p = json!({"resourceType": "Patient",
            "contained": [{"resourceType": "Organization", "id": "o1", "name": "Old"}],
            "managingOrganization": {"reference": "#o1"}});
        let out = patched(
            p.clone(),
            vec![
                op(&[
                    typ("replace"),
                    path("Patient.contained.where(id = 'o1').name"),
                    value(json!({"valueString": "New"})),
                ]),
                op(&[
                    typ("add"),
                    path("Patient.managingOrganization.resolve()"),
                    name("alias"),
                    value(json!({"valueString": "N"})),
                ]),
            ],
        );
        assert_eq!(
            out["contained"],
            json!([{"resourceType": "Organization", "id": "o1", "name": "New", "alias": ["N"]}])
        );
        let out = patched(
            p.clone(),
            vec![op(&[
                typ("add"),
                path("Patient"),
                name("contained"),
                value(json!({"resource": {"resourceType": "Practitioner", "id": "p1"}})),
            ])],
        );
        assert_eq!(out["contained"][1]["resourceType"], json!("Practitioner"));
        let e = refused(
            json!({"resourceType": "Patient", "managingOrganization": {"reference": "Organization/1"}}),
            vec![op(&[
                typ("replace"),
                path("Patient.managingOrganization.resolve().id"),
                value(json!({"valueString": "2"})),
            ])],
        );
        assert!(e.message.contains("outside the resource"), "{e}");
    }

    #[test]
    fn what_a_path_may_select() {
        let p = json!({"resourceType": "Patient", "name": [{"family": "A"}, {"family": "B"}]});
        for (operation, why) in [
            (
                op(&[
                    typ("replace"),
                    path("Patient.name.family"),
                    value(json!({"valueString": "C"})),
                ]),
                "matches 2 elements",
            ),
            (
                op(&[
                    typ("replace"),
                    path("Patient.birthDate"),
                    value(json!({"valueDate": "2000"})),
                ]),
                "no content found",
            ),
            (
                op(&[
                    typ("add"),
                    path("Patient.contact"),
                    name("gender"),
                    value(json!({"valueCode": "male"})),
                ]),
                "no content found",
            ),
            (
                op(&[typ("delete"), path("Patient.name.count()")]),
                "computed value",
            ),
            (op(&[typ("delete"), path("Patient")]), "resource itself"),
            (
                op(&[
                    typ("replace"),
                    path("Patient"),
                    value(json!({"valueString": "x"})),
                ]),
                "resource itself",
            ),
            (
                op(&[typ("delete"), path("Patient.nmae")]),
                "path Patient.nmae",
            ),
            (op(&[typ("delete"), path("Patient.name.single()")]), "path"),
            (
                op(&[
                    typ("add"),
                    path("Patient"),
                    name("nope"),
                    value(json!({"valueString": "x"})),
                ]),
                "no element nope",
            ),
        ] {
            let e = refused(
                p.clone(),
                vec![op(&[typ("delete"), path("Patient.gender")]), operation],
            );
            assert_eq!(e.kind, ErrorKind::Unprocessable, "{e}");
            assert_eq!(
                e.expression.as_deref(),
                Some("Parameters.parameter[1]"),
                "{e}"
            );
            assert!(e.message.starts_with("operation 1 ("), "{e}");
            assert!(e.message.contains(why), "{why}: {e}");
        }
        let e = refused(json!({"resourceType": "Nope"}), vec![]);
        assert_eq!(e.kind, ErrorKind::Unprocessable);
    }

    #[test]
    fn usual_paths_are_understood() {
        let o = json!({"resourceType": "Observation", "status": "final", "code": {"text": "t"},
            "valueQuantity": {"value": 1},
            "extension": [{"url": "http://example.org/a", "valueString": "a"}],
            "component": [{"code": {"coding": [{"code": "x"}]}, "valueString": "c"}],
            "contained": [{"resourceType": "Patient", "id": "p", "name": [{"use": "official", "given": ["G"]}]}]});
        for (what, expression) in [
            ("birthDate", "Patient.birthDate"),
            ("birthDate", "birthDate"),
            (
                "name.given",
                "Patient.name.where(use = 'official').given[0]",
            ),
            (
                "extension",
                "Observation.extension.where(url = 'http://example.org/a').value",
            ),
            (
                "extension",
                "Observation.extension('http://example.org/a').value",
            ),
            ("value", "Observation.value.ofType(Quantity).value"),
            ("value", "(Observation.value as Quantity).value"),
            (
                "component",
                "Observation.component.where(code.coding.code = 'x').value",
            ),
            (
                "contained",
                "Observation.contained.ofType(Patient).name.given",
            ),
            (
                "contained",
                "Observation.contained.where(id = 'p').name.first().given.last()",
            ),
            ("status", "%resource.status"),
        ] {
            let resource = if expression.contains("Patient.") || expression == "birthDate" {
                json!({"resourceType": "Patient", "birthDate": "2000", "name": [{"use": "official", "given": ["G"]}]})
            } else {
                o.clone()
            };
            let out = patched(
                resource.clone(),
                vec![op(&[typ("delete"), path(expression)])],
            );
            assert_ne!(out, resource, "{what}: {expression} deleted nothing");
        }
    }

    #[test]
    fn malformed_patches() {
        let p = json!({"resourceType": "Patient"});
        let cases = [
            (json!({"resourceType": "Patient"}), None),
            (
                json!({"resourceType": "Parameters", "parameter": {}}),
                Some("Parameters.parameter"),
            ),
            (
                json!({"resourceType": "Parameters", "parameter": [1]}),
                Some("Parameters.parameter[0]"),
            ),
            (
                patch(vec![json!({"name": "op", "part": []})]),
                Some("Parameters.parameter[0].name"),
            ),
            (
                patch(vec![json!({"name": "operation"})]),
                Some("Parameters.parameter[0]"),
            ),
            (
                patch(vec![
                    json!({"name": "operation", "valueString": "x", "part": []}),
                ]),
                Some("Parameters.parameter[0]"),
            ),
            (
                patch(vec![op(&[path("Patient")])]),
                Some("Parameters.parameter[0]"),
            ),
            (
                patch(vec![op(&[typ("upsert"), path("Patient")])]),
                Some("Parameters.parameter[0].part[0]"),
            ),
            (
                patch(vec![op(&[typ("delete")])]),
                Some("Parameters.parameter[0]"),
            ),
            (
                patch(vec![op(&[typ("delete"), path("Patient.")])]),
                Some("Parameters.parameter[0].part[1]"),
            ),
            (
                patch(vec![op(&[
                    typ("delete"),
                    ("path", json!({"valueInteger": 1})),
                ])]),
                Some("Parameters.parameter[0].part[1]"),
            ),
            (
                patch(vec![op(&[typ("delete"), path("Patient"), name("x")])]),
                Some("Parameters.parameter[0].part[2]"),
            ),
            (
                patch(vec![op(&[typ("delete"), path("Patient"), path("Patient")])]),
                Some("Parameters.parameter[0].part[2]"),
            ),
            (
                patch(vec![op(&[
                    typ("delete"),
                    path("Patient"),
                    ("colour", json!({"valueString": "x"})),
                ])]),
                Some("Parameters.parameter[0].part[2]"),
            ),
            (
                patch(vec![op(&[typ("add"), path("Patient"), name("gender")])]),
                Some("Parameters.parameter[0]"),
            ),
            (
                patch(vec![op(&[
                    typ("insert"),
                    path("Patient.identifier"),
                    int("index", -1),
                    value(json!({"valueIdentifier": {}})),
                ])]),
                Some("Parameters.parameter[0].part[2]"),
            ),
            (
                patch(vec![op(&[
                    typ("insert"),
                    path("Patient.identifier"),
                    ("index", json!({"valueDecimal": 1.5})),
                    value(json!({"valueIdentifier": {}})),
                ])]),
                Some("Parameters.parameter[0].part[2]"),
            ),
            (
                patch(vec![op(&[
                    typ("replace"),
                    path("Patient.gender"),
                    value(json!({"valueFoo": "x"})),
                ])]),
                Some("Parameters.parameter[0].part[2]"),
            ),
            (
                patch(vec![op(&[
                    typ("replace"),
                    path("Patient.gender"),
                    value(json!({"valueCode": "x", "valueString": "y"})),
                ])]),
                Some("Parameters.parameter[0].part[2]"),
            ),
            (
                patch(vec![op(&[
                    typ("replace"),
                    path("Patient.gender"),
                    value(json!({})),
                ])]),
                Some("Parameters.parameter[0].part[2]"),
            ),
            (
                patch(vec![op(&[
                    typ("replace"),
                    path("Patient.gender"),
                    value(json!({"valueCode": null})),
                ])]),
                Some("Parameters.parameter[0].part[2]"),
            ),
            (
                patch(vec![op(&[
                    typ("add"),
                    path("Patient"),
                    name("contact"),
                    value(json!({"part": []})),
                ])]),
                Some("Parameters.parameter[0].part[3]"),
            ),
            (
                patch(vec![op(&[
                    typ("add"),
                    path("Patient"),
                    name("contact"),
                    value(json!({"part": [{"valueString": "x"}]})),
                ])]),
                Some("Parameters.parameter[0].part[3]"),
            ),
        ];
        for (patch, expression) in cases {
            let e = match apply(&p, &patch) {
                Ok(v) => panic!("{patch}: expected an error, got {v}"),
                Err(e) => e,
            };
            assert_eq!(e.kind, ErrorKind::Invalid, "{patch}: {e}");
            assert_eq!(e.expression.as_deref(), expression, "{patch}: {e}");
            assert_eq!(e.issue().code, "invalid");
        }
        // No operations: nothing changes.
        assert_eq!(apply(&p, &json!({"resourceType": "Parameters"})), Ok(p));
    }

    #[test]
    fn nesting_is_bounded() {
        let mut parts = json!({"name": "url", "valueUri": "http://example.org"});
        for _ in 0..MAX_DEPTH + 2 {
            parts = json!({"name": "extension", "part": [parts]});
        }
        let mut value_part = parts;
        value_part["name"] = json!("value");
        let operation = json!({"name": "operation", "part": [
            {"name": "type", "valueCode": "add"},
            {"name": "path", "valueString": "Patient"},
            {"name": "name", "valueString": "extension"},
            value_part,
        ]});
        let e = refused(json!({"resourceType": "Patient"}), vec![operation]);
        assert!(e.message.contains("deeper"), "{e}");
    }

    #[test]
    fn random_operations_never_panic() {
        let start = json!({"resourceType": "Patient", "id": "p",
            "identifier": [{"value": "1"}, {"value": "2"}],
            "name": [{"family": "F", "given": ["A", "B"], "_given": [null, {"id": "g"}]}],
            "_birthDate": {"extension": [{"url": "http://x", "valueString": "y"}]},
            "contact": [{"gender": "male"}],
            "contained": [{"resourceType": "Organization", "id": "o", "name": "O"}]});
        let types = ["add", "insert", "delete", "replace", "move"];
        let paths = [
            "Patient",
            "Patient.name",
            "Patient.name[0]",
            "Patient.name.given",
            "Patient.name[0].given[1]",
            "Patient.birthDate",
            "Patient.identifier",
            "Patient.identifier[1]",
            "Patient.contact[0]",
            "Patient.contained[0]",
            "Patient.name.where(use = 'x')",
            "1 + 1",
            "Patient.name.first().family",
            "%resource",
            "Patient.deceased",
            "(",
            "",
            "Patient.birthDate.extension",
            "Patient.contact.gender",
            "Patient.name.given.extension",
            "Patient.contained.name",
            "Patient.id",
        ];
        let names = [
            "given",
            "family",
            "extension",
            "birthDate",
            "identifier",
            "value",
            "deceasedBoolean",
            "contact",
            "text",
            "nope",
            "name",
            "id",
            "url",
            "alias",
        ];
        let values = [
            json!({"valueString": "s"}),
            json!({"valueDate": "2000"}),
            json!({"valueIdentifier": {"value": "3"}}),
            json!({"valueBoolean": true}),
            json!({"_valueString": {"id": "x"}}),
            json!({"valueString": "s", "_valueString": {"extension": [{"url": "u", "valueCode": "c"}]}}),
            json!({"part": [{"name": "gender", "valueCode": "female"}, {"name": "name", "valueHumanName": {"text": "t"}}]}),
            json!({"part": [{"name": "url", "valueUri": "u"}, {"name": "valueString", "valueString": "v"}]}),
            json!({"resource": {"resourceType": "Organization", "id": "o2"}}),
            json!({"valueHumanName": {"family": "G"}}),
            json!({"part": []}),
            json!({"valueInteger": 3}),
        ];
        let integers = [
            json!(0),
            json!(1),
            json!(0),
            json!(1),
            json!(2),
            json!(5),
            json!(-1),
            json!("1"),
        ];
        let mut roll = Roll(0x9e37_79b9_7f4a_7c15);
        let mut resource = start.clone();
        let mut applied = 0;
        for round in 0..10_000 {
            if round % 25 == 0 {
                resource = start.clone();
            }
            let operations: Vec<Value> = (0..1 + usize::from(roll.next(4) == 0))
                .map(|_| {
                    let t = types.get(roll.next(types.len() + 1)).unwrap_or(&"bogus");
                    let needs = Type::parse(t).map_or(&[][..], Type::needs);
                    let mut candidates = vec![
                        ("type", json!({"valueCode": t})),
                        (
                            "path",
                            json!({"valueString": paths[roll.next(paths.len())]}),
                        ),
                        (
                            "name",
                            json!({"valueString": names[roll.next(names.len())]}),
                        ),
                        ("value", values[roll.next(values.len())].clone()),
                    ];
                    for part in ["index", "source", "destination"] {
                        let i = integers[roll.next(integers.len())].clone();
                        candidates.push((part, json!({"valueInteger": i})));
                    }
                    let mut parts = Vec::new();
                    for (name, part) in candidates {
                        // Mostly the parts the type needs, now and then one more or one less.
                        let wanted = matches!(name, "type" | "path") || needs.contains(&name);
                        if wanted == (roll.next(40) > 0) {
                            let mut p = json!({"name": name});
                            if let (Some(o), Value::Object(fields)) = (p.as_object_mut(), part) {
                                o.extend(fields);
                            }
                            parts.push(p);
                        }
                    }
                    json!({"name": "operation", "part": parts})
                })
                .collect();
            if let Ok(out) = apply(&resource, &patch(operations)) {
                assert!(depth(&out) <= MAX_DEPTH);
                applied += usize::from(out != resource);
                resource = out;
            }
        }
        // Enough of them apply for the states to vary.
        assert!(applied > 300, "{applied}");
    }

    #[test]
    fn mutated_text_never_panics() {
        let resource = json!({"resourceType": "Patient", "name": [{"given": ["A"]}], "identifier": [{"value": "1"}]});
        let valid = r#"{"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"insert"},{"name":"path","valueString":"Patient.identifier"},{"name":"index","valueInteger":1},{"name":"value","valueIdentifier":{"value":"2"}}]},{"name":"operation","part":[{"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient.name[0]"},{"name":"name","valueString":"given"},{"name":"value","valueString":"B"}]}]}"#;
        assert!(apply(&resource, &serde_json::from_str(valid).expect("json")).is_ok());
        let alphabet = b"{}[]\",:._0129abdeginprtvxP()'";
        for bytes in mutations(valid, alphabet, 10_000, 0x2545_f491_4f6c_dd1d) {
            if let Ok(patch) = serde_json::from_slice::<Value>(&bytes) {
                let _ = apply(&resource, &patch);
            }
        }
    }
}
