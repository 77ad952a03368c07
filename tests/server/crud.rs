//! Read, vread, create, update, delete, conditional create, preconditions and
//! `Prefer`, as R4 http.html describes them.

use crate::harness::start;
use serde_json::json;

#[test]
fn create_sets_id_meta_and_headers() {
    let s = start(&[]);
    let r = s.post_json("/Patient", &json!({"resourceType": "Patient", "id": "ignored", "active": true, "meta": {"versionId": "77"}}));
    assert_eq!(r.status, 201);
    let body = r.json();
    let id = body["id"].as_str().unwrap();
    assert_ne!(id, "ignored");
    assert_eq!(body["meta"]["versionId"], "1");
    assert!(body["meta"]["lastUpdated"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        r.header("location").unwrap(),
        format!("{}/Patient/{id}/_history/1", s.base)
    );
    assert_eq!(r.header("etag"), Some("W/\"1\""));
    assert!(r.header("last-modified").unwrap().ends_with("GMT"));
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/fhir+json")
    );
}

#[test]
fn read_vread_update_delete_lifecycle() {
    let s = start(&[]);
    let id = s.create(&json!({"resourceType": "Patient", "gender": "female"}));
    let path = format!("/Patient/{id}");
    let r = s.get(&path);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["gender"], "female");
    assert_eq!(r.header("etag"), Some("W/\"1\""));

    let r = s.put_json(
        &path,
        &json!({"resourceType": "Patient", "id": id, "gender": "male", "multipleBirthInteger": 2}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["meta"]["versionId"], "2");
    assert_eq!(r.header("etag"), Some("W/\"2\""));

    assert_eq!(
        s.get(&format!("{path}/_history/1")).json()["gender"],
        "female"
    );
    assert_eq!(
        s.get(&format!("{path}/_history/2")).json()["gender"],
        "male"
    );
    assert_eq!(s.get(&format!("{path}/_history/3")).status, 404);

    let r = s.delete(&path);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["issue"][0]["severity"], "information");
    assert_eq!(r.header("etag"), Some("W/\"3\""));
    let r = s.get(&path);
    assert_eq!(r.status, 410);
    assert_eq!(r.issue_code(), "deleted");
    assert_eq!(
        s.get(&format!("{path}/_history/2")).status,
        200,
        "old versions stay readable"
    );
    assert_eq!(
        s.get(&format!("{path}/_history/3")).status,
        410,
        "the tombstone version is gone"
    );
    assert_eq!(
        s.delete(&path).status,
        200,
        "deleting again changes nothing"
    );
    assert_eq!(s.get(&format!("{path}/_history/4")).status, 404);

    let r = s.put_json(&path, &json!({"resourceType": "Patient", "id": id}));
    assert_eq!(r.status, 201, "an update brings a deleted resource back");
    assert_eq!(r.json()["meta"]["versionId"], "4");
}

#[test]
fn update_as_create_with_client_id() {
    let s = start(&[]);
    let body = br#"{"resourceType":"Observation","id":"bp-1","status":"final",
        "code":{"text":"fridge temperature"},"valueQuantity":{"value":4.50,"unit":"Cel"}}"#;
    let r = s.request(
        "PUT",
        "/Observation/bp-1",
        &[("Content-Type", "application/fhir+json")],
        body,
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        r.header("location").unwrap(),
        format!("{}/Observation/bp-1/_history/1", s.base)
    );
    let text = s.get("/Observation/bp-1").text();
    assert!(text.contains("\"value\":4.50"), "decimal text kept: {text}");
}

#[test]
fn if_match_guards_updates_and_deletes() {
    let s = start(&[]);
    let id = s.create(&json!({"resourceType": "Patient"}));
    let path = format!("/Patient/{id}");
    let body = json!({"resourceType": "Patient", "id": id, "active": true}).to_string();
    let put = |tag: &str| {
        s.request(
            "PUT",
            &path,
            &[("Content-Type", "application/fhir+json"), ("If-Match", tag)],
            body.as_bytes(),
        )
    };
    assert_eq!(put("W/\"1\"").status, 200);
    let stale = put("W/\"1\"");
    assert_eq!(stale.status, 412);
    assert_eq!(stale.issue_code(), "conflict");
    assert_eq!(put("\"2\"").status, 200);
    assert_eq!(put("garbage").status, 400);
    let r = s.request("DELETE", &path, &[("If-Match", "W/\"1\"")], b"");
    assert_eq!(r.status, 412);
    assert_eq!(s.get(&path).status, 200, "a refused delete deletes nothing");
    let r = s.request(
        "PUT",
        "/Patient/nobody",
        &[
            ("Content-Type", "application/fhir+json"),
            ("If-Match", "W/\"1\""),
        ],
        br#"{"resourceType":"Patient","id":"nobody"}"#,
    );
    assert_eq!(r.status, 412, "If-Match on a resource that does not exist");
}

#[test]
fn conditional_read() {
    let s = start(&[]);
    let id = s.create(&json!({"resourceType": "Patient"}));
    let path = format!("/Patient/{id}");
    let r = s.get_with(&path, &[("If-None-Match", "W/\"1\"")]);
    assert_eq!(r.status, 304);
    assert_eq!(r.header("etag"), Some("W/\"1\""));
    assert_eq!(
        s.get_with(&path, &[("If-None-Match", "W/\"9\"")]).status,
        200
    );
    let later = "Fri, 01 Jan 2100 00:00:00 GMT";
    assert_eq!(
        s.get_with(&path, &[("If-Modified-Since", later)]).status,
        304
    );
    let earlier = "Thu, 01 Jan 1970 00:00:00 GMT";
    assert_eq!(
        s.get_with(&path, &[("If-Modified-Since", earlier)]).status,
        200
    );
    assert_eq!(
        s.get_with(&path, &[("If-Modified-Since", "yesterday")])
            .status,
        400
    );
}

#[test]
fn conditional_create_on_identifier_and_id() {
    let s = start(&[]);
    let donor =
        json!({"resourceType": "Patient", "identifier": [{"system": "urn:donor", "value": "D-1"}]});
    let first = s.create(&donor);
    let cond = |q: &str| {
        s.request(
            "POST",
            "/Patient",
            &[
                ("Content-Type", "application/fhir+json"),
                ("If-None-Exist", q),
            ],
            donor.to_string().as_bytes(),
        )
    };
    let r = cond("identifier=urn:donor|D-1");
    assert_eq!(r.status, 200, "an existing match: no create");
    assert_eq!(r.json()["id"], first.as_str());
    assert_eq!(cond("identifier=D-1").status, 200, "value in any system");
    assert_eq!(cond(&format!("_id={first}")).status, 200);
    let r = cond("identifier=urn:donor|D-2");
    assert_eq!(r.status, 201, "no match: created");
    s.create(&json!({"resourceType": "Patient", "identifier": [{"system": "urn:donor", "value": "D-1"}]}));
    let r = cond("identifier=urn:donor|D-1");
    assert_eq!(r.status, 412, "two matches");
    assert_eq!(r.issue_code(), "multiple-matches");
    assert_eq!(
        cond("colour=blue").status,
        400,
        "criteria the server cannot evaluate are refused"
    );
    assert_eq!(
        cond("identifier=urn:donor|").status,
        412,
        "a system alone matches all three"
    );
}

#[test]
fn prefer_return() {
    let s = start(&[]);
    let body = br#"{"resourceType":"Patient"}"#;
    let ct = ("Content-Type", "application/fhir+json");
    let r = s.request(
        "POST",
        "/Patient",
        &[ct, ("Prefer", "return=minimal")],
        body,
    );
    assert_eq!(r.status, 201);
    assert!(r.body.is_empty());
    assert!(r.header("location").is_some());
    let r = s.request(
        "POST",
        "/Patient",
        &[ct, ("Prefer", "return=OperationOutcome")],
        body,
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["resourceType"], "OperationOutcome");
    let r = s.request(
        "POST",
        "/Patient",
        &[ct, ("Prefer", "return=representation")],
        body,
    );
    assert_eq!(r.json()["resourceType"], "Patient");
}

#[test]
fn binary_raw_content() {
    let s = start(&[]);
    let r = s.request(
        "POST",
        "/Binary",
        &[("Content-Type", "image/png")],
        b"\x89PNG\r\n\x1a\nrest",
    );
    assert_eq!(r.status, 201);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let raw = s.get_with(&format!("/Binary/{id}"), &[("Accept", "image/png")]);
    assert_eq!(raw.status, 200);
    assert_eq!(raw.header("content-type"), Some("image/png"));
    assert_eq!(raw.body, b"\x89PNG\r\n\x1a\nrest");
    let fhir = s.get_with(
        &format!("/Binary/{id}"),
        &[("Accept", "application/fhir+json")],
    );
    assert_eq!(fhir.json()["contentType"], "image/png");
    let browser = s.get_with(
        &format!("/Binary/{id}"),
        &[("Accept", "text/html,*/*;q=0.8")],
    );
    assert_eq!(browser.header("content-type"), Some("image/png"));
}

#[test]
fn a_delete_etag_brings_the_resource_back_with_contention() {
    let s = start(&[]);
    let id = s.create(&json!({"resourceType": "Patient"}));
    let path = format!("/Patient/{id}");
    let deleted = s.delete(&path);
    let tag = deleted.header("etag").unwrap().to_string();
    assert_eq!(tag, "W/\"2\"");
    let gone = s.get(&path);
    assert_eq!(gone.status, 410);
    assert_eq!(
        gone.header("etag"),
        Some("W/\"2\""),
        "410 carries the tombstone's ETag"
    );
    let body = json!({"resourceType": "Patient", "id": id}).to_string();
    let put = |tag: &str| {
        s.request(
            "PUT",
            &path,
            &[("Content-Type", "application/fhir+json"), ("If-Match", tag)],
            body.as_bytes(),
        )
    };
    assert_eq!(put("W/\"1\"").status, 412, "a stale tag");
    let back = put(&tag);
    assert_eq!(back.status, 201, "{}", back.text());
    assert_eq!(back.json()["meta"]["versionId"], "3");
}

#[test]
fn raw_binary_put_takes_the_url_id_and_is_served_safely() {
    let s = start(&[]);
    let r = s.request(
        "PUT",
        "/Binary/doc-1",
        &[("Content-Type", "text/html; charset=iso-8859-1")],
        b"<script>alert(1)</script>",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let raw = s.get_with("/Binary/doc-1", &[("Accept", "text/html")]);
    assert_eq!(raw.body, b"<script>alert(1)</script>");
    assert_eq!(raw.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(raw.header("content-security-policy"), Some("sandbox"));
}
