//! Cross-origin requests (app-launch.html#considerations-for-cross-origin-resource-sharing-cors-support),
//! for apps that run in a browser. Discovery (`/metadata`,
//! `/.well-known/*`) and the JWKS answer every origin. The FHIR API, the
//! token, revocation and introspection endpoints, and `/admin/*` answer only
//! the origins of registered clients (the scheme, host and port of each
//! redirect URI), with the credentials header and the response headers a
//! FHIR client reads; their preflight (`OPTIONS` with
//! `Access-Control-Request-Method`) is answered here, before the token check,
//! and refused (403, no CORS header) for another origin. Only with
//! `--auth smart`: it is the registry that knows the clients' origins.

use crate::fhir::rest::Shared;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashSet;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// How long the registered origins are used before they are read again.
const ORIGINS_FRESH: Duration = Duration::from_secs(30);

/// The registered clients' origins, as last read.
#[derive(Default)]
pub struct Origins {
    cache: RwLock<Option<(Instant, HashSet<String>)>>,
}

impl Origins {
    fn contains(&self, origin: &str, read: impl FnOnce() -> HashSet<String>) -> bool {
        {
            let cache = self
                .cache
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((at, set)) = cache.as_ref()
                && at.elapsed() < ORIGINS_FRESH
            {
                return set.contains(origin);
            }
        }
        let set = read();
        let found = set.contains(origin);
        *self
            .cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((Instant::now(), set));
        found
    }
}

/// The origin (`scheme://host[:port]`) of a URL.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty()).then(|| format!("{scheme}://{authority}").to_ascii_lowercase())
}

/// Whether a path is public discovery, which every origin may read.
fn discovery(path: &str) -> bool {
    path == "/metadata" || path == "/auth/jwks" || path.starts_with("/.well-known/")
}

/// The request headers a FHIR client sends.
const ALLOW_HEADERS: &str = "Authorization, Content-Type, Accept, Prefer, If-Match, If-None-Match, If-None-Exist, If-Modified-Since, X-Requested-With";
/// The response headers a FHIR client reads.
const EXPOSE_HEADERS: &str = "Location, Content-Location, ETag, Last-Modified, WWW-Authenticate";

fn set(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// The middleware.
pub async fn cors(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let Some(auth) = state.auth.as_deref() else {
        return next.run(request).await;
    };
    let Some(origin) = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return next.run(request).await;
    };
    let path = request.uri().path().to_string();
    let public = discovery(&path);
    let registered = !public
        && auth
            .origins()
            .contains(&origin.to_ascii_lowercase(), || auth.client_origins());
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        if !public && !registered {
            return (
                StatusCode::FORBIDDEN,
                "this origin is not a registered client's",
            )
                .into_response();
        }
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        set(
            h,
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            if public { "*" } else { &origin },
        );
        set(
            h,
            header::ACCESS_CONTROL_ALLOW_METHODS,
            "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
        );
        set(h, header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS);
        set(h, header::ACCESS_CONTROL_MAX_AGE, "600");
        set(h, header::VARY, "Origin");
        return r;
    }
    let mut r = next.run(request).await;
    let h = r.headers_mut();
    if public {
        set(h, header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    } else if registered {
        set(h, header::ACCESS_CONTROL_ALLOW_ORIGIN, &origin);
        set(h, header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE_HEADERS);
        set(h, header::VARY, "Origin");
    } else {
        h.remove(header::ACCESS_CONTROL_ALLOW_ORIGIN);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_of_urls() {
        assert_eq!(
            origin_of("https://App.example:8443/cb?x=1").as_deref(),
            Some("https://app.example:8443")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:9999/cb").as_deref(),
            Some("http://127.0.0.1:9999")
        );
        assert_eq!(
            origin_of("https://app.example").as_deref(),
            Some("https://app.example")
        );
        assert_eq!(origin_of("not a url"), None);
        assert_eq!(origin_of("https:///cb"), None);
    }
}
