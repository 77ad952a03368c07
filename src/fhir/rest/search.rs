//! Search (R4 search.html and http.html#search): `GET [type]?…`,
//! `POST [type]/_search` with a form body, `GET [base]?_type=…` and compartment
//! searches (`GET Patient/[id]/[type]?…`). The answer is a `searchset` Bundle
//! with the matches, what `_include`/`_revinclude` brought in, the total,
//! `self`/`next`/`previous` links (the latter two carry a cursor into the
//! snapshot of the first page), and, in lenient handling, an OperationOutcome
//! entry naming every parameter that was ignored.

use super::Shared;
use super::instance::{check_id, readable, resource_type, store_error};
use super::request::{Fhir, Summary, percent_encode as encode, query_pairs};
use super::response;
use crate::auth::{Access, Interaction, Permission};
use crate::fhir::error::FhirError;
use crate::fhir::instant::{format_instant, now_micros};
use crate::fhir::model::model;
use crate::fhir::outcome::{Issue, Severity, operation_outcome};
use crate::search::compartment;
use crate::search::cursor::encode_cursor;
use crate::search::parse::{Limits, Problem, parse};
use crate::search::query::{Clause, Cursor};
use crate::search::registry::registry;
use crate::store::Version;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

/// `GET [base]/[type]?…`
pub async fn type_get(
    State(state): State<Shared>,
    Path(t): Path<String>,
    fhir: Fhir,
) -> Result<Response, FhirError> {
    let t = resource_type(&t)?.to_string();
    let params = fhir.params.clone();
    search(&state, &fhir, Scope::Type(t), params).await
}

/// `POST [base]/[type]/_search` with an `application/x-www-form-urlencoded` body.
pub async fn type_post(
    State(state): State<Shared>,
    Path(t): Path<String>,
    fhir: Fhir,
    body: Bytes,
) -> Result<Response, FhirError> {
    let t = resource_type(&t)?.to_string();
    let params = with_form(&fhir, &body)?;
    search(&state, &fhir, Scope::Type(t), params).await
}

/// `GET [base]?_type=…&…` (every type when `_type` is absent).
pub async fn system_get(State(state): State<Shared>, fhir: Fhir) -> Result<Response, FhirError> {
    let params = fhir.params.clone();
    search(&state, &fhir, Scope::System, params).await
}

/// `POST [base]/_search`
pub async fn system_post(
    State(state): State<Shared>,
    fhir: Fhir,
    body: Bytes,
) -> Result<Response, FhirError> {
    let params = with_form(&fhir, &body)?;
    search(&state, &fhir, Scope::System, params).await
}

/// `GET [base]/[compartment]/[id]/[type]?…` (`*` for every type).
pub async fn compartment_get(
    State(state): State<Shared>,
    Path((c, id, t)): Path<(String, String, String)>,
    fhir: Fhir,
) -> Result<Response, FhirError> {
    if !compartment::TYPES.contains(&c.as_str()) {
        return Err(FhirError::not_found(format!(
            "'{c}' is not a compartment this server supports (it supports {})",
            compartment::TYPES.join(", ")
        )));
    }
    check_id(&id)?;
    let types = if t == "*" {
        compartment::members(&c)
    } else {
        let t = resource_type(&t)?.to_string();
        if compartment::condition(registry(), &c, &id, &t).is_none() {
            return Err(FhirError::bad_request(
                "not-supported",
                format!("{t} is never in a {c} compartment"),
            ));
        }
        vec![t]
    };
    let params = fhir.params.clone();
    search(&state, &fhir, Scope::Compartment(c, id, types), params).await
}

/// The search of a conditional interaction (`If-None-Exist`, `PUT [type]?…`,
/// `DELETE [type]?…`): always strict, since acting on a condition the server
/// did not fully understand could touch the wrong resource. `count` is how
/// many matches a page holds.
pub fn condition(
    state: &Shared,
    t: &str,
    params: &[(String, String)],
    count: usize,
) -> Result<crate::search::query::Search, FhirError> {
    if params.is_empty() {
        return Err(FhirError::bad_request(
            "invalid",
            "a conditional interaction needs search parameters",
        ));
    }
    // A condition searches, and its match may come back whole: it needs the
    // read and search permissions on the type (and every type it reaches).
    for interaction in [Interaction::SearchType, Interaction::Read] {
        state.gate.check(Access {
            interaction,
            resource_type: Some(t),
            id: None,
        })?;
    }
    let limits = Limits {
        default_count: count,
        max_count: count.max(state.config.max_count),
        max_included: state.config.max_included,
    };
    let mut parsed = parse(
        registry(),
        &[t.to_string()],
        params,
        &state.config.base_url,
        true,
        limits,
    )
    .map_err(problems_error)?;
    parsed.search.count = count;
    parsed.search.sort.clear();
    state
        .gate
        .restrict(&mut parsed.search, &[Permission::Read, Permission::Search]);
    Ok(parsed.search)
}

/// What a search covers.
enum Scope {
    Type(String),
    System,
    Compartment(String, String, Vec<String>),
}

/// The query parameters and those of a form body.
fn with_form(fhir: &Fhir, body: &[u8]) -> Result<Vec<(String, String)>, FhirError> {
    let form = fhir.header(header::CONTENT_TYPE.as_str()).map(|c| {
        c.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    if !body.is_empty() && form.as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(FhirError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-supported",
            "a _search body must be application/x-www-form-urlencoded",
        ));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| FhirError::bad_request("invalid", "the form body is not UTF-8"))?;
    let mut params = fhir.params.clone();
    params.extend(query_pairs(text));
    Ok(params)
}

fn problems_error(problems: Vec<Problem>) -> FhirError {
    let issues = problems
        .into_iter()
        .map(|p| {
            Issue::error("not-supported", format!("{}: {}", p.parameter, p.message)).at(p.parameter)
        })
        .collect();
    FhirError::with_issues(StatusCode::BAD_REQUEST, issues)
}

async fn search(
    state: &Shared,
    fhir: &Fhir,
    scope: Scope,
    mut params: Vec<(String, String)>,
) -> Result<Response, FhirError> {
    let config = &state.config;
    let strict = fhir.strict.unwrap_or(config.strict_search);
    let (types, path, compartment) = match &scope {
        Scope::Type(t) => (vec![t.clone()], t.clone(), None),
        Scope::System => {
            let listed: Vec<String> = params
                .iter()
                .filter(|(k, _)| k == "_type")
                .flat_map(|(_, v)| v.split(',').map(str::to_string))
                .collect();
            params.retain(|(k, _)| k != "_type");
            for t in &listed {
                resource_type(t).map_err(|_| {
                    FhirError::bad_request(
                        "not-supported",
                        format!("_type: '{t}' is not a resource type"),
                    )
                })?;
            }
            let types = if listed.is_empty() {
                model()
                    .resource_types()
                    .iter()
                    .filter(|t| t.as_str() != "Parameters")
                    .cloned()
                    .collect()
            } else {
                listed.clone()
            };
            if !listed.is_empty() {
                params.insert(0, ("_type".to_string(), listed.join(",")));
            }
            (types, String::new(), None)
        }
        Scope::Compartment(c, id, types) => (
            types.clone(),
            format!(
                "{c}/{id}/{}",
                if types.len() == 1 {
                    types[0].as_str()
                } else {
                    "*"
                }
            ),
            Some((c.clone(), id.clone())),
        ),
    };
    // A search of every type needs a scope on every type; one of some types
    // (named by `_type`, a compartment's or the URL's) a scope on each.
    if matches!(scope, Scope::System) && !params.iter().any(|(k, _)| k == "_type") {
        state.gate.check(Access {
            interaction: Interaction::SearchSystem,
            resource_type: None,
            id: None,
        })?;
    } else {
        for t in &types {
            state.gate.check(Access {
                interaction: Interaction::SearchType,
                resource_type: Some(t),
                id: None,
            })?;
        }
    }
    let search_params: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "_type")
        .cloned()
        .collect();
    let limits = Limits {
        default_count: config.default_count,
        max_count: config.max_count,
        max_included: config.max_included,
    };
    let mut parsed = parse(
        registry(),
        &types,
        &search_params,
        &config.base_url,
        strict,
        limits,
    )
    .map_err(problems_error)?;
    if fhir.summary == Summary::Count {
        parsed.search.count = 0;
        parsed.search.total = crate::search::query::Total::Accurate;
    }
    if let Some((c, id)) = &compartment {
        for branch in &mut parsed.search.branches {
            if let Some(cond) = compartment::condition(registry(), c, id, &branch.resource_type) {
                branch.clauses.push(Clause(vec![cond]));
            }
        }
    }
    state
        .gate
        .restrict(&mut parsed.search, &[Permission::Search]);
    let page = state
        .store
        .search(&parsed.search)
        .await
        .map_err(store_error)?;
    let base = &config.base_url;
    let mut used = parsed.used.clone();
    if let Some(code) = fhir.summary.code() {
        used.push(("_summary".to_string(), code.to_string()));
    }
    if let Some(names) = &fhir.elements {
        used.push(("_elements".to_string(), names.join(",")));
    }
    if matches!(scope, Scope::System)
        && let Some(t) = params.iter().find(|(k, _)| k == "_type")
    {
        used.insert(0, t.clone());
    }
    let link = |cursor: Option<&Cursor>| {
        let mut pairs = used.clone();
        if let Some(c) = cursor {
            pairs.push(("_cursor".to_string(), encode_cursor(c)));
        }
        let query = encode_query(&pairs);
        let sep = if path.is_empty() { "" } else { "/" };
        if query.is_empty() {
            format!("{base}{sep}{path}")
        } else {
            format!("{base}{sep}{path}?{query}")
        }
    };
    let mut links = vec![json!({"relation": "self", "url": link(None)})];
    if let Some(n) = &page.next {
        links.push(json!({"relation": "next", "url": link(Some(n))}));
    }
    if let Some(p) = &page.previous {
        links.push(json!({"relation": "previous", "url": link(Some(p))}));
    }
    let mut entries = Vec::new();
    for v in &page.matches {
        entries.push(entry(base, v, "match", fhir)?);
    }
    for v in &page.included {
        // `_include` and `_revinclude` (with `:iterate`) bring in resources of
        // any type: each is judged against the read scope of its own type.
        if readable(state, Permission::Read, v).await? {
            entries.push(entry(base, v, "include", fhir)?);
        }
    }
    if !parsed.ignored.is_empty() {
        let issues: Vec<Issue> = parsed
            .ignored
            .iter()
            .map(|p| Issue {
                severity: Severity::Warning,
                code: "not-supported",
                diagnostics: format!("ignored {}: {}", p.parameter, p.message),
                expression: Some(p.parameter.clone()),
            })
            .collect();
        entries.push(json!({
            "resource": operation_outcome(&issues),
            "search": {"mode": "outcome"},
        }));
    }
    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "meta": {"lastUpdated": format_instant(now_micros())},
        "type": "searchset",
    });
    if let Some(total) = page.total {
        bundle["total"] = json!(total);
    }
    bundle["link"] = Value::Array(links);
    if !entries.is_empty() {
        bundle["entry"] = Value::Array(entries);
    }
    response::value_response(StatusCode::OK, &bundle, fhir)
}

/// A searchset entry.
fn entry(base: &str, v: &Version, mode: &str, fhir: &Fhir) -> Result<Value, FhirError> {
    let stored = v
        .body
        .as_deref()
        .ok_or_else(|| FhirError::internal("search", "a deleted version matched"))?;
    Ok(json!({
        "fullUrl": format!("{base}/{}/{}", v.resource_type, v.id),
        "resource": response::resource_value(stored, fhir)?,
        "search": {"mode": mode},
    }))
}

/// `name=value&…`, percent-encoding what a query component cannot hold.
fn encode_query(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}
