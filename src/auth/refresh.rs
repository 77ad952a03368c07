//! Refresh tokens (app-launch.html#refresh-access-token), revocation
//! (RFC 7009) and introspection (RFC 7662, token-introspection.html).
//!
//! A refresh token is made when a user grants `offline_access`: 256 random
//! bits, kept in the registry only as their SHA-256, bound to the client and
//! to what the user granted, valid 90 days. Refreshing may narrow the scopes,
//! never widen them; a public client's refresh token is replaced at each use. Revoking a refresh token ends it; revoking an access
//! token puts its `jti` on a list the token check consults until it expires.

use super::authorize::UserGrant;
use super::registry::{ClientKind, Registry};
use super::scope::Scope;
use super::server::{
    AuthServer, OAuthError, check, client_of, form_field, json_response, no_store, refuse, server,
    user_token,
};
use crate::fhir::instant::now_micros;
use crate::fhir::rest::Shared;
use crate::fhir::rest::request::query_pairs;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rusqlite::{OptionalExtension, params};
use serde_json::{Value, json};
use std::collections::HashMap;

/// How long a refresh token lives, in seconds.
const REFRESH_LIFETIME: i64 = 90 * 24 * 3600;

fn digest(token: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d.as_ref())
}

impl Registry {
    /// Makes a refresh token for what a user granted.
    pub fn add_refresh_token(&self, grant: &UserGrant) -> Result<String, String> {
        let token = super::registry::new_secret();
        let now = now_micros() / 1_000_000;
        self.conn
            .execute(
                "INSERT INTO refresh_token
                 (hash, client_id, username, scopes, fhir_user, patient, expires, revoked, context)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8)",
                params![
                    digest(&token),
                    grant.client_id,
                    grant.username,
                    grant.scopes.join(" "),
                    grant.fhir_user,
                    grant.patient,
                    now + REFRESH_LIFETIME,
                    grant.launch.as_ref().map(Value::to_string),
                ],
            )
            .map_err(|e| e.to_string())?;
        Ok(token)
    }

    /// What a live refresh token grants, and when it expires.
    fn refresh_token(&self, token: &str) -> Result<Option<(UserGrant, i64)>, String> {
        let now = now_micros() / 1_000_000;
        self.conn
            .query_row(
                "SELECT client_id, username, scopes, fhir_user, patient, expires, context
                 FROM refresh_token
                 WHERE hash = ?1 AND revoked = 0 AND expires > ?2",
                params![digest(token), now],
                |r| {
                    Ok((
                        UserGrant {
                            client_id: r.get(0)?,
                            username: r.get(1)?,
                            scopes: r
                                .get::<_, String>(2)?
                                .split_whitespace()
                                .map(str::to_string)
                                .collect(),
                            fhir_user: r.get(3)?,
                            patient: r.get(4)?,
                            launch: r
                                .get::<_, Option<String>>(6)?
                                .and_then(|t| serde_json::from_str(&t).ok()),
                        },
                        r.get(5)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| e.to_string())
    }

    /// Ends a refresh token of `client_id`; whether there was one.
    fn revoke_refresh_token(&self, token: &str, client_id: &str) -> Result<bool, String> {
        self.conn
            .execute(
                "UPDATE refresh_token SET revoked = 1 WHERE hash = ?1 AND client_id = ?2",
                params![digest(token), client_id],
            )
            .map(|n| n > 0)
            .map_err(|e| e.to_string())
    }

    /// Puts an access token's `jti` on the revoked list until `exp`.
    pub(super) fn revoke_jti(&self, jti: &str, exp: i64) -> Result<(), String> {
        let now = now_micros() / 1_000_000;
        self.conn
            .execute("DELETE FROM revoked_jti WHERE exp < ?1", params![now])
            .map_err(|e| e.to_string())?;
        self.conn
            .execute(
                "INSERT OR IGNORE INTO revoked_jti (jti, exp) VALUES (?1, ?2)",
                params![jti, exp],
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The revoked access tokens not yet expired: `jti` → `exp`.
    pub fn revoked_jtis(&self) -> Result<HashMap<String, i64>, String> {
        let now = now_micros() / 1_000_000;
        let mut stmt = self
            .conn
            .prepare("SELECT jti, exp FROM revoked_jti WHERE exp >= ?1")
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map(params![now], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| e.to_string())?;
        rows.map(|r| r.map_err(|e| e.to_string())).collect()
    }
}

/// `grant_type=refresh_token`.
pub(super) fn refresh(
    auth: &AuthServer,
    form: &[(String, String)],
    basic: Option<&str>,
) -> Result<Value, OAuthError> {
    let client = client_of(auth, form, basic)?;
    let token = form_field(form, "refresh_token").unwrap_or("");
    let (granted, _) = auth
        .registry()
        .refresh_token(token)
        .map_err(|e| refuse("server_error", e))?
        .filter(|(g, _)| g.client_id == client.id)
        .ok_or_else(|| {
            refuse(
                "invalid_grant",
                "the refresh token is unknown, revoked or expired",
            )
        })?;
    let mut grant = granted.clone();
    if let Some(asked) = form_field(form, "scope") {
        let held: Vec<Scope> = grant
            .scopes
            .iter()
            .filter_map(|s| Scope::parse(s).ok())
            .collect();
        let asked = Scope::parse_list(asked).map_err(|e| refuse("invalid_scope", e))?;
        if let Some(wider) = asked.iter().find(|a| !held.iter().any(|h| h.covers(a))) {
            return Err(refuse(
                "invalid_scope",
                format!("'{wider}' was not granted: a refresh can only narrow the scopes"),
            ));
        }
        grant.scopes = asked.iter().map(ToString::to_string).collect();
    }
    let mut body = user_token(auth, &grant, None)?;
    // A public client's refresh token is used once: it is replaced by a new
    // one (for what was granted, however this refresh narrowed), so that a
    // stolen copy stops working once the app has used it.
    let next = if client.kind == ClientKind::Public {
        let registry = auth.registry();
        registry
            .revoke_refresh_token(token, &client.id)
            .map_err(|e| refuse("server_error", e))?;
        registry
            .add_refresh_token(&granted)
            .map_err(|e| refuse("server_error", e))?
    } else {
        token.to_string()
    };
    body["refresh_token"] = json!(next);
    Ok(body)
}

/// The form and the HTTP Basic credentials of a request.
fn parts(headers: &HeaderMap, body: &Bytes) -> (Vec<(String, String)>, Option<String>) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .map(str::to_string);
    (query_pairs(&String::from_utf8_lossy(body)), basic)
}

/// `POST /auth/revoke` (RFC 7009): the client revokes one of its tokens.
/// The answer is 200 whether or not the token was known.
pub async fn revoke(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(auth) = server(&state) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (form, basic) = parts(&headers, &body);
    auth.prepare_assertion(&form).await;
    let client = match client_of(auth, &form, basic.as_deref()) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let token = form_field(&form, "token").unwrap_or("");
    // The registry's lock is taken for one call at a time: `check` takes it too.
    let refreshed = auth.registry().revoke_refresh_token(token, &client.id);
    let done = match refreshed {
        Ok(true) => Ok(()),
        Ok(false) => match check(auth, token) {
            Ok(access) if access.grant.client_id == client.id => {
                auth.revoke(&access.jti, access.exp)
            }
            _ => Ok(()),
        },
        Err(e) => Err(e),
    };
    if let Err(e) = done {
        return refuse("server_error", e).into_response();
    }
    tracing::info!("client {} revoked a token", client.id);
    let mut r = json_response(StatusCode::OK, &json!({}));
    no_store(&mut r);
    r
}

/// `POST /auth/introspect` (token-introspection.html): for a client
/// authenticated as it registered, or for the holder of an access token.
pub async fn introspect(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(auth) = server(&state) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (form, basic) = parts(&headers, &body);
    auth.prepare_assertion(&form).await;
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let token = form_field(&form, "token").unwrap_or("");
    // Who may ask: a confidential client (authenticated), a backend's
    // access token (a `system/` scope: a resource server), or the holder of
    // the token asked about. A public client proves nothing, and one app's
    // token does not open another's.
    let allowed = match bearer {
        Some(t) => check(auth, t).is_ok_and(|c| {
            t == token
                || c.grant.scopes.iter().any(|s| {
                    matches!(
                        s,
                        super::scope::Scope::Clinical {
                            context: super::scope::Context::System,
                            ..
                        }
                    )
                })
        }),
        None => client_of(auth, &form, basic.as_deref())
            .is_ok_and(|c| c.kind != super::registry::ClientKind::Public),
    };
    if !allowed {
        return refuse(
            "invalid_client",
            "introspection needs a confidential client's authentication, a backend's access token, or the token itself",
        )
        .into_response();
    }
    let answer = match check(auth, token) {
        Ok(access) => {
            let mut a = json!({
                "active": true,
                "scope": access.grant.scopes.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "),
                "client_id": access.grant.client_id,
                "exp": access.exp,
                "iss": auth.base(),
                "sub": access.claims["sub"],
                "token_type": "Bearer",
            });
            for context in [
                "patient",
                "fhirUser",
                "encounter",
                "fhirContext",
                "need_patient_banner",
                "intent",
            ] {
                if let Some(v) = access.claims.get(context) {
                    a[context] = v.clone();
                }
            }
            a
        }
        Err(_) => match auth.registry().refresh_token(token) {
            Ok(Some((grant, exp))) => json!({
                "active": true,
                "scope": grant.scopes.join(" "),
                "client_id": grant.client_id,
                "exp": exp,
                "iss": auth.base(),
                "sub": grant.username,
                "token_type": "refresh_token",
            }),
            _ => json!({ "active": false }),
        },
    };
    let mut r = json_response(StatusCode::OK, &answer);
    no_store(&mut r);
    r
}
