//! What an expression yields: [`Item`]s that are either nodes of the input
//! resource (borrowed JSON with their FHIR type) or values the expression
//! computed ([`SystemValue`]), and [`Prim`], the borrowed primitive view of
//! either that operators and functions work on without copying strings.

use super::decimal::Decimal;
use super::quantity::Quantity;
use super::temporal::{Temporal, TemporalKind};
use crate::fhir::model::Element;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// The elements of a node's type, for navigating below it (private to the engine).
#[derive(Debug, Clone, Copy, Default)]
pub struct Shape(pub(crate) Option<&'static [Element]>);

/// A value of a FHIRPath System type.
#[derive(Debug, Clone, PartialEq)]
pub enum SystemValue {
    Boolean(bool),
    String(Arc<str>),
    Integer(i64),
    /// Keeps its digits (`1.50`).
    Decimal(Decimal),
    /// Keeps its precision (`2015-02`).
    Date(Temporal),
    DateTime(Temporal),
    Time(Temporal),
    Quantity(Quantity),
}

impl SystemValue {
    pub fn string(s: &str) -> SystemValue {
        SystemValue::String(Arc::from(s))
    }

    /// A date, date-time or time value of its kind.
    pub fn temporal(t: Temporal) -> SystemValue {
        match t.kind {
            TemporalKind::Date => SystemValue::Date(t),
            TemporalKind::DateTime => SystemValue::DateTime(t),
            TemporalKind::Time => SystemValue::Time(t),
        }
    }

    /// The System type name (`Integer`, `DateTime`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            SystemValue::Boolean(_) => "Boolean",
            SystemValue::String(_) => "String",
            SystemValue::Integer(_) => "Integer",
            SystemValue::Decimal(_) => "Decimal",
            SystemValue::Date(_) => "Date",
            SystemValue::DateTime(_) => "DateTime",
            SystemValue::Time(_) => "Time",
            SystemValue::Quantity(_) => "Quantity",
        }
    }
}

impl fmt::Display for SystemValue {
    /// The `toString()` form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SystemValue::Boolean(b) => write!(f, "{b}"),
            SystemValue::String(s) => f.write_str(s),
            SystemValue::Integer(i) => write!(f, "{i}"),
            SystemValue::Decimal(d) => write!(f, "{d}"),
            SystemValue::Date(t) | SystemValue::DateTime(t) | SystemValue::Time(t) => {
                write!(f, "{t}")
            }
            SystemValue::Quantity(q) => write!(f, "{q}"),
        }
    }
}

/// One item of a collection.
#[derive(Debug, Clone)]
pub enum Item<'a> {
    /// A node of the input: its JSON value (for a primitive the JSON primitive,
    /// or `Value::Null` when only the `_x` sibling exists), that sibling, and
    /// its FHIR type when known (`HumanName`, `Quantity`, `dateTime`, `code`,
    /// `BackboneElement`, `Patient`, …).
    Node {
        value: &'a Value,
        extension: Option<&'a Value>,
        type_name: Option<&'static str>,
        shape: Shape,
    },
    /// A value computed by the expression.
    Value(SystemValue),
    /// A resource `resolve()` got from the resolver, or a node below one.
    Owned {
        value: Arc<Value>,
        extension: Option<Arc<Value>>,
        type_name: Option<&'static str>,
        shape: Shape,
    },
}

/// The shared null of primitives that only have an `_x` sibling.
pub(crate) static NULL: Value = Value::Null;

/// A primitive value seen through an item, borrowing strings where it can.
#[derive(Debug, Clone)]
pub(crate) enum Prim<'x> {
    Boolean(bool),
    String(&'x str),
    Integer(i64),
    Decimal(Decimal),
    Date(Temporal),
    DateTime(Temporal),
    Time(Temporal),
    Quantity(Cow<'x, Quantity>),
}

impl<'x> Prim<'x> {
    /// A date, date-time or time of its kind.
    pub(crate) fn temporal(t: Temporal) -> Prim<'x> {
        match t.kind {
            TemporalKind::Date => Prim::Date(t),
            TemporalKind::DateTime => Prim::DateTime(t),
            TemporalKind::Time => Prim::Time(t),
        }
    }

    /// The owned System value.
    pub(crate) fn to_value(&self) -> SystemValue {
        match self {
            Prim::Boolean(b) => SystemValue::Boolean(*b),
            Prim::String(s) => SystemValue::string(s),
            Prim::Integer(i) => SystemValue::Integer(*i),
            Prim::Decimal(d) => SystemValue::Decimal(*d),
            Prim::Date(t) => SystemValue::Date(*t),
            Prim::DateTime(t) => SystemValue::DateTime(*t),
            Prim::Time(t) => SystemValue::Time(*t),
            Prim::Quantity(q) => SystemValue::Quantity(q.clone().into_owned()),
        }
    }

    /// The `toString()` text.
    pub(crate) fn to_text(&self) -> Cow<'_, str> {
        match self {
            Prim::String(s) => Cow::Borrowed(s),
            other => Cow::Owned(other.to_value().to_string()),
        }
    }
}

/// FHIR types whose JSON form is a Quantity.
fn is_quantity_type(t: &str) -> bool {
    matches!(
        t,
        "Quantity" | "Age" | "Duration" | "Distance" | "Count" | "MoneyQuantity" | "SimpleQuantity"
    )
}

/// A JSON number's text (kept exactly thanks to `arbitrary_precision`).
fn number_text(n: &serde_json::Number) -> String {
    n.to_string()
}

/// The primitive value of a JSON node of FHIR type `t` (or untyped).
fn json_prim<'x>(v: &'x Value, t: Option<&str>) -> Option<Prim<'x>> {
    match v {
        Value::Bool(b) => Some(Prim::Boolean(*b)),
        Value::Number(n) => {
            let text = number_text(n);
            let integer_type = matches!(
                t,
                Some("integer" | "positiveInt" | "unsignedInt" | "integer64")
            );
            let decimal = Decimal::parse(&text)?;
            if integer_type || (t.is_none() && !text.contains(['.', 'e', 'E'])) {
                decimal.to_i64().map(Prim::Integer)
            } else {
                Some(Prim::Decimal(decimal))
            }
        }
        Value::String(s) => Some(match t {
            Some("date") => Temporal::parse_date(s).map_or(Prim::String(s), Prim::Date),
            Some("dateTime" | "instant") => {
                Temporal::parse_datetime(s).map_or(Prim::String(s), Prim::DateTime)
            }
            Some("time") => Temporal::parse_time(s).map_or(Prim::String(s), Prim::Time),
            _ => Prim::String(s),
        }),
        Value::Object(o) if t.is_some_and(is_quantity_type) => {
            let value = match o.get("value")? {
                Value::Number(n) => Decimal::parse(&number_text(n))?,
                _ => return None,
            };
            let code = o.get("code").and_then(Value::as_str);
            let system = o.get("system").and_then(Value::as_str);
            let unit = match (code, system) {
                (Some(c), None | Some("http://unitsofmeasure.org")) => c,
                _ => o
                    .get("unit")
                    .and_then(Value::as_str)
                    .or(code)
                    .unwrap_or("1"),
            };
            Some(Prim::Quantity(Cow::Owned(Quantity::new(value, unit))))
        }
        _ => None,
    }
}

impl<'a> Item<'a> {
    /// A computed string.
    pub fn string(s: &str) -> Item<'a> {
        Item::Value(SystemValue::string(s))
    }

    pub fn boolean(b: bool) -> Item<'a> {
        Item::Value(SystemValue::Boolean(b))
    }

    /// The FHIR type name of a node (`None` for computed values).
    pub fn type_name(&self) -> Option<&'static str> {
        match self {
            Item::Node { type_name, .. } | Item::Owned { type_name, .. } => *type_name,
            Item::Value(_) => None,
        }
    }

    /// The JSON of a node (`None` for computed values).
    pub fn json(&self) -> Option<&Value> {
        match self {
            Item::Node { value, .. } => Some(value),
            Item::Owned { value, .. } => Some(value),
            Item::Value(_) => None,
        }
    }

    /// The `_x` sibling of a primitive node.
    pub fn extension(&self) -> Option<&Value> {
        match self {
            Item::Node { extension, .. } => *extension,
            Item::Owned { extension, .. } => extension.as_deref(),
            Item::Value(_) => None,
        }
    }

    /// The primitive value of the item, if it has one (a FHIR Quantity counts).
    pub(crate) fn prim(&self) -> Option<Prim<'_>> {
        match self {
            Item::Value(v) => Some(match v {
                SystemValue::Boolean(b) => Prim::Boolean(*b),
                SystemValue::String(s) => Prim::String(s),
                SystemValue::Integer(i) => Prim::Integer(*i),
                SystemValue::Decimal(d) => Prim::Decimal(*d),
                SystemValue::Date(t) => Prim::Date(*t),
                SystemValue::DateTime(t) => Prim::DateTime(*t),
                SystemValue::Time(t) => Prim::Time(*t),
                SystemValue::Quantity(q) => Prim::Quantity(Cow::Borrowed(q)),
            }),
            _ => json_prim(self.json()?, self.type_name()),
        }
    }

    /// Whether the item is a primitive (a JSON primitive, or `null` with `_x`).
    pub(crate) fn is_primitive_node(&self) -> bool {
        self.json()
            .is_some_and(|v| !matches!(v, Value::Object(_) | Value::Array(_)))
    }

    /// Same node (the same JSON in the same place), for de-duplication.
    pub(crate) fn same_node(&self, other: &Item<'_>) -> bool {
        match (self, other) {
            (
                Item::Node {
                    value: a,
                    extension: ea,
                    ..
                },
                Item::Node {
                    value: b,
                    extension: eb,
                    ..
                },
            ) => {
                std::ptr::eq(*a, *b)
                    && match (ea, eb) {
                        (Some(x), Some(y)) => std::ptr::eq(*x, *y),
                        (None, None) => true,
                        _ => false,
                    }
            }
            (Item::Owned { value: a, .. }, Item::Owned { value: b, .. }) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}
