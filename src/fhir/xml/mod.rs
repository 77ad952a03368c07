//! The FHIR R4 XML format (`application/fhir+xml`): conversion between a resource
//! in its JSON form (as the server stores it) and its XML form, both ways, driven
//! by the type model so that elements come out in definition order, primitives
//! carry `value`/`id` attributes and extensions, resources nest inside their
//! elements and narrative stays inline XHTML.
//!
//! Reading is defensive: no DTD (so no entity expansion or external entities),
//! only the predefined entities and character references, a nesting limit, strict
//! UTF-8, and an [`Issue`] with a FHIRPath expression for every fault. Elements
//! read out of definition order are accepted and put in order. Number text is
//! kept as written, within what `serde_json` keeps: it writes exponents as
//! `e+N`/`e-N` (`1E5` reads as `1e+5`) both here and when it parses JSON.

mod escape;
mod read;
mod slots;
mod write;
mod xhtml;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_bad;

use crate::fhir::model::{Element, Kind, Model, TypeDef};
use crate::fhir::outcome::Issue;
use serde_json::Value;

/// The FHIR namespace.
pub(crate) const FHIR_NS: &str = "http://hl7.org/fhir";
/// The XHTML namespace of narrative.
pub(crate) const XHTML_NS: &str = "http://www.w3.org/1999/xhtml";
/// The XML Schema instance namespace (`xsi:schemaLocation` is tolerated on resources).
pub(crate) const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// How deep elements may nest, in XML and in JSON.
pub(crate) const MAX_DEPTH: usize = 128;

/// Writes a resource (JSON form, as stored) as FHIR XML. `pretty` indents.
pub fn to_xml(resource: &Value, pretty: bool) -> Result<String, Issue> {
    write::write_document(resource, pretty)
}

/// Reads a FHIR XML resource into its JSON form. Errors carry `expression`
/// (FHIRPath of the bad element, e.g. `Patient.name[0].family`) and an IssueType
/// code (`structure`, `invalid`, `value`, `security`, `too-long`).
pub fn from_xml(bytes: &[u8]) -> Result<Value, Vec<Issue>> {
    read::read_document(bytes).map_err(|issue| vec![issue])
}

/// How the content of an element is represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Narrative XHTML (`Narrative.div`).
    Xhtml,
    /// A resource wrapped in the element (`contained`, `Bundle.entry.resource`).
    Resource,
    /// A primitive: `value` attribute, `id` attribute, extensions.
    Primitive,
    /// Anything else: child elements.
    Complex,
}

/// The shape of `element` when it holds a value of type `type_code`.
pub(crate) fn shape(model: &Model, element: &Element, type_code: &str) -> Shape {
    if element.xhtml {
        return Shape::Xhtml;
    }
    if !element.children.is_empty() || element.content_ref.is_some() {
        return Shape::Complex;
    }
    match model.type_def(type_code).map(|t| t.kind) {
        Some(Kind::Resource) => Shape::Resource,
        Some(Kind::Primitive) => Shape::Primitive,
        _ => Shape::Complex,
    }
}

/// The element of `elements` that an XML element or JSON property name (without a
/// leading `_`) stands for: its index, the element and the type the name selects.
pub(crate) fn find_element<'m>(
    elements: &'m [Element],
    name: &str,
) -> Option<(usize, &'m Element, &'m str)> {
    elements.iter().enumerate().find_map(|(i, e)| {
        let matches = if e.choice {
            name.starts_with(e.name.as_str())
        } else {
            name == e.name
        };
        if !matches {
            return None;
        }
        e.type_for_key(name).map(|t| (i, e, t))
    })
}

/// The elements below an element holding a value of type `type_code`, or none.
pub(crate) fn child_elements<'m>(
    model: &'m Model,
    element: &'m Element,
    type_code: &str,
) -> &'m [Element] {
    model.children(element, type_code).unwrap_or(&[])
}

/// The type definition of a primitive type code, if it is one.
pub(crate) fn primitive_type<'m>(model: &'m Model, type_code: &str) -> Option<&'m TypeDef> {
    model
        .type_def(type_code)
        .filter(|t| t.kind == Kind::Primitive && t.primitive.is_some())
}

/// Where an element is, as a chain of names built on the stack and rendered
/// into a FHIRPath expression (`Patient.name[0].family`) only when an issue needs it.
#[derive(Clone, Copy)]
pub(crate) struct Loc<'a> {
    parent: Option<&'a Loc<'a>>,
    name: &'a str,
    index: Option<usize>,
}

impl<'a> Loc<'a> {
    /// The root of a path (a resource type).
    pub(crate) fn root(name: &'a str) -> Loc<'a> {
        Loc {
            parent: None,
            name,
            index: None,
        }
    }

    /// `self.name`, or `self.name[index]` for an occurrence of a repeating element.
    pub(crate) fn child(&'a self, name: &'a str, index: Option<usize>) -> Loc<'a> {
        Loc {
            parent: Some(self),
            name,
            index,
        }
    }

    /// The FHIRPath expression.
    pub(crate) fn render(&self) -> String {
        let mut parts = vec![self];
        while let Some(parent) = parts.last().and_then(|p| p.parent) {
            parts.push(parent);
        }
        let mut out = String::new();
        for part in parts.iter().rev() {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part.name);
            if let Some(i) = part.index {
                out.push_str(&format!("[{i}]"));
            }
        }
        out
    }
}

/// Places an issue at `loc` unless it already has a more precise expression.
pub(crate) fn located(issue: Issue, loc: &Loc) -> Issue {
    if issue.expression.is_some() {
        issue
    } else {
        issue.at(loc.render())
    }
}
