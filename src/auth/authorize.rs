//! The authorization endpoint (app-launch.html#obtain-authorization-code):
//! `GET` or `POST /auth/authorize` checks the app's request and shows the
//! sign-in and consent page (server-rendered, no script: the app's name, each
//! scope with a box the user may untick, and, when the app asks for
//! `launch/patient`, the patient to open); `POST /auth/login` checks the
//! password and the choices and sends the browser back to the app with a
//! one-time code, which the token endpoint exchanges (with the PKCE
//! verifier) for an access token.
//!
//! An unknown client or a redirect URI not registered for it is answered
//! here, never by a redirect; every other error goes back to the app as
//! `error=…&state=…` (RFC 6749 §4.1.2.1).

use super::launch::LaunchContext;
use super::registry::{Client, Role};
use super::scope::{Context, Scope};
use super::server::AuthServer;
use crate::audit::event::Who;
use crate::fhir::rest::Shared;
use crate::fhir::rest::request::{percent_encode, query_pairs};
use crate::server::admin::Peer;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long the sign-in page may stay open, and how long a code lives.
const PAGE_LIFETIME: Duration = Duration::from_secs(600);
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);

/// Most sign-in pages open at once, and the longest `state` and username
/// kept: an unauthenticated client cannot make the server hold more.
const MAX_PENDING: usize = 10_000;
const MAX_STATE: usize = 512;
const MAX_USERNAME: usize = 64;

/// Failed sign-ins allowed per account and per address in [`LOCKOUT`].
const MAX_FAILURES: usize = 5;
const LOCKOUT: Duration = Duration::from_secs(900);

/// An authorization request waiting for the user.
pub struct Pending {
    client: Client,
    redirect_uri: String,
    state: Option<String>,
    scopes: Vec<Scope>,
    challenge: String,
    /// OpenID Connect's `nonce`, returned in the ID token.
    nonce: Option<String>,
    /// The EHR launch's context, taken from the registry by this request.
    launch: Option<LaunchContext>,
    made: Instant,
}

/// What a user granted an app: the context of its tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGrant {
    pub client_id: String,
    pub username: String,
    pub scopes: Vec<String>,
    pub fhir_user: Option<String>,
    pub patient: Option<String>,
    /// What an EHR launch adds to the token response besides the patient
    /// (`encounter`, `fhirContext`, `need_patient_banner`, `intent`).
    pub launch: Option<Value>,
}

/// A code the app may exchange once.
#[derive(Clone)]
pub struct Code {
    pub redirect_uri: String,
    pub challenge: String,
    pub context: UserGrant,
    /// The authorization request's `nonce`, for the ID token.
    pub nonce: Option<String>,
    pub made: Instant,
}

/// The authorization server's memory of requests, codes and failed sign-ins.
#[derive(Default)]
pub struct Sessions {
    pending: HashMap<String, Pending>,
    codes: HashMap<String, Code>,
    failures: HashMap<String, Vec<Instant>>,
}

impl Sessions {
    /// Takes a code out (a code is used once), if it is still young.
    pub fn take_code(&mut self, code: &str) -> Option<Code> {
        self.codes
            .remove(code)
            .filter(|c| c.made.elapsed() < CODE_LIFETIME)
    }

    fn forget_old(&mut self) {
        self.pending.retain(|_, p| p.made.elapsed() < PAGE_LIFETIME);
        self.codes.retain(|_, c| c.made.elapsed() < CODE_LIFETIME);
        self.failures.retain(|_, f| {
            f.retain(|t| t.elapsed() < LOCKOUT);
            !f.is_empty()
        });
    }

    fn locked(&self, key: &str) -> bool {
        self.failures
            .get(key)
            .is_some_and(|f| f.len() >= MAX_FAILURES)
    }
}

/// `GET` or `POST /auth/authorize`.
pub async fn authorize(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let Some(auth) = state.auth.as_deref() else {
        return off();
    };
    let text = if method == Method::POST {
        String::from_utf8_lossy(&body).into_owned()
    } else {
        uri.query().unwrap_or("").to_string()
    };
    let params = query_pairs(&text);
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let client_id = get("client_id").unwrap_or_default();
    let Some(client) = auth.client(&client_id) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Unknown application",
            "<p>This application is not registered here.</p>",
        );
    };
    let redirect_uri = get("redirect_uri").unwrap_or_default();
    if !client.redirect_uris.contains(&redirect_uri) {
        return page(
            StatusCode::BAD_REQUEST,
            "Wrong return address",
            "<p>The address this application asked to return to is not one it registered.</p>",
        );
    }
    let state_param = get("state").filter(|s| s.len() <= MAX_STATE);
    let back = |error: &str, description: &str| {
        redirect(
            &redirect_uri,
            &[("error", error), ("error_description", description)],
            state_param.as_deref(),
        )
    };
    if get("response_type").as_deref() != Some("code") {
        return back("unsupported_response_type", "response_type must be code");
    }
    if get("aud").as_deref().map(|a| a.trim_end_matches('/')) != Some(auth.base()) {
        return back("invalid_request", "aud must be this server's FHIR base URL");
    }
    if get("code_challenge_method").as_deref() != Some("S256") {
        return back(
            "invalid_request",
            "PKCE with code_challenge_method S256 is required",
        );
    }
    let challenge = get("code_challenge").unwrap_or_default();
    if !(43..=128).contains(&challenge.len())
        || !challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return back(
            "invalid_request",
            "code_challenge must be a base64url SHA-256",
        );
    }
    if get("state").is_some_and(|s| s.len() > MAX_STATE) {
        return back("invalid_request", "state is longer than 512 characters");
    }
    if get("nonce").is_some_and(|s| s.len() > MAX_STATE) {
        return back("invalid_request", "nonce is longer than 512 characters");
    }
    let mut requested = match Scope::parse_list(&get("scope").unwrap_or_default()) {
        Ok(s) => s,
        Err(e) => return back("invalid_scope", &e),
    };
    requested.dedup_by(|a, b| a == b);
    // An EHR launch: scope `launch` with the `launch` value the EHR gave,
    // which is taken here (one use).
    let wants_launch = requested.iter().any(|s| s.to_string() == "launch");
    let launch = match (get("launch"), wants_launch) {
        (None, false) => None,
        (None, true) => {
            return back(
                "invalid_request",
                "scope launch needs the launch parameter the EHR gave the app",
            );
        }
        (Some(_), false) => {
            return back("invalid_scope", "a launch parameter needs scope launch");
        }
        (Some(value), true) => match auth.registry().take_launch(&value) {
            Ok(Some(context)) => Some(context),
            Ok(None) => {
                return back("invalid_request", "the launch is unknown, used or expired");
            }
            Err(e) => {
                tracing::error!("reading a launch context: {e}");
                return back("server_error", "the launch could not be read");
            }
        },
    };
    let allowed: Vec<Scope> = client
        .scopes
        .iter()
        .filter_map(|s| Scope::parse(s).ok())
        .collect();
    // `profile` and `online_access` are not granted until what they promise
    // is built; `launch` and `launch/encounter` only with an EHR launch
    // (and the latter only when it opens an encounter).
    let scopes: Vec<Scope> = requested
        .into_iter()
        .filter(|s| {
            let text = s.to_string();
            matches!(s, Scope::Clinical { .. })
                || ["launch/patient", "offline_access", "openid", "fhirUser"]
                    .contains(&text.as_str())
                || (text == "launch" && launch.is_some())
                || (text == "launch/encounter"
                    && launch.as_ref().is_some_and(|l| l.encounter.is_some()))
        })
        .filter(|s| allowed.iter().any(|a| a.covers(s)))
        .collect();
    if scopes.is_empty() {
        return back(
            "invalid_scope",
            "none of the requested scopes is allowed to this application",
        );
    }
    let id = super::registry::new_secret();
    let pending = Pending {
        client,
        redirect_uri: redirect_uri.clone(),
        state: state_param.clone(),
        scopes,
        challenge,
        nonce: get("nonce"),
        launch,
        made: Instant::now(),
    };
    let html = sign_in(&id, &pending, None);
    let mut sessions = auth.sessions();
    sessions.forget_old();
    if sessions.pending.len() >= MAX_PENDING {
        return back(
            "temporarily_unavailable",
            "too many sign-ins are open; try again later",
        );
    }
    sessions.pending.insert(id, pending);
    page(StatusCode::OK, "Sign in", &html)
}

/// `POST /auth/login`: the sign-in page's form.
pub async fn login(
    State(state): State<Shared>,
    peer: Option<Extension<Peer>>,
    body: Bytes,
) -> Response {
    // For the audit trail: the account the sign-in named (the outcome says
    // whether it was signed in to).
    let named = query_pairs(&String::from_utf8_lossy(&body))
        .into_iter()
        .find(|(k, _)| k == "username")
        .map(|(_, v)| v)
        .filter(|u| !u.is_empty() && u.len() <= MAX_USERNAME);
    let mut response = submitted(state, peer, body).await;
    response.extensions_mut().insert(Who {
        user: named,
        ..Who::default()
    });
    response
}

/// The sign-in and consent form's submission, answered.
async fn submitted(state: Shared, peer: Option<Extension<Peer>>, body: Bytes) -> Response {
    let Some(auth) = state.auth.as_deref() else {
        return off();
    };
    let form = query_pairs(&String::from_utf8_lossy(&body));
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let ticked: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    let id = get("request");
    let Some(pending) = auth.sessions().pending.remove(&id) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Expired",
            "<p>This sign-in page has expired or was used. Start again from the application.</p>",
        );
    };
    let address = peer
        .map(|Extension(Peer(a))| a.ip().to_string())
        .unwrap_or_default();
    let username: String = get("username").chars().take(MAX_USERNAME).collect();
    let keys = [format!("user:{username}"), format!("address:{address}")];
    // The attempt counts before the password is checked, under one lock, so
    // that attempts sent side by side cannot all pass the lockout.
    let locked = {
        let mut sessions = auth.sessions();
        let locked = keys.iter().any(|k| sessions.locked(k));
        if !locked {
            for k in &keys {
                sessions
                    .failures
                    .entry(k.clone())
                    .or_default()
                    .push(Instant::now());
            }
        }
        locked
    };
    if locked {
        tracing::warn!("sign-in refused for a locked account or address ({address})");
        let html = sign_in(
            &id,
            &pending,
            Some("Too many failed sign-ins. Try again in 15 minutes."),
        );
        auth.sessions().pending.insert(id, pending);
        return page(StatusCode::TOO_MANY_REQUESTS, "Sign in", &html);
    }
    let user = auth.sign_in(&username, &get("password"));
    let Some(user) = user else {
        tracing::info!("failed sign-in from {address}");
        let html = sign_in(&id, &pending, Some("Wrong username or password."));
        auth.sessions().pending.insert(id, pending);
        return page(StatusCode::UNAUTHORIZED, "Sign in", &html);
    };
    // What the user ticked, and what their role may have: `system/` scopes
    // are never a user's; `user/` scopes (every record of a type) are not a
    // patient's.
    let scopes: Vec<String> = pending
        .scopes
        .iter()
        .filter(|s| match s {
            Scope::Clinical { context, .. } => match context {
                Context::System => false,
                Context::User => user.role != Role::Patient,
                Context::Patient => true,
            },
            // `fhirUser` promises the claim: only for a user who is a resource.
            Scope::Other(name) => name != "fhirUser" || user.fhir_user.is_some(),
        })
        .map(ToString::to_string)
        .filter(|s| ticked.contains(s))
        .collect();
    {
        // It succeeded: it does not count against the account or address.
        let mut sessions = auth.sessions();
        for k in &keys {
            if let Some(f) = sessions.failures.get_mut(k) {
                f.pop();
            }
        }
    }
    // A patient in context for `launch/patient` and for `patient/` scopes
    // (which reach nothing without one): a patient's own record, always;
    // the one a practitioner or administrator picks.
    let wants_patient = scopes
        .iter()
        .any(|s| s == "launch/patient" || s.starts_with("patient/"));
    let own = user
        .fhir_user
        .as_deref()
        .and_then(|me| me.strip_prefix("Patient/"))
        .map(str::to_string);
    let launched = pending.launch.as_ref().and_then(|l| l.patient.clone());
    if user.role == Role::Patient && launched.is_some() && launched != own {
        let html = sign_in(
            &id,
            &pending,
            Some("This launch opens another patient's record."),
        );
        auth.sessions().pending.insert(id, pending);
        return page(StatusCode::FORBIDDEN, "Sign in", &html);
    }
    let patient = match (wants_patient || launched.is_some(), user.role) {
        (false, _) => None,
        (true, Role::Patient) => own,
        (true, _) if launched.is_some() => launched,
        (true, _) => Some(get("patient")).filter(|p| crate::fhir::rest::is_valid_id(p)),
    };
    if wants_patient && patient.is_none() {
        let why = if user.role == Role::Patient {
            "Your account is not linked to a patient record, so it cannot open one."
        } else {
            "Choose the patient to open (a Patient id)."
        };
        let html = sign_in(&id, &pending, Some(why));
        auth.sessions().pending.insert(id, pending);
        return page(StatusCode::BAD_REQUEST, "Sign in", &html);
    }
    if scopes.is_empty() {
        return redirect(
            &pending.redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "no scope was allowed"),
            ],
            pending.state.as_deref(),
        );
    }
    let code = super::registry::new_secret();
    auth.sessions().codes.insert(
        code.clone(),
        Code {
            redirect_uri: pending.redirect_uri.clone(),
            challenge: pending.challenge.clone(),
            context: UserGrant {
                client_id: pending.client.id.clone(),
                username: user.username.clone(),
                scopes,
                fhir_user: user.fhir_user.clone(),
                patient,
                launch: pending.launch.as_ref().map(LaunchContext::token_fields),
            },
            nonce: pending.nonce.clone(),
            made: Instant::now(),
        },
    );
    tracing::info!(
        "user {} authorized client {}",
        user.username,
        pending.client.id
    );
    redirect(
        &pending.redirect_uri,
        &[("code", &code)],
        pending.state.as_deref(),
    )
}

/// The page of an authorization endpoint with authorization off.
fn off() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Not available",
        "<p>Authorization is off.</p>",
    )
}

/// 302 to the app's redirect URI with these parameters and `state`.
fn redirect(to: &str, params: &[(&str, &str)], state: Option<&str>) -> Response {
    let mut url = to.to_string();
    let mut sep = if url.contains('?') { '&' } else { '?' };
    for (k, v) in params.iter().copied().chain(state.map(|s| ("state", s))) {
        url.push(sep);
        url.push_str(k);
        url.push('=');
        url.push_str(&percent_encode(v));
        sep = '&';
    }
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&url) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Escapes text for HTML.
fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The sign-in and consent form.
fn sign_in(id: &str, p: &Pending, error: Option<&str>) -> String {
    let mut out = format!(
        "<p><strong>{}</strong> asks to use Hemolink on your behalf.</p>",
        html(&p.client.name)
    );
    if let Some(e) = error {
        out.push_str(&format!(
            "<p role=\"alert\" class=\"error\">{}</p>",
            html(e)
        ));
    }
    out.push_str(&format!(
        "<form method=\"post\" action=\"login\">\
         <input type=\"hidden\" name=\"request\" value=\"{}\">\
         <label for=\"username\">Username</label>\
         <input id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <fieldset><legend>It may</legend>",
        html(id)
    ));
    for (i, scope) in p.scopes.iter().enumerate() {
        let s = scope.to_string();
        out.push_str(&format!(
            "<div><input type=\"checkbox\" id=\"scope{i}\" name=\"scope\" value=\"{}\" checked>\
             <label for=\"scope{i}\">{} <code>{}</code></label></div>",
            html(&s),
            html(&describe(scope)),
            html(&s)
        ));
    }
    out.push_str("</fieldset>");
    let launched = p.launch.as_ref().and_then(|l| l.patient.as_deref());
    if let Some(patient) = launched {
        out.push_str(&format!(
            "<p>It opens the record of patient <code>{}</code>, from your EHR.</p>",
            html(patient)
        ));
    } else if p.scopes.iter().any(|s| {
        s.to_string() == "launch/patient"
            || matches!(
                s,
                Scope::Clinical {
                    context: Context::Patient,
                    ..
                }
            )
    }) {
        out.push_str(
            "<label for=\"patient\">Patient to open (its id; a patient's own record is opened for them)</label>\
             <input id=\"patient\" name=\"patient\">",
        );
    }
    out.push_str("<button type=\"submit\">Allow</button></form>");
    out
}

/// A scope in words.
fn describe(scope: &Scope) -> String {
    match scope {
        Scope::Other(s) => match s.as_str() {
            "openid" => "know that it is you who signed in".into(),
            "fhirUser" | "profile" => "know who you are in the records".into(),
            "launch/patient" => "open one patient's record".into(),
            "launch/encounter" => "open one encounter".into(),
            "launch" => "start from your current context".into(),
            "offline_access" => "keep access while you are away".into(),
            "online_access" => "keep access while you are signed in".into(),
            other => other.into(),
        },
        Scope::Clinical {
            context,
            resource_type,
            permissions: p,
            query,
            ..
        } => {
            let mut verbs = Vec::new();
            for (on, verb) in [
                (p.read || p.search, "read"),
                (p.create, "create"),
                (p.update, "change"),
                (p.delete, "delete"),
            ] {
                if on {
                    verbs.push(verb);
                }
            }
            let what = resource_type.as_deref().unwrap_or("records");
            let whose = match context {
                Context::Patient => "of the patient opened",
                Context::User => "you may see",
                Context::System => "of everyone",
            };
            let which = if query.is_empty() { "" } else { " (some)" };
            format!("{} {what}{which} {whose}", verbs.join(", "))
        }
    }
}

/// A whole page.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let text = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · Hemolink</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}}\
         label,input,button{{display:block;margin:.3rem 0}}fieldset div label,fieldset div input{{display:inline}}\
         .error{{color:#a00;font-weight:bold}}:focus{{outline:3px solid #05a}}\
         </style></head><body><main><h1>{t}</h1>{body}</main></body></html>",
        t = html(title)
    );
    let mut r = (status, text).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

impl AuthServer {
    pub(super) fn client(&self, id: &str) -> Option<Client> {
        self.registry()
            .clients()
            .ok()?
            .into_iter()
            .find(|c| c.id == id)
    }

    /// The user, when the password is theirs (checked without holding the
    /// registry, which every request's token check needs).
    fn sign_in(&self, username: &str, password: &str) -> Option<super::registry::User> {
        let hash = self.registry().password_hash(username).ok()?;
        if !super::registry::verify(hash.as_deref(), password) {
            return None;
        }
        self.registry()
            .users()
            .ok()?
            .into_iter()
            .find(|u| u.username == username)
    }
}
