//! The authorization server's HTTP side with `--auth smart`: the SMART
//! discovery document, the JWKS, the token endpoint, and the check that puts
//! each FHIR request's access token in force (as [`GRANT`]) or answers 401.
//!
//! What works so far: SMART Backend Services (`client_credentials` with a
//! `private_key_jwt` assertion, RS384 or ES384, checked against the keys
//! registered inline for the client) and the standalone launch
//! (`authorization_code` with PKCE, see [`super::authorize`], for public
//! clients and for confidential ones by secret or assertion). The discovery
//! document lists exactly that, with refresh, revocation and introspection
//! ([`super::refresh`]); identity tokens and the EHR launch are not built yet
//! and are not listed.

use super::authorize::{Sessions, UserGrant};
use super::fetch::RemoteKeys;
use super::grant::{GRANT, Grant, Permission};
use super::keys::TOKEN_LIFETIME_MAX;
use super::registry::{Client, ClientKind, Registry, Role};
use super::scope::{Context, Scope};
use crate::audit::event::Who;
use crate::fhir::error::FhirError;
use crate::fhir::instant::now_micros;
use crate::fhir::rest::Shared;
use crate::fhir::rest::request::{percent_decode, query_pairs};
use crate::store::{GUARD, Guard, Method};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How long an access token lives, in seconds (Backend Services: SHOULD NOT
/// exceed 300).
const ACCESS_TOKEN_SECONDS: i64 = 300;

/// The longest assertion or access token read (a 1 MB token is refused
/// before any parsing).
const MAX_TOKEN: usize = 16 * 1024;

/// The largest sign-in form read.
const MAX_LOGIN_BODY: usize = 16 << 20;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The authorization server's state.
pub struct AuthServer {
    registry: Mutex<Registry>,
    /// The FHIR base URL: the tokens' issuer and audience.
    base: String,
    /// The published keys by `kid`, as every request's token check needs
    /// them, and when they were read from the registry.
    verifiers: RwLock<(Instant, HashMap<String, DecodingKey>)>,
    /// Sign-in pages open, codes not yet exchanged, failed sign-ins.
    sessions: Mutex<Sessions>,
    /// The revoked access tokens not yet expired (`jti` → `exp`), kept in
    /// memory as every request's token check consults them; the registry
    /// keeps them across restarts.
    revoked: RwLock<HashMap<String, i64>>,
    /// The keys of clients registered with a JWKS URL, by URL.
    remote: Mutex<HashMap<String, Arc<RemoteKeys>>>,
    /// The registered clients' origins, for CORS.
    origins: super::cors::Origins,
}

/// How long the published keys are used before they are read again (a key
/// made by `hemolink auth rotate-key` is read at once: an unknown `kid` reads
/// them again too).
const KEYS_FRESH: Duration = Duration::from_secs(60);

/// The shortest time between two reads of the keys for unknown key ids.
const UNKNOWN_KID_INTERVAL: Duration = Duration::from_secs(1);

impl AuthServer {
    /// Opens the registry of the data directory and makes sure a signing key
    /// exists.
    pub fn open(dir: &std::path::Path, base: &str) -> Result<AuthServer, String> {
        let registry = Registry::open(dir)?;
        registry.signing_key()?;
        let revoked = RwLock::new(registry.revoked_jtis()?);
        Ok(AuthServer {
            registry: Mutex::new(registry),
            base: base.to_string(),
            verifiers: RwLock::new((Instant::now() - KEYS_FRESH, HashMap::new())),
            sessions: Mutex::new(Sessions::default()),
            revoked,
            remote: Mutex::new(HashMap::new()),
            origins: super::cors::Origins::default(),
        })
    }

    /// Whether an access token's `jti` was revoked.
    fn is_revoked(&self, jti: &str) -> bool {
        self.revoked
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains_key(jti)
    }

    /// Revokes an access token until it expires, durably.
    pub(super) fn revoke(&self, jti: &str, exp: i64) -> Result<(), String> {
        self.registry().revoke_jti(jti, exp)?;
        let now = now_micros() / 1_000_000;
        let mut revoked = self
            .revoked
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        revoked.retain(|_, e| *e >= now);
        revoked.insert(jti.to_string(), exp);
        Ok(())
    }

    /// The FHIR base URL (the tokens' audience).
    pub(super) fn base(&self) -> &str {
        &self.base
    }

    pub(super) fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The published key `kid`, to check an access token with. An unknown
    /// `kid` reads the keys again, but not within a second of the last read:
    /// made-up key ids cannot make every request read the registry.
    fn verifier(&self, kid: &str) -> Result<DecodingKey, String> {
        {
            let cached = self
                .verifiers
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match cached.1.get(kid) {
                Some(key) if cached.0.elapsed() < KEYS_FRESH => return Ok(key.clone()),
                None if cached.0.elapsed() < UNKNOWN_KID_INTERVAL => {
                    return Err("signed by a key this server does not have".into());
                }
                _ => {}
            }
        }
        self.read_verifiers(kid)
    }

    /// Makes sure the key that just signed a token is known to the token
    /// check (a key made by `rotate-key` is known from its first token).
    fn signed_with(&self, kid: &str) {
        let known = self
            .verifiers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1
            .contains_key(kid);
        if !known && let Err(e) = self.read_verifiers(kid) {
            tracing::error!("reading the signing keys: {e}");
        }
    }

    /// Reads the published keys from the registry; gives the key `kid`.
    fn read_verifiers(&self, kid: &str) -> Result<DecodingKey, String> {
        let jwks: JwkSet = serde_json::from_value(self.registry().jwks()?)
            .map_err(|e| format!("the published keys: {e}"))?;
        let keys = jwks
            .keys
            .iter()
            .filter(|k| k.common.key_algorithm == Some(jsonwebtoken::jwk::KeyAlgorithm::ES384))
            .filter_map(|k| Some((k.common.key_id.clone()?, DecodingKey::from_jwk(k).ok()?)))
            .collect::<HashMap<_, _>>();
        let found = keys.get(kid).cloned();
        *self
            .verifiers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (Instant::now(), keys);
        found.ok_or_else(|| "signed by a key this server does not have".to_string())
    }

    /// The registered clients' origins, as cached for CORS.
    pub fn origins(&self) -> &super::cors::Origins {
        &self.origins
    }

    /// The origins of every registered client's redirect URIs.
    pub fn client_origins(&self) -> std::collections::HashSet<String> {
        self.registry()
            .clients()
            .unwrap_or_default()
            .iter()
            .flat_map(|c| c.redirect_uris.iter())
            .filter_map(|u| super::cors::origin_of(u))
            .collect()
    }

    /// The keys of the client registered with the JWKS URL `url`.
    fn remote(&self, url: &str) -> Arc<RemoteKeys> {
        self.remote
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(url.to_string())
            .or_insert_with(|| Arc::new(RemoteKeys::new(url)))
            .clone()
    }

    /// Before a request is authenticated: when it carries a client
    /// assertion of a client registered with a JWKS URL, fetches that
    /// client's keys if they are not at hand (the check itself does not wait
    /// on the network).
    pub(super) async fn prepare_assertion(&self, form: &[(String, String)]) {
        let Some(assertion) = form_field(form, "client_assertion") else {
            return;
        };
        let (Some(claims), Some(header)) = (unverified_claims(assertion), segment(assertion, 0))
        else {
            return;
        };
        let (Some(iss), Some(kid)) = (claims["iss"].as_str(), header["kid"].as_str()) else {
            return;
        };
        let url = self.client(iss).and_then(|c| c.jwks_url);
        if let Some(url) = url
            && let Err(e) = self.remote(&url).key(kid).await
        {
            tracing::info!("client {iss}'s keys: {e}");
        }
    }

    fn token_url(&self) -> String {
        format!("{}/auth/token", self.base)
    }

    pub(super) fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The routes of the authorization server.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/.well-known/smart-configuration", get(smart_configuration))
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/auth/jwks", get(jwks))
        .route("/admin/launch", post(super::launch::create))
        .route("/auth/token", post(token))
        .route("/auth/revoke", post(super::refresh::revoke))
        .route("/auth/introspect", post(super::refresh::introspect))
        .route(
            "/auth/authorize",
            get(super::authorize::authorize).post(super::authorize::authorize),
        )
        .route(
            "/auth/login",
            // A 10 MB password is answered as a wrong one, not as a body too large.
            post(super::authorize::login).layer(DefaultBodyLimit::max(MAX_LOGIN_BODY)),
        )
}

/// 403 unless the request's token was issued to a user whose role is
/// `admin` now (a role taken away takes effect at once).
pub fn require_admin(auth: &AuthServer) -> Result<(), FhirError> {
    let user = GRANT.try_with(|g| g.user.clone()).ok().flatten();
    let role = match user {
        Some(u) => auth
            .registry()
            .user(&u)
            .map_err(|e| FhirError::internal("registry", e))?
            .map(|u| u.role),
        None => None,
    };
    if role == Some(Role::Admin) {
        Ok(())
    } else {
        Err(FhirError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this needs the token of a user whose role is admin",
        ))
    }
}

/// Paths anyone may reach with `--auth smart`.
fn public(path: &str) -> bool {
    matches!(path, "/metadata" | "/health" | "/ready")
        || path.starts_with("/.well-known/")
        || path.starts_with("/auth/")
}

pub fn server(state: &Shared) -> Result<&AuthServer, FhirError> {
    state
        .auth
        .as_deref()
        .ok_or_else(|| FhirError::not_found("authorization is off"))
}

pub(super) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

/// `GET /.well-known/smart-configuration` (conformance.html#metadata).
async fn smart_configuration(State(state): State<Shared>) -> Result<Response, FhirError> {
    let auth = server(&state)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "issuer": auth.base,
            "authorization_endpoint": format!("{}/auth/authorize", auth.base),
            "token_endpoint": auth.token_url(),
            "jwks_uri": format!("{}/auth/jwks", auth.base),
            "introspection_endpoint": format!("{}/auth/introspect", auth.base),
            "revocation_endpoint": format!("{}/auth/revoke", auth.base),
            "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
            "response_types_supported": ["code"],
            "token_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
            "scopes_supported": ["system/*.cruds", "system/*.rs", "system/*.read", "system/*.write",
                "user/*.cruds", "user/*.rs", "user/*.read", "user/*.write",
                "patient/*.cruds", "patient/*.rs", "patient/*.read", "patient/*.write",
                "launch", "launch/patient", "launch/encounter", "offline_access", "openid",
                "fhirUser"],
            "capabilities": ["launch-ehr", "launch-standalone", "authorize-post", "client-public",
                "client-confidential-symmetric", "client-confidential-asymmetric",
                "context-ehr-patient", "context-ehr-encounter", "context-standalone-patient",
                "permission-offline", "permission-patient",
                "permission-user", "permission-v1", "permission-v2", "sso-openid-connect"],
            "code_challenge_methods_supported": ["S256"],
        }),
    ))
}

/// `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §3):
/// what an OpenID client needs to check the ID tokens of this issuer.
async fn openid_configuration(State(state): State<Shared>) -> Result<Response, FhirError> {
    let auth = server(&state)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "issuer": auth.base,
            "authorization_endpoint": format!("{}/auth/authorize", auth.base),
            "token_endpoint": auth.token_url(),
            "jwks_uri": format!("{}/auth/jwks", auth.base),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "fhirUser", "launch/patient", "offline_access"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "fhirUser"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported":
                ["none", "client_secret_basic", "client_secret_post", "private_key_jwt"],
            "code_challenge_methods_supported": ["S256"],
        }),
    ))
}

/// The CapabilityStatement's `rest.security` with `--auth smart`: the
/// SMART-on-FHIR service, CORS (for registered clients' origins: see
/// [`super::cors`]) and the `oauth-uris` extension that clients of SMART 1.0
/// look for (conformance.html, "Declaring support").
pub fn security(base: &str) -> Value {
    json!({
        "cors": true,
        "service": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
            "code": "SMART-on-FHIR",
        }]}],
        "extension": [{
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [
                {"url": "authorize", "valueUri": format!("{base}/auth/authorize")},
                {"url": "token", "valueUri": format!("{base}/auth/token")},
            ],
        }],
    })
}

/// `GET /auth/jwks`: the public keys that sign access tokens.
async fn jwks(State(state): State<Shared>) -> Result<Response, FhirError> {
    let auth = server(&state)?;
    let jwks = auth
        .registry()
        .jwks()
        .map_err(|e| FhirError::internal("the signing keys", e))?;
    Ok(json_response(StatusCode::OK, &jwks))
}

/// An OAuth error (RFC 6749 §5.2).
pub(super) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

pub(super) fn refuse(error: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError {
        status: if error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        },
        error,
        description: description.into(),
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        tracing::info!(
            "token request refused: {} ({})",
            self.error,
            self.description
        );
        let mut r = json_response(
            self.status,
            &json!({ "error": self.error, "error_description": self.description }),
        );
        no_store(&mut r);
        r
    }
}

pub(super) fn no_store(r: &mut Response) {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// `POST /auth/token` (backend-services.html#obtaining-an-access-token).
async fn token(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(auth) = server(&state) else {
        return refuse("server_error", "authorization is off").into_response();
    };
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    let form = std::str::from_utf8(&body)
        .map(query_pairs)
        .unwrap_or_default();
    auth.prepare_assertion(&form).await;
    let mut response = match issue(auth, &body, basic) {
        Ok(body) => {
            let mut r = json_response(StatusCode::OK, &body);
            no_store(&mut r);
            r
        }
        Err(e) => e.into_response(),
    };
    // For the audit trail: the client the request named (checked or not:
    // the outcome says which).
    let named = form_field(&form, "client_id")
        .map(str::to_string)
        .or_else(|| {
            form_field(&form, "client_assertion")
                .and_then(unverified_claims)
                .and_then(|c| c["iss"].as_str().map(str::to_string))
        });
    response.extensions_mut().insert(Who {
        client_id: named,
        ..Who::default()
    });
    response
}

fn issue(auth: &AuthServer, body: &[u8], basic: Option<&str>) -> Result<Value, OAuthError> {
    let form = std::str::from_utf8(body)
        .map(query_pairs)
        .map_err(|_| refuse("invalid_request", "the form is not UTF-8"))?;
    let field = |name: &str| form_field(&form, name);
    match field("grant_type") {
        Some("client_credentials") => {}
        Some("authorization_code") => return exchange(auth, &form, basic),
        Some("refresh_token") => return super::refresh::refresh(auth, &form, basic),
        Some(other) => {
            return Err(refuse(
                "unsupported_grant_type",
                format!(
                    "grant_type '{other}' is not supported (authorization_code, refresh_token and client_credentials are)"
                ),
            ));
        }
        None => return Err(refuse("invalid_request", "grant_type is missing")),
    }
    if field("client_assertion_type") != Some(ASSERTION_TYPE) {
        return Err(refuse(
            "invalid_client",
            format!("client_assertion_type must be {ASSERTION_TYPE}"),
        ));
    }
    let assertion = field("client_assertion")
        .ok_or_else(|| refuse("invalid_client", "client_assertion is missing"))?;
    let client = authenticate(auth, assertion)?;
    let client_id = client.id;
    let requested =
        Scope::parse_list(field("scope").unwrap_or("")).map_err(|e| refuse("invalid_scope", e))?;
    let allowed: Vec<Scope> = client
        .scopes
        .iter()
        .filter_map(|s| Scope::parse(s).ok())
        .collect();
    let mut granted = Vec::new();
    for scope in requested {
        if !matches!(
            scope,
            Scope::Clinical {
                context: Context::System,
                ..
            }
        ) {
            return Err(refuse(
                "invalid_scope",
                format!("'{scope}': client_credentials grants system/ scopes only"),
            ));
        }
        if allowed.iter().any(|a| a.covers(&scope)) {
            granted.push(scope.to_string());
        }
    }
    if granted.is_empty() {
        return Err(refuse(
            "invalid_scope",
            "none of the requested scopes is allowed to this client",
        ));
    }
    let now = now_micros() / 1_000_000;
    let scope = granted.join(" ");
    let claims = json!({
        "iss": auth.base,
        "aud": auth.base,
        "sub": client_id,
        "client_id": client_id,
        "scope": scope,
        "iat": now,
        "exp": now + ACCESS_TOKEN_SECONDS.min(TOKEN_LIFETIME_MAX),
        "jti": super::registry::new_secret(),
    });
    let key = auth
        .registry()
        .signing_key()
        .map_err(|e| refuse("server_error", e))?;
    let access_token = key.sign(&claims).map_err(|e| refuse("server_error", e))?;
    auth.signed_with(&key.kid);
    tracing::info!("access token issued to client {client_id}: {scope}");
    Ok(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": ACCESS_TOKEN_SECONDS,
        "scope": scope,
    }))
}

/// The value of a form field.
pub(super) fn form_field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `grant_type=authorization_code`: the code (once, young), the client that
/// got it (authenticated as it registered), its redirect URI and the PKCE
/// verifier; then an access token for the user with the patient chosen.
fn exchange(
    auth: &AuthServer,
    form: &[(String, String)],
    basic: Option<&str>,
) -> Result<Value, OAuthError> {
    let field = |name: &str| form_field(form, name);
    let code = auth
        .sessions()
        .take_code(field("code").unwrap_or(""))
        .ok_or_else(|| refuse("invalid_grant", "the code is unknown, used or expired"))?;
    let client = client_of(auth, form, basic)?;
    if client.id != code.context.client_id {
        return Err(refuse(
            "invalid_grant",
            "the code was issued to another client",
        ));
    }
    if field("redirect_uri") != Some(code.redirect_uri.as_str()) {
        return Err(refuse(
            "invalid_grant",
            "redirect_uri differs from the authorization request's",
        ));
    }
    let verifier = field("code_verifier").unwrap_or("");
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    let computed = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
    };
    if !(43..=128).contains(&verifier.len()) || computed != code.challenge {
        return Err(refuse(
            "invalid_grant",
            "the PKCE code_verifier does not match",
        ));
    }
    let mut body = user_token(auth, &code.context, code.nonce.as_deref())?;
    if code.context.scopes.iter().any(|s| s == "offline_access") {
        let refresh = auth
            .registry()
            .add_refresh_token(&code.context)
            .map_err(|e| refuse("server_error", e))?;
        body["refresh_token"] = json!(refresh);
    }
    Ok(body)
}

/// The client of a token request, authenticated as it registered: by an
/// assertion, by its secret (HTTP Basic or the form), or, for a public
/// client, by its `client_id` alone.
pub(super) fn client_of(
    auth: &AuthServer,
    form: &[(String, String)],
    basic: Option<&str>,
) -> Result<Client, OAuthError> {
    if let Some(assertion) = form_field(form, "client_assertion") {
        return authenticate(auth, assertion);
    }
    if basic.is_some() || form_field(form, "client_secret").is_some() {
        let id = secret_client(auth, form, basic)?;
        return auth
            .client(&id)
            .ok_or_else(|| refuse("invalid_client", "the client is no longer registered"));
    }
    let id = form_field(form, "client_id").unwrap_or("");
    match auth.client(id) {
        Some(c) if c.kind == ClientKind::Public => Ok(c),
        Some(_) => Err(refuse(
            "invalid_client",
            "a confidential client authenticates with its secret or an assertion",
        )),
        None => Err(refuse("invalid_client", "no client has this client_id")),
    }
}

/// The token response for a user's grant: an access token (3,600 s) with
/// the user, the scopes and the patient chosen.
pub(super) fn user_token(
    auth: &AuthServer,
    grant: &UserGrant,
    nonce: Option<&str>,
) -> Result<Value, OAuthError> {
    let now = now_micros() / 1_000_000;
    let scope = grant.scopes.join(" ");
    let mut claims = json!({
        "iss": auth.base,
        "aud": auth.base,
        "sub": grant.username,
        "client_id": grant.client_id,
        "scope": scope,
        "iat": now,
        "exp": now + TOKEN_LIFETIME_MAX,
        "jti": super::registry::new_secret(),
    });
    if let Some(f) = &grant.fhir_user {
        claims["fhirUser"] = json!(format!("{}/{f}", auth.base));
    }
    let mut body = json!({
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME_MAX,
        "scope": scope,
    });
    claims["user"] = json!(grant.username);
    if let Some(p) = &grant.patient {
        claims["patient"] = json!(p);
        body["patient"] = json!(p);
        body["need_patient_banner"] = json!(true);
    }
    if let Some(fields) = grant.launch.as_ref().and_then(Value::as_object) {
        for (k, v) in fields {
            body[k] = v.clone();
            // In the token too, so that introspection can answer with them.
            claims[k] = v.clone();
        }
    }
    let key = auth
        .registry()
        .signing_key()
        .map_err(|e| refuse("server_error", e))?;
    body["access_token"] = json!(key.sign(&claims).map_err(|e| refuse("server_error", e))?);
    auth.signed_with(&key.kid);
    if grant.scopes.iter().any(|s| s == "openid") {
        body["id_token"] = json!(id_token(auth, grant, nonce)?);
    }
    tracing::info!(
        "access token issued to client {} for user {}: {scope}",
        grant.client_id,
        grant.username
    );
    Ok(body)
}

/// An OpenID Connect ID token (RS256) for the user of `grant`, to its client:
/// `iss`, `sub` (the username), `aud` (the client), `iat`, `exp`, the
/// request's `nonce`, and, with `fhirUser` granted, the user's FHIR resource
/// as an absolute URL (scopes-and-launch-context.html#scopes-for-requesting-identity-data).
fn id_token(
    auth: &AuthServer,
    grant: &UserGrant,
    nonce: Option<&str>,
) -> Result<String, OAuthError> {
    let now = now_micros() / 1_000_000;
    let mut claims = json!({
        "iss": auth.base,
        "sub": grant.username,
        "aud": grant.client_id,
        "iat": now,
        "exp": now + TOKEN_LIFETIME_MAX,
    });
    if let Some(n) = nonce {
        claims["nonce"] = json!(n);
    }
    if grant.scopes.iter().any(|s| s == "fhirUser")
        && let Some(f) = &grant.fhir_user
    {
        claims["fhirUser"] = json!(format!("{}/{f}", auth.base));
    }
    let key = auth
        .registry()
        .id_token_key()
        .map_err(|e| refuse("server_error", e))?;
    key.sign(&claims).map_err(|e| refuse("server_error", e))
}

/// The id of a confidential symmetric client authenticated by HTTP Basic or
/// by `client_id` and `client_secret` in the form.
fn secret_client(
    auth: &AuthServer,
    form: &[(String, String)],
    basic: Option<&str>,
) -> Result<String, OAuthError> {
    let field = |name: &str| form_field(form, name);
    let (id, secret) = match basic {
        Some(b64) => {
            use base64::Engine;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| refuse("invalid_client", "the Basic credentials are unreadable"))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| refuse("invalid_client", "the Basic credentials are unreadable"))?;
            // RFC 6749 §2.3.1: each part form-urlencoded before joining.
            (percent_decode(id), percent_decode(secret))
        }
        None => (
            field("client_id").unwrap_or("").to_string(),
            field("client_secret").unwrap_or("").to_string(),
        ),
    };
    // The hash is read under the registry's lock; argon2 runs outside it.
    let hash = auth.registry().secret_hash(&id).ok().flatten();
    if super::registry::verify(hash.as_deref(), &secret) {
        Ok(id)
    } else {
        Err(refuse("invalid_client", "the client secret does not match"))
    }
}

/// Checks a client assertion (client-confidential-asymmetric.html): its
/// signature against the client's registered keys, `iss` = `sub` = a known
/// asymmetric client, `aud` = the token endpoint, `exp` at most five minutes
/// ahead, and a `jti` not seen before. Gives the client.
fn authenticate(auth: &AuthServer, assertion: &str) -> Result<Client, OAuthError> {
    let bad = |why: &str| refuse("invalid_client", why.to_string());
    if assertion.len() > MAX_TOKEN {
        return Err(bad("the client assertion is too large"));
    }
    let alg = header_alg(assertion).ok_or_else(|| bad("the client assertion is not a JWS"))?;
    let (alg, kty) = match alg.as_str() {
        "RS384" => (Algorithm::RS384, "RSA"),
        "ES384" => (Algorithm::ES384, "EC"),
        _ => {
            return Err(bad(
                "the client assertion must be signed with RS384 or ES384",
            ));
        }
    };
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| bad("the client assertion is not a JWS"))?;
    let kid = header
        .kid
        .ok_or_else(|| bad("the client assertion has no kid"))?;
    if header.jku.is_some() {
        return Err(bad(
            "jku is not accepted: keys are registered with the client",
        ));
    }
    let unverified = unverified_claims(assertion).ok_or_else(|| bad("unreadable claims"))?;
    let client_id = unverified["iss"]
        .as_str()
        .ok_or_else(|| bad("the client assertion has no iss"))?
        .to_string();
    let registry = auth.registry();
    let client = registry
        .clients()
        .map_err(|e| refuse("server_error", e))?
        .into_iter()
        .find(|c| c.id == client_id && c.kind == ClientKind::ConfidentialAsymmetric)
        .ok_or_else(|| bad("no asymmetric client has this iss"))?;
    let keys: Vec<Jwk> = match (&client.jwks, &client.jwks_url) {
        (Some(inline), _) => {
            serde_json::from_str::<JwkSet>(inline)
                .map_err(|_| bad("the client's registered JWKS is unreadable"))?
                .keys
        }
        (None, Some(url)) => auth.remote(url).cached(&kid).into_iter().collect(),
        (None, None) => Vec::new(),
    };
    let jwk = keys
        .iter()
        .find(|k| k.common.key_id.as_deref() == Some(kid.as_str()) && kty_of(k) == Some(kty))
        .ok_or_else(|| bad("no registered key has this kid and type"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| bad("the registered key is unusable"))?;
    let mut validation = Validation::new(alg);
    validation.set_audience(&[auth.token_url()]);
    validation.set_issuer(&[client_id.as_str()]);
    validation.sub = Some(client_id.clone());
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.leeway = 30;
    let claims = jsonwebtoken::decode::<Value>(assertion, &key, &validation)
        .map_err(|e| bad(&format!("the client assertion does not check: {e}")))?
        .claims;
    let now = now_micros() / 1_000_000;
    let exp = claims["exp"].as_i64().unwrap_or(0);
    if exp > now + 300 {
        return Err(bad(
            "the client assertion expires more than five minutes ahead",
        ));
    }
    let jti = claims["jti"]
        .as_str()
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| bad("the client assertion has no jti"))?;
    if !registry
        .first_use(&client_id, jti, exp)
        .map_err(|e| refuse("server_error", e))?
    {
        return Err(bad("this client assertion's jti was used before"));
    }
    Ok(client)
}

fn kty_of(jwk: &jsonwebtoken::jwk::Jwk) -> Option<&'static str> {
    match jwk.algorithm {
        jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Some("RSA"),
        jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Some("EC"),
        _ => None,
    }
}

/// The claims of a JWS before its signature is checked (to find the client).
fn unverified_claims(token: &str) -> Option<Value> {
    segment(token, 1)
}

/// The `alg` of a JWS's header, whatever it names (`none` included).
fn header_alg(token: &str) -> Option<String> {
    segment(token, 0)?["alg"].as_str().map(str::to_string)
}

/// Segment `n` of a compact JWS, decoded as JSON.
fn segment(token: &str, n: usize) -> Option<Value> {
    use base64::Engine;
    let mut parts = token.split('.');
    if token.split('.').count() != 3 {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts.nth(n)?)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The layer that, with `--auth smart`, lets a request through only with a
/// valid access token, whose grant is then in force while it is served.
pub async fn require_token(State(state): State<Shared>, request: Request, next: Next) -> Response {
    if state.auth.is_none() && state.external.is_none() {
        return next.run(request).await;
    }
    // A batch's entries are served through the router again, within the
    // request whose grant is already in force: they keep it.
    if public(request.uri().path()) || GRANT.try_with(|_| ()).is_ok() {
        return next.run(request).await;
    }
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(token) = bearer else {
        return unauthorized(None);
    };
    let checked = match (state.auth.as_deref(), state.external.as_deref()) {
        (Some(auth), _) => check(auth, token).map(|c| c.grant),
        (None, Some(external)) => external.check(token).await,
        (None, None) => Err("no authorization is configured".into()),
    };
    match checked {
        Ok(grant) => {
            let guard = write_guard(grant.clone(), state.config.base_url.clone());
            let who = Who {
                client_id: Some(grant.client_id.clone()).filter(|c| !c.is_empty()),
                user: grant.user.clone(),
                patient: grant.patient.clone(),
            };
            let mut response = GRANT
                .scope(grant, GUARD.scope(guard, next.run(request)))
                .await;
            response.extensions_mut().insert(who);
            response
        }
        Err(why) => unauthorized(Some(why)),
    }
}

/// The store's guard for the writes of a request served under `grant`: a
/// create needs `c`, an update `u` and a delete `d` on the resource, as
/// stored and as written.
fn write_guard(grant: Grant, base: String) -> Guard {
    Arc::new(move |resource_type, method| {
        let permission = match method {
            Method::Create => Permission::Create,
            Method::Update => Permission::Update,
            Method::Delete => Permission::Delete,
        };
        grant.filter(permission, resource_type, &base)
    })
}

/// A valid access token issued here: its grant, `jti`, expiry and claims.
pub(super) struct Checked {
    pub grant: Grant,
    pub jti: String,
    pub exp: i64,
    pub claims: Value,
}

/// Checks an access token issued here: signature, issuer, audience, expiry,
/// and that it was not revoked.
pub(super) fn check(auth: &AuthServer, token: &str) -> Result<Checked, String> {
    if token.len() > MAX_TOKEN {
        return Err("the access token is too large".into());
    }
    if header_alg(token).as_deref() != Some("ES384") {
        return Err("not a JWS signed by this server".into());
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| "not a JWS".to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let key = auth.verifier(&kid)?;
    let mut validation = Validation::new(Algorithm::ES384);
    validation.set_audience(&[auth.base.as_str()]);
    validation.set_issuer(&[auth.base.as_str()]);
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map_err(|e| format!("the access token does not check: {e}"))?
        .claims;
    let jti = claims["jti"].as_str().unwrap_or_default().to_string();
    if auth.is_revoked(&jti) {
        return Err("the access token was revoked".into());
    }
    let scopes = Scope::parse_list(claims["scope"].as_str().unwrap_or(""))?;
    Ok(Checked {
        grant: Grant {
            client_id: claims["client_id"].as_str().unwrap_or_default().to_string(),
            scopes,
            patient: claims["patient"].as_str().map(str::to_string),
            user: claims["user"].as_str().map(str::to_string),
        },
        jti,
        exp: claims["exp"].as_i64().unwrap_or(0),
        claims,
    })
}

/// 401 with `WWW-Authenticate` (RFC 6750 §3).
fn unauthorized(why: Option<String>) -> Response {
    let challenge = match &why {
        None => "Bearer realm=\"hemolink\"".to_string(),
        Some(_) => "Bearer realm=\"hemolink\", error=\"invalid_token\"".to_string(),
    };
    let text = why.unwrap_or_else(|| "this endpoint needs an access token".into());
    let mut r = FhirError::new(StatusCode::UNAUTHORIZED, "login", text).into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}
