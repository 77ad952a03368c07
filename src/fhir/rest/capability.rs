//! `GET /metadata`: the CapabilityStatement, generated from what this build
//! implements. It claims only interactions that work: every resource type with
//! an endpoint gets read, vread, update, delete, create and history; search and
//! PATCH are absent until they exist.

use super::Shared;
use super::request::Fhir;
use super::response;
use crate::auth::{Access, Interaction};
use crate::fhir::error::FhirError;
use crate::fhir::model::model;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::OnceLock;

/// The interactions every resource type supports.
pub const TYPE_INTERACTIONS: [&str; 7] = [
    "read",
    "vread",
    "update",
    "delete",
    "history-instance",
    "history-type",
    "create",
];

/// The moment the process started, as the statement's date.
fn started() -> &'static str {
    static STARTED: OnceLock<String> = OnceLock::new();
    STARTED.get_or_init(|| crate::fhir::instant::format_instant(crate::fhir::instant::now_micros()))
}

/// The CapabilityStatement of this server.
pub fn capability_statement(base_url: &str) -> Value {
    let version = env!("CARGO_PKG_VERSION");
    let resources: Vec<Value> = model()
        .resource_types()
        .iter()
        .filter(|t| *t != "Parameters")
        .map(|t| {
            json!({
                "type": t,
                "profile": format!("http://hl7.org/fhir/StructureDefinition/{t}"),
                "interaction": TYPE_INTERACTIONS.iter().map(|c| json!({"code": c})).collect::<Vec<_>>(),
                "versioning": "versioned",
                "readHistory": true,
                "updateCreate": true,
                "conditionalCreate": true,
                "conditionalRead": "full-support",
                "conditionalUpdate": false,
                "conditionalDelete": "not-supported",
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
            "documentation": "Conditional create understands _id and identifier only. Search, PATCH and batch/transaction are not implemented yet.",
            "resource": resources,
            "interaction": [{"code": "history-system"}],
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
    let statement = capability_statement(&state.config.base_url);
    let mut r = response::value_response(StatusCode::OK, &statement, &fhir)?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&statement.to_string(), &mut hasher);
    let tag = format!("W/\"{:016x}\"", std::hash::Hasher::finish(&hasher));
    if let Ok(v) = axum::http::HeaderValue::from_str(&tag) {
        r.headers_mut().insert(axum::http::header::ETAG, v);
    }
    Ok(r)
}
