//! `--auth smart`, SMART Backend Services over the wire: discovery, the JWKS,
//! the token endpoint with a real signed client assertion (ES384), access
//! tokens in force on the FHIR API, and every refusal the specification
//! names (wrong `aud`, expired or far-future assertion, replayed `jti`, `alg`
//! none, HS256, unknown `kid`, a 1 MB token, scopes beyond the client's).

use crate::harness::{Server, start_in};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};
use std::process::Command;

const ASSERTION_TYPE: &str = "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";

/// A backend client's key pair: its PKCS#8 and its public JWKS.
struct ClientKey {
    pkcs8: Vec<u8>,
    jwks: Value,
}

fn client_key(kid: &str) -> ClientKey {
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

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Backend {
    server: Server,
    key: ClientKey,
    _dir: tempfile::TempDir,
}

impl Backend {
    fn token_url(&self) -> String {
        format!("{}/auth/token", self.server.base)
    }

    /// A client assertion with these claims changed from the valid ones.
    fn assertion(&self, kid: &str, changes: Value) -> String {
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

    fn token(&self, assertion: &str, scope: &str) -> crate::harness::Response {
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

    fn access_token(&self, scope: &str) -> String {
        let r = self.token(&self.assertion("k1", json!({})), scope);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["access_token"].as_str().unwrap().to_string()
    }
}

fn uuid() -> String {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A server with `--auth smart` and the backend client `pharmacy`, whose
/// keys are registered inline and which may have `scopes`.
fn backend(scopes: &str) -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = client_key("k1");
    let jwks = dir.path().join("pharmacy.jwks.json");
    std::fs::write(&jwks, key.jwks.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hemolink"))
        .args([
            "auth",
            "add-client",
            "--id",
            "pharmacy",
            "--name",
            "Pharmacy bridge",
        ])
        .args(["--type", "confidential-asymmetric", "--scopes", scopes])
        .arg("--jwks-file")
        .arg(&jwks)
        .arg("--data-dir")
        .arg(&data)
        .env_remove("HEMOLINK_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    assert_eq!(s.get("/metadata").status, 200);
    assert_eq!(s.get("/health").status, 200);
    let config = s.get("/.well-known/smart-configuration");
    assert_eq!(config.status, 200);
    assert_eq!(config.header("content-type"), Some("application/json"));
    let c = config.json();
    assert_eq!(c["token_endpoint"], b.token_url());
    assert_eq!(c["grant_types_supported"], json!(["client_credentials"]));
    assert_eq!(c["code_challenge_methods_supported"], json!(["S256"]));
    assert!(
        c.get("authorization_endpoint").is_none(),
        "not built yet: {c}"
    );
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
    for bad in [
        "Bearer nonsense".to_string(),
        format!("Bearer {}", b.assertion("k1", json!({}))),
        format!("Bearer {}", "a".repeat(100 << 10)),
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
    assert_eq!(t["scope"], "system/Observation.cruds system/Patient.rs");
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
    for path in [
        "/Condition",
        "/_history",
        "/?_type=Observation,Condition",
        "/Observation?_include=Observation:subject",
        "/Observation?subject.name=x",
        "/Observation?_revinclude=Provenance:target",
    ] {
        assert_eq!(s.get_with(path, &auth).status, 403, "{path}");
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
        .encode(t["scope"].to_string().replace("Patient.rs", "*.cruds"));
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
    let out = Command::new(env!("CARGO_BIN_EXE_hemolink"))
        .args(["auth", "rotate-key", "--data-dir"])
        .arg(&data)
        .env_remove("HEMOLINK_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success());
    let kid = String::from_utf8_lossy(&out.stdout)
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
