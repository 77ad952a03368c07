//! The FHIR R4 RESTful API (http.html) over axum. Handlers stay thin: the
//! extractors in [`request`] do the protocol work (negotiation, body parsing and
//! validation, preconditions), [`response`] writes resources and headers, and
//! the layer in this file turns every error into an OperationOutcome in the
//! negotiated format.

mod bundle;
mod capability;
pub mod format;
mod history;
mod instance;
pub(crate) use instance::is_valid_id;
mod patch;
pub mod request;
mod response;
mod search;

use crate::auth::Gate;
use crate::config::Config;
use crate::fhir::error::FhirError;
use crate::store::Store;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What every handler shares.
pub struct AppState {
    pub store: Store,
    pub config: Config,
    pub gate: Gate,
    /// False once shutdown has begun (`/ready` then answers 503).
    pub ready: AtomicBool,
    /// The CapabilityStatement, built on first request (it lists some 2,800
    /// search parameters and their include targets).
    pub capability: std::sync::OnceLock<serde_json::Value>,
    /// The HL7 v2 engine, once its listener runs (for the admin API).
    pub engine: std::sync::OnceLock<Arc<crate::engine::Engine>>,
    /// The authorization server, with `--auth smart`.
    pub auth: Option<Arc<crate::auth::server::AuthServer>>,
    /// The audit trail, with `--audit on`.
    pub audit: Option<Arc<crate::audit::Audit>>,
    /// The external identity provider's token check, with `--auth external`.
    pub external: Option<Arc<crate::auth::external::ExternalAuth>>,
}

pub type Shared = Arc<AppState>;

/// The router of the FHIR API, `/metadata`, `/health`, `/ready` and `/metrics`.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/metadata", get(capability::metadata))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/", get(search::system_get).post(bundle::post))
        .route("/_search", post(search::system_post))
        .route("/_history", get(history::system))
        .route(
            "/{type}",
            get(search::type_get)
                .post(instance::create)
                .put(instance::conditional_update)
                .patch(patch::conditional_patch)
                .delete(instance::conditional_delete),
        )
        .route("/{type}/_history", get(history::type_level))
        .route("/{type}/_search", post(search::type_post))
        .route(
            "/{type}/{id}",
            get(instance::read)
                .put(instance::update)
                .patch(patch::patch)
                .delete(instance::delete),
        )
        .route("/{type}/{id}/_history", get(history::instance))
        .route("/{type}/{id}/{member}", get(search::compartment_get))
        .route("/{type}/{id}/_history/{vid}", get(instance::vread))
        .merge(crate::server::admin::routes())
        .merge(crate::auth::server::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::server::require_token,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::audit::layer::audit,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::cors::cors,
        ))
        .layer(middleware::from_fn(render_errors))
        .with_state(state)
}

async fn health() -> &'static str {
    "ok"
}

async fn ready(State(state): State<Shared>) -> Response {
    if state.ready.load(Ordering::Relaxed) {
        "ready".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response()
    }
}

/// Counters in the Prometheus text format.
async fn metrics(State(state): State<Shared>) -> Response {
    let s = state.store.stats();
    let body = format!(
        "# HELP hemolink_store_units_total Units of work acknowledged by the store.\n\
         # TYPE hemolink_store_units_total counter\n\
         hemolink_store_units_total {}\n\
         # HELP hemolink_store_commits_total Store transactions committed (group commit carries many units).\n\
         # TYPE hemolink_store_commits_total counter\n\
         hemolink_store_commits_total {}\n\
         # HELP hemolink_store_syncs_total File syncs (fsync/fdatasync) the store asked of the OS.\n\
         # TYPE hemolink_store_syncs_total counter\n\
         hemolink_store_syncs_total {}\n\
         # HELP hemolink_store_sync_wait_seconds_total Time those syncs waited for the disk (wall time less the CPU time of their thread).\n\
         # TYPE hemolink_store_sync_wait_seconds_total counter\n\
         hemolink_store_sync_wait_seconds_total {:.6}\n",
        s.units,
        s.commits,
        s.syncs,
        s.sync_wait_micros as f64 / 1e6
    );
    ([("content-type", "text/plain; version=0.0.4")], body).into_response()
}

async fn not_found() -> FhirError {
    FhirError::not_found("no FHIR endpoint at this path")
}

async fn method_not_allowed() -> FhirError {
    FhirError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "not-supported",
        "this interaction is not supported on this path",
    )
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut response = status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Writes errors (which carry their OperationOutcome in the response extensions)
/// in the syntax the client asked for, and turns a panic into a 500.
async fn render_errors(request: Request, next: Next) -> Response {
    let query = request.uri().query().unwrap_or("").to_string();
    let accept = request
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let response = match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            FhirError::internal("a request handler panicked", what).into_response()
        }
    };
    let vary = (
        axum::http::header::VARY,
        axum::http::HeaderValue::from_static("Accept"),
    );
    let Some(error) = response.extensions().get::<FhirError>().cloned() else {
        let mut response = response;
        response.headers_mut().insert(vary.0, vary.1);
        return response;
    };
    let format_param = request::query_value(&query, "_format");
    let wanted = format::negotiate(format_param.as_deref(), accept.as_deref(), false).unwrap_or(
        format::Wanted::Fhir(format::Syntax::Json, format::JSON_MIME),
    );
    let pretty = request::query_value(&query, "_pretty").as_deref() == Some("true");
    let mut out = response::outcome_response(error.status, &error.outcome(), &wanted, pretty);
    for (name, value) in response.headers() {
        if name != "content-type" && name != "content-length" {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out.headers_mut().insert(vary.0, vary.1);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn boom() -> &'static str {
        panic!("a bug in a handler")
    }

    #[tokio::test]
    async fn a_panic_becomes_a_500_operation_outcome() {
        let app: Router = Router::new()
            .route("/boom", get(boom))
            .layer(middleware::from_fn(render_errors));
        let request = Request::builder()
            .uri("/boom")
            .header("accept", "application/fhir+xml")
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("<OperationOutcome"), "{text}");
        assert!(text.contains("exception"), "{text}");
        assert!(
            !text.contains("a bug in a handler"),
            "panic details stay in the log: {text}"
        );
    }
}
