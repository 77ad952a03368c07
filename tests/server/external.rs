//! Keys fetched by URL: `--auth external`, where access tokens come from
//! another identity provider and are checked against the keys it publishes
//! (issuer, audience, algorithm, expiry, the claims that carry scopes and
//! the patient), with the same enforcement as the built-in server's tokens;
//! and a backend client registered with `--jwks-url`. The identity provider
//! here is a small HTTP server on loopback that counts how often its keys
//! are fetched.

use crate::auth::{ClientKey, client_key, now, uuid};
use crate::harness::{Server, start_in};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const ISSUER: &str = "https://idp.test/realm";

/// A JWKS served on loopback; `hits` counts the fetches.
struct KeyServer {
    url: String,
    hits: Arc<AtomicUsize>,
}

fn key_server(jwks: Value) -> KeyServer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/keys.json", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let body = jwks.to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    KeyServer { url, hits }
}

/// The identity provider's ES256 key.
struct IdpKey {
    pkcs8: Vec<u8>,
    jwk: Value,
}

fn idp_key(kid: &str) -> IdpKey {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    IdpKey {
        pkcs8: pkcs8.as_ref().to_vec(),
        jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
            "x": b64.encode(&point[1..33]), "y": b64.encode(&point[33..])}),
    }
}

impl IdpKey {
    fn token(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&self.pkcs8)).unwrap()
    }
}

fn claims(aud: &str, scp: Value, extra: Value) -> Value {
    let mut c = json!({"iss": ISSUER, "aud": aud, "exp": now() + 300, "iat": now(),
        "sub": "user-1", "azp": "portal", "scp": scp});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn with(
    s: &Server,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> crate::harness::Response {
    let bearer = format!("Bearer {token}");
    let text = body.map(Value::to_string).unwrap_or_default();
    s.request(
        method,
        path,
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/fhir+json"),
        ],
        text.as_bytes(),
    )
}

#[test]
fn tokens_of_an_external_identity_provider_are_checked_and_enforced() {
    let key = idp_key("idp-1");
    let keys = key_server(json!({"keys": [key.jwk.clone()]}));
    let dir = tempfile::tempdir().unwrap();
    let s = start_in(
        &dir.path().join("data"),
        &[
            "--auth",
            "external",
            "--auth-issuer",
            ISSUER,
            "--auth-jwks-url",
            &keys.url,
            "--auth-algorithms",
            "ES256",
            "--auth-scope-claim",
            "scp",
            "--auth-patient-claim",
            "pid",
        ],
    );
    let aud = s.base.clone();
    let admin = key.token(
        "idp-1",
        &claims(
            &aud,
            json!(["system/*.cruds", "offline_access", "profile"]),
            json!({}),
        ),
    );
    for (p, obs) in [("P1", "o1"), ("P2", "o2")] {
        let r = with(
            &s,
            &admin,
            "PUT",
            &format!("/Patient/{p}"),
            Some(&json!({"resourceType": "Patient", "id": p})),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        let o = json!({"resourceType": "Observation", "id": obs, "status": "final",
            "code": {"text": "Hb"}, "subject": {"reference": format!("Patient/{p}")}});
        assert_eq!(
            with(&s, &admin, "PUT", &format!("/Observation/{obs}"), Some(&o)).status,
            201
        );
    }
    // A patient's token: confined to the patient its claim names.
    let patient = key.token(
        "idp-1",
        &claims(&aud, json!("patient/*.rs"), json!({"pid": "P1"})),
    );
    assert_eq!(
        with(&s, &patient, "GET", "/Observation/o1", None).status,
        200
    );
    assert_eq!(
        with(&s, &patient, "GET", "/Observation/o2", None).status,
        403
    );
    let r = with(&s, &patient, "GET", "/Observation", None);
    let bundle = r.json();
    let ids: Vec<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["o1"]);
    assert_eq!(
        with(&s, &patient, "DELETE", "/Observation/o1", None).status,
        403
    );
    // No token, and every kind of bad one: 401 with a challenge.
    let r = s.get("/Observation");
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    let other = idp_key("idp-1");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let unsigned = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","kid":"idp-1"}"#),
        b64.encode(claims(&aud, json!("system/*.cruds"), json!({})).to_string())
    );
    let hmac = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("idp-1".into());
        jsonwebtoken::encode(
            &header,
            &claims(&aud, json!("system/*.cruds"), json!({})),
            &EncodingKey::from_secret(key.jwk.to_string().as_bytes()),
        )
        .unwrap()
    };
    let bad = [
        (
            "wrong issuer",
            key.token(
                "idp-1",
                &claims(
                    &aud,
                    json!("system/*.cruds"),
                    json!({"iss": "https://evil.test"}),
                ),
            ),
        ),
        (
            "wrong audience",
            key.token(
                "idp-1",
                &claims(
                    "https://other.test/fhir",
                    json!("system/*.cruds"),
                    json!({}),
                ),
            ),
        ),
        (
            "expired",
            key.token(
                "idp-1",
                &claims(&aud, json!("system/*.cruds"), json!({"exp": now() - 120})),
            ),
        ),
        (
            "another key, same kid",
            other.token("idp-1", &claims(&aud, json!("system/*.cruds"), json!({}))),
        ),
        ("alg none", unsigned),
        ("HS256 with the public key", hmac),
        ("garbage", "a.b.c".to_string()),
        (
            "20 kB, over the limit",
            format!("{}.{}.{}", "x".repeat(10_000), "y".repeat(10_000), "z"),
        ),
    ];
    for (what, token) in &bad {
        let r = with(&s, token, "GET", "/Patient/P1", None);
        assert_eq!(r.status, 401, "{what}: {}", r.text());
    }
    // A 1 MB token does not even fit in the headers the server reads.
    let huge = with(&s, &"x".repeat(1 << 20), "GET", "/Patient/P1", None);
    assert_eq!(huge.status, 431);
    // Scopes in the claim not configured grant nothing.
    let wrong_claim = key.token(
        "idp-1",
        &claims(&aud, json!(null), json!({"scope": "system/*.cruds"})),
    );
    assert_eq!(
        with(&s, &wrong_claim, "GET", "/Patient/P1", None).status,
        403
    );
    // Made-up key ids do not make the server fetch the keys each time.
    let before = keys.hits.load(Ordering::SeqCst);
    for i in 0..20 {
        let t = key.token(
            &format!("made-up-{i}"),
            &claims(&aud, json!("system/*.cruds"), json!({})),
        );
        assert_eq!(with(&s, &t, "GET", "/Patient/P1", None).status, 401);
    }
    let fetched = keys.hits.load(Ordering::SeqCst) - before;
    assert!(fetched <= 2, "{fetched} fetches for 20 unknown key ids");
    eprintln!(
        "external IdP: {} JWKS fetches in all, {fetched} for 20 unknown kids",
        keys.hits.load(Ordering::SeqCst)
    );
    // The discovery document is the identity provider's, not served here.
    assert_eq!(s.get("/.well-known/smart-configuration").status, 404);
    let cs = s.get("/metadata").json();
    assert_eq!(
        cs["rest"][0]["security"]["service"][0]["coding"][0]["code"],
        "SMART-on-FHIR"
    );
}

#[test]
fn external_settings_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    for (args, says) in [
        (
            vec![
                "--auth",
                "external",
                "--auth-jwks-url",
                "https://idp.test/keys",
            ],
            "auth_issuer",
        ),
        (
            vec!["--auth", "external", "--auth-issuer", ISSUER],
            "auth_jwks_url",
        ),
        (
            vec![
                "--auth",
                "external",
                "--auth-issuer",
                ISSUER,
                "--auth-jwks-url",
                "http://idp.test/keys",
            ],
            "https",
        ),
        (
            vec![
                "--auth",
                "external",
                "--auth-issuer",
                ISSUER,
                "--auth-jwks-url",
                "https://idp.test/k",
                "--auth-algorithms",
                "HS256",
            ],
            "HS256",
        ),
        (
            vec![
                "--auth",
                "external",
                "--auth-issuer",
                ISSUER,
                "--auth-jwks-url",
                "https://idp.test/k",
                "--auth-scope-claim",
                "roles",
            ],
            "roles",
        ),
        (
            vec!["--auth", "smart", "--auth-issuer", ISSUER],
            "--auth external",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hemolink"))
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(dir.path())
            .args(&args)
            .env_remove("HEMOLINK_CONFIG")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn a_backend_client_registered_by_jwks_url_gets_tokens() {
    let key: ClientKey = client_key("k-url");
    let keys = key_server(key.jwks.clone());
    let b = crate::auth::backend_with("system/Patient.rs", |data| {
        let (ok, _, err) = crate::cli::auth(
            data,
            &[
                "add-client",
                "--id",
                "lab-bridge",
                "--name",
                "Lab bridge",
                "--type",
                "confidential-asymmetric",
                "--scopes",
                "system/Observation.rs",
                "--jwks-url",
                &keys.url,
            ],
            "",
        );
        assert!(ok, "{err}");
    });
    let s = &b.server;
    let assertion = |kid: &str| {
        let claims = json!({"iss": "lab-bridge", "sub": "lab-bridge", "aud": b.token_url(),
            "exp": now() + 120, "jti": uuid()});
        let mut header = Header::new(Algorithm::ES384);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_der(&key.pkcs8)).unwrap()
    };
    let r = b.token(&assertion("k-url"), "system/Observation.rs");
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(with(s, &token, "GET", "/Observation", None).status, 200);
    // Fetched once; a second token uses the keys at hand.
    let r = b.token(&assertion("k-url"), "system/Observation.rs");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(keys.hits.load(Ordering::SeqCst), 1);
    // An unknown kid is refused, and does not make the server fetch again and again.
    for _ in 0..10 {
        let r = b.token(&assertion("nope"), "system/Observation.rs");
        assert_eq!(r.status, 401, "{}", r.text());
        assert_eq!(r.json()["error"], "invalid_client");
    }
    assert!(keys.hits.load(Ordering::SeqCst) <= 2);
}
