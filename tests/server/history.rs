//! History at instance, type and system level: Bundle type `history`, newest
//! first, `_count` with `next` links, `_since` and `_at`.

use crate::harness::{Server, start};
use serde_json::{Value, json};

fn follow_all(s: &Server, first: &str) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut url = first.to_string();
    loop {
        let page = s.get(&url).json();
        assert_eq!(page["type"], "history");
        entries.extend(page["entry"].as_array().unwrap().iter().cloned());
        let next = page["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next");
        match next {
            Some(l) => {
                url = l["url"]
                    .as_str()
                    .unwrap()
                    .strip_prefix(&s.base)
                    .unwrap()
                    .to_string()
            }
            None => return entries,
        }
    }
}

#[test]
fn instance_history_newest_first_with_deletes() {
    let s = start(&[]);
    let id = s.create(&json!({"resourceType": "Patient", "active": true}));
    s.put_json(
        &format!("/Patient/{id}"),
        &json!({"resourceType": "Patient", "id": id, "active": false}),
    );
    s.delete(&format!("/Patient/{id}"));
    let h = s.get(&format!("/Patient/{id}/_history")).json();
    assert_eq!(h["total"], 3);
    let e = h["entry"].as_array().unwrap();
    assert_eq!(e[0]["request"]["method"], "DELETE");
    assert!(
        e[0].get("resource").is_none(),
        "a delete carries no resource"
    );
    assert_eq!(e[0]["response"]["etag"], "W/\"3\"");
    assert_eq!(e[1]["request"]["method"], "PUT");
    assert_eq!(e[1]["resource"]["active"], false);
    assert_eq!(e[2]["request"]["method"], "POST");
    assert_eq!(e[2]["request"]["url"], "Patient");
    assert_eq!(e[2]["fullUrl"], format!("{}/Patient/{id}", s.base));
    assert_eq!(s.get("/Patient/unknown/_history").status, 404);
}

#[test]
fn paging_is_stable_while_writes_go_on() {
    let s = start(&[]);
    for i in 0..7 {
        s.create(&json!({"resourceType": "Observation", "status": "final", "code": {"text": format!("o{i}")}}));
    }
    s.create(&json!({"resourceType": "Patient"}));
    let first = s.get("/Observation/_history?_count=3").json();
    assert_eq!(first["entry"].as_array().unwrap().len(), 3);
    assert_eq!(first["total"], 7);
    s.create(&json!({"resourceType": "Observation", "status": "final", "code": {"text": "late"}}));
    let next = first["link"][1]["url"]
        .as_str()
        .unwrap()
        .strip_prefix(&s.base)
        .unwrap()
        .to_string();
    let mut all: Vec<Value> = first["entry"].as_array().unwrap().clone();
    all.extend(follow_all(&s, &next));
    let names: Vec<&str> = all
        .iter()
        .map(|e| e["resource"]["code"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["o6", "o5", "o4", "o3", "o2", "o1", "o0"],
        "no skips, no repeats"
    );
    let system = follow_all(&s, "/_history?_count=4");
    assert_eq!(system.len(), 9);
}

#[test]
fn since_and_at() {
    let s = start(&[]);
    let id = s.create(&json!({"resourceType": "Patient", "active": true}));
    let v1 = s.get(&format!("/Patient/{id}")).json()["meta"]["lastUpdated"]
        .as_str()
        .unwrap()
        .to_string();
    std::thread::sleep(std::time::Duration::from_millis(20));
    s.put_json(
        &format!("/Patient/{id}"),
        &json!({"resourceType": "Patient", "id": id, "active": false}),
    );
    let v2 = s.get(&format!("/Patient/{id}")).json()["meta"]["lastUpdated"]
        .as_str()
        .unwrap()
        .to_string();
    let enc = |t: &str| t.replace('+', "%2B").replace(':', "%3A");
    let since = s
        .get(&format!("/Patient/_history?_since={}", enc(&v2)))
        .json();
    assert_eq!(since["total"], 1);
    assert_eq!(since["entry"][0]["resource"]["meta"]["versionId"], "2");
    let at = s
        .get(&format!("/Patient/{id}/_history?_at={}", enc(&v1)))
        .json();
    assert_eq!(at["total"], 1, "{at}");
    assert_eq!(at["entry"][0]["resource"]["meta"]["versionId"], "1");
    let year = &v1[..4];
    assert_eq!(
        s.get(&format!("/Patient/{id}/_history?_at={year}")).json()["total"],
        2
    );
    assert_eq!(s.get("/Patient/_history?_at=1999").json()["total"], 0);
    assert_eq!(s.get("/_history?_since=yesterday").status, 400);
    assert_eq!(s.get("/_history?_count=many").status, 400);
    assert_eq!(s.get("/_history?foo=1").status, 400);
}

#[test]
fn repeated_history_parameters_are_refused() {
    let s = start(&[]);
    assert_eq!(s.get("/_history?_count=1&_count=2").status, 400);
    assert_eq!(s.get("/_history?_since=2020&_since=2021").status, 400);
}
