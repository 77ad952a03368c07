//! `hemolink load`: the Synthea transaction Bundles of the shared test data
//! loaded straight into a store leave every reference resolved; NDJSON,
//! collection Bundles and single resources load through a running server with
//! `--url`; a bad file fails the run and stores nothing of it.

use crate::harness::{Server, start, start_in};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn load(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hemolink"))
        .arg("load")
        .args(args)
        .env_remove("HEMOLINK_CONFIG")
        .output()
        .expect("run hemolink load");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn synthea() -> Option<PathBuf> {
    let root = std::env::var_os("HEMOLINK_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    let dir = root.join("synthea");
    dir.is_dir().then_some(dir)
}

/// Every resource of `types` on the server: `Type/id` → resource.
fn everything(s: &Server, types: &HashSet<String>) -> Vec<Value> {
    let mut out = Vec::new();
    for t in types {
        let mut next = Some(format!("/{t}?_count=1000"));
        while let Some(path) = next {
            let b = s.get(&path).json();
            out.extend(
                b["entry"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| e["resource"].clone()),
            );
            next = b["link"]
                .as_array()
                .and_then(|l| l.iter().find(|l| l["relation"] == "next"))
                .map(|l| {
                    l["url"]
                        .as_str()
                        .unwrap()
                        .strip_prefix(&s.base)
                        .unwrap()
                        .to_string()
                });
        }
    }
    out
}

fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                match (k.as_str(), c) {
                    ("reference", Value::String(r)) => out.push(r.clone()),
                    _ => references(c, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|c| references(c, out)),
        _ => {}
    }
}

#[test]
fn synthea_loads_with_every_reference_resolved() {
    let Some(dir) = synthea() else {
        eprintln!("skipped: no shared Synthea data");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (ok, stdout, stderr) = load(&[dir.to_str().unwrap(), "--data-dir", data.to_str().unwrap()]);
    assert!(ok, "{stdout}{stderr}");
    let mut expected = 0;
    let mut types = HashSet::new();
    for f in std::fs::read_dir(&dir).unwrap() {
        let b: Value = serde_json::from_slice(&std::fs::read(f.unwrap().path()).unwrap()).unwrap();
        for e in b["entry"].as_array().unwrap() {
            expected += 1;
            types.insert(e["resource"]["resourceType"].as_str().unwrap().to_string());
        }
    }
    assert!(
        stdout.contains(&format!("loaded {expected} resources")),
        "{stdout}"
    );
    let s = start_in(&data, &[]);
    let all = everything(&s, &types);
    assert_eq!(all.len(), expected);
    let ids: HashSet<String> = all
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap(),
                r["id"].as_str().unwrap()
            )
        })
        .collect();
    let mut checked = 0;
    for r in &all {
        let mut refs = Vec::new();
        references(r, &mut refs);
        for reference in refs.iter().filter(|r| !r.starts_with('#')) {
            assert!(
                ids.contains(reference),
                "{reference} in {}/{} resolves",
                r["resourceType"],
                r["id"]
            );
            checked += 1;
        }
    }
    assert!(checked > 1000, "{checked} references checked");
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn ndjson_collections_and_resources_load_through_a_server() {
    let s = start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("in");
    std::fs::create_dir(&folder).unwrap();
    let lines: Vec<String> = (0..1500)
        .map(|i| {
            json!({"resourceType": "Patient", "id": format!("nd{i}"), "active": true}).to_string()
        })
        .collect();
    write(&folder, "patients.ndjson", &(lines.join("\n") + "\n"));
    let collection = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:7d1e0000-0000-4000-8000-000000000001", "resource": {"resourceType": "Organization", "name": "Centre"}},
        {"resource": {"resourceType": "Patient", "id": "col1",
            "managingOrganization": {"reference": "urn:uuid:7d1e0000-0000-4000-8000-000000000001"}}}
    ]});
    write(&folder, "collection.json", &collection.to_string());
    write(
        &folder,
        "one.json",
        &json!({"resourceType": "Basic", "code": {"text": "single"}}).to_string(),
    );
    let url = s.base.clone();
    let (ok, stdout, stderr) = load(&[folder.to_str().unwrap(), "--url", &url]);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("loaded 1503 resources"), "{stdout}");
    assert_eq!(s.get("/Patient?_summary=count").json()["total"], 1501);
    let org = s.get("/Patient/col1").json()["managingOrganization"]["reference"].clone();
    assert!(org.as_str().unwrap().starts_with("Organization/"), "{org}");
    assert_eq!(s.get(&format!("/{}", org.as_str().unwrap())).status, 200);

    // A bad line fails its chunk (and the run), and stores nothing of it.
    let bad = tmp.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    write(
        &bad,
        "bad.ndjson",
        "{\"resourceType\":\"Patient\",\"id\":\"ok1\"}\n{\"resourceType\":\"Patient\",\"id\":\"bad\",\"birthDate\":\"1990-02-30\"}\n",
    );
    let (ok, stdout, stderr) = load(&[bad.to_str().unwrap(), "--url", &url]);
    assert!(!ok);
    assert!(
        stderr.contains("Bundle.entry[1].resource.birthDate"),
        "{stderr}"
    );
    assert!(
        stdout.contains("1 Bundles and 0 entries failed"),
        "{stdout}"
    );
    assert_eq!(s.get("/Patient/ok1").status, 404);
}

/// With authorization on, `--url` loading sends the access token given by
/// `HEMOLINK_TOKEN`; without it the server refuses every Bundle.
#[test]
fn loading_into_a_server_with_authorization_sends_the_token() {
    let b = crate::auth::backend_with("system/*.cruds", |_| {});
    let token = b.access_token("system/*.cruds");
    let tmp = tempfile::tempdir().unwrap();
    let file = write(
        tmp.path(),
        "p.json",
        &json!({"resourceType": "Patient", "id": "tok1", "active": true}).to_string(),
    );
    let url = b.server.base.clone();
    let run = |token: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hemolink"));
        cmd.args(["load", file.to_str().unwrap(), "--url", &url])
            .env_remove("HEMOLINK_CONFIG")
            .env_remove("HEMOLINK_TOKEN");
        if let Some(t) = token {
            cmd.env("HEMOLINK_TOKEN", t);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = run(None);
    assert!(!ok && err.contains("401"), "{err}");
    let (ok, err) = run(Some(&token));
    assert!(ok, "{err}");
    assert!(!err.contains(&token), "the token is not printed");
    let r = b.server.get_with(
        "/Patient/tok1",
        &[("Authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(r.status, 200);
}
