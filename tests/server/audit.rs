//! The audit trail over the wire: every request and every answer of the
//! authorization server becomes an AuditEvent (who, what, when, from where,
//! outcome) that the server writes and chains; clients cannot write
//! AuditEvents; `hemolink audit verify` finds a tampered event; and a run
//! through every authorization path with known secrets planted leaves none
//! of them in the log or the trail.

use crate::auth::{app_server, backend_with, form, launch_with, post_form};
use crate::harness::{Server, start_logged};
use serde_json::{Value, json};
use std::process::Command;

fn send(
    s: &Server,
    bearer: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> crate::harness::Response {
    let text = body.map(Value::to_string).unwrap_or_default();
    s.request(
        method,
        path,
        &[
            ("Authorization", bearer),
            ("Content-Type", "application/fhir+json"),
        ],
        text.as_bytes(),
    )
}

/// Every AuditEvent, oldest first.
fn trail(s: &Server, bearer: &str) -> Vec<Value> {
    let r = send(
        s,
        bearer,
        "GET",
        "/AuditEvent?_sort=_lastUpdated&_count=1000",
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["entry"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e["resource"].clone())
        .collect()
}

fn subtype(e: &Value) -> &str {
    e["subtype"][0]["code"].as_str().unwrap_or("")
}

fn hemolink(data: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hemolink"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("HEMOLINK_CONFIG")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_access_and_decision_is_audited_chained_and_tamper_evident() {
    let b = backend_with("system/*.cruds", |_| {});
    let s = &b.server;
    let system = format!("Bearer {}", b.access_token("system/*.cruds"));
    let reader = format!("Bearer {}", b.access_token("system/Patient.rs"));
    let p = json!({"resourceType": "Patient", "id": "P1"});
    assert_eq!(send(s, &system, "PUT", "/Patient/P1", Some(&p)).status, 201);
    assert_eq!(send(s, &reader, "GET", "/Patient/P1", None).status, 200);
    assert_eq!(send(s, &reader, "GET", "/Patient?_id=P1", None).status, 200);
    assert_eq!(send(s, &reader, "DELETE", "/Patient/P1", None).status, 403);
    assert_eq!(s.get("/Patient/P1").status, 401);
    // Clients cannot write AuditEvents, whatever their scopes.
    let forged = json!({"resourceType": "AuditEvent", "id": "x", "recorded": "2026-01-01T00:00:00Z",
        "type": {"code": "rest"}, "agent": [{"requestor": true}], "source": {"observer": {"display": "x"}}});
    for (method, path) in [("POST", "/AuditEvent"), ("PUT", "/AuditEvent/x")] {
        let r = send(s, &system, method, path, Some(&forged));
        assert_eq!(r.status, 403, "{method}: {}", r.text());
    }
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": forged, "request": {"method": "POST", "url": "AuditEvent"}}]});
    assert_eq!(send(s, &system, "POST", "/", Some(&tx)).status, 403);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let events = trail(s, &system);
    let find = |sub: &str, status: u16| {
        events
            .iter()
            .find(|e| {
                subtype(e) == sub
                    && e["outcomeDesc"]
                        .as_str()
                        .unwrap_or("")
                        .starts_with(&format!("HTTP {status} "))
            })
            .unwrap_or_else(|| panic!("no {sub} event with {status} in {events:#?}"))
    };
    let read = find("read", 200);
    assert_eq!(read["outcome"], "0");
    assert_eq!(read["action"], "R");
    assert_eq!(read["entity"][0]["what"]["reference"], "Patient/P1");
    assert_eq!(read["agent"][0]["who"]["identifier"]["value"], "pharmacy");
    assert_eq!(read["agent"][0]["network"]["address"], "127.0.0.1");
    assert!(read["recorded"].as_str().unwrap().starts_with("20"));
    assert_eq!(find("delete", 403)["outcome"], "4");
    assert_eq!(
        find("read", 401)["agent"][0]["who"]["display"],
        "unauthenticated"
    );
    assert!(
        find("search-type", 200)["entity"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.get("query").is_some())
    );
    assert_eq!(find("token", 200)["type"]["code"], "110114");
    assert_eq!(find("create", 403)["outcome"], "4");
    // The trail itself was read (a search): that is audited too, later.
    drop(events);
    // Verified with the server stopped (the store is one process's at a time),
    // after the last events were written (within the 1 s bound).
    let data = b.data_dir();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let _kept = b.stop();
    let (ok, out, err) = hemolink(&data, &["audit", "verify"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("audit chain intact") && !out.contains("intact: 0 events"),
        "{out}"
    );
    // Tampering with a stored event (at the database, past the server).
    let db = rusqlite::Connection::open(data.join("hemolink.db")).unwrap();
    let (seq, id): (i64, String) = db
        .query_row(
            "SELECT seq, id FROM resource_version WHERE type = 'AuditEvent' AND body LIKE '%\"outcome\":\"4\"%' ORDER BY seq LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    db.execute_batch("DROP TRIGGER resource_version_immutable_update")
        .unwrap();
    db.execute(
        "UPDATE resource_version SET body = replace(body, '\"outcome\":\"4\"', '\"outcome\":\"0\"') WHERE seq = ?1",
        [seq],
    )
    .unwrap();
    drop(db);
    let (ok, out, err) = hemolink(&data, &["audit", "verify"]);
    assert!(!ok, "{out}");
    assert!(err.contains(&format!("broken at AuditEvent/{id}")), "{err}");
}

/// Known secrets planted in every authorization path must appear in no log
/// line and no AuditEvent.
#[test]
fn no_secret_reaches_the_log_or_the_trail() {
    let (app, dir) = app_server();
    drop(app);
    let data = dir.path().join("data");
    let secret = std::fs::read_to_string(dir.path().join("lab-secret")).unwrap();
    let log = dir.path().join("server.log");
    let s = start_logged(
        &data,
        &[
            "--auth",
            "smart",
            "--log-level",
            "trace",
            "--audit-flush-ms",
            "50",
        ],
        &log,
    );
    let mut planted: Vec<String> = vec![
        secret.clone(),
        "ana's password".into(),
        "dr's password".into(),
        "root's password".into(),
        "a-wrong-password-12345".into(),
    ];
    // The standalone launch with refresh: the access, refresh and ID tokens.
    let token = launch_with(
        &s,
        "donor-app",
        "launch/patient patient/Patient.rs openid fhirUser offline_access",
        ("ana", "ana's password"),
        None,
        "",
    );
    for key in ["access_token", "refresh_token", "id_token"] {
        planted.push(token[key].as_str().unwrap().to_string());
    }
    let refresh = token["refresh_token"].as_str().unwrap();
    let r = post_form(
        &s,
        "/auth/token",
        &form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "donor-app"),
        ]),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    planted.push(r.json()["access_token"].as_str().unwrap().to_string());
    planted.push(r.json()["refresh_token"].as_str().unwrap().to_string());
    // The confidential client's secret, in the form and by Basic.
    let basic = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("lab:{secret}"))
    };
    planted.push(basic.clone());
    for extra in [
        vec![("client_id", "lab"), ("client_secret", secret.as_str())],
        vec![],
    ] {
        let mut fields = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", "not-a-refresh-token"),
        ];
        fields.extend(extra.iter().copied());
        let headers = if extra.is_empty() {
            vec![("Authorization", format!("Basic {basic}"))]
        } else {
            vec![]
        };
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = post_form(&s, "/auth/token", &form(&fields), &headers);
        assert_eq!(r.status, 400, "{}", r.text());
    }
    // A wrong password, introspection and revocation, a forged bearer.
    let _ = launch_attempt_with_wrong_password(&s);
    let access = token["access_token"].as_str().unwrap();
    let bearer = format!("Bearer {access}");
    let r = post_form(
        &s,
        "/auth/introspect",
        &form(&[("token", access)]),
        &[("Authorization", &bearer)],
    );
    assert_eq!(r.json()["active"], true);
    let r = post_form(
        &s,
        "/auth/revoke",
        &form(&[("token", refresh), ("client_id", "donor-app")]),
        &[],
    );
    assert_eq!(r.status, 200);
    let r = s.get_with("/Patient/D1", &[("Authorization", &bearer)]);
    assert!(r.status == 404 || r.status == 200);
    let forged = format!("{access}x");
    planted.push(forged.clone());
    assert_eq!(
        s.get_with(
            "/Patient/D1",
            &[("Authorization", &format!("Bearer {forged}"))]
        )
        .status,
        401
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    // The trail, read back through the database (no token can read it all).
    drop(s);
    let db = rusqlite::Connection::open(data.join("hemolink.db")).unwrap();
    let mut stmt = db
        .prepare("SELECT body FROM resource_version WHERE type = 'AuditEvent'")
        .unwrap();
    let bodies: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(bodies.len() >= 8, "{} events", bodies.len());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().count() >= 8, "the log has lines: {text}");
    for secret in &planted {
        assert!(
            !text.contains(secret.as_str()),
            "a secret is in the log: {secret}"
        );
        assert!(
            bodies.iter().all(|b| !b.contains(secret.as_str())),
            "a secret is in the audit trail: {secret}"
        );
        // Nor the token's signature alone.
        if let Some(sig) = secret.rsplit('.').next().filter(|s| s.len() > 40) {
            assert!(!text.contains(sig), "a token signature is in the log");
        }
    }
    eprintln!(
        "secrets: {} planted, {} log lines and {} AuditEvents searched, none found",
        planted.len(),
        text.lines().count(),
        bodies.len()
    );
}

/// A sign-in with a wrong password: the page again, with the error.
fn launch_attempt_with_wrong_password(s: &Server) -> u16 {
    let (_, challenge) = crate::auth::pkce();
    let q = crate::auth::authorize_query(
        s,
        "donor-app",
        "http://127.0.0.1:9999/cb",
        "patient/Patient.rs",
        &challenge,
    );
    let page = s.get(&format!("/auth/authorize?{q}")).text();
    let id = crate::auth::request_id(&page);
    let r = post_form(
        s,
        "/auth/login",
        &form(&[
            ("request", &id),
            ("username", "ana"),
            ("password", "a-wrong-password-12345"),
            ("scope", "patient/Patient.rs"),
        ]),
        &[],
    );
    assert_eq!(r.status, 401);
    r.status
}
