//! The functions FHIR adds to FHIRPath: `extension(url)`, `hasValue()`,
//! `getValue()`, `resolve()`, `memberOf()` (no terminology service: empty),
//! `htmlChecks()` (true) and `conformsTo()` (the core StructureDefinition of
//! a resource type).

use super::Args;
use crate::fhirpath::ast::Func;
use crate::fhirpath::error::Error;
use crate::fhirpath::eval::{Items, boolean, single};
use crate::fhirpath::navigate;
use crate::fhirpath::types::{fhir_type, is_subtype};
use crate::fhirpath::value::{Item, Prim};
use serde_json::{Value, json};
use std::sync::Arc;

const CORE_PROFILE: &str = "http://hl7.org/fhir/StructureDefinition/";

pub(super) fn call<'a>(
    func: Func,
    input: Items<'a>,
    args: &Args<'_, '_, 'a>,
) -> Result<Items<'a>, Error> {
    Ok(match func {
        Func::Extension => {
            let Some(url) = args.string(0)? else {
                return Ok(Vec::new());
            };
            args.ev
                .member(&input, "extension")
                .into_iter()
                .filter(|e| {
                    e.json().and_then(|j| j.get("url")).and_then(Value::as_str)
                        == Some(url.as_str())
                })
                .collect()
        }
        Func::HasValue => {
            let item = single(&input, "hasValue()")?;
            boolean(item.is_some_and(|i| i.is_primitive_node() && i.prim().is_some()))
        }
        Func::GetValue => match single(&input, "getValue()")? {
            Some(i) if i.is_primitive_node() => i
                .prim()
                .map(|p| Item::Value(p.to_value()))
                .into_iter()
                .collect(),
            _ => Vec::new(),
        },
        Func::Resolve => {
            let mut out = Vec::new();
            for item in &input {
                if let Some(found) = resolve(args, item) {
                    out.push(found);
                }
            }
            out
        }
        Func::MemberOf => Vec::new(),
        Func::HtmlChecks => boolean(true),
        _ => {
            let Some(url) = args.string(0)? else {
                return Ok(Vec::new());
            };
            let wanted = url
                .strip_prefix(CORE_PROFILE)
                .and_then(fhir_type)
                .ok_or_else(|| Error::execution(format!("unknown profile {url}")))?;
            input
                .iter()
                .map(|i| Item::boolean(i.type_name().is_some_and(|t| is_subtype(t, wanted))))
                .collect()
        }
    })
}

/// The reference text of a Reference node, or of a string (canonical, uri).
fn reference_of(item: &Item<'_>) -> Option<String> {
    match item.prim() {
        Some(Prim::String(s)) => Some(s.to_string()),
        Some(_) => None,
        None => item
            .json()?
            .get("reference")
            .and_then(Value::as_str)
            .map(str::to_string),
    }
}

/// `Type/id` at the end of a reference (`…/Patient/1/_history/2` too).
fn type_and_id(reference: &str) -> Option<(&'static str, &str)> {
    let path = reference.split(['?', '#']).next().unwrap_or(reference);
    let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.len() >= 4 && parts[parts.len() - 2] == "_history" {
        parts.truncate(parts.len() - 2);
    }
    let [.., t, id] = parts.as_slice() else {
        return None;
    };
    let t = crate::fhir::model::model().resource(t)?;
    Some((t.name.as_str(), id))
}

/// An owned resource as an item.
fn owned<'a>(v: Value) -> Item<'a> {
    let (type_name, shape) = navigate::resource_type(&v);
    Item::Owned {
        value: Arc::new(v),
        extension: None,
        type_name,
        shape,
    }
}

/// `resolve()` of one item: a contained resource (`#id`), an entry of the
/// Bundle being evaluated, the environment's resolver, or — with no
/// resolver — a stand-in `{resourceType, id}` so that type tests work.
fn resolve<'a>(args: &Args<'_, '_, 'a>, item: &Item<'a>) -> Option<Item<'a>> {
    let reference = reference_of(item)?;
    let root = args.ev.root.as_ref();
    if let Some(local) = reference.strip_prefix('#') {
        let contained = args
            .ev
            .member(root.map(std::slice::from_ref).unwrap_or(&[]), "contained");
        return contained
            .into_iter()
            .find(|c| c.json().and_then(|j| j.get("id")).and_then(Value::as_str) == Some(local));
    }
    if let Some(found) = in_bundle(args, root, &reference) {
        return Some(found);
    }
    if let Some(resolver) = &args.ev.env.resolver {
        return resolver.resolve(&reference).map(owned);
    }
    let (t, id) = type_and_id(&reference)?;
    Some(owned(json!({ "resourceType": t, "id": id })))
}

/// The entry of the Bundle being evaluated that a reference points to.
fn in_bundle<'a>(
    args: &Args<'_, '_, 'a>,
    root: Option<&Item<'a>>,
    reference: &str,
) -> Option<Item<'a>> {
    let root = root.filter(|r| r.type_name() == Some("Bundle"))?;
    let entries = args.ev.member(std::slice::from_ref(root), "entry");
    let by_type = type_and_id(reference);
    for entry in &entries {
        let json = entry.json()?;
        let full_url = json.get("fullUrl").and_then(Value::as_str);
        let resource = json.get("resource");
        let matches = full_url == Some(reference)
            || by_type.is_some_and(|(t, id)| {
                resource
                    .and_then(|r| r.get("resourceType"))
                    .and_then(Value::as_str)
                    == Some(t)
                    && resource.and_then(|r| r.get("id")).and_then(Value::as_str) == Some(id)
            });
        if matches {
            return args
                .ev
                .member(std::slice::from_ref(entry), "resource")
                .into_iter()
                .next();
        }
    }
    None
}
