//! The HL7 v2 admin API: the message store and the outbox, read and acted
//! on over HTTP. With `--auth smart` it needs the token of a user whose role
//! is `admin`; without authorization it answers loopback clients only. Answers are plain JSON (not FHIR resources); errors are
//! OperationOutcomes like the rest of the server's.
//!
//! - `GET /admin/hl7/messages?status=error&since=2026-11-01&after=ID&_count=N`
//! - `GET /admin/hl7/messages/{id}` (with the raw message and its reply)
//! - `POST /admin/hl7/messages/{id}/reprocess`
//! - `GET /admin/hl7/outbox?status=errored&destination=…&after=ID&_count=N`
//! - `POST /admin/hl7/outbox/{id}/resend`

use crate::engine::process::Reprocess;
use crate::fhir::error::FhirError;
use crate::fhir::instant::{format_instant, parse_range};
use crate::fhir::rest::Shared;
use crate::store::messages::{
    DeliveryStatus, MessageQuery, OutboxEntry, OutboxQuery, Status, StoredMessage,
};
use axum::Router;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;

/// The address of the client of a connection, put on each of its requests.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// `service` with the connection's peer address on every request.
pub fn with_peer<S>(
    service: S,
    peer: SocketAddr,
) -> tower::util::MapRequest<
    S,
    impl Fn(hyper::Request<hyper::body::Incoming>) -> hyper::Request<hyper::body::Incoming> + Clone,
> {
    tower::util::MapRequest::new(
        service,
        move |mut r: hyper::Request<hyper::body::Incoming>| {
            r.extensions_mut().insert(Peer(peer));
            r
        },
    )
}

/// The admin routes.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/admin/hl7/messages", get(messages))
        .route("/admin/hl7/messages/{id}", get(message))
        .route("/admin/hl7/messages/{id}/reprocess", post(reprocess))
        .route("/admin/hl7/outbox", get(outbox))
        .route("/admin/hl7/outbox/{id}/resend", post(resend))
}

/// Most rows one page lists.
const MAX_PAGE: usize = 1000;

fn local(state: &Shared, peer: Option<Extension<Peer>>) -> Result<(), FhirError> {
    // With authorization on, an administrator's token, from anywhere.
    if let Some(auth) = state.auth.as_deref() {
        return crate::auth::server::require_admin(auth);
    }
    if state.external.is_some() {
        return Err(FhirError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "with --auth external the admin API has no administrators to answer",
        ));
    }
    match peer {
        Some(Extension(Peer(addr))) if addr.ip().is_loopback() => Ok(()),
        _ => Err(FhirError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "without authorization (--auth smart) the admin API answers loopback clients only",
        )),
    }
}

fn count(params: &HashMap<String, String>) -> Result<usize, FhirError> {
    match params.get("_count") {
        None => Ok(100),
        Some(n) => n
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                FhirError::bad_request("invalid", format!("_count must be 1 to {MAX_PAGE}"))
            }),
    }
}

fn after(params: &HashMap<String, String>) -> Result<Option<i64>, FhirError> {
    params
        .get("after")
        .map(|a| {
            a.parse()
                .map_err(|_| FhirError::bad_request("invalid", "after must be a message id"))
        })
        .transpose()
}

fn known(params: &HashMap<String, String>, names: &[&str]) -> Result<(), FhirError> {
    match params.keys().find(|k| !names.contains(&k.as_str())) {
        Some(k) => Err(FhirError::bad_request(
            "not-supported",
            format!("unknown parameter '{k}'; known: {}", names.join(", ")),
        )),
        None => Ok(()),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn message_json(m: &StoredMessage, full: bool) -> Value {
    let n = &m.message;
    let mut v = json!({
        "id": m.id,
        "received": format_instant(n.received),
        "updated": format_instant(m.updated),
        "status": n.status.as_str(),
        "listener": n.listener,
        "peer": n.peer,
        "sendingApplication": n.key.0,
        "sendingFacility": n.key.1,
        "controlId": n.key.2,
        "messageType": n.message_type,
        "version": n.version,
        "resources": n.resources,
    });
    if let Some(of) = m.duplicate_of {
        v["duplicateOf"] = of.into();
    }
    if let Some(e) = &n.error {
        v["error"] = e.clone().into();
    }
    if full {
        v["raw"] = text(&n.raw).into();
        if let Some(ack) = &n.ack {
            v["ack"] = text(ack).into();
        }
    }
    v
}

fn outbox_json(e: &OutboxEntry) -> Value {
    let mut v = json!({
        "id": e.id,
        "destination": e.destination,
        "controlId": e.control_id,
        "status": e.status.as_str(),
        "attempts": e.attempts,
        "created": format_instant(e.created),
        "updated": format_instant(e.updated),
        "payload": text(&e.payload),
    });
    if e.status == DeliveryStatus::Pending {
        v["nextAttempt"] = format_instant(e.next_attempt).into();
    }
    if let Some(s) = e.source {
        v["source"] = s.into();
    }
    if let Some(err) = &e.error {
        v["error"] = err.clone().into();
    }
    if let Some(ack) = &e.ack {
        v["ack"] = text(ack).into();
    }
    v
}

fn answer(result: Result<Value, FhirError>) -> Response {
    match result {
        Ok(v) => ([("content-type", "application/json")], v.to_string()).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn messages(
    State(state): State<Shared>,
    peer: Option<Extension<Peer>>,
    uri: Uri,
) -> Response {
    let params: HashMap<String, String> =
        crate::fhir::rest::request::query_pairs(uri.query().unwrap_or(""))
            .into_iter()
            .collect();
    answer(
        async {
            local(&state, peer)?;
            known(&params, &["status", "since", "after", "_count"])?;
            let status = params
                .get("status")
                .map(|s| {
                    Status::parse(s).ok_or_else(|| {
                        FhirError::bad_request(
                            "invalid",
                            "status must be received, processed, error or duplicate",
                        )
                    })
                })
                .transpose()?;
            let since = params
                .get("since")
                .map(|s| {
                    parse_range(s).map(|(start, _)| start).ok_or_else(|| {
                        FhirError::bad_request("invalid", "since must be a date or an instant")
                    })
                })
                .transpose()?;
            let limit = count(&params)?;
            let list = state
                .store
                .messages(&MessageQuery {
                    status,
                    since,
                    after: after(&params)?,
                    limit,
                    ..Default::default()
                })
                .await
                .map_err(|e| FhirError::internal("message store", e))?;
            let mut page = json!({
                "messages": list.iter().map(|m| message_json(m, false)).collect::<Vec<_>>()
            });
            if list.len() == limit
                && let Some(last) = list.last()
            {
                page["after"] = last.id.into();
            }
            Ok(page)
        }
        .await,
    )
}

async fn one(state: &Shared, id: i64) -> Result<StoredMessage, FhirError> {
    state
        .store
        .message(id)
        .await
        .map_err(|e| FhirError::internal("message store", e))?
        .ok_or_else(|| FhirError::not_found(format!("there is no message {id}")))
}

/// The engine, which runs only with an MLLP listener.
fn engine(state: &Shared) -> Result<&crate::engine::Engine, FhirError> {
    state.engine.get().map(|e| e.as_ref()).ok_or_else(|| {
        FhirError::new(
            StatusCode::CONFLICT,
            "not-supported",
            "no MLLP listener runs (--mllp-listen), so the message store cannot be acted on",
        )
    })
}

async fn message(
    State(state): State<Shared>,
    peer: Option<Extension<Peer>>,
    Path(id): Path<i64>,
) -> Response {
    answer(
        async {
            local(&state, peer)?;
            Ok(message_json(&one(&state, id).await?, true))
        }
        .await,
    )
}

async fn reprocess(
    State(state): State<Shared>,
    peer: Option<Extension<Peer>>,
    Path(id): Path<i64>,
) -> Response {
    answer(
        async {
            local(&state, peer)?;
            match engine(&state)?.reprocess(id).await {
                Ok(()) => Ok(message_json(&one(&state, id).await?, true)),
                Err(Reprocess::NotFound) => {
                    Err(FhirError::not_found(format!("there is no message {id}")))
                }
                Err(Reprocess::Refused(why)) => Err(FhirError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "processing",
                    why,
                )),
                Err(Reprocess::Failed(why)) => Err(FhirError::internal("reprocess", why)),
            }
        }
        .await,
    )
}

async fn outbox(State(state): State<Shared>, peer: Option<Extension<Peer>>, uri: Uri) -> Response {
    let params: HashMap<String, String> =
        crate::fhir::rest::request::query_pairs(uri.query().unwrap_or(""))
            .into_iter()
            .collect();
    answer(
        async {
            local(&state, peer)?;
            known(&params, &["status", "destination", "after", "_count"])?;
            let status = params
                .get("status")
                .map(|s| {
                    DeliveryStatus::parse(s).ok_or_else(|| {
                        FhirError::bad_request("invalid", "status must be pending, sent or errored")
                    })
                })
                .transpose()?;
            let limit = count(&params)?;
            let list = state
                .store
                .outbox(&OutboxQuery {
                    status,
                    destination: params.get("destination").cloned(),
                    after: after(&params)?,
                    limit,
                    ..Default::default()
                })
                .await
                .map_err(|e| FhirError::internal("outbox", e))?;
            let mut page = json!({ "entries": list.iter().map(outbox_json).collect::<Vec<_>>() });
            if list.len() == limit
                && let Some(last) = list.last()
            {
                page["after"] = last.id.into();
            }
            Ok(page)
        }
        .await,
    )
}

async fn resend(
    State(state): State<Shared>,
    peer: Option<Extension<Peer>>,
    Path(id): Path<i64>,
) -> Response {
    answer(
        async {
            local(&state, peer)?;
            let entry = engine(&state)?
                .outbound
                .resend(id)
                .await
                .map_err(FhirError::not_found)?;
            Ok(json!({"id": entry.id, "status": "pending"}))
        }
        .await,
    )
}
