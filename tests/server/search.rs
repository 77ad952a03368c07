//! Search behaviour beyond single parameter semantics (those are in the fixture
//! table): indexing in the unit of work, paging over a snapshot while writes go
//! on, strict and lenient handling, `POST _search`, `_summary=count`, system
//! and compartment searches, conditional create, update and delete through the
//! index, `hemolink reindex`, and included resources paged with their matches.

use crate::harness::{Server, start, start_in};
use serde_json::{Value, json};
use std::collections::HashSet;

fn patient(id: &str, family: &str) -> Value {
    json!({"resourceType": "Patient", "id": id, "name": [{"family": family}], "active": true})
}

fn ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["search"]["mode"] == "match")
                .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn link(bundle: &Value, relation: &str, s: &Server) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == relation)
        .map(|l| {
            l["url"]
                .as_str()
                .unwrap()
                .strip_prefix(&s.base)
                .unwrap()
                .to_string()
        })
}

#[test]
fn a_resource_is_found_right_after_its_201() {
    let s = start(&[]);
    for i in 0..20 {
        let id = s
            .create(&json!({"resourceType": "Patient", "name": [{"family": format!("Quick{i}")}]}));
        let b = s.get(&format!("/Patient?family=quick{i}")).json();
        assert_eq!(ids(&b), vec![id], "{b}");
    }
}

#[test]
fn pages_hold_to_the_first_snapshot_while_writes_go_on() {
    let s = start(&[]);
    let mut expected = HashSet::new();
    for i in 0..35 {
        let id = format!("p{i:02}");
        assert!(
            s.put_json(&format!("/Patient/{id}"), &patient(&id, "Pager"))
                .status
                < 300
        );
        expected.insert(id);
    }
    let first = s.get("/Patient?family=pager&_count=10").json();
    assert_eq!(first["total"], 35);
    let mut seen = ids(&first);
    let mut next = link(&first, "next", &s);
    let mut round = 0;
    while let Some(url) = next {
        // Between pages: delete one resource not yet seen, rename another so
        // that it no longer matches, and add a new match. None of this may
        // change what the remaining pages hold.
        let unseen: Vec<&String> = expected.iter().filter(|id| !seen.contains(id)).collect();
        if let Some(victim) = unseen.first() {
            s.delete(&format!("/Patient/{victim}"));
        }
        if let Some(renamed) = unseen.get(1) {
            s.put_json(&format!("/Patient/{renamed}"), &patient(renamed, "Other"));
        }
        s.put_json(
            &format!("/Patient/new{round}"),
            &patient(&format!("new{round}"), "Pager"),
        );
        round += 1;
        let page = s.get(&url).json();
        assert_eq!(page["total"], 35, "the total is the snapshot's");
        seen.extend(ids(&page));
        next = link(&page, "next", &s);
    }
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "an entry appeared twice: {seen:?}"
    );
    assert_eq!(
        unique, expected,
        "every resource matched at the first page, exactly once"
    );
    let now = s.get("/Patient?family=pager&_count=100").json();
    assert!(
        ids(&now).iter().any(|id| id.starts_with("new")),
        "a fresh search sees the new state"
    );
}

#[test]
fn previous_links_walk_back_over_the_same_pages() {
    let s = start(&[]);
    for i in 0..7 {
        let id = format!("b{i}");
        s.put_json(
            &format!("/Patient/{id}"),
            &patient(&id, &format!("Back{i}")),
        );
    }
    let p1 = s.get("/Patient?family=back&_sort=family&_count=3").json();
    let p2 = s.get(&link(&p1, "next", &s).unwrap()).json();
    let p3 = s.get(&link(&p2, "next", &s).unwrap()).json();
    assert_eq!(ids(&p1), ["b0", "b1", "b2"]);
    assert_eq!(ids(&p2), ["b3", "b4", "b5"]);
    assert_eq!(ids(&p3), ["b6"]);
    assert!(link(&p3, "next", &s).is_none());
    let back = s.get(&link(&p3, "previous", &s).unwrap()).json();
    assert_eq!(ids(&back), ids(&p2));
    let back = s.get(&link(&back, "previous", &s).unwrap()).json();
    assert_eq!(ids(&back), ids(&p1));
    assert!(link(&back, "previous", &s).is_none());
}

/// The ids of a page's entries of `mode`, in order.
fn entries(bundle: &Value, mode: &str) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["search"]["mode"] == mode)
                .map(|e| {
                    let r = &e["resource"];
                    format!(
                        "{}/{}",
                        r["resourceType"].as_str().unwrap(),
                        r["id"].as_str().unwrap()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Follows `next` from `first` to the end: the pages.
fn all_pages(s: &Server, first: &str, between: &mut dyn FnMut(usize)) -> Vec<Value> {
    let mut pages = vec![s.get(first).json()];
    while let Some(url) = link(pages.last().unwrap(), "next", s) {
        between(pages.len());
        pages.push(s.get(&url).json());
        assert!(pages.len() < 200, "the walk does not end");
    }
    pages
}

#[test]
fn included_resources_are_paged_with_their_matches() {
    let s = start(&["--max-included", "7"]);
    s.put_json(
        "/Organization/org",
        &json!({"resourceType": "Organization", "id": "org", "name": "Fan club"}),
    );
    let mut expected = HashSet::new();
    for (p, observations) in [("fan0", 30), ("fan1", 0), ("fan2", 12)] {
        let mut pt = patient(p, "Fan");
        if p != "fan1" {
            pt["managingOrganization"] = json!({"reference": "Organization/org"});
        }
        s.put_json(&format!("/Patient/{p}"), &pt);
        for i in 0..observations {
            // Relative and absolute references sort apart in the index; the
            // walk must cover both.
            let reference = if i % 3 == 0 {
                format!("{}/Patient/{p}", s.base)
            } else {
                format!("Patient/{p}")
            };
            let id = s.create(&json!({
                "resourceType": "Observation", "status": "final",
                "code": {"text": "fan"}, "subject": {"reference": reference}
            }));
            expected.insert(format!("Observation/{id}"));
        }
    }
    expected.insert("Organization/org".to_string());
    let victim = expected
        .iter()
        .find(|e| e.starts_with("Observation/"))
        .unwrap()
        .clone();
    let pages = all_pages(
        &s,
        "/Patient?family=fan&_sort=_id&_count=2&_revinclude=Observation:subject&_include=Patient:organization",
        &mut |n| {
            // Writes between pages change nothing the walk returns: a new
            // referrer is after the snapshot, a deleted one is still in it.
            if n == 1 {
                s.create(&json!({"resourceType": "Observation", "status": "final",
                    "code": {"text": "late"}, "subject": {"reference": "Patient/fan0"}}));
                s.delete(&format!("/{victim}"));
            }
        },
    );
    let matches: Vec<String> = pages.iter().flat_map(|p| entries(p, "match")).collect();
    assert_eq!(matches, ["Patient/fan0", "Patient/fan1", "Patient/fan2"]);
    let mut included = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        let inc = entries(page, "include");
        assert!(inc.len() <= 7, "page {i} holds {} included", inc.len());
        let unique: HashSet<&String> = inc.iter().collect();
        assert_eq!(
            unique.len(),
            inc.len(),
            "a page holds a resource twice: {inc:?}"
        );
        assert_eq!(page["total"], 3);
        included.extend(inc);
    }
    // Page one: fan0, fan1 and 7 of their 31 includes; four more pages carry
    // on with them; then fan2 with its 13.
    assert_eq!(pages.len(), 7, "{pages:#?}");
    assert!(entries(&pages[1], "match").is_empty());
    let observations: Vec<&String> = included
        .iter()
        .filter(|e| e.starts_with("Observation/"))
        .collect();
    let unique: HashSet<&String> = observations.iter().copied().collect();
    assert_eq!(
        unique.len(),
        observations.len(),
        "an Observation came twice"
    );
    let got: HashSet<String> = included.iter().cloned().collect();
    assert_eq!(got, expected, "every referrer, nothing else");
    // The organization comes with each window of matches that refers to it.
    assert_eq!(
        included.iter().filter(|e| *e == "Organization/org").count(),
        2
    );
}

#[test]
fn iterated_includes_page_through_cycles() {
    let s = start(&["--max-included", "3"]);
    let member = |id: &str| json!({"reference": format!("Observation/{id}")});
    let mut members: Vec<Value> = vec![member("c1")];
    for i in 0..10 {
        let id = format!("leaf{i}");
        s.put_json(
            &format!("/Observation/{id}"),
            &json!({"resourceType": "Observation", "id": id, "status": "final", "code": {"text": "leaf"}}),
        );
        members.push(member(&id));
    }
    // c0 → c1 → c2 → c0, and c0 → ten leaves.
    for (id, has) in [
        ("c0", members),
        ("c1", vec![member("c2")]),
        ("c2", vec![member("c0")]),
    ] {
        s.put_json(
            &format!("/Observation/{id}"),
            &json!({"resourceType": "Observation", "id": id, "status": "final",
                "code": {"text": "cycle"}, "hasMember": has}),
        );
    }
    let pages = all_pages(
        &s,
        "/Observation?_id=c0&_include:iterate=Observation:has-member",
        &mut |_| {},
    );
    let included: Vec<String> = pages.iter().flat_map(|p| entries(p, "include")).collect();
    let got: HashSet<&String> = included.iter().collect();
    let mut want: HashSet<String> = (0..10).map(|i| format!("Observation/leaf{i}")).collect();
    want.insert("Observation/c1".into());
    want.insert("Observation/c2".into());
    assert_eq!(got, want.iter().collect(), "{included:?}");
    assert!(pages.iter().all(|p| entries(p, "include").len() <= 3));
    assert_eq!(pages.len(), 4, "12 included, 3 a page");
    assert_eq!(entries(&pages[0], "match"), ["Observation/c0"]);
}

#[test]
fn strict_refuses_and_lenient_reports_what_it_ignored() {
    let s = start(&[]);
    s.put_json("/Patient/a", &patient("a", "Known"));
    let strict = s.get_with(
        "/Patient?family=known&colour=blue",
        &[("Prefer", "handling=strict")],
    );
    assert_eq!(strict.status, 400, "{}", strict.text());
    let oo = strict.json();
    assert_eq!(oo["issue"][0]["expression"][0], "colour", "{oo}");
    let lenient = s.get("/Patient?family=known&colour=blue");
    assert_eq!(lenient.status, 200);
    let b = lenient.json();
    assert_eq!(ids(&b), ["a"]);
    let me = link(&b, "self", &s).unwrap();
    assert!(
        !me.contains("colour"),
        "the self link leaves the ignored parameter out: {me}"
    );
    let outcome = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["search"]["mode"] == "outcome")
        .expect("an outcome entry");
    assert_eq!(outcome["resource"]["issue"][0]["expression"][0], "colour");
    let configured = start(&["--search-handling", "strict"]);
    assert_eq!(configured.get("/Patient?colour=blue").status, 400);
    assert_eq!(
        configured
            .get_with("/Patient?colour=blue", &[("Prefer", "handling=lenient")])
            .status,
        200
    );
}

#[test]
fn post_search_count_system_and_compartment() {
    let s = start(&[]);
    s.put_json("/Patient/c1", &patient("c1", "Form"));
    s.put_json("/Patient/c2", &patient("c2", "Other"));
    for (id, who) in [("o1", "c1"), ("o2", "c1"), ("o3", "c2")] {
        let obs = json!({"resourceType": "Observation", "id": id, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": format!("Patient/{who}")}});
        assert!(s.put_json(&format!("/Observation/{id}"), &obs).status < 300);
    }
    let r = s.request(
        "POST",
        "/Patient/_search",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"family=form",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(ids(&r.json()), ["c1"]);
    let count = s.get("/Observation?code=8867-4&_summary=count").json();
    assert_eq!(count["total"], 3);
    assert!(count.get("entry").is_none(), "{count}");
    let system = s.get("/?_type=Patient,Observation&_id=c1,o3").json();
    let mut found = ids(&system);
    found.sort();
    assert_eq!(found, ["c1", "o3"]);
    let compartment = s.get("/Patient/c1/Observation").json();
    let mut found = ids(&compartment);
    found.sort();
    assert_eq!(found, ["o1", "o2"]);
    let filtered = s.get("/Patient/c1/Observation?_id=o2").json();
    assert_eq!(ids(&filtered), ["o2"]);
}

#[test]
fn conditional_create_update_and_delete_use_the_index() {
    let s = start(&[]);
    let donor = json!({"resourceType": "Patient",
        "identifier": [{"system": "urn:donor", "value": "D-1"}], "name": [{"family": "Donor"}]});
    let create = |body: &Value| {
        s.request(
            "POST",
            "/Patient",
            &[
                ("Content-Type", "application/fhir+json"),
                ("If-None-Exist", "family=donor&identifier=urn:donor|D-1"),
            ],
            body.to_string().as_bytes(),
        )
    };
    let first = create(&donor);
    assert_eq!(first.status, 201);
    let again = create(&donor);
    assert_eq!(again.status, 200, "found, not created again");
    assert_eq!(again.json()["id"], first.json()["id"]);
    let bad = s.request(
        "POST",
        "/Patient",
        &[
            ("Content-Type", "application/fhir+json"),
            ("If-None-Exist", "colour=blue"),
        ],
        donor.to_string().as_bytes(),
    );
    assert_eq!(
        bad.status,
        400,
        "a condition is never lenient: {}",
        bad.text()
    );
    let mut changed = donor.clone();
    changed["active"] = json!(false);
    let up = s.put_json("/Patient?identifier=urn:donor|D-1", &changed);
    assert_eq!(up.status, 200, "{}", up.text());
    assert_eq!(up.json()["id"], first.json()["id"]);
    assert_eq!(up.json()["meta"]["versionId"], "2");
    let mut other = donor.clone();
    other["identifier"][0]["value"] = json!("D-2");
    let made = s.put_json("/Patient?identifier=urn:donor|D-2", &other);
    assert_eq!(made.status, 201, "no match: created");
    s.create(&json!({"resourceType": "Patient", "name": [{"family": "Donor"}]}));
    let many = s.delete("/Patient?family=donor");
    assert_eq!(many.status, 412, "several matches: {}", many.text());
    let one = s.delete("/Patient?identifier=urn:donor|D-2");
    assert_eq!(one.status, 200, "{}", one.text());
    assert_eq!(
        s.get(&format!("/Patient/{}", made.json()["id"].as_str().unwrap()))
            .status,
        410
    );
    let multi = start(&["--multiple-delete"]);
    for i in 0..3 {
        multi.create(&json!({"resourceType": "Patient", "name": [{"family": "Many"}], "id": format!("m{i}")}));
    }
    assert_eq!(multi.delete("/Patient?family=many").status, 200);
    assert_eq!(
        multi.get("/Patient?family=many&_summary=count").json()["total"],
        0
    );
}

#[test]
fn reindex_rebuilds_the_index_of_a_generated_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bin = env!("CARGO_BIN_EXE_hemolink");
    let gen_out = std::process::Command::new(bin)
        .args(["generate", "--patients", "3", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        gen_out.status.success(),
        "{}",
        String::from_utf8_lossy(&gen_out.stderr)
    );
    let out = std::process::Command::new(bin)
        .args(["reindex", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("reindexed "), "{text}");
    let s = start_in(&data, &[]);
    let b = s
        .get("/Patient?_id=gen-pat-000001&_revinclude=Observation:subject")
        .json();
    assert_eq!(ids(&b), ["gen-pat-000001"]);
    assert!(
        b["entry"].as_array().unwrap().len() > 10,
        "its observations are included"
    );
    let busy = std::process::Command::new(bin)
        .args(["reindex", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        !busy.status.success(),
        "the running server holds the data directory"
    );
    assert!(String::from_utf8_lossy(&busy.stderr).contains("in use"));
}
