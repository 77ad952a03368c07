//! Writing responses: resources and OperationOutcomes in the negotiated syntax,
//! `_pretty`, `_summary`/`_elements`, and the version headers (`ETag`,
//! `Last-Modified`, `Location`). A stored JSON resource asked for whole, compact
//! and in JSON is sent as the stored bytes, untouched.

use super::format::{Syntax, Wanted};
use super::request::{Fhir, Summary};
use crate::fhir::error::FhirError;
use crate::fhir::summary::{self, Subset};
use crate::fhir::xml;
use crate::store::Version;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use std::time::{Duration, UNIX_EPOCH};

/// A value written in the wanted syntax.
pub fn serialize(value: &Value, wanted: &Wanted, pretty: bool) -> Result<String, FhirError> {
    match wanted.syntax() {
        Syntax::Json if pretty => serde_json::to_string_pretty(value),
        Syntax::Json => serde_json::to_string(value),
        Syntax::Xml => {
            return xml::to_xml(value, pretty).map_err(|issue| {
                FhirError::internal("cannot write the resource as XML", issue.diagnostics)
            });
        }
    }
    .map_err(|e| FhirError::internal("cannot write JSON", e))
}

fn with_body(status: StatusCode, content_type: &str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// An OperationOutcome response; never fails (falls back to JSON).
pub fn outcome_response(
    status: StatusCode,
    outcome: &Value,
    wanted: &Wanted,
    pretty: bool,
) -> Response {
    match serialize(outcome, wanted, pretty) {
        Ok(text) => with_body(status, wanted.content_type(), text),
        Err(_) => with_body(status, super::format::JSON_MIME, outcome.to_string()),
    }
}

/// A value (resource or Bundle) response.
pub fn value_response(
    status: StatusCode,
    value: &Value,
    fhir: &Fhir,
) -> Result<Response, FhirError> {
    let text = serialize(value, &fhir.wanted, fhir.pretty)?;
    Ok(with_body(status, fhir.wanted.content_type(), text))
}

/// The `W/"n"` entity tag of a version.
pub fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("W/\"{version}\""))
        .unwrap_or(HeaderValue::from_static("W/\"0\""))
}

/// An HTTP date from microseconds since the epoch.
pub fn http_date(micros: i64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_micros(micros.max(0) as u64))
}

/// Adds `ETag` and `Last-Modified` for a version.
pub fn version_headers(response: &mut Response, version: &Version) {
    let h = response.headers_mut();
    h.insert(header::ETAG, etag(version.version));
    if let Ok(v) = HeaderValue::from_str(&http_date(version.last_updated)) {
        h.insert(header::LAST_MODIFIED, v);
    }
}

/// The stored resource of a version, shaped as the request asks (summary, syntax).
pub fn resource_body(version: &Version, fhir: &Fhir) -> Result<String, FhirError> {
    let stored = version
        .body
        .as_deref()
        .ok_or_else(|| FhirError::internal("no body", "a deleted version was rendered"))?;
    if fhir.wanted.syntax() == Syntax::Json && !fhir.pretty && fhir.whole() {
        return Ok(stored.to_string());
    }
    serialize(&resource_value(stored, fhir)?, &fhir.wanted, fhir.pretty)
}

/// A stored resource parsed and cut to the subset the request asks for.
pub fn resource_value(stored: &str, fhir: &Fhir) -> Result<Value, FhirError> {
    let value: Value =
        serde_json::from_str(stored).map_err(|e| FhirError::internal("stored resource", e))?;
    Ok(match (&fhir.elements, fhir.summary) {
        (Some(names), _) => summary::apply(&value, Subset::Elements(names)),
        (None, Summary::True) => summary::apply(&value, Subset::Summary),
        (None, Summary::Text) => summary::apply(&value, Subset::Text),
        (None, Summary::Data) => summary::apply(&value, Subset::Data),
        (None, Summary::False | Summary::Count) => value,
    })
}

/// A response carrying one version of a resource, with its version headers.
pub fn resource_response(
    status: StatusCode,
    version: &Version,
    fhir: &Fhir,
) -> Result<Response, FhirError> {
    let body = resource_body(version, fhir)?;
    let mut r = with_body(status, fhir.wanted.content_type(), body);
    version_headers(&mut r, version);
    Ok(r)
}

/// A response with no body (304, `Prefer: return=minimal`).
pub fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}
