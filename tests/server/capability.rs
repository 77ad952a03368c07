//! `GET /metadata`: the CapabilityStatement is walked and every interaction it
//! claims is exercised, for every resource type it lists, with a generated
//! instance of that type (so types without an official example are covered).

use crate::harness::start;
use hemolink::fhir::sample;
use serde_json::{Value, json};

#[test]
fn every_claimed_interaction_works_for_every_type() {
    let s = start(&[]);
    let cs = s.get("/metadata").json();
    assert_eq!(cs["resourceType"], "CapabilityStatement");
    assert_eq!(cs["fhirVersion"], "4.0.1");
    assert_eq!(cs["implementation"]["url"], s.base.as_str());
    let rest = &cs["rest"][0];
    let resources = rest["resource"].as_array().unwrap();
    assert_eq!(
        resources.len(),
        146,
        "every R4 resource type but Parameters"
    );
    let mut exercised = 0;
    for r in resources {
        let t = r["type"].as_str().unwrap();
        let codes: Vec<&str> = r["interaction"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["code"].as_str().unwrap())
            .collect();
        let known = [
            "read",
            "vread",
            "update",
            "patch",
            "delete",
            "history-instance",
            "history-type",
            "create",
            "search-type",
        ];
        assert!(
            codes.iter().all(|c| known.contains(c)),
            "{t} claims {codes:?}"
        );
        let id = format!("cap-{}", t.to_lowercase());
        let instance = sample::resource(t, &id).unwrap();
        if codes.contains(&"update") {
            let r = s.put_json(&format!("/{t}/{id}"), &instance);
            assert_eq!(r.status, 201, "{t} update-as-create: {}", r.text());
            let r = s.put_json(&format!("/{t}/{id}"), &instance);
            assert_eq!(r.status, 200, "{t} update: {}", r.text());
            exercised += 2;
        }
        if codes.contains(&"patch") {
            let ops = json!([{"op": "add", "path": "/meta/tag",
                "value": [{"system": "urn:cap", "code": "patched"}]}]);
            let r = s.request(
                "PATCH",
                &format!("/{t}/{id}"),
                &[("Content-Type", "application/json-patch+json")],
                ops.to_string().as_bytes(),
            );
            assert_eq!(r.status, 200, "{t} patch: {}", r.text());
            assert_eq!(r.json()["meta"]["tag"][0]["code"], "patched", "{t}");
            exercised += 1;
        }
        if codes.contains(&"create") {
            let r = s.post_json(&format!("/{t}"), &instance);
            assert_eq!(r.status, 201, "{t} create: {}", r.text());
            exercised += 1;
        }
        if codes.contains(&"read") {
            let r = s.get(&format!("/{t}/{id}"));
            assert_eq!(r.status, 200, "{t} read");
            assert_eq!(r.json()["resourceType"], t);
            let x = s.get(&format!("/{t}/{id}?_format=xml"));
            assert_eq!(x.status, 200, "{t} read as XML: {}", x.text());
            assert!(
                x.text()
                    .contains(&format!("<{t} xmlns=\"http://hl7.org/fhir\"")),
                "{t}: {}",
                x.text()
            );
            exercised += 2;
        }
        if codes.contains(&"vread") {
            assert_eq!(
                s.get(&format!("/{t}/{id}/_history/1")).status,
                200,
                "{t} vread"
            );
            exercised += 1;
        }
        if codes.contains(&"history-instance") {
            let h = s.get(&format!("/{t}/{id}/_history")).json();
            let versions = if codes.contains(&"patch") { 3 } else { 2 };
            assert_eq!(h["total"], versions, "{t} instance history");
            exercised += 1;
        }
        if codes.contains(&"history-type") {
            let h = s.get(&format!("/{t}/_history")).json();
            assert_eq!(h["type"], "history", "{t} type history");
            exercised += 1;
        }
        if codes.contains(&"search-type") {
            let b = s.get(&format!("/{t}?_id={id}")).json();
            assert_eq!(b["type"], "searchset", "{t} search");
            assert_eq!(b["total"], 1, "{t} search by _id: {b}");
            assert_eq!(b["entry"][0]["resource"]["id"], id.as_str());
            let declared = r["searchParam"].as_array().unwrap();
            assert!(
                declared.iter().any(|p| p["name"] == "_id"),
                "{t} declares its parameters"
            );
            exercised += 1;
        }
        if codes.contains(&"delete") {
            assert_eq!(s.delete(&format!("/{t}/{id}")).status, 200, "{t} delete");
            assert_eq!(
                s.get(&format!("/{t}/{id}")).status,
                410,
                "{t} read after delete"
            );
            exercised += 1;
        }
        let mut live = None;
        if r["conditionalCreate"] == Value::Bool(true) {
            let c = s.request(
                "POST",
                &format!("/{t}"),
                &[
                    ("Content-Type", "application/fhir+json"),
                    ("If-None-Exist", &format!("_id={id}")),
                ],
                instance.to_string().as_bytes(),
            );
            assert_eq!(c.status, 201, "{t}: the deleted resource no longer matches");
            live = c.json()["id"].as_str().map(str::to_string);
            exercised += 1;
        }
        if r["conditionalRead"] == "full-support" {
            let path = format!("/{t}/{}", live.expect("a live resource"));
            assert_eq!(
                s.get_with(&path, &[("If-None-Match", "W/\"1\"")]).status,
                304,
                "{t}"
            );
            let future = "Fri, 01 Jan 2100 00:00:00 GMT";
            assert_eq!(
                s.get_with(&path, &[("If-Modified-Since", future)]).status,
                304,
                "{t}"
            );
            exercised += 2;
        }
    }
    for i in rest["interaction"].as_array().unwrap() {
        match i["code"].as_str().unwrap() {
            "history-system" => assert_eq!(s.get("/_history").json()["type"], "history"),
            "search-system" => {
                let b = s.get("/?_type=Patient,Observation&_count=1").json();
                assert_eq!(b["type"], "searchset", "{b}");
            }
            kind @ ("transaction" | "batch") => {
                let bundle = json!({"resourceType": "Bundle", "type": kind, "entry": [
                    {"fullUrl": "urn:uuid:c0ffee00-0000-4000-8000-000000000001",
                     "resource": {"resourceType": "Basic", "code": {"text": kind}},
                     "request": {"method": "POST", "url": "Basic"}}
                ]});
                let b = s.post_json("/", &bundle).json();
                assert_eq!(b["type"], format!("{kind}-response"), "{b}");
                assert_eq!(b["entry"][0]["response"]["status"], "201 Created", "{b}");
            }
            other => panic!("system interaction {other} is not exercised"),
        }
    }
    assert!(exercised > 146 * 11, "{exercised}");
    for p in rest["searchParam"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let r = s.get_with(&format!("/?{name}=x"), &[("Prefer", "handling=strict")]);
        assert_ne!(r.status, 500, "{name}");
    }
}
