//! Instance and type interactions (R4 http.html): read, vread, create (with
//! `If-None-Exist`), update (with `If-Match`, and update-as-create), delete, and
//! the Binary read that returns raw content.

use super::Shared;
use super::format::Wanted;
use super::request::{Fhir, ResourceBody, Return, parse_etag, query_pairs};
use super::response::{self, empty, resource_response, version_headers};
use super::search;
use crate::auth::{Access, Interaction, Permission};
use crate::fhir::error::FhirError;
use crate::fhir::model::model;
use crate::fhir::outcome::{Issue, operation_outcome};
use crate::search::filter::Filter;
use crate::search::query::Search;
use crate::search::registry::registry;
use crate::store::{Outcome, StoreError, Version, Write};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::Value;
use std::time::UNIX_EPOCH;

/// The resource type of a URL, if it has an endpoint (every R4 resource but Parameters).
pub fn resource_type(name: &str) -> Result<&str, FhirError> {
    match model().resource(name) {
        Some(t) if t.name != "Parameters" => Ok(name),
        _ => Err(FhirError::not_found(format!(
            "'{name}' is not a resource type this server supports"
        ))),
    }
}

/// Whether a text is a valid resource id (`[A-Za-z0-9\-\.]{1,64}`).
pub fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// The checks every interaction on a type or instance starts with: a type with
/// an endpoint, a valid id, the gate's permission, and no query parameter the
/// interaction does not understand. Returns the type.
pub fn admit<'a>(
    state: &Shared,
    interaction: Interaction,
    t: &'a str,
    id: Option<&str>,
    fhir: &Fhir,
    params: &[&str],
) -> Result<&'a str, FhirError> {
    let t = resource_type(t)?;
    if let Some(id) = id {
        check_id(id)?;
    }
    state.gate.check(Access {
        interaction,
        resource_type: Some(t),
        id,
    })?;
    fhir.only(params)?;
    Ok(t)
}

/// The checks a conditional interaction (`[type]?[search]`) starts with: a
/// type with an endpoint and the gate's permission. Returns the type.
pub fn admit_conditional<'a>(
    state: &Shared,
    interaction: Interaction,
    t: &'a str,
) -> Result<&'a str, FhirError> {
    let t = resource_type(t)?;
    state.gate.check(Access {
        interaction,
        resource_type: Some(t),
        id: None,
    })?;
    Ok(t)
}

pub fn check_id(id: &str) -> Result<(), FhirError> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(FhirError::bad_request(
            "invalid",
            format!("'{id}' is not a valid resource id"),
        ))
    }
}

/// Maps store failures onto HTTP statuses.
pub fn store_error(e: StoreError) -> FhirError {
    let e = match e {
        StoreError::Write { error, .. } => *error,
        e => e,
    };
    match e {
        StoreError::VersionConflict { .. } => {
            FhirError::new(StatusCode::PRECONDITION_FAILED, "conflict", e.to_string())
        }
        StoreError::MultipleMatches(_) => FhirError::new(
            StatusCode::PRECONDITION_FAILED,
            "multiple-matches",
            e.to_string(),
        ),
        StoreError::Conflict(m) | StoreError::Changed(m) => {
            FhirError::new(StatusCode::CONFLICT, "conflict", m)
        }
        StoreError::Invalid(m) => FhirError::bad_request("invalid", m),
        StoreError::Forbidden(m) => FhirError::new(StatusCode::FORBIDDEN, "forbidden", m),
        StoreError::Backend(m) => FhirError::internal("store", m),
        StoreError::Write { .. } | StoreError::Duplicate { .. } => FhirError::internal("store", e),
    }
}

/// 410 for a deleted resource, with the ETag of its tombstone (http.html#read).
fn gone(v: &Version) -> Response {
    let mut r = FhirError::new(
        StatusCode::GONE,
        "deleted",
        format!(
            "{}/{} was deleted (version {})",
            v.resource_type, v.id, v.version
        ),
    )
    .into_response();
    r.headers_mut()
        .insert(header::ETAG, response::etag(v.version));
    r
}

fn location(state: &Shared, v: &Version) -> HeaderValue {
    let url = format!(
        "{}/{}/{}/_history/{}",
        state.config.base_url, v.resource_type, v.id, v.version
    );
    HeaderValue::from_str(&url).unwrap_or(HeaderValue::from_static("/"))
}

/// Whether the request may read the version `v` with `permission` (its
/// token's scopes reach it: see [`crate::auth::Gate::filter`]). A tombstone
/// is judged by the version it ended.
pub async fn readable(
    state: &Shared,
    permission: Permission,
    v: &Version,
) -> Result<bool, FhirError> {
    let filter = state.gate.filter(permission, &v.resource_type);
    if matches!(filter, Filter::All) {
        return Ok(true);
    }
    let judged = match &v.body {
        Some(_) => Some(v.clone()),
        None if v.version > 1 => state
            .store
            .vread(&v.resource_type, &v.id, v.version - 1)
            .await
            .map_err(store_error)?,
        None => None,
    };
    let Some(body) = judged.as_ref().and_then(|j| j.body.as_deref()) else {
        return Ok(false);
    };
    let resource: Value =
        serde_json::from_str(body).map_err(|e| FhirError::internal("stored resource", e))?;
    Ok(filter.admits_resource(
        registry(),
        &v.resource_type,
        &resource,
        &state.config.base_url,
    ))
}

/// 403 unless the request may read `v` (see [`readable`]).
pub async fn check_readable(state: &Shared, v: &Version) -> Result<(), FhirError> {
    if readable(state, Permission::Read, v).await? {
        Ok(())
    } else {
        Err(FhirError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "the access token's scopes do not reach this {} (it is outside the patient's compartment or the scope's query)",
                v.resource_type
            ),
        ))
    }
}

/// `GET [type]/[id]`
pub async fn read(
    State(state): State<Shared>,
    Path((t, id)): Path<(String, String)>,
    fhir: Fhir,
) -> Result<Response, FhirError> {
    let t = admit(&state, Interaction::Read, &t, Some(&id), &fhir, &[])?;
    fhir.no_count()?;
    let v = state
        .store
        .read(t, &id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| FhirError::not_found(format!("{t}/{id} is not known")))?;
    check_readable(&state, &v).await?;
    if v.is_deleted() {
        return Ok(gone(&v));
    }
    if not_modified(&fhir, &v)? {
        let mut r = empty(StatusCode::NOT_MODIFIED);
        version_headers(&mut r, &v);
        return Ok(r);
    }
    if let Wanted::Other(_) = fhir.wanted {
        return raw_binary(&v);
    }
    resource_response(StatusCode::OK, &v, &fhir)
}

/// `If-None-Match` / `If-Modified-Since` on a read: whether to answer 304.
fn not_modified(fhir: &Fhir, v: &Version) -> Result<bool, FhirError> {
    if let Some(tags) = fhir.header("if-none-match") {
        if tags.trim() == "*" {
            return Ok(true);
        }
        for tag in tags.split(',') {
            if parse_etag(tag)? == v.version {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if let Some(since) = fhir.header("if-modified-since") {
        let since = httpdate::parse_http_date(since).map_err(|_| {
            FhirError::bad_request(
                "invalid",
                format!("If-Modified-Since: '{since}' is not an HTTP date"),
            )
        })?;
        let since = since
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        return Ok(v.last_updated.div_euclid(1_000_000) <= since);
    }
    Ok(false)
}

/// A Binary as its own bytes, in its own content type.
fn raw_binary(v: &Version) -> Result<Response, FhirError> {
    let binary: Value = serde_json::from_str(v.body.as_deref().unwrap_or("{}"))
        .map_err(|e| FhirError::internal("stored Binary", e))?;
    let content_type = binary["contentType"]
        .as_str()
        .unwrap_or("application/octet-stream");
    let data = binary["data"].as_str().unwrap_or("");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.split_whitespace().collect::<String>())
        .map_err(|e| FhirError::internal("stored Binary data", e))?;
    let mut r = Response::new(bytes.into());
    let h = r.headers_mut();
    if let Ok(ct) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, ct);
    }
    // Stored content must not run as a page of this origin.
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    version_headers(&mut r, v);
    Ok(r)
}

/// `GET [type]/[id]/_history/[vid]`
pub async fn vread(
    State(state): State<Shared>,
    Path((t, id, vid)): Path<(String, String, String)>,
    fhir: Fhir,
) -> Result<Response, FhirError> {
    let t = admit(&state, Interaction::Vread, &t, Some(&id), &fhir, &[])?;
    fhir.no_count()?;
    let version: u64 = vid
        .parse()
        .map_err(|_| FhirError::not_found(format!("{t}/{id} has no version '{vid}'")))?;
    let v = state
        .store
        .vread(t, &id, version)
        .await
        .map_err(store_error)?
        .ok_or_else(|| FhirError::not_found(format!("{t}/{id} has no version {version}")))?;
    check_readable(&state, &v).await?;
    if v.is_deleted() {
        return Ok(gone(&v));
    }
    resource_response(StatusCode::OK, &v, &fhir)
}

/// The search of `If-None-Exist`, if the header is there.
fn if_none_exist(state: &Shared, t: &str, fhir: &Fhir) -> Result<Option<Search>, FhirError> {
    let Some(query) = fhir.header("if-none-exist") else {
        return Ok(None);
    };
    let query = query.split_once('?').map_or(query, |(_, q)| q);
    let pairs = query_pairs(query);
    if pairs.is_empty() {
        return Err(FhirError::bad_request(
            "invalid",
            "If-None-Exist has no criteria",
        ));
    }
    search::condition(state, t, &pairs, 2).map(Some)
}

/// The response to a successful write, as `Prefer: return=…` asks.
pub fn written(
    state: &Shared,
    status: StatusCode,
    v: &Version,
    fhir: &Fhir,
    what: &str,
) -> Result<Response, FhirError> {
    let mut r = match fhir.prefer {
        Return::Representation => resource_response(status, v, fhir)?,
        Return::Minimal => {
            let mut r = empty(status);
            version_headers(&mut r, v);
            r
        }
        Return::OperationOutcome => {
            let text = format!(
                "{what} {}/{} (version {})",
                v.resource_type, v.id, v.version
            );
            let oo = operation_outcome(&[Issue::information("informational", text)]);
            let mut r = response::value_response(status, &oo, fhir)?;
            version_headers(&mut r, v);
            r
        }
    };
    let header_name = if status == StatusCode::CREATED {
        header::LOCATION
    } else {
        header::CONTENT_LOCATION
    };
    r.headers_mut().insert(header_name, location(state, v));
    Ok(r)
}

fn check_type(resource: &Value, t: &str) -> Result<(), FhirError> {
    let found = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("");
    if found == t {
        Ok(())
    } else {
        Err(FhirError::with_issues(
            StatusCode::BAD_REQUEST,
            vec![
                Issue::error(
                    "invalid",
                    format!("the body is a {found}, the URL names {t}"),
                )
                .at("resourceType"),
            ],
        ))
    }
}

/// `POST [type]`
pub async fn create(
    State(state): State<Shared>,
    Path(t): Path<String>,
    fhir: Fhir,
    ResourceBody(mut resource): ResourceBody,
) -> Result<Response, FhirError> {
    let t = admit(&state, Interaction::Create, &t, None, &fhir, &[])?;
    check_type(&resource, t)?;
    if let Some(fields) = resource.as_object_mut() {
        fields.shift_remove("id");
    }
    let write = Write::Create {
        id: crate::store::new_id(),
        resource,
        if_none_exist: if_none_exist(&state, t, &fhir)?,
    };
    match state.store.write(write).await.map_err(store_error)? {
        Outcome::Created(v) => written(&state, StatusCode::CREATED, &v, &fhir, "created"),
        Outcome::Existing(v) => written(&state, StatusCode::OK, &v, &fhir, "found (If-None-Exist)"),
        other => Err(FhirError::internal(
            "create",
            format!("unexpected outcome {other:?}"),
        )),
    }
}

/// `PUT [type]/[id]`
pub async fn update(
    State(state): State<Shared>,
    Path((t, id)): Path<(String, String)>,
    fhir: Fhir,
    ResourceBody(resource): ResourceBody,
) -> Result<Response, FhirError> {
    let t = admit(&state, Interaction::Update, &t, Some(&id), &fhir, &[])?;
    check_type(&resource, t)?;
    let body_id = resource.get("id").and_then(Value::as_str);
    if body_id != Some(id.as_str()) {
        let text = match body_id {
            Some(b) => format!("the body's id '{b}' differs from the URL's id '{id}'"),
            None => format!("the body has no id; an update needs the id of the URL ('{id}')"),
        };
        return Err(FhirError::with_issues(
            StatusCode::BAD_REQUEST,
            vec![Issue::error("invalid", text).at(format!("{t}.id"))],
        ));
    }
    let write = Write::Update {
        resource,
        if_match: fhir.if_match()?,
    };
    match state.store.write(write).await.map_err(store_error)? {
        Outcome::Created(v) => written(&state, StatusCode::CREATED, &v, &fhir, "created"),
        Outcome::Updated(v) => written(&state, StatusCode::OK, &v, &fhir, "updated"),
        other => Err(FhirError::internal(
            "update",
            format!("unexpected outcome {other:?}"),
        )),
    }
}

/// `DELETE [type]/[id]`
pub async fn delete(
    State(state): State<Shared>,
    Path((t, id)): Path<(String, String)>,
    fhir: Fhir,
) -> Result<Response, FhirError> {
    let t = admit(&state, Interaction::Delete, &t, Some(&id), &fhir, &[])?;
    let write = Write::Delete {
        resource_type: t.to_string(),
        id: id.clone(),
        if_match: fhir.if_match()?,
    };
    let outcome = state.store.write(write).await.map_err(store_error)?;
    let (text, tombstone) = match &outcome {
        Outcome::Deleted(Some(v)) => (format!("deleted {t}/{id} (version {})", v.version), Some(v)),
        _ => (
            format!("{t}/{id} did not exist or was deleted already; nothing changed"),
            None,
        ),
    };
    let mut r = if fhir.prefer == Return::Minimal {
        empty(StatusCode::NO_CONTENT)
    } else {
        let oo = operation_outcome(&[Issue::information("informational", text)]);
        response::value_response(StatusCode::OK, &oo, &fhir)?
    };
    if let Some(v) = tombstone {
        r.headers_mut()
            .insert(header::ETAG, response::etag(v.version));
    }
    Ok(r)
}

/// `PUT [type]?[search]`: conditional update (http.html#cond-update).
pub async fn conditional_update(
    State(state): State<Shared>,
    Path(t): Path<String>,
    fhir: Fhir,
    ResourceBody(resource): ResourceBody,
) -> Result<Response, FhirError> {
    let t = admit_conditional(&state, Interaction::Update, &t)?;
    check_type(&resource, t)?;
    let condition = search::condition(&state, t, &fhir.params, 2)?;
    let write = Write::UpdateWhere {
        resource,
        condition,
        id: crate::store::new_id(),
    };
    match state.store.write(write).await.map_err(store_error)? {
        Outcome::Created(v) => written(&state, StatusCode::CREATED, &v, &fhir, "created"),
        Outcome::Updated(v) => written(&state, StatusCode::OK, &v, &fhir, "updated"),
        other => Err(FhirError::internal(
            "conditional update",
            format!("unexpected outcome {other:?}"),
        )),
    }
}

/// `DELETE [type]?[search]`: conditional delete (http.html#cond-delete). Several
/// matches are refused with 412 unless the server allows multiple deletes.
pub async fn conditional_delete(
    State(state): State<Shared>,
    Path(t): Path<String>,
    fhir: Fhir,
) -> Result<Response, FhirError> {
    let t = admit_conditional(&state, Interaction::Delete, &t)?;
    let multiple = state.config.multiple_delete;
    let page = if multiple {
        state.config.max_count.max(3)
    } else {
        2
    };
    let condition = search::condition(&state, t, &fhir.params, page)?;
    let write = Write::DeleteWhere {
        condition,
        multiple,
    };
    let deleted = match state.store.write(write).await.map_err(store_error)? {
        Outcome::DeletedAll(d) => d,
        other => {
            return Err(FhirError::internal(
                "conditional delete",
                format!("unexpected outcome {other:?}"),
            ));
        }
    };
    let text = match deleted.as_slice() {
        [] => "no resource matched; nothing changed".to_string(),
        list => format!(
            "deleted {}",
            list.iter()
                .map(|v| format!("{}/{} (version {})", v.resource_type, v.id, v.version))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut r = if fhir.prefer == Return::Minimal {
        empty(StatusCode::NO_CONTENT)
    } else {
        let oo = operation_outcome(&[Issue::information("informational", text)]);
        response::value_response(StatusCode::OK, &oo, &fhir)?
    };
    if let [one] = deleted.as_slice() {
        r.headers_mut()
            .insert(header::ETAG, response::etag(one.version));
    }
    Ok(r)
}
