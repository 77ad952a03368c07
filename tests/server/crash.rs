//! Acknowledged means durable: SIGKILL the server in the middle of a write load,
//! restart it on the same data, and find every acknowledged write with its
//! version. (A killed process leaves the OS cache behind, so this cannot catch a
//! missing fsync; the store's settings test and the fsync counters below do.)

use crate::harness::{send, start_in};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn sigkill_mid_load_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = start_in(&data, &[]);
    let addr = s.addr.clone();
    let acked: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let stop = Instant::now() + Duration::from_millis(1500);
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let addr = addr.clone();
            let acked = acked.clone();
            std::thread::spawn(move || {
                let mut i = 0;
                // Keep writing until the server is gone.
                loop {
                    let id = format!("w{w}-{}", i / 3);
                    let body = json!({"resourceType": "Patient", "id": id, "name": [{"family": format!("v{i}")}]}).to_string();
                    let r = send(&addr, "PUT", &format!("/Patient/{id}"), &[("Content-Type", "application/fhir+json")], body.as_bytes());
                    match r {
                        Ok(r) if r.status == 200 || r.status == 201 => {
                            let v = r.json()["meta"]["versionId"].as_str().unwrap().parse().unwrap();
                            acked.lock().unwrap().push((id, v));
                        }
                        Ok(r) => panic!("unexpected status {} {}", r.status, r.text()),
                        Err(_) => return,
                    }
                    i += 1;
                    if Instant::now() > stop + Duration::from_secs(30) {
                        return;
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(stop - Instant::now());
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "the load ran ({} writes)", acked.len());
    let s = start_in(&data, &[]);
    let mut latest = std::collections::HashMap::new();
    for (id, v) in &acked {
        let e = latest.entry(id.clone()).or_insert(0);
        *e = (*e).max(*v);
    }
    for (id, v) in &acked {
        let r = s.get(&format!("/Patient/{id}/_history/{v}"));
        assert_eq!(r.status, 200, "acknowledged {id} version {v} is lost");
    }
    for (id, v) in &latest {
        let current: u64 = s.get(&format!("/Patient/{id}")).json()["meta"]["versionId"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            current >= *v,
            "{id}: current {current} older than acknowledged {v}"
        );
    }
}

#[test]
fn every_acknowledged_write_was_synced() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_in(&dir.path().join("data"), &[]);
    let syncs = s.metric("hemolink_store_syncs_total");
    let commits = s.metric("hemolink_store_commits_total");
    for _ in 0..20 {
        s.create(&json!({"resourceType": "Patient"}));
    }
    let synced = s.metric("hemolink_store_syncs_total") - syncs;
    let committed = s.metric("hemolink_store_commits_total") - commits;
    assert!(
        (1..=20).contains(&committed),
        "{committed} commits for 20 sequential writes"
    );
    assert!(
        synced >= committed,
        "{synced} syncs for {committed} commits: each commit must reach the disk"
    );
    assert_eq!(s.metric("hemolink_store_units_total"), 20);
}
