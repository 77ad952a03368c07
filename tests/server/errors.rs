//! Bad input, named in the issue: each gets a clear 4xx OperationOutcome, the
//! process stays up, and nothing stored changes.

use crate::harness::{Server, start};
use serde_json::json;

fn post(s: &Server, path: &str, content_type: &str, body: &[u8]) -> crate::harness::Response {
    s.request("POST", path, &[("Content-Type", content_type)], body)
}

/// The store's state as the history shows it.
fn snapshot(s: &Server) -> String {
    s.get("/_history?_count=1000").json()["entry"].to_string()
}

#[test]
fn bad_bodies_are_refused_and_change_nothing() {
    let s = start(&["--max-body-size", "1MiB"]);
    let id = s.create(&json!({"resourceType": "Patient", "active": true}));
    let before = snapshot(&s);
    let json = "application/fhir+json";
    let deep = "[".repeat(10_000);
    let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        ("malformed JSON", json, b"{\"resourceType\":".to_vec(), 400),
        ("invalid UTF-8", json, b"{\"resourceType\":\"Patient\",\"gender\":\"\xff\"}".to_vec(), 400),
        ("duplicate keys", json, br#"{"resourceType":"Patient","active":true,"active":false}"#.to_vec(), 400),
        ("nested 10,000 deep", json, deep.into_bytes(), 400),
        ("wrong content type", "text/plain", b"{}".to_vec(), 415),
        ("unknown resource type", json, br#"{"resourceType":"Donut"}"#.to_vec(), 400),
        ("number for a string", json, br#"{"resourceType":"Patient","gender":1}"#.to_vec(), 400),
        ("empty array", json, br#"{"resourceType":"Patient","name":[]}"#.to_vec(), 400),
        ("empty object", json, br#"{"resourceType":"Patient","maritalStatus":{}}"#.to_vec(), 400),
        ("type differs from URL", json, br#"{"resourceType":"Observation"}"#.to_vec(), 400),
        ("a JSON array", json, b"[]".to_vec(), 400),
        ("billion laughs", "application/fhir+xml", br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><Patient xmlns="http://hl7.org/fhir"><gender value="&lol2;"/></Patient>"#.to_vec(), 400),
        ("XXE", "application/fhir+xml", br#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Patient xmlns="http://hl7.org/fhir"><gender value="&e;"/></Patient>"#.to_vec(), 400),
        ("malformed XML", "application/fhir+xml", b"<Patient xmlns=\"http://hl7.org/fhir\"><gender value=\"male\"></Patient>".to_vec(), 400),
        ("too large", json, vec![b' '; 2 << 20], 413),
    ];
    for (what, ct, body, status) in cases {
        let r = post(&s, "/Patient", ct, &body);
        assert_eq!(r.status, status, "{what}: {}", r.text());
        let oo = r.json();
        assert_eq!(oo["resourceType"], "OperationOutcome", "{what}");
        assert_eq!(oo["issue"][0]["severity"], "error", "{what}");
        assert!(
            oo["issue"][0]["diagnostics"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{what}"
        );
    }
    let r = s.request("POST", "/Patient", &[], br#"{"resourceType":"Patient"}"#);
    assert_eq!(r.status, 415, "missing content type");
    let r = s.put_json(
        &format!("/Patient/{id}"),
        &json!({"resourceType": "Patient", "id": "other"}),
    );
    assert_eq!(r.status, 400, "body id differs from URL id");
    assert_eq!(r.json()["issue"][0]["expression"][0], "Patient.id");
    let r = s.put_json(
        &format!("/Patient/{id}"),
        &json!({"resourceType": "Patient"}),
    );
    assert_eq!(r.status, 400, "update without id");
    assert_eq!(snapshot(&s), before, "nothing stored changed");
    assert_eq!(s.get("/health").status, 200, "still up");
}

#[test]
fn duplicate_key_and_bad_value_point_at_the_element() {
    let s = start(&[]);
    let r = post(
        &s,
        "/Patient",
        "application/fhir+json",
        br#"{"resourceType":"Patient","name":[{"family":"a","family":"b"}]}"#,
    );
    assert_eq!(r.status, 400);
    let issue = &r.json()["issue"][0];
    assert_eq!(issue["expression"][0], "Patient.name[0].family", "{issue}");
    let r = post(
        &s,
        "/Patient",
        "application/fhir+json",
        br#"{"resourceType":"Patient","birthDate":"2023-02-29"}"#,
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["issue"][0]["expression"][0], "Patient.birthDate");
}

#[test]
fn statuses_of_the_protocol() {
    let s = start(&[]);
    assert_eq!(s.get("/Donut/1").status, 404);
    assert_eq!(s.get("/Donut/1").issue_code(), "not-found");
    assert_eq!(s.get("/Patient/nope").status, 404);
    assert_eq!(s.get("/Patient/bad$id").status, 400);
    assert_eq!(
        s.get("/Parameters/x").status,
        404,
        "Parameters has no endpoint"
    );
    let r = s.request("PATCH", "/Patient/_history", &[], b"");
    assert_eq!(r.status, 405);
    assert_eq!(r.issue_code(), "not-supported");
    assert_eq!(
        s.get_with("/Patient/x", &[("Accept", "image/png")]).status,
        406
    );
    assert_eq!(s.get("/Patient/x?_format=html").status, 406);
    assert_eq!(s.get("/Patient/x?_summary=sometimes").status, 400);
    assert_eq!(
        s.get("/Patient/x?_summary=count").status,
        400,
        "count is for searches"
    );
    let r = s.get_with("/Donut/1", &[("Accept", "application/fhir+xml")]);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/fhir+xml"),
        "errors in the negotiated format"
    );
    assert!(r.text().contains("<OperationOutcome"));
    assert_eq!(s.get("/nowhere/at/all/really").status, 404);
    let post = |body: &[u8]| {
        s.request(
            "POST",
            "/",
            &[("Content-Type", "application/fhir+json")],
            body,
        )
    };
    let empty = post(br#"{"resourceType":"Bundle","type":"batch"}"#);
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json()["type"], "batch-response");
    assert!(empty.json().get("entry").is_none(), "no empty arrays");
    let document = post(br#"{"resourceType":"Bundle","type":"document"}"#);
    assert_eq!(document.status, 400);
    assert_eq!(document.json()["issue"][0]["expression"][0], "Bundle.type");
    let not_a_bundle = post(br#"{"resourceType":"Patient"}"#);
    assert_eq!(not_a_bundle.status, 400);
    let meta = s.get("/metadata");
    assert!(meta.header("etag").is_some_and(|t| t.starts_with("W/")));
    assert_eq!(s.get("/metadata?mode=terminology").status, 400);
    assert_eq!(s.get("/metadata?mode=normative").status, 200);
}

#[test]
fn a_100_mb_body_gets_413_under_the_default_limit() {
    let s = start(&[]);
    let body = vec![b' '; 100 << 20];
    let r = post(&s, "/Patient", "application/fhir+json", &body);
    assert_eq!(r.status, 413);
    assert_eq!(r.issue_code(), "too-long");
    assert_eq!(s.get("/health").status, 200);
}
