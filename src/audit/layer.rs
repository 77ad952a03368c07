//! The audit layer around the router: after each request, its AuditEvent
//! ([`super::event`]) is queued. Who made it comes from the token check (a
//! [`Who`] it puts on the response), from the grant in force (the entries
//! of a batch, served through the router again within their Bundle's
//! request), or from the authorization server's own answers. Health,
//! readiness, metrics, discovery and the JWKS are not audited: they hold no
//! record and decide nothing.

use super::event::{Request as Seen, Who, audit_event};
use crate::fhir::rest::Shared;
use crate::server::admin::Peer;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// Whether requests to `path` are audited.
fn audited(path: &str) -> bool {
    !matches!(path, "/health" | "/ready" | "/metrics" | "/auth/jwks")
        && !path.starts_with("/.well-known/")
}

/// The middleware.
pub async fn audit(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let Some(audit) = state.audit.as_deref() else {
        return next.run(request).await;
    };
    let path = request.uri().path().to_string();
    if !audited(&path) {
        return next.run(request).await;
    }
    let method = request.method().to_string();
    let query = request.uri().query().map(str::to_string);
    let address = request
        .extensions()
        .get::<Peer>()
        .map(|p| p.0.ip().to_string());
    let in_force = crate::auth::grant::GRANT
        .try_with(|g| Who {
            client_id: Some(g.client_id.clone()).filter(|c| !c.is_empty()),
            user: g.user.clone(),
            patient: g.patient.clone(),
        })
        .ok();
    let response = next.run(request).await;
    let who = response
        .extensions()
        .get::<Who>()
        .cloned()
        .or(in_force)
        .unwrap_or_default();
    let seen = Seen {
        method,
        path,
        query,
        status: response.status().as_u16(),
        address,
        who,
    };
    audit
        .record(audit_event(&state.config.base_url, &seen))
        .await;
    response
}
