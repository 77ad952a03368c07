//! The `patch` interaction over the wire: JSON Patch and FHIRPath Patch (JSON
//! and XML) at instance level and conditionally, `If-Match`, what a patch may
//! not touch, an invalid result, XML Patch refused, and PATCH entries in
//! transactions and batches. Every refused patch leaves the resource as it was.

use crate::harness::{Server, start};
use serde_json::{Value, json};

fn donor(s: &Server, id: &str) {
    let r = s.put_json(
        &format!("/Patient/{id}"),
        &json!({"resourceType": "Patient", "id": id, "active": true,
            "identifier": [{"system": "urn:donor", "value": id}],
            "name": [{"family": "Patch", "given": ["Pat"]}], "birthDate": "1980-05-01"}),
    );
    assert!(r.status < 300, "{}", r.text());
}

fn patch(
    s: &Server,
    path: &str,
    content_type: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut all = vec![("Content-Type", content_type)];
    all.extend_from_slice(headers);
    let r = s.request("PATCH", path, &all, body.as_bytes());
    let text = r.text();
    (r.status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

const JSON_PATCH: &str = "application/json-patch+json";

fn version(s: &Server, id: &str) -> String {
    s.get(&format!("/Patient/{id}")).json()["meta"]["versionId"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn json_patch_and_fhirpath_patch_update_a_resource() {
    let s = start(&[]);
    donor(&s, "p1");
    let ops = json!([
        {"op": "test", "path": "/active", "value": true},
        {"op": "replace", "path": "/birthDate", "value": "1981-06-02"},
        {"op": "add", "path": "/name/0/given/-", "value": "Q."},
        {"op": "add", "path": "/meta/tag", "value": [{"system": "urn:t", "code": "checked"}]}
    ]);
    let (status, r) = patch(
        &s,
        "/Patient/p1",
        JSON_PATCH,
        &ops.to_string(),
        &[("If-Match", "W/\"1\"")],
    );
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["birthDate"], "1981-06-02");
    assert_eq!(r["name"][0]["given"], json!(["Pat", "Q."]));
    assert_eq!(r["meta"]["versionId"], "2");
    assert_eq!(r["meta"]["tag"][0]["code"], "checked");
    // FHIRPath Patch in JSON, then in XML.
    let params = json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
        {"name": "type", "valueCode": "replace"},
        {"name": "path", "valueString": "Patient.active"},
        {"name": "value", "valueBoolean": false}]}]});
    let (status, r) = patch(
        &s,
        "/Patient/p1",
        "application/fhir+json",
        &params.to_string(),
        &[],
    );
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["active"], false);
    let xml = r#"<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="operation"/>
        <part><name value="type"/><valueCode value="delete"/></part>
        <part><name value="path"/><valueString value="Patient.birthDate"/></part></parameter></Parameters>"#;
    let (status, r) = patch(&s, "/Patient/p1", "application/fhir+xml", xml, &[]);
    assert_eq!(status, 200, "{r}");
    assert!(r.get("birthDate").is_none());
    assert_eq!(version(&s, "p1"), "4");
    // Conditionally.
    let ops = json!([{"op": "replace", "path": "/active", "value": true}]);
    let (status, r) = patch(
        &s,
        "/Patient?identifier=urn:donor|p1",
        JSON_PATCH,
        &ops.to_string(),
        &[],
    );
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["active"], true);
    let (status, _) = patch(
        &s,
        "/Patient?identifier=urn:donor|nobody",
        JSON_PATCH,
        &ops.to_string(),
        &[],
    );
    assert_eq!(status, 404);
}

#[test]
fn refused_patches_leave_the_resource_alone() {
    let s = start(&[]);
    donor(&s, "p2");
    let cases: Vec<(&str, String, u16, &str)> = vec![
        // A failing test op.
        (JSON_PATCH, json!([{"op": "test", "path": "/active", "value": false}, {"op": "remove", "path": "/name"}]).to_string(), 422, "[0].value"),
        // id, versionId and lastUpdated may not be patched.
        (JSON_PATCH, json!([{"op": "replace", "path": "/id", "value": "other"}]).to_string(), 422, "Patient.id"),
        (JSON_PATCH, json!([{"op": "replace", "path": "/meta/versionId", "value": "9"}]).to_string(), 422, "Patient.meta.versionId"),
        // An invalid result.
        (JSON_PATCH, json!([{"op": "replace", "path": "/birthDate", "value": "1980-02-30"}]).to_string(), 422, "Patient.birthDate"),
        // A malformed patch.
        (JSON_PATCH, json!([{"op": "jump", "path": "/active"}]).to_string(), 400, "[0].op"),
        (JSON_PATCH, "{not json".to_string(), 400, ""),
        ("application/fhir+json", json!({"resourceType": "Patient"}).to_string(), 400, "resourceType"),
    ];
    for (ct, body, status, at) in cases {
        let (got, outcome) = patch(&s, "/Patient/p2", ct, &body, &[]);
        assert_eq!(got, status, "{body}: {outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        if !at.is_empty() {
            assert_eq!(
                outcome["issue"][0]["expression"][0], at,
                "{body}: {outcome}"
            );
        }
        assert_eq!(version(&s, "p2"), "1", "{body} changed nothing");
    }
    let ok = json!([{"op": "replace", "path": "/active", "value": false}]).to_string();
    let (got, _) = patch(
        &s,
        "/Patient/p2",
        JSON_PATCH,
        &ok,
        &[("If-Match", "W/\"7\"")],
    );
    assert_eq!(got, 412);
    let (got, outcome) = patch(
        &s,
        "/Patient/p2",
        "application/xml-patch+xml",
        "<diff/>",
        &[],
    );
    assert_eq!(got, 415, "{outcome}");
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("XML Patch")
    );
    let (got, _) = patch(&s, "/Patient/nobody", JSON_PATCH, &ok, &[]);
    assert_eq!(got, 404);
    assert_eq!(version(&s, "p2"), "1");
}

#[test]
fn patch_entries_in_transactions_and_batches() {
    use base64::Engine;
    let s = start(&[]);
    donor(&s, "p3");
    donor(&s, "p4");
    let binary = |ops: Value| {
        json!({"resourceType": "Binary", "contentType": "application/json-patch+json",
            "data": base64::engine::general_purpose::STANDARD.encode(ops.to_string())})
    };
    let fhirpath = json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
        {"name": "type", "valueCode": "replace"},
        {"name": "path", "valueString": "Patient.active"},
        {"name": "value", "valueBoolean": false}]}]});
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": binary(json!([{"op": "replace", "path": "/birthDate", "value": "1990-01-01"}])),
         "request": {"method": "PATCH", "url": "Patient/p3"}},
        {"resource": fhirpath, "request": {"method": "PATCH", "url": "Patient?identifier=urn:donor|p4"}}
    ]});
    let b = s.post_json("/", &tx).json();
    assert_eq!(b["type"], "transaction-response", "{b}");
    assert_eq!(b["entry"][0]["response"]["status"], "200 OK");
    assert_eq!(s.get("/Patient/p3").json()["birthDate"], "1990-01-01");
    assert_eq!(s.get("/Patient/p4").json()["active"], false);
    // A bad patch fails the transaction, naming the entry; nothing changes.
    let bad = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": binary(json!([{"op": "replace", "path": "/active", "value": true}])),
         "request": {"method": "PATCH", "url": "Patient/p3"}},
        {"resource": binary(json!([{"op": "remove", "path": "/nothing"}])),
         "request": {"method": "PATCH", "url": "Patient/p4"}}
    ]});
    let r = s.post_json("/", &bad);
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(
        r.json()["issue"][0]["expression"][0],
        "Bundle.entry[1].resource.data"
    );
    assert_eq!(version(&s, "p3"), "2");
    // In a batch each entry stands alone.
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": binary(json!([{"op": "replace", "path": "/active", "value": true}])),
         "request": {"method": "PATCH", "url": "Patient/p3"}},
        {"resource": binary(json!([{"op": "remove", "path": "/nothing"}])),
         "request": {"method": "PATCH", "url": "Patient/p4"}}
    ]});
    let b = s.post_json("/", &batch).json();
    assert_eq!(b["entry"][0]["response"]["status"], "200 OK", "{b}");
    assert_eq!(
        b["entry"][1]["response"]["status"], "422 Unprocessable Entity",
        "{b}"
    );
    assert_eq!(version(&s, "p3"), "3");
    assert_eq!(version(&s, "p4"), "2");
}
