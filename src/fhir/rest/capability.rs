//! `GET /metadata`: the CapabilityStatement, generated from what this build
//! implements. It claims only what works: every resource type with an endpoint
//! gets read, vread, update, delete, create, history and search, with the
//! search parameters of the registry that have an expression (those without
//! one, `_text`, `_content` and `_query`, are refused and left out), its
//! reference parameters as `_include`/`_revinclude` targets, and conditional
//! create, update and delete. PATCH and batch/transaction are absent until
//! they exist.

use super::Shared;
use super::request::Fhir;
use super::response;
use crate::auth::{Access, Interaction};
use crate::fhir::error::FhirError;
use crate::fhir::model::model;
use crate::search::registry::{Kind, Param, STORE_COMPUTED, registry};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::OnceLock;

/// The interactions every resource type supports.
pub const TYPE_INTERACTIONS: [&str; 9] = [
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
];

/// The `searchParam` list of a type: every registry parameter it supports.
fn search_params(t: &str) -> (Vec<Value>, Vec<String>, Vec<String>) {
    let mut params: Vec<&std::sync::Arc<Param>> = registry()
        .of_type(t)
        .filter(|p| {
            (p.expression.is_some() && p.kind != Kind::Special)
                || STORE_COMPUTED.contains(&p.code.as_str())
        })
        .collect();
    params.sort_by(|a, b| a.code.cmp(&b.code));
    let list = params
        .iter()
        .map(|p| json!({"name": p.code, "definition": p.url, "type": p.kind.code()}))
        .collect();
    let includes: Vec<String> = params
        .iter()
        .filter(|p| p.kind == Kind::Reference)
        .map(|p| format!("{t}:{}", p.code))
        .chain(std::iter::once("*".to_string()))
        .collect();
    let rev: Vec<String> = registry()
        .all()
        .iter()
        .filter(|p| {
            p.kind == Kind::Reference
                && p.expression.is_some()
                && (p.target.is_empty() || p.target.iter().any(|x| x == t))
        })
        .map(|p| format!("{}:{}", p.resource_type, p.code))
        .collect();
    (list, includes, rev)
}

/// The moment the process started, as the statement's date.
fn started() -> &'static str {
    static STARTED: OnceLock<String> = OnceLock::new();
    STARTED.get_or_init(|| crate::fhir::instant::format_instant(crate::fhir::instant::now_micros()))
}

/// The CapabilityStatement of this server.
pub fn capability_statement(base_url: &str, multiple_delete: bool) -> Value {
    let version = env!("CARGO_PKG_VERSION");
    let resources: Vec<Value> = model()
        .resource_types()
        .iter()
        .filter(|t| *t != "Parameters")
        .map(|t| {
            let (params, includes, rev) = search_params(t);
            json!({
                "type": t,
                "profile": format!("http://hl7.org/fhir/StructureDefinition/{t}"),
                "interaction": TYPE_INTERACTIONS.iter().map(|c| json!({"code": c})).collect::<Vec<_>>(),
                "versioning": "versioned",
                "readHistory": true,
                "updateCreate": true,
                "conditionalCreate": true,
                "conditionalRead": "full-support",
                "conditionalUpdate": true,
                "conditionalDelete": if multiple_delete { "multiple" } else { "single" },
                "searchInclude": includes,
                "searchRevInclude": rev,
                "searchParam": params,
            })
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": started(),
        "publisher": "Hemolink",
        "kind": "instance",
        "software": {"name": "Hemolink", "version": version},
        "implementation": {"description": "Hemolink FHIR R4 server", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "application/fhir+xml"],
        "rest": [{
            "mode": "server",
            "documentation": "Search: every R4 search parameter with an expression, all modifiers and prefixes of R4, chains, _has, _include/_revinclude (with :iterate), _sort, keyset paging over a snapshot, _total; strict or lenient handling (Prefer: handling). Not supported: _text, _content, _query, _contained, :in/:not-in/:above/:below on tokens. Batch and transaction Bundles at the base (any number of entries, a transaction is one unit of work). PATCH: JSON Patch (application/json-patch+json) and FHIRPath Patch (Parameters, JSON or XML), also conditional and in Bundles; XML Patch is not supported.",
            "resource": resources,
            "interaction": [
                {"code": "transaction"},
                {"code": "batch"},
                {"code": "history-system"},
                {"code": "search-system"},
            ],
            "searchParam": [
                {"name": "_id", "definition": "http://hl7.org/fhir/SearchParameter/Resource-id", "type": "token"},
                {"name": "_lastUpdated", "definition": "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated", "type": "date"},
                {"name": "_type", "type": "token"},
            ],
            "compartment": ["http://hl7.org/fhir/CompartmentDefinition/patient"],
        }],
    })
}

/// `GET [base]/metadata`
pub async fn metadata(State(state): State<Shared>, fhir: Fhir) -> Result<Response, FhirError> {
    state.gate.check(Access {
        interaction: Interaction::Capabilities,
        resource_type: None,
        id: None,
    })?;
    fhir.only(&["mode"])?;
    if let Some((_, mode)) = fhir.params.iter().find(|(k, _)| k == "mode")
        && mode != "full"
        && mode != "normative"
    {
        return Err(FhirError::bad_request(
            "not-supported",
            format!(
                "mode={mode}: this server has no TerminologyCapabilities; mode may be full or normative"
            ),
        ));
    }
    let statement = state.capability.get_or_init(|| {
        let mut statement =
            capability_statement(&state.config.base_url, state.config.multiple_delete);
        if state.auth.is_some() {
            statement["rest"][0]["security"] =
                crate::auth::server::security(&state.config.base_url);
        } else if state.external.is_some() {
            // The tokens are another issuer's: its endpoints are not ours to declare.
            statement["rest"][0]["security"] = serde_json::json!({
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "SMART-on-FHIR"}]}],
                "description": "SMART on FHIR scopes in access tokens of an external identity provider",
            });
        }
        statement
    });
    let mut r = response::value_response(StatusCode::OK, statement, &fhir)?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&statement.to_string(), &mut hasher);
    let tag = format!("W/\"{:016x}\"", std::hash::Hasher::finish(&hasher));
    if let Ok(v) = axum::http::HeaderValue::from_str(&tag) {
        r.headers_mut().insert(axum::http::header::ETAG, v);
    }
    Ok(r)
}
