//! `POST [base]` with a `batch` or `transaction` Bundle (R4 http.html#transaction).
//! [`read`] reads the Bundle into [`Entry`]s, one at a time (each request
//! checked and named by its position); this file orders them as the spec
//! processes them (DELETE, POST, PUT/PATCH, GET/HEAD), sends entries through
//! the server's own router where the interaction is the ordinary one, and
//! builds the response Bundle. [`transaction`] makes a transaction one unit
//! of work in the store; [`batch`] answers each entry on its own;
//! [`references`] finds and rewrites the references a transaction resolves.

mod batch;
mod read;
mod references;
mod transaction;

pub use read::BundleBody;

use super::Shared;
use super::request::{Fhir, MAX_JSON_DEPTH};
use crate::fhir::error::FhirError;
use crate::fhir::instant::{format_instant, now_micros};
use crate::fhir::json;
use crate::fhir::outcome::Issue;
use axum::Router;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::Response;
use read::{Facts, Posted};
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::HashMap;
use tower::ServiceExt;

/// The interaction an entry asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verb {
    Delete,
    Post,
    Put,
    Patch,
    Get,
    Head,
}

impl Verb {
    fn parse(text: &str) -> Option<Verb> {
        Some(match text {
            "DELETE" => Verb::Delete,
            "POST" => Verb::Post,
            "PUT" => Verb::Put,
            "PATCH" => Verb::Patch,
            "GET" => Verb::Get,
            "HEAD" => Verb::Head,
            _ => return None,
        })
    }

    /// The step of http.html#transaction's processing order this entry runs in.
    fn step(self) -> u8 {
        match self {
            Verb::Delete => 0,
            Verb::Post => 1,
            Verb::Put | Verb::Patch => 2,
            Verb::Get | Verb::Head => 3,
        }
    }

    fn method(self) -> Method {
        match self {
            Verb::Delete => Method::DELETE,
            Verb::Post => Method::POST,
            Verb::Put => Method::PUT,
            Verb::Patch => Method::PATCH,
            Verb::Get => Method::GET,
            Verb::Head => Method::HEAD,
        }
    }
}

/// One entry of a batch or transaction.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its position in `Bundle.entry`.
    pub index: usize,
    pub full_url: Option<String>,
    pub verb: Verb,
    /// `request.url`, relative to the base, without a leading `/`.
    pub url: String,
    pub resource: Option<Resource>,
    /// What a transaction checks of the resource (nothing for a PATCH).
    pub facts: Facts,
    pub if_none_exist: Option<String>,
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
}

/// The resource of an entry: its tree, or, read from a large body, the text
/// of the whole entry, parsed again when the resource is needed.
#[derive(Debug, Clone)]
pub enum Resource {
    Tree(Value),
    Text(Bytes),
}

impl Entry {
    /// The entry's resource, if it has one.
    pub fn resource(&self) -> Result<Option<Cow<'_, Value>>, FhirError> {
        match &self.resource {
            None => Ok(None),
            Some(Resource::Tree(r)) => Ok(Some(Cow::Borrowed(r))),
            Some(Resource::Text(text)) => {
                let mut entry = json::parse(text, MAX_JSON_DEPTH)
                    .map_err(|e| FhirError::internal("bundle entry", e))?;
                Ok(entry.get_mut("resource").map(Value::take).map(Cow::Owned))
            }
        }
    }

    /// The FHIRPath of this entry, or of one of its parts.
    pub fn at(&self, member: &str) -> String {
        if member.is_empty() {
            format!("Bundle.entry[{}]", self.index)
        } else {
            format!("Bundle.entry[{}].{member}", self.index)
        }
    }

    /// The path of `url` before the query, and the query.
    pub fn path_and_query(&self) -> (&str, Option<&str>) {
        match self.url.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (self.url.as_str(), None),
        }
    }
}

/// An error about one entry (400 unless said otherwise).
pub fn entry_error(status: StatusCode, code: &'static str, at: String, text: String) -> FhirError {
    FhirError::with_issues(status, vec![Issue::error(code, text).at(at)])
}

/// `POST [base]`
pub async fn post(
    State(state): State<Shared>,
    fhir: Fhir,
    BundleBody(posted): BundleBody,
) -> Result<Response, FhirError> {
    fhir.only(&[])?;
    let Posted {
        shell,
        entries,
        issues,
        refused,
        large,
    } = posted;
    if shell.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(entry_error(
            StatusCode::BAD_REQUEST,
            "invalid",
            "resourceType".into(),
            "only a Bundle (batch or transaction) may be posted to the base".into(),
        ));
    }
    let kind = shell.get("type").and_then(Value::as_str).unwrap_or("");
    // A batch fails the entries whose resources are invalid; anything else
    // invalid fails the request.
    let mut invalid: HashMap<usize, Vec<Issue>> = HashMap::new();
    let mut whole = Vec::new();
    for issue in issues {
        match entry_of(&issue) {
            Some(i) if kind == "batch" => invalid.entry(i).or_default().push(issue),
            _ => whole.push(issue),
        }
    }
    if !whole.is_empty() {
        return Err(FhirError::with_issues(StatusCode::BAD_REQUEST, whole));
    }
    if let Some(e) = refused {
        return Err(e);
    }
    let response = match kind {
        "transaction" => transaction::run(&state, &fhir, entries, large).await?,
        "batch" => batch::run(&state, &fhir, entries, invalid).await,
        other => {
            return Err(entry_error(
                StatusCode::BAD_REQUEST,
                "invalid",
                "Bundle.type".into(),
                format!(
                    "a Bundle posted to the base must be a batch or a transaction, not '{other}'"
                ),
            ));
        }
    };
    super::response::value_response(StatusCode::OK, &response, &fhir)
}

/// The entry an issue is about, when it is about an entry's resource.
fn entry_of(issue: &Issue) -> Option<usize> {
    let rest = issue.expression.as_deref()?.strip_prefix("Bundle.entry[")?;
    let (index, rest) = rest.split_once(']')?;
    rest.starts_with(".resource").then(|| index.parse().ok())?
}

/// The positions of `entries` in processing order (stable within a step).
fn processing_order(entries: &[Entry]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| entries[i].verb.step());
    order
}

/// Sends one entry through the server's router, as its own request with the
/// outer request's credentials and preferences, and makes its response entry.
async fn dispatch(app: &Router, fhir: &Fhir, entry: &Entry) -> Value {
    let mut request = Request::builder()
        .method(entry.verb.method())
        .uri(format!("/{}", entry.url))
        .header(header::ACCEPT, "application/fhir+json");
    for name in ["authorization", "prefer"] {
        if let Some(v) = fhir.headers.get(name) {
            request = request.header(name, v);
        }
    }
    for (name, value) in [
        ("if-none-exist", &entry.if_none_exist),
        ("if-match", &entry.if_match),
        ("if-none-match", &entry.if_none_match),
        ("if-modified-since", &entry.if_modified_since),
    ] {
        if let Some(v) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            request = request.header(name, v);
        }
    }
    let resource = match entry.resource() {
        Ok(r) => r,
        Err(e) => return failed_entry(e),
    };
    let body = match resource.as_deref() {
        // A JSON Patch travels in a Binary (http.html#patch).
        Some(r) if entry.verb == Verb::Patch && r["resourceType"] == "Binary" => {
            use base64::Engine;
            let data = r["data"].as_str().unwrap_or("");
            let content_type = r["contentType"]
                .as_str()
                .unwrap_or("application/octet-stream");
            request = request.header(header::CONTENT_TYPE, content_type);
            match base64::engine::general_purpose::STANDARD.decode(data) {
                Ok(bytes) => Body::from(bytes),
                Err(e) => {
                    return failed_entry(FhirError::bad_request(
                        "invalid",
                        format!("the Binary's data is not base64: {e}"),
                    ));
                }
            }
        }
        Some(r) => {
            request = request.header(header::CONTENT_TYPE, "application/fhir+json");
            Body::from(r.to_string())
        }
        None => Body::empty(),
    };
    let request = match request.body(body) {
        Ok(r) => r,
        Err(e) => return failed_entry(FhirError::internal("bundle entry", e)),
    };
    match app.clone().oneshot(request).await {
        Ok(response) => response_entry(response).await,
        Err(never) => match never {},
    }
}

/// The response entry of a response from the router.
async fn response_entry(response: Response) -> Value {
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let mut answer = json!({ "status": status_text(status) });
    for (name, field) in [
        (header::LOCATION, "location"),
        (header::CONTENT_LOCATION, "location"),
        (header::ETAG, "etag"),
        (header::LAST_MODIFIED, "lastModified"),
    ] {
        if let Some(v) = headers.get(&name).and_then(|v| v.to_str().ok()) {
            answer[field] = match field {
                "lastModified" => httpdate::parse_http_date(v).map_or(json!(v), |t| {
                    let micros = t
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_micros() as i64);
                    json!(format_instant(micros))
                }),
                _ => json!(v),
            };
        }
    }
    let mut entry = json!({});
    if let Ok(value) = serde_json::from_slice::<Value>(&body)
        && value.is_object()
    {
        if status.is_success() {
            entry["resource"] = value;
        } else {
            answer["outcome"] = value;
        }
    }
    entry["response"] = answer;
    entry
}

/// The response entry of an entry that failed before it reached the router.
fn failed_entry(error: FhirError) -> Value {
    json!({"response": {"status": status_text(error.status), "outcome": error.outcome()}})
}

/// `201 Created`
fn status_text(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .trim_end()
    .to_string()
}

/// A response Bundle of `kind` with `entries`.
fn response_bundle(kind: &str, entries: Vec<Value>) -> Value {
    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "meta": {"lastUpdated": format_instant(now_micros())},
        "type": kind,
    });
    if !entries.is_empty() {
        bundle["entry"] = Value::Array(entries);
    }
    bundle
}
