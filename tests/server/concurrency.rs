//! Concurrent writers: updates of one resource never lose one another, with or
//! without `If-Match`.

use crate::harness::start;
use serde_json::json;
use std::sync::Arc;

#[test]
fn parallel_updates_without_if_match_all_land() {
    let s = Arc::new(start(&[]));
    let id = s.create(&json!({"resourceType": "Patient"}));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let s = s.clone();
            let id = id.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    let body = json!({"resourceType": "Patient", "id": id, "name": [{"family": format!("t{t}-{i}")}]});
                    assert_eq!(s.put_json(&format!("/Patient/{id}"), &body).status, 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let h = s.get(&format!("/Patient/{id}/_history?_count=1000")).json();
    assert_eq!(h["total"], 81, "every update is its own version");
    let mut versions: Vec<u64> = h["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["resource"]["meta"]["versionId"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    versions.sort();
    assert_eq!(versions, (1..=81).collect::<Vec<u64>>());
}

#[test]
fn parallel_updates_with_if_match_exactly_one_wins_each_round() {
    let s = Arc::new(start(&[]));
    let id = s.create(&json!({"resourceType": "Patient"}));
    for round in 1..=5u64 {
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let s = s.clone();
                let id = id.clone();
                std::thread::spawn(move || {
                    let body = json!({"resourceType": "Patient", "id": id, "name": [{"family": format!("r{round}t{t}")}]});
                    let tag = format!("W/\"{round}\"");
                    s.request(
                        "PUT",
                        &format!("/Patient/{id}"),
                        &[("Content-Type", "application/fhir+json"), ("If-Match", &tag)],
                        body.to_string().as_bytes(),
                    )
                    .status
                })
            })
            .collect();
        let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "round {round}: {statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 412).count(),
            5,
            "round {round}: {statuses:?}"
        );
    }
    assert_eq!(
        s.get(&format!("/Patient/{id}")).json()["meta"]["versionId"],
        "6"
    );
}
