//! The search oracle: tables of cases written by hand from the FHIR R4
//! specification (search.html and the R4 SearchParameter definitions), kept in
//! `tests/search-fixtures/*.json` and independent of the implementation.
//!
//! Each file holds `resources` (stored with `PUT [type]/[id]` into a fresh
//! server) and `cases`. A case is a query (already URL-encoded, relative to the
//! base) with the exact `expect`ed matches (`"Type/id"`; a set unless
//! `"ordered": true`), optionally `expect_included` (entries with
//! `search.mode = include`; none when absent), `total` (Bundle.total),
//! `headers` (e.g. `Prefer: handling=strict`) and `status` (a number, or "4xx"
//! for any client error; the body must then be an OperationOutcome). `{base}`
//! in queries and resources stands for the base URL the server printed;
//! `{pad:N}` in a query for N letters `a`. Every `next` link is followed.
//!
//! Each file is one test, which reports every failing case and ends with
//! `search fixtures: N passed, N failed`.

use crate::harness::{self, Server, start};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Every fixture file; `fixture_files_are_well_formed` checks the folder holds
/// exactly these.
const FILES: &[&str] = &[
    "chain-has.json",
    "compartment.json",
    "composite.json",
    "date.json",
    "errors.json",
    "include.json",
    "missing.json",
    "number-quantity.json",
    "reference.json",
    "sort.json",
    "special.json",
    "string.json",
    "token.json",
    "uri.json",
];

/// More pages than this means the next links do not end.
const MAX_PAGES: usize = 100;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/search-fixtures")
}

fn load(file: &str) -> Value {
    let path = fixtures_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not JSON: {e}"))
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().expect("a list of strings").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The path part of the base URL (empty when the base is just scheme and host).
fn base_path(base: &str) -> String {
    let rest = base.split_once("://").map_or(base, |(_, r)| r);
    match rest.find('/') {
        Some(i) => rest[i..].trim_end_matches('/').to_string(),
        None => String::new(),
    }
}

/// Replaces `{base}` and `{pad:N}` in a query.
fn expand(query: &str, base: &str) -> String {
    let mut q = query.replace("{base}", base);
    while let Some(start) = q.find("{pad:") {
        let end = start + q[start..].find('}').expect("{pad:N} is closed");
        let n: usize = q[start + 5..end].parse().expect("{pad:N} has a number");
        q.replace_range(start..=end, &"a".repeat(n));
    }
    q
}

/// What a search answered, all pages together.
struct Answer {
    status: u16,
    matches: Vec<String>,
    included: BTreeSet<String>,
    total: Option<u64>,
    /// Faults of the answer's form (duplicates, bad links, not a searchset).
    problems: Vec<String>,
    /// The body of a non-200 answer, for the report.
    body: String,
    operation_outcome: bool,
}

/// One GET on its own connection. Unlike `harness::send`, a server that answers
/// (414, 431) and closes before the whole request line is written is not an
/// error: its answer is read.
fn get(
    server: &Server,
    path: &str,
    headers: &[(String, String)],
) -> Result<harness::Response, String> {
    use std::io::{ErrorKind, Write};
    let fail =
        |e: std::io::Error| format!("GET {}: {e}", path.chars().take(200).collect::<String>());
    let mut stream = std::net::TcpStream::connect(&server.addr).map_err(fail)?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .map_err(fail)?;
    let mut head = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        server.addr
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    if let Err(e) = stream.write_all(head.as_bytes())
        && !matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset)
    {
        return Err(fail(e));
    }
    harness::read_response(&mut stream, false).map_err(fail)
}

fn search(server: &Server, first: &str, headers: &[(String, String)]) -> Answer {
    let mut answer = Answer {
        status: 0,
        matches: Vec::new(),
        included: BTreeSet::new(),
        total: None,
        problems: Vec::new(),
        body: String::new(),
        operation_outcome: false,
    };
    let prefix = base_path(&server.base);
    let mut path = first.to_string();
    for page_no in 0..MAX_PAGES {
        let r = match get(server, &path, headers) {
            Ok(r) => r,
            Err(e) => {
                answer.problems.push(e);
                return answer;
            }
        };
        let json: Option<Value> = serde_json::from_slice(&r.body).ok();
        if page_no == 0 {
            answer.status = r.status;
            answer.operation_outcome = json
                .as_ref()
                .is_some_and(|j| j["resourceType"] == "OperationOutcome");
        }
        if r.status != 200 {
            if page_no > 0 {
                answer
                    .problems
                    .push(format!("page {} answered {}", page_no + 1, r.status));
            }
            answer.body = r.text().chars().take(600).collect();
            return answer;
        }
        let Some(bundle) = json else {
            answer
                .problems
                .push(format!("page {} is not JSON", page_no + 1));
            return answer;
        };
        if bundle["resourceType"] != "Bundle" || bundle["type"] != "searchset" {
            answer.problems.push(format!(
                "page {} is not a searchset Bundle: {}",
                page_no + 1,
                bundle.to_string().chars().take(300).collect::<String>()
            ));
            return answer;
        }
        if page_no == 0 {
            answer.total = bundle["total"].as_u64();
        }
        let mut on_page = BTreeSet::new();
        for entry in bundle["entry"].as_array().into_iter().flatten() {
            let resource = &entry["resource"];
            let key = format!(
                "{}/{}",
                resource["resourceType"].as_str().unwrap_or("?"),
                resource["id"].as_str().unwrap_or("?")
            );
            let mode = entry["search"]["mode"].as_str().unwrap_or(
                if resource["resourceType"] == "OperationOutcome" {
                    "outcome"
                } else {
                    "match"
                },
            );
            if mode == "outcome" {
                continue;
            }
            if !on_page.insert(key.clone()) {
                answer.problems.push(format!(
                    "{key} appears twice on page {} (bdl-7)",
                    page_no + 1
                ));
            }
            match mode {
                "match" => {
                    if answer.matches.contains(&key) {
                        answer
                            .problems
                            .push(format!("match {key} repeated on a later page"));
                    } else {
                        answer.matches.push(key);
                    }
                }
                "include" => {
                    answer.included.insert(key);
                }
                other => answer
                    .problems
                    .push(format!("{key} has search.mode {other:?}")),
            }
        }
        let next = bundle["link"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["relation"] == "next")
            .and_then(|l| l["url"].as_str());
        match next {
            None => return answer,
            Some(url) => {
                path = if let Some(rest) = url.strip_prefix(&server.base) {
                    format!("{prefix}{rest}")
                } else if url.starts_with('/') {
                    url.to_string()
                } else {
                    answer.problems.push(format!(
                        "next link {url} is not on the base {}",
                        server.base
                    ));
                    return answer;
                };
            }
        }
    }
    answer.problems.push(format!("more than {MAX_PAGES} pages"));
    answer
}

fn show(list: &[String]) -> String {
    format!("[{}]", list.join(", "))
}

/// Runs one case; `Err` carries the report of a failure.
fn run_case(server: &Server, case: &Value) -> Result<(), String> {
    let query = case["query"].as_str().expect("query");
    let expanded = expand(query, &server.base);
    let path = format!("{}/{}", base_path(&server.base), expanded);
    let headers: Vec<(String, String)> = case["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("header value").to_string()))
                .collect()
        })
        .unwrap_or_default();
    let answer = search(server, &path, &headers);
    let mut faults: Vec<String> = answer.problems.clone();

    let expected_status = &case["status"];
    let error_case = match expected_status {
        Value::Null => false,
        Value::Number(n) => n.as_u64() != Some(200),
        Value::String(_) => true,
        other => panic!("bad status {other}"),
    };
    if error_case {
        let ok = match expected_status {
            Value::String(s) if s == "4xx" => (400..500).contains(&answer.status),
            Value::Number(n) => n.as_u64() == Some(u64::from(answer.status)),
            other => panic!("bad status {other}"),
        };
        if !ok {
            faults.push(format!(
                "status {} (expected {expected_status})",
                answer.status
            ));
        } else if !answer.operation_outcome {
            faults.push(format!(
                "status {} without an OperationOutcome: {}",
                answer.status, answer.body
            ));
        }
    } else if answer.status != 200 {
        faults.push(format!(
            "status {} (expected 200): {}",
            answer.status, answer.body
        ));
    } else {
        let expect = str_list(&case["expect"]);
        let ordered = case["ordered"].as_bool().unwrap_or(false);
        let same = if ordered {
            answer.matches == expect
        } else {
            let a: BTreeSet<&String> = answer.matches.iter().collect();
            let b: BTreeSet<&String> = expect.iter().collect();
            a == b && answer.matches.len() == expect.len()
        };
        if !same {
            let mut got = answer.matches.clone();
            let mut want = expect.clone();
            if !ordered {
                got.sort();
                want.sort();
            }
            faults.push(format!(
                "matches{}\n      expected: {}\n      got:      {}",
                if ordered { " (in order)" } else { "" },
                show(&want),
                show(&got)
            ));
        }
        let want_included: BTreeSet<String> =
            str_list(&case["expect_included"]).into_iter().collect();
        if answer.included != want_included {
            faults.push(format!(
                "included\n      expected: {}\n      got:      {}",
                show(&want_included.into_iter().collect::<Vec<_>>()),
                show(&answer.included.iter().cloned().collect::<Vec<_>>())
            ));
        }
        match (case["total"].as_u64(), answer.total) {
            (Some(want), got) if got != Some(want) => {
                faults.push(format!("Bundle.total {got:?} (expected {want})"))
            }
            (None, Some(got)) if got != answer.matches.len() as u64 => faults.push(format!(
                "Bundle.total {got} but {} matches",
                answer.matches.len()
            )),
            _ => {}
        }
    }
    if faults.is_empty() {
        return Ok(());
    }
    let mut report = String::new();
    let _ = writeln!(report, "  ✗ {}", case["name"].as_str().unwrap_or("?"));
    let _ = writeln!(report, "      query:    {query}");
    if !headers.is_empty() {
        let _ = writeln!(report, "      headers:  {headers:?}");
    }
    for f in faults {
        let _ = writeln!(report, "      {f}");
    }
    let _ = writeln!(
        report,
        "      why:      {}",
        case["why"].as_str().unwrap_or("")
    );
    Err(report)
}

/// Stores the file's resources (with `{base}` replaced) in a fresh server.
fn load_resources(server: &Server, file: &str, fixture: &Value) {
    let prefix = base_path(&server.base);
    let mut faults = Vec::new();
    for resource in fixture["resources"].as_array().expect("resources") {
        let text = resource.to_string().replace("{base}", &server.base);
        let resource: Value = serde_json::from_str(&text).expect("resource JSON");
        let t = resource["resourceType"].as_str().expect("resourceType");
        let id = resource["id"].as_str().expect("id");
        let r = server.put_json(&format!("{prefix}/{t}/{id}"), &resource);
        if r.status != 200 && r.status != 201 {
            faults.push(format!("PUT {t}/{id}: {} {}", r.status, r.text()));
        }
    }
    assert!(
        faults.is_empty(),
        "{file}: resources refused:\n{}",
        faults.join("\n")
    );
}

fn run_file(file: &str) {
    let fixture = load(file);
    let server = start(&[]);
    load_resources(&server, file, &fixture);
    let cases = fixture["cases"].as_array().expect("cases");
    let mut failures = Vec::new();
    for case in cases {
        if let Err(report) = run_case(&server, case) {
            failures.push(report);
        }
    }
    let failed = failures.len();
    let passed = cases.len() - failed;
    println!("search fixtures: {passed} passed, {failed} failed [{file}]");
    assert!(
        failed == 0,
        "{file}: search fixtures: {passed} passed, {failed} failed\n{}",
        failures.join("")
    );
}

#[test]
fn fixture_files_are_well_formed() {
    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("tests/search-fixtures")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort();
    assert_eq!(
        on_disk, FILES,
        "every fixture file has a test below, and only those"
    );
    let mut total = 0;
    for file in FILES {
        let f = load(file);
        let mut keys = BTreeSet::new();
        for r in f["resources"].as_array().expect("resources") {
            let key = format!(
                "{}/{}",
                r["resourceType"].as_str().expect("resourceType"),
                r["id"].as_str().expect("id")
            );
            assert!(keys.insert(key.clone()), "{file}: {key} twice");
        }
        let mut names = BTreeSet::new();
        for case in f["cases"].as_array().expect("cases") {
            let name = case["name"].as_str().expect("name");
            assert!(names.insert(name), "{file}: case {name} twice");
            let query = case["query"].as_str().expect("query");
            assert!(
                query.is_ascii() && !query.contains([' ', '#', '+']) && !query.starts_with('/'),
                "{file}: {name}: the query must be URL-encoded and relative: {query}"
            );
            assert!(
                case["why"].as_str().is_some_and(|w| !w.is_empty()),
                "{file}: {name}: why"
            );
            assert!(case["expect"].is_array(), "{file}: {name}: expect");
            for key in str_list(&case["expect"])
                .into_iter()
                .chain(str_list(&case["expect_included"]))
            {
                assert!(
                    keys.contains(&key),
                    "{file}: {name}: {key} is not among the resources"
                );
            }
            total += 1;
        }
    }
    assert!(total >= 250, "only {total} cases");
}

#[test]
fn chain_has() {
    run_file("chain-has.json");
}

#[test]
fn compartment() {
    run_file("compartment.json");
}

#[test]
fn composite() {
    run_file("composite.json");
}

#[test]
fn date() {
    run_file("date.json");
}

#[test]
fn errors() {
    run_file("errors.json");
}

#[test]
fn include() {
    run_file("include.json");
}

#[test]
fn missing() {
    run_file("missing.json");
}

#[test]
fn number_quantity() {
    run_file("number-quantity.json");
}

#[test]
fn reference() {
    run_file("reference.json");
}

#[test]
fn sort() {
    run_file("sort.json");
}

#[test]
fn special() {
    run_file("special.json");
}

#[test]
fn string() {
    run_file("string.json");
}

#[test]
fn token() {
    run_file("token.json");
}

#[test]
fn uri() {
    run_file("uri.json");
}
