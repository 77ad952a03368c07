//! Batch and transaction Bundles posted to the base: reference resolution
//! (`urn:uuid:` fullUrls, conditional references, fullUrls inside
//! conditions), `ifNoneExist`, conditional update and delete in entries, GET
//! entries after the writes, all-or-nothing on every kind of bad input, and a
//! batch that answers each entry on its own.

use crate::harness::{Server, start};
use serde_json::{Value, json};

fn post(s: &Server, bundle: &Value) -> (u16, Value) {
    let r = s.post_json("/", bundle);
    (r.status, r.json())
}

fn tx(entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

fn create(full_url: &str, resource: Value) -> Value {
    let t = resource["resourceType"].as_str().unwrap().to_string();
    json!({"fullUrl": full_url, "resource": resource, "request": {"method": "POST", "url": t}})
}

fn total(s: &Server, query: &str) -> u64 {
    s.get(&format!(
        "/{query}{}_summary=count",
        if query.contains('?') { "&" } else { "?" }
    ))
    .json()["total"]
        .as_u64()
        .unwrap()
}

/// The expression of the first issue of an OperationOutcome.
fn expression(outcome: &Value) -> String {
    outcome["issue"][0]["expression"][0]
        .as_str()
        .unwrap_or("")
        .to_string()
}

const P: &str = "urn:uuid:5f0c1bde-4d8e-4f2b-9d3e-1a2b3c4d5e6f";
const O: &str = "urn:uuid:0a6b7c8d-1e2f-4a5b-8c9d-0e1f2a3b4c5d";

fn donor(identifier: &str) -> Value {
    json!({"resourceType": "Patient",
        "identifier": [{"system": "urn:donor", "value": identifier}],
        "name": [{"family": "Bundle"}]})
}

#[test]
fn a_transaction_rewrites_placeholders_everywhere_and_answers_in_order() {
    let s = start(&[]);
    let mut patient = donor("D1");
    patient["text"] = json!({"status": "generated",
        "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\"{P}\">donor</a></div>")});
    let observation = json!({"resourceType": "Observation", "status": "final", "code": {"text": "Hb"},
        "subject": {"reference": P},
        "extension": [{"url": "http://example.org/donation", "valueReference": {"reference": O}}],
        "contained": [{"resourceType": "Provenance", "id": "p", "recorded": "2024-01-01T00:00:00Z",
            "agent": [{"who": {"reference": P}}], "target": [{"reference": P}]}]});
    let organization = json!({"resourceType": "Organization", "name": "Blood centre"});
    let bundle = tx(vec![
        json!({"request": {"method": "GET", "url": "Observation?subject.identifier=urn:donor|D1"}}),
        create("urn:uuid:0b0b0b0b-0000-4000-8000-000000000001", observation),
        create(P, patient),
        create(O, organization),
    ]);
    let (status, b) = post(&s, &bundle);
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["type"], "transaction-response");
    let e = b["entry"].as_array().unwrap();
    assert_eq!(e.len(), 4);
    for written in &e[1..4] {
        assert_eq!(written["response"]["status"], "201 Created", "{written}");
        assert_eq!(written["response"]["etag"], "W/\"1\"");
        assert!(written["response"]["lastModified"].is_string());
    }
    let patient_id = e[2]["resource"]["id"].as_str().unwrap();
    let org_id = e[3]["resource"]["id"].as_str().unwrap();
    let patient_ref = format!("Patient/{patient_id}");
    assert_eq!(
        e[2]["response"]["location"],
        format!("Patient/{patient_id}/_history/1")
    );
    let obs = &e[1]["resource"];
    assert_eq!(obs["subject"]["reference"], patient_ref);
    assert_eq!(
        obs["extension"][0]["valueReference"]["reference"],
        format!("Organization/{org_id}")
    );
    assert_eq!(
        obs["contained"][0]["agent"][0]["who"]["reference"],
        patient_ref
    );
    assert_eq!(obs["contained"][0]["target"][0]["reference"], patient_ref);
    assert!(
        e[2]["resource"]["text"]["div"]
            .as_str()
            .unwrap()
            .contains(&format!("href=\"{patient_ref}\""))
    );
    // The GET entry ran last, so it sees the writes; the stored Observation
    // points at the stored Patient.
    assert_eq!(e[0]["response"]["status"], "200 OK");
    assert_eq!(e[0]["resource"]["total"], 1);
    let obs_id = obs["id"].as_str().unwrap();
    assert_eq!(
        s.get(&format!("/Observation/{obs_id}")).json()["subject"]["reference"],
        patient_ref
    );
}

#[test]
fn if_none_exist_conditional_references_and_conditional_writes() {
    let s = start(&[]);
    let existing = s.create(&donor("D2"));
    let gone = s.create(&donor("D3"));
    // ifNoneExist finds D2: nothing written, and the placeholder means D2.
    let mut find = create(P, donor("D2"));
    find["request"]["ifNoneExist"] = json!("identifier=urn:donor|D2");
    let obs = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "subject": {"reference": P},
        "performer": [{"reference": "Patient?identifier=urn:donor|D2"}]});
    let update = json!({"resource": {"resourceType": "Patient", "active": false,
            "identifier": [{"system": "urn:donor", "value": "D2"}]},
        "request": {"method": "PUT", "url": "Patient?identifier=urn:donor|D2"}});
    let delete = json!({"request": {"method": "DELETE", "url": "Patient?identifier=urn:donor|D3"}});
    let (status, b) = post(
        &s,
        &tx(vec![find, create("urn:uuid:1", obs), delete, update]),
    );
    // The update and the ifNoneExist both name D2: one transaction may not
    // write a resource twice, but finding it is not writing it.
    assert_eq!(status, 200, "{b}");
    let e = &b["entry"];
    assert_eq!(e[0]["response"]["status"], "200 OK");
    assert_eq!(e[0]["resource"]["id"], existing.as_str());
    assert_eq!(
        e[1]["resource"]["subject"]["reference"],
        format!("Patient/{existing}")
    );
    assert_eq!(
        e[1]["resource"]["performer"][0]["reference"],
        format!("Patient/{existing}")
    );
    assert_eq!(e[2]["response"]["status"], "204 No Content");
    assert_eq!(e[3]["response"]["status"], "200 OK");
    assert_eq!(e[3]["resource"]["id"], existing.as_str());
    assert_eq!(e[3]["resource"]["meta"]["versionId"], "2");
    assert_eq!(s.get(&format!("/Patient/{gone}")).status, 410);
    assert_eq!(total(&s, "Patient?identifier=urn:donor|D2"), 1);
}

#[test]
fn a_condition_may_name_another_entrys_full_url_but_not_in_a_cycle() {
    let s = start(&[]);
    let org = json!({"resourceType": "Organization", "name": "Centre",
        "identifier": [{"system": "urn:org", "value": "C"}]});
    let mut org_entry = create(O, org);
    org_entry["request"]["ifNoneExist"] = json!("identifier=urn:org|C");
    let mut patient = donor("D4");
    patient["managingOrganization"] = json!({"reference": O});
    let put = json!({"fullUrl": P, "resource": patient,
        "request": {"method": "PUT", "url": format!("Patient?organization={O}&identifier=urn:donor|D4")}});
    let (status, b) = post(&s, &tx(vec![put.clone(), org_entry.clone()]));
    assert_eq!(status, 200, "{b}");
    let org_id = b["entry"][1]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        b["entry"][0]["resource"]["managingOrganization"]["reference"],
        format!("Organization/{org_id}")
    );
    // Again: both conditions now find what the first run wrote.
    let (status, b) = post(&s, &tx(vec![put, org_entry]));
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["entry"][1]["response"]["status"], "200 OK");
    assert_eq!(b["entry"][0]["resource"]["meta"]["versionId"], "2");
    assert_eq!(total(&s, "Organization"), 1);

    let a = json!({"fullUrl": "urn:uuid:a", "resource": {"resourceType": "Patient"},
        "request": {"method": "PUT", "url": "Patient?general-practitioner=urn:uuid:b"}});
    let b_entry = json!({"fullUrl": "urn:uuid:b", "resource": {"resourceType": "Practitioner"},
        "request": {"method": "PUT", "url": "Practitioner?identifier=urn:uuid:a"}});
    let (status, out) = post(&s, &tx(vec![a, b_entry]));
    assert_eq!(status, 400, "{out}");
    assert!(
        out["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("cycle")
    );
    assert_eq!(total(&s, "Patient"), 1);
}

#[test]
fn bad_transactions_change_nothing_and_name_the_entry() {
    let s = start(&[]);
    let before = s.create(&donor("D5"));
    let ok = |i: usize| {
        create(
            &format!("urn:uuid:00000000-0000-4000-8000-{i:012}"),
            donor(&format!("N{i}")),
        )
    };
    let check = |bundle: Value, status: u16, at: &str| {
        let (got, outcome) = post(&s, &bundle);
        assert_eq!(got, status, "{outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_eq!(expression(&outcome), at, "{outcome}");
        assert_eq!(total(&s, "Patient"), 1, "nothing was stored: {outcome}");
    };
    // An invalid resource.
    let mut bad = donor("X");
    bad["birthDate"] = json!("2001-02-30");
    check(
        tx(vec![ok(0), ok(1), create("urn:uuid:x", bad)]),
        400,
        "Bundle.entry[2].resource.birthDate",
    );
    // The same fullUrl twice (bdl-7).
    check(tx(vec![ok(0), ok(0)]), 400, "Bundle.entry[1].fullUrl");
    // A placeholder that is no entry's fullUrl.
    let mut dangling = donor("Y");
    dangling["generalPractitioner"] = json!([{"reference": "urn:uuid:absent"}]);
    check(
        tx(vec![ok(0), create("urn:uuid:y", dangling)]),
        400,
        "Bundle.entry[1].resource.generalPractitioner[0].reference",
    );
    // A conditional reference with no match, and one with two.
    s.create(&donor("TWIN"));
    s.create(&donor("TWIN"));
    for (query, n) in [
        ("Patient?identifier=urn:donor|NOBODY", "0"),
        ("Patient?identifier=urn:donor|TWIN", "2"),
    ] {
        let mut r = donor("Z");
        r["link"] = json!([{"other": {"reference": query}, "type": "seealso"}]);
        let (got, outcome) = post(&s, &tx(vec![ok(0), create("urn:uuid:z", r)]));
        assert_eq!(got, 412, "{outcome}");
        assert_eq!(
            expression(&outcome),
            "Bundle.entry[1].resource.link[0].other.reference"
        );
        assert!(
            outcome["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
                .contains(&format!("matched {n}"))
        );
    }
    assert_eq!(total(&s, "Patient"), 3);
    // An If-Match that does not hold fails the whole transaction at the commit.
    let stale = json!({"resource": {"resourceType": "Patient", "id": before, "active": true},
        "request": {"method": "PUT", "url": format!("Patient/{before}"), "ifMatch": "W/\"7\""}});
    let (got, outcome) = post(&s, &tx(vec![ok(0), stale]));
    assert_eq!(got, 412, "{outcome}");
    assert_eq!(expression(&outcome), "Bundle.entry[1].request");
    assert_eq!(total(&s, "Patient"), 3);
    // A collection or searchset posted to the base.
    for kind in ["collection", "searchset"] {
        let b = json!({"resourceType": "Bundle", "type": kind,
            "entry": [{"fullUrl": "urn:uuid:c", "resource": donor("C")}]});
        let (got, outcome) = post(&s, &b);
        assert_eq!(got, 400, "{outcome}");
        assert!(expression(&outcome).starts_with("Bundle."), "{outcome}");
    }
    // Two entries writing one resource.
    let put = |v: &str| {
        json!({"resource": {"resourceType": "Patient", "id": "same", "gender": v},
        "request": {"method": "PUT", "url": "Patient/same"}})
    };
    let (got, outcome) = post(&s, &tx(vec![put("male"), put("female")]));
    assert_eq!(got, 400, "{outcome}");
    assert_eq!(expression(&outcome), "Bundle.entry[1].request");
    assert_eq!(total(&s, "Patient"), 3);
}

#[test]
fn a_ten_thousand_entry_transaction_commits_whole_or_not_at_all() {
    let s = start(&[]);
    let entries = |bad_at: Option<usize>| {
        let list: Vec<Value> = (0..10_000)
            .map(|i| {
                let mut r = donor(&format!("T{i}"));
                if Some(i) == bad_at {
                    r["birthDate"] = json!("1990-02-30");
                }
                if i > 0 {
                    r["link"] = json!([{"other": {"reference": format!("urn:uuid:00000000-0000-4000-8000-{:012}", i - 1)}, "type": "seealso"}]);
                }
                create(&format!("urn:uuid:00000000-0000-4000-8000-{i:012}"), r)
            })
            .collect();
        tx(list)
    };
    let (status, outcome) = post(&s, &entries(Some(9_998)));
    assert_eq!(status, 400);
    assert_eq!(
        expression(&outcome),
        "Bundle.entry[9998].resource.birthDate"
    );
    assert_eq!(total(&s, "Patient"), 0);
    // Over 1 MiB, the entries are written as they are made; failures found
    // only then roll everything back too. A reference to no entry, found as
    // entry 9,990 is made:
    let mut bundle = entries(None);
    bundle["entry"][9_990]["resource"]["link"][0]["other"]["reference"] =
        json!("urn:uuid:00000000-0000-4000-8000-999999999999");
    let (status, outcome) = post(&s, &bundle);
    assert_eq!(status, 400, "{outcome}");
    assert_eq!(
        expression(&outcome),
        "Bundle.entry[9990].resource.link[0].other.reference"
    );
    assert_eq!(total(&s, "Patient"), 0);
    let (status, b) = post(&s, &entries(None));
    assert_eq!(status, 200);
    assert_eq!(b["entry"].as_array().unwrap().len(), 10_000);
    assert_eq!(total(&s, "Patient"), 10_000);
    let last = &b["entry"][9_999]["resource"];
    let previous = b["entry"][9_998]["resource"]["id"].as_str().unwrap();
    assert_eq!(
        last["link"][0]["other"]["reference"],
        format!("Patient/{previous}")
    );
    // A version conflict in the last write, found by the store: the 9,999
    // creates before it are undone.
    let mut bundle = entries(None);
    let list = bundle["entry"].as_array_mut().unwrap();
    list.pop();
    list.push(
        json!({"resource": {"resourceType": "Patient", "id": previous},
        "request": {"method": "PUT", "url": format!("Patient/{previous}"), "ifMatch": "W/\"7\""}}),
    );
    let (status, outcome) = post(&s, &bundle);
    assert_eq!(status, 412, "{outcome}");
    assert_eq!(expression(&outcome), "Bundle.entry[9999].request");
    assert_eq!(total(&s, "Patient"), 10_000);
    // With return=minimal, the response carries no resources.
    let r = s.request(
        "POST",
        "/",
        &[
            ("Content-Type", "application/fhir+json"),
            ("Prefer", "return=minimal"),
        ],
        entries(None).to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let b = r.json();
    assert_eq!(b["entry"].as_array().unwrap().len(), 10_000);
    assert!(b["entry"][9_999].get("resource").is_none());
    assert_eq!(b["entry"][9_999]["response"]["status"], "201 Created");
    assert_eq!(total(&s, "Patient"), 20_000);
}

#[test]
fn a_batch_answers_each_entry_on_its_own() {
    let s = start(&[]);
    let id = s.create(&donor("B1"));
    let mut bad = donor("B2");
    bad["birthDate"] = json!("not a date");
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": format!("Patient/{id}")}},
        {"resource": donor("B3"), "request": {"method": "POST", "url": "Patient"}},
        {"resource": bad, "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Patient/unknown"}},
        {"request": {"method": "DELETE", "url": format!("Patient/{id}")}},
        {"resource": {"resourceType": "Patient", "id": "b4"}, "request": {"method": "PUT", "url": "Patient/b4", "ifMatch": "W/\"3\""}}
    ]});
    let (status, b) = post(&s, &batch);
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["type"], "batch-response");
    let e = &b["entry"];
    // GETs run after the DELETE (processing order), so the read sees it.
    assert_eq!(e[0]["response"]["status"], "410 Gone");
    assert_eq!(e[1]["response"]["status"], "201 Created");
    assert!(
        e[1]["response"]["location"]
            .as_str()
            .unwrap()
            .contains("/Patient/")
    );
    assert_eq!(e[2]["response"]["status"], "400 Bad Request");
    assert_eq!(
        e[2]["response"]["outcome"]["resourceType"],
        "OperationOutcome"
    );
    assert_eq!(e[3]["response"]["status"], "404 Not Found");
    assert_eq!(e[4]["response"]["status"], "200 OK");
    assert_eq!(e[5]["response"]["status"], "412 Precondition Failed");
    assert_eq!(total(&s, "Patient"), 1);
}
