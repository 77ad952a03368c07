//! History at system, type and instance level (R4 http.html#history): a Bundle of
//! type `history`, newest first, with `_count`, `_since`, `_at` and `next` links
//! that hold a cursor into the order of writes, so pages stay stable while new
//! versions are written.

use super::Shared;
use super::instance::{admit, check_readable, readable, store_error};
use super::request::Fhir;
use super::response;
use crate::auth::{Access, Interaction, Permission};
use crate::fhir::error::FhirError;
use crate::fhir::instant::{format_instant, now_micros, parse_range};
use crate::store::{HistoryQuery, HistoryScope, Method, Version};
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

/// The parameters history understands (besides `_format` and friends).
const HISTORY_PARAMS: [&str; 4] = ["_count", "_since", "_at", "_cursor"];

/// `GET [base]/_history`
pub async fn system(
    State(state): State<Shared>,
    uri: Uri,
    fhir: Fhir,
) -> Result<Response, FhirError> {
    state.gate.check(Access {
        interaction: Interaction::HistorySystem,
        resource_type: None,
        id: None,
    })?;
    fhir.only(&HISTORY_PARAMS)?;
    history(&state, &uri, &fhir, HistoryScope::System).await
}

/// `GET [base]/[type]/_history`
pub async fn type_level(
    State(state): State<Shared>,
    Path(t): Path<String>,
    uri: Uri,
    fhir: Fhir,
) -> Result<Response, FhirError> {
    let t = admit(
        &state,
        Interaction::HistoryType,
        &t,
        None,
        &fhir,
        &HISTORY_PARAMS,
    )?;
    history(&state, &uri, &fhir, HistoryScope::Type(t.to_string())).await
}

/// `GET [base]/[type]/[id]/_history`
pub async fn instance(
    State(state): State<Shared>,
    Path((t, id)): Path<(String, String)>,
    uri: Uri,
    fhir: Fhir,
) -> Result<Response, FhirError> {
    let t = admit(
        &state,
        Interaction::HistoryInstance,
        &t,
        Some(&id),
        &fhir,
        &HISTORY_PARAMS,
    )?;
    let current = state
        .store
        .read(t, &id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| FhirError::not_found(format!("{t}/{id} is not known")))?;
    check_readable(&state, &current).await?;
    history(
        &state,
        &uri,
        &fhir,
        HistoryScope::Instance(t.to_string(), id),
    )
    .await
}

fn param<'a>(fhir: &'a Fhir, name: &str) -> Option<&'a str> {
    fhir.params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The time range of a `_since`/`_at` value; a `+` of a time zone that the query
/// string decoded to a space is read back as `+`.
fn time_range(value: &str) -> Option<(i64, i64)> {
    parse_range(&value.replace(' ', "+"))
}

fn bad(name: &str, value: &str, expected: &str) -> FhirError {
    FhirError::bad_request("invalid", format!("{name}={value}: expected {expected}"))
}

async fn history(
    state: &Shared,
    uri: &Uri,
    fhir: &Fhir,
    scope: HistoryScope,
) -> Result<Response, FhirError> {
    for name in HISTORY_PARAMS {
        if fhir.params.iter().filter(|(k, _)| k == name).count() > 1 {
            return Err(FhirError::bad_request(
                "invalid",
                format!("{name} appears more than once"),
            ));
        }
    }
    let config = &state.config;
    let count = match param(fhir, "_count") {
        Some(c) => c
            .parse::<usize>()
            .map_err(|_| bad("_count", c, "a whole number"))?
            .min(config.max_count),
        None => config.default_count,
    };
    let since = param(fhir, "_since")
        .map(|s| {
            time_range(s)
                .map(|r| r.0)
                .ok_or_else(|| bad("_since", s, "an instant such as 2024-01-31T10:00:00Z"))
        })
        .transpose()?;
    let at = param(fhir, "_at")
        .map(|s| {
            time_range(s).ok_or_else(|| bad("_at", s, "a date or dateTime such as 2024-01-31"))
        })
        .transpose()?;
    let cursor = param(fhir, "_cursor")
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| bad("_cursor", c, "a cursor from a next link"))
        })
        .transpose()?;
    let query = HistoryQuery {
        scope,
        since,
        at,
        count,
        cursor,
    };
    // The versions the request may not see are left out, each judged by
    // itself (a resource may have moved into or out of a compartment): read
    // for one resource's history, search for a type's or the system's.
    let permission = match &query.scope {
        HistoryScope::Instance(..) => Permission::Read,
        HistoryScope::Type(_) | HistoryScope::System => Permission::Search,
    };
    let mut page = state.store.history(&query).await.map_err(store_error)?;
    let mut kept = Vec::with_capacity(page.versions.len());
    for v in std::mem::take(&mut page.versions) {
        if readable(state, permission, &v).await? {
            kept.push(v);
        }
    }
    page.versions = kept;
    let restricted = !state.gate.reaches_all(
        permission,
        match &query.scope {
            HistoryScope::Instance(t, _) | HistoryScope::Type(t) => Some(t.as_str()),
            HistoryScope::System => None,
        },
    );
    let base = &config.base_url;
    let self_url = format!("{base}{}", uri.path_and_query().map_or("", |p| p.as_str()));
    let mut links = vec![json!({"relation": "self", "url": self_url})];
    if let Some(next) = page.next {
        let kept: Vec<&str> = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("_cursor="))
            .collect();
        let mut query = kept.join("&");
        if !query.is_empty() {
            query.push('&');
        }
        links.push(json!({"relation": "next", "url": format!("{base}{}?{query}_cursor={next}", uri.path())}));
    }
    let entries = page
        .versions
        .iter()
        .map(|v| entry(base, v, fhir))
        .collect::<Result<Vec<_>, _>>()?;
    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "meta": {"lastUpdated": format_instant(now_micros())},
        "type": "history",
        "total": page.total,
        "link": links,
        "entry": entries,
    });
    if restricted {
        // The store's count includes what was left out.
        if let Some(fields) = bundle.as_object_mut() {
            fields.shift_remove("total");
        }
    }
    response::value_response(StatusCode::OK, &bundle, fhir)
}

/// A history entry: the version (none for a delete), how it was written, and
/// the outcome the write had.
fn entry(base: &str, v: &Version, fhir: &Fhir) -> Result<Value, FhirError> {
    let (url, status) = match v.method {
        Method::Create => (v.resource_type.clone(), "201 Created"),
        Method::Update => (format!("{}/{}", v.resource_type, v.id), "200 OK"),
        Method::Delete => (format!("{}/{}", v.resource_type, v.id), "200 OK"),
    };
    let mut e = json!({"fullUrl": format!("{base}/{}/{}", v.resource_type, v.id)});
    if let Some(stored) = v.body.as_deref() {
        e["resource"] = response::resource_value(stored, fhir)?;
    }
    e["request"] = json!({"method": v.method.http_verb(), "url": url});
    e["response"] = json!({
        "status": status,
        "etag": format!("W/\"{}\"", v.version),
        "lastModified": format_instant(v.last_updated),
    });
    Ok(e)
}
