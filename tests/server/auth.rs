//! `--auth smart` over the wire. SMART Backend Services: discovery, the JWKS,
//! the token endpoint with a real signed client assertion (ES384), access
//! tokens in force on the FHIR API, and every refusal the specification
//! names (wrong `aud`, expired or far-future assertion, replayed `jti`, `alg`
//! none, HS256, unknown `kid`, a 1 MB token, scopes beyond the client's).
//! The standalone launch: the sign-in and consent page, PKCE, the code
//! exchange, and its refusals (verifier wrong, blank, missing; unknown client,
//! redirect URIs off by one character or a path; `plain`; wrong `aud`;
//! sign-in locked after five failures).

use crate::harness::{Server, start_in};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

const ASSERTION_TYPE: &str = "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";

/// A backend client's key pair: its PKCS#8 and its public JWKS.
pub(crate) struct ClientKey {
    pub(crate) pkcs8: Vec<u8>,
    pub(crate) jwks: Value,
}

pub(crate) fn client_key(kid: &str) -> ClientKey {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    ClientKey {
        pkcs8: pkcs8.as_ref().to_vec(),
        jwks: json!({ "keys": [{
            "kty": "EC", "crv": "P-384", "kid": kid, "alg": "ES384",
            "x": b64.encode(&point[1..49]), "y": b64.encode(&point[49..]),
        }]}),
    }
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub(crate) struct Backend {
    pub(crate) server: Server,
    key: ClientKey,
    _dir: tempfile::TempDir,
}

impl Backend {
    /// The server's data directory.
    pub(crate) fn data_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("data")
    }

    /// Kills the server, keeping its data directory (until the folder
    /// returned is dropped).
    pub(crate) fn stop(self) -> tempfile::TempDir {
        drop(self.server);
        self._dir
    }

    pub(crate) fn token_url(&self) -> String {
        format!("{}/auth/token", self.server.base)
    }

    /// A client assertion with these claims changed from the valid ones.
    pub(crate) fn assertion(&self, kid: &str, changes: Value) -> String {
        let mut claims = json!({
            "iss": "pharmacy", "sub": "pharmacy", "aud": self.token_url(),
            "exp": now() + 120, "jti": uuid(),
        });
        for (k, v) in changes.as_object().unwrap() {
            claims[k] = v.clone();
        }
        let mut header = Header::new(Algorithm::ES384);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_der(&self.key.pkcs8)).unwrap()
    }

    pub(crate) fn token(&self, assertion: &str, scope: &str) -> crate::harness::Response {
        let form = format!(
            "grant_type=client_credentials&scope={}&client_assertion_type={ASSERTION_TYPE}&client_assertion={assertion}",
            scope.replace(' ', "+").replace('/', "%2F")
        );
        self.server.request(
            "POST",
            "/auth/token",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        )
    }

    pub(crate) fn access_token(&self, scope: &str) -> String {
        let r = self.token(&self.assertion("k1", json!({})), scope);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["access_token"].as_str().unwrap().to_string()
    }
}

pub(crate) fn uuid() -> String {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A server with `--auth smart` and the backend client `pharmacy`, whose
/// keys are registered inline and which may have `scopes`.
fn backend(scopes: &str) -> Backend {
    backend_with(scopes, |_| {})
}

/// [`backend`], with `setup` run on the data directory before the server
/// starts (to register more clients and users).
pub(crate) fn backend_with(scopes: &str, setup: impl FnOnce(&std::path::Path)) -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = client_key("k1");
    let jwks = dir.path().join("pharmacy.jwks.json");
    std::fs::write(&jwks, key.jwks.to_string()).unwrap();
    let jwks = jwks.to_string_lossy().into_owned();
    let (ok, _, err) = crate::cli::auth(
        &data,
        &[
            "add-client",
            "--id",
            "pharmacy",
            "--name",
            "Pharmacy bridge",
            "--type",
            "confidential-asymmetric",
            "--scopes",
            scopes,
            "--jwks-file",
            &jwks,
        ],
        "",
    );
    assert!(ok, "{err}");
    setup(&data);
    Backend {
        server: start_in(&data, &["--auth", "smart"]),
        key,
        _dir: dir,
    }
}

#[test]
fn discovery_and_jwks_are_public_and_list_only_what_works() {
    let b = backend("system/*.rs");
    let s = &b.server;
    let metadata = s.get("/metadata");
    assert_eq!(metadata.status, 200);
    let security = &metadata.json()["rest"][0]["security"];
    assert_eq!(security["service"][0]["coding"][0]["code"], "SMART-on-FHIR");
    let uris = &security["extension"][0];
    assert_eq!(
        uris["url"],
        "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    );
    assert_eq!(uris["extension"][1]["valueUri"], b.token_url());
    assert_eq!(s.get("/health").status, 200);
    let config = s.get("/.well-known/smart-configuration");
    assert_eq!(config.status, 200);
    assert_eq!(config.header("content-type"), Some("application/json"));
    let c = config.json();
    assert_eq!(c["token_endpoint"], b.token_url());
    assert_eq!(
        c["grant_types_supported"],
        json!(["authorization_code", "client_credentials", "refresh_token"])
    );
    assert_eq!(c["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        c["authorization_endpoint"],
        format!("{}/auth/authorize", s.base)
    );
    assert_eq!(c["issuer"], s.base.as_str());
    for capability in [
        "launch-ehr",
        "launch-standalone",
        "context-ehr-patient",
        "context-ehr-encounter",
        "context-standalone-patient",
        "permission-patient",
        "sso-openid-connect",
    ] {
        assert!(
            c["capabilities"]
                .as_array()
                .unwrap()
                .contains(&json!(capability)),
            "{capability}"
        );
    }
    let oidc = s.get("/.well-known/openid-configuration");
    assert_eq!(oidc.status, 200);
    let o = oidc.json();
    assert_eq!(o["issuer"], s.base.as_str());
    assert_eq!(o["jwks_uri"], c["jwks_uri"]);
    assert_eq!(o["id_token_signing_alg_values_supported"], json!(["RS256"]));
    for field in [
        "authorization_endpoint",
        "token_endpoint",
        "response_types_supported",
        "subject_types_supported",
    ] {
        assert!(o.get(field).is_some(), "{field}: {o}");
    }
    assert!(
        c["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .all(Value::is_string)
    );
    let jwks = s
        .get(&c["jwks_uri"].as_str().unwrap().replace(&s.base, ""))
        .json();
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str()),
        (Some("EC"), Some("P-384"))
    );
    assert!(key.get("d").is_none());
}

#[test]
fn without_a_valid_token_the_api_answers_401_with_a_challenge() {
    let b = backend("system/*.rs");
    let s = &b.server;
    let r = s.get("/Patient");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"hemolink\"")
    );
    assert_eq!(r.issue_code(), "login");
    // Forgeries of a real token: its claims under `alg: none`, HS256 keyed
    // with the server's public JWKS, another key under the server's kid and
    // under a made-up one, and bad base64.
    let real = b.access_token("system/*.rs");
    let parts: Vec<&str> = real.split('.').collect();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    let kid = jsonwebtoken::decode_header(&real).unwrap().kid.unwrap();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none = format!(
        "{}.{}.",
        b64.encode(json!({"alg": "none", "kid": kid}).to_string()),
        parts[1]
    );
    let jwks = s.get("/auth/jwks").text();
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some(kid.clone());
    let hmac =
        jsonwebtoken::encode(&hs, &claims, &EncodingKey::from_secret(jwks.as_bytes())).unwrap();
    let other = client_key("x");
    let signed_by = |kid: &str| {
        let mut h = Header::new(Algorithm::ES384);
        h.kid = Some(kid.to_string());
        jsonwebtoken::encode(&h, &claims, &EncodingKey::from_ec_der(&other.pkcs8)).unwrap()
    };
    for bad in [
        "Bearer nonsense".to_string(),
        format!("Bearer {}", b.assertion("k1", json!({}))),
        format!("Bearer {}", "a".repeat(100 << 10)),
        format!("Bearer {none}"),
        format!("Bearer {hmac}"),
        format!("Bearer {}", signed_by(&kid)),
        format!("Bearer {}", signed_by("made-up")),
        format!("Bearer {}.{}!.{}", parts[0], parts[1], parts[2]),
    ] {
        let r = s.get_with("/Patient", &[("Authorization", &bad)]);
        assert_eq!(r.status, 401, "{}", &bad[..40.min(bad.len())]);
        assert!(
            r.header("www-authenticate")
                .unwrap()
                .contains("invalid_token")
        );
    }
    assert_eq!(s.get("/metrics").status, 401, "metrics are not public");
}

#[test]
fn a_signed_assertion_gets_a_token_whose_scopes_are_enforced() {
    let b = backend("system/Observation.cruds system/Patient.rs");
    let s = &b.server;
    let r = b.token(
        &b.assertion("k1", json!({})),
        "system/Observation.cruds system/Patient.read",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    let t = r.json();
    assert_eq!(t["token_type"], "bearer");
    assert_eq!(t["expires_in"], 300);
    // A scope asked in v1 comes back in v1 (it means system/Patient.rs).
    assert_eq!(t["scope"], "system/Observation.cruds system/Patient.read");
    let bearer = format!("Bearer {}", t["access_token"].as_str().unwrap());
    let auth = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/fhir+json"),
    ];
    let obs = json!({"resourceType": "Observation", "status": "final",
        "code": {"text": "fridge temperature"}});
    let created = s.request("POST", "/Observation", &auth, obs.to_string().as_bytes());
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_str().unwrap().to_string();
    assert_eq!(s.get_with(&format!("/Observation/{id}"), &auth).status, 200);
    assert_eq!(s.get_with("/Observation?status=final", &auth).status, 200);
    assert_eq!(
        s.get_with("/Patient/nobody", &auth).status,
        404,
        "read allowed"
    );
    let patient = json!({"resourceType": "Patient"});
    let refused = s.request("POST", "/Patient", &auth, patient.to_string().as_bytes());
    assert_eq!(refused.status, 403);
    assert_eq!(refused.issue_code(), "forbidden");
    for path in ["/Condition", "/_history", "/?_type=Observation,Condition"] {
        assert_eq!(s.get_with(path, &auth).status, 403, "{path}");
    }
    // What a search reaches beyond its type is judged type by type (the
    // leak suite covers it in full): these reach nothing unreadable.
    for path in [
        "/Observation?_include=Observation:subject",
        "/Observation?subject.name=x",
        "/Observation?_revinclude=Provenance:target",
    ] {
        assert_eq!(s.get_with(path, &auth).status, 200, "{path}");
    }
    // A batch keeps the request's grant for each entry.
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": format!("Observation/{id}")}},
        {"request": {"method": "GET", "url": "Condition?code=x"}},
    ]});
    let r = s.request("POST", "/", &auth, batch.to_string().as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let statuses: Vec<String> = r.json()["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap().to_string())
        .collect();
    assert!(statuses[0].starts_with("200"), "{statuses:?}");
    assert!(statuses[1].starts_with("403"), "{statuses:?}");
    // Tampered with, the token is no longer valid.
    let token = t["access_token"].as_str().unwrap();
    let mut parts: Vec<&str> = token.split('.').collect();
    let wider = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(t["scope"].to_string().replace("Patient.read", "*.cruds"));
    parts[1] = &wider;
    let forged = format!("Bearer {}", parts.join("."));
    assert_eq!(
        s.get_with("/Patient/x", &[("Authorization", &forged)])
            .status,
        401
    );
}

#[test]
fn every_bad_assertion_or_request_is_refused_and_grants_nothing() {
    let b = backend("system/Observation.rs");
    let scope = "system/Observation.rs";
    let used = b.assertion("k1", json!({}));
    assert_eq!(b.token(&used, scope).status, 200);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let unsigned = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(json!({"iss":"pharmacy","sub":"pharmacy","aud":b.token_url(),"exp":now()+60,"jti":"n1"}).to_string())
    );
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("k1".into());
    let hs256 = jsonwebtoken::encode(
        &hs,
        &json!({"iss":"pharmacy","sub":"pharmacy","aud":b.token_url(),"exp":now()+60,"jti":"h1"}),
        &EncodingKey::from_secret(b.key.jwks.to_string().as_bytes()),
    )
    .unwrap();
    let other = client_key("k1");
    let mut header = Header::new(Algorithm::ES384);
    header.kid = Some("k1".into());
    let foreign = jsonwebtoken::encode(
        &header,
        &json!({"iss":"pharmacy","sub":"pharmacy","aud":b.token_url(),"exp":now()+60,"jti":"f1"}),
        &EncodingKey::from_ec_der(&other.pkcs8),
    )
    .unwrap();
    let cases: Vec<(String, &str)> = vec![
        (used, "used before"),
        (
            b.assertion("k1", json!({"aud": "https://evil.example/token"})),
            "does not check",
        ),
        (
            b.assertion("k1", json!({"exp": now() - 600})),
            "does not check",
        ),
        (
            b.assertion("k1", json!({"exp": now() + 900})),
            "five minutes",
        ),
        (b.assertion("k1", json!({"jti": null})), "no jti"),
        (
            b.assertion("k1", json!({"sub": "someone"})),
            "does not check",
        ),
        (
            b.assertion("k1", json!({"iss": "stranger", "sub": "stranger"})),
            "no asymmetric client",
        ),
        (b.assertion("k2", json!({})), "no registered key"),
        (unsigned, "RS384 or ES384"),
        (hs256, "RS384 or ES384"),
        (foreign, "does not check"),
        ("x".repeat(1 << 20), "too large"),
        ("not.a.jwt".to_string(), "not a JWS"),
    ];
    for (assertion, why) in cases {
        let r = b.token(&assertion, scope);
        assert_eq!(r.status, 401, "{why}: {}", r.text());
        let e = r.json();
        assert_eq!(e["error"], "invalid_client", "{e}");
        assert!(
            e["error_description"].as_str().unwrap().contains(why),
            "{why}: {e}"
        );
        assert!(e.get("access_token").is_none());
    }
    for (scope, why) in [
        ("system/Patient.rs", "none of the requested"),
        ("system/Observation.cruds", "none of the requested"),
        ("user/Observation.rs", "system/ scopes only"),
        ("system/Unicorn.rs", "not an R4 resource type"),
    ] {
        let r = b.token(&b.assertion("k1", json!({})), scope);
        assert_eq!(r.status, 400, "{scope}: {}", r.text());
        assert_eq!(r.json()["error"], "invalid_scope");
        assert!(r.text().contains(why), "{scope}: {}", r.text());
    }
    let r = b.server.request(
        "POST",
        "/auth/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"grant_type=password&username=a&password=b",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "unsupported_grant_type");
    // The narrower scope the client may have is granted.
    assert!(!b.access_token("system/Observation.r").is_empty());
}

#[test]
fn a_key_rotated_while_the_server_runs_signs_at_once_and_old_tokens_still_check() {
    let b = backend("system/Observation.rs");
    let s = &b.server;
    let old = format!("Bearer {}", b.access_token("system/Observation.rs"));
    assert_eq!(
        s.get_with("/Observation", &[("Authorization", &old)])
            .status,
        200
    );
    let data = b._dir.path().join("data");
    let (ok, out, err) = crate::cli::auth(&data, &["rotate-key"], "");
    assert!(ok, "{err}");
    let kid = out
        .lines()
        .find_map(|l| l.strip_prefix("signing key: ").map(str::to_string))
        .unwrap();
    let new = b.access_token("system/Observation.rs");
    let header = jsonwebtoken::decode_header(&new).unwrap();
    assert_eq!(
        header.kid.as_deref(),
        Some(kid.as_str()),
        "the new key signs"
    );
    let new = format!("Bearer {new}");
    assert_eq!(
        s.get_with("/Observation", &[("Authorization", &new)])
            .status,
        200
    );
    assert_eq!(
        s.get_with("/Observation", &[("Authorization", &old)])
            .status,
        200
    );
    assert_eq!(
        s.get("/auth/jwks").json()["keys"].as_array().unwrap().len(),
        2
    );
}

/// A server with `--auth smart`, a public app, a confidential one and two
/// users.
pub(crate) fn app_server() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str], stdin: &str| {
        let (ok, out, err) = crate::cli::auth(&data, args, stdin);
        assert!(ok, "{err}");
        out
    };
    run(
        &[
            "add-client",
            "--id",
            "donor-app",
            "--name",
            "Donor <app>",
            "--type",
            "public",
            "--redirect-uri",
            "http://127.0.0.1:9999/cb",
            "--scopes",
            "launch launch/patient launch/encounter openid fhirUser offline_access user/Observation.rs patient/Patient.rs",
        ],
        "",
    );
    let lab = run(
        &[
            "add-client",
            "--id",
            "lab",
            "--name",
            "Lab portal",
            "--type",
            "confidential-symmetric",
            "--redirect-uri",
            "https://lab.example/cb",
            "--scopes",
            "user/Observation.rs",
        ],
        "",
    );
    let secret = lab
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .unwrap()
        .to_string();
    std::fs::write(dir.path().join("lab-secret"), secret).unwrap();
    run(
        &[
            "add-user",
            "--username",
            "ana",
            "--role",
            "patient",
            "--fhir-user",
            "Patient/D1",
        ],
        "ana's password\n",
    );
    run(
        &["add-user", "--username", "dr", "--role", "practitioner"],
        "dr's password\n",
    );
    run(
        &["add-user", "--username", "root", "--role", "admin"],
        "root's password\n",
    );
    (start_in(&data, &["--auth", "smart"]), dir)
}

/// A PKCE verifier and its S256 challenge.
pub(crate) fn pkce() -> (String, String) {
    let verifier = format!("{}{}", uuid(), uuid());
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    (verifier, b64.encode(digest.as_ref()))
}

pub(crate) fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", form_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub(crate) fn post_form(
    s: &Server,
    path: &str,
    body: &str,
    extra: &[(&str, &str)],
) -> crate::harness::Response {
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    headers.extend_from_slice(extra);
    s.request("POST", path, &headers, body.as_bytes())
}

/// The authorization request's query.
pub(crate) fn authorize_query(
    s: &Server,
    client: &str,
    redirect: &str,
    scope: &str,
    challenge: &str,
) -> String {
    form(&[
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", redirect),
        ("scope", scope),
        ("state", "st-1"),
        ("aud", &s.base),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ])
}

/// The hidden request id of a sign-in page.
pub(crate) fn request_id(page: &str) -> String {
    page.split("name=\"request\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a sign-in form")
        .to_string()
}

pub(crate) fn query_of(location: &str, name: &str) -> Option<String> {
    location
        .split_once('?')?
        .1
        .split('&')
        .find_map(|p| p.strip_prefix(&format!("{name}=")).map(str::to_string))
}

#[test]
fn standalone_launch_signs_in_picks_the_patient_and_exchanges_the_code_with_pkce() {
    let (s, _dir) = app_server();
    let redirect = "http://127.0.0.1:9999/cb";
    let (verifier, challenge) = pkce();
    let q = authorize_query(
        &s,
        "donor-app",
        redirect,
        "launch/patient user/Observation.rs patient/Condition.r",
        &challenge,
    );
    let page = s.get(&format!("/auth/authorize?{q}"));
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text();
    assert!(
        html.contains("Donor &lt;app&gt;"),
        "the name, escaped: {html}"
    );
    assert!(
        html.contains("value=\"launch/patient\" checked")
            && html.contains("value=\"user/Observation.rs\" checked")
    );
    assert!(
        !html.contains("patient/Condition.r"),
        "a scope the app may not have is not offered"
    );
    let id = request_id(&html);
    let wrong = post_form(
        &s,
        "/auth/login",
        &form(&[
            ("request", &id),
            ("username", "ana"),
            ("password", "nope"),
            ("scope", "user/Observation.rs"),
        ]),
        &[],
    );
    assert_eq!(wrong.status, 401);
    assert!(wrong.text().contains("Wrong username or password"));
    let id = request_id(&wrong.text());
    let ok = post_form(
        &s,
        "/auth/login",
        &form(&[
            ("request", &id),
            ("username", "ana"),
            ("password", "ana's password"),
            ("scope", "launch/patient"),
            ("scope", "user/Observation.rs"),
        ]),
        &[],
    );
    assert_eq!(ok.status, 302, "{}", ok.text());
    let location = ok.header("location").unwrap().to_string();
    assert!(
        location.starts_with(&format!("{redirect}?code=")),
        "{location}"
    );
    assert_eq!(query_of(&location, "state").as_deref(), Some("st-1"));
    let code = query_of(&location, "code").unwrap();
    let exchange = |code: &str, verifier: &str| {
        post_form(
            &s,
            "/auth/token",
            &form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect),
                ("client_id", "donor-app"),
                ("code_verifier", verifier),
            ]),
            &[],
        )
    };
    let t = exchange(&code, &verifier);
    assert_eq!(t.status, 200, "{}", t.text());
    assert_eq!(t.header("cache-control"), Some("no-store"));
    let body = t.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["patient"], "D1",
        "a patient user opens their own record"
    );
    assert_eq!(body["need_patient_banner"], true);
    // A patient is never given user/ scopes (every record of a type).
    assert_eq!(body["scope"], "launch/patient");
    assert!(body["expires_in"].as_i64().unwrap() <= 3600);
    let bearer = format!("Bearer {}", body["access_token"].as_str().unwrap());
    for path in ["/Observation", "/Patient"] {
        assert_eq!(
            s.get_with(path, &[("Authorization", &bearer)]).status,
            403,
            "{path}"
        );
    }
    let again = exchange(&code, &verifier);
    assert_eq!(again.status, 400);
    assert_eq!(
        again.json()["error"],
        "invalid_grant",
        "a code is used once"
    );
}

#[test]
fn pkce_aud_redirect_and_client_errors_grant_nothing() {
    let (s, dir) = app_server();
    let redirect = "http://127.0.0.1:9999/cb";
    let sign_in = |client: &str, redirect: &str, challenge: &str, user: &str, password: &str| {
        let q = authorize_query(&s, client, redirect, "user/Observation.rs", challenge);
        let page = s.get(&format!("/auth/authorize?{q}"));
        assert_eq!(page.status, 200, "{}", page.text());
        let r = post_form(
            &s,
            "/auth/login",
            &form(&[
                ("request", &request_id(&page.text())),
                ("username", user),
                ("password", password),
                ("scope", "user/Observation.rs"),
            ]),
            &[],
        );
        assert_eq!(r.status, 302, "{}", r.text());
        query_of(r.header("location").unwrap(), "code").unwrap()
    };
    // The PKCE verifier: wrong, blank, missing, too short; each fails.
    for bad in [
        Some("x".repeat(50)),
        Some(String::new()),
        None,
        Some("abc".to_string()),
    ] {
        let (_, challenge) = pkce();
        let code = sign_in("donor-app", redirect, &challenge, "dr", "dr's password");
        let mut pairs = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("client_id", "donor-app"),
        ];
        if let Some(v) = &bad {
            pairs.push(("code_verifier", v));
        }
        let r = post_form(&s, "/auth/token", &form(&pairs), &[]);
        assert_eq!(r.status, 400, "{bad:?}: {}", r.text());
        assert_eq!(r.json()["error"], "invalid_grant");
    }
    // Unknown client, or a redirect URI one character off or with a path added: a page, no redirect.
    let (_, challenge) = pkce();
    for (client, uri) in [
        ("nobody", redirect),
        ("donor-app", "http://127.0.0.1:9999/cc"),
        ("donor-app", "http://127.0.0.1:9999/cb/x"),
        ("donor-app", "https://evil.example/cb"),
    ] {
        let r = s.get(&format!(
            "/auth/authorize?{}",
            authorize_query(&s, client, uri, "user/Observation.rs", &challenge)
        ));
        assert_eq!(r.status, 400, "{client} {uri}");
        assert!(r.header("location").is_none(), "no open redirect");
    }
    // Errors the app can be told of go back to it, with its state.
    let base = authorize_query(&s, "donor-app", redirect, "user/Observation.rs", &challenge);
    for (query, error) in [
        (
            base.replace("code_challenge_method=S256", "code_challenge_method=plain"),
            "invalid_request",
        ),
        (
            base.replace(
                &format!("aud={}", form_encode(&s.base)),
                "aud=https%3A%2F%2Fevil.example%2Ffhir",
            ),
            "invalid_request",
        ),
        (
            base.replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (
            base.replace("scope=user%2FObservation.rs", "scope=user%2FPatient.rs"),
            "invalid_scope",
        ),
        (
            base.replace("scope=user%2FObservation.rs", "scope=user%2FUnicorn.rs"),
            "invalid_scope",
        ),
    ] {
        let r = s.get(&format!("/auth/authorize?{query}"));
        assert_eq!(r.status, 302, "{query}");
        let location = r.header("location").unwrap();
        assert_eq!(
            query_of(location, "error").as_deref(),
            Some(error),
            "{location}"
        );
        assert_eq!(query_of(location, "state").as_deref(), Some("st-1"));
        assert!(query_of(location, "code").is_none());
    }
    // A confidential app authenticates with its secret (Basic), and only with it.
    let secret = std::fs::read_to_string(dir.path().join("lab-secret")).unwrap();
    for (password, status) in [("wrong", 401), (secret.as_str(), 200)] {
        let (verifier, challenge) = pkce();
        let code = sign_in(
            "lab",
            "https://lab.example/cb",
            &challenge,
            "dr",
            "dr's password",
        );
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("lab:{password}"));
        let auth = format!("Basic {basic}");
        let r = post_form(
            &s,
            "/auth/token",
            &form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://lab.example/cb"),
                ("code_verifier", &verifier),
            ]),
            &[("Authorization", &auth)],
        );
        assert_eq!(r.status, status, "{}", r.text());
    }
    // A code used by another client is refused.
    let (verifier, challenge) = pkce();
    let code = sign_in(
        "lab",
        "https://lab.example/cb",
        &challenge,
        "dr",
        "dr's password",
    );
    let r = post_form(
        &s,
        "/auth/token",
        &form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://lab.example/cb"),
            ("client_id", "donor-app"),
            ("code_verifier", &verifier),
        ]),
        &[],
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"], "invalid_grant");
    assert!(r.text().contains("another client"));
}

#[test]
fn sign_in_is_locked_after_five_failures_and_a_huge_password_is_just_wrong() {
    let (s, _dir) = app_server();
    let (_, challenge) = pkce();
    let q = authorize_query(
        &s,
        "donor-app",
        "http://127.0.0.1:9999/cb",
        "user/Observation.rs",
        &challenge,
    );
    let mut page = s.get(&format!("/auth/authorize?{q}")).text();
    let huge = "p".repeat(10 << 20);
    for (i, password) in ["a", "b", "c", "d", huge.as_str()].iter().enumerate() {
        let r = post_form(
            &s,
            "/auth/login",
            &form(&[
                ("request", &request_id(&page)),
                ("username", "dr"),
                ("password", password),
            ]),
            &[],
        );
        assert_eq!(r.status, 401, "attempt {i}");
        page = r.text();
    }
    let r = post_form(
        &s,
        "/auth/login",
        &form(&[
            ("request", &request_id(&page)),
            ("username", "dr"),
            ("password", "dr's password"),
            ("scope", "user/Observation.rs"),
        ]),
        &[],
    );
    assert_eq!(r.status, 429, "locked even with the right password");
    assert!(r.text().contains("Too many failed sign-ins"));
}

/// Signs `user` in to the public app with `scope` and exchanges the code:
/// the token response.
fn launch(s: &Server, scope: &str, user: &str, password: &str) -> Value {
    launch_with(s, "donor-app", scope, (user, password), None, "")
}

/// Signs `user` in to the public app `client` (redirect URI
/// `http://127.0.0.1:9999/cb`), ticks every scope the page offers, picks
/// `patient` when given, and exchanges the code: the token response.
/// `extra_query` is added to the authorization request (`&launch=…`).
pub(crate) fn launch_with(
    s: &Server,
    client: &str,
    scope: &str,
    (user, password): (&str, &str),
    patient: Option<&str>,
    extra_query: &str,
) -> Value {
    let redirect = "http://127.0.0.1:9999/cb";
    let (verifier, challenge) = pkce();
    let q = authorize_query(s, client, redirect, scope, &challenge) + extra_query;
    let page = s.get(&format!("/auth/authorize?{q}")).text();
    let mut pairs = vec![
        ("request".to_string(), request_id(&page)),
        ("username".to_string(), user.to_string()),
        ("password".to_string(), password.to_string()),
    ];
    if let Some(p) = patient {
        pairs.push(("patient".to_string(), p.to_string()));
    }
    // Every box ticked, as the page offers them (a browser posts the values
    // of the page, not what the app asked).
    for value in page.split("name=\"scope\" value=\"").skip(1) {
        let value = value.split('"').next().unwrap_or("");
        pairs.push(("scope".to_string(), value.replace("&amp;", "&")));
    }
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = post_form(s, "/auth/login", &form(&pairs), &[]);
    let code = query_of(r.header("location").expect("a redirect"), "code").unwrap();
    let t = post_form(
        s,
        "/auth/token",
        &form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", client),
            ("code_verifier", &verifier),
        ]),
        &[],
    );
    assert_eq!(t.status, 200, "{}", t.text());
    t.json()
}

#[test]
fn refresh_narrows_only_and_revoked_tokens_stop_working() {
    let (s, dir) = app_server();
    let t = launch(
        &s,
        "offline_access user/Observation.rs",
        "dr",
        "dr's password",
    );
    let first = t["refresh_token"]
        .as_str()
        .expect("offline_access gives a refresh token")
        .to_string();
    // A public client's refresh token is replaced at each use: the latest.
    let current = std::cell::RefCell::new(first.clone());
    let refresh = |scope: Option<&str>, client: &[(&str, &str)], auth: &[(&str, &str)]| {
        let token = current.borrow().clone();
        let mut pairs = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", token.as_str()),
        ];
        pairs.extend_from_slice(client);
        if let Some(sc) = scope {
            pairs.push(("scope", sc));
        }
        let r = post_form(&s, "/auth/token", &form(&pairs), auth);
        if let Some(next) = r.json().get("refresh_token").and_then(Value::as_str) {
            *current.borrow_mut() = next.to_string();
        }
        r
    };
    let public = [("client_id", "donor-app")];
    let r = refresh(None, &public, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_ne!(*current.borrow(), first, "rotated");
    let replayed = post_form(
        &s,
        "/auth/token",
        &form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &first),
            ("client_id", "donor-app"),
        ]),
        &[],
    );
    assert_eq!(replayed.json()["error"], "invalid_grant", "used once");
    assert_eq!(r.json()["scope"], "offline_access user/Observation.rs");
    let r = refresh(Some("user/Observation.r"), &public, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["scope"], "user/Observation.r");
    let r = refresh(Some("user/Observation.rs user/Patient.rs"), &public, &[]);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_scope", "no widening");
    let secret = std::fs::read_to_string(dir.path().join("lab-secret")).unwrap();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("lab:{secret}"))
    );
    let r = refresh(None, &[], &[("Authorization", &basic)]);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_grant", "bound to its client");

    // Introspection: by the holder of the token, or a confidential client.
    let access = t["access_token"].as_str().unwrap();
    let bearer = format!("Bearer {access}");
    let introspect = |token: &str, auth: &[(&str, &str)], client: &[(&str, &str)]| {
        let mut pairs = vec![("token", token)];
        pairs.extend_from_slice(client);
        post_form(&s, "/auth/introspect", &form(&pairs), auth)
    };
    let i = introspect(access, &[("Authorization", &bearer)], &[]);
    assert_eq!(i.status, 200, "{}", i.text());
    let i = i.json();
    assert_eq!(i["active"], true);
    assert_eq!(i["scope"], "offline_access user/Observation.rs");
    assert_eq!(i["client_id"], "donor-app");
    assert_eq!(i["sub"], "dr");
    assert!(i["exp"].as_i64().unwrap() > 0);
    let lab = [("Authorization", basic.as_str())];
    assert_eq!(
        introspect("garbage", &lab, &[]).json(),
        json!({"active": false})
    );
    assert_eq!(
        introspect(access, &[], &[]).status,
        401,
        "introspection is not public"
    );
    // A public client proves nothing; an app's token opens no other token.
    assert_eq!(introspect(access, &[], &public).status, 401);
    let refresh_token = current.borrow().clone();
    assert_eq!(
        introspect(&refresh_token, &[("Authorization", &bearer)], &[]).status,
        401
    );
    assert_eq!(introspect(&refresh_token, &lab, &[]).json()["active"], true);

    // Revoking the access token ends it; revoking the refresh token too.
    assert_eq!(
        s.get_with("/Observation", &[("Authorization", &bearer)])
            .status,
        200
    );
    let r = post_form(
        &s,
        "/auth/revoke",
        &form(&[("token", access), ("client_id", "donor-app")]),
        &[],
    );
    assert_eq!(r.status, 200);
    let r = s.get_with("/Observation", &[("Authorization", &bearer)]);
    assert_eq!(r.status, 401);
    assert!(r.text().contains("revoked"));
    assert_eq!(
        introspect(access, &[("Authorization", &basic)], &[]).json()["active"],
        false
    );
    let r = post_form(
        &s,
        "/auth/revoke",
        &form(&[("token", &refresh_token), ("client_id", "donor-app")]),
        &[],
    );
    assert_eq!(r.status, 200);
    let r = refresh(None, &public, &[]);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_grant");
    let r = post_form(
        &s,
        "/auth/revoke",
        &form(&[("token", "never-issued"), ("client_id", "donor-app")]),
        &[],
    );
    assert_eq!(r.status, 200, "an unknown token is answered 200 too");
}

#[test]
fn write_only_scopes_cannot_read_and_narrow_tokens_cannot_use_the_admin_api() {
    let b = backend("system/Observation.cud");
    let s = &b.server;
    let bearer = format!("Bearer {}", b.access_token("system/Observation.cud"));
    let auth = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/fhir+json"),
    ];
    let obs = json!({"resourceType": "Observation", "status": "final", "code": {"text": "t"}});
    let created = s.request("POST", "/Observation", &auth, obs.to_string().as_bytes());
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_str().unwrap().to_string();
    // If-None-Exist would hand back the stored match: it needs read and search.
    let condition = format!("_id={id}");
    let mut conditional = auth.to_vec();
    conditional.push(("If-None-Exist", condition.as_str()));
    let r = s.request(
        "POST",
        "/Observation",
        &conditional,
        obs.to_string().as_bytes(),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    for (method, path) in [
        ("DELETE", format!("/Observation?_id={id}")),
        ("PUT", format!("/Observation?_id={id}")),
    ] {
        let r = s.request(method, &path, &auth, obs.to_string().as_bytes());
        assert_eq!(r.status, 403, "{method} {path}: {}", r.text());
    }
    // A patch returns the whole resource: it needs read.
    let patch = json!([{"op": "replace", "path": "/status", "value": "amended"}]);
    let r = s.request(
        "PATCH",
        &format!("/Observation/{id}"),
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json-patch+json"),
        ],
        patch.to_string().as_bytes(),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let r = s.get_with("/admin/hl7/messages", &[("Authorization", &bearer)]);
    assert_eq!(r.status, 403, "{}", r.text());
}

/// `openid fhirUser`: the token response carries an RS256 ID token that
/// checks against the JWKS, names the user, the app and the request's nonce,
/// and its `fhirUser` is a resource the access token can read.
#[test]
fn openid_fhir_user_gives_an_rs256_id_token_whose_fhir_user_can_be_read() {
    let (s, dir) = app_server();
    let _keep = dir;
    let redirect = "http://127.0.0.1:9999/cb";
    let (verifier, challenge) = pkce();
    let scope = "openid fhirUser launch/patient patient/Patient.rs";
    let q = format!(
        "{}&nonce=n-0S6_WzA2Mj",
        authorize_query(&s, "donor-app", redirect, scope, &challenge)
    );
    let page = s.get(&format!("/auth/authorize?{q}")).text();
    assert!(
        page.contains("value=\"openid\" checked") && page.contains("value=\"fhirUser\" checked")
    );
    let mut pairs = vec![
        ("request".to_string(), request_id(&page)),
        ("username".to_string(), "ana".to_string()),
        ("password".to_string(), "ana's password".to_string()),
    ];
    for sc in scope.split(' ') {
        pairs.push(("scope".to_string(), sc.to_string()));
    }
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = post_form(&s, "/auth/login", &form(&pairs), &[]);
    let code = query_of(r.header("location").expect("a redirect"), "code").unwrap();
    let t = post_form(
        &s,
        "/auth/token",
        &form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", "donor-app"),
            ("code_verifier", &verifier),
        ]),
        &[],
    );
    assert_eq!(t.status, 200, "{}", t.text());
    let body = t.json();
    let id_token = body["id_token"].as_str().expect("an id_token");
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(s.get("/auth/jwks").json()).unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("published");
    let mut v = jsonwebtoken::Validation::new(Algorithm::RS256);
    v.set_audience(&["donor-app"]);
    v.set_issuer(&[s.base.as_str()]);
    let claims = jsonwebtoken::decode::<Value>(
        id_token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &v,
    )
    .expect("the ID token checks")
    .claims;
    assert_eq!(claims["sub"], "ana");
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert!(claims["iat"].as_i64().unwrap() <= now());
    let fhir_user = claims["fhirUser"].as_str().unwrap();
    assert_eq!(fhir_user, format!("{}/Patient/D1", s.base));
    // The ID token is no access token.
    let r = s.get_with(
        "/Patient/D1",
        &[("Authorization", &format!("Bearer {id_token}"))],
    );
    assert_eq!(r.status, 401);
    // The fhirUser resource, read with the access token.
    let access = format!("Bearer {}", body["access_token"].as_str().unwrap());
    let r = s.get_with(
        &fhir_user.replace(&s.base, ""),
        &[("Authorization", &access)],
    );
    assert_eq!(r.status, 404, "allowed, and not stored: {}", r.text());
    // Without openid, no ID token.
    let plain = launch(
        &s,
        "launch/patient patient/Patient.rs",
        "ana",
        "ana's password",
    );
    assert!(plain.get("id_token").is_none(), "{plain}");
}

/// CORS: discovery answers every origin; the FHIR API and the token
/// endpoint answer registered clients' origins only, preflight included.
#[test]
fn cross_origin_requests_are_answered_for_registered_origins_only() {
    let (s, _dir) = app_server();
    let app = "http://127.0.0.1:9999";
    let evil = "https://evil.example";
    for path in [
        "/metadata",
        "/.well-known/smart-configuration",
        "/auth/jwks",
    ] {
        let r = s.get_with(path, &[("Origin", evil)]);
        assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{path}");
    }
    assert_eq!(
        s.get("/metadata").json()["rest"][0]["security"]["cors"],
        true
    );
    let preflight = |origin: &str| {
        s.request(
            "OPTIONS",
            "/Patient/D1",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "GET"),
                ("Access-Control-Request-Headers", "authorization"),
            ],
            b"",
        )
    };
    let r = preflight(app);
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some(app));
    assert!(
        r.header("access-control-allow-headers")
            .unwrap()
            .contains("Authorization")
    );
    assert!(
        r.header("access-control-allow-methods")
            .unwrap()
            .contains("PUT")
    );
    let r = preflight(evil);
    assert_eq!(r.status, 403);
    assert!(r.header("access-control-allow-origin").is_none());
    let token = launch(
        &s,
        "launch/patient patient/Patient.rs",
        "ana",
        "ana's password",
    );
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let r = s.get_with(
        "/Patient/D1",
        &[("Authorization", &bearer), ("Origin", app)],
    );
    assert_eq!(r.header("access-control-allow-origin"), Some(app));
    assert!(
        r.header("access-control-expose-headers")
            .unwrap()
            .contains("ETag")
    );
    let r = s.get_with(
        "/Patient/D1",
        &[("Authorization", &bearer), ("Origin", evil)],
    );
    assert!(r.header("access-control-allow-origin").is_none());
    let body = form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", "x"),
        ("client_id", "donor-app"),
    ]);
    for (origin, allowed) in [(app, Some(app)), (evil, None)] {
        let r = post_form(&s, "/auth/token", &body, &[("Origin", origin)]);
        assert_eq!(r.header("access-control-allow-origin"), allowed, "{origin}");
    }
}

/// Details the specification asks of discovery and token answers: the
/// discovery fields, authorization by POST, no refresh token for a backend,
/// `token_type` and `expires_in` on a refresh, `fhirUser` only for a user who
/// is a resource, and the launch context in introspection.
#[test]
fn discovery_and_token_answers_carry_what_the_specification_asks() {
    let b = backend("system/*.rs");
    let c = b.server.get("/.well-known/smart-configuration").json();
    for capability in [
        "client-confidential-asymmetric",
        "client-confidential-symmetric",
        "client-public",
    ] {
        assert!(
            c["capabilities"]
                .as_array()
                .unwrap()
                .contains(&json!(capability)),
            "{capability}"
        );
    }
    assert!(
        c["scopes_supported"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    );
    let methods = c["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(
        methods.contains(&json!("private_key_jwt"))
            && methods.contains(&json!("client_secret_basic"))
    );
    let algs = c["token_endpoint_auth_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.contains(&json!("ES384")) && algs.contains(&json!("RS384")));
    let r = b.token(&b.assertion("k1", json!({})), "system/*.rs");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(
        r.json().get("refresh_token").is_none(),
        "no refresh token for a backend"
    );
    drop(b);

    let (s, _dir) = app_server();
    // The authorization request by POST.
    let (_, challenge) = pkce();
    let q = authorize_query(
        &s,
        "donor-app",
        "http://127.0.0.1:9999/cb",
        "patient/Patient.rs",
        &challenge,
    );
    let page = post_form(&s, "/auth/authorize", &q, &[]);
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("name=\"request\""));
    // fhirUser only for a user who is a resource: dr is none.
    let t = launch(
        &s,
        "openid fhirUser offline_access user/Observation.rs",
        "dr",
        "dr's password",
    );
    let scopes: Vec<&str> = t["scope"].as_str().unwrap().split(' ').collect();
    assert!(
        !scopes.contains(&"fhirUser") && scopes.contains(&"openid"),
        "{scopes:?}"
    );
    let r = post_form(
        &s,
        "/auth/token",
        &form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ("client_id", "donor-app"),
        ]),
        &[],
    );
    let refreshed = r.json();
    assert_eq!(refreshed["token_type"], "Bearer");
    assert_eq!(refreshed["expires_in"], 3600);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    // An EHR launch's context, in introspection.
    let admin = launch(&s, "user/Observation.rs", "root", "root's password");
    let created = s.request(
        "POST",
        "/admin/launch",
        &[
            (
                "Authorization",
                &format!("Bearer {}", admin["access_token"].as_str().unwrap()),
            ),
            ("Content-Type", "application/json"),
        ],
        json!({"patient": "D1", "encounter": "E1", "intent": "review"})
            .to_string()
            .as_bytes(),
    );
    let value = created.json()["launch"].as_str().unwrap().to_string();
    let t = launch_with(
        &s,
        "donor-app",
        "launch patient/Patient.rs",
        ("dr", "dr's password"),
        None,
        &format!("&launch={value}"),
    );
    let access = t["access_token"].as_str().unwrap();
    let i = post_form(
        &s,
        "/auth/introspect",
        &form(&[("token", access)]),
        &[("Authorization", &format!("Bearer {access}"))],
    )
    .json();
    assert_eq!(
        (
            i["active"].as_bool(),
            i["patient"].as_str(),
            i["encounter"].as_str(),
            i["intent"].as_str()
        ),
        (Some(true), Some("D1"), Some("E1"), Some("review"))
    );
    assert_eq!(i["need_patient_banner"], true);
}
