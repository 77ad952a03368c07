//! The `patch` interaction (R4 http.html#patch): `PATCH [type]/[id]` and the
//! conditional `PATCH [type]?[search]`, with a JSON Patch body
//! (`application/json-patch+json`) or a FHIRPath Patch `Parameters` (FHIR JSON
//! or XML). The patch applies to the current version; the result must keep
//! `id`, `meta.versionId` and `meta.lastUpdated` (tags, security labels and
//! profiles may change) and pass validation like an update (422 otherwise). It
//! is written as an update that expects the version it was computed from, so a
//! concurrent write is never overwritten: the patch is then applied again to
//! the new version (unless the client's `If-Match` named the old one). XML
//! Patch is not supported (415).
//!
//! [`patched`] is also what a transaction's PATCH entries use.

use super::Shared;
use super::instance::{admit, admit_conditional, check_readable, store_error, written};
use super::request::{Fhir, MAX_JSON_DEPTH, content_type, not_json, read_limited};
use super::search::condition;
use crate::auth::Interaction;
use crate::fhir::error::FhirError;
use crate::fhir::outcome::Issue;
use crate::fhir::patch::{self, ErrorKind, PatchError};
use crate::fhir::{json, validate, xml};
use crate::store::{Outcome, StoreError, Version, Write};
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

/// How many times a patch is applied again after a concurrent write.
const ATTEMPTS: usize = 3;

/// A patch document.
#[derive(Debug, Clone)]
pub enum PatchBody {
    /// JSON Patch: an array of operations.
    Json(Value),
    /// FHIRPath Patch: a `Parameters` resource (JSON form).
    FhirPath(Value),
}

impl PatchBody {
    /// The document of a Bundle entry's resource: a `Parameters` (FHIRPath
    /// Patch) or a `Binary` holding a JSON Patch.
    pub fn from_entry(resource: &Value) -> Result<PatchBody, String> {
        match resource.get("resourceType").and_then(Value::as_str) {
            Some("Parameters") => Ok(PatchBody::FhirPath(resource.clone())),
            Some("Binary") => {
                let ct = resource
                    .get("contentType")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !ct.starts_with("application/json-patch+json") {
                    return Err(format!(
                        "a Binary patch must have contentType application/json-patch+json, not '{ct}'"
                    ));
                }
                use base64::Engine;
                let data = resource.get("data").and_then(Value::as_str).unwrap_or("");
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .map_err(|e| format!("the Binary's data is not base64: {e}"))?;
                let doc = json::parse(&bytes, MAX_JSON_DEPTH)
                    .map_err(|e| format!("the JSON Patch is not JSON: {e}"))?;
                Ok(PatchBody::Json(doc))
            }
            _ => Err(
                "a PATCH entry carries a Parameters (FHIRPath Patch) or a Binary (JSON Patch)"
                    .into(),
            ),
        }
    }
}

impl FromRequest<Shared> for PatchBody {
    type Rejection = FhirError;

    async fn from_request(request: Request, state: &Shared) -> Result<Self, Self::Rejection> {
        let limit = (state.config.max_body_size, "max_body_size");
        let content_type = content_type(&request).unwrap_or("").to_string();
        let essence = super::format::essence(&content_type);
        let unsupported = |text: String| {
            FhirError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not-supported", text)
        };
        if essence == "application/xml-patch+xml" {
            return Err(unsupported(
                "XML Patch is not supported; send JSON Patch (application/json-patch+json) or FHIRPath Patch (a Parameters resource)".into(),
            ));
        }
        let bytes = read_limited(request, limit).await?;
        let not_json = |e| not_json(e, None);
        let body = match essence.as_str() {
            "application/json-patch+json" => {
                PatchBody::Json(json::parse(&bytes, MAX_JSON_DEPTH).map_err(not_json)?)
            }
            "application/fhir+json" | "application/json" => {
                PatchBody::FhirPath(json::parse(&bytes, MAX_JSON_DEPTH).map_err(not_json)?)
            }
            "application/fhir+xml" | "application/xml" => PatchBody::FhirPath(
                xml::from_xml(&bytes)
                    .map_err(|issues| FhirError::with_issues(StatusCode::BAD_REQUEST, issues))?,
            ),
            _ => {
                return Err(unsupported(format!(
                    "Content-Type '{content_type}': a patch is application/json-patch+json, or a Parameters resource as application/fhir+json or application/fhir+xml"
                )));
            }
        };
        if let PatchBody::FhirPath(p) = &body
            && p.get("resourceType").and_then(Value::as_str) != Some("Parameters")
        {
            return Err(FhirError::with_issues(
                StatusCode::BAD_REQUEST,
                vec![
                    Issue::error("invalid", "a FHIRPath Patch is a Parameters resource")
                        .at("resourceType"),
                ],
            ));
        }
        Ok(body)
    }
}

/// A patch error as an HTTP error: a malformed patch is 400, one that cannot
/// apply to this resource 422.
fn patch_error(e: PatchError) -> FhirError {
    let status = match e.kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
    };
    FhirError::with_issues(status, vec![e.issue()])
}

/// The resource `body` makes of version `current`, checked: same `id`,
/// `meta.versionId` and `meta.lastUpdated`, and valid (422 otherwise).
pub fn patched(current: &Version, body: &PatchBody) -> Result<Value, FhirError> {
    let stored = current.body.as_deref().ok_or_else(|| {
        FhirError::new(
            StatusCode::GONE,
            "deleted",
            format!("{}/{} is deleted", current.resource_type, current.id),
        )
    })?;
    let before: Value =
        serde_json::from_str(stored).map_err(|e| FhirError::internal("stored resource", e))?;
    let after = match body {
        PatchBody::Json(ops) => patch::json::apply(&before, ops),
        PatchBody::FhirPath(params) => patch::fhirpath::apply(&before, params),
    }
    .map_err(patch_error)?;
    let t = &current.resource_type;
    for (pointer, name) in [
        ("/resourceType", "resourceType"),
        ("/id", "id"),
        ("/meta/versionId", "meta.versionId"),
        ("/meta/lastUpdated", "meta.lastUpdated"),
    ] {
        if before.pointer(pointer) != after.pointer(pointer) {
            return Err(FhirError::with_issues(
                StatusCode::UNPROCESSABLE_ENTITY,
                vec![
                    Issue::error("business-rule", format!("a patch may not change {name}"))
                        .at(format!("{t}.{name}")),
                ],
            ));
        }
    }
    let issues = validate::validate_resource(&after);
    if !issues.is_empty() {
        return Err(FhirError::with_issues(
            StatusCode::UNPROCESSABLE_ENTITY,
            issues,
        ));
    }
    Ok(after)
}

/// `PATCH [type]/[id]`
pub async fn patch(
    State(state): State<Shared>,
    Path((t, id)): Path<(String, String)>,
    fhir: Fhir,
    body: PatchBody,
) -> Result<Response, FhirError> {
    let t = admit(&state, Interaction::Update, &t, Some(&id), &fhir, &[])?;
    // The patched resource comes back whole: patching needs read too.
    admit(&state, Interaction::Read, t, Some(&id), &fhir, &[])?;
    apply(&state, &fhir, t, &id, &body).await
}

/// `PATCH [type]?[search]`: the one match is patched (none: 404, several: 412).
pub async fn conditional_patch(
    State(state): State<Shared>,
    Path(t): Path<String>,
    fhir: Fhir,
    body: PatchBody,
) -> Result<Response, FhirError> {
    let t = admit_conditional(&state, Interaction::Update, &t)?;
    let search = condition(&state, t, &fhir.params, 2)?;
    let page = state.store.search(&search).await.map_err(store_error)?;
    let id = match page.matches.as_slice() {
        [one] => one.id.clone(),
        [] => return Err(FhirError::not_found("no resource matches the condition")),
        many => {
            return Err(FhirError::new(
                StatusCode::PRECONDITION_FAILED,
                "multiple-matches",
                format!("the condition matched {} resources", many.len()),
            ));
        }
    };
    apply(&state, &fhir, t, &id, &body).await
}

/// Reads, patches and writes, again after a concurrent write.
async fn apply(
    state: &Shared,
    fhir: &Fhir,
    t: &str,
    id: &str,
    body: &PatchBody,
) -> Result<Response, FhirError> {
    let wanted = fhir.if_match()?;
    let mut attempt = 1;
    loop {
        let current = state
            .store
            .read(t, id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| FhirError::not_found(format!("{t}/{id} is not known")))?;
        check_readable(state, &current).await?;
        if let Some(v) = wanted
            && v != current.version
        {
            return Err(store_error(StoreError::VersionConflict {
                expected: v,
                current: Some(current.version),
            }));
        }
        let resource = patched(&current, body)?;
        let write = Write::Update {
            resource,
            if_match: Some(current.version),
        };
        match state.store.write(write).await {
            Ok(Outcome::Updated(v)) => return written(state, StatusCode::OK, &v, fhir, "patched"),
            Ok(other) => {
                return Err(FhirError::internal(
                    "patch",
                    format!("unexpected outcome {other:?}"),
                ));
            }
            Err(StoreError::VersionConflict { .. }) if wanted.is_none() && attempt < ATTEMPTS => {
                attempt += 1;
            }
            Err(e) => return Err(store_error(e)),
        }
    }
}
