//! The conformance runner, `hemolink conformance --data DIR`: starts a server
//! in-process for each suite (its own store), PUTs every official R4 example of
//! `DIR/fhir-r4/examples/` and `DIR/fhir-r4/examples-xml-json/` with its own id
//! (POST when it has none), reads each back as JSON and as XML, and compares
//! with the original. A third suite does the same with a generated instance of
//! every resource type, so types without an official example are covered too.
//! `Parameters` (no endpoint) is only parsed, validated and converted both ways.
//! Official examples that break base R4 rules (`conformance/invalid-examples.toml`)
//! must instead be refused with a 400 naming the element. It prints each
//! failure's reason and closes with `N passed, N failed`. The search section,
//! the FHIRPath score ([`fhirpath`]) and the JSON Patch and FHIRPath Patch
//! cases ([`patch`]) follow, each with its own lines; any failure in any of
//! them makes the run fail.

mod compare;
pub mod fhirpath;
mod patch;
mod search;

use crate::client::Client;
use crate::config::{Config, Options};
use crate::fhir::{json, sample, validate, xml};
use axum::http::Method;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Official examples the server must refuse, and the element it must name.
const INVALID_EXAMPLES: &str = include_str!("../../conformance/invalid-examples.toml");

#[derive(serde::Deserialize)]
struct InvalidExamples {
    refuse: Vec<Refusal>,
}

#[derive(serde::Deserialize)]
struct Refusal {
    file: String,
    expression: String,
    reason: String,
}

fn refusals() -> &'static [Refusal] {
    static REFUSALS: std::sync::OnceLock<Vec<Refusal>> = std::sync::OnceLock::new();
    REFUSALS.get_or_init(|| {
        toml::from_str::<InvalidExamples>(INVALID_EXAMPLES).map_or_else(
            |e| {
                eprintln!("conformance: invalid-examples.toml: {e}");
                Vec::new()
            },
            |f| f.refuse,
        )
    })
}

/// How one case ended.
enum Verdict {
    Pass,
    Fail(String),
    Skip(String),
    /// An AuditEvent example: parsed, validated and converted both ways,
    /// and refused by the server, which alone writes AuditEvents.
    AuditOnly,
}

/// One resource to try: where it came from, its bytes and their syntax.
struct Case {
    name: String,
    bytes: Vec<u8>,
    xml: bool,
}

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    skipped: usize,
    /// AuditEvent examples checked without being stored.
    audit_only: usize,
}

/// Runs every suite found under `data`; fails if any case fails.
pub fn run(data: &Path) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("conformance: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut total = Tally::default();
    for folder in ["fhir-r4/examples", "fhir-r4/examples-xml-json"] {
        let dir = data.join(folder);
        match files_of(&dir) {
            Some(cases) => runtime.block_on(suite(folder, cases, &mut total)),
            None => println!(
                "conformance: {folder}: skipped, {} is absent",
                dir.display()
            ),
        }
    }
    let generated = crate::fhir::model::model()
        .resource_types()
        .iter()
        .filter_map(|t| {
            let r = sample::resource(t, "generated-1")?;
            Some(Case {
                name: format!("{t} (generated)"),
                bytes: r.to_string().into_bytes(),
                xml: false,
            })
        })
        .collect();
    runtime.block_on(suite("generated instances", generated, &mut total));
    println!(
        "conformance: {} passed, {} failed, {} skipped",
        total.passed, total.failed, total.skipped
    );
    let examples = data.join("fhir-r4/examples");
    let search_ok = match files_of(&examples) {
        Some(cases) => runtime.block_on(search_suite(cases)),
        None => {
            println!(
                "conformance: search: skipped, {} is absent",
                examples.display()
            );
            true
        }
    };
    let fhirpath_ok = match fhirpath::run(data) {
        Ok(score) => {
            println!("{score}");
            score.target_met()
        }
        Err(e) => {
            println!("fhirpath: skipped: {e}");
            true
        }
    };
    let mut patch_ok = true;
    for (label, outcome) in patch::run(data) {
        match outcome {
            Ok(Some(score)) => {
                for (name, why) in &score.failures {
                    println!("  FAIL {label} {name}: {why}");
                }
                println!("{score}");
                patch_ok &= score.failed == 0;
            }
            Ok(None) => println!(
                "{label}: skipped, its file is absent from {}",
                data.join("fhir-r4/patch").display()
            ),
            Err(e) => {
                println!("{label}: cannot run: {e}");
                patch_ok = false;
            }
        }
    }
    if total.failed == 0 && search_ok && fhirpath_ok && patch_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The search section (see [`search`]): stores every JSON example with its own
/// id, then finds each by each of its own values. True when none failed.
async fn search_suite(cases: Vec<Case>) -> bool {
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!(
        "hemolink-conformance-search-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let server = start_server(&dir).await;
    let server = match server {
        Ok(s) => s,
        Err(e) => {
            println!("conformance: search: cannot start a server: {e}");
            return false;
        }
    };
    let base = server.config.base_url.clone();
    let mut tally = search::Tally::default();
    let mut stored = Vec::new();
    if let Ok(mut client) = Client::connect(server.addr).await {
        for case in cases.iter().filter(|c| c.name.ends_with(".json")) {
            let Ok(resource) = json::parse(&case.bytes, 128) else {
                continue;
            };
            let (Some(t), Some(id)) = (resource["resourceType"].as_str(), resource["id"].as_str())
            else {
                continue;
            };
            let path = format!("/{t}/{id}");
            let headers = [("content-type", "application/fhir+json")];
            if let Ok(r) = client
                .send(Method::PUT, &path, &headers, case.bytes.clone())
                .await
                && r.status.is_success()
            {
                stored.push(resource);
            }
        }
        for resource in &stored {
            search::check(&mut client, &base, resource, &mut tally).await;
        }
    }
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    for f in &tally.failures {
        println!("  FAIL search {f}");
    }
    println!(
        "conformance: search over {} examples: {} passed, {} failed ({:.1} s)",
        stored.len(),
        tally.passed,
        tally.failed,
        started.elapsed().as_secs_f64()
    );
    tally.failed == 0 && !stored.is_empty()
}

/// An in-process server on an ephemeral port with its store in `dir`.
async fn start_server(dir: &Path) -> Result<crate::server::Running, String> {
    let options = Options {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.to_path_buf()),
        max_body_size: Some("256MiB".into()),
        audit: Some("on".into()),
        audit_flush_ms: Some(200),
        ..Options::default()
    };
    crate::server::start(Config::resolve(options)?, false).await
}

/// The JSON and XML files of a folder, sorted, or `None` if it does not exist.
fn files_of(dir: &Path) -> Option<Vec<Case>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    Some(
        paths
            .into_iter()
            .filter(|p| p.is_file())
            .map(|p| Case {
                name: p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                xml: p.extension().is_some_and(|e| e == "xml"),
                bytes: std::fs::read(&p).unwrap_or_default(),
            })
            .collect(),
    )
}

async fn suite(name: &str, cases: Vec<Case>, total: &mut Tally) {
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!(
        "hemolink-conformance-{}-{}",
        std::process::id(),
        total.passed + total.failed + total.skipped
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let server = start_server(&dir).await;
    let server = match server {
        Ok(s) => s,
        Err(e) => {
            println!("conformance: {name}: cannot start a server: {e}");
            total.failed += 1;
            return;
        }
    };
    let mut tally = Tally::default();
    let mut client = Client::connect(server.addr).await.ok();
    for case in &cases {
        let verdict = match client.as_mut() {
            Some(c) => check(c, case).await,
            None => Verdict::Fail("no connection to the server".into()),
        };
        match verdict {
            Verdict::Pass => tally.passed += 1,
            Verdict::AuditOnly => tally.audit_only += 1,
            Verdict::Skip(why) => {
                tally.skipped += 1;
                println!("  skip {}: {why}", case.name);
            }
            Verdict::Fail(why) => {
                tally.failed += 1;
                println!("  FAIL {}: {why}", case.name);
                client = Client::connect(server.addr).await.ok();
            }
        }
    }
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "conformance: {name}: {} of {} passed, {} skipped ({:.1} s)",
        tally.passed,
        tally.passed + tally.failed,
        tally.skipped,
        started.elapsed().as_secs_f64()
    );
    if tally.audit_only > 0 {
        println!(
            "conformance: {name}: {} AuditEvent examples parsed, validated and converted only: \
             with auditing on the server alone writes AuditEvents (and refused each with 403)",
            tally.audit_only
        );
    }
    total.passed += tally.passed;
    total.failed += tally.failed;
    total.skipped += tally.skipped;
    total.audit_only += tally.audit_only;
}

async fn check(client: &mut Client, case: &Case) -> Verdict {
    if case.name.ends_with(".json.out") {
        return Verdict::Skip("a test-case output file, not a resource".into());
    }
    if !case.xml && !case.name.ends_with(".json") && !case.name.contains("(generated)") {
        return Verdict::Skip("neither JSON nor XML".into());
    }
    let original = if case.xml {
        match xml::from_xml(&case.bytes) {
            Ok(v) => v,
            Err(issues) => {
                return Verdict::Fail(format!(
                    "our XML reader refuses it: {}",
                    issues[0].diagnostics
                ));
            }
        }
    } else {
        match json::parse(&case.bytes, 128) {
            Ok(v) => v,
            Err(e) => return Verdict::Fail(format!("our JSON parser refuses it: {e}")),
        }
    };
    let Some(t) = original
        .get("resourceType")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Verdict::Skip("not a resource (no resourceType)".into());
    };
    if t == "Parameters" {
        return parameters_only(&original);
    }
    if t == "AuditEvent" {
        return match parameters_only(&original) {
            Verdict::Pass => match audit_refused(client, case).await {
                Ok(()) => Verdict::AuditOnly,
                Err(why) => Verdict::Fail(why),
            },
            other => other,
        };
    }
    if let Some(refusal) = refusals().iter().find(|r| r.file == case.name) {
        return match expect_refusal(client, case, &t, refusal).await {
            Ok(()) => Verdict::Pass,
            Err(why) => Verdict::Fail(why),
        };
    }
    match round_trip(client, case, &original, &t).await {
        Ok(()) => Verdict::Pass,
        Err(why) => Verdict::Fail(why),
    }
}

/// An AuditEvent written by a client: refused with 403.
async fn audit_refused(client: &mut Client, case: &Case) -> Result<(), String> {
    let content_type = if case.xml {
        "application/fhir+xml"
    } else {
        "application/fhir+json"
    };
    let r = client
        .send(
            Method::POST,
            "/AuditEvent",
            &[("content-type", content_type)],
            case.bytes.clone(),
        )
        .await?;
    if r.status.as_u16() == 403 {
        Ok(())
    } else {
        Err(format!(
            "a client's AuditEvent should be refused (403), got {}",
            r.status
        ))
    }
}

/// Parameters has no endpoint, and AuditEvents are the server's: parse,
/// validate and convert both ways.
fn parameters_only(original: &Value) -> Verdict {
    let issues = validate::validate_resource(original);
    if let Some(i) = issues.first() {
        return Verdict::Fail(format!(
            "invalid: {} at {}",
            i.diagnostics,
            i.expression.as_deref().unwrap_or("?")
        ));
    }
    let back = xml::to_xml(original, false)
        .map_err(|i| i.diagnostics)
        .and_then(|x| xml::from_xml(x.as_bytes()).map_err(|i| i[0].diagnostics.clone()));
    match back {
        Ok(v) => match compare::differences(original, &v).first() {
            None => Verdict::Pass,
            Some(d) => Verdict::Fail(format!("XML round trip: {d}")),
        },
        Err(e) => Verdict::Fail(format!("XML round trip: {e}")),
    }
}

fn diagnostics(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let issue = &v["issue"][0];
    match (
        issue["diagnostics"].as_str(),
        issue["expression"][0].as_str(),
    ) {
        (Some(d), Some(e)) => format!("{d} at {e}"),
        (Some(d), None) => d.to_string(),
        _ => String::from_utf8_lossy(body).chars().take(200).collect(),
    }
}

/// An invalid official example: the write must be a 400 naming the element.
async fn expect_refusal(
    client: &mut Client,
    case: &Case,
    t: &str,
    refusal: &Refusal,
) -> Result<(), String> {
    let content_type = if case.xml {
        "application/fhir+xml"
    } else {
        "application/fhir+json"
    };
    let r = client
        .send(
            Method::POST,
            &format!("/{t}"),
            &[("content-type", content_type)],
            case.bytes.clone(),
        )
        .await?;
    let outcome: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let named = outcome["issue"].as_array().is_some_and(|issues| {
        issues
            .iter()
            .any(|i| i["expression"][0] == refusal.expression.as_str())
    });
    if r.status.as_u16() == 400 && named {
        Ok(())
    } else {
        Err(format!(
            "should be refused ({}) naming {}, got {}: {}",
            refusal.reason,
            refusal.expression,
            r.status,
            diagnostics(&r.body)
        ))
    }
}

/// Writes the resource, reads it back in both syntaxes and compares.
async fn round_trip(
    client: &mut Client,
    case: &Case,
    original: &Value,
    t: &str,
) -> Result<(), String> {
    let content_type = if case.xml {
        "application/fhir+xml"
    } else {
        "application/fhir+json"
    };
    let headers = [
        ("content-type", content_type),
        ("accept", "application/fhir+json"),
    ];
    let written = match original.get("id").and_then(Value::as_str) {
        Some(id) => {
            client
                .send(
                    Method::PUT,
                    &format!("/{t}/{id}"),
                    &headers,
                    case.bytes.clone(),
                )
                .await?
        }
        None => {
            client
                .send(Method::POST, &format!("/{t}"), &headers, case.bytes.clone())
                .await?
        }
    };
    if !written.status.is_success() {
        return Err(format!(
            "write answered {}: {}",
            written.status,
            diagnostics(&written.body)
        ));
    }
    let stored: Value =
        serde_json::from_slice(&written.body).map_err(|e| format!("write answer: {e}"))?;
    let id = stored["id"]
        .as_str()
        .ok_or("the stored resource has no id")?
        .to_string();
    let mut expected = original.clone();
    expected["id"] = Value::String(id.clone());
    let path = format!("/{t}/{id}");
    let as_json = client
        .send(
            Method::GET,
            &path,
            &[("accept", "application/fhir+json")],
            "",
        )
        .await?;
    if !as_json.status.is_success() {
        return Err(format!("JSON read answered {}", as_json.status));
    }
    let got = json::parse(&as_json.body, 128).map_err(|e| format!("JSON read: {e}"))?;
    if let Some(d) = compare::differences(&expected, &got).first() {
        return Err(format!("JSON read back differs: {d}"));
    }
    let as_xml = client
        .send(
            Method::GET,
            &path,
            &[("accept", "application/fhir+xml")],
            "",
        )
        .await?;
    if !as_xml.status.is_success() {
        return Err(format!(
            "XML read answered {}: {}",
            as_xml.status,
            as_xml.text().chars().take(200).collect::<String>()
        ));
    }
    let got = xml::from_xml(&as_xml.body).map_err(|i| format!("XML read: {}", i[0].diagnostics))?;
    if let Some(d) = compare::differences(&expected, &got).first() {
        return Err(format!("XML read back differs: {d}"));
    }
    Ok(())
}
