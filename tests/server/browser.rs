//! The SMART launches as a real app and a real browser make them. The SMART
//! JS client (npm `fhirclient`, its Node adapter) plays the app in
//! `tests/clients/node/smart_launch.mjs`, which also plays the browser
//! (redirects followed, the sign-in form submitted as a browser submits it):
//! the standalone launch with the patient picker, and the EHR launch from a
//! context made by `hemolink auth add-launch`. The sign-in page itself in
//! headless Chromium (Debian's `chromium`, driven by npm `playwright-core`,
//! `tests/clients/node/sign_in_page.mjs`): it renders, names the app and each
//! scope, works by keyboard, shows a wrong password's error, and its
//! screenshot is kept in `target/artefacts/sign-in.png`.
//!
//! `.ci/run` installs node's packages (`npm ci --prefix tests/clients/node`)
//! and Chromium; on a developer's machine without them the tests say that
//! they skipped, in CI they fail.

use crate::harness::{Server, start_in};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const CHROMIUM: &str = "/usr/bin/chromium";
const APP: &str = "portal";
const APP_NAME: &str = "Donor portal";
const APP_SCOPES: &str =
    "launch launch/patient launch/encounter openid fhirUser patient/*.rs offline_access";
const DR_PASSWORD: &str = "dr's password";

/// The folder of the node clients when `node` and these npm packages are
/// installed; `None` (the test skips) when not, but never in CI.
fn node_clients(packages: &[&str], chromium: bool) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/node");
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let missing = if !node {
        Some("node is not installed".to_string())
    } else if let Some(p) = packages
        .iter()
        .find(|p| !dir.join("node_modules").join(p).is_dir())
    {
        Some(format!(
            "the npm package {p} is not installed (npm ci --prefix tests/clients/node)"
        ))
    } else if chromium && !Path::new(CHROMIUM).is_file() {
        Some(format!("{CHROMIUM} is missing (apt-get install chromium)"))
    } else {
        None
    };
    let Some(missing) = missing else {
        return Some(dir);
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must have node, the npm packages and Chromium (.ci/run installs them): {missing}"
    );
    eprintln!("skipped: {missing}");
    None
}

/// A loopback port for the app, free a moment ago (the node script binds it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server with `--auth smart` on a data directory seeded beforehand
/// (without authorization): patients P1 and P2, an Observation of each, the
/// encounter E1 of P1. Registered: the public app `portal` whose redirect URI
/// is on `app_port`, the practitioner `dr` (Practitioner/PR1) and the
/// patient `ana` (Patient/P1).
struct Fixture {
    server: Server,
    data: PathBuf,
    app_port: u16,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let s = start_in(&data, &[]);
        for resource in [
            json!({"resourceType": "Patient", "id": "P1", "name": [{"family": "Okafor"}]}),
            json!({"resourceType": "Patient", "id": "P2", "name": [{"family": "Lindqvist"}]}),
            json!({"resourceType": "Practitioner", "id": "PR1", "name": [{"family": "Haddad"}]}),
            json!({"resourceType": "Encounter", "id": "E1", "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": {"reference": "Patient/P1"}}),
            json!({"resourceType": "Observation", "id": "O1", "status": "final",
                "code": {"text": "Haemoglobin"}, "subject": {"reference": "Patient/P1"},
                "valueQuantity": {"value": 13.9, "unit": "g/dL"}}),
            json!({"resourceType": "Observation", "id": "O2", "status": "final",
                "code": {"text": "Haemoglobin"}, "subject": {"reference": "Patient/P2"},
                "valueQuantity": {"value": 12.1, "unit": "g/dL"}}),
        ] {
            let path = format!(
                "/{}/{}",
                resource["resourceType"].as_str().unwrap(),
                resource["id"].as_str().unwrap()
            );
            let r = s.put_json(&path, &resource);
            assert!(r.status == 201 || r.status == 200, "{path}: {}", r.text());
        }
    }
    let app_port = free_port();
    let redirect = format!("http://127.0.0.1:{app_port}/cb");
    let run = |args: &[&str], stdin: &str| {
        let (ok, out, err) = crate::cli::auth(&data, args, stdin);
        assert!(ok, "{args:?}: {err}");
        out
    };
    run(
        &[
            "add-client",
            "--id",
            APP,
            "--name",
            APP_NAME,
            "--type",
            "public",
            "--redirect-uri",
            &redirect,
            "--scopes",
            APP_SCOPES,
        ],
        "",
    );
    run(
        &[
            "add-user",
            "--username",
            "dr",
            "--role",
            "practitioner",
            "--fhir-user",
            "Practitioner/PR1",
        ],
        &format!("{DR_PASSWORD}\n"),
    );
    let server = start_in(&data, &["--auth", "smart"]);
    Fixture {
        server,
        data,
        app_port,
        _dir: dir,
    }
}

/// Runs `node SCRIPT ARGS…` and returns the JSON line it printed last.
fn node(dir: &Path, script: &str, args: &[&str]) -> Value {
    let started = Instant::now();
    let out = Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "node {script} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    eprintln!("node {script} took {:?}", started.elapsed());
    let line = stdout.lines().rev().find(|l| !l.trim().is_empty());
    serde_json::from_str(line.unwrap_or(""))
        .unwrap_or_else(|e| panic!("node {script} printed no JSON ({e}):\n{stdout}\n{stderr}"))
}

fn scopes_of(v: &Value) -> Vec<&str> {
    v.as_str().unwrap_or("").split(' ').collect()
}

#[test]
fn fhirclient_standalone_launch_with_the_patient_picker() {
    let Some(dir) = node_clients(&["fhirclient"], false) else {
        return;
    };
    let f = fixture();
    let port = f.app_port.to_string();
    let scope = "launch/patient openid fhirUser patient/*.rs";
    let out = node(
        &dir,
        "smart_launch.mjs",
        &[
            "standalone",
            "--iss",
            &f.server.base,
            "--port",
            &port,
            "--client",
            APP,
            "--scope",
            scope,
            "--username",
            "dr",
            "--password",
            DR_PASSWORD,
            "--patient",
            "P1",
            "--other",
            "P2",
            "--read",
            "Patient/P2",
            "--read",
            "Observation/O2",
            "--read",
            "Observation/O1",
        ],
    );
    // fhirclient found the endpoints and asked as the specification says.
    let a = &out["authorize"];
    assert_eq!(a["response_type"], "code", "{out}");
    assert_eq!(a["client_id"], APP);
    assert_eq!(a["aud"], f.server.base.as_str());
    assert_eq!(a["code_challenge_method"], "S256");
    assert_eq!(a["scope"], scope);
    assert!(a.get("launch").is_none());
    // The page asked for a patient and listed each scope; the browser sent
    // every ticked scope and the picked patient.
    assert_eq!(out["page"]["patientPicker"], true, "{out}");
    assert_eq!(
        out["page"]["scopeCheckboxes"],
        json!(scopes_of(&json!(scope)))
    );
    assert_eq!(
        out["page"]["submitted"],
        json!([
            "request", "username", "password", "scope", "scope", "scope", "scope", "patient"
        ])
    );
    assert_eq!(
        out["login"]["action"],
        format!("{}/auth/login", f.server.base)
    );
    assert!(
        [302, 303].contains(&out["login"]["status"].as_u64().unwrap()),
        "{out}"
    );
    assert_eq!(
        out["redirect"],
        json!({"hasCode": true, "stateMatches": true})
    );
    // The token and what the client reads with it.
    let app = &out["app"];
    assert_eq!(app["token"]["token_type"], "Bearer", "{out}");
    assert_eq!(app["token"]["patient"], "P1");
    assert_eq!(app["clientPatientId"], "P1");
    assert_eq!(app["fhirUser"], "Practitioner/PR1");
    assert_eq!(app["token"]["has_id_token"], true);
    let mut granted = scopes_of(&app["token"]["scope"]);
    granted.sort_unstable();
    assert_eq!(
        granted,
        ["fhirUser", "launch/patient", "openid", "patient/*.rs"]
    );
    assert_eq!(
        app["patient"],
        json!({"resourceType": "Patient", "id": "P1"})
    );
    assert_eq!(
        app["observations"],
        json!([{"id": "O1", "subject": "Patient/P1"}])
    );
    // Another patient's records are refused; a search for them finds none.
    assert_eq!(
        app["reads"],
        json!({"Patient/P2": 403, "Observation/O2": 403, "Observation/O1": 200}),
        "{out}"
    );
    assert_eq!(app["otherSearch"], json!([]), "{out}");
}

#[test]
fn fhirclient_ehr_launch_carries_patient_and_encounter() {
    let Some(dir) = node_clients(&["fhirclient"], false) else {
        return;
    };
    let f = fixture();
    let (ok, printed, err) = crate::cli::auth(
        &f.data,
        &["add-launch", "--patient", "P1", "--encounter", "E1"],
        "",
    );
    assert!(ok, "{err}");
    let launch = printed
        .lines()
        .find_map(|l| l.strip_prefix("launch: "))
        .unwrap_or_else(|| panic!("no launch value in {printed}"))
        .trim()
        .to_string();
    let port = f.app_port.to_string();
    let scope = "launch launch/encounter openid fhirUser patient/*.rs";
    let out = node(
        &dir,
        "smart_launch.mjs",
        &[
            "ehr",
            "--iss",
            &f.server.base,
            "--port",
            &port,
            "--client",
            APP,
            "--scope",
            scope,
            "--username",
            "dr",
            "--password",
            DR_PASSWORD,
            "--launch",
            &launch,
            "--other",
            "P2",
            "--read",
            "Patient/P2",
            "--read",
            "Encounter/E1",
        ],
    );
    // fhirclient took iss and launch from the EHR's URL and sent them on.
    let a = &out["authorize"];
    assert_eq!(a["launch"], launch.as_str(), "{out}");
    assert!(scopes_of(&a["scope"]).contains(&"launch"), "{out}");
    assert_eq!(a["aud"], f.server.base.as_str());
    assert_eq!(a["code_challenge_method"], "S256");
    // The launch names the patient: no picker.
    assert_eq!(out["page"]["patientPicker"], false, "{out}");
    assert!(
        !out["page"]["submitted"]
            .as_array()
            .unwrap()
            .contains(&json!("patient"))
    );
    assert_eq!(
        out["redirect"],
        json!({"hasCode": true, "stateMatches": true})
    );
    let app = &out["app"];
    assert_eq!(app["clientPatientId"], "P1", "{out}");
    assert_eq!(app["clientEncounterId"], "E1", "{out}");
    assert_eq!(app["token"]["patient"], "P1");
    assert_eq!(app["token"]["encounter"], "E1");
    assert_eq!(app["token"]["need_patient_banner"], true);
    let granted = scopes_of(&app["token"]["scope"]);
    for s in ["launch", "launch/encounter", "patient/*.rs"] {
        assert!(granted.contains(&s), "{s} in {granted:?}");
    }
    assert_eq!(app["patient"]["id"], "P1");
    assert_eq!(
        app["encounter"],
        json!({"id": "E1", "subject": "Patient/P1"})
    );
    assert_eq!(
        app["observations"],
        json!([{"id": "O1", "subject": "Patient/P1"}])
    );
    assert_eq!(
        app["reads"],
        json!({"Patient/P2": 403, "Encounter/E1": 200}),
        "{out}"
    );
    assert_eq!(app["otherSearch"], json!([]), "{out}");
    // A launch is used once: the same launch again is refused.
    let again = Command::new("node")
        .arg(dir.join("smart_launch.mjs"))
        .args([
            "ehr",
            "--iss",
            &f.server.base,
            "--port",
            &port,
            "--client",
            APP,
            "--scope",
            scope,
            "--username",
            "dr",
            "--password",
            DR_PASSWORD,
            "--launch",
            &launch,
        ])
        .output()
        .unwrap();
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("invalid_request"), "{stderr}");
}

/// The folder for test artefacts: `target/artefacts` of the target
/// directory this test binary was built in.
fn artefacts() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/debug/deps/server-… → target
    let target = exe
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("artefacts")
}

#[test]
fn sign_in_page_in_headless_chromium() {
    let Some(dir) = node_clients(&["playwright-core"], true) else {
        return;
    };
    let f = fixture();
    let port = f.app_port.to_string();
    let artefacts = artefacts();
    let scope = "launch/patient openid fhirUser patient/*.rs offline_access";
    let out = node(
        &dir,
        "sign_in_page.mjs",
        &[
            "--base",
            &f.server.base,
            "--port",
            &port,
            "--client",
            APP,
            "--scope",
            scope,
            "--username",
            "dr",
            "--password",
            DR_PASSWORD,
            "--patient",
            "P1",
            "--untick",
            "offline_access",
            "--app-name",
            APP_NAME,
            "--artefacts",
            artefacts.to_str().unwrap(),
        ],
    );
    assert_eq!(out["title"], "Sign in · Hemolink", "{out}");
    assert_eq!(out["heading"], "Sign in");
    assert_eq!(out["appNameShown"], true);
    let shown: Vec<&str> = out["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["scope"].as_str().unwrap())
        .collect();
    assert_eq!(shown, scopes_of(&json!(scope)));
    for s in out["scopes"].as_array().unwrap() {
        let label = s["label"].as_str().unwrap();
        assert!(
            label.len() > s["scope"].as_str().unwrap().len(),
            "a description besides the scope: {label}"
        );
    }
    assert_eq!(out["wrongPassword"]["status"], 401, "{out}");
    assert_eq!(out["wrongPassword"]["alert"], "Wrong username or password.");
    // By keyboard: username, password, each scope, the patient, the button.
    let order: Vec<&str> = out["keyboard"]["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "username",
            "password",
            "scope0",
            "scope1",
            "scope2",
            "scope3",
            "scope4",
            "patient",
            "button:Allow"
        ]
    );
    assert_eq!(
        out["redirect"],
        json!({"origin": format!("http://127.0.0.1:{port}"), "path": "/cb",
            "hasCode": true, "stateMatches": true})
    );
    // What was unticked by keyboard is not granted.
    let mut granted = scopes_of(&out["token"]["scope"]);
    granted.sort_unstable();
    assert_eq!(
        granted,
        ["fhirUser", "launch/patient", "openid", "patient/*.rs"]
    );
    assert_eq!(out["token"]["patient"], "P1");
    let screenshot = PathBuf::from(out["screenshot"].as_str().unwrap());
    assert_eq!(screenshot, artefacts.join("sign-in.png"));
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 5_000,
        "{} bytes",
        png.len()
    );
    println!("screenshot: {}", screenshot.display());
}
