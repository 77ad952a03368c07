//! The leak suite: with `--auth smart`, a token confined to one patient
//! (`patient/` scopes, the patient picked at sign-in) must never receive a
//! resource, or a version of one, that belongs to another patient, whatever
//! the interaction. The checks are generated over every interaction (read,
//! vread, instance/type/system history, type/system/compartment search by GET
//! and POST, `_include`, `_revinclude`, `:iterate`, chains, `_has`, `_type`,
//! totals, batch and transaction entries, conditional interactions, PATCH,
//! create, update, delete) × every resource type stored × every patient
//! scope form (v2 wildcard, v1, per type, with a query constraint), against
//! an oracle that knows who owns each stored version.

use crate::auth::{backend_with, launch_with};
use crate::harness::{Response, Server};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Whose a stored version is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// In the compartment of Patient/P1, the patient in context.
    Mine,
    /// In the compartment of Patient/P2.
    Theirs,
    /// A care provider, medicine or definition: every patient may read it.
    Shared,
    /// Outside every compartment and not shared (it may hold anyone's data).
    Hidden,
}

/// One stored version, as the oracle knows it.
#[derive(Debug, Clone)]
struct Stored {
    resource_type: String,
    id: String,
    version: u64,
    owner: Owner,
    /// The Observation category, when it has one.
    category: Option<&'static str>,
    /// Whether it is the current version.
    current: bool,
}

const CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

fn obs(id: &str, patient: &str, category: &str, extra: Value) -> Value {
    let mut o = json!({"resourceType": "Observation", "id": id, "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": format!("code-{id}")}]},
        "subject": {"reference": format!("Patient/{patient}")}});
    for (k, v) in extra.as_object().unwrap() {
        o[k] = v.clone();
    }
    o
}

/// Every resource the suite stores, in order (later entries are new versions
/// of earlier ones), with its owner.
fn fixtures() -> Vec<(Value, Owner)> {
    use Owner::*;
    let mut out = vec![
        (
            json!({"resourceType": "Practitioner", "id": "d1", "name": [{"family": "Ito"}]}),
            Shared,
        ),
        (
            json!({"resourceType": "Organization", "id": "org1", "name": "Blood centre"}),
            Shared,
        ),
        (
            json!({"resourceType": "Medication", "id": "m1", "code": {"text": "Iron"}}),
            Shared,
        ),
        (
            json!({"resourceType": "Binary", "id": "b1", "contentType": "text/plain", "data": "c2VjcmV0"}),
            Hidden,
        ),
    ];
    for (p, owner, other) in [("P1", Mine, "P2"), ("P2", Theirs, "P1")] {
        let n = &p[1..];
        out.extend([
            (json!({"resourceType": "Patient", "id": p, "name": [{"family": format!("Family{n}")}],
                "generalPractitioner": [{"reference": "Practitioner/d1"}]}), owner),
            (obs(&format!("lab{n}"), p, "laboratory",
                json!({"hasMember": [{"reference": format!("Observation/lab{}", &other[1..])}]})), owner),
            (obs(&format!("vs{n}"), p, "vital-signs", json!({})), owner),
            (json!({"resourceType": "Condition", "id": format!("c{n}"),
                "subject": {"reference": format!("Patient/{p}")}}), owner),
            (json!({"resourceType": "Encounter", "id": format!("e{n}"), "status": "finished",
                "class": {"code": "AMB"}, "subject": {"reference": format!("Patient/{p}")},
                "partOf": {"reference": format!("Encounter/e{}", &other[1..])}}), owner),
            (json!({"resourceType": "DiagnosticReport", "id": format!("r{n}"), "status": "final",
                "code": {"text": "panel"}, "subject": {"reference": format!("Patient/{p}")},
                "result": [{"reference": format!("Observation/lab{n}")}]}), owner),
            (json!({"resourceType": "MedicationRequest", "id": format!("mr{n}"), "status": "active",
                "intent": "order", "medicationReference": {"reference": "Medication/m1"},
                "subject": {"reference": format!("Patient/{p}")},
                "requester": {"reference": "Practitioner/d1"}}), owner),
            (json!({"resourceType": "AllergyIntolerance", "id": format!("a{n}"),
                "patient": {"reference": format!("Patient/{p}")}}), owner),
            // Who recorded the other patient's lab result: in no compartment.
            (json!({"resourceType": "Provenance", "id": format!("pv{n}"),
                "target": [{"reference": format!("Observation/lab{}", &other[1..])}],
                "recorded": "2024-01-01T00:00:00Z",
                "agent": [{"who": {"reference": format!("Patient/{p}")}}]}), Hidden),
        ]);
    }
    // One result moved from P2 to P1 and one from P1 to P2: each version is
    // judged by itself.
    out.extend([
        (obs("moved-in", "P2", "laboratory", json!({})), Theirs),
        (obs("moved-in", "P1", "laboratory", json!({})), Mine),
        (obs("moved-out", "P1", "laboratory", json!({})), Mine),
        (obs("moved-out", "P2", "laboratory", json!({})), Theirs),
        // Deleted: a tombstone of the other patient's.
        (obs("gone2", "P2", "laboratory", json!({})), Theirs),
    ]);
    out
}

/// The suite's server: the backend client `pharmacy` (system/*.cruds, to
/// store the fixtures), the public app `portal` and the users `ana` (the
/// patient P1) and `dr` (a practitioner).
fn suite_server() -> (crate::auth::Backend, String, Vec<Stored>) {
    let b = backend_with("system/*.cruds", |data| {
        let run = |args: &[&str], stdin: &str| {
            let (ok, _, err) = crate::cli::auth(data, args, stdin);
            assert!(ok, "{err}");
        };
        run(
            &[
                "add-client",
                "--id",
                "portal",
                "--name",
                "Donor portal",
                "--type",
                "public",
                "--redirect-uri",
                "http://127.0.0.1:9999/cb",
                "--scopes",
                "launch/patient patient/*.cruds patient/Observation.rs?category=laboratory",
            ],
            "",
        );
        run(
            &[
                "add-user",
                "--username",
                "ana",
                "--role",
                "patient",
                "--fhir-user",
                "Patient/P1",
            ],
            "ana's password\n",
        );
        run(
            &["add-user", "--username", "dr", "--role", "practitioner"],
            "dr's password\n",
        );
    });
    let system = format!("Bearer {}", b.access_token("system/*.cruds"));
    let mut stored: Vec<Stored> = Vec::new();
    for (resource, owner) in fixtures() {
        let t = resource["resourceType"].as_str().unwrap().to_string();
        let id = resource["id"].as_str().unwrap().to_string();
        let r = send(
            &b.server,
            &system,
            "PUT",
            &format!("/{t}/{id}"),
            Some(&resource),
        );
        assert!(r.status == 200 || r.status == 201, "{t}/{id}: {}", r.text());
        for s in stored
            .iter_mut()
            .filter(|s| s.resource_type == t && s.id == id)
        {
            s.current = false;
        }
        let category = resource["category"][0]["coding"][0]["code"]
            .as_str()
            .map(|c| {
                if c == "laboratory" {
                    "laboratory"
                } else {
                    "vital-signs"
                }
            });
        stored.push(Stored {
            resource_type: t,
            id,
            version: stored_version(&r),
            owner,
            category,
            current: true,
        });
    }
    let r = send(&b.server, &system, "DELETE", "/Observation/gone2", None);
    assert!(r.status == 200 || r.status == 204, "{}", r.text());
    for s in stored.iter_mut().filter(|s| s.id == "gone2") {
        s.current = false;
    }
    (b, system, stored)
}

fn stored_version(r: &Response) -> u64 {
    r.header("etag")
        .and_then(|e| e.trim_start_matches("W/").trim_matches('"').parse().ok())
        .expect("an ETag")
}

fn send(s: &Server, bearer: &str, method: &str, path: &str, body: Option<&Value>) -> Response {
    let text = body.map(Value::to_string).unwrap_or_default();
    let mut headers = vec![("Authorization", bearer)];
    if body.is_some() {
        headers.push(("Content-Type", "application/fhir+json"));
    }
    s.request(method, path, &headers, text.as_bytes())
}

/// A patient-confined token's view, and what the oracle says it may see.
struct View<'a> {
    server: &'a Server,
    bearer: String,
    scope: &'static str,
    stored: &'a [Stored],
    checks: usize,
}

impl View<'_> {
    /// Whether the scope lets this version be seen.
    fn may_see(&self, v: &Stored) -> bool {
        let owned = matches!(v.owner, Owner::Mine | Owner::Shared);
        if self.scope.contains("category=laboratory") {
            owned && v.resource_type == "Observation" && v.category == Some("laboratory")
        } else if self.scope.starts_with("patient/Observation.") {
            owned && v.resource_type == "Observation"
        } else {
            owned
        }
    }

    fn get(&mut self, path: &str) -> Response {
        self.checks += 1;
        send(self.server, &self.bearer, "GET", path, None)
    }

    /// The version of `type/id` a response entry carries, looked up in the
    /// oracle by its `meta.versionId`.
    fn version_of(&self, resource: &Value) -> &Stored {
        let t = resource["resourceType"].as_str().unwrap_or("");
        let id = resource["id"].as_str().unwrap_or("");
        let version: u64 = resource["meta"]["versionId"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        self.stored
            .iter()
            .find(|s| s.resource_type == t && s.id == id && s.version == version)
            .unwrap_or_else(|| panic!("{t}/{id}/_history/{version} was never stored"))
    }

    /// Every resource in a Bundle must be one the token may see.
    fn assert_no_leak(&self, what: &str, bundle: &Value) {
        for e in bundle["entry"].as_array().into_iter().flatten() {
            let r = &e["resource"];
            if r["resourceType"] == "OperationOutcome" || r.is_null() {
                continue;
            }
            // The server's AuditEvents name every party of a request (the
            // patient who asked, the record asked for): no patient scope
            // reaches them.
            assert_ne!(
                r["resourceType"], "AuditEvent",
                "LEAK [{}] {what}: an AuditEvent",
                self.scope
            );
            let v = self.version_of(r);
            assert!(
                self.may_see(v),
                "LEAK [{}] {what}: {}/{} version {} ({:?})",
                self.scope,
                v.resource_type,
                v.id,
                v.version,
                v.owner
            );
        }
    }

    fn ids(bundle: &Value, mode: &str) -> BTreeSet<String> {
        bundle["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["search"]["mode"] == mode)
            .map(|e| {
                format!(
                    "{}/{}",
                    e["resource"]["resourceType"].as_str().unwrap_or(""),
                    e["resource"]["id"].as_str().unwrap_or("")
                )
            })
            .collect()
    }

    /// The current resources of `t` the token may see.
    fn expected(&self, t: &str) -> BTreeSet<String> {
        self.stored
            .iter()
            .filter(|s| s.resource_type == t && s.current && self.may_see(s))
            .map(|s| format!("{t}/{}", s.id))
            .collect()
    }
}

/// Every type the fixtures store.
fn types(stored: &[Stored]) -> Vec<String> {
    let set: BTreeSet<&str> = stored.iter().map(|s| s.resource_type.as_str()).collect();
    set.into_iter().map(str::to_string).collect()
}

/// Reads, vreads and instance history of every stored version.
fn instance_interactions(v: &mut View<'_>) {
    let stored = v.stored;
    let mut latest: BTreeMap<(String, String), &Stored> = BTreeMap::new();
    for s in stored {
        latest.insert((s.resource_type.clone(), s.id.clone()), s);
        let r = v.get(&format!(
            "/{}/{}/_history/{}",
            s.resource_type, s.id, s.version
        ));
        if v.may_see(s) {
            assert_eq!(r.status, 200, "[{}] vread {s:?}: {}", v.scope, r.text());
        } else {
            assert_eq!(r.status, 403, "[{}] vread {s:?}: {}", v.scope, r.text());
        }
    }
    for ((t, id), s) in latest {
        let r = v.get(&format!("/{t}/{id}"));
        match (s.current, v.may_see(s)) {
            (true, true) => assert_eq!(r.status, 200, "[{}] read {t}/{id}", v.scope),
            (false, true) => assert_eq!(r.status, 410, "[{}] read {t}/{id}", v.scope),
            (_, false) => assert_eq!(r.status, 403, "[{}] read {t}/{id}: {}", v.scope, r.text()),
        }
        let h = v.get(&format!("/{t}/{id}/_history"));
        if h.status == 200 {
            v.assert_no_leak(&format!("history of {t}/{id}"), &h.json());
        } else {
            assert_eq!(h.status, 403, "[{}] history {t}/{id}", v.scope);
            assert!(
                !v.may_see(s) || !s.current,
                "[{}] history {t}/{id}",
                v.scope
            );
        }
    }
}

/// Searches of every type, by every route, with every reach.
fn search_interactions(v: &mut View<'_>) {
    let all = types(v.stored);
    for t in &all {
        let allowed = v.scope.starts_with("patient/*") || t == "Observation";
        let expected = v.expected(t);
        let searches = [
            format!("/{t}"),
            format!(
                "/{t}?_include={t}:*&_revinclude=Provenance:target&_revinclude=DiagnosticReport:result"
            ),
            format!("/{t}?_include:iterate={t}:*&_revinclude:iterate=Observation:has-member"),
            format!("/{t}?_count=1"),
            format!("/{t}/_history"),
            format!("/Patient/P2/{t}"),
            format!("/Patient/P1/{t}"),
            format!("/?_type={t}"),
        ];
        for path in &searches {
            let r = v.get(path);
            if path.starts_with("/Patient/") && r.status == 400 {
                // A type that is never in a Patient compartment.
                continue;
            }
            if !allowed {
                assert_eq!(r.status, 403, "[{}] {path}: {}", v.scope, r.text());
                continue;
            }
            assert_eq!(r.status, 200, "[{}] {path}: {}", v.scope, r.text());
            let bundle = r.json();
            v.assert_no_leak(path, &bundle);
            if path == &format!("/{t}") || path == &format!("/?_type={t}") {
                assert_eq!(
                    View::ids(&bundle, "match"),
                    expected,
                    "[{}] {path}",
                    v.scope
                );
            }
            if path.starts_with("/Patient/P2/") {
                assert!(
                    View::ids(&bundle, "match").is_subset(&v.expected(t)),
                    "[{}] {path}",
                    v.scope
                );
            }
        }
        if allowed {
            // POST _search, and the total a count-only search reports.
            v.checks += 1;
            let r = v.server.request(
                "POST",
                &format!("/{t}/_search"),
                &[
                    ("Authorization", v.bearer.as_str()),
                    ("Content-Type", "application/x-www-form-urlencoded"),
                ],
                b"_count=100",
            );
            assert_eq!(r.status, 200);
            v.assert_no_leak("POST _search", &r.json());
            assert_eq!(View::ids(&r.json(), "match"), expected);
            let r = v.get(&format!("/{t}?_summary=count"));
            assert_eq!(
                r.json()["total"].as_u64(),
                Some(expected.len() as u64),
                "[{}] total of {t}",
                v.scope
            );
        }
    }
}

/// Chains, `_has`, system-wide search and history, and a batch of reads.
fn reach_interactions(v: &mut View<'_>) {
    let wildcard = v.scope.starts_with("patient/*");
    for (path, must_be_empty) in [
        // The other patient is not visible: no chain through them matches.
        ("/Observation?subject:Patient.family=Family2", true),
        ("/Observation?subject.family=Family2", true),
        // P1's result names P2's as a member: the member is not visible.
        (
            "/Observation?has-member:Observation.subject=Patient/P2",
            true,
        ),
        (
            "/Observation?has-member.code=http://loinc.org|code-lab2",
            true,
        ),
        // P2's provenance (outside every compartment) points to P1's result.
        ("/Observation?_has:Provenance:target:agent=Patient/P2", true),
        (
            "/Patient?_has:Observation:subject:code=http://loinc.org|code-lab2",
            true,
        ),
        ("/Observation?_id=lab2,vs2,moved-out,gone2", true),
        ("/Observation?subject=Patient/P2", true),
        ("/Observation?code=http://loinc.org|code-lab1", false),
    ] {
        let r = v.get(path);
        if !wildcard && path.starts_with("/Patient") {
            assert_eq!(r.status, 403, "[{}] {path}: {}", v.scope, r.text());
            continue;
        }
        assert_eq!(r.status, 200, "[{}] {path}: {}", v.scope, r.text());
        let bundle = r.json();
        v.assert_no_leak(path, &bundle);
        let matches = View::ids(&bundle, "match");
        if must_be_empty {
            assert!(matches.is_empty(), "[{}] {path}: {matches:?}", v.scope);
        } else {
            assert_eq!(matches.len(), 1, "[{}] {path}", v.scope);
        }
    }
    // Every type at once needs a `*` scope.
    for path in [
        "/",
        "/_history",
        "/?_type=Observation,Patient,Provenance,Binary",
    ] {
        let r = v.get(path);
        if wildcard {
            assert_eq!(r.status, 200, "[{}] {path}: {}", v.scope, r.text());
            v.assert_no_leak(path, &r.json());
        } else {
            assert_eq!(r.status, 403, "[{}] {path}", v.scope);
        }
    }
    // A batch reading everything: each entry answers as its own read would.
    let entries: Vec<Value> = v
        .stored
        .iter()
        .filter(|s| s.current)
        .map(|s| json!({"request": {"method": "GET", "url": format!("{}/{}", s.resource_type, s.id)}}))
        .collect();
    let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": entries});
    v.checks += 1;
    let r = send(v.server, &v.bearer, "POST", "/", Some(&bundle));
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = r.json();
    v.assert_no_leak("batch", &answer);
    let current: Vec<&Stored> = v.stored.iter().filter(|s| s.current).collect();
    for (s, e) in current.iter().zip(answer["entry"].as_array().unwrap()) {
        let status = e["response"]["status"].as_str().unwrap_or("");
        let expected = if v.may_see(s) { "200" } else { "403" };
        assert!(
            status.starts_with(expected),
            "[{}] batch read {}/{}: {status}",
            v.scope,
            s.resource_type,
            s.id
        );
    }
}

/// Every read path, for each form of patient scope.
#[test]
fn a_patient_token_never_receives_another_patients_resource() {
    let (b, _system, stored) = suite_server();
    let s = &b.server;
    let mut total = 0;
    let scopes = [
        "patient/*.rs",
        "patient/*.read",
        "patient/Observation.rs",
        "patient/Observation.rs?category=laboratory",
    ];
    for scope in scopes {
        let granted = launch_with(
            s,
            "portal",
            &format!("launch/patient {scope}"),
            ("ana", "ana's password"),
            None,
            "",
        );
        assert_eq!(granted["patient"], "P1", "{granted}");
        let mut view = View {
            server: s,
            bearer: format!("Bearer {}", granted["access_token"].as_str().unwrap()),
            scope,
            stored: &stored,
            checks: 0,
        };
        instance_interactions(&mut view);
        search_interactions(&mut view);
        reach_interactions(&mut view);
        total += view.checks;
    }
    eprintln!(
        "leak suite (reads): {total} requests over {} scopes and {} types, no leak",
        scopes.len(),
        types(&stored).len()
    );
}

/// A practitioner who picked P1 is confined to P1 as a patient is.
#[test]
fn a_practitioner_with_patient_scopes_is_confined_to_the_patient_picked() {
    let (b, _system, stored) = suite_server();
    let granted = launch_with(
        &b.server,
        "portal",
        "launch/patient patient/*.rs",
        ("dr", "dr's password"),
        Some("P1"),
        "",
    );
    assert_eq!(granted["patient"], "P1");
    let mut view = View {
        server: &b.server,
        bearer: format!("Bearer {}", granted["access_token"].as_str().unwrap()),
        scope: "patient/*.rs",
        stored: &stored,
        checks: 0,
    };
    instance_interactions(&mut view);
    reach_interactions(&mut view);
}

/// Writes with `patient/*.cruds`: nothing of another patient can be changed,
/// created for them, or read back through a write.
#[test]
fn a_patient_token_cannot_write_another_patients_resources() {
    let (b, system, _stored) = suite_server();
    let s = &b.server;
    let granted = launch_with(
        s,
        "portal",
        "launch/patient patient/*.cruds",
        ("ana", "ana's password"),
        None,
        "",
    );
    let me = format!("Bearer {}", granted["access_token"].as_str().unwrap());
    let before = send(s, &system, "GET", "/Observation/lab2", None).json();
    let refused: Vec<(&str, String, Option<Value>)> = vec![
        // Update, delete and patch of P2's result.
        (
            "PUT",
            "/Observation/lab2".into(),
            Some(obs("lab2", "P1", "laboratory", json!({}))),
        ),
        ("DELETE", "/Observation/lab2".into(), None),
        // Create for P2, and update-as-create for P2.
        (
            "POST",
            "/Observation".into(),
            Some(obs("x", "P2", "laboratory", json!({}))),
        ),
        (
            "PUT",
            "/Observation/new2".into(),
            Some(obs("new2", "P2", "laboratory", json!({}))),
        ),
        // Moving my own result to P2.
        (
            "PUT",
            "/Observation/lab1".into(),
            Some(obs("lab1", "P2", "laboratory", json!({}))),
        ),
        // A new Patient is not the patient in context.
        (
            "POST",
            "/Patient".into(),
            Some(json!({"resourceType": "Patient"})),
        ),
        // Outside every compartment and not shared.
        (
            "PUT",
            "/Binary/b1".into(),
            Some(json!({"resourceType": "Binary", "id": "b1", "contentType": "text/plain"})),
        ),
        // A conditional update whose condition names P2's result: it matches
        // nothing the token reaches, so it would create, for P2: refused.
        (
            "PUT",
            "/Observation?_id=lab2".into(),
            Some(obs("lab2", "P2", "laboratory", json!({}))),
        ),
    ];
    for (method, path, body) in &refused {
        let r = send(s, &me, method, path, body.as_ref());
        assert_eq!(r.status, 403, "{method} {path}: {}", r.text());
        assert!(!r.text().contains("Family2"), "{method} {path}");
    }
    let patch = json!([{"op": "replace", "path": "/status", "value": "amended"}]);
    let r = s.request(
        "PATCH",
        "/Observation/lab2",
        &[
            ("Authorization", &me),
            ("Content-Type", "application/json-patch+json"),
        ],
        patch.to_string().as_bytes(),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let r = s.request(
        "PATCH",
        "/Observation?_id=lab2",
        &[
            ("Authorization", &me),
            ("Content-Type", "application/json-patch+json"),
        ],
        patch.to_string().as_bytes(),
    );
    assert_eq!(
        r.status,
        404,
        "a condition matches nothing of P2's: {}",
        r.text()
    );
    // Conditional delete of P2's: matches nothing the token reaches.
    let r = send(s, &me, "DELETE", "/Observation?subject=Patient/P2", None);
    assert!(r.status == 200 || r.status == 204, "{}", r.text());
    // If-None-Exist naming P2's result: no match, so P1's is created.
    let r = s.request(
        "POST",
        "/Observation",
        &[
            ("Authorization", &me),
            ("Content-Type", "application/fhir+json"),
            ("If-None-Exist", "_id=lab2"),
        ],
        obs("ignored", "P1", "laboratory", json!({}))
            .to_string()
            .as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["subject"]["reference"], "Patient/P1");
    // A transaction that writes mine and P2's: refused whole.
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": obs("vs1", "P1", "vital-signs", json!({"status": "amended"})),
         "request": {"method": "PUT", "url": "Observation/vs1"}},
        {"resource": obs("vs2", "P2", "vital-signs", json!({"status": "amended"})),
         "request": {"method": "PUT", "url": "Observation/vs2"}},
    ]});
    let r = send(s, &me, "POST", "/", Some(&tx));
    assert_eq!(r.status, 403, "{}", r.text());
    let r = send(s, &system, "GET", "/Observation/vs1", None);
    assert_eq!(
        r.json()["status"],
        "final",
        "nothing of the transaction was written"
    );
    // A transaction that patches P2's result.
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json",
            "data": base64_of(&patch.to_string())},
         "request": {"method": "PATCH", "url": "Observation/lab2"}},
    ]});
    let r = send(s, &me, "POST", "/", Some(&tx));
    assert_eq!(r.status, 403, "{}", r.text());
    // P2's data is as it was; every P2 resource is still there.
    let after = send(s, &system, "GET", "/Observation/lab2", None).json();
    assert_eq!(before, after);
    let r = send(
        s,
        &system,
        "GET",
        "/Observation?subject=Patient/P2&_summary=count",
        None,
    );
    assert_eq!(r.json()["total"], 3, "{}", r.text());
    // What the token may write, it writes.
    let r = send(
        s,
        &me,
        "PUT",
        "/Observation/vs1",
        Some(&obs(
            "vs1",
            "P1",
            "vital-signs",
            json!({"status": "amended"}),
        )),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send(
        s,
        &me,
        "POST",
        "/Observation",
        Some(&obs("x", "P1", "laboratory", json!({}))),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = send(s, &me, "DELETE", "/Observation/lab1", None);
    assert!(r.status == 200 || r.status == 204, "{}", r.text());
}

fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}
