//! Types in expressions: resolving a type specifier (`Quantity`,
//! `FHIR.Patient`, `System.Integer`, `string`) against the FHIR model and the
//! System types, and testing items against it for `is`, `as` and `ofType`,
//! with the FHIR type hierarchy (`code` is a `string`, `Age` is a `Quantity`,
//! `Patient` is a `DomainResource`).

use super::error::Error;
use super::value::{Item, SystemValue};
use crate::fhir::model::{Kind, model};

/// The System types.
const SYSTEM_TYPES: &[&str] = &[
    "Boolean", "String", "Integer", "Decimal", "Date", "DateTime", "Time", "Quantity",
];

/// A resolved type specifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeSpec {
    /// A FHIR type (`FHIR.Quantity`, `code`, `Patient`).
    Fhir(&'static str),
    /// A System type (`System.Integer`, `Boolean`).
    System(&'static str),
    /// Unqualified `Quantity`: the FHIR type and the System one.
    Quantity,
    /// A `System.` name that is no type: nothing is of it.
    Nothing,
}

/// The model's name for a FHIR type, if it is one.
pub(crate) fn fhir_type(name: &str) -> Option<&'static str> {
    model().type_def(name).map(|t| t.name.as_str())
}

fn system_type(name: &str) -> Option<&'static str> {
    SYSTEM_TYPES.iter().find(|t| **t == name).copied()
}

impl TypeSpec {
    /// Resolves `Name`, `FHIR.Name` or `System.Name`; unknown names are errors.
    pub(crate) fn resolve(name: &str) -> Result<TypeSpec, Error> {
        let unknown = || Error::syntax(format!("unknown type {name}"));
        if let Some(n) = name.strip_prefix("FHIR.") {
            return fhir_type(n).map(TypeSpec::Fhir).ok_or_else(unknown);
        }
        if let Some(n) = name.strip_prefix("System.") {
            return Ok(system_type(n).map_or(TypeSpec::Nothing, TypeSpec::System));
        }
        if name == "Quantity" {
            return Ok(TypeSpec::Quantity);
        }
        fhir_type(name)
            .map(TypeSpec::Fhir)
            .or_else(|| system_type(name).map(TypeSpec::System))
            .ok_or_else(unknown)
    }

    /// The FHIR type name, when the specifier names one.
    pub(crate) fn fhir_name(self) -> Option<&'static str> {
        match self {
            TypeSpec::Fhir(n) => Some(n),
            TypeSpec::Quantity => Some("Quantity"),
            _ => None,
        }
    }

    /// Whether an item is of this type. `exact` (for `as` and `ofType` on
    /// primitives) does not accept subtypes: a `code` is a `string` for `is`
    /// but `as(string)` of a `code` is empty.
    pub(crate) fn matches(self, item: &Item<'_>, exact: bool) -> bool {
        match (self, item) {
            (TypeSpec::Nothing, _) => false,
            (TypeSpec::System(t), Item::Value(v)) => v.type_name() == t,
            (TypeSpec::Quantity, Item::Value(SystemValue::Quantity(_))) => true,
            (TypeSpec::Fhir(_) | TypeSpec::Quantity, Item::Value(_)) => false,
            (TypeSpec::System(_), _) => false,
            (spec, node) => {
                let (Some(wanted), Some(actual)) = (spec.fhir_name(), node.type_name()) else {
                    return false;
                };
                let primitive = model()
                    .type_def(actual)
                    .is_some_and(|t| t.kind == Kind::Primitive);
                if exact && primitive {
                    actual == wanted
                } else {
                    is_subtype(actual, wanted)
                }
            }
        }
    }
}

/// Whether FHIR type `actual` is `wanted` or derives from it.
pub(crate) fn is_subtype(actual: &str, wanted: &str) -> bool {
    let mut current = Some(actual);
    for _ in 0..16 {
        let Some(t) = current else {
            return false;
        };
        if t == wanted {
            return true;
        }
        current = model().type_def(t).and_then(|d| d.base.as_deref());
    }
    false
}

/// The namespace and name of an item's type, for `type()`.
pub(crate) fn type_info(item: &Item<'_>) -> Option<(&'static str, &'static str)> {
    match item {
        Item::Value(v) => Some(("System", v.type_name())),
        node => node.type_name().map(|t| ("FHIR", t)),
    }
}
